import DewpointCore

/// Reads a binding's `detectors:` (detectors over several of the device's channels). Its keys are
/// documented from `keys`, in `docs/configuration.md`.
enum DeviceDetectorLoader {
    static let kinds: [(String, String)] = [
        ("device", "Learns how the device's channels move together and raises while their joint state departs from it; clears when it returns."),
    ]

    /// Every key of a `detectors:` entry, with the common alert keys of channel detectors.
    static let keys: [ConfigKey] = [
        ConfigKey("channels", "list of channel names", default: "every channel", allowed: "1–16 of the binding's channels",
                  "The channels watched together."),
        ConfigKey("learn", "integer", default: "`400`", allowed: "20–1,000,000 rows, and at least 4 × `smoothing`",
                  "Rows learned before scoring: the first half gives each channel's level and autocorrelation, the second how the channels vary together."),
        ConfigKey("learn_for", "duration", default: "none", allowed: "0 or more",
                  "Event time learned before scoring, besides `learn` rows: learning ends when both are reached."),
        ConfigKey("baseline", "integer", default: "`300`", allowed: "2–10,000,000 rows",
                  "Rows over which each channel's level adapts while the device is normal (it freezes while anomalous)."),
        ConfigKey("smoothing", "integer", default: "`10`", allowed: "1–10,000 rows", "Rows over which departures are averaged before they are scored."),
        ConfigKey("margin", "number", default: "`1.5`", allowed: "above 0",
                  "Multiple of the learned limit (the 0.999 quantile of normal rows) that scores 0.5."),
        ConfigKey("raise_at", "number", default: "`0.5`", allowed: "0–1", "Score at or above which the alert raises (0.5: the departure reaches `margin` × the learned limit)."),
        ConfigKey("clear_below", "number", default: "`0.4`", allowed: "0–1, at most `raise_at`", "Score below which a raised alert clears (0.4: two thirds of the raising departure)."),
        ConfigKey("min_samples", "integer", default: "`1`", allowed: "1–1,000,000", "Rows in a row the departure must hold before the alert is raised."),
    ] + DetectorDescriptors.common.filter { !["hysteresis", "raise_at", "clear_below", "min_samples"].contains($0.name) }

    static func load(_ node: Node, channels: [ChannelSpec], _ r: YAMLReader) -> [DeviceDetectorSpec] {
        guard case .sequence(let items) = node else {
            r.error(node, "detectors", "expected a list of detectors such as [{kind: device}], found \(YAMLReader.describe(node))")
            return []
        }
        var out: [DeviceDetectorSpec] = []
        for (i, item) in items.enumerated() {
            if let d = detector(item, "detectors[\(i)]", channels: channels, r) { out.append(d) }
        }
        return out
    }

    static func detector(_ node: Node, _ path: String, channels: [ChannelSpec], _ r: YAMLReader) -> DeviceDetectorSpec? {
        guard let m = r.mapping(node, path, allowed: ["kind"] + keys.map(\.name)) else { return nil }
        guard let kn = r.required(m, "kind", path, in: node), r.choice(kn, "\(path).kind", among: kinds.map(\.0)) != nil else { return nil }
        let start = r.diagnostics.count
        var indices: [Int] = []
        if let cn = m["channels"] {
            guard case .sequence(let names) = cn.value, !names.isEmpty else {
                r.error(cn.value, "\(path).channels", "expected a list of channel names such as [flow, pressure], found \(YAMLReader.describe(cn.value))")
                return nil
            }
            for (k, n) in names.enumerated() {
                guard let s = r.string(n, "\(path).channels[\(k)]") else { continue }
                guard let j = channels.firstIndex(where: { $0.name == s }) else {
                    r.error(n, "\(path).channels[\(k)]", "no channel '\(s)' in this binding; its channels are: \(channels.map(\.name).joined(separator: ", "))")
                    continue
                }
                if indices.contains(j) { r.error(n, "\(path).channels[\(k)]", "channel '\(s)' is listed twice"); continue }
                indices.append(j)
            }
        } else {
            indices = Array(channels.indices)
        }
        if indices.count > DeviceDetectorSpec.maxChannels {
            r.error(m["channels"]?.value ?? node, "\(path).channels", "expected at most \(DeviceDetectorSpec.maxChannels) channels, found \(indices.count)")
        }
        var spec = DeviceDetectorSpec(channels: indices)
        if let v = m["learn"], let n = r.int(v.value, "\(path).learn", in: 20...1_000_000) { spec.learnRows = n }
        if let v = m["learn_for"], let ms = r.durationMs(v.value, "\(path).learn_for") {
            if ms < 0 { r.error(v.value, "\(path).learn_for", "expected a duration of 0 or more") } else { spec.learnMs = ms }
        }
        if let v = m["baseline"], let n = r.int(v.value, "\(path).baseline", in: 2...10_000_000) { spec.baselineRows = Double(n) }
        if let v = m["smoothing"], let n = r.int(v.value, "\(path).smoothing", in: 1...10_000) { spec.smoothingRows = Double(n) }
        if let v = m["margin"], let x = r.double(v.value, "\(path).margin") {
            if x > 0 && x.isFinite { spec.margin = x } else { r.error(v.value, "\(path).margin", "expected a number above 0, found \(x)") }
        }
        if Double(spec.learnRows) < 4 * spec.smoothingRows {
            r.error(m["learn"]?.value ?? m["smoothing"]?.value, "\(path).learn",
                    "expected at least 4 × smoothing (\(Int(4 * spec.smoothingRows))) rows to learn from, found \(spec.learnRows)")
        }
        spec.severity = m["severity"].flatMap { r.choice($0.value, "\(path).severity", Severity.self) } ?? .warning
        spec.minSamples = m["min_samples"].flatMap { r.int($0.value, "\(path).min_samples", in: 1...1_000_000) } ?? 1
        func level(_ key: String) -> Double? {
            guard let n = m[key], let v = r.double(n.value, "\(path).\(key)") else { return nil }
            guard v >= 0 && v <= 1 else { r.error(n.value, "\(path).\(key)", "expected a score from 0 to 1, found \(v)"); return nil }
            return v
        }
        let raise = level("raise_at"), clear = level("clear_below")
        if let raise { spec.raiseAt = raise; spec.clearBelow = min(spec.clearBelow, raise) }
        if let clear {
            if clear > spec.raiseAt { r.error(m["clear_below"]!.value, "\(path).clear_below", "expected clear_below (\(clear)) at most raise_at (\(spec.raiseAt))") } else { spec.clearBelow = clear }
        }
        if let c = m["cooldown"], let ms = r.durationMs(c.value, "\(path).cooldown") { spec.cooldownMs = ms }
        if let c = m["min_duration"], let ms = r.durationMs(c.value, "\(path).min_duration") { spec.minDurationMs = ms }
        if let c = m["hold"], let ms = r.durationMs(c.value, "\(path).hold") { spec.holdMs = ms }
        return r.diagnostics.count == start ? spec : nil
    }
}
