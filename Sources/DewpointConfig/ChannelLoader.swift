import DewpointCore

/// Reads one entry of a binding's `channels` list.
enum ChannelLoader {
    /// Keys of every channel; the keys that locate its value come from the decoders' descriptors.
    static let commonKeys = ["name", "unit", "scale", "offset", "range", "detectors", "filters", "vibration"]
    static let keys = commonKeys + DecoderDescriptors.allChannelKeyNames

    /// Units the checker knows, with the physically possible range where one exists.
    static let units: [String: ClosedRange<Double>?] = [
        "": nil, "degC": -273.15...Double.infinity, "degF": -459.67...Double.infinity, "K": 0...Double.infinity,
        "%": nil, "%RH": 0...100, "Pa": 0...Double.infinity, "hPa": 0...Double.infinity, "kPa": 0...Double.infinity,
        "bar": 0...Double.infinity, "mbar": 0...Double.infinity, "V": nil, "mV": nil, "A": nil, "mA": nil, "W": nil,
        "kW": nil, "Wh": nil, "kWh": nil, "Hz": 0...Double.infinity, "rpm": nil, "m/s": nil, "m/s2": nil, "g": nil,
        "mm/s": nil, "m": nil, "mm": nil, "deg": nil, "rad": nil, "ppm": 0...Double.infinity, "ppb": 0...Double.infinity,
        "lux": 0...Double.infinity, "dB": nil, "dBm": nil, "s": nil, "ms": nil, "L/min": nil, "m3/h": nil, "count": nil,
        "ug/m3": 0...Double.infinity, "knots": nil,
    ]

    static func load(_ node: Node, _ path: String, decoder: DecoderSpec, reader r: YAMLReader) -> ChannelSpec? {
        guard let m = r.mapping(node, path, allowed: keys) else { return nil }
        let before = r.diagnostics.count
        guard let nn = r.required(m, "name", path, in: node), let name = r.string(nn, "\(path).name") else { return nil }
        var c = ChannelSpec(name: name, locator: .payload)
        var fixedPointScale = 1.0

        if let u = m["unit"], let unit = r.string(u.value, "\(path).unit") {
            c.unit = unit
            if units[unit] == nil, let s = Suggest.closest(to: unit, in: Array(units.keys).filter { !$0.isEmpty }), s != unit {
                r.error(u.value, "\(path).unit", "unknown unit '\(unit)'; did you mean '\(s)'?")
            }
        }

        // where the value is: the decoder's channel keys; a channel key of another decoder is refused
        if let d = DecoderDescriptors.of(decoder) {
            r.refuse(node, path, known: DecoderDescriptors.allChannelKeyNames, own: d.channelKeys.map(\.name)) { k in
                "'\(k)' does not apply to the \(d.kind) decoder; \(d.channelKeysText)"
            }
            if let l = d.locate(Entry(m: m, node: node, path: path, r: r), decoder) {
                c.locator = l.locator
                fixedPointScale = l.scale
            }
        }

        if let s = m["scale"], let v = r.double(s.value, "\(path).scale") {
            if v == 0 { r.error(s.value, "\(path).scale", "a scale of 0 turns every value into the offset") } else { c.scale = v }
        }
        c.scale *= fixedPointScale
        if let o = m["offset"], let v = r.double(o.value, "\(path).offset") { c.offset = v }

        if let rn = m["range"] {
            if case .sequence(let seq) = rn.value, seq.count == 2,
               let lo = r.double(seq[0], "\(path).range[0]"), let hi = r.double(seq[1], "\(path).range[1]") {
                if lo >= hi {
                    r.error(rn.value, "\(path).range", "expected [min, max] with min below max, found [\(lo), \(hi)]")
                } else if let phys = units[c.unit] ?? nil, lo < phys.lowerBound || hi > phys.upperBound {
                    r.error(rn.value, "\(path).range", "[\(lo), \(hi)] \(c.unit) lies outside what \(c.unit) can measure (\(phys.lowerBound) to \(phys.upperBound))")
                } else {
                    c.validMin = lo; c.validMax = hi
                }
            } else if case .sequence = rn.value {
                r.error(rn.value, "\(path).range", "expected [min, max], found a list of another length")
            } else {
                r.error(rn.value, "\(path).range", "expected [min, max], found \(YAMLReader.describe(rn.value))")
            }
        }

        if let fn = m["filters"] {
            if case .sequence(let seq) = fn.value {
                for (i, f) in seq.enumerated() {
                    if let spec = filter(f, "\(path).filters[\(i)]", r) { c.filters.append(spec) }
                }
            } else {
                r.error(fn.value, "\(path).filters", "expected a list of filters, found \(YAMLReader.describe(fn.value))")
            }
        }
        if let vn = m["vibration"] {
            var rate: Double?
            if case .binary(let f) = c.locator { rate = f.sampleRateHz > 0 ? f.sampleRateHz : nil }
            // decimation stages before the features lower the rate they see
            let factor = c.filters.reduce(1.0) { q, f in if case .decimate(let k) = f { return q * Double(k) } else { return q } }
            rate = rate.map { $0 / factor }
            c.vibration = vibration(vn.value, "\(path).vibration", fieldRate: rate, r)
        }
        if let dn = m["detectors"] {
            if case .sequence(let seq) = dn.value {
                for (i, d) in seq.enumerated() {
                    if let spec = detector(d, "\(path).detectors[\(i)]", channel: c, r) { c.detectors.append(spec) }
                }
            } else {
                r.error(dn.value, "\(path).detectors", "expected a list of detectors, found \(YAMLReader.describe(dn.value))")
            }
        }
        return r.diagnostics.count == before ? c : nil
    }

