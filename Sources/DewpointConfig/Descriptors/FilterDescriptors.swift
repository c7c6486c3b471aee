import DewpointCore

/// A kind of filter stage (`channels[].filters[].kind`): its keys, one line of documentation,
/// and how its `FilterSpec` is built from a checked entry.
public struct FilterDescriptor: Sendable {
    /// The kind as written (`kind: ema`).
    public let kind: String
    /// One line for the docs.
    public let doc: String
    /// The keys of this kind, besides `kind`.
    public let keys: [ConfigKey]
    /// The stage from an entry whose keys are this kind's; nil once a problem is recorded.
    let build: @Sendable (Entry) -> FilterSpec?

    init(_ kind: String, _ doc: String, keys: [ConfigKey], build: @escaping @Sendable (Entry) -> FilterSpec?) {
        self.kind = kind; self.doc = doc; self.keys = keys; self.build = build
    }

    /// Every key an entry of this kind may hold.
    var acceptedKeys: [String] { ["kind"] + keys.map(\.name) }
}

/// Every kind of filter stage, in the order of `FilterSpec`. A new filter is one entry here, its
/// case in `FilterSpec`, and its implementation in DewpointSignal: a `ChannelFilter` case with the
/// line that builds it from its spec (`ChannelFilter.init`, same file), its kernel in a file of
/// its own if it needs one.
public enum FilterDescriptors {
    static let bandKey = ConfigKey("band", "string", default: "`lowpass`", allowed: "`lowpass`, `highpass`, `bandpass`", "Which frequencies pass.")
    static let cutoffKey = ConfigKey("cutoff", "number or [low, high]", default: "required", allowed: "0 < cutoff < 1",
                                  "Fraction of the Nyquist frequency; a band pass takes `[low, high]`.")

    public static let all: [FilterDescriptor] = [
        FilterDescriptor("fir", "A windowed-sinc (Hamming) FIR designed as `scipy.signal.firwin`.", keys: [
            FilterDescriptors.bandKey, FilterDescriptors.cutoffKey,
            ConfigKey("taps", "integer", default: "`31`", allowed: "3–1024; odd for a high pass", "Length of the filter."),
        ], build: { FilterDescriptors.fir($0) }),
        FilterDescriptor("butterworth", "A biquad cascade designed as `scipy.signal.butter(..., output=\"sos\")`.", keys: [
            FilterDescriptors.bandKey, FilterDescriptors.cutoffKey,
            ConfigKey("order", "integer", default: "`4`", allowed: "1–12", "Order of the filter."),
        ], build: { FilterDescriptors.butterworth($0) }),
        FilterDescriptor("ema", "Exponential moving average, starting at the first sample.", keys: [
            ConfigKey("alpha", "number", default: "required", allowed: "0 < alpha ≤ 1", "Weight of each new sample."),
        ], build: { FilterDescriptors.ema($0) }),
        FilterDescriptor("clamp", "Limits values to `[min, max]` (unlike `range`, it keeps them).", keys: [
            ConfigKey("min", "number", default: "required", allowed: "below `max`", "Lower limit."),
            ConfigKey("max", "number", default: "required", allowed: "above `min`", "Upper limit."),
        ], build: { FilterDescriptors.clamp($0) }),
        FilterDescriptor("moving_average", "Box average of the last `length` samples; at the start, of those seen so far.", keys: [
            ConfigKey("length", "integer", default: "required", allowed: "2–4096", "Samples averaged."),
        ], build: { FilterDescriptors.movingAverage($0) }),
        FilterDescriptor("rate_limit", "Slew-rate limit: each output moves at most `max_step` from the previous output.", keys: [
            ConfigKey("max_step", "number", default: "required", allowed: "above 0", "Largest change from one output to the next, in the channel's unit."),
        ], build: { FilterDescriptors.rateLimit($0) }),
        FilterDescriptor("median", "Running median of `length` samples; with `threshold`, a despiker (see below).", keys: [
            ConfigKey("length", "integer", default: "`5`", allowed: "odd, 3–15", "Samples in the window."),
            ConfigKey("threshold", "number", default: "none", allowed: "0 or more",
                      "Despike instead of smoothing: replace only samples this far from the median."),
        ], build: { FilterDescriptors.median($0) }),
        FilterDescriptor("deadband", "Report by exception: a sample passes only when it moved more than `delta` from the last one passed.", keys: [
            ConfigKey("delta", "number", default: "required", allowed: "0 or more", "Smallest change that passes."),
        ], build: { FilterDescriptors.deadband($0) }),
        FilterDescriptor("decimate", "Keeps one sample in `factor` after an anti-alias low pass.", keys: [
            ConfigKey("factor", "integer", default: "required", allowed: "2–64", "Keep one sample in `factor`."),
        ], build: { FilterDescriptors.decimate($0) }),
    ]

    /// The descriptor of `kind`.
    public static func named(_ kind: String) -> FilterDescriptor? { all.first { $0.kind == kind } }

    /// Every key of any filter: what an entry may hold before its kind is known.
    static let allKeyNames: [String] = uniqued(["kind"] + all.flatMap { $0.keys.map(\.name) })

    enum BandKind: String, CaseIterable { case lowpass, highpass, bandpass }

