#if canImport(Glibc)
import Glibc
#endif

/// Which optional SIMD kernels this machine can run, read once from `/proc/cpuinfo`.
///
/// The kernels use Swift's SIMD types only; the wide ones are the same kind of code compiled for
/// a newer x86_64 level (`DewpointSignalAVX512`). Linux lists a feature in `flags` only when the
/// kernel also saves its registers, so a listed feature is usable. `DEWPOINT_SIMD=baseline` in
/// the environment turns the wide kernels off (to compare, or to rule them out).
public enum CPUFeatures {
    /// AVX-512 F, CD, BW, DQ and VL, plus the older features `-target-cpu skylake-avx512` may use.
    public static let avx512: Bool = {
        #if arch(x86_64)
        if let v = getenv("DEWPOINT_SIMD"), String(cString: v) == "baseline" { return false }
        let needed = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma", "bmi1", "bmi2",
                      "f16c", "movbe", "popcnt", "abm"]
        guard let flags = cpuFlags() else { return false }
        return needed.allSatisfy(flags.contains)
        #else
        return false
        #endif
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
