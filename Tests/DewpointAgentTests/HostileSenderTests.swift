import DewpointTestSupport
import Foundation
import Testing

/// Runs `dewpoint ARGS` and returns its exit status, stdout and stderr.
func runDewpoint(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: AgentProcess.binary)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// A broker, a collector on it, and `dewpoint run` with the test binding (`edit` changes its
/// text), started and connected.
func startAgentOnOneBroker(_ name: String, edit: (String) -> String = { $0 }) throws -> (broker: Broker, collector: Collector, agent: AgentProcess) {
    let broker = Broker()
    broker.start()
    let collector = try Collector(port: broker.port)
    let dir = scratchDir(name)
    AgentProcess.writeConfig(dir: dir, inputPort: broker.port, upstreamPort: broker.port)
    let binding = try String(contentsOfFile: dir + "/devices/env.yaml", encoding: .utf8)
    try edit(binding).write(toFile: dir + "/devices/env.yaml", atomically: true, encoding: .utf8)
    let agent = AgentProcess(dir: dir)
    try agent.start()
    #expect(waitUntil(5) { agent.log.contains("input connected") }, "\(agent.log)")
    return (broker, collector, agent)
}

/// Senders that tried to stop the agent, against the real agent and real brokers: each is refused
/// or set aside, counted, and good data keeps flowing.
@Suite(.serialized) struct HostileSenderTests {
    /// Summaries too large for the upstream broker (its max_packet_size, told to MQTT 5 clients)
    /// can never be published: they become dead letters, logged once, and the records behind them
    /// keep going upstream; `dewpoint spool` lists and exports them.
    ///
    /// With MQTT 5 the client library knows the broker's limit and refuses the publish; with 3.1.1
    /// the broker closes the connection on each attempt, and the forwarder sets the record aside
    /// after three such closes in a row.
    @Test(arguments: ["5", "3.1.1"]) func recordsTheBrokerRefusesBecomeDeadLettersAndDoNotBlockTheQueue(version: String) throws {
        let input = Broker()
        let upstream = Broker(extra: "max_packet_size 700\n")
        input.start(); upstream.start()
        let collector = try Collector(port: upstream.port)
        let dir = scratchDir("dead-letters")
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port, upstreamExtra: "  mqtt_version: \(version)\n")
        // a second binding whose summaries (eight channels) are over 700 bytes
        try """
        device: big
        transport: mqtt
        mqtt: {topic: t/big}
        decoder: json
        timestamp: {pointer: /ts}
        channels:
        \((0..<8).map { "  - {name: channel_number_\($0), pointer: /v}" }.joined(separator: "\n"))
        window: {length: 1s, lateness: 200ms}
        """.write(toFile: dir + "/devices/big.yaml", atomically: true, encoding: .utf8)
        let agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("input connected") && agent.log.contains("upstream connected") }, "\(agent.log)")
        let pub = try Publisher(port: input.port)
        let t0 = nowMs()
        for i in 0..<40 {
            try pub.send(ts: t0 + Int64(i) * 100, v: Double(i))
            try pub.send(ts: t0 + Int64(i) * 100, v: Double(i), topic: "t/big")
            usleep(50_000)
        }
        // the small device's summaries arrive although the big device's come first in the queue
        #expect(waitUntil(20) { collector.records("summary").contains { $0["device"] as? String == "env" && ($0["start_ms"] as? Int ?? 0) >= Int(t0) + 2_000 } },
                "\(agent.log)")
        pub.stop()
        agent.terminate()
        collector.stop()
        #expect(!collector.records("summary").contains { $0["device"] as? String == "big" })
        let lines = agent.log.components(separatedBy: "\n").filter { $0.contains("can never be published") }
        #expect(lines.count == 1, "\(agent.log)")  // logged once per reason
        #expect(agent.log.contains("spool drained"), "\(agent.log)")
        let listed = try runDewpoint(["spool", "--config", dir + "/dewpoint.yaml", "--dead-letters"])
        #expect(listed.status == 0, "\(listed.err)")
        #expect(listed.out.contains("0 records waiting") && listed.out.contains("/big/summary"), "\(listed.out)")
        // an export that cannot be written clears nothing
        let full = try runDewpoint(["spool", "--config", dir + "/dewpoint.yaml", "--export", "/dev/full", "--clear"])
        #expect(full.status != 0 && full.err.contains("the dead letters stay in the spool"), "\(full.err)")
        #expect(try runDewpoint(["spool", "--config", dir + "/dewpoint.yaml", "--dead-letters"]).out.contains("/big/summary"))
        let exported = try runDewpoint(["spool", "--config", dir + "/dewpoint.yaml", "--export", "-", "--clear"])
        let records = exported.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(!records.isEmpty && records.allSatisfy { ($0["topic"] as? String)?.hasSuffix("/big/summary") == true && !($0["reason"] as? String ?? "").isEmpty },
                "\(exported.out)")
        let after = try runDewpoint(["spool", "--config", dir + "/dewpoint.yaml"])
        #expect(after.out.contains("0 dead letters"), "\(after.out)")
    }

    /// A message far over the binding's max_payload never reaches the agent: the input speaks
    /// MQTT 5 and tells the broker its maximum packet size, so the broker discards it. The agent
    /// keeps running and the data after it arrives.
    @Test func anOversizeMessageNeverReachesTheAgent() throws {
        let (broker, collector, agent) = try startAgentOnOneBroker("oversize") { $0 + "\nlimits: {max_payload: 4KiB}\n" }
        let pub = try Publisher(port: broker.port)
        let t0 = nowMs()
        try pub.sendRaw(#"{"ts":\#(t0),"v":1,"pad":""# + String(repeating: "x", count: 8 << 20) + "\"}")
        for i in 1...20 { try pub.send(ts: t0 + Int64(i) * 50, v: 2); usleep(10_000) }
        usleep(1_500_000)
        pub.stop()
        agent.terminate()
        collector.stop()
        #expect(samples(collector.records("summary")) == 20, "\(agent.log)")
        // the broker dropped it: the agent never saw a frame of it
        #expect(agent.log.contains("frames=20 "), "\(agent.log)")
    }

    /// A `+device` binding: names from the topic that break the rule (65,520 bytes, empty,
    /// quotes, backslashes, U+2028) are refused and counted; a flood of new names stops at
    /// max_devices; the good device's data goes upstream under its own topic throughout.
    @Test func topicLevelNamesAreValidatedAndDevicesBounded() throws {
        let (broker, collector, agent) = try startAgentOnOneBroker("names") {
            $0.replacingOccurrences(of: "topic: t/env", with: "topic: t/+device/env") + "\nlimits: {max_devices: 20}\n"
        }
        let pub = try Publisher(port: broker.port)
        let t0 = nowMs()
        let bad = [String(repeating: "x", count: 65_520), "", "\"", "\\", "a\u{2028}b", "a b"]
        for name in bad { try pub.send(ts: t0, v: 1, topic: "t/\(name)/env") }
        try pub.send(ts: t0, v: 1, topic: "t/good/env")
        for i in 0..<200 { try pub.send(ts: t0, v: 1, topic: "t/flood-\(i)/env") }
        for i in 1...20 { try pub.send(ts: t0 + Int64(i) * 40, v: 2, topic: "t/good/env"); usleep(5_000) }
        usleep(1_500_000)
        pub.stop()
        agent.terminate()
        collector.stop()
        let summaries = collector.records("summary")
        let good = summaries.filter { $0["device"] as? String == "good" }
        #expect(samples(good) == 21, "\(agent.log)")
        #expect(Set(summaries.compactMap { $0["device"] as? String }).count == 20, "good and 19 of the flood")
        #expect(collector.all.allSatisfy { $0.topic.utf8.count < 200 })
        #expect(agent.log.contains("invalid_names=\(bad.count)"), "\(agent.log)")
        #expect(agent.log.contains("device_limit=181"), "\(agent.log)")
        #expect(!agent.log.contains(String(repeating: "x", count: 1000)))
    }

    /// Payload times far in the future are replaced by the arrival time (an hour's limit by
    /// default, live), so they open no windows; a payload that would forge a journal line is
    /// logged escaped, on one line. Data after both flows as before.
    @Test func futureTimesAndForgedLogLinesChangeNothing() throws {
        let (broker, collector, agent) = try startAgentOnOneBroker("future")
        let pub = try Publisher(port: broker.port)
        let t0 = nowMs()
        for k in 1...500 { try pub.send(ts: t0 + Int64(k) * 86_400_000, v: 5) }
        try pub.sendRaw("{\"ts\":\(t0),\"v\":\"x\"}\n<0>emerg: forged by a sender\n")
        for i in 1...20 { try pub.send(ts: t0 + Int64(i) * 50, v: 2); usleep(5_000) }
        usleep(1_500_000)
        pub.stop()
        agent.terminate()
        collector.stop()
        #expect(agent.log.contains("clock_skew=500"), "\(agent.log)")
        // the far-future samples count in the arrival window; no window was opened for them
        let summaries = collector.records("summary")
        #expect(samples(summaries) == 520, "\(agent.log)")
        #expect(summaries.allSatisfy { ($0["start_ms"] as? Int ?? 0) < Int(t0) + 3_600_000 })
        let lines = agent.log.components(separatedBy: "\n")
        #expect(!lines.contains { $0.hasPrefix("<0>") }, "\(agent.log)")
        #expect(lines.contains { $0.contains("decode_error") }, "\(agent.log)")
    }
}
