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

    /// Whether the stage can remove samples from a block.
    public var removesSamples: Bool {
        switch self {
        case .deadband, .decimate: true
        default: false
        }
    }

    /// Filters `x` in place (contiguous samples of one channel, in time order). Stages that
    /// remove samples compact `x` and `positions` (the caller's row of each sample) to the
    /// samples that remain. Returns the number of samples left.
    public mutating func process(_ x: UnsafeMutableBufferPointer<Float>, positions: UnsafeMutableBufferPointer<Int32>) -> Int {
        switch self {
        case .fir(var f):
            // in place is safe: the FIR copies the block into its history before writing outputs
            f.process(UnsafeBufferPointer(x), into: x)
            self = .fir(f)
        case .biquad(var b):
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
            f.process(x); self = .movingAverage(f)
        case .rateLimit(var f):
            f.process(x); self = .rateLimit(f)
        case .median(var f):
            f.process(x); self = .median(f)
        case .deadband(var f):
            let n = f.process(x, positions: positions); self = .deadband(f); return n
        case .decimate(var f):
            let n = f.process(x, positions: positions); self = .decimate(f); return n
        }
        return x.count
    }
}
