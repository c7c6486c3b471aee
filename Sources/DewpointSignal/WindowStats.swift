import DewpointCore

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
    /// Time of the first in-order sample: where the held area starts.
    public private(set) var heldStartTs: Int64 = .min

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
            if lastTs != .min { heldArea += Double(last) * Double(ts - lastTs) } else { heldStartTs = ts }
            lastTs = ts; last = x
        }
    }

    /// Population variance (divides by n); 0 for a single sample.
    public var variance: Double { count > 0 ? Swift.max(0, m2 / Double(count)) : 0 }
    public var std: Double { variance.squareRoot() }

    /// Mean weighted by how long each value held until the next sample (for irregular
    /// sampling), over [first in-order time, last time]. Samples that arrive out of order add to
    /// the other statistics but not to this one. Equals `mean` when all samples share one time.
    public var timeWeightedMean: Double {
        let span = lastTs &- heldStartTs
        return heldStartTs != .min && span > 0 ? heldArea / Double(span) : mean
    }

    public mutating func reset() { self = WindowStats() }
}

extension WindowStats {
    /// Adds `count` finite samples spaced `stepNs` apart from `firstTs` (a block of a fast
    /// channel), with the same result as adding them one by one up to rounding.
    ///
    /// The block is reduced across time in `SIMD16<Float>`: sums of `x - shift` and of its
    /// square (shift = the block's first sample, so a large offset does not cancel the small
    /// spread), min and max; lane sums are flushed to Double every 1024 samples (64 per lane),
    /// and the block's count, mean and M2 merge into the Welford state with Chan's formula.
    public mutating func add(uniform x: UnsafePointer<Float>, count n: Int, firstTs t0: Int64, stepNs: Int64) {
        guard n > 0 else { return }
        let shift = x[0]
        let vshift = SIMD16<Float>(repeating: shift)
        var lo = SIMD16<Float>(repeating: .infinity), hi = SIMD16<Float>(repeating: -.infinity)
        var sum = 0.0, sumSq = 0.0
        let raw = UnsafeRawPointer(x)
        var i = 0
        while i + 16 <= n {
            let end = Swift.min(n - (n - i) % 16, i + 1024)
            var s1 = SIMD16<Float>(repeating: 0), s2 = SIMD16<Float>(repeating: 0)
            while i < end {
                let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                let d = v - vshift
                s1 += d
                s2 += d * d
                // lane by lane, which compiles to minps/maxps; the standard library's
                // pointwiseMin goes through masks and measured 50× slower here
                for k in 0..<16 {
                    lo[k] = v[k] < lo[k] ? v[k] : lo[k]
                    hi[k] = v[k] > hi[k] ? v[k] : hi[k]
                }
                i += 16
            }
            sum += Double(s1.sum()); sumSq += Double(s2.sum())
        }
        var mn = lo.min(), mx = hi.max()
        while i < n {
            let v = x[i]
            let d = Double(v - shift)
            sum += d; sumSq += d * d
            if v < mn { mn = v }
            if v > mx { mx = v }
            i += 1
        }
        let nb = Double(n)
        let meanB = Double(shift) + sum / nb
        let m2B = Swift.max(0, sumSq - sum * sum / nb)
        let total = Double(count) + nb
        let delta = meanB - mean
        m2 += m2B + delta * delta * Double(count) * nb / total
        mean += delta * nb / total
        count += n
        if mn < min { min = mn }
        if mx > max { max = mx }
        let lastBlockTs = t0 &+ Int64(n - 1) &* stepNs
        if t0 < firstTs { firstTs = t0; first = x[0] }
        if t0 >= lastTs {
            // sample-and-hold over the block: each value but the last holds one step
            if lastTs != .min { heldArea += Double(last) * Double(t0 - lastTs) } else { heldStartTs = t0 }
            heldArea += (sum + Double(shift) * nb - Double(x[n - 1])) * Double(stepNs)
            lastTs = lastBlockTs; last = x[n - 1]
        }
    }
}

// MARK: - Checkpoints

/// The largest value a restored counter may hold: room to go on counting without overflowing.
let restoredCountLimit = Int.max / 2

/// A restored scalar checked against the values processing can give it, so that damaged bytes
/// are refused at restore instead of trapping later (an overflowing counter, an index outside
/// a ring).
func restoredValue<T: Comparable>(_ v: T, in range: ClosedRange<T>, _ what: String) throws(StateCodingError) -> T {
    guard range.contains(v) else { throw StateCodingError("\(what) \(v) is outside \(range)") }
    return v
}

/// Reads an enum's case tag and refuses a checkpoint made for another case (the configuration
/// changed).
func restoreCaseTag(_ r: inout StateReader, _ tag: UInt8, _ what: String) throws(StateCodingError) {
    let t = try r.read(UInt8.self)
    guard t == tag else { throw StateCodingError("\(what): the checkpoint holds case \(t) where the configuration has case \(tag)") }
}

/// `[UInt32]` tables (counts), length-prefixed like the writer's arrays.
func writeCounts(_ a: [UInt32], to w: inout StateWriter) {
    w.write(UInt32(a.count))
    for x in a { w.write(x) }
}

/// Reads a table written by `writeCounts`; its length must be `count`.
func readCounts(_ r: inout StateReader, count: Int) throws(StateCodingError) -> [UInt32] {
    let n = Int(try r.read(UInt32.self))
    guard n == count else { throw StateCodingError("an array holds \(n) values where the configuration implies \(count)") }
    var a: [UInt32] = []
    a.reserveCapacity(n)
    for _ in 0..<n { a.append(try r.read(UInt32.self)) }
    return a
}

extension WindowStats: Checkpointable {
    public func save(to w: inout StateWriter) {
        w.write(count)
        w.write(mean)
        w.write(m2)
        w.write(min)
        w.write(max)
        w.write(first)
        w.write(last)
        w.write(firstTs)
        w.write(lastTs)
        w.write(heldArea)
        w.write(heldStartTs)
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        count = try restoredValue(r.read(Int.self), in: 0...restoredCountLimit, "a window's sample count")
        mean = try r.read(Double.self)
        m2 = try r.read(Double.self)
        min = try r.read(Float.self)
        max = try r.read(Float.self)
        first = try r.read(Float.self)
        last = try r.read(Float.self)
        firstTs = try r.read(Int64.self)
        lastTs = try r.read(Int64.self)
        heldArea = try r.read(Double.self)
        heldStartTs = try r.read(Int64.self)
    }
}
