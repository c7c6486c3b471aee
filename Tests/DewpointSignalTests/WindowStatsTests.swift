import DewpointCore
import Testing
@testable import DewpointSignal

@Suite struct WindowStatsTests {
    /// Reference: two-pass mean and population variance in Double.
    private func reference(_ xs: [Float]) -> (mean: Double, std: Double) {
        let d = xs.map(Double.init)
        let mean = d.reduce(0, +) / Double(d.count)
        let v = d.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d.count)
        return (mean, v.squareRoot())
    }

    @Test func largeOffsetSmallVariance() {
        var rng = SplitMix(seed: 7)
        // 1e6 + k/64: exactly representable in Float, spread of a few hundredths
        let xs: [Float] = (0..<100_000).map { _ in 1_000_000 + Float(rng.next() % 8) / 64 }
        var s = WindowStats()
        for (i, x) in xs.enumerated() { s.add(x, ts: Int64(i)) }
        let r = reference(xs)
        #expect(s.count == xs.count)
        #expect(abs(s.mean - r.mean) <= 1e-9 * r.mean)
        #expect(abs(s.std - r.std) <= 1e-6 * r.std, "std \(s.std) vs \(r.std)")
        #expect(s.min == xs.min()! && s.max == xs.max()!)
        #expect(s.first == xs.first! && s.last == xs.last!)
        // the naive one-pass sum of squares in Float loses this spread entirely
        var sum: Float = 0, sq: Float = 0
        for x in xs { sum += x; sq += x * x }
        let naive = Double(sq / Float(xs.count) - (sum / Float(xs.count)) * (sum / Float(xs.count)))
        #expect(abs(naive - r.std * r.std) > r.std * r.std)
    }

    /// The SIMD block kernel agrees with per-sample Welford and with a two-pass Double reference,
    /// on a large offset with a small spread, for block lengths around the vector width and
    /// across blocks.
    @Test func uniformBlocksMatchPerSampleStatistics() {
        var rng = SplitMix(seed: 9)
        for n in [1, 15, 16, 17, 1000, 5003] {
            let xs: [Float] = (0..<n).map { _ in 1_000_000 + Float(rng.next() % 64) / 64 }
            var one = WindowStats(), block = WindowStats()
            for (i, x) in xs.enumerated() { one.add(x, ts: Int64(i) * 10) }
            // in two blocks, to exercise the merge
            let cut = n / 3
            xs.withUnsafeBufferPointer { b in
                if cut > 0 { block.add(uniform: b.baseAddress!, count: cut, firstTs: 0, stepNs: 10) }
                block.add(uniform: b.baseAddress! + cut, count: n - cut, firstTs: Int64(cut) * 10, stepNs: 10)
            }
            let r = reference(xs)
            #expect(block.count == n && block.min == one.min && block.max == one.max)
            #expect(block.first == one.first && block.last == one.last && block.firstTs == one.firstTs && block.lastTs == one.lastTs)
            #expect(abs(block.mean - r.mean) <= 1e-9 * r.mean, "n \(n)")
            #expect(abs(block.std - r.std) <= 1e-5 * max(r.std, 1e-3), "n \(n): \(block.std) vs \(r.std)")
            #expect(abs(block.timeWeightedMean - one.timeWeightedMean) <= 1e-9 * r.mean, "n \(n)")
        }
    }

    /// Irregular sampling: each value counts for as long as it held until the next sample.
    @Test func timeWeightedMeanHoldsEachValueUntilTheNext() {
        var s = WindowStats()
        s.add(0, ts: 0)
        s.add(10, ts: 9_000)
        s.add(0, ts: 10_000)
        #expect(abs(s.mean - 10.0 / 3) < 1e-12)
        #expect(s.timeWeightedMean == 1.0)
        s.add(100, ts: 5_000)  // late: counts in the mean, not in the held area
        #expect(s.timeWeightedMean == 1.0 && s.count == 4)
        var one = WindowStats()
        one.add(4, ts: 7)
        #expect(one.timeWeightedMean == 4)
        // a late sample from before the first one moves `first`, not the held span
        var early = WindowStats()
        early.add(10, ts: 100)
        early.add(10, ts: 200)
        early.add(0, ts: 50)
        #expect(early.timeWeightedMean == 10 && early.first == 0)
    }

    @Test func firstAndLastFollowEventTimeNotArrival() {
        var s = WindowStats()
        s.add(2, ts: 20)
        s.add(1, ts: 10)
        s.add(3, ts: 30)
        s.add(0, ts: 25)
        #expect(s.first == 1)
        #expect(s.last == 3)
    }

    @Test func singleSampleHasZeroStd() {
        var s = WindowStats()
        s.add(5, ts: 0)
        #expect(s.std == 0 && s.mean == 5)
    }
}

@Suite struct AlertStateMachineTests {
    @Test func hysteresisAndMinimumSamples() {
        var m = AlertStateMachine(raiseAt: 0.8, clearBelow: 0.3, minSamples: 2)
        let scores = [0.9, 0.1, 0.9, 0.95, 0.5, 0.4, 0.29, 0.9]
        let got = scores.enumerated().map { m.observe(score: $1, ts: Int64($0)) }
        #expect(got == [.none, .none, .none, .raised, .none, .none, .cleared, .none])
        #expect(!m.isRaised)
    }

