import DewpointCore

/// A kind of detector (`channels[].detectors[].kind`): its keys, one line of documentation, and
/// how its `DetectorSpec.Kind` is built from a checked entry.
public struct DetectorDescriptor: Sendable {
    /// The kind as written (`kind: zscore`).
    public let kind: String
    /// One line for the docs.
    public let doc: String
    /// The keys of this kind, besides `kind` and `DetectorDescriptors.common`.
    public let keys: [ConfigKey]
    /// The kind from the parameters of `dewpoint score` and `evaluate`; nil for the detectors
    /// they do not offer (the rule detectors).
    public let fromOptions: (@Sendable (ScoreOptions) -> DetectorSpec.Kind)?
    /// Whether `min_samples` applies; `stuck` and `dropout` count for themselves and take 1.
    let usesMinSamples: Bool
    /// The kind from an entry whose keys are this kind's; nil once a problem is recorded.
    let build: @Sendable (Entry) -> DetectorSpec.Kind?

    init(_ kind: String, _ doc: String, keys: [ConfigKey] = [], usesMinSamples: Bool = true,
         fromOptions: (@Sendable (ScoreOptions) -> DetectorSpec.Kind)? = nil,
         build: @escaping @Sendable (Entry) -> DetectorSpec.Kind?) {
        self.kind = kind; self.doc = doc; self.keys = keys; self.usesMinSamples = usesMinSamples
        self.fromOptions = fromOptions; self.build = build
    }

    /// Every key an entry of this kind may hold: `kind`, its own keys, then the common ones.
    var acceptedKeys: [String] { ["kind"] + keys.map(\.name) + DetectorDescriptors.common.map(\.name) }
}

/// The detector parameters `dewpoint score` and `dewpoint evaluate` take on the command line.
public struct ScoreOptions: Sendable {
    public var window: Int
    public var alpha: Double
    public var k: Double
    public var h: Double
    public init(window: Int, alpha: Double, k: Double, h: Double) {
        self.window = window; self.alpha = alpha; self.k = k; self.h = h
    }
    /// The command line's defaults.
    public static let defaults = ScoreOptions(window: 288, alpha: 0.01, k: 0.5, h: 5)
}

/// Every kind of detector, in the order of `DetectorSpec.Kind`. A new detector is one entry here,
/// its case in `DetectorSpec.Kind` (with its `name` and `defaultLevels`, same file), and its
/// implementation in DewpointSignal with the line that builds it from its spec
/// (`AnomalyScorer.init?` in AnomalyScorer.swift, or `ChannelDetector.init` in Detector.swift
/// for a rule detector).
public enum DetectorDescriptors {
    /// Keys every detector takes; `ChannelLoader.detector` reads them.
    public static let common: [ConfigKey] = [
        ConfigKey("severity", "string", default: "`warning`", allowed: "`info`, `warning`, `critical`", "Copied into alert records."),
        ConfigKey("min_samples", "integer", default: "`1`", allowed: "1–1,000,000",
                  "Consecutive samples the condition must hold before the alert is raised (`stuck` and `dropout` count for themselves)."),
        ConfigKey("hysteresis", "number", default: "`0`", allowed: "0 or more, in the channel's unit",
                  "Once raised, the value must come back this far inside the threshold to clear (with `above: 18`, `hysteresis: 0.5` clears at 17.5 or below)."),
        ConfigKey("raise_at", "number", default: "by kind (see below)", allowed: "0–1", "Score at or above which the alert raises."),
        ConfigKey("clear_below", "number", default: "by kind (see below)", allowed: "0–1, at most `raise_at`", "Score below which a raised alert clears."),
        ConfigKey("min_duration", "duration", default: "`0`", allowed: "0 or more",
                  "How long (event time) the condition must hold before the alert raises; combines with `min_samples`."),
        ConfigKey("cooldown", "duration", default: "`0`", allowed: "0 or more",
                  "After a clear, no new raise for this long; a condition that comes and goes raises once per cooldown."),
        ConfigKey("hold", "duration", default: "`0`", allowed: "0 or more",
                  "Once raised, the alert stays raised at least this long; the first low score after it clears. Useful with `novelty`, which scores an anomaly once, at its start."),
    ]

    static let windowKey = ConfigKey("window", "integer", default: "`288`", allowed: "3–4096", "Samples in the rolling window.")

