/// One stage of a channel's filter chain, configured in a binding (`channels[].filters`).
/// Enums rather than existentials: the per-block call is a switch.
public enum ChannelFilter: Sendable {
    case fir(FIRFilter)
    case biquad(BiquadCascade)
    /// Exponential moving average: y += alpha · (x - y).
    case ema(alpha: Float, state: Float?)
    /// Limits values to [lo, hi].
    case clamp(lo: Float, hi: Float)

    /// Filters `x` in place (contiguous samples of one channel, in time order).
    public mutating func process(_ x: UnsafeMutableBufferPointer<Float>) {
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
        }
    }
}