    static func detector(_ node: Node, _ path: String, channel: ChannelSpec, _ r: YAMLReader) -> DetectorSpec? {
        guard let m = r.mapping(node, path, allowed: DetectorDescriptors.allKeyNames) else { return nil }
        guard let kn = r.required(m, "kind", path, in: node),
              let name = r.choice(kn, "\(path).kind", among: DetectorDescriptors.all.map(\.kind)),
              let kind = DetectorDescriptors.named(name) else { return nil }
        r.refuse(node, path, known: DetectorDescriptors.allKeyNames, own: kind.acceptedKeys) { k in
            "'\(k)' does not apply to \(article(kind.kind)) \(kind.kind) detector; its keys are: \(kind.acceptedKeys.dropFirst().joined(separator: ", "))"
        }
        let severity = m["severity"].flatMap { r.choice($0.value, "\(path).severity", Severity.self) } ?? .warning
        let minSamples = m["min_samples"].flatMap { r.int($0.value, "\(path).min_samples", in: 1...1_000_000) } ?? 1
        var hysteresis = 0.0
        if let h = m["hysteresis"], let v = r.double(h.value, "\(path).hysteresis") {
            if v < 0 { r.error(h.value, "\(path).hysteresis", "expected a value of 0 or more, found \(v)") } else { hysteresis = v }
        }
        guard let spec = kind.build(Entry(m: m, node: node, path: path, r: r)) else { return nil }
        // raise_at / clear_below: score levels (0–1); defaults depend on the kind
        func level(_ key: String) -> Double? {
            guard let n = m[key], let v = r.double(n.value, "\(path).\(key)") else { return nil }
            guard v >= 0 && v <= 1 else { r.error(n.value, "\(path).\(key)", "expected a score from 0 to 1, found \(v)"); return nil }
            return v
        }
        let raise = level("raise_at"), clear = level("clear_below")
        if let raise, let clear, clear > raise {
            r.error(m["clear_below"]!.value, "\(path).clear_below", "expected clear_below (\(clear)) at most raise_at (\(raise))")
            return nil
        }
        var d = DetectorSpec(kind: spec, severity: severity, minSamples: kind.usesMinSamples ? minSamples : 1,
                             hysteresis: hysteresis, raiseAt: raise, clearBelow: clear)
        // cooldown: after a clear, no new raise for this long; min_duration: how long the condition must hold
        if let c = m["cooldown"], let ms = r.durationMs(c.value, "\(path).cooldown") { d.cooldownMs = ms }
        if let c = m["min_duration"], let ms = r.durationMs(c.value, "\(path).min_duration") { d.minDurationMs = ms }
        // hold: once raised, stay raised at least this long
        if let c = m["hold"], let ms = r.durationMs(c.value, "\(path).hold") { d.holdMs = ms }
        return d
    }

