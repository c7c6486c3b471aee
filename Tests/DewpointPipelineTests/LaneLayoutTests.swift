import DewpointCore
@testable import DewpointPipeline
import DewpointSignal
import Foundation
import Testing

@Suite struct LaneLayoutTests {
    /// Nine channels sharing a Butterworth are filtered across SIMD lanes (a group of 8 and one of
    /// 1), three sharing an EMA in another group, one channel with another filter per column.
    /// With gaps in some rows, every channel's summary equals what the per-channel filter gives,
    /// bit for bit.
    @Test func laneGroupsGiveThePerChannelResults() throws {
        let lp = FilterSpec.butterworth(order: 4, band: .lowpass(0.2))
        var channels: [ChannelSpec] = (0..<13).map { .init(name: "c\($0)", locator: .jsonPointer("/c\($0)")) }
        for c in 0..<9 { channels[c].filters = [lp] }
        channels[9].filters = [.butterworth(order: 2, band: .highpass(0.1))]
        for c in 10..<13 { channels[c].filters = [.ema(alpha: 0.3)] }
        let b = BindingSpec(name: "many", file: "many.yaml", transport: .mqtt(.init(topic: try TopicFilter("s/many"))), decoder: .json,
                            timestamp: .init(source: .jsonPointer("/ts"), format: .epochMs), channels: channels,
                            window: WindowSpec(lengthMs: 1_000_000, latenessMs: 0))
        let groups = LaneGroup.plan(b)
        #expect(groups.map(\.channels) == [[0, 1, 2, 3, 4, 5, 6, 7], [8], [10, 11, 12]])

        var rng = SplitMix64(seed: 4)
        var expected = (0..<13).map { c -> ChannelFilter in
            c >= 10 ? .ema(alpha: 0.3, state: nil)
                : .biquad(BiquadCascade(c == 9 ? SOSCoefficients.butterworth(order: 2, .highpass(0.1)) : SOSCoefficients.butterworth(order: 4, .lowpass(0.2))))
        }
        var stats = [WindowStats](repeating: WindowStats(), count: 13)
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        for i in 0..<700 {
            var fields = [#""ts":\#(1_764_000_000_000 + i)"#]
            for c in 0..<13 {
                // every 7th row lacks channel 3, every 11th lacks channel 8, row 0 and every
                // 5th lack channel 11 (so it starts late)
                if (c == 3 && i % 7 == 0) || (c == 8 && i % 11 == 0) || (c == 11 && i % 5 == 0) { continue }
                let x = Float(Int(rng.next() % 2000)) / 100 - 10
                fields.append(#""c\#(c)":\#(x)"#)
                var y = x
                var row: Int32 = 0
                withUnsafeMutablePointer(to: &y) { ptr in
                    withUnsafeMutablePointer(to: &row) { _ = expected[c].process(UnsafeMutableBufferPointer(start: ptr, count: 1), positions: UnsafeMutableBufferPointer(start: $0, count: 1)) }
                }
                stats[c].add(y, ts: Int64(i))
            }
            feed(p, "s/many", "{" + fields.joined(separator: ",") + "}")
        }
        p.finish()
        let ch = parseLines(sink.lines)[0]["channels"] as! [String: [String: Any]]
        for c in 0..<13 {
            let got = ch["c\(c)"]!
            #expect(got["n"] as? Int == stats[c].count, "c\(c)")
            #expect(Float(got["min"] as! Double) == stats[c].min && Float(got["max"] as! Double) == stats[c].max, "c\(c)")
            #expect(Float(got["last"] as! Double) == stats[c].last, "c\(c)")
            // the Floats are bit-identical; the mean goes through JSON text and back
            #expect(abs((got["mean"] as! Double) - stats[c].mean) <= 1e-15, "c\(c)")
        }
    }
}
