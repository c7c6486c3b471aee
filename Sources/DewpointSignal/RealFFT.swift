#if canImport(Glibc)
import Glibc
#endif

/// Forward FFT of a real frame of `size` samples (a power of two, 16…65536), by a complex FFT
/// of `size / 2` points over the even/odd samples and one split step.
///
/// Written here rather than taken from a C library: FFTW is GPL, which this project's licence
/// cannot take in, and the vibration features need only one forward power spectrum per frame
/// (a few µs for 1024 points). The complex FFT is iterative radix-2 over split real/imaginary
/// arrays, so each butterfly stage is a contiguous loop the compiler vectorises. Twiddles are
/// computed once, in Double. Tested against numpy.fft.rfft.
public struct RealFFT: Sendable {
    public let size: Int
    private let half: Int
    private var re: [Float], im: [Float]
    /// Twiddles of the half-size FFT (cos, -sin of 2πk/half) and of the split step (2πk/size).
    private let twRe: [Float], twIm: [Float]
    private let splitRe: [Float], splitIm: [Float]
    private let bitReverse: [Int32]

    public init(size: Int) {
        precondition(size >= 16 && size <= 65536 && size & (size - 1) == 0, "the FFT size must be a power of two from 16 to 65536")
        self.size = size
        half = size / 2
        re = Array(repeating: 0, count: size / 2); im = re
        let h = size / 2
        twRe = (0..<h / 2).map { Float(cos(2 * Double.pi * Double($0) / Double(h))) }
        twIm = (0..<h / 2).map { Float(-sin(2 * Double.pi * Double($0) / Double(h))) }
        splitRe = (0...h).map { Float(cos(2 * Double.pi * Double($0) / Double(size))) }
        splitIm = (0...h).map { Float(-sin(2 * Double.pi * Double($0) / Double(size))) }
        var bits = 0
        while 1 << bits < h { bits += 1 }
        bitReverse = (0..<h).map { i in
            var r = 0, v = i
            for _ in 0..<bits { r = (r << 1) | (v & 1); v >>= 1 }
            return Int32(r)
        }
    }

    /// Writes |X_k|² for k = 0…size/2 (`size / 2 + 1` values) of the frame `x` (`size` samples).
    public mutating func powerSpectrum(_ x: UnsafePointer<Float>, into power: UnsafeMutablePointer<Float>) {
        let h = half
        re.withUnsafeMutableBufferPointer { rp in
            im.withUnsafeMutableBufferPointer { ip in
                let r = rp.baseAddress!, i = ip.baseAddress!
                for k in 0..<h {
                    let j = Int(bitReverse[k])
                    r[j] = x[2 * k]; i[j] = x[2 * k + 1]
                }
                twRe.withUnsafeBufferPointer { wr in
                    twIm.withUnsafeBufferPointer { wi in
                        Self.butterflies(r, i, h, wr.baseAddress!, wi.baseAddress!)
                    }
                }
                // split: X[k] = E[k] + W^k O[k], E = (Z[k] + conj Z[h-k]) / 2, O = (Z[k] - conj Z[h-k]) / 2i
                for k in 0...h {
                    let a = k == h ? 0 : k, b = k == 0 ? 0 : h - k
                    let zr = r[a], zi = i[a], cr = r[b], ci = -i[b]
                    let er = (zr + cr) * 0.5, ei = (zi + ci) * 0.5
                    // (z - c) / 2i = ((zi - ci) - i (zr - cr)) / 2
                    let or = (zi - ci) * 0.5, oi = -(zr - cr) * 0.5
                    let wr = splitRe[k], wi = splitIm[k]
                    let xr = er + wr * or - wi * oi, xi = ei + wr * oi + wi * or
                    power[k] = xr * xr + xi * xi
                }
            }
        }
    }

    /// In-place iterative radix-2 decimation in time (input in bit-reversed order).
    private static func butterflies(_ r: UnsafeMutablePointer<Float>, _ i: UnsafeMutablePointer<Float>, _ n: Int,
                                    _ wr: UnsafePointer<Float>, _ wi: UnsafePointer<Float>) {
        var len = 2
        while len <= n {
            let halfLen = len / 2, step = n / len
            var start = 0
            while start < n {
                for j in 0..<halfLen {
                    let tr = wr[j * step], ti = wi[j * step]
                    let p = start + j, q = p + halfLen
                    let xr = r[q] * tr - i[q] * ti
                    let xi = r[q] * ti + i[q] * tr
                    r[q] = r[p] - xr; i[q] = i[p] - xi
                    r[p] += xr; i[p] += xi
                }
                start += len
            }
            len <<= 1
        }
    }
}