    /// `vibration: {fft_size: 1024, sample_rate: 25600, bands: [[10, 100], [100, 1000]]}`.
    /// sample_rate (Hz) defaults to the binary field's, divided by the channel's decimation
    /// factors; bands are [low, high) in Hz below Nyquist.
    static func vibration(_ node: Node, _ path: String, fieldRate: Double?, _ r: YAMLReader) -> VibrationSpec? {
        guard let m = r.mapping(node, path, allowed: ["fft_size", "sample_rate", "bands"]) else { return nil }
        var size = 1024
        if let f = m["fft_size"], let v = r.int(f.value, "\(path).fft_size", in: 16...65536) {
            if v & (v - 1) != 0 { r.error(f.value, "\(path).fft_size", "expected a power of two, found \(v)"); return nil }
            size = v
        }
        var rate = fieldRate
        if let f = m["sample_rate"], let v = r.double(f.value, "\(path).sample_rate") {
            guard v > 0 else { r.error(f.value, "\(path).sample_rate", "expected a rate in Hz above 0, found \(v)"); return nil }
            rate = v
        }
        guard let fs = rate else {
            r.error(node, "\(path).sample_rate", "missing required key (the channel has no sample_rate to take it from)")
            return nil
        }
        var bands: [[Double]] = []
        if let bn = m["bands"] {
            guard case .sequence(let items) = bn.value else {
                r.error(bn.value, "\(path).bands", "expected a list of [low, high] in Hz, found \(YAMLReader.describe(bn.value))"); return nil
            }
            for (i, item) in items.enumerated() {
                let p = "\(path).bands[\(i)]"
                guard case .sequence(let pair) = item, pair.count == 2, let lo = r.double(pair[0], p), let hi = r.double(pair[1], p) else {
                    r.error(item, p, "expected [low, high] in Hz"); continue
                }
                if lo < 0 || hi <= lo { r.error(item, p, "expected 0 <= low < high, found [\(lo), \(hi)]"); continue }
                if hi > fs / 2 { r.error(item, p, "expected high at most the Nyquist frequency \(fs / 2) Hz, found \(hi)"); continue }
                bands.append([lo, hi])
            }
        }
        return VibrationSpec(fftSize: size, sampleRateHz: fs, bands: bands)
    }

    static func filter(_ node: Node, _ path: String, _ r: YAMLReader) -> FilterSpec? {
        guard let m = r.mapping(node, path, allowed: FilterDescriptors.allKeyNames) else { return nil }
        guard let kn = r.required(m, "kind", path, in: node),
              let name = r.choice(kn, "\(path).kind", among: FilterDescriptors.all.map(\.kind)),
              let kind = FilterDescriptors.named(name) else { return nil }
        r.refuse(node, path, known: FilterDescriptors.allKeyNames, own: kind.acceptedKeys) { k in
            "'\(k)' does not apply to \(article(kind.kind)) \(kind.kind) filter; its keys are: \(kind.acceptedKeys.dropFirst().joined(separator: ", "))"
        }
        return kind.build(Entry(m: m, node: node, path: path, r: r))
    }

