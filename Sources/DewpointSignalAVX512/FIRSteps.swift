/// The FIR kernel of `DewpointSignal.FIRFilter`, compiled for a newer x86_64 level.
///
/// This one file is built twice (Package.swift): as `DewpointSignalAVX512` with
/// `-target-cpu skylake-avx512` and `FIR_STEP_128`, where `SIMD16<Float>` is one zmm register and
/// 8 accumulators give 128 outputs per step; and as `DewpointSignalAVX2` (a link to this file)
/// with `-target-cpu haswell`, where it is two ymm registers and 4 accumulators (8 registers of
/// 16) give 64 outputs per step. `FIRFilter` calls a build only after `CPUFeatures` saw its
/// features on this machine. On other architectures both compile to plain SIMD code and are never
/// called.
///
/// Every output sums `taps[k] * x[n - k]` for k = 0, 1, … with one multiply and one add per tap
/// (no fused multiply-add), exactly as the baseline kernel and the scalar reference do, so the
/// output is bit-identical whichever kernel ran.

#if FIR_STEP_128
/// Outputs per step of `firSteps`.
let firStepOutputs = 128
#else
let firStepOutputs = 64
#endif

/// Filters `firStepOutputs` outputs per step and returns how many outputs it wrote (a multiple of
/// `firStepOutputs`, at most `count`); the caller finishes the rest.
/// - Parameters:
///   - history: `taps - 1` inputs before the first output's input, then the `count` inputs.
///   - taps: `tapCount` coefficients.
///   - out: room for `count` outputs.
@inline(never)
public func firSteps(history: UnsafePointer<Float>, taps: UnsafePointer<Float>, tapCount nt: Int,
                     count n: Int, out y: UnsafeMutablePointer<Float>) -> Int {
    let h = nt - 1
    let wb = UnsafeRawPointer(history)
    var i = 0
    while i + firStepOutputs <= n {
        var a0 = SIMD16<Float>(repeating: 0), a1 = a0, a2 = a0, a3 = a0
        #if FIR_STEP_128
        var a4 = a0, a5 = a0, a6 = a0, a7 = a0
        #endif
        var k = 0
        while k < nt {
            let tk = SIMD16<Float>(repeating: taps[k])
            let o = (h + i - k) * 4
            a0 += tk * wb.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
            a1 += tk * wb.loadUnaligned(fromByteOffset: o + 64, as: SIMD16<Float>.self)
            a2 += tk * wb.loadUnaligned(fromByteOffset: o + 128, as: SIMD16<Float>.self)
            a3 += tk * wb.loadUnaligned(fromByteOffset: o + 192, as: SIMD16<Float>.self)
            #if FIR_STEP_128
            a4 += tk * wb.loadUnaligned(fromByteOffset: o + 256, as: SIMD16<Float>.self)
            a5 += tk * wb.loadUnaligned(fromByteOffset: o + 320, as: SIMD16<Float>.self)
            a6 += tk * wb.loadUnaligned(fromByteOffset: o + 384, as: SIMD16<Float>.self)
            a7 += tk * wb.loadUnaligned(fromByteOffset: o + 448, as: SIMD16<Float>.self)
            #endif
            k += 1
        }
        #if FIR_STEP_128
        store(y + i, a0, a1, a2, a3, a4, a5, a6, a7)
        #else
        store(y + i, a0, a1, a2, a3)
        #endif
        i += firStepOutputs
    }
    return i
}

/// Stores 4 accumulators of 16 outputs each at `y` (fixed arity: no array in the hot loop).
@inline(__always)
func store(_ y: UnsafeMutablePointer<Float>, _ a0: SIMD16<Float>, _ a1: SIMD16<Float>, _ a2: SIMD16<Float>, _ a3: SIMD16<Float>) {
    let yb = UnsafeMutableRawPointer(y)
    yb.storeBytes(of: a0, as: SIMD16<Float>.self)
    yb.storeBytes(of: a1, toByteOffset: 64, as: SIMD16<Float>.self)
    yb.storeBytes(of: a2, toByteOffset: 128, as: SIMD16<Float>.self)
    yb.storeBytes(of: a3, toByteOffset: 192, as: SIMD16<Float>.self)
}

/// Stores 8 accumulators of 16 outputs each at `y`.
@inline(__always)
func store(_ y: UnsafeMutablePointer<Float>, _ a0: SIMD16<Float>, _ a1: SIMD16<Float>, _ a2: SIMD16<Float>, _ a3: SIMD16<Float>,
           _ a4: SIMD16<Float>, _ a5: SIMD16<Float>, _ a6: SIMD16<Float>, _ a7: SIMD16<Float>) {
    store(y, a0, a1, a2, a3)
    store(y + 64, a4, a5, a6, a7)
}