    public static let all: [DetectorDescriptor] = [
        DetectorDescriptor("threshold", "Raised while the value is above `above` or below `below`.", keys: [
            ConfigKey("above", "number", default: "none", allowed: "greater than `below` if both given", "Condition holds while value > `above`."),
            ConfigKey("below", "number", default: "none", allowed: "less than `above` if both given",
                      "Condition holds while value < `below`. At least one of `above`, `below` is required."),
        ], build: { DetectorDescriptors.threshold($0) }),
        DetectorDescriptor("rate_of_change", "Raised while the value changes faster than `max_per_second`.", keys: [
            ConfigKey("max_per_second", "number", default: "required", allowed: "above 0", "Largest allowed change per second, in the channel's unit."),
        ], build: { DetectorDescriptors.rateOfChange($0) }),
        DetectorDescriptor("stuck", "Raised when the value has stayed within `epsilon` for `samples` samples in a row.", keys: [
            ConfigKey("epsilon", "number", default: "`0`", allowed: "0 or more", "The change below which the value counts as unchanged."),
            ConfigKey("samples", "integer", default: "required", allowed: "2–1,000,000", "Samples in a row within `epsilon`."),
        ], usesMinSamples: false, build: { DetectorDescriptors.stuck($0) }),
        DetectorDescriptor("dropout", "Raised from the clock when no sample has arrived for `after`, or for `intervals` times the channel's usual interval; the next sample clears it.", keys: [
            ConfigKey("after", "duration", default: "none", allowed: "above 0", "Silence that raises the alert; its time is the last sample's plus the limit."),
            ConfigKey("intervals", "number", default: "none", allowed: "1 or more",
                      "Silence of this many times the channel's usual interval between samples, learned as it runs (counted from its 3rd gap). With `after` too, the longer of the two limits applies. One of `after`, `intervals` is required."),
        ], usesMinSamples: false, build: { DetectorDescriptors.dropout($0) }),
        DetectorDescriptor("timestamps", "Raised by a sample whose time is not after the newest seen (a duplicate or out of order).",
                           build: { _ in .timestamps }),
        DetectorDescriptor("zscore", "Rolling z-score over `window` samples.", keys: [DetectorDescriptors.windowKey],
                           fromOptions: { .zscore(window: $0.window) },
                           build: { e in .zscore(window: DetectorDescriptors.rollingWindow(e)) }),
        DetectorDescriptor("ewma", "z-score against an exponentially weighted mean and variance.", keys: [
            ConfigKey("alpha", "number", default: "`0.01`", allowed: "0 < alpha ≤ 1", "Smoothing of the mean and variance."),
        ], fromOptions: { .ewma(alpha: $0.alpha) }, build: { e in DetectorDescriptors.alpha(e, default: 0.01).map { DetectorSpec.Kind.ewma(alpha: $0) } }),
        DetectorDescriptor("mad", "Robust z-score: median and MAD of `window` samples.", keys: [DetectorDescriptors.windowKey],
                           fromOptions: { .mad(window: $0.window) },
                           build: { e in .mad(window: DetectorDescriptors.rollingWindow(e)) }),
        DetectorDescriptor("cusum", "Two-sided CUSUM for level shifts.", keys: [
            ConfigKey("k", "number", default: "`0.5`", allowed: "0 or more", "Allowance, in standard deviations."),
            ConfigKey("h", "number", default: "`5`", allowed: "above 0", "Decision sum, in standard deviations."),
        ], fromOptions: { .cusum(k: $0.k, h: $0.h) }, build: { DetectorDescriptors.cusum($0) }),
        DetectorDescriptor("seasonal", "z-score against the usual value for the time of day (30-minute bins).", keys: [
            ConfigKey("alpha", "number", default: "`0.1`", allowed: "0 < alpha ≤ 1", "Smoothing of the mean and variance of each time-of-day bin."),
        ], fromOptions: { .seasonal(alpha: $0.alpha) }, build: { e in DetectorDescriptors.alpha(e, default: 0.1).map { DetectorSpec.Kind.seasonal(alpha: $0) } }),
        DetectorDescriptor("novelty", "The learned novelty detector (range, context, time of day and deviation).",
                           fromOptions: { _ in .novelty }, build: { _ in .novelty }),
    ]

    /// The descriptor of `kind`.
    public static func named(_ kind: String) -> DetectorDescriptor? { all.first { $0.kind == kind } }