    /// `band` and `cutoff` of `fir` and `butterworth`.
    static func band(_ e: Entry) -> FilterBand? {
        let m = e.m, path = e.path, r = e.r
        let b = m["band"].flatMap { r.choice($0.value, "\(path).band", BandKind.self) } ?? .lowpass
        guard let cn = r.required(m, "cutoff", path, in: e.node) else { return nil }
        func frac(_ n: Node, _ p: String) -> Double? {
            guard let v = r.double(n, p) else { return nil }
            guard v > 0 && v < 1 else { r.error(n, p, "expected a cutoff between 0 and 1 (a fraction of the Nyquist frequency), found \(v)"); return nil }
            return v
        }
        if b == .bandpass {
            guard case .sequence(let s) = cn, s.count == 2, let lo = frac(s[0], "\(path).cutoff[0]"), let hi = frac(s[1], "\(path).cutoff[1]") else {
                r.error(cn, "\(path).cutoff", "a band pass needs [low, high]"); return nil
            }
            guard lo < hi else { r.error(cn, "\(path).cutoff", "expected low below high"); return nil }
            return .bandpass(lo, hi)
        }
        guard let c = frac(cn, "\(path).cutoff") else { return nil }
        return b == .lowpass ? .lowpass(c) : .highpass(c)
    }

    static func fir(_ e: Entry) -> FilterSpec? {
        let m = e.m, path = e.path, r = e.r
        let taps = m["taps"].flatMap { r.int($0.value, "\(path).taps", in: 3...1024) } ?? 31
        guard let b = band(e) else { return nil }
        if case .highpass = b, taps % 2 == 0 { r.error(m["taps"]?.value ?? e.node, "\(path).taps", "a high-pass FIR needs an odd number of taps, found \(taps)"); return nil }
        return .fir(taps: taps, band: b)
    }

    static func butterworth(_ e: Entry) -> FilterSpec? {
        let order = e.m["order"].flatMap { e.r.int($0.value, "\(e.path).order", in: 1...12) } ?? 4
        guard let b = band(e) else { return nil }
        return .butterworth(order: order, band: b)
    }

    static func ema(_ e: Entry) -> FilterSpec? {
        let path = e.path, r = e.r
        guard let an = r.required(e.m, "alpha", path, in: e.node), let a = r.double(an, "\(path).alpha") else { return nil }
        guard a > 0 && a <= 1 else { r.error(an, "\(path).alpha", "expected 0 < alpha <= 1, found \(a)"); return nil }
        return .ema(alpha: a)
    }

    static func clamp(_ e: Entry) -> FilterSpec? {
        let m = e.m, path = e.path, r = e.r, node = e.node
        guard let lo = r.required(m, "min", path, in: node).flatMap({ r.double($0, "\(path).min") }),
              let hi = r.required(m, "max", path, in: node).flatMap({ r.double($0, "\(path).max") }) else { return nil }
        guard lo < hi else { r.error(m["min"]?.value, "\(path).min", "expected min below max"); return nil }
        return .clamp(min: lo, max: hi)
    }

    static func movingAverage(_ e: Entry) -> FilterSpec? {
        // length: samples averaged (2–4096)
        guard let ln = e.r.required(e.m, "length", e.path, in: e.node), let n = e.r.int(ln, "\(e.path).length", in: 2...4096) else { return nil }
        return .movingAverage(length: n)
    }

    static func rateLimit(_ e: Entry) -> FilterSpec? {
        let path = e.path, r = e.r
        // max_step: the most an output may move from the previous one, in the channel's unit
        guard let sn = r.required(e.m, "max_step", path, in: e.node), let v = r.double(sn, "\(path).max_step") else { return nil }
        guard v > 0 else { r.error(sn, "\(path).max_step", "expected a step above 0, found \(v)"); return nil }
        return .rateLimit(maxStep: v)
    }

    static func median(_ e: Entry) -> FilterSpec? {
        let m = e.m, path = e.path, r = e.r
        // length: odd window, 3–15; threshold (optional): replace only samples this far from the median
        let ln = m["length"]?.value
        let n = ln.flatMap { r.int($0, "\(path).length", in: 3...15) } ?? 5
        if n % 2 == 0 { r.error(ln ?? e.node, "\(path).length", "expected an odd window length, found \(n)"); return nil }
        var threshold: Double?
        if let tn = m["threshold"], let v = r.double(tn.value, "\(path).threshold") {
            guard v >= 0 else { r.error(tn.value, "\(path).threshold", "expected 0 or more, found \(v)"); return nil }
            threshold = v
        }
        return .median(length: n, threshold: threshold)
    }

    static func deadband(_ e: Entry) -> FilterSpec? {
        let path = e.path, r = e.r
        // delta: a sample passes only when it moved more than this from the last one passed
        guard let bn = r.required(e.m, "delta", path, in: e.node), let v = r.double(bn, "\(path).delta") else { return nil }
        guard v >= 0 else { r.error(bn, "\(path).delta", "expected 0 or more, found \(v)"); return nil }
        return .deadband(band: v)
    }

    static func decimate(_ e: Entry) -> FilterSpec? {
        // factor: keep one sample in this many (2–64), after an anti-alias FIR of 20·factor+1 taps
        guard let fn = e.r.required(e.m, "factor", e.path, in: e.node), let q = e.r.int(fn, "\(e.path).factor", in: 2...64) else { return nil }
        return .decimate(factor: q)
    }
}
