#if canImport(Glibc)
import Glibc
#endif

/// Streaming statistical anomaly scorers for one channel. Strictly causal: the score of a sample
/// uses that sample and earlier ones only. Scores are in [0, 1]. Memory is bounded per channel
/// (`stateBytes`). Enums rather than existentials keep the per-sample call a switch.
public enum AnomalyScorer: Sendable {
    /// Mean and deviation of the last `window` samples; score = 1 - tail probability of |z|.
    case windowedGaussian(RollingWindow)
    /// Exponentially weighted mean and variance (`alpha`); score as above.
    case ewma(alpha: Double, mean: Double, variance: Double, seen: Int)
    /// Any scorer followed by the anomaly likelihood of its recent raw scores: the short-term
    /// average of raw scores compared with their long-term distribution.
    indirect case likelihood(inner: AnomalyScorer, history: RollingWindow, recent: RollingWindow)

    public static func windowedGaussian(window: Int) -> AnomalyScorer { .windowedGaussian(RollingWindow(capacity: window)) }
    public static func ewma(alpha: Double) -> AnomalyScorer { .ewma(alpha: alpha, mean: 0, variance: 0, seen: 0) }
    public static func withLikelihood(_ inner: AnomalyScorer, history: Int = 1000, recent: Int = 10) -> AnomalyScorer {
        .likelihood(inner: inner, history: RollingWindow(capacity: history), recent: RollingWindow(capacity: recent))
    }

    /// Tail probability of a standard normal beyond `z` (z ≥ 0).
    @inline(__always)
    static func tail(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }

    public mutating func score(_ x: Double) -> Double {
        switch self {
        case .windowedGaussian(var w):
            var s = 0.0
            if w.count >= 2 {
                let sd = w.std
                s = sd > 0 ? 1 - AnomalyScorer.tail(abs(x - w.mean) / sd) : (x == w.mean ? 0.5 : 1)
            }
            w.push(x)
            self = .windowedGaussian(w)
            return s
        case .ewma(let a, var mean, var variance, var seen):
            var s = 0.0
            if seen >= 2 {
                let sd = variance.squareRoot()
                s = sd > 0 ? 1 - AnomalyScorer.tail(abs(x - mean) / sd) : (x == mean ? 0.5 : 1)
            }
            if seen == 0 { mean = x } else {
                let d = x - mean
                mean += a * d
                variance = (1 - a) * (variance + a * d * d)
            }
            seen += 1
            self = .ewma(alpha: a, mean: mean, variance: variance, seen: seen)
            return s
        case .likelihood(var inner, var history, var recent):
            let raw = inner.score(x)
            recent.push(raw)
            var s = 0.5
            if history.count >= 100 {
                let sd = max(history.std, 1e-4)
                s = 1 - AnomalyScorer.tail(max(0, recent.mean - history.mean) / sd)
            }
            history.push(raw)
            self = .likelihood(inner: inner, history: history, recent: recent)
            return s
        }
    }

    /// State kept per channel, in bytes.
    public var stateBytes: Int {
        switch self {
        case .windowedGaussian(let w): return 32 + w.capacity * 8
        case .ewma: return 32
        case .likelihood(let i, let h, let r): return i.stateBytes + 32 + (h.capacity + r.capacity) * 8
        }
    }
}

/// The last `capacity` values with their running mean and variance (recomputed periodically
/// from the buffer so that rounding does not drift).
public struct RollingWindow: Sendable {
    public let capacity: Int
    private var values: [Double]
    private var head = 0
    public private(set) var count = 0
    private var sum = 0.0
    private var sumSq = 0.0
    private var pushes = 0

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        values = Array(repeating: 0, count: self.capacity)
    }

    public mutating func push(_ x: Double) {
        if count == capacity {
            let old = values[head]
            sum -= old; sumSq -= old * old
        } else {
            count += 1
        }
        values[head] = x
        sum += x; sumSq += x * x
        head = (head + 1) % capacity
        pushes += 1
        if pushes % (capacity * 4 + 1) == 0 {
            sum = 0; sumSq = 0
            for i in 0..<count { sum += values[i]; sumSq += values[i] * values[i] }
        }
    }

    public var mean: Double { count > 0 ? sum / Double(count) : 0 }
    public var std: Double {
        guard count > 1 else { return 0 }
        let m = mean
        return max(0, sumSq / Double(count) - m * m).squareRoot()
    }
}
