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
        if ts >= lastTs { lastTs = ts; last = x }
    }

    /// Population variance (divides by n); 0 for a single sample.
    public var variance: Double { count > 0 ? Swift.max(0, m2 / Double(count)) : 0 }
    public var std: Double { variance.squareRoot() }

    public mutating func reset() { self = WindowStats() }
}
