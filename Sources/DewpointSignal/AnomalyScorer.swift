import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

/// Streaming statistical and learned anomaly scorers for one channel. Strictly causal: the
/// score of a sample uses that sample and earlier ones only. Scores are in [0, 1]. Memory is
/// bounded per channel (`stateBytes`). Enums rather than existentials keep the per-sample call
/// a switch.
public enum AnomalyScorer: Sendable {
    /// Rolling z-score: mean and deviation of the last `window` samples; score = 1 - the upper
    /// normal tail probability of |z|, so 0.99 is |z| ≈ 2.33 and 0.999 is |z| ≈ 3.09.
    case windowedGaussian(RollingWindow)
    /// Exponentially weighted mean and variance (`alpha`); score as above.
    case ewma(alpha: Double, mean: Double, variance: Double, seen: Int)
    case mad(MADScorer)
    case cusum(CUSUMScorer)
    case seasonal(SeasonalScorer)
    case novelty(NoveltyDetector)

    public static func windowedGaussian(window: Int) -> AnomalyScorer { .windowedGaussian(RollingWindow(capacity: window)) }
    public static func ewma(alpha: Double) -> AnomalyScorer { .ewma(alpha: alpha, mean: 0, variance: 0, seen: 0) }

    /// Upper tail probability of a standard normal beyond `z` (z ≥ 0).
    @inline(__always)
    static func tail(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }

    /// Samples a scorer learns from before it scores (the Gaussian scorers).
    static let warmUp = 30

    /// One step of an exponentially weighted mean and variance, weight max(alpha, 1/(n+1)): a
    /// plain mean and variance of the first 1/alpha samples, so the variance does not start near
    /// 0. Shared by `ewma`, `CUSUMScorer` and `SeasonalScorer`.
    @inline(__always)
    static func ewmUpdate(_ x: Double, alpha: Double, seen: Int, mean: inout Double, variance: inout Double) {
        if seen == 0 { mean = x; return }
        let w = max(alpha, 1 / Double(seen + 1))
        let d = x - mean
        mean += w * d
        variance = (1 - w) * (variance + w * d * d)
    }

    /// Holds self's place while a payload with buffers is mutated (a payload-free case).
    static let placeholder = AnomalyScorer.ewma(alpha: 0, mean: 0, variance: 0, seen: 0)

    /// Scores `x` taken at `tsNs` (ns since the epoch; only the seasonal and novelty scorers
    /// use the time).
    public mutating func score(_ x: Double, tsNs: Int64) -> Double {
        switch self {
        case .windowedGaussian(var w):
            // drop self's reference first, so the window's buffer is uniquely referenced and
            // mutated in place instead of copied on every sample
            self = Self.placeholder
            var s = 0.0
            // a spread from a handful of samples flags ordinary noise: score from 30 (or the window)
            if w.count >= min(w.capacity, AnomalyScorer.warmUp) && w.count >= 2 {
                let sd = w.std
                s = sd > 0 ? 1 - AnomalyScorer.tail(abs(x - w.mean) / sd) : (x == w.mean ? 0 : 1)
            }
            w.push(x)
            self = .windowedGaussian(w)
            return s
        case .ewma(let a, var mean, var variance, var seen):
            var s = 0.0
            if seen >= AnomalyScorer.warmUp {
                let sd = variance.squareRoot()
                s = sd > 0 ? 1 - AnomalyScorer.tail(abs(x - mean) / sd) : (x == mean ? 0 : 1)
            }
            AnomalyScorer.ewmUpdate(x, alpha: a, seen: seen, mean: &mean, variance: &variance)
            seen += 1
            self = .ewma(alpha: a, mean: mean, variance: variance, seen: seen)
            return s
        case .mad(var m):
            self = Self.placeholder
            let s = m.score(x)
            self = .mad(m)
            return s
        case .cusum(var c):
            let s = c.score(x)
            self = .cusum(c)
            return s
        case .seasonal(var m):
            self = Self.placeholder
            let s = m.score(x, tsNs: tsNs)
            self = .seasonal(m)
            return s
        case .novelty(var d):
            self = Self.placeholder
            let s = d.score(x, tsNs: tsNs)
            self = .novelty(d)
            return s
        }
    }

