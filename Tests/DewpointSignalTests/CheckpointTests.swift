import DewpointCore
import Foundation
import Testing
@testable import DewpointSignal

// Checkpoints of the per-device state: a value restored from the checkpoint of another, taken in
// the middle of a stream, continues that stream with the same bits as a value that never stopped;
// a checkpoint of another configuration, or damaged bytes, are refused (and never trap).

// MARK: - Helpers

/// The bytes of `v`'s state.
private func ckptBytes<T: Checkpointable>(_ v: T) -> [UInt8] {
    var w = StateWriter()
    v.save(to: &w)
    return w.finish()
}

/// `fresh` with its state restored from `bytes`, which it must use up exactly.
private func ckptRestored<T: Checkpointable>(_ fresh: T, _ bytes: [UInt8]) throws(StateCodingError) -> T {
    var v = fresh
    var r = StateReader(bytes)
    try v.restore(from: &r)
    guard r.isAtEnd else { throw StateCodingError("\(bytes.count - r.offset) bytes left after the state") }
    return v
}

/// Whether restoring `bytes` into `fresh` throws.
private func ckptRefuses<T: Checkpointable>(_ fresh: T, _ bytes: [UInt8]) -> Bool {
    var v = fresh
    var r = StateReader(bytes)
    do {
        try v.restore(from: &r)
        return false
    } catch {
        return true
    }
}

/// Feeds `inputs` to a value from `make` without a break (A); feeds the first `split` to another
/// (B), checkpoints B, restores a third (C, made from the same configuration) from B's bytes and
/// feeds C the rest. C's outputs (`step` returns them as bit patterns, so NaN compares equal)
/// must be A's, bit for bit, and C must end in A's state.
/// `stateful`: B's checkpoint must differ from a fresh value's (the stream changed the state).
/// `diverges`: a fresh value fed only the rest must give other outputs (so the comparison above
/// shows the restored state at work).
@discardableResult
private func expectResumes<T: Checkpointable, I>(
    _ what: String, _ make: () -> T, _ inputs: [I], split: Int, stateful: Bool = true, diverges: Bool = true,
    _ step: (inout T, I) -> [UInt64]
) throws -> [[UInt64]] {
    precondition(split > 0 && split < inputs.count)
    var a = make()
    var whole: [[UInt64]] = []
    for x in inputs { whole.append(step(&a, x)) }
    let rest = Array(whole[split...])

    var b = make()
    for x in inputs[..<split] { _ = step(&b, x) }
    let saved = ckptBytes(b)
    if stateful {
        let initial = ckptBytes(make())
        #expect(saved != initial, "\(what): the checkpoint holds nothing the stream changed")
    }

    var c = try ckptRestored(make(), saved)
    var resumed: [[UInt64]] = []
    for x in inputs[split...] { resumed.append(step(&c, x)) }
    #expect(resumed == rest, "\(what): the outputs after a restore differ from an uninterrupted run")
    #expect(ckptBytes(c) == ckptBytes(a), "\(what): the final state differs from an uninterrupted run")

    if diverges {
        var d = make()
        var fresh: [[UInt64]] = []
        for x in inputs[split...] { fresh.append(step(&d, x)) }
        #expect(fresh != rest, "\(what): a fresh value gives the same outputs, so the comparison shows nothing")
    }
    return whole
}

