import DewpointCore
import DewpointPipeline
import Foundation
import DewpointTestSupport
import Testing

private func payload(_ ts: Int64, _ temp: Double = 20) -> String { #"{"ts":\#(ts),"temp":\#(temp),"rh":50,"p":1000,"batt":{"v":3}}"# }

/// What one sender can do through the data: every bound holds, is counted and logged, and good
/// data goes on flowing afterwards.
@Suite struct HostileInputTests {
    let t0: Int64 = 1_764_000_000_000

    @Test func deviceNamesFromTopicLevelsAreValidated() throws {
        let sink = MemorySink()
        let log = CapturedLog()
        let p = try Pipeline(agentId: "gw", bindings: [envBinding()], sink: sink, seq: CountingSeq(), logger: log.logger)
        let bad = [String(repeating: "x", count: 65_520), "", "\"", "\\", "a\u{2028}b", "caf\u{e9}", "a b", String(repeating: "y", count: 65)]
        for name in bad { feed(p, "sensors/\(name)/env", payload(t0)) }
        feed(p, "sensors/ok-1.a_B/env", payload(t0))
        feed(p, "sensors/\(String(repeating: "z", count: 64))/env", payload(t0))
        p.finish()
        #expect(p.counters.invalidNames == bad.count, "\(p.counters)")
        let devices = Set(parseLines(sink.lines).compactMap { $0["device"] as? String })
        #expect(devices == ["ok-1.a_B", String(repeating: "z", count: 64)])
        // the refusal is logged, the name excerpted and escaped
        let lines = log.lines.filter { $0.contains("invalid_name") }
        #expect(!lines.isEmpty && lines.allSatisfy { $0.utf8.count < 700 && !$0.contains("\n") && !$0.contains("\u{2028}") }, "\(lines)")
    }

    @Test func aBindingTracksAtMostMaxDevicesAndEvictsIdleOnes() throws {
        var b = envBinding(window: WindowSpec(lengthMs: 1_000, latenessMs: 0))
        b.limits.maxDevices = 3
        b.limits.deviceIdleMs = 5_000
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        for i in 0..<10 { feed(p, "sensors/d\(i)/env", payload(t0), t0 * 1_000_000) }
        #expect(p.counters.deviceLimit == 7)
        #expect(p.trackedDevices == 3)
        // d0 keeps talking; d1 and d2 fall silent and are evicted once idle for 5 s (event time)
        for s in 1...8 { feed(p, "sensors/d0/env", payload(t0 + Int64(s) * 1000), (t0 + Int64(s) * 1000) * 1_000_000) }
        #expect(p.counters.devicesEvicted == 2, "\(p.counters)")
        #expect(p.trackedDevices == 1)
        // their windows were emitted before their state went: every device's first window is summarised once
        let firsts = parseLines(sink.lines).filter { $0["kind"] as? String == "summary" && $0["start_ms"] as? Int == Int(t0) }
        #expect(Set(firsts.compactMap { $0["device"] as? String }) == ["d0", "d1", "d2"])
        // a raised alert of an evicted device is cleared, not left raised for ever
        var w = envBinding(window: WindowSpec(lengthMs: 1_000, latenessMs: 0), detectors: [DetectorSpec(kind: .threshold(above: 30, below: nil))])
        w.limits.deviceIdleMs = 5_000
        let alerts = MemorySink()
        let q = try Pipeline(agentId: "gw", bindings: [w], sink: alerts, seq: CountingSeq())
        feed(q, "sensors/hot/env", payload(t0, 50), t0 * 1_000_000)
        for s in 1...8 { feed(q, "sensors/cool/env", payload(t0 + Int64(s) * 1000), (t0 + Int64(s) * 1000) * 1_000_000) }
        let states = parseLines(alerts.lines).filter { $0["kind"] as? String == "alert" && $0["device"] as? String == "hot" }.map { $0["state"] as? String }
        #expect(states == ["raised", "cleared"], "\(alerts.lines)")
        // a new device now has room
        feed(p, "sensors/new/env", payload(t0 + 9_000), (t0 + 9_000) * 1_000_000)
        #expect(p.trackedDevices == 2 && p.counters.deviceLimit == 7)
    }

    @Test func oversizePayloadsAreDroppedAndCounted() throws {
        var b = envBinding()
        b.limits.maxPayload = 256
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        feed(p, "sensors/a/env", #"{"ts":\#(t0),"temp":20,"pad":"\#(String(repeating: "x", count: 300))"}"#)
        feed(p, "sensors/a/env", payload(t0))
        p.finish()
        #expect(p.counters.oversize == 1 && p.counters.samples == 4, "\(p.counters)")
    }

    /// Live, payload times an hour or more from the clock are replaced by the arrival time, and a
    /// device keeps at most `max_open_windows` windows open, whatever times it sends.
    @Test func futureTimesCannotOpenWindowsWithoutBound() throws {
        var b = envBinding(window: WindowSpec(lengthMs: 1_000, latenessMs: 0))
        b.limits.maxOpenWindows = 8
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq(), mode: .external)
        let now = t0 * 1_000_000
        p.advance(watermarkNs: now)
        // far future: replaced by the arrival time (counted as clock_skew)
        for k in 0..<1000 { feed(p, "sensors/a/env", payload(t0 + 86_400_000 * Int64(k + 1)), now) }
        #expect(p.counters.clockSkew == 1000)
        // within the hour: distinct future windows, at most 8 open at once
        for k in 0..<100 { feed(p, "sensors/a/env", payload(t0 + 2_000 + Int64(k) * 1_000), now) }
        p.flush()
        // the arrival window is open: 7 more fit; the other 93 frames' 4 samples each are dropped
        #expect(p.counters.windowLimit == (100 - 7) * 4, "\(p.counters)")
        // good data in an open window still counts
        let before = p.counters.samples
        feed(p, "sensors/a/env", payload(t0), now)
        p.flush()
        #expect(p.counters.samples == before + 4)
    }

    @Test func loggedExcerptsAreEscapedAndCapped() throws {
        let log = CapturedLog()
        var b = envBinding()
        b.decoder = .value
        b.transport = .mqtt(.init(topic: try TopicFilter("v/+device/+channel")))
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: MemorySink(), seq: CountingSeq(), logger: log.logger)
        let forged = "12\n<0>emerg: forged line\u{1b}[31m" + String(repeating: "A", count: 300_000)
        feed(p, "v/dev/temp", forged)
        feed(p, "nowhere/\n<0>emerg: x", "1")
        let lines = log.lines
        #expect(lines.count == 2, "\(lines)")
        for l in lines {
            #expect(!l.contains("\n") && !l.contains("\u{1b}") && l.utf8.count <= 700, "\(l.prefix(200))")
        }
        #expect(lines.contains { $0.contains("\\n<0>emerg") })
    }
}

