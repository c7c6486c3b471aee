import Foundation
import Testing
@testable import DewpointSignal

@Suite struct NABScoreTests {
    /// 20 rows, probation 3, one window at rows 10...14, one detection at row 12.
    /// By hand: the detection earns sigmoid(-3/5)/sigmoid(-1) = 0.917429 at threshold 1; at
    /// threshold 0 every row counts: 7 × -0.11 before the window, Σ sigmoid(|14-i|/4)·0.11 for
    /// i in 15...19 = -0.477366 after it, and the window's best row (10) earns 1.0, giving
    /// -0.247366, which is also the null detector's best. Normalised: 100 × (0.917429 + 0.247366)
    /// / (1 + 0.247366) = 93.3803.
    @Test func handComputedCase() {
        var scores = [Double](repeating: 0, count: 20)
        scores[12] = 1
        let r = NABScore.score([NABScore.File(name: "a.csv", scores: scores, windows: [10...14])], profile: .standard)
        #expect(abs(r.raw - 0.9174286804284079) < 1e-12)
        #expect(abs(r.normalised - 93.38034464731375) < 1e-9)
        #expect(r.threshold == 1)
    }

    @Test func perfectAndNullDetectors() {
        var perfect = [Double](repeating: 0, count: 100)
        perfect[40] = 1  // the first row of the window
        let files = [NABScore.File(name: "f", scores: perfect, windows: [40...49])]
        #expect(abs(NABScore.score(files, profile: .standard).normalised - 100) < 1e-9)
        let null = [NABScore.File(name: "f", scores: [Double](repeating: 0.3, count: 100), windows: [40...49])]
        #expect(abs(NABScore.score(null, profile: .standard).normalised) < 1e-9)
    }

    @Test func lateDetectionsEarnLessAndFalsePositivesCost() {
        func score(_ at: [Int], _ p: NABScore.Profile = .standard) -> Double {
            var s = [Double](repeating: 0, count: 200)
            for i in at { s[i] = 1 }
            return NABScore.score([NABScore.File(name: "f", scores: s, windows: [100...119])], profile: p).normalised
        }
        #expect(score([100]) > score([110]))
        #expect(score([110]) > score([119]))
        #expect(score([100]) > score([100, 60]))                            // a false positive costs
        #expect(score([100, 60], .rewardLowFP) < score([100, 60], .standard))  // and costs more here
        #expect(score([100, 130]) > score([100, 180]))                     // less right after a window
    }
}

@Suite struct AnomalyScorerTests {
    static let names = ["zscore", "ewma", "mad", "cusum", "seasonal", "novelty"]
    static func make(_ name: String) -> AnomalyScorer {
        switch name {
        case "zscore": .windowedGaussian(window: 100)
        case "ewma": .ewma(alpha: 0.02)
        case "mad": .mad(MADScorer(window: 64))
        case "cusum": .cusum(CUSUMScorer())
        case "seasonal": .seasonal(SeasonalScorer())
        default: .novelty(NoveltyDetector())
        }
    }

    /// 5-minute samples of a daily cycle with noise, a spike at 2000 and a level shift at 2500.
    static func series() -> (xs: [Double], ts: [Int64]) {
        var rng = SplitMix(seed: 3)
        var xs: [Double] = [], ts: [Int64] = []
        for i in 0..<3000 {
            let noise = Double(rng.next() % 1000) / 1000
            let spike: Double = i == 2000 ? 8 : 0
            let shift: Double = i >= 2500 ? 3 : 0
            xs.append(sin(2 * Double.pi * Double(i) / 288) + noise + spike + shift)
            ts.append(1_764_000_000_000_000_000 + Int64(i) * 300_000_000_000)
        }
        return (xs, ts)
    }

    /// Strictly causal: scoring a prefix gives the first scores of scoring the whole series, for
    /// every scorer; scores stay in [0, 1].
    @Test(arguments: names) func causality(_ name: String) {
        let make = { Self.make(name) }
        let (xs, ts) = Self.series()
        var whole = make(), prefix = make()
        let a = zip(xs, ts).map { whole.score($0, tsNs: $1) }
        let b = zip(xs.prefix(1200), ts).map { prefix.score($0, tsNs: $1) }
        #expect(Array(a.prefix(1200)) == b)
        #expect(a.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(whole.stateBytes <= 4096, "\(name): \(whole.stateBytes) bytes")
    }

