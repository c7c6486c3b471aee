import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

/// Second-order sections `[b0, b1, b2, a0, a1, a2]` (a0 = 1), as `scipy.signal.sosfilt` takes.
public struct SOSCoefficients: Sendable, Equatable {
    public var sections: [[Double]]
    public init(sections: [[Double]]) { self.sections = sections }

    /// Butterworth design by the bilinear transform with prewarping, as `scipy.signal.butter`
    /// (cutoffs as a fraction of Nyquist). Sections may be paired and scaled differently from
    /// scipy's; the cascade's response is the same.
    public static func butterworth(order n: Int, _ band: PassBand) -> SOSCoefficients {
        precondition(n >= 1)
        struct C { var re: Double; var im: Double }
        func add(_ a: C, _ b: C) -> C { C(re: a.re + b.re, im: a.im + b.im) }
        func sub(_ a: C, _ b: C) -> C { C(re: a.re - b.re, im: a.im - b.im) }
        func mul(_ a: C, _ b: C) -> C { C(re: a.re * b.re - a.im * b.im, im: a.re * b.im + a.im * b.re) }
        func div(_ a: C, _ b: C) -> C { let d = b.re * b.re + b.im * b.im; return C(re: (a.re * b.re + a.im * b.im) / d, im: (a.im * b.re - a.re * b.im) / d) }
        func sqrtC(_ a: C) -> C { let r = (a.re * a.re + a.im * a.im).squareRoot(); return C(re: ((r + a.re) / 2).squareRoot(), im: (a.im < 0 ? -1 : 1) * ((r - a.re) / 2).squareRoot()) }
        let fs2 = 4.0  // 2 * fs with fs = 2 (normalised to Nyquist)
        func warp(_ w: Double) -> Double { fs2 * tan(Double.pi * w / 2) }
        // analog prototype poles
        let proto = (0..<n).map { k -> C in
            let theta = Double.pi * Double(2 * k + n + 1) / Double(2 * n)
            return C(re: cos(theta), im: sin(theta))
        }
        var analog: [C] = []
        var numerator: [Double]  // per second-order section, in z^-1
        var ref: Double  // normalised frequency where the gain is 1
        switch band {
        case .lowpass(let c):
            let wo = warp(c)
            analog = proto.map { C(re: $0.re * wo, im: $0.im * wo) }
            numerator = [1, 2, 1]; ref = 0
        case .highpass(let c):
            let wo = warp(c)
            analog = proto.map { div(C(re: wo, im: 0), $0) }
            numerator = [1, -2, 1]; ref = 1
        case .bandpass(let a, let b):
            let w1 = warp(a), w2 = warp(b)
            let bw = w2 - w1, wo = (w1 * w2).squareRoot()
            for p in proto {
                let half = C(re: p.re * bw / 2, im: p.im * bw / 2)
                let root = sqrtC(sub(mul(half, half), C(re: wo * wo, im: 0)))
                analog.append(add(half, root))
                analog.append(sub(half, root))
            }
            numerator = [1, 0, -1]
            ref = 2 * atan(wo / fs2) / Double.pi
        }
        // bilinear transform
        let digital = analog.map { div(add(C(re: fs2, im: 0), $0), sub(C(re: fs2, im: 0), $0)) }
        // pair conjugates: take poles with im > 0 (and reals, paired among themselves)
        var sections: [[Double]] = []
        var reals: [Double] = []
        for p in digital where p.im > 1e-12 { sections.append([1, -2 * p.re, p.re * p.re + p.im * p.im]) }
        for p in digital where abs(p.im) <= 1e-12 { reals.append(p.re) }
        while reals.count >= 2 { let a = reals.removeLast(), b = reals.removeLast(); sections.append([1, -(a + b), a * b]) }
        var sos: [[Double]] = sections.map { numerator + $0 }
        if let r = reals.first {
            // an odd order: one first-order section
            let num: [Double] = ref == 0 ? [1, 1, 0] : ref == 1 ? [1, -1, 0] : [1, 0, -1]
            sos.append(num + [1, -r, 0])
        }
        // scale the first section so that |H| = 1 at the reference frequency
        let w = Double.pi * ref
        var gain = 1.0
        for s in sos {
            let z1 = C(re: cos(-w), im: sin(-w)), z2 = C(re: cos(-2 * w), im: sin(-2 * w))
            let num = add(add(C(re: s[0], im: 0), mul(C(re: s[1], im: 0), z1)), mul(C(re: s[2], im: 0), z2))
            let den = add(add(C(re: s[3], im: 0), mul(C(re: s[4], im: 0), z1)), mul(C(re: s[5], im: 0), z2))
            let h = div(num, den)
            gain *= (h.re * h.re + h.im * h.im).squareRoot()
        }
        for k in 0..<3 { sos[0][k] /= gain }
        return SOSCoefficients(sections: sos)
    }
}