/// The intact checkpoint restores; one byte short, or empty, it is refused; a few hundred random
/// byte strings and copies with one to three bytes changed are refused or restore without
/// trapping, and then `exercise` (processing that must not trap on any accepted state) runs.
private func expectSurvivesDamage<T: Checkpointable>(
    _ what: String, _ saved: [UInt8], _ make: () -> T, seed: UInt64, exercise: (inout T) -> Void = { _ in }
) {
    let intact = ckptRefuses(make(), saved)
    let short = ckptRefuses(make(), Array(saved.dropLast()))
    let empty = ckptRefuses(make(), [])
    #expect(!intact, "\(what): the intact checkpoint is refused")
    #expect(short, "\(what): a checkpoint one byte short is accepted")
    #expect(empty, "\(what): an empty checkpoint is accepted")
    var rng = SplitMix64(seed: seed)
    for trial in 0..<300 {
        var bytes: [UInt8] = []
        if trial % 2 == 0 {
            let n = rng.below(saved.count + 16)
            for _ in 0..<n { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
        } else {
            bytes = saved
            let flips = 1 + rng.below(3)
            for _ in 0..<flips {
                let i = rng.below(bytes.count)
                bytes[i] ^= UInt8(1 + rng.below(255))
            }
        }
        var v = make()
        var r = StateReader(bytes)
        do {
            try v.restore(from: &r)
            exercise(&v)
        } catch {}
    }
}

/// Deterministic test signals.
private enum CkptSignal {
    static let epochNs: Int64 = 1_764_000_000_000_000_000

    /// A daily cycle (288 samples a period) with noise, 3-sample spikes of +15 every 397 samples,
    /// a level shift of +3 over the last third, and a flat run (a stuck sensor, 21.25) of 30
    /// samples every 250.
    static func values(_ n: Int, seed: UInt64 = 11) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var x: [Float] = []
        x.reserveCapacity(n)
        for i in 0..<n {
            let phase = 2 * Double.pi * Double(i) / 288
            var v: Double = 20 + 5 * sin(phase)
            v += rng.unit() - 0.5
            if i % 397 >= 123 && i % 397 < 126 { v += 15 }
            if i >= 2 * n / 3 { v += 3 }
            if i % 250 >= 100 && i % 250 < 130 { v = 21.25 }
            x.append(Float(v))
        }
        return x
    }

    /// `values` at 5-minute steps: 3000 samples are ten days, for the seasonal and novelty scorers.
    static func slow(_ n: Int) -> [(x: Float, ts: Int64)] {
        let x = values(n)
        var out: [(x: Float, ts: Int64)] = []
        for i in 0..<n { out.append((x: x[i], ts: epochNs + Int64(i) * 300_000_000_000)) }
        return out
    }

    /// `values` at 1-second steps, with sample i ≡ 5 (mod 17) stamped 3 s early (out of order).
    static func fast(_ n: Int) -> [(x: Float, ts: Int64)] {
        let x = values(n)
        var out: [(x: Float, ts: Int64)] = []
        for i in 0..<n {
            let second = i % 17 == 5 ? i - 3 : i
            out.append((x: x[i], ts: epochNs + Int64(second) * 1_000_000_000))
        }
        return out
    }

    /// `x` in blocks of irregular sizes (a cycle of 37, 1, 64, 129, 7, 250, 13: 501 samples).
    /// The first 12 blocks hold 739 samples: no multiple of a SIMD width, a FIR step, an FFT
    /// frame or a decimation factor.
    static func blocks(_ x: [Float]) -> [[Float]] {
        let sizes = [37, 1, 64, 129, 7, 250, 13]
        var out: [[Float]] = []
        var i = 0, k = 0
        while i < x.count {
            let n = min(sizes[k % sizes.count], x.count - i)
            out.append(Array(x[i..<(i + n)]))
            i += n
            k += 1
        }
        return out
    }
}

/// One block through a filter stage: the samples it leaves and the rows they came from.
private func ckptFilterStep(_ f: inout ChannelFilter, _ block: [Float]) -> [UInt64] {
    var x = block
    var pos = (0..<block.count).map { Int32($0) }
    let left = x.withUnsafeMutableBufferPointer { v in pos.withUnsafeMutableBufferPointer { f.process(v, positions: $0) } }
    var out: [UInt64] = []
    for i in 0..<left { out.append(UInt64(x[i].bitPattern)) }
    for i in 0..<left { out.append(UInt64(UInt32(bitPattern: pos[i]))) }
    return out
}

/// One sample through a detector: its score, what a scorer expected, and the alert message.
private func ckptDetectorStep(_ d: inout ChannelDetector, _ s: (x: Float, ts: Int64)) -> [UInt64] {
    let score = d.score(s.x, ts: s.ts)
    var out: [UInt64] = [score.bitPattern]
    if case .scored(let box) = d {
        out.append(box.expected.bitPattern)
        out.append(box.spread.bitPattern)
    }
    for b in d.explain(channel: "c", value: s.x, unit: "u").utf8 { out.append(UInt64(b)) }
    return out
}

private func ckptStatsBits(_ s: WindowStats) -> [UInt64] {
    var out: [UInt64] = [UInt64(s.count), s.mean.bitPattern, s.m2.bitPattern, s.variance.bitPattern, s.timeWeightedMean.bitPattern]
    out.append(UInt64(s.min.bitPattern))
    out.append(UInt64(s.max.bitPattern))
    out.append(UInt64(s.first.bitPattern))
    out.append(UInt64(s.last.bitPattern))
    out.append(UInt64(bitPattern: s.firstTs))
    out.append(UInt64(bitPattern: s.lastTs))
    out.append(s.heldArea.bitPattern)
    out.append(UInt64(bitPattern: s.heldStartTs))
    return out
}

