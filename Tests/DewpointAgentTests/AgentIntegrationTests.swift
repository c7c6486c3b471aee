import DewpointTestSupport
import DewpointCore
import Foundation
import Testing

/// End-to-end: the `dewpoint run` binary between two real mosquitto brokers started by the tests.
@Suite(.serialized) struct AgentIntegrationTests {
    /// 10,000 messages over about 10 s; the upstream broker is down for 5 s in the middle.
    /// Every summary arrives upstream, in order by seq after dropping duplicates, none missing.
    @Test func upstreamOutageLosesNothing() throws {
        // mosquitto drops QoS 1 messages beyond 1000 queued for one client by default; a gateway's
        // local broker feeding the agent should not (see the MQTT adapter's README)
        let input = Broker(extra: "max_queued_messages 0\n"), upstream = Broker(persistent: true)
        input.start(); upstream.start()
        let collector = try Collector(port: upstream.port)
        let dir = scratchDir("outage")
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port)
        let agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("input connected") && agent.log.contains("upstream connected") }, "\(agent.log)")
        let pub = try Publisher(port: input.port)
        let start = Date()
        // stop and start on a serial queue of their own, so the publisher keeps its pace and the
        // start never overtakes a slow stop
        let brokerControl = DispatchQueue(label: "broker-control")
        for i in 0..<10_000 {
            if i == 2_500 { brokerControl.async { upstream.stop() } }
            if i == 7_500 { brokerControl.async { upstream.start() } }
            try pub.send(ts: nowMs(), v: Double(i % 100))
            // pace to ~1000 messages/s
            let due = start.addingTimeInterval(Double(i) / 1000)
            let wait = due.timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(wait * 1e6)) }
        }
        usleep(500_000)
        agent.terminate()  // flushes the open window as partial and drains the spool
        pub.stop()
        #expect(waitUntil(10) { samples(deduplicated(collector.records("summary")).records) >= 10_000 })
        collector.stop()
        let (summaries, inOrder, contiguous) = deduplicated(collector.records("summary"))
        #expect(inOrder)
        #expect(contiguous)
        #expect(summaries.first?["seq"] as? Int == 1)
        #expect(samples(summaries) == 10_000, "\(agent.log)")
        #expect(agent.log.contains("upstream disconnected"))
        #expect(agent.log.contains("spool drained"))
        #expect(agent.log.contains("decode_errors=0"))
        // the settle-time pass at 5 s (`StartupPages.SettlePasses`) ran, under the load
        #expect(agent.log.contains("KiB of file pages only start-up used"), "\(agent.log)")
    }

    /// kill -9 with records waiting in the spool, then a restart: every committed record arrives,
    /// in order, and seq continues after the highest ever used.
    @Test func killNineThenRestartKeepsTheSpool() throws {
        let input = Broker()
        input.start()
        let upstream = Broker()  // not started yet: records pile up in the spool
        let dir = scratchDir("crash")
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port, window: "200ms", lateness: "0ms")
        let first = AgentProcess(dir: dir)
        try first.start()
        #expect(waitUntil(5) { first.log.contains("input connected") })
        let pub = try Publisher(port: input.port)
        for i in 0..<1_000 {
            try pub.send(ts: nowMs(), v: Double(i))
            usleep(2_000)
        }
        usleep(600_000)  // windows close and are committed (at most 100 ms later)
        first.kill9()

        upstream.start()
        let collector = try Collector(port: upstream.port)
        let second = AgentProcess(dir: dir)
        try second.start()
        // both runs log to the same file: wait for the second one's report of the spool it found
        #expect(waitUntil(5) { second.log.range(of: #"spool\.db: [1-9][0-9]* records waiting"#, options: .regularExpression) != nil }, "\(second.log)")
        #expect(waitUntil(10) { second.log.contains("upstream connected") })
        try pub.send(ts: nowMs(), v: 1)  // one more after the restart
        usleep(800_000)
        second.terminate()
        pub.stop()
        usleep(300_000)
        collector.stop()
        let (summaries, inOrder, contiguous) = deduplicated(collector.records("summary"))
        #expect(inOrder && contiguous)
        #expect(summaries.first?["seq"] as? Int == 1)
        #expect(summaries.count >= 4)
        // all but the window open at the kill reached the spool before the crash; messages the
        // broker still held for the agent's persistent session arrive after the restart
        #expect(samples(summaries) >= 900 && samples(summaries) <= 1_001, "\(samples(summaries))")
        #expect(second.log.contains("spool drained"))
    }

    /// Restarting the input broker leads to a new subscription; QoS 1 messages published while the
    /// agent was stopped arrive through its persistent session.
    @Test func resubscribesAndReceivesWhatWasSentWhileAway() throws {
        let input = Broker(persistent: true), upstream = Broker()
        input.start(); upstream.start()
        let collector = try Collector(port: upstream.port)
        let dir = scratchDir("session")
        // a long window and lateness: the test spans ~15 s of wall clock, which closes windows in live mode
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port, window: "1h", lateness: "30m")
        var agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("input connected") })
        agent.terminate()

        // while the agent is away: QoS 1 messages queue in its session on the broker
        let pub = try Publisher(port: input.port)
        let t0 = nowMs()
        for i in 0..<50 { try pub.send(ts: t0 + Int64(i), v: 5) }
        usleep(300_000)
        pub.stop()

        agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.components(separatedBy: "input connected").count > 2 })
        // restart the input broker (with no persistence file this time it would forget the
        // subscription; the agent subscribes again on every connect)
        input.stop()
        try? FileManager.default.removeItem(atPath: input.dir + "/mosquitto.db")
        input.start()
        #expect(waitUntil(10) { agent.log.components(separatedBy: "input connected").count > 3 }, "\(agent.log)")
        usleep(500_000)  // the SUBSCRIBE goes out right after the log line; let the broker take it
        let pub2 = try Publisher(port: input.port)
        for i in 0..<20 { try pub2.send(ts: t0 + 100 + Int64(i), v: 7) }
        usleep(500_000)
        pub2.stop()
        agent.terminate()
        usleep(300_000)
        collector.stop()
        let (summaries, _, _) = deduplicated(collector.records("summary"))
        #expect(samples(summaries) == 70, "\(agent.log)")
    }

    /// Garbage payloads are counted as decode errors and never stop the stream.
    /// `input.batch_wait` (with `batch_min: 2`, so that 4,000 messages/s make it linger): the
    /// network thread sleeps between passes and reads messages in batches, at QoS 0 and at QoS 1 (where each pass also acknowledges its batch). Every message
    /// still reaches a summary, and an alert still arrives upstream while the input keeps flowing.
    /// At QoS 1 this needs more than the few hundred messages after which libmosquitto's internal
    /// wake-up pipe is full (see `Mosquitto.loop`). Also once with libmosquitto reading unbuffered.
    @Test(arguments: [(0, true), (1, true), (1, false)]) func batchedInputLosesNothing(qos: Int, buffered: Bool) throws {
        let broker = Broker(extra: "max_queued_messages 0\n")
        broker.start()
        let collector = try Collector(port: broker.port)
        let dir = scratchDir("batched-\(qos)-\(buffered)")
        AgentProcess.writeConfig(dir: dir, inputPort: broker.port, upstreamPort: broker.port,
                                 detectors: "    detectors: [{kind: threshold, above: 500}]",
                                 inputExtra: "  batch_wait: 5ms\n  batch_min: 2\n  read_buffer: \(buffered)", qos: qos)
        let agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("input connected") })
        #expect(agent.log.contains("reads buffered") == buffered, "\(agent.log)")
        let pub = try Publisher(port: broker.port)
        let start = Date()
        for i in 0..<4_000 {
            try pub.send(ts: nowMs(), v: i == 3_000 ? 1_000 : Double(i % 100))
            let wait = start.addingTimeInterval(Double(i) / 4000).timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(wait * 1e6)) }
        }
        #expect(waitUntil(5) { collector.records("alert").contains { $0["state"] as? String == "raised" } })
        usleep(300_000)
        agent.terminate()
        pub.stop()
        #expect(waitUntil(10) { samples(deduplicated(collector.records("summary")).records) >= 4_000 })
        collector.stop()
        #expect(samples(deduplicated(collector.records("summary")).records) == 4_000, "\(agent.log)")
        #expect(agent.log.contains("frames=4000"), "\(agent.log)")
    }

    @Test func badPayloadsAreCountedNotFatal() throws {
        let broker = Broker()
        broker.start()
        let collector = try Collector(port: broker.port)
        let dir = scratchDir("garbage")
        AgentProcess.writeConfig(dir: dir, inputPort: broker.port, upstreamPort: broker.port, window: "60s", lateness: "10s")
        let agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("input connected") })
        let pub = try Publisher(port: broker.port)
        let t0 = nowMs()
        let junk = ["", "{", "\u{00}\u{FF}", #"{"ts":"x","v":1}"#, String(repeating: "[", count: 100_000), #"{"ts":1,"v":"high"}"#]
        for i in 0..<30 {
            try pub.send(ts: t0 + Int64(i), v: 1)
            try pub.sendRaw(junk[i % junk.count])
        }
        try pub.sendRaw("{}", topic: "t/unknown")
        usleep(500_000)
        pub.stop()
        agent.terminate()
        usleep(300_000)
        collector.stop()
        #expect(agent.log.contains("decode_errors=30"), "\(agent.log)")
        #expect(samples(deduplicated(collector.records("summary")).records) == 30)
    }
}

