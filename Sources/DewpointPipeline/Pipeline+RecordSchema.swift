import DewpointCore
import DewpointSignal

extension Pipeline {
    /// What the summaries and alerts of `spec`'s devices can carry (see `RecordSchema`). It
    /// follows `emitSummary` and `emitAlert`: `RecordSchemaTests` checks every key of real records
    /// against it.
    public static func recordSchema(for spec: BindingSpec) -> RecordSchema {
        let channels = spec.channels.map { c -> RecordSchema.Channel in
            var stats = RecordSchema.baseStatistics
            stats += spec.window.percentiles.map(percentileKey)
            if spec.window.timeWeightedMean { stats.append("twmean") }
            var bands: [String] = []
            if let v = c.vibration {
                stats += ["rms", "peak", "p2p", "crest", "kurtosis", "skewness", "frames"]
                bands = v.bands.map { "\(numberText($0[0]))-\(numberText($0[1]))" }
            }
            var detectors: [String] = []
            for d in c.detectors where !detectors.contains(d.name) { detectors.append(d.name) }
            return RecordSchema.Channel(name: c.name, unit: c.unit, statistics: stats, bands: bands, detectors: detectors)
        }
        var schema = RecordSchema(binding: spec.name, channels: channels, summaries: spec.output.summaries, alerts: spec.output.alerts)
        schema.deviceDetectors = spec.deviceDetectors.isEmpty ? [] : ["device"]
        return schema
    }
}

extension Pipeline {
    /// The binding of the device named `name` (the first binding that has one by that name).
    public func bindingName(ofDevice name: String) -> String? {
        device(named: name).map { bindings[$0.binding].name }
    }
}

extension Pipeline {
    /// The alerts of device `name` raised now, as `channel/detector`; nil if there is no such device.
    public func raisedAlerts(ofDevice name: String) -> [String]? {
        device(named: name).map(raisedAlerts)
    }

    /// A device by name: those that take it from a topic level, then the bindings' fixed ones.
    private func device(named name: String) -> DeviceState? {
        for m in byName { if let d = m[name] { return d } }
        return fixedDevice.first { $0?.name == name } ?? nil
    }

    /// Every device with its binding's name (lighter than `deviceSnapshot`).
    public func deviceBindings() -> [(device: String, binding: String)] {
        devices.map { ($0.name, bindings[$0.binding].name) }
    }

    /// `channel/detector` of every alert of `d` raised now.
    func raisedAlerts(_ d: DeviceState) -> [String] {
        var raised: [String] = []
        for c in 0..<d.channelCount {
            for w in d.watches[c] where w.machine.isRaised { raised.append("\(bindings[d.binding].channels[c].name)/\(w.detector.name)") }
        }
        for w in d.deviceWatches where w.machine.isRaised { raised.append("\(DeviceDetectorSpec.recordChannel)/device") }
        return raised
    }
}
