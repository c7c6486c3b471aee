/// Streaming statistics of one channel over one window.
///
/// Mean and variance use Welford's update with Double accumulators, which stays accurate for
/// values with a large offset and a small spread (where the naive sum-of-squares cancels).
/// 48 bytes; no allocation.
public struct WindowStats: Sendable, Equatable {
    public private(set) var count: Int = 0
    public private(set) var mean: Double = 0
    /// Sum of squared deviations from the mean.
    public private(set) var m2: Double = 0
    public private(set) var min: Float = .infinity
    public private(set) var max: Float = -.infinity
    public private(set) var first: Float = .nan
    public private(set) var last: Float = .nan
    /// Event time of `first`/`last`, to keep them right when samples arrive out of order.
    public private(set) var firstTs: Int64 = .max
    public private(set) var lastTs: Int64 = .min
    /// Σ value × time held (ns) over in-order samples, for the time-weighted mean.
    public private(set) var heldArea: Double = 0

    public init() {}

    @inline(__always)
    public mutating func add(_ x: Float, ts: Int64) {
        count += 1
        let xd = Double(x)
        let delta = xd - mean
        mean += delta / Double(count)
        m2 += delta * (xd - mean)
        if x < min { min = x }
        if x > max { max = x }
        if ts < firstTs { firstTs = ts; first = x }
        if ts >= lastTs {
            // sample-and-hold: the previous last value held from its time to this one
            if lastTs != .min { heldArea += Double(last) * Double(ts - lastTs) }
            lastTs = ts; last = x
        }
    }

    /// Population variance (divides by n); 0 for a single sample.
    public var variance: Double { count > 0 ? Swift.max(0, m2 / Double(count)) : 0 }
    public var std: Double { variance.squareRoot() }

    /// Mean weighted by how long each value held until the next sample (for irregular
    /// sampling), over [first time, last time]. Samples that arrive out of order add to the
    /// other statistics but not to this one. Equals `mean` when all samples share one time.
    public var timeWeightedMean: Double {
        let span = lastTs &- firstTs
        return count > 1 && span > 0 ? heldArea / Double(span) : mean
    }

    public mutating func reset() { self = WindowStats() }
}
