import DewpointSpool
import DewpointTestSupport
import Foundation
import Testing

/// Alerts go upstream before their commit. Killed in that gap (the commit is held back by a
/// fault-injection setting), the agent has sent an alert that its spool does not hold; after the
/// restart the input broker sends the uncommitted messages again, the alert is raised again with
/// a higher `seq` (the `seq` sent early is never given to another record), and the summaries
/// still count every message exactly once.
@Suite(.serialized) struct EarlyAlertTests {
    @Test func anAlertSentBeforeItsCommitSurvivesAKillWithoutReusingItsSeq() throws {
        let input = Broker(extra: "max_queued_messages 0\n"), upstream = Broker()
        input.start(); upstream.start()
        defer { input.stop(); upstream.stop() }
        let collector = try Collector(port: upstream.port)
        let dir = scratchDir("early-alert")
        // a long window and commit interval: nothing but the alert would make a commit
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port, window: "60s", lateness: "1s",
                                 detectors: "    detectors: [{kind: threshold, above: 500}]", qos: 1,
                                 spoolExtra: "  commit_interval: 30s")
        let first = AgentProcess(dir: dir, environment: ["DEWPOINT_FAULT_EARLY_COMMIT_DELAY_MS": "30000"])
        try first.start()
        #expect(waitUntil(5) { first.log.contains("input connected") })
        let pub = try Publisher(port: input.port)
        var published = 0
        func send(_ v: Double) throws { try pub.send(ts: nowMs(), v: v); published += 1; usleep(5_000) }
        // a steady stream (no pause long enough for the input to commit its acknowledgements)
        for _ in 0..<100 { try send(1) }
        try send(1_000)
        var raised: [[String: Any]] { collector.records("alert").filter { $0["state"] as? String == "raised" } }
        var waited = 0
        while raised.isEmpty && waited < 400 { try send(1); waited += 1 }
        first.kill9()
        let early = try #require(raised.first?["seq"] as? Int, "no alert upstream before the kill\n\(first.log)")
        // the spool holds no record: the alert went before its commit, which the kill prevented
        let spool = try SpoolQueue(path: dir + "/spool.db", maxBytes: 1 << 20)
        #expect(try spool.read(after: 0, limit: 100).isEmpty)
        #expect(spool.next() > UInt64(early), "a seq sent early would be used again")

        let second = AgentProcess(dir: dir)
        try second.start()
        #expect(waitUntil(10) { raised.count >= 2 }, "\(second.log)")
        for _ in 0..<20 { try send(1) }
        usleep(500_000)
        second.terminate()
        pub.stop()
        usleep(300_000)
        collector.stop()
        let alerts = raised.compactMap { $0["seq"] as? Int }
        #expect(alerts.count == 2 && alerts[1] > alerts[0], "\(alerts)")
        // no seq names two different records
        var bySeq: [Int: String] = [:]
        for m in collector.all {
            guard let o = try? JSONSerialization.jsonObject(with: Data(m.payload.utf8)) as? [String: Any], let s = o["seq"] as? Int else { continue }
            if let other = bySeq[s] { #expect(other == m.payload, "seq \(s) used twice") } else { bySeq[s] = m.payload }
        }
        // every message counted once: the broker sent the uncommitted ones again
        let (summaries, inOrder, _) = deduplicated(collector.records("summary"))
        #expect(inOrder)
        #expect(samples(summaries) == published, "\(samples(summaries)) of \(published)\n\(second.log)")
    }
}
