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
    /// Strictly causal: scoring a prefix gives the first scores of scoring the whole series.
    @Test func causality() {
        var rng = SplitMix(seed: 3)
        var xs: [Double] = []
        for i in 0..<3000 {
            let noise = Double(rng.next() % 1000) / 1000
            let spike: Double = i == 2000 ? 8 : 0
            xs.append(sin(Double(i) / 50) + noise + spike)
        }
        for make in [{ AnomalyScorer.windowedGaussian(window: 100) }, { AnomalyScorer.ewma(alpha: 0.02) },
                     { AnomalyScorer.withLikelihood(.ewma(alpha: 0.02)) }] {
            var whole = make(), prefix = make()
            let a = xs.map { whole.score($0) }
            let b = xs.prefix(1200).map { prefix.score($0) }
            #expect(Array(a.prefix(1200)) == b)
            #expect(a.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
    }

    @Test func spikeScoresHigh() {
        var s = AnomalyScorer.windowedGaussian(window: 200)
        var rng = SplitMix(seed: 5)
        var last = 0.0
        for i in 0..<1000 { last = s.score(i == 999 ? 50 : Double(rng.next() % 100) / 100) }
        #expect(last > 0.999999)
        #expect(AnomalyScorer.windowedGaussian(window: 200).stateBytes <= 4096)
    }
}