private func ckptCode(_ t: AlertStateMachine.Transition) -> UInt64 {
    switch t {
    case .none: 0
    case .raised: 1
    case .cleared: 2
    }
}

/// A channel's detector with its alert state, saved one after the other (as a device does).
private struct CkptWatch: Checkpointable {
    var detector: ChannelDetector
    var machine: AlertStateMachine

    func save(to w: inout StateWriter) {
        detector.save(to: &w)
        machine.save(to: &w)
    }

    mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        try detector.restore(from: &r)
        try machine.restore(from: &r)
    }
}

/// Frames of 8 lanes; a block with `stepLanes` > 0 goes lane by lane (lanes 0..<stepLanes, as
/// rows with gaps do) instead of through the vector path.
private struct CkptLaneBlock {
    var frames: [SIMD8<Float>]
    var stepLanes: Int
}

private func ckptLaneBlocks() -> [CkptLaneBlock] {
    let x = CkptSignal.values(3000)
    let sizes = [5, 1, 33, 2, 64, 9, 17]
    var out: [CkptLaneBlock] = []
    var j = 0
    for k in 0..<40 {
        var frames: [SIMD8<Float>] = []
        for _ in 0..<sizes[k % sizes.count] {
            var v = SIMD8<Float>(repeating: 0)
            for l in 0..<8 { v[l] = x[(j + 311 * l) % x.count] + Float(l) }
            frames.append(v)
            j += 1
        }
        out.append(CkptLaneBlock(frames: frames, stepLanes: k % 4 == 0 ? 3 + k % 3 : 0))
    }
    return out
}

private func ckptLaneBits(_ y: [SIMD8<Float>]) -> [UInt64] {
    var out: [UInt64] = []
    for v in y { for l in 0..<8 { out.append(UInt64(v[l].bitPattern)) } }
    return out
}

private func ckptEMA8Step(_ e: inout EMA8, _ b: CkptLaneBlock) -> [UInt64] {
    if b.stepLanes > 0 {
        var out: [UInt64] = []
        for f in b.frames { for l in 0..<b.stepLanes { out.append(UInt64(e.step(lane: l, f[l]).bitPattern)) } }
        return out
    }
    var y = [SIMD8<Float>](repeating: .zero, count: b.frames.count)
    b.frames.withUnsafeBufferPointer { x in
        y.withUnsafeMutableBufferPointer { e.process(x.baseAddress!, into: $0.baseAddress!, count: x.count, lanes: 6) }
    }
    return ckptLaneBits(y)
}

private func ckptBiquad8Step(_ c: inout BiquadCascade8, _ b: CkptLaneBlock) -> [UInt64] {
    if b.stepLanes > 0 {
        var out: [UInt64] = []
        for f in b.frames { for l in 0..<b.stepLanes { out.append(UInt64(c.step(lane: l, f[l]).bitPattern)) } }
        return out
    }
    var y = [SIMD8<Float>](repeating: .zero, count: b.frames.count)
    b.frames.withUnsafeBufferPointer { x in
        y.withUnsafeMutableBufferPointer { c.process(x.baseAddress!, into: $0.baseAddress!, count: x.count) }
    }
    return ckptLaneBits(y)
}

/// Filter stages of every kind, and whether a fresh stage given the rest of the stream certainly
/// differs from a restored one (a rate limit or a deadband may fall in step again at once; a
/// plain median may pick the same samples for the few outputs before its window refills).
private let ckptFilterStages: [(FilterSpec, Bool)] = [
    (.fir(taps: 31, band: .lowpass(0.2)), true),
    (.fir(taps: 48, band: .bandpass(0.1, 0.4)), true),  // 33–64 taps: the phase kernel on AVX-512
    (.butterworth(order: 4, band: .bandpass(0.05, 0.3)), true),
    (.butterworth(order: 3, band: .lowpass(0.2)), true),
    (.ema(alpha: 0.1), true),
    (.movingAverage(length: 16), true),
    (.rateLimit(maxStep: 0.3), false),
    (.median(length: 5, threshold: nil), false),
    (.median(length: 7, threshold: 0.5), true),
    (.deadband(band: 0.4), false),
    (.decimate(factor: 3), true),
    (.decimate(factor: 4), true),
]