    /// Each scorer flags the spike (and CUSUM the level shift) well above its typical score.
    @Test(arguments: names) func knownAnomaliesScoreHigh(_ name: String) {
        let make = { Self.make(name) }
        let (xs, ts) = Self.series()
        var s = make()
        let scores = zip(xs, ts).map { s.score($0, tsNs: $1) }
        let normal = scores[1000..<1990].sorted()[Int(0.95 * 990)]
        if name == "cusum" {
            let shiftPeak = scores[2500..<2530].max()!
            #expect(shiftPeak >= 0.5 && shiftPeak > normal, "cusum: shift \(shiftPeak), normal p95 \(normal)")
        } else {
            #expect(scores[2000] > normal && scores[2000] >= 0.55, "\(name): spike \(scores[2000]), normal p95 \(normal)")
        }
    }

    @Test func spikeScoresHigh() {
        var s = AnomalyScorer.windowedGaussian(window: 200)
        var rng = SplitMix(seed: 5)
        var last = 0.0
        for i in 0..<1000 { last = s.score(i == 999 ? 50 : Double(rng.next() % 100) / 100, tsNs: Int64(i)) }
        #expect(last > 0.999999)
        #expect(AnomalyScorer.windowedGaussian(window: 200).stateBytes <= 4096)
    }

    /// On plain noise, the Gaussian scorers do not raise (score ≥ 0.999, |z| ≳ 3.3) in their first
    /// samples, where a spread estimated from 2 or 3 values would flag ordinary noise.
    @Test(arguments: ["zscore", "ewma"]) func freshChannelOnNoiseStaysQuiet(_ name: String) {
        for seed in UInt64(1)...20 {
            var s = name == "zscore" ? AnomalyScorer.windowedGaussian(window: 288) : .ewma(alpha: 0.01)
            var rng = SplitMix(seed: seed)
            // sum of 4 uniforms: near-Gaussian noise around 20 with sd ≈ 0.58
            let scores = (0..<200).map { i -> Double in
                let x = 20 + (0..<4).reduce(0.0) { acc, _ in acc + Double(rng.next() % 1000) / 1000 } - 2
                return s.score(x, tsNs: Int64(i))
            }
            #expect(scores.prefix(AnomalyScorer.warmUp).allSatisfy { $0 == 0 }, "\(name) seed \(seed): scored during warm-up")
            #expect(scores.filter { $0 >= 0.999 }.count <= 1, "\(name) seed \(seed): \(scores.filter { $0 >= 0.999 }.count) raises")
        }
    }

    /// A large offset with a small spread (1e5 ± 0.004): the rolling variance matches the exact
    /// one instead of cancelling to 0, so ordinary samples do not score 1.
    @Test func rollingWindowKeepsASmallSpreadOnALargeOffset() {
        var w = RollingWindow(capacity: 288)
        var rng = SplitMix(seed: 9)
        var xs: [Double] = []
        for _ in 0..<2000 {
            let x = Double(Float(100_000 + Double(rng.next() % 1000) / 1000 * 0.014))
            w.push(x); xs.append(x)
            if xs.count > 288 { xs.removeFirst() }
        }
        let m = xs.reduce(0, +) / Double(xs.count)
        let sd = (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count)).squareRoot()
        #expect(abs(w.mean - m) < 1e-9)
        #expect(abs(w.std - sd) <= 1e-6 * sd, "std \(w.std) vs exact \(sd)")
    }
}

@Suite struct NoveltyDetectorTests {
    /// A value outside the range seen so far scores 1 and says so; its neighbours do not.
    @Test func newRangeScoresOneAndExplains() {
        var d = NoveltyDetector()
        var scores: [Double] = []
        for i in 0..<600 { scores.append(d.score(i == 500 ? 30 : 20 + Double(i % 7) * 0.1, tsNs: Int64(i) * 60_000_000_000)) }
        #expect(scores[500] == 1)
        #expect(d.lastReason == .none)
        #expect(scores[400..<500].allSatisfy { $0 < 0.55 }, "a repeating pattern is learned")
        var e = NoveltyDetector()
        for i in 0..<500 { _ = e.score(20 + Double(i % 7) * 0.1, tsNs: Int64(i) * 60_000_000_000) }
        _ = e.score(30, tsNs: 500 * 60_000_000_000)
        #expect(e.lastReason == .range(min: 20, max: 20.6))
    }