@Suite(.serialized) struct AuthAndProtocolTests {
    /// MQTT 5 upstream, username/password on both sides (one from a file, one from the
    /// environment), and a summary topic template. A wrong password is refused and never logged.
    @Test func mqtt5WithPasswordsAndTopicTemplate() throws {
        let dir = scratchDir("auth")
        let passwd = Process()
        passwd.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_passwd")
        passwd.arguments = ["-b", "-c", dir + "/passwd", "gw", "s3cret-pw"]
        try passwd.run()
        passwd.waitUntilExit()
        #expect(passwd.terminationStatus == 0)
        let broker = Broker(extra: "password_file \(dir)/passwd\n", anonymous: false)
        broker.start()
        let collector = try Collector(port: broker.port, filter: "site/#", username: "gw", password: "s3cret-pw")
        #expect(collector.client.isConnected)
        try "s3cret-pw\n".write(toFile: dir + "/upstream.pw", atomically: true, encoding: .utf8)
        AgentProcess.writeConfig(dir: dir, inputPort: broker.port, upstreamPort: broker.port, window: "60s", lateness: "10s",
                                 upstreamExtra: "  mqtt_version: 5\n  username: gw\n  password_file: \(dir)/upstream.pw\n  summary_topic: site/{agent}/{device}",
                                 inputExtra: "  username: gw\n  password_env: TEST_INPUT_PW")
        let agent = AgentProcess(dir: dir, environment: ["TEST_INPUT_PW": "s3cret-pw"])
        try agent.start()
        #expect(waitUntil(10) { agent.log.contains("input connected") && agent.log.contains("upstream connected") }, "\(agent.log)")
        let pub = try Publisher(port: broker.port, username: "gw", password: "s3cret-pw")
        for i in 0..<5 { try pub.send(ts: nowMs() + Int64(i), v: 2) }
        usleep(300_000)
        pub.stop()
        agent.terminate()
        #expect(waitUntil(5) { collector.all.contains { $0.topic == "site/gw-test/env" } })
        collector.stop()
        #expect(samples(collector.records("summary")) == 5)
        #expect(!agent.log.contains("s3cret-pw"))

        // a wrong password: refused with the broker's reason, and the password is not logged
        try "wrong-pw\n".write(toFile: dir + "/upstream.pw", atomically: true, encoding: .utf8)
        let refused = AgentProcess(dir: dir, environment: ["TEST_INPUT_PW": "s3cret-pw"])
        try refused.start()
        #expect(waitUntil(10) { refused.log.contains("refused the connection") }, "\(refused.log)")
        refused.terminate()
        #expect(!refused.log.contains("wrong-pw"))
    }
}