/// The Float coefficients of a cascade (normalised by a0), shared by the one-channel and 8-lane
/// cascades.
struct BiquadSections: Sendable {
    let b0: [Float], b1: [Float], b2: [Float], a1: [Float], a2: [Float]

    init(_ c: SOSCoefficients) {
        b0 = c.sections.map { Float($0[0] / $0[3]) }; b1 = c.sections.map { Float($0[1] / $0[3]) }
        b2 = c.sections.map { Float($0[2] / $0[3]) }; a1 = c.sections.map { Float($0[4] / $0[3]) }
        a2 = c.sections.map { Float($0[5] / $0[3]) }
    }

    var count: Int { b0.count }

    /// One sample through section `s` (direct form II transposed). The 8-lane cascade steps a
    /// single lane with this too, so that both give the same bits.
    @inline(__always)
    func section(_ s: Int, _ v: Float, _ z1: inout Float, _ z2: inout Float) -> Float {
        let out = b0[s] * v + z1
        z1 = b1[s] * v - a1[s] * out + z2
        z2 = b2[s] * v - a2[s] * out
        return out
    }
}

/// A biquad cascade (direct form II transposed) for one channel; Float state, streaming.
public struct BiquadCascade: Sendable {
    let c: BiquadSections
    var z1: [Float], z2: [Float]

    public init(_ c: SOSCoefficients) {
        self.c = BiquadSections(c)
        z1 = Array(repeating: 0, count: c.sections.count); z2 = z1
    }

    public mutating func process(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<x.count {
            var v = x[i]
            for s in 0..<c.count { v = c.section(s, v, &z1[s], &z2[s]) }
            y[i] = v
        }
    }
}

/// The same cascade over 8 channels at once, one channel per lane of `SIMD8<Float>` (many slow
/// channels of one device filtered together).
public struct BiquadCascade8: Sendable {
    let c: BiquadSections
    var z1: [SIMD8<Float>], z2: [SIMD8<Float>]

    public init(_ c: SOSCoefficients) {
        self.c = BiquadSections(c)
        z1 = Array(repeating: .zero, count: c.sections.count); z2 = z1
    }

    /// One sample of one lane, leaving the other lanes' state alone: for a row where some of
    /// the channels have no sample. The arithmetic is the vector path's, lane by lane, so a lane
    /// gives the same output whichever path its samples take.
    public mutating func step(lane: Int, _ x: Float) -> Float {
        var v = x
        for s in 0..<c.count { v = c.section(s, v, &z1[s][lane], &z2[s][lane]) }
        return v
    }

    /// `x` and `y` hold `count` frames of 8 channels, channel-interleaved.
    public mutating func process(_ x: UnsafePointer<SIMD8<Float>>, into y: UnsafeMutablePointer<SIMD8<Float>>, count: Int) {
        let b0 = c.b0, b1 = c.b1, b2 = c.b2, a1 = c.a1, a2 = c.a2
        for i in 0..<count {
            var v = x[i]
            for s in 0..<b0.count {
                let out = b0[s] * v + z1[s]
                z1[s] = b1[s] * v - a1[s] * out + z2[s]
                z2[s] = b2[s] * v - a2[s] * out
                v = out
            }
            y[i] = v
        }
    }
}

// `BiquadSections` holds only coefficients (from the configuration): no state to checkpoint.

extension BiquadCascade: Checkpointable {
    public func save(to w: inout StateWriter) {
        w.write(z1)
        w.write(z2)
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        let a = try r.read([Float].self, count: c.count)
        let b = try r.read([Float].self, count: c.count)
        z1 = a
        z2 = b
    }
}

extension BiquadCascade8: Checkpointable {
    public func save(to w: inout StateWriter) {
        Self.writeLanes(z1, to: &w)
        Self.writeLanes(z2, to: &w)
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        let a = try Self.readLanes(&r, count: c.count)
        let b = try Self.readLanes(&r, count: c.count)
        z1 = a
        z2 = b
    }

    private static func writeLanes(_ a: [SIMD8<Float>], to w: inout StateWriter) {
        w.write(UInt32(a.count))
        for v in a { w.write(v) }
    }

    private static func readLanes(_ r: inout StateReader, count: Int) throws(StateCodingError) -> [SIMD8<Float>] {
        let n = Int(try r.read(UInt32.self))
        guard n == count else { throw StateCodingError("a cascade holds \(n) sections where the configuration implies \(count)") }
        var a: [SIMD8<Float>] = []
        a.reserveCapacity(n)
        for _ in 0..<n { a.append(try r.read(SIMD8<Float>.self)) }
        return a
    }
}
