import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

/// Robust z-score: distance from the median of the last `window` samples in units of their
/// median absolute deviation (scaled by 1.4826 to match σ for normal data). Spikes do not
/// inflate the scale as they do a standard deviation. When more than half the window is one
/// value (the MAD is 0), the mean absolute deviation stands in. The window is kept sorted (the
/// place found by binary search, then one move of the elements after it); the MAD is found by a
/// binary selection over the two sorted runs of deviations either side of the median, in
/// O(log window) steps (`kthDeviation`).
/// State: 16 bytes per sample of window plus 48.
public struct MADScorer: Sendable {
    public let window: Int
    private var ring: [Double]
    private var sorted: [Double]
    private var head = 0
    private var count = 0
    public private(set) var lastMedian = 0.0
    public private(set) var lastSigmas = 0.0

    public init(window: Int) {
        self.window = max(3, window)
        ring = Array(repeating: 0, count: self.window)
        sorted = []
        sorted.reserveCapacity(self.window)
    }

    public var stateBytes: Int { 16 * window + 48 }

    /// Non-finite values score 0 and leave the window alone.
    public mutating func score(_ x: Double) -> Double {
        guard x.isFinite else { return 0 }
        var s = 0.0
        let n = sorted.count
        if count >= 3 {
            let (med, scale) = sorted.withUnsafeBufferPointer { MADScorer.medianAndScale($0) }
            let z = scale > 0 ? abs(x - med) / scale : (x == med ? 0 : 50)
            lastMedian = med; lastSigmas = z
            s = 1 - AnomalyScorer.tail(z)
        }
        // slide the window: the sorted copy is kept by binary search and one shift each way
        let old = ring[head]
        let full = count == window
        if !full { count += 1 }
        ring[head] = x
        head = head + 1 == window ? 0 : head + 1
        if full {
            sorted.withUnsafeMutableBufferPointer { b in
                let i = MADScorer.lowerBound(b, n, old)
                let j = MADScorer.lowerBound(b, n, x)
                // remove old at i and insert x: shift the values between them by one
                if j > i {
                    let k = j - 1
                    (b.baseAddress! + i).update(from: b.baseAddress! + i + 1, count: k - i)
                    b[k] = x
                } else {
                    (b.baseAddress! + j + 1).update(from: b.baseAddress! + j, count: i - j)
                    b[j] = x
                }
            }
        } else {
            sorted.append(x)
            sorted.withUnsafeMutableBufferPointer { b in
                let j = MADScorer.lowerBound(b, n, x)
                (b.baseAddress! + j + 1).update(from: b.baseAddress! + j, count: n - j)
                b[j] = x
            }
        }
        return s
    }