private let ckptScoredKinds: [DetectorSpec.Kind] = [
    .zscore(window: 100), .ewma(alpha: 0.02), .mad(window: 64), .cusum(k: 0.5, h: 5), .seasonal(alpha: 0.1), .novelty,
]

// MARK: - Resuming

@Suite struct CheckpointResumeTests {
    @Test func windowStatsResume() throws {
        // per sample, with out-of-order times
        try expectResumes("window stats", { WindowStats() }, CkptSignal.fast(3000), split: 1777) {
            (s: inout WindowStats, e: (x: Float, ts: Int64)) -> [UInt64] in
            s.add(e.x, ts: e.ts)
            return ckptStatsBits(s)
        }
        // uniform blocks (the SIMD path)
        var blocks: [(x: [Float], t0: Int64)] = []
        var t: Int64 = CkptSignal.epochNs
        for b in CkptSignal.blocks(CkptSignal.values(4000)) {
            blocks.append((x: b, t0: t))
            t += Int64(b.count) * 1_000_000
        }
        try expectResumes("window stats, uniform blocks", { WindowStats() }, blocks, split: 12) {
            (s: inout WindowStats, b: (x: [Float], t0: Int64)) -> [UInt64] in
            b.x.withUnsafeBufferPointer { s.add(uniform: $0.baseAddress!, count: $0.count, firstTs: b.t0, stepNs: 1_000_000) }
            return ckptStatsBits(s)
        }
    }

    /// Split while the samples are still exact (77) and once they are in the sketch (2011).
    @Test func quantileSketchResumes() throws {
        let x = CkptSignal.values(3000)
        var stream: [(x: Float, report: Bool)] = []
        for i in 0..<x.count {
            // around 0, both signs, and exact zeros
            stream.append((x: i % 50 == 7 ? 0 : x[i] - 22, report: i < 200 || i % 29 == 0))
        }
        for split in [77, 2011] {
            try expectResumes("quantile sketch split at \(split)", { QuantileSketch() }, stream, split: split) {
                (s: inout QuantileSketch, e: (x: Float, report: Bool)) -> [UInt64] in
                s.add(e.x)
                var out: [UInt64] = [UInt64(s.count)]
                if e.report {
                    for q in [0, 0.01, 0.1, 0.5, 0.9, 0.99, 1] as [Double] { out.append(UInt64(s.quantile(q).bitPattern)) }
                }
                return out
            }
        }
    }

    /// Split in the middle of an FFT frame (739 = 11 × 64 + 35).
    @Test func vibrationFeaturesResume() throws {
        let config = VibrationAccumulator.Config(fftSize: 64, sampleRateHz: 1000, bands: [(0, 100), (100, 300), (300, 500)])
        let blocks = CkptSignal.blocks(CkptSignal.values(4000))
        try expectResumes("vibration", { VibrationAccumulator(config) }, blocks, split: 12) {
            (acc: inout VibrationAccumulator, block: [Float]) -> [UInt64] in
            block.withUnsafeBufferPointer { acc.add($0) }
            guard let f = acc.features else { return [] }
            var out: [UInt64] = [f.rms.bitPattern, f.peak.bitPattern, f.peakToPeak.bitPattern, f.crest.bitPattern]
            out.append(f.kurtosis.bitPattern)
            out.append(f.skewness.bitPattern)
            out.append(UInt64(f.frames))
            for e in f.bandEnergy { out.append(e.bitPattern) }
            return out
        }
    }

    @Test func filterStagesResume() throws {
        let blocks = CkptSignal.blocks(CkptSignal.values(4000))
        for (spec, diverges) in ckptFilterStages {
            try expectResumes("\(spec)", { ChannelFilter(spec) }, blocks, split: 12, diverges: diverges) { f, block in
                ckptFilterStep(&f, block)
            }
        }
        // a clamp holds no state: its checkpoint is its case alone
        try expectResumes("clamp", { ChannelFilter(.clamp(min: 18, max: 24)) }, blocks, split: 12, stateful: false, diverges: false) {
            f, block in ckptFilterStep(&f, block)
        }
    }

    @Test func laneKernelsResume() throws {
        let blocks = ckptLaneBlocks()
        try expectResumes("EMA8", { EMA8(alpha: 0.1) }, blocks, split: 10) { e, b in ckptEMA8Step(&e, b) }
        let sos = SOSCoefficients.butterworth(order: 4, .lowpass(0.2))
        try expectResumes("BiquadCascade8", { BiquadCascade8(sos) }, blocks, split: 10) { c, b in ckptBiquad8Step(&c, b) }
    }

