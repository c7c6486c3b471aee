import DewpointCore
import DewpointMQTT
import DewpointSerial
import DewpointTestSupport
import Foundation
import Synchronization
import Testing

/// Publishes `{"ts":now,"v":1}` at QoS 1 on its own thread, counting what the broker
/// acknowledged, with a persistent session so that nothing in flight is lost when the broker
/// restarts. `pause()` waits until everything sent is acknowledged.
final class Count: Sendable {
    let value = Atomic<Int>(0)
    func add() { value.add(1, ordering: .relaxed) }
    func load() -> Int { value.load(ordering: .relaxed) }
}

final class SteadyPublisher: Sendable {
    let client: MQTTClient
    let acked = Count()
    let sent = Atomic<Int>(0)
    let paused = Atomic<Bool>(false)
    let done = Atomic<Bool>(false)
    let finishing = Atomic<Bool>(false)

    init(port: Int) throws {
        let acked = self.acked
        client = try MQTTClient(.init(host: "127.0.0.1", port: port, clientId: "steady-\(port)-\(getpid())", cleanSession: false, protocolVersion: 5),
                                handlers: .init(published: { _ in acked.add() }))
        client.start()
        _ = waitUntil(5) { self.client.isConnected }
    }

    /// `total` messages at about `rate` per second.
    func run(total: Int, rate: Int) {
        let burst = max(1, rate / 100)
        Thread.detachNewThread { [self] in
            var i = 0
            while i < total && !finishing.load(ordering: .acquiring) {
                if paused.load(ordering: .acquiring) { usleep(5_000); continue }
                for _ in 0..<burst where i < total {
                    let p = Array(#"{"ts":\#(nowMs()),"v":1}"#.utf8)
                    if (try? p.withUnsafeBytes({ try client.publish(topic: "t/env", payload: $0, qos: 1, retain: false) })) != nil {
                        i += 1
                        sent.add(1, ordering: .relaxed)
                    }
                }
                usleep(10_000)
            }
            done.store(true, ordering: .releasing)
        }
    }

    func pause() {
        paused.store(true, ordering: .releasing)
        usleep(20_000)
        _ = waitUntil(10) { self.acked.load() >= self.sent.load(ordering: .relaxed) }
    }
    func resume() { paused.store(false, ordering: .releasing) }
    /// Stops publishing (a `run` with no fixed total) and waits until the broker acknowledged
    /// everything sent.
    func finish() {
        finishing.store(true, ordering: .releasing)
        _ = waitUntil(10) { self.done.load(ordering: .acquiring) }
        _ = waitUntil(10) { self.acked.load() >= self.sent.load(ordering: .relaxed) }
    }
    func stop() { client.stop() }
}

/// The set-up of every crash test: a persistent input broker that queues without bound, an
/// upstream broker with a collector, and an agent folder whose stops checkpoint and which
/// commits every 200 ms (1 s windows, 200 ms lateness).
struct FaultRig {
    let input: Broker
    let upstream: Broker
    let collector: Collector
    let dir: String

    init(_ name: String, persistentUpstream: Bool = false, detectors: String = "", inputExtra: String = "") throws {
        input = Broker(persistent: true, extra: "max_queued_messages 0\n")
        upstream = Broker(persistent: persistentUpstream)
        input.start(); upstream.start()
        collector = try Collector(port: upstream.port)
        dir = scratchDir(name)
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port, window: "1s", lateness: "200ms",
                                 detectors: detectors, inputExtra: inputExtra, onStop: "checkpoint", spoolExtra: "  commit_interval: 200ms")
    }

    func stop() { input.stop(); upstream.stop() }
}

/// Nothing the input broker acknowledged is lost or counted twice, through kill -9, SIGTERM,
/// input broker restarts and upstream outages: the sum of the upstream summaries' `n` equals what
/// was published, and no window is summarised twice.
@Suite(.serialized) struct CrashConsistencyTests {
    func summariesAreExact(_ collector: Collector, expected: Int, log: String) {
        let (summaries, _, _) = deduplicated(collector.records("summary"))
        #expect(samples(summaries) == expected, "\(samples(summaries)) samples summarised, \(expected) published\n\(log.suffix(6000))")
        let starts = summaries.map { $0["start_ms"] as! Int }
        #expect(Set(starts).count == starts.count, "a window was summarised twice")
        #expect(!summaries.contains { $0["partial"] as? Bool == true }, "a stop split a window")
    }

