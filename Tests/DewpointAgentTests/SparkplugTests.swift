import DewpointCore
import DewpointTestSupport
import Foundation
import Synchronization
import Testing

/// The Python interpreter that has the test-side packages (`make testenv`): `DEWPOINT_TEST_PYTHON`,
/// else `.build/testenv`; nil when neither exists (a bare `swift test`).
func testPython(needing module: String) -> String? {
    let env = ProcessInfo.processInfo.environment["DEWPOINT_TEST_PYTHON"]
    let local = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/testenv/bin/python3").standardized.path
    for p in [env, local].compactMap({ $0 }) where FileManager.default.isExecutableFile(atPath: p) {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: p)
        check.arguments = ["-c", "import \(module)"]
        check.standardError = FileHandle(forWritingAtPath: "/dev/null")
        guard (try? check.run()) != nil else { continue }
        check.waitUntilExit()
        if check.terminationStatus == 0 { return p }
    }
    // under `make test` the interpreter must be there: a missing one is a failure, not a skip
    if env != nil { Issue.record("DEWPOINT_TEST_PYTHON=\(env!) cannot import \(module): run `make testenv`") }
    return nil
}

func toolPath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../tools/\(name)").standardized.path
}

/// A tool of `Tests/tools` run by a test: commands go to its stdin, what it reports comes back as
/// JSON lines in `out`.
final class PythonTool {
    let process = Process()
    let input = Pipe()
    let out: String

    init(python: String, script: String, arguments: [String], out: String, stderr: String? = nil) throws {
        self.out = out
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [toolPath(script)] + arguments + ["--out", out]
        process.standardInput = input
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        if let stderr { process.standardError = FileHandle(forWritingAtPath: stderr) }
        try process.run()
    }

