import DewpointCore
/// A streaming, strictly causal anomaly detector for one channel: the score for a sample uses only
/// that sample and earlier ones. Scores are in [0, 1].
///
/// Detectors are enums rather than protocol existentials so the per-sample call is a switch, not a
/// dynamic dispatch.
public enum ChannelDetector: Sendable {
    /// 1 while the value is above `above` or below `below`, else 0. Once at 1, the value must
    /// come `hysteresis` back inside the threshold to return to 0.
    case threshold(above: Double?, below: Double?, hysteresis: Double, active: Bool)

    /// 1 while |Δvalue / Δt| exceeds `max` per second.
    case rate(max: Double, last: Float, lastTs: Int64, seen: Bool, now: Double)
    /// 1 once the value has stayed within `epsilon` of where the run started for `samples` samples.
    case stuck(epsilon: Double, samples: Int, start: Float, run: Int)
    /// Scores 0 on every sample (a sample clears a dropout); raised by the pipeline's clock when
    /// the silence exceeds `afterNs` or `intervals` × the learned interval, whichever is longer.
    /// `limitNs` is the limit that was exceeded (for the message).
    case dropout(afterNs: Int64, intervals: Double, limitNs: Int64)
    /// 1 for a sample whose time is not after the newest time seen (a duplicate or out of order).
    case timestamps(newest: Int64, previous: Int64)
    /// A statistical or learned scorer, with what it expected just before the last sample
    /// (centre and spread) for the alert message.
    case scored(ScorerBox)

    public static func rateOfChange(max: Double) -> ChannelDetector { .rate(max: max, last: 0, lastTs: 0, seen: false, now: 0) }
    public static func stuck(epsilon: Double, samples: Int) -> ChannelDetector { .stuck(epsilon: epsilon, samples: samples, start: .nan, run: 0) }

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
        case .rate(let m, let last, let lastTs, let seen, _):
            var r = 0.0
            if seen && ts > lastTs { r = Double(x - last) / (Double(ts - lastTs) / 1e9) }
            self = .rate(max: m, last: x, lastTs: ts, seen: true, now: r)
            return abs(r) > m ? 1 : 0
        case .stuck(let eps, let n, let start, let run):
            if !start.isNaN && abs(Double(x - start)) <= eps {
                self = .stuck(epsilon: eps, samples: n, start: start, run: run + 1)
                return run + 1 >= n ? 1 : 0
            }
            self = .stuck(epsilon: eps, samples: n, start: x, run: 1)
            return 0
        case .dropout:
            return 0
        case .timestamps(let newest, _):
            if ts > newest || newest == .min {
                self = .timestamps(newest: ts, previous: ts)
                return 0
            }
            self = .timestamps(newest: newest, previous: ts)
            return 1
        case .scored(var box):
            // copy on write: a copied detector must not share (or race on) its scorer's state
            self = .dropout(afterNs: 0, intervals: 0, limitNs: 0)
            if !isKnownUniquelyReferenced(&box) { box = box.copy() }
            let score = box.score(Double(x), tsNs: ts)
            self = .scored(box)
            return score
        }
    }

    public static func timestamps() -> ChannelDetector { .timestamps(newest: .min, previous: .min) }

    public var name: String {
        switch self {
        case .threshold: "threshold"
        case .rate: "rate_of_change"
        case .stuck: "stuck"
        case .dropout: "dropout"
        case .timestamps: "timestamps"
        case .scored(let box): box.scorer.name
        }
    }

    /// A human sentence saying what the value did, in the channel's unit, for an alert that was
    /// just `raised` (or cleared).
    public func explain(channel: String, value: Float, unit: String, raised: Bool = true) -> String {
        let u = unit.isEmpty ? "" : " \(unit)"
        switch self {
        case .threshold(let above, let below, let h, _):
            guard raised else { return "\(channel) \(value)\(u) is back within its thresholds" }
            if let above, Double(value) > above { return "\(channel) \(value)\(u) is above the threshold \(numberText(above))\(u)" }
            if let below, Double(value) < below { return "\(channel) \(value)\(u) is below the threshold \(numberText(below))\(u)" }
            // raised after min_samples, with the last sample inside the hysteresis band
            let which = above.map { Double(value) > $0 - h } == true ? "above \(numberText(above!))" : "below \(numberText(below ?? 0))"
            return "\(channel) \(value)\(u) has stayed within \(numberText(h))\(u) of the threshold after going \(which)\(u)"
        case .rate(let m, _, _, _, let r):
            guard raised else { return "\(channel) changes at \(numberText((r * 1000).rounded() / 1000))\(u)/s again, within \(numberText(m))\(u)/s" }
            return "\(channel) \(r >= 0 ? "rose" : "fell") at \(numberText((abs(r) * 1000).rounded() / 1000))\(u)/s, faster than \(numberText(m))\(u)/s (now \(value)\(u))"
        case .stuck(let eps, let n, _, _):
            guard raised else { return "\(channel) moves again (\(value)\(u))" }
            return "\(channel) has stayed at \(value)\(u) (within \(numberText(eps))\(u)) for \(n) samples: the sensor may be stuck"
        case .dropout(let after, let intervals, let limit):
            guard raised else { return "\(channel) samples resume (\(value)\(u))" }
            let seconds = numberText((Double(limit) / 1e6).rounded() / 1e3)
            if intervals > 0 && limit > after {
                return "no sample from \(channel) for more than \(numberText(intervals))× its usual interval (\(seconds) s); last value \(value)\(u)"
            }
            return "no sample from \(channel) for more than \(seconds) s; last value \(value)\(u)"
        case .timestamps(let newest, let previous):
            guard raised else { return "\(channel) samples arrive in time order again" }
            return previous == newest ? "\(channel) has a duplicate sample at \(previous / 1_000_000) ms"
                : "\(channel) sample at \(previous / 1_000_000) ms arrived after one at \(newest / 1_000_000) ms (out of order)"
        case .scored(let box):
            let s = box.scorer, c = box.expected, w = box.spread
            guard raised else { return "\(channel) \(value)\(u) is back to normal (\(s.name) score below its clear level)" }
            return s.explain(channel: channel, value: Double(value), unit: u, expected: c, spread: w)
        }
    }

}