    /// The scored detectors (each scorer in its box) over ten days of 5-minute samples.
    @Test func scoredDetectorsResume() throws {
        let stream = CkptSignal.slow(3000)
        for kind in ckptScoredKinds {
            let outputs = try expectResumes("\(kind)", { ChannelDetector(DetectorSpec(kind: kind)) }, stream, split: 2011) { d, s in
                ckptDetectorStep(&d, s)
            }
            #expect(outputs[2011...].contains { Double(bitPattern: $0[0]) > 0 }, "\(kind) never scored after the split")
        }
    }

    /// The scorers on their own (the enum and each payload type).
    @Test func scorersResume() throws {
        let stream = CkptSignal.slow(3000)
        let split = 2011
        let scorers: [AnomalyScorer] = [
            .windowedGaussian(window: 100), .ewma(alpha: 0.02), .mad(MADScorer(window: 64)), .cusum(CUSUMScorer()),
            .seasonal(SeasonalScorer()), .novelty(NoveltyDetector()),
        ]
        for scorer in scorers {
            try expectResumes("scorer \(scorer.name)", { scorer }, stream, split: split) {
                (s: inout AnomalyScorer, e: (x: Float, ts: Int64)) -> [UInt64] in
                let score = s.score(Double(e.x), tsNs: e.ts)
                let (centre, spread) = s.expectation
                return [score.bitPattern, centre.bitPattern, spread.bitPattern]
            }
        }
        try expectResumes("rolling window", { RollingWindow(capacity: 100) }, stream, split: split) {
            (w: inout RollingWindow, e: (x: Float, ts: Int64)) -> [UInt64] in
            w.push(Double(e.x))
            return [w.mean.bitPattern, w.std.bitPattern, UInt64(w.count)]
        }
        try expectResumes("MAD", { MADScorer(window: 64) }, stream, split: split) {
            (m: inout MADScorer, e: (x: Float, ts: Int64)) -> [UInt64] in
            let score = m.score(Double(e.x))
            return [score.bitPattern, m.lastMedian.bitPattern, m.lastSigmas.bitPattern]
        }
        try expectResumes("CUSUM", { CUSUMScorer(k: 0.5, h: 5) }, stream, split: split) {
            (c: inout CUSUMScorer, e: (x: Float, ts: Int64)) -> [UInt64] in
            let score = c.score(Double(e.x))
            return [score.bitPattern, c.mean.bitPattern, c.variance.bitPattern, c.up.bitPattern, c.down.bitPattern]
        }
        try expectResumes("seasonal", { SeasonalScorer(alpha: 0.1) }, stream, split: split) {
            (m: inout SeasonalScorer, e: (x: Float, ts: Int64)) -> [UInt64] in
            let score = m.score(Double(e.x), tsNs: e.ts)
            return [score.bitPattern, m.lastMean.bitPattern, m.lastSigmas.bitPattern]
        }
        try expectResumes("novelty", { NoveltyDetector() }, stream, split: split) {
            (d: inout NoveltyDetector, e: (x: Float, ts: Int64)) -> [UInt64] in
            var out: [UInt64] = [d.score(Double(e.x), tsNs: e.ts).bitPattern]
            for b in "\(d.lastReason)".utf8 { out.append(UInt64(b)) }
            return out
        }
    }

    /// Rule detectors, each split where its state matters for what follows.
    @Test func ruleDetectorsResume() throws {
        let stream = CkptSignal.fast(2000)
        // threshold: split just after a sample that set it active, so the hysteresis is live
        let threshold = { ChannelDetector(DetectorSpec(kind: .threshold(above: 24, below: 15), hysteresis: 0.5)) }
        var probe = threshold()
        var activeAt: Int?
        for i in 0..<stream.count {
            let hit = probe.score(stream[i].x, ts: stream[i].ts) == 1
            if i >= 1000 && hit { activeAt = i; break }
        }
        let split = try #require(activeAt) + 1
        try expectResumes("threshold", threshold, stream, split: split, diverges: false) { d, s in ckptDetectorStep(&d, s) }
        // rate: 917 starts a spike (397 × 2 + 123), in time order
        try expectResumes("rate of change", { ChannelDetector(DetectorSpec(kind: .rateOfChange(maxPerSecond: 2))) }, stream, split: 917) {
            d, s in ckptDetectorStep(&d, s)
        }
        // stuck: 1852 is the third sample of a flat run (1850..<1880)
        try expectResumes("stuck", { ChannelDetector(DetectorSpec(kind: .stuck(epsilon: 0.01, samples: 5))) }, stream, split: 1852) {
            d, s in ckptDetectorStep(&d, s)
        }
        // timestamps: 1705 is a sample stamped before the one ahead of it
        try expectResumes("timestamps", { ChannelDetector(DetectorSpec(kind: .timestamps)) }, stream, split: 1705) {
            d, s in ckptDetectorStep(&d, s)
        }
    }

