import DewpointCore
/// The band a filter design passes, with cutoffs as a fraction of the Nyquist frequency (as
/// scipy's `firwin` and `butter` take them). Shared by the FIR and Butterworth designs.
public enum PassBand: Sendable, Equatable {
    case lowpass(Double), highpass(Double), bandpass(Double, Double)
}

extension PassBand {
    /// The signal kernels' band for a binding's (the same cases; the model does not depend on
    /// the kernels).
    public init(_ b: FilterBand) {
        switch b {
        case .lowpass(let c): self = .lowpass(c)
        case .highpass(let c): self = .highpass(c)
        case .bandpass(let a, let b): self = .bandpass(a, b)
        }
    }
}