    /// The first index in `b[0..<n]` whose value is not below `v`.
    @inline(__always)
    static func lowerBound(_ b: UnsafeMutableBufferPointer<Double>, _ n: Int, _ v: Double) -> Int {
        var lo = 0, hi = n
        while lo < hi {
            let mid = (lo + hi) >> 1
            if b[mid] < v { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The `k`-th smallest (from 1) of |v - med| over the sorted window `b`, whose median is `med`:
    /// A(i) = med - b[n/2 - 1 - i] and B(j) = b[n/2 + j] - med are both ascending; the answer
    /// takes the first i of A and k - i of B for the smallest i with A(i) ≥ B(k - i - 1).
    @inline(__always)
    static func kthDeviation(_ b: UnsafeBufferPointer<Double>, _ med: Double, _ k: Int) -> Double {
        let n = b.count, na = n / 2, nb = n - n / 2
        var lo = Swift.max(0, k - nb), hi = Swift.min(k, na)
        while lo < hi {
            let i = (lo + hi) >> 1
            if med - b[na - 1 - i] < b[na + k - i - 1] - med { lo = i + 1 } else { hi = i }
        }
        let j = k - lo
        let a = lo > 0 ? med - b[na - lo] : -Double.infinity
        let c = j > 0 ? b[na + j - 1] - med : -Double.infinity
        return Swift.max(a, c)
    }

    /// Median and robust scale (1.4826 × the median absolute deviation) of a sorted window.
    static func medianAndScale(_ b: UnsafeBufferPointer<Double>) -> (Double, Double) {
        let n = b.count
        let med = n % 2 == 1 ? b[n / 2] : (b[n / 2 - 1] + b[n / 2]) / 2
        // the median of |v - med|: the deviations left of the median, read outward, and those
        // from it rightward are two sorted runs; select from both by binary search (log n steps,
        // where merging outward took n/2 unpredictable branches). For an even count, the mean of
        // the two middle deviations.
        let k = n / 2 + 1
        var d = kthDeviation(b, med, k)
        if n % 2 == 0 { d = (d + kthDeviation(b, med, k - 1)) / 2 }
        var scale = 1.4826 * d
        if scale == 0 {
            // more than half the window equal (quantised data): fall back to the mean absolute
            // deviation, scaled to σ for normal data
            var sum = 0.0
            for v in b { sum += abs(v - med) }
            scale = 1.2533 * sum / Double(n)
        }
        return (med, scale)
    }
}

/// Two-sided CUSUM for level shifts, on values standardised by a slow EWMA mean and variance
/// (α = 0.005 by default). S⁺ and S⁻ accumulate deviations beyond `k` σ; the score is
/// S / (S + h), so it crosses 0.5 when a sum reaches `h` (the classic k = 0.5, h = 5). A
/// sum restarts from 0 once it has crossed h, so a persistent shift alerts once and the slow
/// mean then learns the new level. State: 48 bytes.
public struct CUSUMScorer: Sendable {
    public let k: Double, h: Double, alpha: Double
    public private(set) var mean = 0.0, variance = 0.0
    private var seen = 0
    public private(set) var up = 0.0, down = 0.0

    public init(k: Double = 0.5, h: Double = 5, alpha: Double = 0.005) { self.k = k; self.h = h; self.alpha = alpha }

    public mutating func score(_ x: Double) -> Double {
        var s = 0.0
        if seen >= 30 {
            let sd = variance.squareRoot()
            let z = sd > 0 ? (x - mean) / sd : 0
            up = max(0, up + z - k)
            down = max(0, down - z - k)
            let m = max(up, down)
            s = m / (m + h)
            if up > h { up = 0 }
            if down > h { down = 0 }
        }
        AnomalyScorer.ewmUpdate(x, alpha: alpha, seen: seen, mean: &mean, variance: &variance)
        seen += 1
        return s
    }
}

/// Seasonal z-score for daily cycles: an EWMA mean and variance per 30-minute bin of the UTC
/// time of day, so 30 °C at 3 am can be anomalous while 30 °C at 3 pm is not. A bin scores
/// after it has seen 3 samples. State: 48 bins × 20 bytes.
public struct SeasonalScorer: Sendable {
    public static let bins = 48
    public let alpha: Double
    private var mean: [Double], variance: [Double], count: [UInt32]
    public private(set) var lastMean = 0.0
    public private(set) var lastSigmas = 0.0

    public init(alpha: Double = 0.1) {
        self.alpha = alpha
        mean = Array(repeating: 0, count: Self.bins); variance = mean
        count = Array(repeating: 0, count: Self.bins)
    }

    public static let stateBytes = bins * 20 + 24

    public mutating func score(_ x: Double, tsNs: Int64) -> Double {
        let b = NoveltyDetector.timeOfDayBin(tsNs, bins: Self.bins)
        var s = 0.0
        if count[b] >= 3 {
            let sd = variance[b].squareRoot()
            let z = sd > 0 ? abs(x - mean[b]) / sd : (x == mean[b] ? 0 : 50)
            lastMean = mean[b]; lastSigmas = z
            s = 1 - AnomalyScorer.tail(z)
        }
        AnomalyScorer.ewmUpdate(x, alpha: alpha, seen: Int(count[b]), mean: &mean[b], variance: &variance[b])
        if count[b] < .max { count[b] += 1 }
        return s
    }
}

extension MADScorer: Checkpointable {
    public func save(to w: inout StateWriter) {
        w.write(ring)
        w.write(sorted)
        w.write(head)
        w.write(count)
        w.write(lastMedian)
        w.write(lastSigmas)
    }

    /// The sorted copy must be the window's values in order (finite), and the position must be
    /// where the window fills: `score` finds a leaving value in the sorted copy by binary search
    /// and moves memory without bounds checks, so a copy that disagrees with the ring is refused.
    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        let values = try r.read([Double].self, count: window)
        let s = try r.read([Double].self, max: window)
        let h = try restoredValue(r.read(Int.self), in: 0...(window - 1), "a MAD window's position")
        let c = try restoredValue(r.read(Int.self), in: 0...window, "a MAD window's count")
        guard s.count == c else { throw StateCodingError("a MAD window of \(c) values has a sorted copy of \(s.count)") }
        let median = try r.read(Double.self)
        let sigmas = try r.read(Double.self)
        guard c == window || h == c else { throw StateCodingError("a MAD window of \(c) values is at \(h)") }
        guard s.allSatisfy({ $0.isFinite }), values[0..<c].sorted() == s else {
            throw StateCodingError("a MAD window's sorted copy does not hold its values")
        }
        ring = values
        sorted.removeAll(keepingCapacity: true)
        sorted.append(contentsOf: s)
        head = h
        count = c
        lastMedian = median
        lastSigmas = sigmas
    }
}

extension CUSUMScorer: Checkpointable {
    public func save(to w: inout StateWriter) {
        w.write(mean)
        w.write(variance)
        w.write(seen)
        w.write(up)
        w.write(down)
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        mean = try r.read(Double.self)
        variance = try r.read(Double.self)
        seen = try restoredValue(r.read(Int.self), in: 0...restoredCountLimit, "a CUSUM's sample count")
        up = try r.read(Double.self)
        down = try r.read(Double.self)
    }
}

extension SeasonalScorer: Checkpointable {
    public func save(to w: inout StateWriter) {
        w.write(mean)
        w.write(variance)
        writeCounts(count, to: &w)
        w.write(lastMean)
        w.write(lastSigmas)
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        let m = try r.read([Double].self, count: mean.count)
        let v = try r.read([Double].self, count: variance.count)
        let c = try readCounts(&r, count: count.count)
        mean = m
        variance = v
        count = c
        lastMean = try r.read(Double.self)
        lastSigmas = try r.read(Double.self)
    }
}
