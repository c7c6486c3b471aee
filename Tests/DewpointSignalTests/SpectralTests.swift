import Foundation
import Testing
import DewpointCore
@testable import DewpointSignal

extension Golden {
    static let spectral = load("spectral.txt")
}

@Suite struct RealFFTTests {
    /// |rfft|² matches numpy within 1e-5 of the spectrum's peak.
    @Test(arguments: [(256, "chirp"), (64, "random")]) func powerSpectrumMatchesNumpy(_ size: Int, _ input: String) throws {
        let x = Array(try #require(Golden.fir["in_\(input)"]).prefix(size)).map(Float.init)
        let want = try #require(Golden.spectral["power\(size)_\(input)"])
        var fft = RealFFT(size: size)
        var p = [Float](repeating: .nan, count: size / 2 + 1)
        x.withUnsafeBufferPointer { xs in p.withUnsafeMutableBufferPointer { fft.powerSpectrum(xs.baseAddress!, into: $0.baseAddress!) } }
        let peak = want.max()!
        for k in 0..<want.count { #expect(abs(Double(p[k]) - want[k]) <= 1e-5 * peak, "bin \(k): \(p[k]) vs \(want[k])") }
    }
}

@Suite struct VibrationFeatureTests {
    /// RMS, peak, peak-to-peak, crest, kurtosis, skewness and band energies match numpy/scipy.stats,
    /// for any block sizes.
    @Test func featuresMatchNumpy() throws {
        let x = try #require(Golden.spectral["in_vibration"]).map(Float.init)
        let want = try #require(Golden.spectral["features_vibration"])
        let config = VibrationAccumulator.Config(fftSize: 1024, sampleRateHz: 2000, bands: [(0, 100), (100, 500), (500, 1000)])
        var results: [VibrationAccumulator.Features] = []
        for block in [4096, 1, 100, 1023] {
            var acc = VibrationAccumulator(config)
            var i = 0
            while i < x.count {
                let n = min(block, x.count - i)
                x.withUnsafeBufferPointer { acc.add(UnsafeBufferPointer(rebasing: $0[i..<(i + n)])) }
                i += n
            }
            results.append(try #require(acc.features))
        }
        #expect(results.allSatisfy { $0 == results[0] }, "block sizes changed the features")
        let f = results[0]
        let got = [f.rms, f.peak, f.peakToPeak, f.crest, f.kurtosis, f.skewness] + f.bandEnergy
        let tolerances = [1e-6, 1e-7, 1e-7, 1e-6, 1e-5, 1e-4, 1e-4, 1e-4, 1e-3]
        for k in 0..<want.count {
            #expect(abs(got[k] - want[k]) <= tolerances[k] * max(1, abs(want[k])), "feature \(k): \(got[k]) vs \(want[k])")
        }
        #expect(f.frames == 4)
        // physics: a 3-amplitude 50 Hz sine has a mean square of 4.5 in its band
        #expect(abs(f.bandEnergy[0] - 4.5) < 0.1)
    }

    /// An offset of 10⁴ with a small spread keeps its central moments (shifted power sums).
    @Test func momentsSurviveALargeOffset() {
        var acc = VibrationAccumulator(.init(fftSize: 64, sampleRateHz: 1000, bands: []))
        var x: [Float] = []
        for i in 0..<10_000 { x.append(10_000 + (i % 2 == 0 ? 0.5 : -0.5)) }
        x.withUnsafeBufferPointer { acc.add($0) }
        let f = acc.features!
        #expect(abs(f.kurtosis - 1) < 1e-6, "a two-point distribution has kurtosis 1, got \(f.kurtosis)")
        #expect(abs(f.skewness) < 1e-6)
    }
}

@Suite struct QuantileSketchTests {
    @Test func smallWindowsAreExactAsNumpy() throws {
        let x = Array(try #require(Golden.fir["in_random"]).prefix(100)).map(Float.init)
        let want = try #require(Golden.spectral["percentiles_random100"])
        var s = QuantileSketch()
        for v in x { s.add(v) }
        for (i, q) in [0.5, 0.9, 0.99].enumerated() { #expect(abs(Double(s.quantile(q)) - want[i]) <= 1e-6, "p\(q)") }
    }

    /// Beyond the exact limit, each percentile is within α (1%) of the sample at its rank, on
    /// mixed-sign data spanning six decades, and on a large offset with a small spread.
    @Test func sketchStaysWithinItsRelativeBound() {
        var rng = SplitMix64(seed: 7)
        var cases: [[Float]] = []
        cases.append((0..<20_000).map { _ in
            let m = Float(pow(10, rng.unit() * 6 - 3))
            return rng.unit() < 0.3 ? -m : m
        })
        cases.append((0..<5_000).map { _ in 1_000 + Float(rng.unit()) })
        for x in cases {
            var s = QuantileSketch()
            for v in x { s.add(v) }
            let sorted = x.sorted()
            for q in [0.01, 0.25, 0.5, 0.9, 0.99, 1.0] {
                let exact = sorted[Int((q * Double(x.count - 1)).rounded(.down))]
                let got = s.quantile(q)
                #expect(abs(Double(got - exact)) <= QuantileSketch.alpha * Double(abs(exact)) * 1.0001, "q \(q): \(got) vs \(exact)")
            }
        }
    }

    /// The first values are the largest: smaller ones later still keep the bound (the range
    /// reaches down from the largest magnitude, not around the first value).
    @Test func smallValuesAfterALargeFirstOneKeepTheBound() {
        var s = QuantileSketch()
        s.add(1000)
        for _ in 0..<127 { s.add(1) }
        for _ in 0..<1000 { s.add(0.01) }
        for q in [0.25, 0.5] { #expect(abs(s.quantile(q) - 0.01) <= 0.0101 * 0.01, "q \(q): \(s.quantile(q))") }
        #expect(abs(s.quantile(1) - 1000) <= 10.1)
        s.add(.infinity)
        s.add(.nan)
        #expect(s.count == 1129, "an infinity counts (as the largest finite value), a NaN does not")
    }

    /// A range wider than the buckets collapses the smallest magnitudes and keeps the large ones.
    @Test func collapseKeepsTheLargeValuesAccurate() {
        var s = QuantileSketch()
        for i in 0..<1_000 { s.add(Float(1e-20) * Float(i + 1)) }
        for _ in 0..<1_000 { s.add(5e6) }
        #expect(abs(s.quantile(0.99) - 5e6) <= 5e4)
        #expect(s.count == 2_000)
    }
}