import DewpointSerial

@Suite(.serialized) struct SerialAgentTests {
    /// A test folder with the agent file and one binding on the pty at 115200 baud (`binding`
    /// without its transport and port).
    static func serialAgentDir(_ name: String, broker: Broker, pty: PseudoTerminal, binding: String) throws -> String {
        let dir = scratchDir(name)
        AgentProcess.writeConfig(dir: dir, inputPort: broker.port, upstreamPort: broker.port)
        try FileManager.default.removeItem(atPath: dir + "/devices/env.yaml")
        try (binding + "\ntransport: serial\nserial: {port: \(pty.slavePath), baud: 115200}\n")
            .write(toFile: dir + "/devices/serial.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    /// `dewpoint run` with a serial binding on a pty: CSV lines with an NMEA-style checksum, line
    /// noise and a corrupt line; summaries arrive upstream with exactly the good lines' values.
    @Test func serialLinesBecomeSummariesUpstream() throws {
        let broker = Broker()
        broker.start()
        let collector = try Collector(port: broker.port)
        let pty = try PseudoTerminal()
        defer { pty.close() }
        let dir = try Self.serialAgentDir("serial-agent", broker: broker, pty: pty, binding: """
        device: mast
        framing: {kind: line, start: "$", checksum: nmea, max_length: 128}
        decoder: {kind: csv}
        channels:
          - {name: wind, unit: m/s, column: 1}
          - {name: dir, unit: deg, column: 2, range: [0, 360]}
        window: {length: 60s, lateness: 0ms}
        """)
        let agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("open (115200 8N1") }, "\(agent.log)")
        func line(_ body: String) -> [UInt8] {
            let x = body.utf8.reduce(UInt8(0), ^)
            let hex = Array("0123456789ABCDEF".utf8)
            return Array("$\(body)*".utf8) + [hex[Int(x >> 4)], hex[Int(x & 15)], 0x0D, 0x0A]
        }
        var stream: [UInt8] = []
        for i in 0..<20 { stream += line("WX,\(Double(i) / 2),\(i * 10)") }
        stream += [0x00, 0xFF] + Array("$WX,99,99*00\r\n".utf8)  // noise, then a corrupt line
        stream.withUnsafeBytes { try? pty.write($0) }
        usleep(500_000)
        agent.terminate()
        #expect(waitUntil(5) { !collector.records("summary").isEmpty })
        collector.stop()
        let s = try #require(collector.records("summary").first)
        let ch = s["channels"] as! [String: [String: Any]]
        #expect(ch["wind"]!["n"] as! Int == 20)
        #expect(ch["wind"]!["max"] as! Double == 9.5)
        #expect(ch["dir"]!["mean"] as! Double == 95)
        #expect(agent.log.contains("frames=20 corrupt=1"), "\(agent.log)")
    }

