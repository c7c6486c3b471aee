import Foundation
import Testing
@testable import DewpointCore
@testable import DewpointPipeline

/// A pipeline checkpointed at any point and restored into a new one continues exactly as the
/// first would have: the same records, byte for byte.
@Suite struct CheckpointTests {
    /// Every kind of state: several devices with open windows and percentiles, filters (lane
    /// groups and per-channel chains), statistical and learned detectors with raised alerts, and
    /// a device detector over three channels that learns, then scores, within the run.
    static func richBinding(window: WindowSpec = WindowSpec(lengthMs: 1_000, latenessMs: 300)) -> BindingSpec {
        var w = window
        w.percentiles = [50, 99]
        w.timeWeightedMean = true
        var b = envBinding(topic: "s/+device/env", window: w, detectors: [
            DetectorSpec(kind: .novelty, severity: .warning),
            DetectorSpec(kind: .zscore(window: 50), severity: .critical),
            DetectorSpec(kind: .threshold(above: 30, below: nil), severity: .info, hysteresis: 1),
        ])
        b.channels[1].filters = [.ema(alpha: 0.2)]
        b.channels[2].filters = [.ema(alpha: 0.2)]
        b.channels[3].filters = [.movingAverage(length: 5), .median(length: 3, threshold: nil), .deadband(band: 0.001)]
        b.channels[1].detectors = [DetectorSpec(kind: .cusum(k: 0.5, h: 5)), DetectorSpec(kind: .mad(window: 31))]
        b.deviceDetectors = [DeviceDetectorSpec(channels: [0, 1, 3], learnRows: 200, smoothingRows: 5)]
        return b
    }

    /// Deterministic messages for 3 devices over `seconds` of event time, with spikes.
    static func messages(seconds: Int) -> [(topic: String, payload: String, ts: Int64)] {
        var rng = SplitMix(seed: 7)
        var out: [(String, String, Int64)] = []
        let t0: Int64 = 1_700_000_000_000
        for i in 0..<(seconds * 50) {
            let ts = t0 + Int64(i) * 20
            let device = ["a", "b", "c"][i % 3]
            let spike = i % 997 == 0 ? 15.0 : 0
            let temp = 20 + 3 * sin(Double(i) / 40) + Double(rng.next() % 1000) / 1000 + spike
            let rh = 50 + Double(rng.next() % 2000) / 100
            let v = 3.3 + Double(rng.next() % 100) / 1000
            // some arrive out of order within the lateness
            let late = i % 37 == 0 ? -150 : 0
            out.append(("s/\(device)/env", #"{"ts":\#(ts + Int64(late)),"temp":\#(temp),"rh":\#(rh),"p":\#(1000 + i % 7),"batt":{"v":\#(v)}}"#, ts))
        }
        return out
    }

    /// Each device's records in order, without `seq`.
    static func perDevice(_ lines: [String]) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for l in lines {
            let device = l.firstMatch(of: /"device":"([^"]*)"/).map { String($0.1) } ?? ""
            out[device, default: []].append(l.replacing(/"seq":[0-9]+,/, with: ""))
        }
        return out
    }

    func run(_ msgs: ArraySlice<(topic: String, payload: String, ts: Int64)>, _ p: Pipeline) {
        for m in msgs { feed(p, m.topic, m.payload, m.ts * 1_000_000) }
    }

