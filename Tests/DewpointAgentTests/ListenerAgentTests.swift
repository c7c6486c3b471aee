import DewpointPipeline
import DewpointTestSupport
import Foundation
import Testing

/// Sends each of `datagrams` to 127.0.0.1:`port`.
private func sendUDP(_ port: Int, _ datagrams: [String]) {
    let fd = loopbackSocket(Int32(SOCK_DGRAM.rawValue), port: port)
    defer { close(fd) }
    for d in datagrams {
        _ = d.withCString { send(fd, $0, strlen($0), 0) }
        usleep(500)
    }
}

@Suite(.serialized) struct ListenerAgentTests {
    /// `dewpoint run` with a udp and a tcp binding: datagrams and lines become summaries upstream
    /// with exactly their values; a TCP sender of garbage is cut off without disturbing the rest;
    /// `check` describes both listeners.
    @Test func datagramsAndLinesBecomeSummariesUpstream() throws {
        let broker = Broker()
        broker.start()
        let collector = try Collector(port: broker.port)
        let dir = scratchDir("listener-agent")
        AgentProcess.writeConfig(dir: dir, inputPort: broker.port, upstreamPort: broker.port)
        try FileManager.default.removeItem(atPath: dir + "/devices/env.yaml")
        let udpPort = freePort(), tcpPort = freePort()
        try """
        device: dgram
        transport: udp
        udp: {listen: "127.0.0.1:\(udpPort)"}
        decoder: json
        channels:
          - {name: v, pointer: /v}
        window: {length: 60s, lateness: 0ms}
        """.write(toFile: dir + "/devices/udp.yaml", atomically: true, encoding: .utf8)
        try """
        device: stream
        transport: tcp
        tcp: {listen: "127.0.0.1:\(tcpPort)", max_connections: 4}
        framing: {kind: line, max_length: 64}
        decoder: lineprotocol
        channels:
          - {name: flow, field: flow}
        window: {length: 60s, lateness: 0ms}
        """.write(toFile: dir + "/devices/tcp.yaml", atomically: true, encoding: .utf8)

        let check = Process()
        check.executableURL = URL(fileURLWithPath: AgentProcess.binary)
        check.arguments = ["check", "--config", dir + "/dewpoint.yaml"]
        let out = Pipe()
        check.standardOutput = out
        try check.run()
        check.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(check.terminationStatus == 0, "\(text)")
        #expect(text.contains("dgram: udp 127.0.0.1:\(udpPort), json") && text.contains("stream: tcp 127.0.0.1:\(tcpPort) max 4 connections, lineprotocol"), "\(text)")

        let agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("listening on udp") && agent.log.contains("listening on tcp") }, "\(agent.log)")
        sendUDP(udpPort, (1...100).map { #"{"v":\#($0)}"# })
        let good = loopbackSocket(Int32(SOCK_STREAM.rawValue), port: tcpPort), bad = loopbackSocket(Int32(SOCK_STREAM.rawValue), port: tcpPort)
        let lines = (1...50).map { "m flow=\($0)\n" }.joined()
        _ = lines.withCString { send(good, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        let junk = String(repeating: "z", count: 1000)
        _ = junk.withCString { send(bad, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        #expect(waitUntil(5) { agent.log.contains("it sent a frame over the 64 byte limit") }, "\(agent.log)")
        usleep(300_000)
        close(good); close(bad)
        agent.terminate()
        #expect(waitUntil(10) { collector.records("summary").count >= 2 })
        collector.stop()
        let summaries = collector.records("summary")
        let u = try #require(summaries.first { $0["device"] as? String == "dgram" })
        let uv = (u["channels"] as! [String: [String: Any]])["v"]!
        #expect(uv["n"] as! Int == 100 && uv["max"] as! Double == 100 && uv["mean"] as! Double == 50.5)
        let t = try #require(summaries.first { $0["device"] as? String == "stream" })
        let tv = (t["channels"] as! [String: [String: Any]])["flow"]!
        #expect(tv["n"] as! Int == 50 && tv["max"] as! Double == 50)
        #expect(agent.log.contains("udp 127.0.0.1:\(udpPort): datagrams=100"), "\(agent.log)")
        #expect(agent.log.contains("garbage_closed=1"), "\(agent.log)")
    }

    /// A byte recording replays through a tcp binding's framer as the live stream would: a line
    /// split across two reads is one frame.
    @Test func aByteRecordingReplaysThroughATCPBinding() throws {
        let dir = scratchDir("listener-replay")
        try FileManager.default.createDirectory(atPath: dir + "/devices", withIntermediateDirectories: true)
        try "agent: gw\ndevices: devices\n".write(toFile: dir + "/dewpoint.yaml", atomically: true, encoding: .utf8)
        try """
        device: stream
        transport: tcp
        tcp: {listen: "127.0.0.1:9"}
        decoder: lineprotocol
        channels:
          - {name: flow, field: flow}
        window: {length: 10s, lateness: 0ms}
        """.write(toFile: dir + "/devices/tcp.yaml", atomically: true, encoding: .utf8)
        var file = SerialRecording.magic
        let t0: Int64 = 1_764_000_000_000_000_000
        for (chunk, ts) in [("m flow=1\nm flow=", t0), ("3\n", t0 + 1_000_000_000)] {
            Array(chunk.utf8).withUnsafeBytes { SerialRecording.appendRecord($0, tsNs: ts, to: &file) }
        }
        try Data(file).write(to: URL(fileURLWithPath: dir + "/bytes.dpsr"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: AgentProcess.binary)
        p.arguments = ["replay", "--config", dir + "/dewpoint.yaml", "--input", dir + "/bytes.dpsr", "--device", "stream"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0, "\(errText)")
        #expect(text.contains(#""n":2,"min":1,"max":3"#), "\(text)")
        #expect(errText.contains("frames=2 corrupt=0"), "\(errText)")
    }
}
