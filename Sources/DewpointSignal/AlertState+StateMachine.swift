/// Turns a stream of scores into raise/clear transitions.
///
/// States: `clear` → (score ≥ raise for `minSamples` samples) → `raised` → (score < clear) → `clear`.
/// The gap between the raise and clear thresholds is the hysteresis that keeps a noisy score from
/// flapping.
public struct AlertStateMachine: Sendable, Equatable {
    public enum Transition: Sendable, Equatable { case none, raised, cleared }

    public let raiseAt: Double
    public let clearBelow: Double
    public let minSamples: Int
    public private(set) var isRaised = false
    private var pending = 0

    public init(raiseAt: Double = 0.5, clearBelow: Double = 0.5, minSamples: Int = 1) {
        precondition(clearBelow <= raiseAt, "clear threshold must not exceed the raise threshold")
        self.raiseAt = raiseAt
        self.clearBelow = clearBelow
        self.minSamples = Swift.max(1, minSamples)
    }

    @inline(__always)
    public mutating func observe(score: Double) -> Transition {
        if isRaised {
            if score < clearBelow { isRaised = false; pending = 0; return .cleared }
            return .none
        }
        if score >= raiseAt {
            pending += 1
            if pending >= minSamples { isRaised = true; pending = 0; return .raised }
        } else {
            pending = 0
        }
        return .none
    }
}
