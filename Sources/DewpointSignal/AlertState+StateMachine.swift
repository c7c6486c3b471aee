import DewpointCore

/// Turns a stream of scores into raise/clear transitions.
///
/// States: `clear` → (score ≥ raise for `minSamples` samples and `minDurationNs`, and not within
/// `cooldownNs` of the last clear) → `raised` → (score < clear, once `holdNs` has passed since
/// the raise) → `clear`. The gap between the
/// raise and clear thresholds is the hysteresis that keeps a noisy score from flapping; the
/// cooldown keeps a condition that comes and goes from raising an alert each time.
public struct AlertStateMachine: Sendable, Equatable {
    public enum Transition: Sendable, Equatable { case none, raised, cleared }

    public let raiseAt: Double
    public let clearBelow: Double
    public let minSamples: Int
    public let minDurationNs: Int64
    public let cooldownNs: Int64
    /// A raised alert stays raised at least this long (for detectors that score an anomaly once,
    /// at its start).
    public let holdNs: Int64
    public private(set) var isRaised = false
    private var raisedAtNs: Int64 = 0
    private var pending = 0
    private var pendingSinceNs: Int64 = 0
    private var clearedAtNs: Int64 = .min

    public init(raiseAt: Double = 0.5, clearBelow: Double = 0.5, minSamples: Int = 1, minDurationNs: Int64 = 0, cooldownNs: Int64 = 0,
                holdNs: Int64 = 0) {
        precondition(clearBelow <= raiseAt, "clear threshold must not exceed the raise threshold")
        self.raiseAt = raiseAt
        self.clearBelow = clearBelow
        self.minSamples = Swift.max(1, minSamples)
        self.minDurationNs = Swift.max(0, minDurationNs)
        self.cooldownNs = Swift.max(0, cooldownNs)
        self.holdNs = Swift.max(0, holdNs)
    }

    /// `ts` is the sample's time (ns); it matters only with a minimum duration or a cooldown.
    @inline(__always)
    public mutating func observe(score: Double, ts: Int64) -> Transition {
        if isRaised {
            let held = holdNs == 0 || ts &- raisedAtNs >= holdNs
            if score < clearBelow && held { isRaised = false; pending = 0; clearedAtNs = ts; return .cleared }
            return .none
        }
        if score >= raiseAt {
            if pending == 0 { pendingSinceNs = ts }
            pending += 1
            // out-of-order times must not block a raise when neither limit is set
            let cooling = cooldownNs > 0 && clearedAtNs != .min && ts &- clearedAtNs < cooldownNs
            let held = minDurationNs == 0 || ts &- pendingSinceNs >= minDurationNs
            if pending >= minSamples && held && !cooling {
                isRaised = true; pending = 0; raisedAtNs = ts; return .raised
            }
        } else {
            pending = 0
        }
        return .none
    }
}

extension AlertStateMachine: Checkpointable {
    /// Whether it is raised, and the times and count it waits on; not the thresholds.
    public func save(to w: inout StateWriter) {
        w.write(isRaised)
        w.write(raisedAtNs)
        w.write(pending)
        w.write(pendingSinceNs)
        w.write(clearedAtNs)
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        isRaised = try r.read(Bool.self)
        raisedAtNs = try r.read(Int64.self)
        pending = try restoredValue(r.read(Int.self), in: 0...restoredCountLimit, "an alert's pending count")
        pendingSinceNs = try r.read(Int64.self)
        clearedAtNs = try r.read(Int64.self)
    }
}
