/// A streaming, strictly causal anomaly detector for one channel: the score for a sample uses only
/// that sample and earlier ones. Scores are in [0, 1].
///
/// Detectors are enums rather than protocol existentials so the per-sample call is a switch, not a
/// dynamic dispatch.
public enum ChannelDetector: Sendable {
    /// 1 while the value is above `above` or below `below`, else 0.
    case threshold(above: Double?, below: Double?)

    @inline(__always)
    public mutating func score(_ x: Float, ts: Int64) -> Double {
        switch self {
        case .threshold(let above, let below):
            let v = Double(x)
            if let above, v > above { return 1 }
            if let below, v < below { return 1 }
            return 0
        }
    }

    public var name: String {
        switch self {
        case .threshold: "threshold"
        }
    }

    /// A human sentence saying what the value did, in the channel's unit.
    public func explain(channel: String, value: Float, unit: String) -> String {
        let u = unit.isEmpty ? "" : " \(unit)"
        switch self {
        case .threshold(let above, let below):
            if let above, Double(value) > above { return "\(channel) \(value)\(u) is above the threshold \(Self.fmt(above))\(u)" }
            if let below, Double(value) < below { return "\(channel) \(value)\(u) is below the threshold \(Self.fmt(below))\(u)" }
            return "\(channel) \(value)\(u) is back within its thresholds"
        }
    }

    static func fmt(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}
