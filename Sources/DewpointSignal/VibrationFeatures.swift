import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

/// Vibration features of one fast channel over one window: moments for RMS, peak, peak-to-peak,
/// crest factor, kurtosis and skewness, and band energies from Hann-windowed FFT frames.
///
/// Samples fill frames of `fftSize` in arrival order; each full frame adds its one-sided power
/// spectrum to the band sums. A band's energy is the mean square of the signal in that band
/// (unit²): for a sine of amplitude A inside the band it is A²/2. It is averaged over the
/// window's whole frames; samples of an unfinished frame at window close count in the moments
/// but not in the bands, and `frames` says how many frames the bands stand for.
///
/// Moments are power sums of `x - shift` in Double, with `shift` the window's first sample, so
/// an offset does not cancel the small central moments.
public struct VibrationAccumulator: Sendable {
    public struct Config: Sendable, Equatable {
        public var fftSize: Int
        public var sampleRateHz: Double
        /// Bands in Hz, [low, high).
        public var bands: [(Double, Double)]
        public init(fftSize: Int, sampleRateHz: Double, bands: [(Double, Double)]) {
            self.fftSize = fftSize; self.sampleRateHz = sampleRateHz; self.bands = bands
        }
        public static func == (a: Config, b: Config) -> Bool {
            a.fftSize == b.fftSize && a.sampleRateHz == b.sampleRateHz && a.bands.elementsEqual(b.bands) { $0 == $1 }
        }
    }

    public struct Features: Sendable, Equatable {
        public var rms: Double, peak: Double, peakToPeak: Double, crest: Double, kurtosis: Double, skewness: Double
        public var frames: Int
        public var bandEnergy: [Double]
    }

    public let config: Config
    private var fft: RealFFT
    private let hann: [Float]
    private let windowNorm: Double
    /// First and one-past-last FFT bin of each band.
    private let bandBins: [(Int, Int)]
    private var frame: [Float]
    private var filled = 0
    private var power: [Float]
    private var bandSums: [Double]
    private var frames = 0
    private var n = 0
    private var shift = 0.0
    private var s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0
    private var minV = Float.infinity, maxV = -Float.infinity

    public init(_ c: Config) {
        config = c
        fft = RealFFT(size: c.fftSize)
        let N = c.fftSize
        // periodic Hann (scipy.signal.get_window("hann", N))
        hann = (0..<N).map { Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(N))) }
        windowNorm = hann.reduce(0.0) { $0 + Double($1) * Double($1) } * Double(N)
        bandBins = c.bands.map { lo, hi in
            let df = c.sampleRateHz / Double(N)
            let a = Swift.max(1, Int((lo / df).rounded(.up)))
            let b = Swift.min(N / 2 + 1, Int((hi / df).rounded(.up)))
            return (a, Swift.max(a, b))
        }
        frame = Array(repeating: 0, count: N)
        power = Array(repeating: 0, count: N / 2 + 1)
        bandSums = Array(repeating: 0, count: c.bands.count)
    }

    public mutating func reset() {
        filled = 0; frames = 0; n = 0; shift = 0; s1 = 0; s2 = 0; s3 = 0; s4 = 0
        minV = .infinity; maxV = -.infinity
        for i in bandSums.indices { bandSums[i] = 0 }
    }

    public mutating func add(_ x: UnsafeBufferPointer<Float>) {
        for v in x { add(v) }
    }

    @inline(__always)
    public mutating func add(_ v: Float) {
        if n == 0 { shift = Double(v) }
        n += 1
        let d = Double(v) - shift, d2 = d * d
        s1 += d; s2 += d2; s3 += d2 * d; s4 += d2 * d2
        if v < minV { minV = v }
        if v > maxV { maxV = v }
        frame[filled] = v * hann[filled]
        filled += 1
        if filled == config.fftSize { spectrumOfFrame() }
    }

    private mutating func spectrumOfFrame() {
        filled = 0
        frames += 1
        frame.withUnsafeBufferPointer { f in
            power.withUnsafeMutableBufferPointer { p in fft.powerSpectrum(f.baseAddress!, into: p.baseAddress!) }
        }
        let N = config.fftSize
        for (b, (lo, hi)) in bandBins.enumerated() {
            var s = 0.0
            // one-sided: bins strictly inside (0, N/2) count twice; the Nyquist bin once
            for k in lo..<hi { s += Double(power[k]) * (k == N / 2 ? 1 : 2) }
            bandSums[b] += s / windowNorm
        }
    }

    /// The window's features; nil before any sample.
    public var features: Features? {
        guard n > 0 else { return nil }
        let c = Double(n)
        let m1 = s1 / c
        let mean = shift + m1
        // central moments from the shifted power sums
        let v = Swift.max(0, s2 / c - m1 * m1)
        let c3 = s3 / c - 3 * m1 * s2 / c + 2 * m1 * m1 * m1
        let c4 = s4 / c - 4 * m1 * s3 / c + 6 * m1 * m1 * s2 / c - 3 * m1 * m1 * m1 * m1
        let rms = (mean * mean + v).squareRoot()
        let peak = Swift.max(abs(Double(minV)), abs(Double(maxV)))
        return Features(rms: rms, peak: peak, peakToPeak: Double(maxV) - Double(minV),
                        crest: rms > 0 ? peak / rms : 0,
                        kurtosis: v > 0 ? c4 / (v * v) : 0, skewness: v > 0 ? c3 / (v * v.squareRoot()) : 0,
                        frames: frames, bandEnergy: frames > 0 ? bandSums.map { $0 / Double(frames) } : bandSums.map { _ in .nan })
    }
}

extension VibrationAccumulator: Checkpointable {
    /// The frame being filled, the band sums and the moments; not the FFT plan, the window or the
    /// configuration. The band bins are saved too: the same count of bands over other
    /// frequencies would pass every length check.
    public func save(to w: inout StateWriter) {
        var bins: [Int] = []
        for (lo, hi) in bandBins { bins.append(lo); bins.append(hi) }
        w.write(bins)
        w.write(frame)
        w.write(filled)
        w.write(bandSums)
        w.write(frames)
        w.write(n)
        w.write(shift)
        w.write(s1)
        w.write(s2)
        w.write(s3)
        w.write(s4)
        w.write(minV)
        w.write(maxV)
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        let bins = try r.read([Int].self, count: 2 * bandBins.count)
        for (i, (lo, hi)) in bandBins.enumerated() where bins[2 * i] != lo || bins[2 * i + 1] != hi {
            throw StateCodingError("vibration band \(i) covers bins \(bins[2 * i])..<\(bins[2 * i + 1]) where the configuration has \(lo)..<\(hi)")
        }
        let f = try r.read([Float].self, count: frame.count)
        let fl = try restoredValue(r.read(Int.self), in: 0...(config.fftSize - 1), "the samples in a vibration frame")
        let sums = try r.read([Double].self, count: bandSums.count)
        let fr = try restoredValue(r.read(Int.self), in: 0...restoredCountLimit, "a vibration frame count")
        let count = try restoredValue(r.read(Int.self), in: 0...restoredCountLimit, "a vibration sample count")
        frame = f
        filled = fl
        bandSums = sums
        frames = fr
        n = count
        shift = try r.read(Double.self)
        s1 = try r.read(Double.self)
        s2 = try r.read(Double.self)
        s3 = try r.read(Double.self)
        s4 = try r.read(Double.self)
        minV = try r.read(Float.self)
        maxV = try r.read(Float.self)
    }
}