    /// State kept per channel, in bytes.
    public var stateBytes: Int {
        switch self {
        case .windowedGaussian(let w): return 48 + w.capacity * 8
        case .ewma: return 32
        case .mad(let m): return m.stateBytes
        case .cusum: return 48
        case .seasonal: return SeasonalScorer.stateBytes
        case .novelty: return NoveltyDetector.stateBytes
        }
    }

    /// What the scorer expects next (centre, spread), read before a sample is scored; the
    /// per-sample cost is a few loads and a square root.
    @inline(__always)
    public var expectation: (Double, Double) {
        switch self {
        case .windowedGaussian(let w): (w.mean, w.std)
        case .ewma(_, let m, let v, _): (m, v.squareRoot())
        case .mad(let m): (m.lastMedian, 0)
        case .cusum(let c): (c.mean, c.variance.squareRoot())
        case .seasonal(let m): (m.lastMean, 0)
        case .novelty: (0, 0)
        }
    }

    /// A sentence for a raised alert, in the channel's unit (`u` is " degC" or empty).
    public func explain(channel: String, value: Double, unit u: String, expected c: Double, spread w: Double) -> String {
        func f(_ v: Double) -> String { numberText((v * 1000).rounded() / 1000) }
        let v = "\(channel) \(f(value))\(u)"
        let side = value >= c ? "above" : "below"
        switch self {
        case .windowedGaussian:
            return w > 0 ? "\(v) is \(f(abs(value - c) / w)) sigma \(side) its rolling mean \(f(c))\(u)" : "\(v) differs from its constant rolling mean \(f(c))\(u)"
        case .ewma:
            return w > 0 ? "\(v) is \(f(abs(value - c) / w)) sigma \(side) its moving average \(f(c))\(u)" : "\(v) differs from its constant moving average \(f(c))\(u)"
        case .mad(let m):
            return "\(v) is \(f(m.lastSigmas)) robust sigma \(value >= m.lastMedian ? "above" : "below") its rolling median \(f(m.lastMedian))\(u)"
        case .cusum(let s):
            return "\(channel) has shifted \(s.up >= s.down ? "up" : "down"): now \(f(value))\(u), its long-run mean was \(f(c))\(u)"
        case .seasonal(let m):
            return "\(v) is \(f(m.lastSigmas)) sigma \(value >= m.lastMean ? "above" : "below") its usual \(f(m.lastMean))\(u) for this time of day"
        case .novelty(let d):
            switch d.lastReason {
            case .range(let lo, let hi): return "\(v) is outside everything seen so far (\(f(lo)) to \(f(hi))\(u))"
            case .timeOfDay(let lo, let hi): return "\(v) is outside its usual range for this time of day (\(f(lo)) to \(f(hi))\(u))"
            case .deviation(let z): return "\(v) is \(f(z)) sigma from its moving average"
            case .pattern, .none: return "\(v) follows a pattern not seen before"
            }
        }
    }

    public var name: String {
        switch self {
        case .windowedGaussian: "zscore"
        case .ewma: "ewma"
        case .mad: "mad"
        case .cusum: "cusum"
        case .seasonal: "seasonal"
        case .novelty: "novelty"
        }
    }
}

/// The last `capacity` values with their running mean and variance.
///
/// The sums are of `x - shift`, with `shift` near the data (its first value, then the window's
/// mean each time the sums are recomputed from the buffer), so that a large offset with a small
/// spread (pressure in Pa, say) does not cancel away the variance: `E[x²] − E[x]²` on raw values
/// would. The periodic recompute also keeps rounding from drifting.
public struct RollingWindow: Sendable {
    public let capacity: Int
    private var values: [Double]
    private var head = 0
    public private(set) var count = 0
    private var shift = 0.0
    private var sum = 0.0
    private var sumSq = 0.0
    private var pushes = 0

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        values = Array(repeating: 0, count: self.capacity)
    }

    public mutating func push(_ x: Double) {
        if pushes == 0 { shift = x }
        if count == capacity {
            let old = values[head] - shift
            sum -= old; sumSq -= old * old
        } else {
            count += 1
        }
        values[head] = x
        let d = x - shift
        sum += d; sumSq += d * d
        head = (head + 1) % capacity
        pushes += 1
        if pushes % (capacity * 4 + 1) == 0 {
            shift = mean
            sum = 0; sumSq = 0
            for i in 0..<count { let d = values[i] - shift; sum += d; sumSq += d * d }
        }
    }

    public var mean: Double { count > 0 ? shift + sum / Double(count) : 0 }
    public var std: Double {
        guard count > 1 else { return 0 }
        let m = sum / Double(count)
        return max(0, sumSq / Double(count) - m * m).squareRoot()
    }
}

