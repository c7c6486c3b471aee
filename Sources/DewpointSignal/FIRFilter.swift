import DewpointCore
import DewpointSignalAVX2
import DewpointSignalAVX512
#if canImport(Glibc)
import Glibc
#endif

/// A streaming FIR filter. `process` runs across time with `SIMD16<Float>`: 128 outputs per step
/// on CPUs with AVX-512 (8 zmm accumulators) or 64 with AVX2 (8 ymm), from a build of
/// `firSteps` for that level; then 32 per step, then 8, then one. Every output sums its taps in
/// tap order with a separate multiply and add on each of these paths, so they agree bit for bit
/// with each other and with `processScalar`, the reference.
///
/// One exception: with AVX-512 and 33 to 64 taps, `firBlocked64` sums in phases that share loads
/// (1.8× faster), which changes the last bits of the output (within 1e-6 relative of the others).
///
/// Processing a signal in blocks of any size gives the same output as processing it whole, on
/// every path: the last inputs carry over as history.
public struct FIRFilter: Sendable {
    public let taps: [Float]
    /// History (`historyCount` samples) followed by the current block.
    private var work: [Float]
    /// taps - 1, or 63 where `firBlocked64` may run (it reads 64 taps, zero-padded).
    private let historyCount: Int
    /// The taps zero-padded to 64, for `firBlocked64` (empty where it cannot run).
    private let taps64: [Float]
    /// The kernel level (`CPUFeatures.level` by default); a lower one may be chosen (tests compare
    /// them, and the benchmark reports each), a level the CPU lacks falls back to the best it has.
    public var level: SIMDLevel = CPUFeatures.level

    public init(taps: [Float]) {
        precondition(!taps.isEmpty, "an FIR filter needs at least one tap")
        self.taps = taps
        // the phase kernel's history and padded taps only where it can run
        let blocked = (33...64).contains(taps.count) && CPUFeatures.supported == .avx512
        historyCount = blocked ? 63 : taps.count - 1
        taps64 = blocked ? taps + Array(repeating: 0, count: 64 - taps.count) : []
        work = Array(repeating: 0, count: historyCount)
    }

    /// Windowed-sinc design with a Hamming window, as `scipy.signal.firwin` (cutoffs as a fraction
    /// of the Nyquist frequency; the gain is 1 at the centre of the pass band).
    public static func design(taps n: Int, _ band: PassBand) -> [Float] {
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

    /// Filters `x` into `y` (same count) across time. `x` and `y` may be the same buffer: the
    /// block is copied after the history before any output is written. (Filtering in place from
    /// the end of the block backwards, without the copy, measured no faster.)
    /// Not inlined: called once per block, and kept as one symbol so its code can be inspected
    /// (`scripts/check-simd.sh`).
    @inline(never)
    public mutating func process(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        let n = x.count
        guard n > 0 else { return }
        let lv = min(level, CPUFeatures.supported)
        work.append(contentsOf: x)
        work.withUnsafeBufferPointer { w in
            if lv == .avx512 && !taps64.isEmpty {
                taps64.withUnsafeBufferPointer { t in firBlocked64(history: w.baseAddress!, taps: t.baseAddress!, count: n, out: y.baseAddress!) }
            } else {
                let base = w.baseAddress! + (historyCount - (taps.count - 1))
                taps.withUnsafeBufferPointer { t in Self.kernel(base, t, count: n, out: y.baseAddress!, level: lv) }
            }
        }
        work.removeFirst(n)
    }

    /// `out[j] = Σ taps[k] · base[taps - 1 + j - k]` for j in 0..<count: 128 outputs per step on
    /// AVX-512 or 64 on AVX2, then 32, 8 and 1, each summing in tap order with a separate multiply
    /// and add.
    @inline(__always)
    static func kernel(_ base: UnsafePointer<Float>, _ t: UnsafeBufferPointer<Float>, count n: Int,
                       out y: UnsafeMutablePointer<Float>, level: SIMDLevel) {
        let nt = t.count
        let h = nt - 1
        let wb = UnsafeRawPointer(base)
        var i = 0
        switch level {
        case .avx512:
            i = DewpointSignalAVX512.firSteps(history: base, taps: t.baseAddress!, tapCount: nt, count: n, out: y)
        case .avx2:
            i = DewpointSignalAVX2.firSteps(history: base, taps: t.baseAddress!, tapCount: nt, count: n, out: y)
        case .baseline:
            break
        }
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
            let yb = UnsafeMutableRawPointer(y + i)
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
            UnsafeMutableRawPointer(y + i).storeBytes(of: acc, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            var acc: Float = 0
            for k in 0..<nt { acc += t[k] * base[h + i - k] }
            y[i] = acc
            i += 1
        }
    }

    /// The scalar reference: the same sums, one output at a time.
    public mutating func processScalar(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        let nt = taps.count, h = historyCount
        work.append(contentsOf: x)
        for i in 0..<x.count {
            var acc: Float = 0
            for k in 0..<nt { acc += taps[k] * work[h + i - k] }
            y[i] = acc
        }
        work.removeFirst(x.count)
    }
}

extension FIRFilter: Checkpointable {
    /// The history. Its length is `historyCount`, which depends on the CPU for 33 to 64 taps (63
    /// where `firBlocked64` may run): a checkpoint of such a filter made on a CPU of another
    /// level is refused rather than misread.
    public func save(to w: inout StateWriter) {
        w.write(work)
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        work = try r.read([Float].self, count: work.count)
    }
}
