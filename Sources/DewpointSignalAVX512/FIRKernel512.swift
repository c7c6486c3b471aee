/// The FIR kernel of `DewpointSignal.FIRFilter` for x86_64 CPUs with AVX-512 (F, BW, DQ, VL).
///
/// This module is compiled with `-target-cpu skylake-avx512` on x86_64 (see Package.swift), so
/// `SIMD16<Float>` is one zmm register and the 8 accumulators below use 8 of its 32. Only
/// `FIRFilter` calls it, and only after `CPUFeatures` saw AVX-512 on this machine. On other
/// architectures it compiles to the plain SIMD code and is never called.
///
/// Every output sums `taps[k] * x[n - k]` for k = 0, 1, … with one multiply and one add per tap
/// (no fused multiply-add), exactly as the baseline kernel and the scalar reference do, so the
/// output is bit-identical whichever kernel ran.

/// Filters 128 outputs per step and returns how many outputs it wrote (a multiple of 128, at
/// most `count`); the caller finishes the rest.
/// - Parameters:
///   - history: `taps - 1` inputs before the first output's input, then the `count` inputs.
///   - taps: `tapCount` coefficients.
///   - out: room for `count` outputs.
@inline(never)
public func firSteps128(history: UnsafePointer<Float>, taps: UnsafePointer<Float>, tapCount nt: Int,
                        count n: Int, out y: UnsafeMutablePointer<Float>) -> Int {
    let h = nt - 1
    let wb = UnsafeRawPointer(history)
    var i = 0
    while i + 128 <= n {
        var a0 = SIMD16<Float>(repeating: 0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        var k = 0
        while k < nt {
            let tk = SIMD16<Float>(repeating: taps[k])
            let o = (h + i - k) * 4
            a0 += tk * wb.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
            a1 += tk * wb.loadUnaligned(fromByteOffset: o + 64, as: SIMD16<Float>.self)
            a2 += tk * wb.loadUnaligned(fromByteOffset: o + 128, as: SIMD16<Float>.self)
            a3 += tk * wb.loadUnaligned(fromByteOffset: o + 192, as: SIMD16<Float>.self)
            a4 += tk * wb.loadUnaligned(fromByteOffset: o + 256, as: SIMD16<Float>.self)
            a5 += tk * wb.loadUnaligned(fromByteOffset: o + 320, as: SIMD16<Float>.self)
            a6 += tk * wb.loadUnaligned(fromByteOffset: o + 384, as: SIMD16<Float>.self)
            a7 += tk * wb.loadUnaligned(fromByteOffset: o + 448, as: SIMD16<Float>.self)
            k += 1
        }
        let yb = UnsafeMutableRawPointer(y + i)
        yb.storeBytes(of: a0, as: SIMD16<Float>.self)
        yb.storeBytes(of: a1, toByteOffset: 64, as: SIMD16<Float>.self)
        yb.storeBytes(of: a2, toByteOffset: 128, as: SIMD16<Float>.self)
        yb.storeBytes(of: a3, toByteOffset: 192, as: SIMD16<Float>.self)
        yb.storeBytes(of: a4, toByteOffset: 256, as: SIMD16<Float>.self)
        yb.storeBytes(of: a5, toByteOffset: 320, as: SIMD16<Float>.self)
        yb.storeBytes(of: a6, toByteOffset: 384, as: SIMD16<Float>.self)
        yb.storeBytes(of: a7, toByteOffset: 448, as: SIMD16<Float>.self)
        i += 128
    }
    return i
}