    /// The dropout detector's state is the limit the pipeline's clock last raised it with.
    @Test func dropoutKeepsItsLimit() throws {
        let make = { ChannelDetector(DetectorSpec(kind: .dropout(afterMs: 5_000, intervals: 3))) }
        guard case .dropout(let after, let intervals, _) = make() else {
            Issue.record("not a dropout detector")
            return
        }
        let raised = ChannelDetector.dropout(afterNs: after, intervals: intervals, limitNs: 9_000_000_000)
        let c = try ckptRestored(make(), ckptBytes(raised))
        if case .dropout(_, _, let limit) = c {
            #expect(limit == 9_000_000_000)
        } else {
            Issue.record("the restored detector is not a dropout detector")
        }
        #expect(c.explain(channel: "c", value: 1, unit: "") == raised.explain(channel: "c", value: 1, unit: ""))
    }

    /// Split just after a raise: the restored machine holds it, then clears it.
    @Test func alertStateMachineResumes() throws {
        var rng = SplitMix64(seed: 5)
        var stream: [(score: Double, ts: Int64)] = []
        for i in 0..<3000 {
            let burst = i % 40 < 6
            let score = burst ? 0.9 + 0.1 * rng.unit() : rng.unit()
            stream.append((score: score, ts: CkptSignal.epochNs + Int64(i) * 1_000_000_000))
        }
        let make = {
            AlertStateMachine(raiseAt: 0.9, clearBelow: 0.3, minSamples: 3, minDurationNs: 2_000_000_000, cooldownNs: 30_000_000_000,
                              holdNs: 5_000_000_000)
        }
        var probe = make()
        var raisedAt: Int?
        for i in 0..<stream.count {
            let t = probe.observe(score: stream[i].score, ts: stream[i].ts)
            if i >= 1000 && t == .raised { raisedAt = i; break }
        }
        let split = try #require(raisedAt) + 1
        let outputs = try expectResumes("alert state", make, stream, split: split) {
            (m: inout AlertStateMachine, e: (score: Double, ts: Int64)) -> [UInt64] in
            let t = m.observe(score: e.score, ts: e.ts)
            return [ckptCode(t), m.isRaised ? 1 : 0]
        }
        #expect(outputs[split...].contains { $0[0] == 2 }, "no clear after the split")
        #expect(outputs[split...].contains { $0[0] == 1 }, "no raise after the split")
    }

    /// A detector and its alert state together, as a device keeps them.
    @Test func detectorWithAlertsResumes() throws {
        let spec = DetectorSpec(kind: .zscore(window: 100), minSamples: 2)
        let make = {
            CkptWatch(detector: ChannelDetector(spec),
                      machine: AlertStateMachine(raiseAt: spec.raiseAt, clearBelow: spec.clearBelow, minSamples: spec.minSamples,
                                                 holdNs: 600_000_000_000))
        }
        try expectResumes("zscore with alerts", make, CkptSignal.slow(3000), split: 2011) {
            (w: inout CkptWatch, e: (x: Float, ts: Int64)) -> [UInt64] in
            let score = w.detector.score(e.x, ts: e.ts)
            let t = w.machine.observe(score: score, ts: e.ts)
            return [score.bitPattern, ckptCode(t), w.machine.isRaised ? 1 : 0]
        }
    }
}

// MARK: - Refusing