@Suite struct LogExcerptTests {
    @Test func controlAndNonASCIIBytesAreEscaped() {
        #expect(logExcerpt("a\nb\r\t\\\u{1}é") == "a\\nb\\r\\t\\\\\\x01\\xc3\\xa9")
        #expect(logExcerpt(String(repeating: "x", count: 100), limit: 10) == "xxxxxxxxxx…(100 bytes)")
    }
}

@Suite struct TopicFilterBytesTests {
    /// Found by the topic fuzz target: a combining mark after '/' made one grapheme with it, and
    /// the filter's levels came out differently from the topic's.
    @Test func levelsAreSplitOnBytes() throws {
        let f = try TopicFilter("/\u{5BC}x/+d/#")
        #expect(f.levels.count == 4)
        #expect(f.levels[1] == .literal(Array("\u{5BC}x".utf8)))
        #expect(f.levels[2] == .single(name: "d"))
        let topic = Array("/\u{5BC}x/dev/a/b".utf8)
        #expect(topic.withUnsafeBytes { f.matches($0) })
        #expect(throws: TopicFilter.ParseError.self) { try TopicFilter("a/b+\u{301}") }
    }
}

@Suite struct DropLoggingTests {
    /// Out-of-range and late samples are logged with the counted rate limit, as every drop is.
    @Test func outOfRangeAndLateSamplesAreLogged() throws {
        let log = CapturedLog()
        let p = try Pipeline(agentId: "gw", bindings: [envBinding(window: WindowSpec(lengthMs: 1_000, latenessMs: 0))], sink: MemorySink(),
                             seq: CountingSeq(), logger: log.logger)
        let t0: Int64 = 1_764_000_000_000
        feed(p, "sensors/a/env", #"{"ts":\#(t0 + 5_000),"temp":500}"#)  // out of range (max 125)
        feed(p, "sensors/a/env", #"{"ts":\#(t0),"temp":20}"#)  // its window closed 4 s ago
        p.finish()
        #expect(p.counters.outOfRange == 1 && p.counters.lateSamples == 1)
        #expect(log.lines.contains { $0.hasPrefix("out_of_range (#1)") }, "\(log.lines)")
        #expect(log.lines.contains { $0.hasPrefix("late_samples (#1)") }, "\(log.lines)")
    }
}
