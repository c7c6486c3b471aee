import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

/// Percentiles of one channel over one window.
///
/// Up to `exactLimit` samples are kept and percentiles are exact, interpolated linearly between
/// order statistics as numpy's default. Beyond that the samples move into a relative-error
/// sketch (DDSketch, Masson et al., VLDB 2019): a value `x` counts in log bucket
/// `ceil(log_γ |x|)` with γ = (1 + α)/(1 - α), so the value reported for a rank is within
/// α = 1% (relative) of the sample at that rank. Buckets are dense counts, 1024 per sign (a
/// dynamic range of about 10^8.9 from the largest magnitude); when a window spans more, the
/// smallest magnitudes collapse into the lowest bucket, so only values 10^-8.9 times smaller than
/// the largest lose the bound. Magnitudes below 1e-30 count as 0. Memory: 512 bytes exact, plus
/// 8 KiB once the sketch is used; nothing is allocated per sample.
public struct QuantileSketch: Sendable {
    public static let exactLimit = 128
    public static let alpha = 0.01
    static let bucketsPerSign = 1024
    static let gamma = (1 + alpha) / (1 - alpha)
    static let logGamma = log(gamma)

    public private(set) var count = 0
    private var exact: [Float] = []
    /// Counts for positive values then negative ones; bucket `i` of a sign is key `offset + i`.
    private var buckets: [UInt32] = []
    private var posOffset = Int.min, negOffset = Int.min
    private var zeros = 0

    public init() { exact.reserveCapacity(Self.exactLimit) }

    public mutating func reset() {
        count = 0
        exact.removeAll(keepingCapacity: true)
        if !buckets.isEmpty { for i in buckets.indices { buckets[i] = 0 } }
        posOffset = .min; negOffset = .min; zeros = 0
    }

    /// Adds a sample; NaN is ignored.
    public mutating func add(_ x: Float) {
        if x.isNaN { return }
        count += 1
        if count <= Self.exactLimit { exact.append(x); return }
        if count == Self.exactLimit + 1 {
            if buckets.isEmpty { buckets = Array(repeating: 0, count: 2 * Self.bucketsPerSign) }
            for v in exact { insert(v) }
            exact.removeAll(keepingCapacity: true)
        }
        insert(x)
    }

    @inline(__always)
    static func key(_ m: Double) -> Int { Int((log(m) / logGamma).rounded(.up)) }

    private mutating func insert(_ x: Float) {
        // an infinity (a filter overshooting Float's range) counts as the largest finite value
        let m = Swift.min(Double(abs(x)), Double(Float.greatestFiniteMagnitude))
        if m < 1e-30 { zeros += 1; return }
        let k = Self.key(m)
        if x > 0 {
            var o = posOffset; place(k, base: 0, offset: &o); posOffset = o
        } else {
            var o = negOffset; place(k, base: Self.bucketsPerSign, offset: &o); negOffset = o
        }
    }

    /// Counts key `k` in the dense range `[offset, offset + bucketsPerSign)`, moving the range
    /// up (collapsing the smallest keys into its first bucket) when `k` is above it.
    private mutating func place(_ k: Int, base: Int, offset: inout Int) {
        let n = Self.bucketsPerSign
        // a new range ends at its first key; larger keys move it up, so it always reaches down
        // 1024 buckets from the largest magnitude seen
        if offset == .min { offset = k - n + 1 }
        if k >= offset + n {
            let shift = k - (offset + n - 1)
            var lowSum: UInt32 = 0
            for i in 0..<Swift.min(shift + 1, n) { lowSum &+= buckets[base + i] }
            if shift < n {
                for i in 0..<(n - shift) { buckets[base + i] = buckets[base + i + shift] }
                for i in (n - shift)..<n { buckets[base + i] = 0 }
                // the old bucket `shift` (now 0) keeps everything at or below it
                buckets[base] = lowSum
            } else {
                for i in 0..<n { buckets[base + i] = 0 }
                buckets[base] = lowSum
            }
            offset += shift
        }
        let i = Swift.max(0, k - offset)
        buckets[base + i] &+= 1
    }

    /// The `q`-quantile (0…1); NaN for an empty window.
    public func quantile(_ q: Double) -> Float {
        guard count > 0 else { return .nan }
        if count <= Self.exactLimit {
            let s = exact.sorted()
            let pos = q * Double(count - 1)
            let lo = Int(pos.rounded(.down)), hi = Swift.min(lo + 1, count - 1)
            let f = pos - Double(lo)
            return Float(Double(s[lo]) + (Double(s[hi]) - Double(s[lo])) * f)
        }
        // rank from the bottom: negatives from the largest magnitude down, zeros, positives up
        let rank = Int((q * Double(count - 1)).rounded(.down))
        var seen = 0
        let n = Self.bucketsPerSign
        for i in stride(from: n - 1, through: 0, by: -1) where buckets[n + i] > 0 {
            seen += Int(buckets[n + i])
            if seen > rank { return -Self.value(negOffset + i) }
        }
        seen += zeros
        if seen > rank { return 0 }
        for i in 0..<n where buckets[i] > 0 {
            seen += Int(buckets[i])
            if seen > rank { return Self.value(posOffset + i) }
        }
        return Self.value(posOffset + n - 1)
    }

    /// The representative of key `k`: within α of every value in the bucket.
    static func value(_ k: Int) -> Float { Float(2 * pow(gamma, Double(k)) / (gamma + 1)) }
}

extension QuantileSketch: Checkpointable {
    public func save(to w: inout StateWriter) {
        w.write(count)
        w.write(exact)
        writeCounts(buckets, to: &w)
        w.write(posOffset)
        w.write(negOffset)
        w.write(zeros)
    }

    /// The exact samples must number `count` (up to `exactLimit`, else none); the buckets are
    /// absent or one full table (absent only while the samples are exact); offsets stay within
    /// the keys a finite Float can have.
    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        let c = try restoredValue(r.read(Int.self), in: 0...restoredCountLimit, "a sketch's sample count")
        let e = try r.read([Float].self, count: c <= Self.exactLimit ? c : 0)
        let nb = Int(try r.read(UInt32.self))
        guard (nb == 0 && c <= Self.exactLimit) || nb == 2 * Self.bucketsPerSign else {
            throw StateCodingError("a sketch of \(c) samples holds \(nb) buckets")
        }
        var b = [UInt32](repeating: 0, count: nb)
        for i in 0..<nb { b[i] = try r.read(UInt32.self) }
        let keys = -(1 << 20)...(1 << 20)
        let po = try r.read(Int.self), no = try r.read(Int.self)
        guard po == .min || keys.contains(po), no == .min || keys.contains(no) else {
            throw StateCodingError("a sketch's bucket offsets \(po), \(no) are out of range")
        }
        let z = try restoredValue(r.read(Int.self), in: 0...restoredCountLimit, "a sketch's count of zeros")
        count = c
        exact.removeAll(keepingCapacity: true)
        exact.append(contentsOf: e)
        buckets = b
        posOffset = po
        negOffset = no
        zeros = z
    }
}