    /// Suppression: a new behaviour gives a few early scores, not a run of them, and the highest
    /// comes at its start.
    @Test func suppressionEmitsFewEarlyScores() {
        var d = NoveltyDetector()
        var scores: [Double] = []
        for i in 0..<2200 {
            // a learned 20-sample cycle, then a never-seen oscillation inside the known range
            let x = i < 2000 ? sin(2 * Double.pi * Double(i) / 20) : (i % 2 == 0 ? -0.9 : 0.9)
            scores.append(d.score(x, tsNs: Int64(i) * 1_000_000_000))
        }
        let after = Array(scores[2000..<2100])
        let nonzero = after.filter { $0 > 0 }.count
        let peakAt = after.firstIndex(of: after.max()!)!
        #expect(nonzero >= 1 && nonzero <= 5, "\(nonzero) nonzero scores in 100 samples")
        #expect(peakAt < 5 && after.max()! > 0.5, "peak \(after.max()!) at \(peakAt)")
        #expect(scores[1000..<2000].allSatisfy { $0 < 0.1 }, "the cycle is learned")
    }

    /// Nothing is scored during the 100-sample warm-up, even a jump; a constant signal stays
    /// quiet after it.
    @Test func warmUpThenAConstantSignalStaysQuiet() {
        var w = NoveltyDetector()
        let warm = (0..<100).map { w.score($0 == 50 ? 1000 : 5, tsNs: Int64($0) * 1_000_000_000) }
        #expect(warm.allSatisfy { $0 == 0 })
        var d = NoveltyDetector()
        let s = (0..<1000).map { d.score(5, tsNs: Int64($0) * 1_000_000_000) }
        #expect(s.allSatisfy { $0 == 0 })
        #expect(d.score(.nan, tsNs: 0) == 0)
    }

    @Test func stateFitsTheBudget() {
        #expect(NoveltyDetector.stateBytes <= 4096)
        // the tables (16,384 context bits, 24 hourly ranges and counts) plus the scalars, whose
        // size the compiler reports: a field added later is counted
        #expect(NoveltyDetector.stateBytes == 2048 + 384 + 96 + MemoryLayout<NoveltyDetector>.size - 24)
        #expect(NoveltyDetector.stateBytes > 2048 + 384 + 96)
    }
}

@Suite struct MADScorerTests {
    /// Against the definition: after every sample, the median and the median absolute deviation
    /// of the window, from a full sort, on data with ties (quantised), runs of equal values and
    /// a window that fills up first; the scorer's median and sigmas agree exactly.
    @Test(arguments: [3, 4, 31, 64]) func matchesABruteForceWindow(window: Int) {
        var m = MADScorer(window: window)
        var rng = SplitMix(seed: UInt64(window))
        var history: [Double] = []
        for i in 0..<2_000 {
            let x: Double = i % 300 < 40 ? 5 : Double(rng.next() % 200) / 8  // ties, and a flat run
            let w = Array(history.suffix(window)).sorted()
            _ = m.score(x)
            if w.count >= 3 {
                let n = w.count
                let med = n % 2 == 1 ? w[n / 2] : (w[n / 2 - 1] + w[n / 2]) / 2
                let dev = w.map { abs($0 - med) }.sorted()
                var scale = 1.4826 * (n % 2 == 1 ? dev[n / 2] : (dev[n / 2 - 1] + dev[n / 2]) / 2)
                if scale == 0 { scale = 1.2533 * w.reduce(0) { $0 + abs($1 - med) } / Double(n) }
                let z = scale > 0 ? abs(x - med) / scale : (x == med ? 0 : 50)
                if m.lastMedian != med || m.lastSigmas != z {
                    Issue.record("sample \(i): median \(m.lastMedian) vs \(med), sigmas \(m.lastSigmas) vs \(z)")
                    return
                }
            }
            history.append(x)
        }
    }

    /// Scoring at a given threshold: at the optimum's threshold it is the optimum; at a threshold
    /// above every score it is the null detector (0); a lower one lets false positives in.
    @Test func scoreAtAGivenThreshold() {
        var scores = [Double](repeating: 0.1, count: 40)
        scores[12] = 0.9
        scores[30] = 0.5  // outside the window
        let files = [NABScore.File(name: "a.csv", scores: scores, windows: [10...14])]
        let best = NABScore.score(files, profile: .standard)
        let at = NABScore.score(files, profile: .standard, threshold: best.threshold)
        #expect(abs(at.raw - best.raw) < 1e-12 && abs(at.normalised - best.normalised) < 1e-12)
        #expect(abs(NABScore.score(files, profile: .standard, threshold: 2).normalised) < 1e-9)
        let lower = NABScore.score(files, profile: .standard, threshold: 0.4)
        #expect(lower.raw < at.raw)
    }
}
