#if canImport(Glibc)
import Glibc
#endif

/// A streaming FIR filter. `process` runs across time with `SIMD16<Float>` (32 outputs per
/// step, one tap at a time, then 8 per step for the rest of a block); every output sums its taps
/// in the same order on every path, so block boundaries do not change a bit; `processScalar` is the reference. Processing a signal in blocks of
/// any size gives the same output as processing it whole: the last `taps - 1` inputs carry over.
public struct FIRFilter: Sendable {
    public let taps: [Float]
    /// History (taps - 1 samples) followed by the current block.
    private var work: [Float]

    public init(taps: [Float]) {
        precondition(!taps.isEmpty, "an FIR filter needs at least one tap")
        self.taps = taps
        work = Array(repeating: 0, count: taps.count - 1)
    }

    public enum Band: Sendable, Equatable {
        case lowpass(Double), highpass(Double), bandpass(Double, Double)
    }

    /// Windowed-sinc design with a Hamming window, as `scipy.signal.firwin` (cutoffs as a fraction
    /// of the Nyquist frequency; the gain is 1 at the centre of the pass band).
    public static func design(taps n: Int, _ band: Band) -> [Float] {
        precondition(n > 0)
        let bands: [(Double, Double)]
        let scaleAt: Double
        switch band {
        case .lowpass(let c): bands = [(0, c)]; scaleAt = 0
        case .highpass(let c): bands = [(c, 1)]; scaleAt = 1
        case .bandpass(let a, let b): bands = [(a, b)]; scaleAt = (a + b) / 2
        }
        func sinc(_ x: Double) -> Double { x == 0 ? 1 : sin(Double.pi * x) / (Double.pi * x) }
        let alpha = Double(n - 1) / 2
        var h = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let m = Double(i) - alpha
            for (l, r) in bands { h[i] += r * sinc(r * m) - l * sinc(l * m) }
            let w = n == 1 ? 1 : 0.54 - 0.46 * cos(2 * Double.pi * Double(i) / Double(n - 1))
            h[i] *= w
        }
        var s = 0.0
        for i in 0..<n { s += h[i] * cos(Double.pi * (Double(i) - alpha) * scaleAt) }
        return h.map { Float($0 / s) }
    }

    /// Filters `x` into `y` (same count) with `SIMD8<Float>` across time.
    /// Not inlined: called once per block, and kept as one symbol so its code can be inspected
    /// (`scripts/check-simd.sh`).
    @inline(never)
    public mutating func process(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        let nt = taps.count
        let h = nt - 1
        let n = x.count
        work.append(contentsOf: x)
        work.withUnsafeBufferPointer { w in
            taps.withUnsafeBufferPointer { t in
                let wb = UnsafeRawPointer(w.baseAddress!)
                var i = 0
                // 32 outputs per step in two SIMD16 accumulators (8 SSE or 4 NEON registers of
                // independent sums, one broadcast tap shared): 1.6× the 8-wide loop on x86
                while i + 32 <= n {
                    var a = SIMD16<Float>(repeating: 0), b = SIMD16<Float>(repeating: 0)
                    var k = 0
                    while k < nt {
                        let tk = SIMD16<Float>(repeating: t[k])
                        a += tk * wb.loadUnaligned(fromByteOffset: (h + i - k) * 4, as: SIMD16<Float>.self)
                        b += tk * wb.loadUnaligned(fromByteOffset: (h + i + 16 - k) * 4, as: SIMD16<Float>.self)
                        k += 1
                    }
                    let yb = UnsafeMutableRawPointer(y.baseAddress! + i)
                    yb.storeBytes(of: a, as: SIMD16<Float>.self)
                    yb.storeBytes(of: b, toByteOffset: 64, as: SIMD16<Float>.self)
                    i += 32
                }
                while i + 8 <= n {
                    var acc = SIMD8<Float>(repeating: 0)
                    var k = 0
                    while k < nt {
                        let v = wb.loadUnaligned(fromByteOffset: (h + i - k) * 4, as: SIMD8<Float>.self)
                        acc += SIMD8<Float>(repeating: t[k]) * v
                        k += 1
                    }
                    UnsafeMutableRawPointer(y.baseAddress! + i).storeBytes(of: acc, as: SIMD8<Float>.self)
                    i += 8
                }
                while i < n {
                    var acc: Float = 0
                    for k in 0..<nt { acc += t[k] * w[h + i - k] }
                    y[i] = acc
                    i += 1
                }
            }
        }
        work.removeFirst(n)
    }

    /// The scalar reference: the same sums, one output at a time.
    public mutating func processScalar(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        let nt = taps.count, h = nt - 1
        work.append(contentsOf: x)
        for i in 0..<x.count {
            var acc: Float = 0
            for k in 0..<nt { acc += taps[k] * work[h + i - k] }
            y[i] = acc
        }
        work.removeFirst(x.count)
    }
}