    var lines: [[String: Any]] {
        guard let text = try? String(contentsOfFile: out, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func send(_ command: String) { input.fileHandleForWriting.write(Data((command + "\n").utf8)) }

    /// Sends `last` (or closes stdin), and waits up to `seconds` before a SIGKILL.
    func stop(sending last: String? = nil, seconds: Double) {
        if let last { send(last) } else { try? input.fileHandleForWriting.close() }
        if !waitUntil(seconds, { !self.process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// `Tests/tools/sparkplug_host.py`: a Sparkplug host application (mqtt-spb-wrapper's decoder) that
/// checks the session rules and writes what it saw as JSON lines.
final class SparkplugHost {
    let tool: PythonTool

    init(python: String, port: Int, dir: String) throws {
        tool = try PythonTool(python: python, script: "sparkplug_host.py", arguments: ["--port", "\(port)"], out: dir + "/host.jsonl",
                              stderr: dir + "/agent.log")
        _ = waitUntil(10) { self.events.contains { $0["type"] as? String == "SUBSCRIBED" } }
    }

    var events: [[String: Any]] { tool.lines }
    func of(_ type: String) -> [[String: Any]] { events.filter { $0["type"] as? String == type } }
    func rebirth() { tool.send("rebirth") }
    func stop() { tool.stop(seconds: 5) }
}

/// `upstream.format: sparkplug_b` against a real broker and a Sparkplug host from PyPI.
@Suite(.serialized) struct SparkplugTests {
    static func bdSeq(_ e: [String: Any]) -> Int? { e["bdSeq"] as? Int }

    /// Births, data, deaths, aliases, `seq` and `bdSeq` through a rebirth command, a kill -9, an
    /// upstream outage, a lost input and a clean stop; and every sample acknowledged by the input
    /// broker is counted once in the DDATA the host received.
    @Test func aSparkplugHostSeesAConsistentSessionThroughFaults() throws {
        guard let python = testPython(needing: "mqtt_spb_wrapper") else {
            print("skipped: no Python with mqtt-spb-wrapper (run `make testenv`, or `make test`)")
            return
        }
        let input = Broker(persistent: true, extra: "max_queued_messages 0\n")
        // persistent: the host's session and its queued messages survive the upstream restart
        let upstream = Broker(persistent: true)
        input.start(); upstream.start()
        defer { input.stop(); upstream.stop() }
        let dir = scratchDir("sparkplug")
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port,
                                 upstreamExtra: "  format: sparkplug_b\n  sparkplug:\n    group: plant-1\n",
                                 detectors: "    detectors: [{kind: threshold, below: 2}]", onStop: "checkpoint",
                                 spoolExtra: "  commit_interval: 200ms")
        let host = try SparkplugHost(python: python, port: upstream.port, dir: dir)
        defer { host.stop() }
        #expect(!host.of("SUBSCRIBED").isEmpty, "the host did not start: \(AgentProcess(dir: dir).log)")
        var agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(10) { !host.of("NBIRTH").isEmpty }, "no NBIRTH\n\(agent.log)")
        let pub = try SteadyPublisher(port: input.port)
        pub.run(total: .max, rate: 500)
        #expect(waitUntil(10) { host.of("DDATA").count >= 3 }, "no DDATA\n\(agent.log)")

        // a host's rebirth command: NBIRTH (seq 0, same bdSeq) and the device's DBIRTH again
        let births = host.of("NBIRTH").count
        host.rebirth()
        #expect(waitUntil(10) { host.of("NBIRTH").count > births }, "no rebirth\n\(agent.log)")
        #expect(Self.bdSeq(host.of("NBIRTH").last!) == Self.bdSeq(host.of("NBIRTH").first!))
        /// The distinct bdSeq of the NBIRTHs so far: one per connection.
        func sessions() -> [Int] {
            var out: [Int] = []
            for b in host.of("NBIRTH").compactMap(Self.bdSeq) where out.last != b { out.append(b) }
            return out
        }

        // kill -9: the broker publishes the will, an NDEATH with the session's bdSeq
        usleep(800_000)
        agent.kill9()
        #expect(waitUntil(10) { !host.of("NDEATH").isEmpty }, "no NDEATH after kill -9")
        agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(10) { sessions().count == 2 }, "no NBIRTH after the restart\n\(agent.log)")
        usleep(1_000_000)

        // an upstream outage: a new connection, a new bdSeq, births before data
        upstream.stop(); usleep(1_500_000); upstream.start()
        #expect(waitUntil(15) { sessions().count == 3 }, "no NBIRTH after the outage\n\(agent.log)")
        usleep(1_500_000)

        // the input is lost: the device's source is gone, so it dies; it is born again with data
        pub.pause()
        input.stop()
        #expect(waitUntil(10) { !host.of("DDEATH").isEmpty }, "no DDEATH after the input was lost\n\(agent.log)")
        input.start()
        #expect(waitUntil(10) { pub.client.isConnected })
        pub.resume()
        let dbirths = host.of("DBIRTH").count
        #expect(waitUntil(15) { host.of("DBIRTH").count > dbirths }, "no DBIRTH after the input came back\n\(agent.log)")

        usleep(1_000_000)
        pub.finish()
        let total = pub.acked.load()
        // every window closes once the input is quiet (the wall clock takes over)
        func counted() -> Int {
            // a resend after a reconnect repeats a window's DDATA: count each window once (by its time)
            var seen: [Int: Int] = [:]
            for e in host.of("DDATA") {
                for m in (e["metrics"] as? [[String: Any]]) ?? [] where m["name"] as? String == "v/n" {
                    seen[m["timestamp"] as? Int ?? 0] = m["value"] as? Int ?? 0
                }
            }
            return seen.values.reduce(0, +)
        }
        _ = waitUntil(20) { counted() >= total }
        agent.terminate()  // a clean stop publishes the NDEATH itself
        #expect(waitUntil(5) { host.of("NDEATH").count >= 2 })
        pub.stop()
        usleep(300_000)

        let events = host.events
        let errors = events.flatMap { e in ((e["errors"] as? [String]) ?? []).map { "\(e["type"] ?? "?") \(e["topic"] ?? ""): \($0)" } }
        #expect(errors.isEmpty, "the host found broken rules:\n\(errors.prefix(20).joined(separator: "\n"))")
        #expect(counted() == total, "\(counted()) samples in DDATA, \(total) acknowledged by the input broker\n\(agent.log.suffix(4000))")
        // bdSeq: the same within a session (rebirths), one more with every connection the broker accepted
        let nbirth = host.of("NBIRTH").compactMap(Self.bdSeq)
        let distinct = sessions()
        #expect(distinct.count == 3, "bdSeq of the NBIRTHs: \(nbirth)")
        for (a, b) in zip(distinct, distinct.dropFirst()) { #expect(b == (a + 1) % 256, "bdSeq of the NBIRTHs: \(nbirth)") }
        // every NDEATH (the will after kill -9, the clean stop's) names the session it ends
        let deaths = host.of("NDEATH").filter { $0["stale"] as? Bool != true }.compactMap(Self.bdSeq)
        #expect(deaths.count >= 2 && deaths.allSatisfy(nbirth.contains), "NDEATH bdSeq \(deaths), NBIRTH bdSeq \(nbirth)")
        #expect(deaths.last == nbirth.last)
        // the device: topic ids, units, the alert as a boolean
        let dbirth = try #require(host.of("DBIRTH").last)
        #expect(dbirth["topic"] as? String == "spBv1.0/plant-1/DBIRTH/gw-test/env")
        let metrics = (dbirth["metrics"] as? [[String: Any]]) ?? []
        let mean = metrics.first { $0["name"] as? String == "v/mean" }
        #expect((mean?["properties"] as? [String: Any])?["engUnit"] as? String == "V")
        #expect(metrics.contains { $0["name"] as? String == "v/alert/threshold" && $0["datatype"] as? Int == 11 && $0["value"] as? Bool == true },
                "the threshold alert is raised (v = 1 < 2)")
        #expect(agent.log.contains("sparkplug: NBIRTH"))
    }
}
