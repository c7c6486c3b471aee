import DewpointCore

/// Small streaming filters of one channel. Each keeps its state between calls, so processing a
/// signal in blocks of any size gives the same output as processing it whole. None allocates per
/// sample; windows live in fixed rings allocated once.

/// Box moving average over the last `length` samples. While fewer than `length` samples have been
/// seen, it averages those (no zero padding, so the start of a stream is not dragged to 0).
/// The running sum is a Double, so a long stream does not accumulate Float rounding.
public struct MovingAverage: Sendable {
    public let length: Int
    private var ring: [Float]
    private var head = 0
    private var seen = 0
    private var sum = 0.0

    public init(length: Int) {
        precondition(length >= 1)
        self.length = length
        ring = Array(repeating: 0, count: length)
    }

    public mutating func process(_ x: UnsafeMutableBufferPointer<Float>) {
        let n = length
        ring.withUnsafeMutableBufferPointer { r in
            for i in 0..<x.count {
                let v = x[i]
                if seen >= n { sum -= Double(r[head]) } else { seen += 1 }
                r[head] = v
                sum += Double(v)
                head += 1
                if head == n { head = 0 }
                x[i] = Float(sum / Double(seen))
            }
        }
    }
}

/// Slew-rate limit: each output moves at most `maxStep` (in the channel's unit) from the previous
/// output. The first sample passes unchanged.
public struct RateLimiter: Sendable {
    public let maxStep: Float
    private var last: Float = .nan

    public init(maxStep: Float) { precondition(maxStep > 0); self.maxStep = maxStep }

    public mutating func process(_ x: UnsafeMutableBufferPointer<Float>) {
        var y = last
        for i in 0..<x.count {
            let v = x[i]
            y = y.isNaN ? v : y + Swift.min(maxStep, Swift.max(-maxStep, v - y))
            x[i] = y
        }
        last = y
    }
}

/// Report by exception: a sample passes only when it differs from the last one passed by more
/// than `band`; the first sample always passes. Samples held back are removed from the block
/// (the caller counts them), so windows and detectors see only the changes.
public struct Deadband: Sendable {
    public let band: Float
    private var last: Float = .nan

    public init(band: Float) { precondition(band >= 0); self.band = band }

    /// Compacts `x` (and `positions`, the rows the samples came from) to the samples that pass;
    /// returns how many did.
    public mutating func process(_ x: UnsafeMutableBufferPointer<Float>, positions: UnsafeMutableBufferPointer<Int32>) -> Int {
        var kept = 0
        for i in 0..<x.count {
            let v = x[i]
            if last.isNaN || abs(v - last) > band {
                last = v
                x[kept] = v
                positions[kept] = positions[i]
                kept += 1
            }
        }
        return kept
    }
}

/// Running median of the last `length` samples (odd, 3–15), for despiking. Causal, so the output
/// is the median centred `(length - 1) / 2` samples back: it lags by that many samples, like any
/// causal median. The window starts filled with the first sample.
///
/// With a `threshold`, it despikes instead of smoothing: the delayed sample passes unchanged
/// unless it differs from the median by more than `threshold`, in which case the median replaces
/// it. Insertion into a sorted copy of the window is O(length), which for 15 samples beats a
/// heap.
public struct MedianFilter: Sendable {
    public let length: Int
    public let threshold: Float?
    private var ring: [Float]
    private var sorted: [Float]
    private var head = 0
    private var started = false

    public init(length: Int, threshold: Float? = nil) {
        precondition(length >= 1 && length % 2 == 1, "a median window has an odd length")
        self.length = length
        self.threshold = threshold
        ring = Array(repeating: 0, count: length)
        sorted = ring
    }

    public mutating func process(_ x: UnsafeMutableBufferPointer<Float>) {
        let n = length, half = (length - 1) / 2
        let thr = threshold
        if !started, x.count > 0 {
            started = true
            for k in 0..<n { ring[k] = x[0]; sorted[k] = x[0] }
        }
        ring.withUnsafeMutableBufferPointer { r in
            sorted.withUnsafeMutableBufferPointer { s in
                for i in 0..<x.count {
                    let v = x[i]
                    // a NaN (only from a stage before overflowing) passes and stays out of the window
                    if v.isNaN { continue }
                    let old = r[head]
                    r[head] = v
                    head += 1
                    if head == n { head = 0 }
                    // remove `old` from the sorted window, then insert `v`
                    var j = 0
                    while s[j] != old && j < n - 1 { j += 1 }
                    while j < n - 1 { s[j] = s[j + 1]; j += 1 }
                    var k = n - 1
                    while k > 0 && s[k - 1] > v { s[k] = s[k - 1]; k -= 1 }
                    s[k] = v
                    let med = s[half]
                    if let thr {
                        // the sample at the window's centre (the oldest is at `head`)
                        var c = head + half
                        if c >= n { c -= n }
                        let centre = r[c]
                        x[i] = abs(centre - med) > thr ? med : centre
                    } else {
                        x[i] = med
                    }
                }
            }
        }
    }
}

extension MovingAverage: Checkpointable {
    public func save(to w: inout StateWriter) {
        w.write(ring)
        w.write(head)
        w.write(seen)
        w.write(sum)
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        let values = try r.read([Float].self, count: length)
        let h = try restoredValue(r.read(Int.self), in: 0...(length - 1), "a moving average's ring position")
        let s = try restoredValue(r.read(Int.self), in: 0...length, "a moving average's sample count")
        ring = values
        head = h
        seen = s
        sum = try r.read(Double.self)
    }
}

extension RateLimiter: Checkpointable {
    public func save(to w: inout StateWriter) { w.write(last) }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        last = try r.read(Float.self)
    }
}

extension Deadband: Checkpointable {
    public func save(to w: inout StateWriter) { w.write(last) }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        last = try r.read(Float.self)
    }
}

extension MedianFilter: Checkpointable {
    public func save(to w: inout StateWriter) {
        w.write(ring)
        w.write(sorted)
        w.write(head)
        w.write(started)
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        let values = try r.read([Float].self, count: length)
        let s = try r.read([Float].self, count: length)
        let h = try restoredValue(r.read(Int.self), in: 0...(length - 1), "a median's ring position")
        let st = try r.read(Bool.self)
        // the sorted copy must hold the window's values: a damaged one would give wrong medians
        guard s == values.sorted() else { throw StateCodingError("a median's sorted copy does not hold its window") }
        ring = values
        sorted = s
        head = h
        started = st
    }
}
