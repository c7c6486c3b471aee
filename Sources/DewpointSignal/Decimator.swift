import DewpointCore

/// Decimation by `factor` with an anti-alias FIR, as `scipy.signal.decimate(x, q, ftype="fir",
/// zero_phase=False)`: a Hamming-windowed low pass of `20 q + 1` taps at 1/q of Nyquist, keeping
/// outputs 0, q, 2q, … of the stream. Polyphase in effect: only the kept outputs are computed, so
/// the cost per input sample is taps / q multiply-adds. The dot product runs across time in
/// `SIMD8<Float>` over the reversed taps.
public struct Decimator: Sendable {
    public let factor: Int
    /// Taps reversed, padded with zeros to a multiple of 8.
    private let reversed: [Float]
    private let tapCount: Int
    /// The last `tapCount - 1` inputs, then the current block.
    private var work: [Float]
    /// Inputs until the next kept output (0: the next input's output is kept).
    private var phase = 0

    public init(factor: Int, taps: [Float]? = nil) {
        precondition(factor >= 2)
        self.factor = factor
        let h = taps ?? FIRFilter.design(taps: 20 * factor + 1, .lowpass(1 / Double(factor)))
        tapCount = h.count
        var r = Array(h.reversed())
        while r.count % 8 != 0 { r.append(0) }
        reversed = r
        work = Array(repeating: 0, count: h.count - 1)
    }

    /// Replaces `x` with the kept outputs (and `positions` with the rows they stand for); returns
    /// how many were kept.
    public mutating func process(_ x: UnsafeMutableBufferPointer<Float>, positions: UnsafeMutableBufferPointer<Int32>) -> Int {
        let n = x.count
        let padded = reversed.count
        work.append(contentsOf: x)
        // room for the zero-padded tail of the last dot product
        work.append(contentsOf: repeatElement(0, count: padded - tapCount))
        var kept = 0
        work.withUnsafeBufferPointer { w in
            reversed.withUnsafeBufferPointer { t in
                let wb = UnsafeRawPointer(w.baseAddress!), tb = UnsafeRawPointer(t.baseAddress!)
                var i = phase
                while i < n {
                    // output i = Σ_k h[k]·x[i-k] = Σ_j reversed[j]·work[i + j]
                    var acc = SIMD8<Float>(repeating: 0)
                    var j = 0
                    while j < padded {
                        acc += tb.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
                            * wb.loadUnaligned(fromByteOffset: (i + j) * 4, as: SIMD8<Float>.self)
                        j += 8
                    }
                    x[kept] = acc.sum()
                    positions[kept] = positions[i]
                    kept += 1
                    i += factor
                }
                phase = i - n
            }
        }
        work.removeLast(padded - tapCount)
        work.removeFirst(n)
        return kept
    }

    /// The scalar reference: every output computed, one in `factor` kept.
    public static func reference(_ x: [Float], factor: Int) -> [Float] {
        let h = FIRFilter.design(taps: 20 * factor + 1, .lowpass(1 / Double(factor)))
        var out: [Float] = []
        var i = 0
        while i < x.count {
            var acc: Float = 0
            for k in 0..<h.count where i - k >= 0 { acc += h[k] * x[i - k] }
            out.append(acc)
            i += factor
        }
        return out
    }
}

extension Decimator: Checkpointable {
    public func save(to w: inout StateWriter) {
        w.write(work)
        w.write(phase)
    }

    /// The phase is checked too: `process` reads from `phase` on without a bounds check.
    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        let history = try r.read([Float].self, count: tapCount - 1)
        let p = try restoredValue(r.read(Int.self), in: 0...(factor - 1), "a decimator's phase")
        work = history
        phase = p
    }
}
