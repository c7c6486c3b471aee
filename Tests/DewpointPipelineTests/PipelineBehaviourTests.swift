import Foundation
import Testing
@testable import DewpointCore
@testable import DewpointPipeline

func feed(_ p: Pipeline, _ topic: String, _ payload: String, _ arrival: Int64 = 0) {
    Array(topic.utf8).withUnsafeBytes { t in
        Array(payload.utf8).withUnsafeBytes { p.ingestMQTT(topic: t, payload: $0, arrivalNs: arrival) }
    }
}

@Suite struct PipelineBehaviourTests {
    @Test func garbageIsCountedAndNeverStopsTheStream() throws {
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [envBinding(topic: "s/env")], sink: sink, seq: CountingSeq())
        feed(p, "s/env", #"{"ts":1000,"temp":20}"#)
        for junk in ["", "{", "\u{01}", #"{"ts":"soon","temp":1}"#, #"{"ts":1,"temp":"x"}"#, "[1,2", String(repeating: "[", count: 10_000)] {
            feed(p, "s/env", junk)
        }
        feed(p, "other/topic", "{}")
        feed(p, "s/env", #"{"ts":2000,"temp":22}"#)
        p.finish()
        #expect(p.counters.decodeErrors == 7)
        #expect(p.counters.unknownTopic == 1)
        let r = parseLines(sink.lines)
        #expect(r.count == 1)
        let temp = (r[0]["channels"] as! [String: [String: Any]])["temp"]!
        #expect(temp["n"] as! Int == 2 && temp["mean"] as! Double == 21)
        #expect(r[0]["partial"] as? Bool == true)
    }

    @Test func topicLevelsNameDevicesAndChannels() throws {
        let b = BindingSpec(name: "fleet", transport: .mqtt(.init(topic: try TopicFilter("site/+device/+channel"))), decoder: .value,
                            channels: [.init(name: "temp", unit: "degC", locator: .payload), .init(name: "rh", locator: .payload)],
                            window: WindowSpec(lengthMs: 1000, latenessMs: 0))
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        feed(p, "site/a/temp", "20.5", 100_000_000)
        feed(p, "site/b/temp", "30", 200_000_000)
        feed(p, "site/a/rh", " 55 ", 300_000_000)
        feed(p, "site/a/co2", "400", 400_000_000)
        feed(p, "site/a/temp", "21.5", 1_100_000_000)
        p.finish()
        #expect(p.counters.unknownChannel == 1)
        let r = parseLines(sink.lines)
        #expect(r.map { $0["device"] as! String } == ["a", "b", "a"])
        let a0 = r[0]["channels"] as! [String: [String: Any]]
        #expect(a0["temp"]!["mean"] as! Double == 20.5)
        #expect(a0["rh"]!["mean"] as! Double == 55)
        #expect(r[0]["partial"] == nil)
        #expect(r[2]["partial"] as? Bool == true)
    }

    @Test func alertsRaiseAndClearWithUnitsInTheMessage() throws {
        let sink = MemorySink()
        let det = DetectorSpec(kind: .threshold(above: 60, below: nil), severity: .critical, minSamples: 2)
        let p = try Pipeline(agentId: "gw", bindings: [envBinding(topic: "s/env", detectors: [det])], sink: sink, seq: CountingSeq())
        for (i, t) in [20.0, 61, 62.5, 63, 50].enumerated() {
            feed(p, "s/env", #"{"ts":\#(1000 + i * 100),"temp":\#(t)}"#)
        }
        #expect(sink.lines.isEmpty, "rows wait in the device's batch until a flush")
        p.flush()
        let r = parseLines(sink.lines)
        #expect(r.count == 2)
        #expect(r[0]["state"] as? String == "raised")
        #expect(r[0]["ts_ms"] as? Int == 1200)
        #expect(r[0]["severity"] as? String == "critical")
        #expect(r[0]["message"] as? String == "temp 62.5 degC is above the threshold 60 degC")
        #expect(r[1]["state"] as? String == "cleared")
        #expect(r[1]["value"] as? Double == 50)
        #expect((r[1]["seq"] as! Int) > (r[0]["seq"] as! Int))
    }

    @Test func csvTimeSeriesReplay() throws {
        let file = tempFile("series.csv")
        try "timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:00:05,2.5\nbad,3\n2014-04-01 00:00:10,4\n".write(to: file, atomically: true, encoding: .utf8)
        let b = BindingSpec(name: "series", transport: .file, decoder: .json,
                            channels: [.init(name: "value", locator: .jsonPointer("/v"))], window: WindowSpec(lengthMs: 10_000, latenessMs: 0))
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        let reader = ReplayReader()
        try reader.replayCSV(path: file.path, binding: 0, into: p)
        p.finish()
        #expect(reader.badLines == 1)
        let r = parseLines(sink.lines)
        #expect(r.count == 2)
        #expect(r[0]["start_ms"] as? Int == 1_396_310_400_000)
        #expect((r[0]["channels"] as! [String: [String: Any]])["value"]!["mean"] as! Double == 2)
    }

    @Test func liveModeClosesWindowsFromTheClock() throws {
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [envBinding(topic: "s/env")], sink: sink, seq: CountingSeq(), mode: .external)
        feed(p, "s/env", #"{"ts":1000,"temp":20}"#)
        p.advance(watermarkNs: 11_999 * 1_000_000)
        #expect(sink.lines.isEmpty)
        p.advance(watermarkNs: 12_000 * 1_000_000)
        #expect(sink.lines.count == 1)
        feed(p, "s/env", #"{"ts":9000,"temp":20}"#)  // its window has closed: late
        p.flush()
        #expect(p.counters.lateSamples == 1)
    }
}

@Suite struct BoundedQueueTests {
    @Test func dropOldestKeepsNewestAndCounts() {
        let q = BoundedQueue<Int>(capacity: 3, policy: .dropOldest)
        for i in 1...5 { q.push(i) }
        #expect(q.dropped == 2)
        #expect([q.pop(timeoutMs: 0), q.pop(timeoutMs: 0), q.pop(timeoutMs: 0), q.pop(timeoutMs: 0)] == [3, 4, 5, nil])
    }

    @Test func dropNewestRefusesAndCounts() {
        let q = BoundedQueue<Int>(capacity: 2, policy: .dropNewest)
        #expect(q.push(1) && q.push(2))
        #expect(!q.push(3))
        #expect(q.dropped == 1)
        #expect(q.pop(timeoutMs: 0) == 1)
    }

    @Test func blockWaitsForRoomAndLosesNothing() {
        let q = BoundedQueue<Int>(capacity: 4, policy: .block)
        let producer = Thread {
            for i in 0..<10_000 { q.push(i) }
            q.close()
        }
        producer.start()
        var got: [Int] = []
        while true {
            if let v = q.pop(timeoutMs: 100) { got.append(v) } else if q.isClosed && q.depth == 0 { break }
        }
        #expect(got == Array(0..<10_000))
        #expect(q.dropped == 0)
    }

    @Test func closeWakesABlockedProducer() {
        let q = BoundedQueue<Int>(capacity: 1, policy: .block)
        q.push(0)
        let done = DispatchSemaphore(value: 0)
        let t = Thread {
            let accepted = q.push(1)  // blocks until close
            #expect(!accepted)
            done.signal()
        }
        t.start()
        usleep(50_000)
        q.close()
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(q.rejectedAfterClose == 1)
    }

    /// `interrupt` ends the current or the next wait without an element; a pop that does not wait
    /// leaves it for the next wait.
    @Test func interruptEndsTheNextWaitEarly() {
        let q = BoundedQueue<Int>(capacity: 4, policy: .block)
        q.interrupt()
        #expect(q.pop(timeoutMs: 0) == nil)  // no wait: the interrupt stays pending
        var t0 = DispatchTime.now()
        #expect(q.pop(timeoutMs: 5_000) == nil)
        #expect(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds < 2_000_000_000)
        // consumed: the next wait runs to its timeout
        t0 = DispatchTime.now()
        #expect(q.pop(timeoutMs: 50) == nil)
        #expect(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds >= 40_000_000)
        // from another thread, while waiting
        let t = Thread { usleep(50_000); q.interrupt() }
        t.start()
        t0 = DispatchTime.now()
        #expect(q.pop(timeoutMs: 5_000) == nil)
        #expect(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds < 2_000_000_000)
    }
}

@Suite struct BatchBoundaryTests {
    /// Results do not depend on where batches end: flushing after every message gives the same
    /// records (as a set; alerts may be emitted at another point relative to summaries) as
    /// flushing only when batches fill.
    @Test func flushingAfterEveryMessageChangesNoRecord() throws {
        var rng = SplitMix(seed: 9)
        var msgs: [(String, String)] = []
        for i in 0..<3000 {
            let ts = 1_764_000_000_000 + i * 50 - rng.below(2500)  // out of order, some beyond lateness
            msgs.append(("sensors/d\(i % 3)/env", #"{"ts":\#(ts),"temp":\#(Double(rng.below(1400)) / 10),"rh":\#(rng.below(100))}"#))
        }
        func run(flushEach: Bool) throws -> ([String], PipelineCounters) {
            let sink = MemorySink()
            let p = try Pipeline(agentId: "gw", bindings: [envBinding(detectors: [DetectorSpec(kind: .threshold(above: 100, below: nil))])],
                                 sink: sink, seq: CountingSeq())
            for (t, m) in msgs {
                feed(p, t, m)
                if flushEach { p.flush() }
            }
            p.finish()
            // seq numbers depend on emission order; compare records without them
            let lines = sink.lines.map { $0.replacingOccurrences(of: #","seq":\d+"#, with: "", options: .regularExpression) }
            return (lines.sorted(), p.counters)
        }
        let (a, ca) = try run(flushEach: true)
        let (b, cb) = try run(flushEach: false)
        #expect(a == b)
        #expect(ca == cb)
        #expect(ca.lateSamples > 0 && ca.alerts > 0)
    }
}

@Suite struct ClockSkewTests {
    @Test func payloadTimesFarFromTheGatewayClockAreReplacedAndCounted() throws {
        var b = envBinding(topic: "s/env", window: WindowSpec(lengthMs: 10_000, latenessMs: 0))
        b.timestamp.maxSkewNs = 60_000_000_000
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        let now: Int64 = 1_764_000_005_000  // ms
        feed(p, "s/env", #"{"ts":\#(now - 1000),"temp":20}"#, now * 1_000_000)
        feed(p, "s/env", #"{"ts":1000,"temp":22}"#, now * 1_000_000)  // a device whose clock says 1970
        p.finish()
        #expect(p.counters.clockSkew == 1)
        let r = parseLines(sink.lines)
        #expect(r.count == 1)
        #expect((r[0]["channels"] as! [String: [String: Any]])["temp"]!["n"] as! Int == 2)
        #expect(r[0]["start_ms"] as! Int == 1_764_000_000_000)
    }
}

@Suite struct ReviewRegressionTests {
    @Test func extremeTimestampsAreDecodeErrorsNotCrashes() throws {
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [envBinding(topic: "s/env")], sink: sink, seq: CountingSeq())
        feed(p, "s/env", #"{"ts":-9223372036854,"temp":20}"#)
        feed(p, "s/env", #"{"ts":9223372036854,"temp":20}"#)
        feed(p, "s/env", #"{"ts":1764000000000,"temp":20}"#)
        p.finish()
        #expect(p.counters.decodeErrors == 2)
        #expect(sink.lines.count == 1)
    }

    @Test func theSameDeviceNameUnderTwoBindingsIsTwoDevices() throws {
        func binding(_ name: String, _ topic: String) -> BindingSpec {
            BindingSpec(name: name, transport: .mqtt(.init(topic: try! TopicFilter(topic))), decoder: .value,
                        channels: [.init(name: "x", locator: .payload)], window: WindowSpec(lengthMs: 10_000, latenessMs: 0))
        }
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [binding("env", "s/+device/env"), binding("pwr", "s/+device/power")],
                             sink: sink, seq: CountingSeq())
        for i in 0..<100 {
            feed(p, "s/d1/env", "\(i)", Int64(i) * 1_000_000)
            feed(p, "s/d1/power", "\(i * 2)", Int64(i) * 1_000_000)
        }
        p.finish()
        #expect(sink.lines.count == 2)  // one window each, not one per message
        let r = parseLines(sink.lines)
        #expect(r.allSatisfy { ($0["channels"] as! [String: [String: Any]])["x"]!["n"] as! Int == 100 })
    }

    @Test func aJSONArrayOfOneItemStillDecodes() throws {
        let b = BindingSpec(name: "a", transport: .mqtt(.init(topic: try TopicFilter("a"))), decoder: .jsonArray(pointer: "/r", maxItems: 1),
                            channels: [.init(name: "v", locator: .jsonPointer("/v"))])
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        feed(p, "a", #"{"r":[{"v":3}]}"#)
        p.finish()
        #expect(p.counters.decodeErrors == 0 && p.counters.samples == 1)
    }
}

@Suite struct ChannelFilterPipelineTests {
    /// An EMA on the temperature channel: the window statistics are those of the filtered
    /// values (computed here independently), and batch boundaries do not change them.
    @Test func filteredChannelFeedsWindows() throws {
        var b = envBinding(topic: "s/env", window: WindowSpec(lengthMs: 1_000_000, latenessMs: 0))
        b.channels[0].filters = [.ema(alpha: 0.25), .clamp(min: -100, max: 100)]
        let xs: [Float] = (0..<500).map { Float($0 % 10) }
        var y: Float? = nil
        var expected: [Float] = []
        for x in xs { let out = y.map { $0 + 0.25 * (x - $0) } ?? x; expected.append(out); y = out }
        func run(flushEach: Bool) throws -> [String: Any] {
            let sink = MemorySink()
            let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
            for (i, x) in xs.enumerated() {
                feed(p, "s/env", #"{"ts":\#(1_764_000_000_000 + i),"temp":\#(x),"rh":50}"#)
                if flushEach { p.flush() }
            }
            p.finish()
            return (parseLines(sink.lines)[0]["channels"] as! [String: [String: Any]])["temp"]!
        }
        let a = try run(flushEach: false), c = try run(flushEach: true)
        #expect(a["mean"] as! Double == c["mean"] as! Double)
        let mean = expected.reduce(0.0) { $0 + Double($1) } / Double(expected.count)
        #expect(abs(a["mean"] as! Double - mean) < 1e-5)
        #expect(Float(a["max"] as! Double) == expected.max()!)
        #expect(Float(a["last"] as! Double) == expected.last!)
    }
}

extension ChannelFilterPipelineTests {
    /// Deadband and decimation remove samples: windows see only those kept, the rest are counted
    /// as filtered out, and other channels of the same rows are untouched.
    @Test func removedSamplesAreCountedNotSummarised() throws {
        var b = envBinding(topic: "s/env", window: WindowSpec(lengthMs: 1_000_000, latenessMs: 0))
        b.channels[0].filters = [.deadband(band: 2.5)]
        b.channels[1].filters = [.decimate(factor: 4)]
        func run(flushEach: Bool) throws -> (temp: [String: Any], rh: [String: Any], counters: PipelineCounters) {
            let sink = MemorySink()
            let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
            for i in 0..<400 {
                feed(p, "s/env", #"{"ts":\#(1_764_000_000_000 + i),"temp":\#(i % 10),"rh":50}"#)
                if flushEach { p.flush() }
            }
            p.finish()
            let ch = parseLines(sink.lines)[0]["channels"] as! [String: [String: Any]]
            return (ch["temp"]!, ch["rh"]!, p.counters)
        }
        let a = try run(flushEach: false), c = try run(flushEach: true)
        // temp 0,1,…,9 repeating with a 2.5 deadband passes 0, 3, 6, 9, 0, 3, … : 4 of every 10
        #expect(a.temp["n"] as? Int == 160)
        #expect(a.temp["max"] as? Double == 9 && a.temp["min"] as? Double == 0)
        #expect(a.rh["n"] as? Int == 100)
        #expect(a.counters.filteredOut == 240 + 300)
        #expect(a.counters.samples == 260)
        #expect(a.temp["n"] as? Int == c.temp["n"] as? Int && a.rh["mean"] as? Double == c.rh["mean"] as? Double)
        #expect(a.counters == c.counters)
    }
}

@Suite struct StatisticalAlertTests {
    /// A z-score detector in a binding raises on a spike with a message in the channel's unit,
    /// clears after it, and holds its next raise for the cooldown; replay emits the same alerts.
    @Test func zscoreAlertsWithMessageAndCooldown() throws {
        var d = DetectorSpec(kind: .zscore(window: 50), severity: .critical)
        d.cooldownMs = 60_000
        let b = envBinding(topic: "s/env", window: WindowSpec(lengthMs: 3_600_000, latenessMs: 0), detectors: [d])
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        let t0: Int64 = 1_764_000_000_000
        for i in 0..<300 {
            // 20 ± 0.1 degC; spikes at 100 and 110 (inside the cooldown) and 250 (after it)
            let x = [100, 110, 250].contains(i) ? 30.0 : 20 + Double(i % 3) * 0.1
            feed(p, "s/env", #"{"ts":\#(t0 + Int64(i) * 1000),"temp":\#(x)}"#)
        }
        p.finish()
        let alerts = parseLines(sink.lines).filter { $0["kind"] as? String == "alert" }
        #expect(alerts.map { $0["state"] as! String } == ["raised", "cleared", "raised", "cleared"])
        #expect(alerts.map { $0["ts_ms"] as! Int } == [Int(t0) + 100_000, Int(t0) + 101_000, Int(t0) + 250_000, Int(t0) + 251_000])
        #expect(alerts[0]["detector"] as? String == "zscore" && alerts[0]["severity"] as? String == "critical")
        let message = alerts[0]["message"] as! String
        #expect(message.hasPrefix("temp 30 degC is ") && message.hasSuffix(" sigma above its rolling mean 20.1 degC"), "\(message)")
    }

    /// The timestamps detector raises on a duplicate and on an out-of-order sample.
    @Test func timestampDetectorRaisesOnDuplicates() throws {
        let b = envBinding(topic: "s/env", window: WindowSpec(lengthMs: 3_600_000, latenessMs: 60_000),
                           detectors: [DetectorSpec(kind: .timestamps)])
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        let t0: Int64 = 1_764_000_000_000
        for off in [0, 1000, 1000, 2000, 1500, 3000] { feed(p, "s/env", #"{"ts":\#(t0 + Int64(off)),"temp":20}"#) }
        p.finish()
        let alerts = parseLines(sink.lines).filter { $0["kind"] as? String == "alert" }
        #expect(alerts.map { $0["state"] as! String } == ["raised", "cleared", "raised", "cleared"])
        try #require(alerts.count == 4, "\(alerts)")
        #expect((alerts[0]["message"] as! String).contains("duplicate"))
        #expect((alerts[2]["message"] as! String).contains("out of order"))
    }
}

@Suite struct DropoutWithFiltersTests {
    /// A dropout with a minimum duration raises once the silence has lasted `after` plus the
    /// duration; a channel held back by a deadband is still reporting, so it never raises.
    @Test func minimumDurationAndDeadband() throws {
        var slow = DetectorSpec(kind: .dropout(afterMs: 5_000))
        slow.minDurationMs = 3_000
        var b = envBinding(topic: "s/+device/env", window: WindowSpec(lengthMs: 60_000, latenessMs: 0))
        b.channels[0].filters = [.deadband(band: 100)]
        b.channels[0].detectors = [DetectorSpec(kind: .dropout(afterMs: 5_000))]
        b.channels[1].detectors = [slow]
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        let t0: Int64 = 1_764_000_000_000
        for i in 0..<40 {
            // temp reports every second but never moves past the deadband; rh stops at 10 s
            let rh = i < 10 ? #","rh":50"# : ""
            feed(p, "s/a/env", #"{"ts":\#(t0 + Int64(i) * 1000),"temp":20\#(rh)}"#)
        }
        p.finish()
        let alerts = parseLines(sink.lines).filter { $0["kind"] as? String == "alert" }
        #expect(alerts.count == 1, "\(alerts)")
        #expect(alerts.first?["channel"] as? String == "rh")
        // silent from 9 s: due at 14 s, held 3 s more
        #expect(alerts.first?["ts_ms"] as? Int == Int(t0) + 9_000 + 5_000 + 3_000)
    }
}

@Suite struct LearnedIntervalDropoutTests {
    /// `intervals: 3` on a channel sampled every 2 s raises 6 s after its last sample, with the
    /// learned interval in the message (nothing is raised before 3 gaps have been seen).
    @Test func dropoutAfterThreeUsualIntervals() throws {
        var b = envBinding(topic: "s/+device/env", window: WindowSpec(lengthMs: 60_000, latenessMs: 0))
        b.channels[1].detectors = [DetectorSpec(kind: .dropout(afterMs: 0, intervals: 3))]
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        let t0: Int64 = 1_764_000_000_000
        for i in 0..<40 {
            // rh every 2 s until 20 s; device b keeps event time moving every second
            if i % 2 == 0 && i <= 20 { feed(p, "s/a/env", #"{"ts":\#(t0 + Int64(i) * 1000),"rh":\#(40 + i)}"#) }
            feed(p, "s/b/env", #"{"ts":\#(t0 + Int64(i) * 1000 + 500),"temp":20}"#)
        }
        p.finish()
        let alerts = parseLines(sink.lines).filter { $0["kind"] as? String == "alert" }
        #expect(alerts.count == 1, "\(alerts)")
        #expect(alerts.first?["ts_ms"] as? Int == Int(t0) + 20_000 + 6_000)
        #expect(alerts.first?["message"] as? String == "no sample from rh for more than 3× its usual interval (6 s); last value 60.0 %RH")
    }
}

@Suite struct DropoutTests {
    /// A channel silent for longer than its limit raises from the clock (event time in replay),
    /// with the time the silence became too long; the next sample clears it.
    @Test func dropoutRaisesFromTimeAndClearsOnTheNextSample() throws {
        var b = envBinding(topic: "s/+device/env", window: WindowSpec(lengthMs: 60_000, latenessMs: 0))
        b.channels[1].detectors = [DetectorSpec(kind: .dropout(afterMs: 5_000), severity: .critical)]
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        let t0: Int64 = 1_764_000_000_000
        for i in 0..<40 {
            // device a reports rh every second but stops from 10 s to 20 s; device b keeps time going
            if i < 10 || i >= 20 { feed(p, "s/a/env", #"{"ts":\#(t0 + Int64(i) * 1000),"temp":20,"rh":\#(40 + i)}"#) }
            feed(p, "s/b/env", #"{"ts":\#(t0 + Int64(i) * 1000 + 500),"temp":20}"#)
        }
        p.finish()
        let alerts = parseLines(sink.lines).filter { $0["kind"] as? String == "alert" }
        #expect(alerts.count == 2)
        #expect(alerts[0]["state"] as? String == "raised" && alerts[0]["device"] as? String == "a")
        #expect(alerts[0]["ts_ms"] as? Int == Int(t0) + 9_000 + 5_000)
        #expect(alerts[0]["value"] as? Double == 49)
        #expect(alerts[1]["state"] as? String == "cleared" && alerts[1]["ts_ms"] as? Int == Int(t0) + 20_000)
        // live mode: raised from the wall clock with no sample at all
        let live = MemorySink()
        let q = try Pipeline(agentId: "gw", bindings: [b], sink: live, seq: CountingSeq(), mode: .external)
        feed(q, "s/a/env", #"{"ts":\#(t0),"temp":20,"rh":40}"#)
        q.advance(watermarkNs: (t0 + 4_000) * 1_000_000)
        #expect(live.lines.filter { $0.contains(#""kind":"alert""#) }.isEmpty)
        q.advance(watermarkNs: (t0 + 6_000) * 1_000_000)
        #expect(live.lines.contains { $0.contains(#""detector":"dropout""#) && $0.contains(#""state":"raised""#) })
    }
}