extension AnomalyScorer {
    /// The scorer of a statistical or learned detector's spec, in its initial state; nil for a
    /// rule detector. `dewpoint score` and `evaluate` build theirs here too.
    public init?(_ kind: DetectorSpec.Kind) {
        switch kind {
        case .zscore(let w): self = .windowedGaussian(window: w)
        case .ewma(let a): self = .ewma(alpha: a)
        case .mad(let w): self = .mad(MADScorer(window: w))
        case .cusum(let k, let h): self = .cusum(CUSUMScorer(k: k, h: h))
        case .seasonal(let a): self = .seasonal(SeasonalScorer(alpha: a))
        case .novelty: self = .novelty(NoveltyDetector())
        case .threshold, .rateOfChange, .stuck, .dropout, .timestamps: return nil
        }
    }
}

extension AnomalyScorer: Checkpointable {
    /// The case, written first: a checkpoint of another kind of scorer is refused.
    private var checkpointTag: UInt8 {
        switch self {
        case .windowedGaussian: 0
        case .ewma: 1
        case .mad: 2
        case .cusum: 3
        case .seasonal: 4
        case .novelty: 5
        }
    }

    public func save(to w: inout StateWriter) {
        w.write(checkpointTag)
        switch self {
        case .windowedGaussian(let win): win.save(to: &w)
        case .ewma(_, let mean, let variance, let seen):
            w.write(mean)
            w.write(variance)
            w.write(seen)
        case .mad(let m): m.save(to: &w)
        case .cusum(let c): c.save(to: &w)
        case .seasonal(let m): m.save(to: &w)
        case .novelty(let d): d.save(to: &w)
        }
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        try restoreCaseTag(&r, checkpointTag, "a scorer")
        switch self {
        case .windowedGaussian(var win):
            try win.restore(from: &r)
            self = .windowedGaussian(win)
        case .ewma(let a, _, _, _):
            let mean = try r.read(Double.self)
            let variance = try r.read(Double.self)
            let seen = try restoredValue(r.read(Int.self), in: 0...restoredCountLimit, "an EWMA's sample count")
            self = .ewma(alpha: a, mean: mean, variance: variance, seen: seen)
        case .mad(var m):
            try m.restore(from: &r)
            self = .mad(m)
        case .cusum(var c):
            try c.restore(from: &r)
            self = .cusum(c)
        case .seasonal(var m):
            try m.restore(from: &r)
            self = .seasonal(m)
        case .novelty(var d):
            try d.restore(from: &r)
            self = .novelty(d)
        }
    }
}

extension RollingWindow: Checkpointable {
    public func save(to w: inout StateWriter) {
        w.write(values)
        w.write(head)
        w.write(count)
        w.write(shift)
        w.write(sum)
        w.write(sumSq)
        w.write(pushes)
    }

    /// The position and count follow from the number of pushes; they are checked against it.
    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        let v = try r.read([Double].self, count: capacity)
        let h = try r.read(Int.self)
        let c = try r.read(Int.self)
        let sh = try r.read(Double.self)
        let s = try r.read(Double.self)
        let s2 = try r.read(Double.self)
        let p = try restoredValue(r.read(Int.self), in: 0...restoredCountLimit, "a rolling window's pushes")
        guard c == Swift.min(p, capacity), h == p % capacity else {
            throw StateCodingError("a rolling window of \(capacity) at \(h) holds \(c) values after \(p) pushes")
        }
        values = v
        head = h
        count = c
        shift = sh
        sum = s
        sumSq = s2
        pushes = p
    }
}
