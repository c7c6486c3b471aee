import Foundation
import Testing
@testable import DewpointCore
@testable import DewpointPipeline

/// Replays 100,000 MQTT messages and checks every window statistic against values computed here,
/// by a different method (grouping then two-pass Double sums), from the generated samples.
@Suite struct ReplayStatisticsTests {
    struct Key: Hashable { var device: String; var start: Int64 }

    @Test func hundredThousandMessagesGiveExactWindowStatistics() throws {
        let t0: Int64 = 1_764_000_000_000
        let devices = ["boiler", "pump-3", "roof"]
        var rng = SplitMix(seed: 42)
        var lines: [String] = []
        lines.reserveCapacity(100_000)
        // samples[device window][channel] in input order, with their timestamps
        var ref: [Key: [[(Int64, Double)]]] = [:]
        var maxTs = Int64.min
        var late = 0
        var outOfRange = 0
        for i in 0..<100_000 {
            let dev = devices[i % 3]
            // 10 messages per second per device, jittered up to 1.5 s back in time (within lateness),
            // and every 5000th message 30 s late (beyond lateness: must be counted, not summarised)
            var ts = t0 + Int64(i / 3) * 100 - Int64(rng.below(1500))
            if i % 5000 == 4999 { ts -= 30_000 }
            // values on a 1/16 grid so Float holds them exactly
            var temp = Double(rng.below(800)) / 16 - 10
            if i % 997 == 0 { temp = 200 }  // out of the valid range
            let rh = Double(rng.below(1600)) / 16
            let p = 900 + Double(rng.below(3200)) / 16
            let v = 3 + Double(rng.below(16)) / 16
            let payload = #"{"ts":\#(ts),"temp":\#(temp),"rh":\#(rh),"p":\#(p),"batt":{"v":\#(v)}}"#
            let escaped = payload.replacingOccurrences(of: "\"", with: "\\\"")
            lines.append(#"{"ts_ms":\#(t0 + Int64(i)),"topic":"sensors/\#(dev)/env","payload":"\#(escaped)"}"#)

            let start = ts - ((ts % 10_000) + 10_000) % 10_000
            if start + 10_000 + 2_000 <= maxTs { late += 4; maxTs = max(maxTs, ts); continue }
            maxTs = max(maxTs, ts)
            let key = Key(device: dev, start: start)
            var chans = ref[key] ?? [[], [], [], []]
            if temp <= 125 { chans[0].append((ts, temp)) } else { outOfRange += 1 }
            chans[1].append((ts, rh)); chans[2].append((ts, p)); chans[3].append((ts, v))
            ref[key] = chans
        }
        let file = tempFile("hundred-k.jsonl")
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)

        let sink = MemorySink()
        let pipeline = try Pipeline(agentId: "gw-test", bindings: [envBinding()], sink: sink, seq: CountingSeq())
        let reader = ReplayReader()
        try reader.replayMQTT(path: file.path, into: pipeline)
        pipeline.finish()

        #expect(reader.badLines == 0)
        #expect(pipeline.counters.frames == 100_000)
        #expect(pipeline.counters.decodeErrors == 0)
        #expect(pipeline.counters.outOfRange == outOfRange)
        #expect(pipeline.counters.lateSamples == late)
        #expect(late > 0 && outOfRange > 0)

        let records = parseLines(sink.lines)
        #expect(records.count == ref.count)
        var lastSeq = 0
        let names = ["temp", "rh", "p", "v"]
        for r in records {
            #expect(r["kind"] as? String == "summary")
            let seq = r["seq"] as! Int
            #expect(seq == lastSeq + 1)
            lastSeq = seq
            let key = Key(device: r["device"] as! String, start: Int64(r["start_ms"] as! Int))
            #expect(r["end_ms"] as! Int == Int(key.start) + 10_000)
            let expected = try #require(ref[key], "unexpected window \(key)")
            let chans = r["channels"] as! [String: [String: Any]]
            for (c, name) in names.enumerated() {
                let xs = expected[c]
                let got = try #require(chans[name])
                let values = xs.map(\.1)
                let mean = values.reduce(0, +) / Double(values.count)
                let std = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
                let first = xs.min { $0.0 < $1.0 }!.1  // earliest event time (first such in input order)
                let last = xs.last { $0.0 == xs.map(\.0).max()! }!.1  // latest event time, last in input order
                #expect(got["n"] as! Int == values.count)
                #expect(got["min"] as! Double == values.min()!)
                #expect(got["max"] as! Double == values.max()!)
                #expect(abs(got["mean"] as! Double - mean) <= 1e-9 * max(1, abs(mean)), "\(key) \(name) mean")
                #expect(abs(got["std"] as! Double - std) <= 1e-9 * max(1, std), "\(key) \(name) std")
                #expect(got["first"] as! Double == first, "\(key) \(name) first")
                #expect(got["last"] as! Double == last, "\(key) \(name) last")
            }
        }
    }

    @Test func replayIsByteIdenticalAcrossRuns() throws {
        var lines: [String] = []
        var rng = SplitMix(seed: 1)
        for i in 0..<5000 {
            let p = #"{\"ts\":\#(1_764_000_000_000 + i * 37),\"temp\":\#(Double(rng.below(1000)) / 7),\"rh\":50,\"p\":1000,\"batt\":{\"v\":3.1}}"#
            lines.append(#"{"ts_ms":\#(i),"topic":"sensors/d\#(i % 4)/env","payload":"\#(p)"}"#)
        }
        let file = tempFile("determinism.jsonl")
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        func run() throws -> [String] {
            let sink = MemorySink()
            let p = try Pipeline(agentId: "gw", bindings: [envBinding(detectors: [DetectorSpec(kind: .threshold(above: 120, below: nil))])],
                                 sink: sink, seq: CountingSeq())
            try ReplayReader().replayMQTT(path: file.path, into: p)
            p.finish()
            return sink.lines
        }
        let a = try run(), b = try run()
        #expect(a == b)
        #expect(a.count > 50)
        #expect(a.contains { $0.contains(#""kind":"alert""#) })
    }
}
