#if canImport(Glibc)
import Glibc
#endif

/// The instruction-set levels the optional kernels are built for, lowest first.
public enum SIMDLevel: Int, Sendable, Comparable, CaseIterable {
    /// What every CPU of the architecture runs (SSE2 on x86_64, NEON on aarch64).
    case baseline
    /// x86_64 with AVX2 (the kernel built with `-target-cpu haswell`).
    case avx2
    /// x86_64 with AVX-512 F/CD/BW/DQ/VL (the kernel built with `-target-cpu skylake-avx512`).
    case avx512

    public var name: String { ["baseline", "avx2", "avx512"][rawValue] }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// Which optional SIMD kernels this machine can run, read once from `/proc/cpuinfo`.
///
/// The kernels use Swift's SIMD types only; the wide ones are the same code compiled for a newer
/// x86_64 level (`DewpointSignalAVX2`, `DewpointSignalAVX512`). Linux lists a feature in `flags`
/// only when the kernel also saves its registers, so a listed feature is usable.
/// `DEWPOINT_SIMD=baseline` (or `avx2`) in the environment caps the level, to compare kernels or
/// to rule one out.
public enum CPUFeatures {
    /// The highest level this CPU supports.
    public static let supported: SIMDLevel = {
        #if arch(x86_64)
        guard let flags = cpuFlags() else { return .baseline }
        // everything -target-cpu haswell may use, then what skylake-avx512 adds
        let haswell = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "popcnt", "abm"]
        let skylakeAVX512 = haswell + ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        if skylakeAVX512.allSatisfy(flags.contains) { return .avx512 }
        if haswell.allSatisfy(flags.contains) { return .avx2 }
        #endif
        return .baseline
    }()

    /// The level the kernels use: `supported`, capped by `DEWPOINT_SIMD`.
    public static let level: SIMDLevel = {
        guard let v = getenv("DEWPOINT_SIMD"), let cap = SIMDLevel.allCases.first(where: { $0.name == String(cString: v) }) else {
            return supported
        }
        return min(cap, supported)
    }()

    /// The `flags` line of the first processor in /proc/cpuinfo.
    static func cpuFlags() -> Set<String>? {
        guard let f = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 8192)
        while fgets(&line, Int32(line.count), f) != nil {
            let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard s.hasPrefix("flags") else { continue }
            guard let colon = s.firstIndex(of: ":") else { return nil }
            return Set(s[s.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        }
        return nil
    }
}