    /// A minimum duration holds the raise until the condition has lasted; a cooldown after a
    /// clear holds the next raise back.
    @Test func minimumDurationAndCooldown() {
        let s: Int64 = 1_000_000_000
        var m = AlertStateMachine(raiseAt: 0.5, clearBelow: 0.5, minDurationNs: 3 * s, cooldownNs: 10 * s)
        let steps: [(Double, Int64)] = [(1, 0), (1, 2 * s), (1, 3 * s), (0, 4 * s), (1, 5 * s), (1, 9 * s), (1, 13 * s), (1, 15 * s)]
        let got = steps.map { m.observe(score: $0.0, ts: $0.1) }
        // raised at 3 s (held 3 s); cleared at 4 s; high again from 5 s, held 3 s by 9 s but cooling
        // until 14 s; raised at 15 s
        #expect(got == [.none, .none, .raised, .cleared, .none, .none, .none, .raised])
    }

    /// A hold keeps a raised alert raised for its duration, then the next low score clears it.
    @Test func holdKeepsTheAlertRaised() {
        let s: Int64 = 1_000_000_000
        var m = AlertStateMachine(raiseAt: 0.5, clearBelow: 0.5, holdNs: 60 * s)
        let steps: [(Double, Int64)] = [(1, 0), (0, 1 * s), (0, 59 * s), (0, 60 * s), (1, 61 * s)]
        #expect(steps.map { m.observe(score: $0.0, ts: $0.1) } == [.raised, .none, .none, .cleared, .raised])
    }

    @Test func thresholdDetectorScoresAndExplains() {
        var d = ChannelDetector.threshold(above: 60, below: nil)
        #expect(d.score(61, ts: 0) == 1)
        #expect(d.score(60, ts: 1) == 0)
        #expect(d.explain(channel: "temp", value: 61.5, unit: "degC") == "temp 61.5 degC is above the threshold 60 degC")
    }
}

typealias SplitMix = SplitMix64

@Suite struct ThresholdHysteresisTests {
    @Test func valueHoveringAtTheThresholdDoesNotFlap() {
        var d = ChannelDetector.threshold(above: 18, below: nil, hysteresis: 0.5)
        var m = AlertStateMachine()
        let values: [Float] = [17.9, 18.1, 17.95, 18.05, 17.6, 17.4, 18.2]
        let transitions = values.map { m.observe(score: d.score($0, ts: 0), ts: 0) }
        #expect(transitions == [.none, .raised, .none, .none, .none, .cleared, .raised])
    }
}

@Suite struct RuleDetectorTests {
    @Test func rateOfChangePerSecond() {
        var d = ChannelDetector.rateOfChange(max: 5)
        let s = 1_000_000_000 as Int64
        #expect(d.score(20, ts: 0) == 0)        // first sample: no rate yet
        #expect(d.score(24, ts: s) == 0)        // 4/s
        #expect(d.score(30, ts: 2 * s) == 1)    // 6/s
        #expect(d.score(30, ts: 2 * s) == 0)    // same time: no rate
        #expect(d.score(27, ts: 3 * s) == 0)    // -3/s
        #expect(d.score(26, ts: 3 * s + s / 10) == 1)  // -10/s over 100 ms
        #expect(d.explain(channel: "t", value: 26, unit: "degC").contains("fell at 10 degC/s, faster than 5 degC/s"))
    }

    @Test func duplicateAndOutOfOrderTimestamps() {
        var d = ChannelDetector.timestamps()
        let scores = [10, 20, 20, 15, 30, 40].map { d.score(1, ts: Int64($0) * 1_000_000) }
        #expect(scores == [0, 0, 1, 1, 0, 0])
        var e = ChannelDetector.timestamps()
        _ = e.score(1, ts: 20_000_000)
        _ = e.score(1, ts: 20_000_000)
        #expect(e.explain(channel: "t", value: 1, unit: "") == "t has a duplicate sample at 20 ms")
        _ = e.score(1, ts: 5_000_000)
        #expect(e.explain(channel: "t", value: 1, unit: "") == "t sample at 5 ms arrived after one at 20 ms (out of order)")
    }

    /// A copied detector keeps its own scorer state (copy on write of the shared box).
    @Test func copiedScoredDetectorsAreIndependent() {
        var a = ChannelDetector.scored(ScorerBox(.ewma(alpha: 0.5)))
        for i in 0..<50 { _ = a.score(Float(i % 2), ts: Int64(i)) }
        var b = a
        for _ in 0..<50 { _ = b.score(100, ts: 0) }
        var c = a
        #expect(a.score(0, ts: 0) == c.score(0, ts: 0), "a and c saw the same history")
        #expect(b.score(0, ts: 0) != a.score(0, ts: 0), "b's history did not leak into a")
    }

    @Test func stuckAfterNSamplesWithinEpsilon() {
        var d = ChannelDetector.stuck(epsilon: 0.05, samples: 4)
        let scores = [10.0, 10.02, 9.99, 10.04, 10.3, 10.3, 10.3, 10.3].map { d.score(Float($0), ts: 0) }
        #expect(scores == [0, 0, 0, 1, 0, 0, 0, 1])
    }
}