    /// Every key of any detector: what an entry may hold before its kind is known.
    static let allKeyNames: [String] = uniqued(["kind"] + common.map(\.name) + all.flatMap { $0.keys.map(\.name) })

    static func threshold(_ e: Entry) -> DetectorSpec.Kind? {
        let m = e.m, path = e.path, r = e.r
        let above = m["above"].flatMap { r.double($0.value, "\(path).above") }
        let below = m["below"].flatMap { r.double($0.value, "\(path).below") }
        if m["above"] == nil && m["below"] == nil {
            r.error(e.node, path, "a threshold detector needs 'above', 'below' or both")
            return nil
        }
        if let above, let below, below >= above {
            r.error(m["below"]!.value, "\(path).below", "expected below (\(below)) to be less than above (\(above))")
            return nil
        }
        return .threshold(above: above, below: below)
    }

    static func rateOfChange(_ e: Entry) -> DetectorSpec.Kind? {
        let path = e.path, r = e.r
        guard let mn = r.required(e.m, "max_per_second", path, in: e.node), let v = r.double(mn, "\(path).max_per_second") else { return nil }
        guard v > 0 else { r.error(mn, "\(path).max_per_second", "expected a rate above 0, found \(v)"); return nil }
        return .rateOfChange(maxPerSecond: v)
    }

    static func stuck(_ e: Entry) -> DetectorSpec.Kind? {
        let m = e.m, path = e.path, r = e.r
        let eps = m["epsilon"].flatMap { r.double($0.value, "\(path).epsilon") } ?? 0
        guard let sn = r.required(m, "samples", path, in: e.node), let n = r.int(sn, "\(path).samples", in: 2...1_000_000) else { return nil }
        if eps < 0 { r.error(m["epsilon"]?.value, "\(path).epsilon", "expected 0 or more, found \(eps)"); return nil }
        return .stuck(epsilon: eps, samples: n)
    }

    static func dropout(_ e: Entry) -> DetectorSpec.Kind? {
        let m = e.m, path = e.path, r = e.r
        // after: a fixed silence; intervals: N × the learned usual interval; at least one
        var ms: Int64 = 0, n = 0.0
        if let an = m["after"] {
            guard let v = r.durationMs(an.value, "\(path).after") else { return nil }
            guard v > 0 else { r.error(an.value, "\(path).after", "expected a duration above 0"); return nil }
            ms = v
        }
        if let nn = m["intervals"] {
            guard let v = r.double(nn.value, "\(path).intervals") else { return nil }
            guard v >= 1 else { r.error(nn.value, "\(path).intervals", "expected 1 or more usual intervals, found \(v)"); return nil }
            n = v
        }
        if ms == 0 && n == 0 { r.error(e.node, path, "a dropout detector needs 'after', 'intervals' or both"); return nil }
        return .dropout(afterMs: ms, intervals: n)
    }

    /// window: samples in the rolling window (default 288, one day of 5-minute samples)
    static func rollingWindow(_ e: Entry) -> Int {
        e.m["window"].flatMap { e.r.int($0.value, "\(e.path).window", in: 3...4096) } ?? 288
    }

    /// alpha: smoothing of the mean and variance (per time-of-day bin for seasonal)
    static func alpha(_ e: Entry, default d: Double) -> Double? {
        let m = e.m, path = e.path, r = e.r
        let a = m["alpha"].flatMap { r.double($0.value, "\(path).alpha") } ?? d
        guard a > 0 && a <= 1 else { r.error(m["alpha"]?.value, "\(path).alpha", "expected 0 < alpha <= 1, found \(a)"); return nil }
        return a
    }

    static func cusum(_ e: Entry) -> DetectorSpec.Kind? {
        let m = e.m, path = e.path, r = e.r
        // k: allowance in σ (default 0.5); h: decision sum in σ (default 5)
        let k = m["k"].flatMap { r.double($0.value, "\(path).k") } ?? 0.5
        let h = m["h"].flatMap { r.double($0.value, "\(path).h") } ?? 5
        guard k >= 0 else { r.error(m["k"]?.value, "\(path).k", "expected 0 or more, found \(k)"); return nil }
        guard h > 0 else { r.error(m["h"]?.value, "\(path).h", "expected a sum above 0, found \(h)"); return nil }
        return .cusum(k: k, h: h)
    }
}