@Suite struct CheckpointRefusalTests {
    /// State saved under one configuration is refused by a value of another.
    @Test func anotherConfigurationIsRefused() throws {
        let block = CkptSignal.values(300)
        func filterState(_ spec: FilterSpec) -> [UInt8] {
            var f = ChannelFilter(spec)
            _ = ckptFilterStep(&f, block)
            return ckptBytes(f)
        }
        let filterPairs: [(FilterSpec, FilterSpec)] = [
            (.fir(taps: 31, band: .lowpass(0.2)), .fir(taps: 63, band: .lowpass(0.2))),
            (.fir(taps: 31, band: .lowpass(0.2)), .fir(taps: 48, band: .lowpass(0.2))),
            (.median(length: 5, threshold: nil), .median(length: 7, threshold: nil)),
            (.movingAverage(length: 16), .movingAverage(length: 8)),
            (.butterworth(order: 4, band: .lowpass(0.2)), .butterworth(order: 2, band: .lowpass(0.2))),
            (.decimate(factor: 3), .decimate(factor: 4)),
            (.fir(taps: 31, band: .lowpass(0.2)), .butterworth(order: 4, band: .lowpass(0.2))),
            (.ema(alpha: 0.1), .clamp(min: 0, max: 1)),
            (.deadband(band: 0.4), .rateLimit(maxStep: 0.4)),
            (.clamp(min: 0, max: 1), .median(length: 5, threshold: nil)),
        ]
        for (saved, current) in filterPairs {
            #expect(!ckptRefuses(ChannelFilter(saved), filterState(saved)), "\(saved) refused by its own configuration")
            #expect(ckptRefuses(ChannelFilter(current), filterState(saved)), "\(saved) accepted by \(current)")
        }

        let stream = CkptSignal.slow(500)
        func detectorState(_ kind: DetectorSpec.Kind) -> [UInt8] {
            var d = ChannelDetector(DetectorSpec(kind: kind))
            for s in stream { _ = d.score(s.x, ts: s.ts) }
            return ckptBytes(d)
        }
        let detectorPairs: [(DetectorSpec.Kind, DetectorSpec.Kind)] = [
            (.novelty, .zscore(window: 100)),
            (.zscore(window: 100), .zscore(window: 50)),
            (.mad(window: 64), .mad(window: 32)),
            (.threshold(above: 24, below: nil), .zscore(window: 100)),
            (.zscore(window: 100), .threshold(above: 24, below: nil)),
            (.ewma(alpha: 0.1), .cusum(k: 0.5, h: 5)),
            (.seasonal(alpha: 0.1), .novelty),
            (.stuck(epsilon: 0.01, samples: 5), .timestamps),
            (.rateOfChange(maxPerSecond: 2), .dropout(afterMs: 1_000, intervals: 0)),
        ]
        for (saved, current) in detectorPairs {
            let bytes = detectorState(saved)
            #expect(!ckptRefuses(ChannelDetector(DetectorSpec(kind: saved)), bytes), "\(saved) refused by its own configuration")
            #expect(ckptRefuses(ChannelDetector(DetectorSpec(kind: current)), bytes), "\(saved) accepted by \(current)")
        }
        #expect(ckptRefuses(AnomalyScorer.mad(MADScorer(window: 64)), ckptBytes(AnomalyScorer.cusum(CUSUMScorer()))))
        var window = RollingWindow(capacity: 100)
        for s in stream { window.push(Double(s.x)) }
        #expect(ckptRefuses(RollingWindow(capacity: 50), ckptBytes(window)))

        let config = VibrationAccumulator.Config(fftSize: 64, sampleRateHz: 1000, bands: [(0, 100), (100, 300)])
        var acc = VibrationAccumulator(config)
        block.withUnsafeBufferPointer { acc.add($0) }
        let vibration = ckptBytes(acc)
        #expect(!ckptRefuses(VibrationAccumulator(config), vibration))
        #expect(ckptRefuses(VibrationAccumulator(.init(fftSize: 128, sampleRateHz: 1000, bands: [(0, 100), (100, 300)])), vibration),
                "another FFT size")
        #expect(ckptRefuses(VibrationAccumulator(.init(fftSize: 64, sampleRateHz: 1000, bands: [(0, 150), (150, 300)])), vibration),
                "bands moved")
        #expect(ckptRefuses(VibrationAccumulator(.init(fftSize: 64, sampleRateHz: 2000, bands: [(0, 100), (100, 300)])), vibration),
                "another sample rate")
        #expect(ckptRefuses(VibrationAccumulator(.init(fftSize: 64, sampleRateHz: 1000, bands: [(0, 100)])), vibration),
                "a band fewer")

        var cascade = BiquadCascade8(SOSCoefficients.butterworth(order: 4, .lowpass(0.2)))
        _ = cascade.step(lane: 0, 1)
        #expect(ckptRefuses(BiquadCascade8(SOSCoefficients.butterworth(order: 2, .lowpass(0.2))), ckptBytes(cascade)))
    }

    /// Truncated, empty, random and altered checkpoints of every type: refused or restored, never
    /// a trap, and the values accepted still process without trapping.
    @Test func damagedCheckpointsNeverTrap() {
        let x = CkptSignal.values(1200)
        let slow = CkptSignal.slow(1200)
        let block = Array(x[0..<300])

        var stats = WindowStats()
        for s in slow { stats.add(s.x, ts: s.ts) }
        // (no exercise: a wild restored time can overflow `ts - lastTs` in `add`)
        expectSurvivesDamage("window stats", ckptBytes(stats), { WindowStats() }, seed: 1)

        for n in [77, 1000] {
            var sketch = QuantileSketch()
            for v in x.prefix(n) { sketch.add(v - 22) }
            expectSurvivesDamage("quantile sketch of \(n)", ckptBytes(sketch), { QuantileSketch() }, seed: UInt64(n)) { s in
                for v in block { s.add(v - 22) }
                _ = s.quantile(0.5)
            }
        }

        let config = VibrationAccumulator.Config(fftSize: 64, sampleRateHz: 1000, bands: [(0, 100), (100, 300)])
        var acc = VibrationAccumulator(config)
        block.withUnsafeBufferPointer { acc.add($0) }
        expectSurvivesDamage("vibration", ckptBytes(acc), { VibrationAccumulator(config) }, seed: 3) { a in
            block.withUnsafeBufferPointer { a.add($0) }
            _ = a.features
        }

        var stages: [FilterSpec] = ckptFilterStages.map { $0.0 }
        stages.append(.clamp(min: 18, max: 24))
        for (k, spec) in stages.enumerated() {
            var f = ChannelFilter(spec)
            _ = ckptFilterStep(&f, block)
            expectSurvivesDamage("\(spec)", ckptBytes(f), { ChannelFilter(spec) }, seed: 10 + UInt64(k)) { g in
                _ = ckptFilterStep(&g, block)
            }
        }

        let lanes = ckptLaneBlocks()
        var ema = EMA8(alpha: 0.1)
        for b in lanes.prefix(10) { _ = ckptEMA8Step(&ema, b) }
        expectSurvivesDamage("EMA8", ckptBytes(ema), { EMA8(alpha: 0.1) }, seed: 30) { e in
            for b in lanes.prefix(5) { _ = ckptEMA8Step(&e, b) }
        }
        let sos = SOSCoefficients.butterworth(order: 4, .lowpass(0.2))
        var cascade = BiquadCascade8(sos)
        for b in lanes.prefix(10) { _ = ckptBiquad8Step(&cascade, b) }
        expectSurvivesDamage("BiquadCascade8", ckptBytes(cascade), { BiquadCascade8(sos) }, seed: 31) { c in
            for b in lanes.prefix(5) { _ = ckptBiquad8Step(&c, b) }
        }

        // rule detectors: restore only (a wild restored time can overflow `ts - lastTs` in `rate`)
        let rules: [DetectorSpec.Kind] = [
            .threshold(above: 24, below: 15), .rateOfChange(maxPerSecond: 2), .stuck(epsilon: 0.01, samples: 5),
            .dropout(afterMs: 1_000, intervals: 3), .timestamps,
        ]
        for (k, kind) in rules.enumerated() {
            var d = ChannelDetector(DetectorSpec(kind: kind))
            for s in slow { _ = d.score(s.x, ts: s.ts) }
            expectSurvivesDamage("\(kind)", ckptBytes(d), { ChannelDetector(DetectorSpec(kind: kind)) }, seed: 40 + UInt64(k))
        }
        for (k, kind) in ckptScoredKinds.enumerated() {
            var d = ChannelDetector(DetectorSpec(kind: kind))
            for s in slow { _ = d.score(s.x, ts: s.ts) }
            expectSurvivesDamage("\(kind)", ckptBytes(d), { ChannelDetector(DetectorSpec(kind: kind)) }, seed: 50 + UInt64(k)) { e in
                for s in slow.prefix(50) { _ = e.score(s.x, ts: s.ts) }
            }
        }

        var machine = AlertStateMachine(raiseAt: 0.9, clearBelow: 0.3, minSamples: 3)
        for i in 0..<100 { _ = machine.observe(score: i % 7 < 4 ? 0.95 : 0.1, ts: Int64(i)) }
        expectSurvivesDamage("alert state", ckptBytes(machine), { AlertStateMachine(raiseAt: 0.9, clearBelow: 0.3, minSamples: 3) },
                             seed: 60) { m in
            for i in 0..<20 { _ = m.observe(score: Double(i % 3) / 2, ts: Int64(i)) }
        }
    }
}