    @Test func killNineRestartsOutagesAndBrokerRestartsLoseAndDoubleNothing() throws {
        let rig = try FaultRig("crash", persistentUpstream: true, inputExtra: "  mqtt_version: 5")
        defer { rig.stop() }
        let (input, upstream, collector, dir) = (rig.input, rig.upstream, rig.collector, rig.dir)
        var agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("input connected") })
        let pub = try SteadyPublisher(port: input.port)
        // publishes through every fault below, until `finish`
        pub.run(total: .max, rate: 1_500)
        var rng = SystemRandomNumberGenerator()
        func pauseRandomly() { usleep(UInt32.random(in: 300_000...900_000, using: &rng)) }
        func restart() throws {
            usleep(UInt32.random(in: 200_000...800_000, using: &rng))
            agent = AgentProcess(dir: dir)
            try agent.start()
        }

        pauseRandomly(); agent.kill9(); try restart()
        pauseRandomly()
        upstream.stop(); usleep(1_500_000); upstream.start()
        pauseRandomly(); agent.kill9(); try restart()
        // the input broker restarts (its persistence keeps the agent's session and backlog)
        pauseRandomly()
        pub.pause()
        input.stop(); input.start()
        #expect(waitUntil(10) { pub.client.isConnected })
        pub.resume()
        pauseRandomly(); agent.terminate(); try restart()
        pauseRandomly(); agent.kill9(); try restart()

        pauseRandomly()
        pub.finish()
        let total = pub.acked.load()
        #expect(total > 5_000 && total == pub.sent.load(ordering: .relaxed))
        // every window closes once the input is quiet (the wall clock takes over)
        _ = waitUntil(20) { samples(deduplicated(collector.records("summary")).records) >= total }
        usleep(500_000)
        agent.terminate()
        pub.stop()
        collector.stop()
        summariesAreExact(collector, expected: pub.acked.load(), log: agent.log)
        #expect(agent.log.contains("checkpoint restored"))
    }

    /// Live reload under load (SIGHUP after editing the files): a new binding is added and an
    /// existing one changes its limits; the running device's open windows and detector state
    /// carry over, nothing is lost, nothing is counted twice, and no window is split. A change of
    /// its channels ends that device's state alone (its open windows emitted first), logged.
    @Test func liveReloadUnderLoadLosesAndSplitsNothing() throws {
        let rig = try FaultRig("reload", detectors: "    detectors: [{kind: zscore, window: 50}]")
        defer { rig.stop() }
        let (input, collector, dir) = (rig.input, rig.collector, rig.dir)
        let agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("input connected") })
        let pub = try SteadyPublisher(port: input.port)
        let total = 9_000
        pub.run(total: total, rate: 1_500)
        usleep(1_500_000)
        // another device, and a limit changed on the running one: its state carries over
        try "device: other\ntransport: mqtt\nmqtt: {topic: t/other, qos: 1}\ndecoder: json\nchannels: [{name: x, pointer: /x}]\n"
            .write(toFile: dir + "/devices/other.yaml", atomically: true, encoding: .utf8)
        let binding = try String(contentsOfFile: dir + "/devices/env.yaml", encoding: .utf8)
        try (binding + "\nlimits: {max_payload: 64KiB}\n").write(toFile: dir + "/devices/env.yaml", atomically: true, encoding: .utf8)
        kill(agent.process.processIdentifier, SIGHUP)
        #expect(waitUntil(10) { agent.log.contains("reload: added other; changed env") }, "\(agent.log)")
        #expect(waitUntil(10) { agent.log.contains("checkpoint restored: 1 devices") }, "\(agent.log)")
        usleep(1_500_000)
        kill(agent.process.processIdentifier, SIGHUP)  // unchanged: nothing happens
        #expect(waitUntil(5) { agent.log.contains("reload: the configuration has not changed") }, "\(agent.log)")
        #expect(waitUntil(30) { pub.done.load(ordering: .acquiring) })
        _ = waitUntil(20) { samples(deduplicated(collector.records("summary")).records) >= total }
        #expect(agent.process.isRunning)

        // a changed channel: that device's state is discarded, logged, and it runs on
        try (binding.replacingOccurrences(of: "unit: V", with: "unit: mV") + "\nlimits: {max_payload: 64KiB}\n")
            .write(toFile: dir + "/devices/env.yaml", atomically: true, encoding: .utf8)
        kill(agent.process.processIdentifier, SIGHUP)
        #expect(waitUntil(10) { agent.log.contains("reload: 1 device of env emitted their open windows as partial summaries") }, "\(agent.log)")
        #expect(waitUntil(5) { agent.log.components(separatedBy: "input connected").count > 3 }, "\(agent.log)")
        agent.terminate()
        pub.stop()
        collector.stop()
        summariesAreExact(collector, expected: pub.acked.load(), log: agent.log)
    }

    /// The agent dies after a commit and before the acknowledgements it covers were written: the
    /// broker sends those messages again, and they are recognised, not counted twice.
    @Test func aCrashBetweenCommitAndAcknowledgementCountsNothingTwice() throws {
        let rig = try FaultRig("crash-ack")
        defer { rig.stop() }
        let (input, collector, dir) = (rig.input, rig.collector, rig.dir)
        var agent = AgentProcess(dir: dir, environment: ["DEWPOINT_FAULT_EXIT_AFTER_COMMITS": "4"])
        try agent.start()
        let pub = try SteadyPublisher(port: input.port)
        let total = 3_000
        pub.run(total: total, rate: 1_000)
        #expect(waitUntil(10) { !agent.process.isRunning }, "the fault did not fire")
        agent.process.waitUntilExit()
        agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(30) { pub.done.load(ordering: .acquiring) })
        _ = waitUntil(20) { samples(deduplicated(collector.records("summary")).records) >= total }
        usleep(500_000)
        agent.terminate()
        pub.stop()
        collector.stop()
        summariesAreExact(collector, expected: pub.acked.load(), log: agent.log)
        let redelivered = agent.log.firstMatch(of: /stopped: .* redelivered=([0-9]+)/).map { Int($0.1)! } ?? 0
        #expect(redelivered > 0, "no redelivery was recognised\n\(agent.log.suffix(3000))")
    }

    /// A serial line cannot resend: a kill -9 loses at most what arrived within one commit
    /// interval before it, and what was committed is restored into the same window.
    @Test func aSerialSourceKilledMidStreamLosesAtMostOneCommitInterval() throws {
        let broker = Broker()
        broker.start()
        defer { broker.stop() }
        let collector = try Collector(port: broker.port)
        let pty = try PseudoTerminal()
        defer { pty.close() }
        let dir = try SerialAgentTests.serialAgentDir("serial-crash", broker: broker, pty: pty, binding: """
        device: mast
        framing: {kind: line}
        decoder: {kind: csv}
        channels:
          - {name: wind, unit: m/s, column: 0}
        window: {length: 1h, lateness: 0ms}
        """)
        // the helper writes on_stop: partial_summaries, so the last stop emits the restored window
        var agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("open (115200 8N1") }, "\(agent.log)")
        func send(_ n: Int, from: Int) {
            var s: [UInt8] = []
            for i in from..<(from + n) { s += Array("\(i % 10)\n".utf8) }
            s.withUnsafeBytes { try? pty.write($0) }
        }
        send(300, from: 0)
        usleep(1_500_000)  // > 2 commit intervals (500 ms): all 300 are committed
        send(200, from: 300)
        agent.kill9()  // the last 200 may or may not have been committed
        agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("checkpoint restored: 1 devices, 1 open windows") }, "\(agent.log)")
        usleep(300_000)
        agent.terminate()
        #expect(waitUntil(5) { !collector.records("summary").isEmpty })
        collector.stop()
        let n = (collector.records("summary").first?["channels"] as? [String: [String: Any]])?["wind"]?["n"] as? Int ?? 0
        #expect(n >= 300 && n <= 500, "\(n) samples kept\n\(agent.log)")
    }
}
