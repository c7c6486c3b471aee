/// A streaming, strictly causal anomaly detector for one channel: the score for a sample uses only
/// that sample and earlier ones. Scores are in [0, 1].
///
/// Detectors are enums rather than protocol existentials so the per-sample call is a switch, not a
/// dynamic dispatch.
public enum ChannelDetector: Sendable {
    /// 1 while the value is above `above` or below `below`, else 0. Once at 1, the value must
    /// come `hysteresis` back inside the threshold to return to 0.
    case threshold(above: Double?, below: Double?, hysteresis: Double, active: Bool)

    public static func threshold(above: Double?, below: Double?, hysteresis: Double = 0) -> ChannelDetector {
        .threshold(above: above, below: below, hysteresis: hysteresis, active: false)
    }

    @inline(__always)
    public mutating func score(_ x: Float, ts: Int64) -> Double {
        switch self {
        case .threshold(let above, let below, let h, let active):
            let v = Double(x)
            let margin = active ? h : 0
            var hit = false
            if let above, v > above - margin { hit = true }
            if let below, v < below + margin { hit = true }
            self = .threshold(above: above, below: below, hysteresis: h, active: hit)
            return hit ? 1 : 0
        }
    }

    public var name: String {
        switch self {
        case .threshold: "threshold"
        }
    }

    /// A human sentence saying what the value did, in the channel's unit, for an alert that was
    /// just `raised` (or cleared).
    public func explain(channel: String, value: Float, unit: String, raised: Bool = true) -> String {
        let u = unit.isEmpty ? "" : " \(unit)"
        switch self {
        case .threshold(let above, let below, let h, _):
            guard raised else { return "\(channel) \(value)\(u) is back within its thresholds" }
            if let above, Double(value) > above { return "\(channel) \(value)\(u) is above the threshold \(Self.fmt(above))\(u)" }
            if let below, Double(value) < below { return "\(channel) \(value)\(u) is below the threshold \(Self.fmt(below))\(u)" }
            // raised after min_samples, with the last sample inside the hysteresis band
            let which = above.map { Double(value) > $0 - h } == true ? "above \(Self.fmt(above!))" : "below \(Self.fmt(below ?? 0))"
            return "\(channel) \(value)\(u) has stayed within \(Self.fmt(h))\(u) of the threshold after going \(which)\(u)"
        }
    }

    static func fmt(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}