    @Test func aRestoredPipelineContinuesExactlyAsTheFirstWould() throws {
        let b = Self.richBinding()
        let msgs = Self.messages(seconds: 60)
        let reference = MemorySink()
        let whole = try Pipeline(agentId: "gw", bindings: [b], sink: reference, seq: CountingSeq())
        run(msgs[...], whole)
        whole.finish()
        #expect(reference.lines.count > 100)
        #expect(reference.lines.contains { $0.contains(#""kind":"alert""#) })
        #expect(reference.lines.contains { $0.contains(#""detector":"device""#) })

        for split in [1, 777, 1501, 2222] {
            let sink = MemorySink()
            let seq = CountingSeq()
            let first = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: seq)
            run(msgs[..<split], first)
            var rows: [StateRow] = []
            first.checkpoint(version: "test", into: &rows)
            #expect(rows.contains { $0.key == "device/env/a" })
            let second = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: seq)
            let report = second.restore(rows, version: "test")
            #expect(report.refused == nil && report.discarded.isEmpty, "\(report.discarded)")
            run(msgs[split...], second)
            second.finish()
            // batch boundaries (a checkpoint flushes) may interleave devices' records differently,
            // and so number them differently; each device's own records are identical
            #expect(sink.lines.count == reference.lines.count)
            #expect(Self.perDevice(sink.lines) == Self.perDevice(reference.lines), "split at \(split)")
        }
    }

    /// Only devices that changed since the last checkpoint are written again.
    @Test func aCheckpointHoldsOnlyWhatChanged() throws {
        let p = try Pipeline(agentId: "gw", bindings: [Self.richBinding()], sink: MemorySink(), seq: CountingSeq())
        let msgs = Self.messages(seconds: 2)
        run(msgs[...], p)
        var rows: [StateRow] = []
        p.checkpoint(version: "v", into: &rows)
        #expect(Set(rows.map(\.key)) == ["pipeline", "input/mqtt", "device/env/a", "device/env/b", "device/env/c"])
        rows = []
        feed(p, "s/b/env", #"{"ts":1700000002000,"temp":21}"#, 1_700_000_002_000_000_000)
        p.checkpoint(version: "v", into: &rows)
        #expect(Set(rows.map(\.key)) == ["pipeline", "input/mqtt", "device/env/b"])
    }

    /// A checkpoint of another version is not used; a device whose binding changed, or whose bytes
    /// are damaged, starts afresh alone, and its key is deleted at the next checkpoint.
    @Test func aForeignOrChangedCheckpointIsDiscardedNeverTrusted() throws {
        let b = Self.richBinding()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: MemorySink(), seq: CountingSeq())
        run(Self.messages(seconds: 3)[...], p)
        var rows: [StateRow] = []
        p.checkpoint(version: "1.0", into: &rows)

        let other = try Pipeline(agentId: "gw", bindings: [b], sink: MemorySink(), seq: CountingSeq())
        let refused = other.restore(rows, version: "1.1")
        #expect(refused.refused?.contains("version 1.0") == true)
        #expect(other.openWindows == 0)

        var changed = b
        changed.window.lengthMs = 2_000
        let q = try Pipeline(agentId: "gw", bindings: [changed], sink: MemorySink(), seq: CountingSeq())
        let r = q.restore(rows, version: "1.0")
        #expect(r.devices == 0 && r.discarded.count == 3)
        #expect(r.discarded.allSatisfy { $0.reason.contains("changed its windows or channels") })
        var after: [StateRow] = []
        q.checkpoint(version: "1.0", into: &after)
        #expect(after.filter { $0.value == nil }.map(\.key).sorted() == ["device/env/a", "device/env/b", "device/env/c"])

        // damaged bytes: every truncation and some flipped bytes of one device, never a trap
        let row = try #require(rows.first { $0.key == "device/env/a" })
        var rng = SplitMix(seed: 3)
        for cut in stride(from: 0, to: row.value!.count, by: max(1, row.value!.count / 97)) {
            var damaged = rows.filter { $0.key != row.key }
            var bytes = Array(row.value![..<cut])
            if cut % 2 == 0 { bytes = row.value!; for _ in 0..<4 { bytes[Int(rng.next() % UInt64(bytes.count))] ^= 0xA5 } }
            damaged.append(StateRow(key: row.key, value: bytes))
            let d = try Pipeline(agentId: "gw", bindings: [b], sink: MemorySink(), seq: CountingSeq())
            let rep = d.restore(damaged, version: "1.0")
            #expect(rep.devices >= 2)
            // still works afterwards
            feed(d, "s/a/env", #"{"ts":1700000009000,"temp":21}"#, 1_700_000_009_000_000_000)
            d.finish()
        }
    }

    /// MQTT redeliveries of processed messages are recognised by packet id and content in the
    /// stretch after a reconnect, and not counted again; new messages end the stretch.
    @Test func redeliveriesAreNotCountedTwice() throws {
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [envBinding(topic: "s/+device/env")], sink: sink, seq: CountingSeq(), mode: .external)
        func deliver(_ id: UInt16, _ temp: Int, _ ts: Int64 = 1_700_000_000_000) {
            let payload = #"{"ts":\#(ts),"temp":\#(temp)}"#
            Array("s/a/env".utf8).withUnsafeBytes { t in
                Array(payload.utf8).withUnsafeBytes { p.ingestMQTT(topic: t, payload: $0, arrivalNs: ts * 1_000_000, deliveryId: id) }
            }
        }
        p.inputConnected(sessionPresent: false, nowNs: 1_700_000_000_000_000_000)
        deliver(1, 20); deliver(2, 21); deliver(3, 22)
        // the connection drops before the acknowledgements went out; the session is kept
        p.inputDisconnected()
        var rows: [StateRow] = []
        p.checkpoint(version: "v", into: &rows)
        p.inputConnected(sessionPresent: true, nowNs: 1_700_000_000_100_000_000)
        deliver(1, 20); deliver(2, 21)            // redelivered
        deliver(2, 99)                            // same id, other content: new
        deliver(3, 22)                            // after a new message: the stretch has ended
        p.flush()
        #expect(p.counters.redelivered == 2)
        #expect(p.counters.samples == 5)

        // after a crash: the checkpoint's held messages may come again
        let q = try Pipeline(agentId: "gw", bindings: [envBinding(topic: "s/+device/env")], sink: MemorySink(), seq: CountingSeq(), mode: .external)
        _ = q.restore(rows, version: "v")
        q.inputConnected(sessionPresent: true, nowNs: 1_700_000_000_200_000_000)
        for (id, temp) in [(UInt16(1), 20), (2, 21), (3, 22), (4, 23)] {
            let payload = #"{"ts":1700000000000,"temp":\#(temp)}"#
            Array("s/a/env".utf8).withUnsafeBytes { t in
                Array(payload.utf8).withUnsafeBytes { q.ingestMQTT(topic: t, payload: $0, arrivalNs: 1, deliveryId: id) }
            }
        }
        q.flush()
        #expect(q.counters.redelivered == 3 && q.counters.samples == 1)
        // without the session nothing comes again: nothing is skipped
        q.inputAcknowledged()
        q.inputConnected(sessionPresent: false, nowNs: 1_700_000_000_300_000_000)
        #expect(q.heldAcknowledgements == 0)
    }

    /// Live: the MQTT input's devices follow the event time of the backlog after a reconnect, and
    /// the wall clock only once the input is quiet; while it is disconnected they stand still.
    @Test func theInputClockFollowsTheBacklogNotTheWallClock() throws {
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [envBinding(topic: "s/+device/env", window: WindowSpec(lengthMs: 1_000, latenessMs: 0))],
                             sink: sink, seq: CountingSeq(), mode: .external)
        p.inputIdleNs = 2_000_000_000
        let now: Int64 = 1_700_000_100_000_000_000
        p.advanceClock(nowNs: now)            // not connected: the input's clock stands still
        p.inputConnected(sessionPresent: true, nowNs: now)
        // a backlog from 60 s ago, 10 messages per second for 5 s, arriving now
        for i in 0..<50 {
            let ts = (now / 1_000_000) - 60_000 + Int64(i) * 100
            feed(p, "s/a/env", #"{"ts":\#(ts),"temp":20}"#, now + Int64(i) * 1_000)
            p.advanceClock(nowNs: now + Int64(i) * 1_000)
        }
        #expect(p.counters.lateSamples == 0)
        // 4 windows closed by the backlog's own time, the fifth is open
        #expect(parseLines(sink.lines).count == 4)
        // still busy (quiet for less than inputIdleNs): nothing more closes
        p.advanceClock(nowNs: now + 1_000_000_000)
        #expect(parseLines(sink.lines).count == 4)
        // disconnected: stands still however long
        p.inputDisconnected()
        p.advanceClock(nowNs: now + 30_000_000_000)
        #expect(parseLines(sink.lines).count == 4)
        // connected and quiet: the wall clock closes the last window
        p.inputConnected(sessionPresent: true, nowNs: now + 30_000_000_000)
        p.advanceClock(nowNs: now + 33_000_000_000)
        let r = parseLines(sink.lines)
        #expect(r.count == 5)
        #expect(r.allSatisfy { $0["partial"] as? Bool != true })
        #expect(r.reduce(0) { $0 + ((($1["channels"] as! [String: [String: Any]])["temp"]!["n"]) as! Int) } == 50)
    }

    /// `dedup: {by: timestamp}`: a row whose time the device already sent is dropped and counted,
    /// within the memory, which a checkpoint keeps.
    @Test func rowsWithATimeAlreadySeenAreDroppedOnce() throws {
        var b = envBinding(topic: "s/+device/env", window: WindowSpec(lengthMs: 60_000, latenessMs: 0))
        b.dedupMemory = 3
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: MemorySink(), seq: CountingSeq())
        for ts in [1_000, 2_000, 3_000, 2_000, 1_000, 4_000] { feed(p, "s/a/env", #"{"ts":1700000\#(ts),"temp":1}"#) }
        feed(p, "s/b/env", #"{"ts":1700001000,"temp":1}"#)  // another device: its own memory
        p.flush()
        #expect(p.counters.duplicates == 2 && p.counters.samples == 5)
        var rows: [StateRow] = []
        p.checkpoint(version: "v", into: &rows)
        let q = try Pipeline(agentId: "gw", bindings: [b], sink: MemorySink(), seq: CountingSeq())
        #expect(q.restore(rows, version: "v").devices == 2)
        // the memory holds 2000, 3000, 4000: 1000 has been forgotten
        for ts in [3_000, 4_000, 1_000] { feed(q, "s/a/env", #"{"ts":1700000\#(ts),"temp":1}"#) }
        q.flush()
        #expect(q.counters.duplicates == 2 && q.counters.samples == 1)
    }

    /// A reload that removes a binding, or changes its windows or channels, retires its devices:
    /// their open windows come out as partial summaries and their raised alerts are cleared, so
    /// that nothing they hold is lost; the pipeline goes on.
    @Test func retiredDevicesEmitWhatTheyHold() throws {
        let b = envBinding(topic: "s/+device/env", window: WindowSpec(lengthMs: 60_000, latenessMs: 0),
                           detectors: [DetectorSpec(kind: .threshold(above: 30, below: nil))])
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        feed(p, "s/a/env", #"{"ts":1700000000000,"temp":20}"#)
        feed(p, "s/a/env", #"{"ts":1700000001000,"temp":40}"#)  // raises
        feed(p, "s/b/env", #"{"ts":1700000002000,"temp":21}"#)
        #expect(p.retire(bindings: ["env"]) == 2)
        let r = parseLines(sink.lines)
        #expect(r.filter { $0["kind"] as? String == "summary" }.count == 2)
        #expect(r.filter { $0["kind"] as? String == "summary" }.allSatisfy { $0["partial"] as? Bool == true })
        #expect(r.contains { $0["kind"] as? String == "alert" && $0["state"] as? String == "cleared" })
        #expect(p.trackedDevices == 0 && p.openWindows == 0)
        var rows: [StateRow] = []
        p.checkpoint(version: "v", into: &rows)
        #expect(rows.filter { $0.value == nil }.map(\.key).sorted() == ["device/env/a", "device/env/b"])
        feed(p, "s/a/env", #"{"ts":1700000003000,"temp":20}"#)
        p.flush()
        #expect(p.openWindows == 1)
    }
}
