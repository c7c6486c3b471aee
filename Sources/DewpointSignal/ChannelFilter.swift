import DewpointCore
/// One stage of a channel's filter chain, configured in a binding (`channels[].filters`).
/// Enums rather than existentials: the per-block call is a switch.
public enum ChannelFilter: Sendable {
    case fir(FIRFilter)
    case biquad(BiquadCascade)
    /// Exponential moving average: y += alpha · (x - y), starting at the first sample.
    case ema(alpha: Float, state: Float?)
    /// Limits values to [lo, hi].
    case clamp(lo: Float, hi: Float)
    case movingAverage(MovingAverage)
    case rateLimit(RateLimiter)
    case median(MedianFilter)
    /// Removes samples (report by exception).
    case deadband(Deadband)
    /// Removes all but one sample in `factor`.
    case decimate(Decimator)

    /// Filters `x` in place (contiguous samples of one channel, in time order). Stages that
    /// remove samples compact `x` and `positions` (the caller's row of each sample) to the
    /// samples that remain. Returns the number of samples left.
    public mutating func process(_ x: UnsafeMutableBufferPointer<Float>, positions: UnsafeMutableBufferPointer<Int32>) -> Int {
        // A stage bound with `case .x(var f)` shares its arrays with `self` until `self` is
        // replaced, so mutating `f` first would copy them on every call: `park()` puts a
        // stateless value in `self` before `f` is mutated (as AnomalyScorer does).
        switch self {
        case .fir(var f):
            park()
            // in place is safe: the FIR copies the block into its history before writing outputs
            f.process(UnsafeBufferPointer(x), into: x)
            self = .fir(f)
        case .biquad(var b):
            park()
            // in place is safe: each output is written after its own input is read
            b.process(UnsafeBufferPointer(x), into: x)
            self = .biquad(b)
        case .ema(let a, var y):
            for i in 0..<x.count {
                let v = x[i]
                let out = y.map { $0 + a * (v - $0) } ?? v
                x[i] = out
                y = out
            }
            self = .ema(alpha: a, state: y)
        case .clamp(let lo, let hi):
            for i in 0..<x.count { x[i] = min(hi, max(lo, x[i])) }
        case .movingAverage(var f):
            park()
            f.process(x); self = .movingAverage(f)
        case .rateLimit(var f):
            park()
            f.process(x); self = .rateLimit(f)
        case .median(var f):
            park()
            f.process(x); self = .median(f)
        case .deadband(var f):
            park()
            let n = f.process(x, positions: positions); self = .deadband(f); return n
        case .decimate(var f):
            park()
            let n = f.process(x, positions: positions); self = .decimate(f); return n
        }
        return x.count
    }

    @inline(__always)
    private mutating func park() { self = .clamp(lo: -.infinity, hi: .infinity) }
}

/// Exponential moving averages of 8 channels at once, one channel per lane of `SIMD8<Float>`;
/// each lane starts at its first sample, as `ChannelFilter.ema` does, and computes exactly what
/// it computes.
public struct EMA8: Sendable {
    public let alpha: Float
    private var y = SIMD8<Float>(repeating: 0)
    /// Bit `l`: lane `l` has had its first sample.
    private var started: UInt8 = 0

    public init(alpha: Float) { self.alpha = alpha }

    /// `x` and `out` hold `count` frames; lanes `lanes...` are ignored.
    public mutating func process(_ x: UnsafePointer<SIMD8<Float>>, into out: UnsafeMutablePointer<SIMD8<Float>>, count: Int, lanes: Int) {
        let full = UInt8(truncatingIfNeeded: (1 << lanes) - 1)
        let a = SIMD8<Float>(repeating: alpha)
        for i in 0..<count {
            if started & full == full {
                y = y + a * (x[i] - y)
            } else {
                for l in 0..<lanes { _ = step(lane: l, x[i][l]) }
            }
            out[i] = y
        }
    }

    /// One sample of one lane, leaving the others alone.
    public mutating func step(lane l: Int, _ v: Float) -> Float {
        if started & (1 << l) == 0 {
            started |= 1 << l
            y[l] = v
        } else {
            y[l] = y[l] + alpha * (v - y[l])
        }
        return y[l]
    }
}

extension ChannelFilter {
    /// The filter stage a channel's spec describes, in its initial state.
    public init(_ f: FilterSpec) {
        switch f {
        case .fir(let taps, let band): self = .fir(FIRFilter(taps: FIRFilter.design(taps: taps, PassBand(band))))
        case .butterworth(let order, let band): self = .biquad(BiquadCascade(SOSCoefficients.butterworth(order: order, PassBand(band))))
        case .ema(let a): self = .ema(alpha: Float(a), state: nil)
        case .clamp(let lo, let hi): self = .clamp(lo: Float(lo), hi: Float(hi))
        case .movingAverage(let n): self = .movingAverage(MovingAverage(length: n))
        case .rateLimit(let step): self = .rateLimit(RateLimiter(maxStep: Float(step)))
        case .median(let n, let thr): self = .median(MedianFilter(length: n, threshold: thr.map(Float.init)))
        case .deadband(let band): self = .deadband(Deadband(band: Float(band)))
        case .decimate(let q): self = .decimate(Decimator(factor: q))
        }
    }
}

extension ChannelFilter: Checkpointable {
    /// The case, written first: a checkpoint of another kind of stage is refused.
    private var checkpointTag: UInt8 {
        switch self {
        case .fir: 0
        case .biquad: 1
        case .ema: 2
        case .clamp: 3
        case .movingAverage: 4
        case .rateLimit: 5
        case .median: 6
        case .deadband: 7
        case .decimate: 8
        }
    }

    public func save(to w: inout StateWriter) {
        w.write(checkpointTag)
        switch self {
        case .fir(let f): f.save(to: &w)
        case .biquad(let b): b.save(to: &w)
        case .ema(_, let y): w.write(y)
        case .clamp: break
        case .movingAverage(let f): f.save(to: &w)
        case .rateLimit(let f): f.save(to: &w)
        case .median(let f): f.save(to: &w)
        case .deadband(let f): f.save(to: &w)
        case .decimate(let f): f.save(to: &w)
        }
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        try restoreCaseTag(&r, checkpointTag, "a filter stage")
        switch self {
        case .fir(var f):
            try f.restore(from: &r)
            self = .fir(f)
        case .biquad(var b):
            try b.restore(from: &r)
            self = .biquad(b)
        case .ema(let a, _):
            let y = try r.read(Float?.self)
            self = .ema(alpha: a, state: y)
        case .clamp:
            break
        case .movingAverage(var f):
            try f.restore(from: &r)
            self = .movingAverage(f)
        case .rateLimit(var f):
            try f.restore(from: &r)
            self = .rateLimit(f)
        case .median(var f):
            try f.restore(from: &r)
            self = .median(f)
        case .deadband(var f):
            try f.restore(from: &r)
            self = .deadband(f)
        case .decimate(var f):
            try f.restore(from: &r)
            self = .decimate(f)
        }
    }
}

extension EMA8: Checkpointable {
    public func save(to w: inout StateWriter) {
        w.write(y)
        w.write(started)
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        y = try r.read(SIMD8<Float>.self)
        started = try r.read(UInt8.self)
    }
}
