import Foundation
import Testing
@testable import DewpointConfig
@testable import DewpointCore

/// An agent file and the given bindings in a fresh folder; returns the agent file's path.
private func writeConfig(_ bindings: [String: String]) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dewpoint-listener-config-\(getpid())-\(UUID().uuidString.prefix(8))")
    try! FileManager.default.createDirectory(at: dir.appendingPathComponent("devices"), withIntermediateDirectories: true)
    try! "agent: gw\ndevices: devices\nspool:\n  dir: /tmp\n".write(to: dir.appendingPathComponent("dewpoint.yaml"), atomically: true, encoding: .utf8)
    for (name, text) in bindings {
        try! text.write(to: dir.appendingPathComponent("devices/\(name)"), atomically: true, encoding: .utf8)
    }
    return dir.appendingPathComponent("dewpoint.yaml").path
}

private let channels = "decoder: json\nchannels:\n  - {name: v, pointer: /v}\n"

@Suite struct ListenerConfigTests {
    @Test func udpAndTcpLoadWithDefaultsAndBounds() throws {
        let cfg = try ConfigLoader.load(agentFile: writeConfig([
            "u.yaml": "device: u\ntransport: udp\nudp:\n  listen: 127.0.0.1:8125\n  receive_buffer: 1MiB\n" + channels,
            "t.yaml": "device: t\ntransport: tcp\ntcp:\n  listen: \"[::1]:8094\"\n  max_connections: 8\n  idle_timeout: 30s\n" + channels,
        ]))
        let u = try #require(cfg.bindings.first { $0.name == "u" })
        #expect(u.transport == .udp(ListenSpec(host: "127.0.0.1", port: 8125, receiveBufferBytes: 1 << 20)))
        #expect(u.framing == .none)
        let t = try #require(cfg.bindings.first { $0.name == "t" })
        #expect(t.transport == .tcp(ListenSpec(host: "::1", port: 8094, maxConnections: 8, idleTimeoutMs: 30_000)))
        // a stream needs frames: lines unless the binding says otherwise
        #expect(t.framing == .line(maxLength: 4096))
    }

    @Test func badListenersAreLocated() {
        let cases: [(String, Int, Int, String, String)] = [
            ("device: a\ntransport: udp\nudp:\n  listen: 8125\n" + channels, 4, 11, "udp.listen", "expected host:port"),
            ("device: a\ntransport: tcp\ntcp:\n  listen: 127.0.0.1:70000\n" + channels, 4, 11, "tcp.listen", "expected host:port"),
            ("device: a\ntransport: tcp\ntcp:\n  listen: 127.0.0.1:9000\n  max_connections: 0\n" + channels, 5, 20, "tcp.max_connections", "1"),
            // max_connections is a TCP key: a typo-level mistake on udp is named
            ("device: a\ntransport: udp\nudp:\n  listen: 127.0.0.1:9000\n  max_connections: 4\n" + channels, 5, 3, "udp.max_connections", "unknown key"),
            ("device: a\ntransport: udp\n" + channels, 1, 1, "udp", "missing required key"),
            ("device: a\ntransport: tcp\ntcp:\n  listen: 127.0.0.1:9000\nudp:\n  listen: 127.0.0.1:9000\n" + channels, 5, 1, "udp", "belongs to transport 'udp'"),
        ]
        for (text, line, column, key, message) in cases {
            do {
                _ = try ConfigLoader.load(agentFile: writeConfig(["a.yaml": text]))
                Issue.record("accepted:\n\(text)")
            } catch {
                let hit = error.diagnostics.first { $0.line == line && $0.column == column && $0.key == key && $0.message.contains(message) }
                #expect(hit != nil, "no \(line):\(column) \(key) ~ '\(message)' in \(error.diagnostics.map(\.description))")
            }
        }
    }

    @Test func twoListenersOnOnePortAreRefused() {
        do {
            _ = try ConfigLoader.load(agentFile: writeConfig([
                "a.yaml": "device: a\ntransport: udp\nudp:\n  listen: 127.0.0.1:9100\n" + channels,
                "b.yaml": "device: b\ntransport: udp\nudp:\n  listen: 0.0.0.0:9100\n" + channels,
                // the same number on TCP is another port
                "c.yaml": "device: c\ntransport: tcp\ntcp:\n  listen: 127.0.0.1:9100\n" + channels,
            ]))
            Issue.record("accepted")
        } catch {
            #expect(error.diagnostics.count == 1, "\(error.diagnostics)")
            let d = error.diagnostics.first
            #expect(d?.file.hasSuffix("b.yaml") == true && d?.line == 4 && d?.column == 11 && d?.key == "udp.listen", "\(String(describing: d))")
            #expect(d?.message.contains("udp 9100 is already the port of device 'a'") == true)
        }
    }
}