    /// A CSV column: a 0-based index, or a name from `decoder.header`.
    static func column(_ node: Node, _ path: String, decoder: DecoderSpec, _ r: YAMLReader) -> Int? {
        if node.int != nil { return r.int(node, path, in: 0...1023) }
        guard let name = r.string(node, path) else { return nil }
        guard case .csv(_, _, let header) = decoder, !header.isEmpty else {
            r.error(node, path, "expected a column index, found '\(name)' (names need decoder.header)")
            return nil
        }
        if let i = header.firstIndex(of: name) { return i }
        let hint = Suggest.closest(to: name, in: header).map { "; did you mean '\($0)'?" } ?? ""
        r.error(node, path, "'\(name)' is not in decoder.header (\(header.joined(separator: ", ")))\(hint)")
        return nil
    }

    static func binaryField(_ m: [String: (key: Node, value: Node)], _ path: String, _ node: Node, _ r: YAMLReader) -> BinaryField? {
        guard let on = r.required(m, "byte_offset", path, in: node), let off = r.int(on, "\(path).byte_offset", in: 0...65535),
              let tn = r.required(m, "type", path, in: node), let kind = r.choice(tn, "\(path).type", BinaryField.Kind.self) else { return nil }
        var f = BinaryField(offset: off, kind: kind)
        if let e = m["endian"], let v = r.choice(e.value, "\(path).endian", BinaryField.Endian.self) { f.endian = v }
        if let e = m["word_order"], let v = r.choice(e.value, "\(path).word_order", BinaryField.WordOrder.self) {
            if kind.size < 4 { r.error(e.value, "\(path).word_order", "word order applies to 32- and 64-bit types, not \(kind.rawValue)") }
            f.wordOrder = v
        }
        if let e = m["count"], let v = r.int(e.value, "\(path).count", in: 1...65536) { f.count = v }
        if let e = m["stride"], let v = r.int(e.value, "\(path).stride", in: 1...65536) {
            if v < kind.size { r.error(e.value, "\(path).stride", "expected a stride of at least \(kind.size) bytes for \(kind.rawValue), found \(v)") }
            f.stride = v
        }
        if let e = m["sample_rate"], let v = r.double(e.value, "\(path).sample_rate") {
            if v <= 0 { r.error(e.value, "\(path).sample_rate", "expected a rate in Hz above 0, found \(v)") }
            f.sampleRateHz = v
        }
        if let e = m["bit_width"], let w = r.int(e.value, "\(path).bit_width", in: 1...64) {
            if kind == .f16 || kind == .f32 || kind == .f64 { r.error(e.value, "\(path).bit_width", "bit fields need an integer type, found \(kind.rawValue)") }
            let off = m["bit_offset"].flatMap { r.int($0.value, "\(path).bit_offset", in: 0...63) } ?? 0
            if off + w > kind.size * 8 {
                r.error(e.value, "\(path).bit_width", "bits \(off)..<\(off + w) do not fit in a \(kind.rawValue) (\(kind.size * 8) bits)")
            }
            f.bitWidth = w
            f.bitOffset = off
        } else if let e = m["bit_offset"] {
            r.error(e.key, "\(path).bit_offset", "bit_offset needs bit_width")
        }
        if let e = m["when"], let wm = r.mapping(e.value, "\(path).when", allowed: ["byte_offset", "equals"]) {
            if let o = r.required(wm, "byte_offset", "\(path).when", in: e.value), let off = r.int(o, "\(path).when.byte_offset", in: 0...65535),
               let q = r.required(wm, "equals", "\(path).when", in: e.value), let v = r.int(q, "\(path).when.equals", in: 0...255) {
                f.whenOffset = off
                f.whenEquals = UInt8(v)
            }
        }
        if f.count > 1 && f.sampleRateHz <= 0 {
            r.error(m["count"]?.key ?? node, "\(path).sample_rate", "an array (count > 1) needs sample_rate in Hz to spread its samples in time")
        }
        return f
    }
}