/// A scorer owned by one channel's detector. A reference, so that the detector's per-sample call
/// mutates the scorer's tables in place: with the scorer as an enum payload, taking it out and
/// putting it back cost 2.4× the scoring itself (measured with `dewpoint bench`).
/// `ChannelDetector.score` copies a box that is not uniquely referenced before using it, so a
/// copied detector never shares or races on the state; that is what makes the unchecked
/// Sendable sound.
public final class ScorerBox: @unchecked Sendable {
    public private(set) var scorer: AnomalyScorer
    /// What the scorer expected (centre, spread) just before the last sample, for messages.
    public private(set) var expected = 0.0, spread = 0.0

    public init(_ scorer: AnomalyScorer) { self.scorer = scorer }

    @inline(__always)
    public func score(_ x: Double, tsNs: Int64) -> Double {
        (expected, spread) = scorer.expectation
        return scorer.score(x, tsNs: tsNs)
    }

    public func copy() -> ScorerBox { ScorerBox(scorer) }
}

/// A number as people read it in messages and keys: `20` rather than `20.0`, otherwise the
/// shortest form that reads back as the same Double.
public func numberText(_ d: Double) -> String {
    d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
}

extension ChannelDetector {
    /// The detector a binding's spec describes, in its initial state.
    public init(_ d: DetectorSpec) {
        if let scorer = AnomalyScorer(d.kind) {
            self = .scored(ScorerBox(scorer))
            return
        }
        switch d.kind {
        case .threshold(let above, let below): self = .threshold(above: above, below: below, hysteresis: d.hysteresis)
        case .rateOfChange(let m): self = .rateOfChange(max: m)
        case .stuck(let eps, let n): self = .stuck(epsilon: eps, samples: n)
        case .dropout(let ms, let n): self = .dropout(afterNs: Clock.ns(ms: ms), intervals: n, limitNs: Clock.ns(ms: ms))
        case .timestamps: self = .timestamps()
        case .zscore, .ewma, .mad, .cusum, .seasonal, .novelty: preconditionFailure("AnomalyScorer(_:) builds every scored kind")
        }
    }
}

extension ScorerBox: Checkpointable {
    public func save(to w: inout StateWriter) {
        scorer.save(to: &w)
        w.write(expected)
        w.write(spread)
    }

    /// Restores in place: the box a detector holds is the one restored.
    public func restore(from r: inout StateReader) throws(StateCodingError) {
        try scorer.restore(from: &r)
        expected = try r.read(Double.self)
        spread = try r.read(Double.self)
    }
}

extension ChannelDetector: Checkpointable {
    /// The case, written first: a checkpoint of another kind of detector is refused.
    private var checkpointTag: UInt8 {
        switch self {
        case .threshold: 0
        case .rate: 1
        case .stuck: 2
        case .dropout: 3
        case .timestamps: 4
        case .scored: 5
        }
    }

    /// The state of each case: not its limits, which come from the configuration.
    public func save(to w: inout StateWriter) {
        w.write(checkpointTag)
        switch self {
        case .threshold(_, _, _, let active):
            w.write(active)
        case .rate(_, let last, let lastTs, let seen, let now):
            w.write(last)
            w.write(lastTs)
            w.write(seen)
            w.write(now)
        case .stuck(_, _, let start, let run):
            w.write(start)
            w.write(run)
        case .dropout(_, _, let limitNs):
            w.write(limitNs)
        case .timestamps(let newest, let previous):
            w.write(newest)
            w.write(previous)
        case .scored(let box):
            box.save(to: &w)
        }
    }

    /// A scored detector's box is restored in place (a detector made from the configuration
    /// holds the only reference to it).
    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        try restoreCaseTag(&r, checkpointTag, "a detector")
        switch self {
        case .threshold(let above, let below, let h, _):
            let active = try r.read(Bool.self)
            self = .threshold(above: above, below: below, hysteresis: h, active: active)
        case .rate(let m, _, _, _, _):
            let last = try r.read(Float.self)
            let lastTs = try r.read(Int64.self)
            let seen = try r.read(Bool.self)
            let now = try r.read(Double.self)
            self = .rate(max: m, last: last, lastTs: lastTs, seen: seen, now: now)
        case .stuck(let eps, let n, _, _):
            let start = try r.read(Float.self)
            let run = try restoredValue(r.read(Int.self), in: 0...restoredCountLimit, "a stuck detector's run")
            self = .stuck(epsilon: eps, samples: n, start: start, run: run)
        case .dropout(let after, let intervals, _):
            let limit = try r.read(Int64.self)
            self = .dropout(afterNs: after, intervals: intervals, limitNs: limit)
        case .timestamps:
            let newest = try r.read(Int64.self)
            let previous = try r.read(Int64.self)
            self = .timestamps(newest: newest, previous: previous)
        case .scored(let box):
            try box.restore(from: &r)
        }
    }
}
