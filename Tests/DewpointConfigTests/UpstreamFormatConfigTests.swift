import Foundation
import Testing
@testable import DewpointConfig
@testable import DewpointCore

/// An agent file with `upstream` as given (and one binding); returns its path.
private func agentFile(upstream: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dewpoint-upstream-config-\(getpid())-\(UUID().uuidString.prefix(8))")
    try! FileManager.default.createDirectory(at: dir.appendingPathComponent("devices"), withIntermediateDirectories: true)
    try! "agent: gw\ndevices: devices\nspool:\n  dir: /tmp\nupstream:\n  host: 127.0.0.1\n\(upstream)"
        .write(to: dir.appendingPathComponent("dewpoint.yaml"), atomically: true, encoding: .utf8)
    try! "device: a\ntransport: file\ndecoder: json\nchannels:\n  - {name: v, pointer: /v}\n"
        .write(to: dir.appendingPathComponent("devices/a.yaml"), atomically: true, encoding: .utf8)
    return dir.appendingPathComponent("dewpoint.yaml").path
}

@Suite struct UpstreamFormatConfigTests {
    @Test func formatsAndDiscoveryLoadWithDefaults() throws {
        let plain = try ConfigLoader.load(agentFile: agentFile(upstream: ""))
        #expect(plain.agent.upstream.format == .json && plain.agent.upstream.discovery == DiscoveryKind.none)
        let spb = try ConfigLoader.load(agentFile: agentFile(upstream: "  format: sparkplug_b\n  sparkplug:\n    group: plant-1\n    node: edge-7\n"))
        #expect(spb.agent.upstream.format == .sparkplugB)
        #expect(spb.agent.upstream.sparkplugGroup == "plant-1" && spb.agent.upstream.sparkplugNode == "edge-7")
        let ha = try ConfigLoader.load(agentFile: agentFile(upstream: "  discovery: homeassistant\n  homeassistant:\n    prefix: ha\n    statistic: p90\n"))
        #expect(ha.agent.upstream.discovery == .homeassistant)
        #expect(ha.agent.upstream.homeAssistantPrefix == "ha" && ha.agent.upstream.homeAssistantStatistic == "p90")
    }

    @Test func mistakesAreLocated() {
        let cases: [(String, Int, Int, String, String)] = [
            ("  format: protobuf\n", 7, 11, "upstream.format", "json, sparkplug_b"),
            ("  format: sparkplug_b\n  sparkplug:\n    group: a/b\n", 9, 12, "upstream.sparkplug.group", "without '/'"),
            ("  format: sparkplug_b\n  sparkplug:\n    node: \"#\"\n", 9, 11, "upstream.sparkplug.node", "without '/'"),
            ("  sparkplug:\n    group: g\n", 7, 3, "upstream.sparkplug", "only with upstream.format: sparkplug_b"),
            ("  format: sparkplug_b\n  discovery: homeassistant\n", 8, 14, "upstream.discovery", "needs upstream.format: json"),
            ("  discovery: homeassistant\n  homeassistant:\n    statistic: median\n", 9, 16, "upstream.homeassistant.statistic", "or a percentile"),
            ("  homeassistant:\n    prefix: ha\n", 7, 3, "upstream.homeassistant", "only with upstream.discovery: homeassistant"),
        ]
        for (upstream, line, column, key, message) in cases {
            do {
                _ = try ConfigLoader.load(agentFile: agentFile(upstream: upstream))
                Issue.record("accepted:\n\(upstream)")
            } catch {
                let hit = error.diagnostics.first { $0.line == line && $0.column == column && $0.key == key && $0.message.contains(message) }
                #expect(hit != nil, "no \(line):\(column) \(key) ~ '\(message)' in \(error.diagnostics.map(\.description))")
            }
        }
    }
}
