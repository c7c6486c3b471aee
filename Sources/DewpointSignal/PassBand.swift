/// The band a filter design passes, with cutoffs as a fraction of the Nyquist frequency (as
/// scipy's `firwin` and `butter` take them). Shared by the FIR and Butterworth designs.
public enum PassBand: Sendable, Equatable {
    case lowpass(Double), highpass(Double), bandpass(Double, Double)
}