    /// Lines pour in from a serial device while the agent stops: every frame the link read is
    /// processed (the sources stop before the queue closes), none refused.
    @Test func everyFrameReadBeforeTheStopIsProcessed() throws {
        let broker = Broker()
        broker.start()
        let pty = try PseudoTerminal()
        defer { pty.close() }
        let dir = try Self.serialAgentDir("serial-stop", broker: broker, pty: pty, binding: """
        device: flood
        framing: {kind: line}
        decoder: {kind: csv}
        channels:
          - {name: v, column: 0}
        window: {length: 60s, lateness: 0ms}
        """)
        // a small queue that blocks when full, so the link is often waiting on it at the stop
        try String(contentsOfFile: dir + "/dewpoint.yaml", encoding: .utf8)
            .replacingOccurrences(of: "capacity: 100000", with: "capacity: 64")
            .write(toFile: dir + "/dewpoint.yaml", atomically: true, encoding: .utf8)
        let agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("open (115200 8N1") }, "\(agent.log)")
        let writing = NSLock()
        nonisolated(unsafe) var keepWriting = true
        // non-blocking: once the agent stops reading, a full pty must not block the flood
        let master = pty.master
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        let writer = OSThread(name: "flood") {
            let chunk = Array(String(repeating: "1.5\n", count: 256).utf8)
            while writing.withLock({ keepWriting }) {
                if chunk.withUnsafeBytes({ Glibc.write(master, $0.baseAddress, $0.count) }) < 0 { usleep(1_000) }
            }
        }
        writer.start()
        usleep(300_000)
        agent.terminate()
        writing.withLock { keepWriting = false }
        writer.join()
        let log = agent.log
        #expect(!log.contains("arrived after the stop began"), "\(log)")
        // the link's frame count and the pipeline's are the same
        func count(after marker: String) -> Int? {
            guard let r = log.range(of: marker) else { return nil }
            let digits = log[r.upperBound...].prefix { $0.isNumber }
            return Int(digits)
        }
        let read = try #require(count(after: "frames="))  // the serial link's line comes first
        let processed = try #require(count(after: "stopped: frames="))
        #expect(read > 1000 && read == processed, "link read \(read) frames, pipeline got \(processed): \(log)")
    }
}
