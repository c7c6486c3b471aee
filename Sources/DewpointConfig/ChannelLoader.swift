import DewpointCore

/// Reads one entry of a binding's `channels` list.
enum ChannelLoader {
    static let keys = ["name", "unit", "pointer", "column", "scale", "offset", "range", "detectors",
                       "byte_offset", "type", "endian", "word_order", "count", "stride", "sample_rate", "key", "field", "bit_offset", "bit_width", "frac_bits", "when", "filters", "vibration"]
    static let binaryKeys = ["byte_offset", "type", "endian", "word_order", "count", "stride", "sample_rate", "bit_offset",
                             "bit_width", "frac_bits", "when"]

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

        switch decoder {
        case .json, .jsonArray:
            if let e = m["column"] { r.error(e.key, "\(path).column", "the json decoder locates values with 'pointer', not 'column'") }
            if let pn = r.required(m, "pointer", path, in: node), let p = r.string(pn, "\(path).pointer") {
                BindingLoader.checkPointer(p, pn, "\(path).pointer", r)
                c.locator = .jsonPointer(p)
            }
        case .csv:
            if let e = m["pointer"] { r.error(e.key, "\(path).pointer", "the csv decoder locates values with 'column', not 'pointer'") }
            if let cn = r.required(m, "column", path, in: node), let col = column(cn, "\(path).column", decoder: decoder, r) {
                c.locator = .csvColumn(col)
            }
        case .value:
            for k in ["pointer", "column"] {
                if let e = m[k] { r.error(e.key, "\(path).\(k)", "the value decoder takes the whole payload; remove '\(k)'") }
            }
        case .keyValue:
            if let kn = r.required(m, "key", path, in: node), let k = r.string(kn, "\(path).key") { c.locator = .key(k) }
        case .lineProtocol:
            if let fn = r.required(m, "field", path, in: node), let f = r.string(fn, "\(path).field") { c.locator = .key(f) }
        case .nmea:
            if let fn = r.required(m, "field", path, in: node) {
                if let k = fn.int {
                    if k < 1 || k > 99 { r.error(fn, "\(path).field", "expected a data field index from 1 to 99, found \(k)") } else { c.locator = .nmea(.index(k)) }
                } else if let name = r.string(fn, "\(path).field") {
                    if let f = NMEAField.names[name] { c.locator = .nmea(f) } else {
                        let hint = Suggest.closest(to: name, in: Array(NMEAField.names.keys)).map { "; did you mean '\($0)'?" } ?? ""
                        r.error(fn, "\(path).field", "expected a field index or one of \(NMEAField.names.keys.sorted().joined(separator: ", ")), found '\(name)'\(hint)")
                    }
                }
            }
        case .binary, .modbusTCP:
            for k in ["pointer", "column"] {
                if let e = m[k] { r.error(e.key, "\(path).\(k)", "the binary decoder locates values with 'byte_offset' and 'type'") }
            }
            if let f = binaryField(m, path, node, r) { c.locator = .binary(f) }
            // fixed point: a Qm.n value is the integer scaled by 2^-n (applied with `scale` below)
            if let e = m["frac_bits"], let n = r.int(e.value, "\(path).frac_bits", in: 0...63) {
                for _ in 0..<n { fixedPointScale /= 2 }
            }
        }
        // keys of another decoder (json, csv, value and binary check pointer/column above)
        let textDecoder = ["lineprotocol", "keyvalue", "nmea"].contains(decoder.kindName)
        for (k, owners) in [("pointer", ["json"]), ("column", ["csv"]), ("key", ["keyvalue"]), ("field", ["lineprotocol", "nmea"])]
            where !owners.contains(decoder.kindName) && (textDecoder || k == "key" || k == "field") {
            if let e = m[k] { r.error(e.key, "\(path).\(k)", "'\(k)' does not apply to the \(decoder.kindName) decoder") }
        }
        if decoder != .binary, decoder.kindName != "modbustcp" {
            for k in binaryKeys {
                if let e = m[k] { r.error(e.key, "\(path).\(k)", "'\(k)' belongs to the binary decoder, but decoder is '\(decoder.kindName)'") }
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
        guard let m = r.mapping(node, path, allowed: ["kind", "above", "below", "severity", "min_samples", "hysteresis", "max_per_second", "epsilon",
                                                     "samples", "after", "window", "alpha", "k", "h", "raise_at", "clear_below",
                                                     "cooldown", "min_duration", "hold", "intervals"]) else { return nil }
        guard let kn = r.required(m, "kind", path, in: node), let kind = r.choice(kn, "\(path).kind", DetectorKind.self) else { return nil }
        let severity = m["severity"].flatMap { r.choice($0.value, "\(path).severity", Severity.self) } ?? .warning
        let minSamples = m["min_samples"].flatMap { r.int($0.value, "\(path).min_samples", in: 1...1_000_000) } ?? 1
        var hysteresis = 0.0
        if let h = m["hysteresis"], let v = r.double(h.value, "\(path).hysteresis") {
            if v < 0 { r.error(h.value, "\(path).hysteresis", "expected a value of 0 or more, found \(v)") } else { hysteresis = v }
        }
        let spec: DetectorSpec.Kind
        switch kind {
        case .threshold:
            let above = m["above"].flatMap { r.double($0.value, "\(path).above") }
            let below = m["below"].flatMap { r.double($0.value, "\(path).below") }
            if m["above"] == nil && m["below"] == nil {
                r.error(node, path, "a threshold detector needs 'above', 'below' or both")
                return nil
            }
            if let above, let below, below >= above {
                r.error(m["below"]!.value, "\(path).below", "expected below (\(below)) to be less than above (\(above))")
                return nil
            }
            spec = .threshold(above: above, below: below)
        case .rate_of_change:
            guard let mn = r.required(m, "max_per_second", path, in: node), let v = r.double(mn, "\(path).max_per_second") else { return nil }
            guard v > 0 else { r.error(mn, "\(path).max_per_second", "expected a rate above 0, found \(v)"); return nil }
            spec = .rateOfChange(maxPerSecond: v)
        case .stuck:
            let eps = m["epsilon"].flatMap { r.double($0.value, "\(path).epsilon") } ?? 0
            guard let sn = r.required(m, "samples", path, in: node), let n = r.int(sn, "\(path).samples", in: 2...1_000_000) else { return nil }
            if eps < 0 { r.error(m["epsilon"]?.value, "\(path).epsilon", "expected 0 or more, found \(eps)"); return nil }
            spec = .stuck(epsilon: eps, samples: n)
        case .dropout:
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
            if ms == 0 && n == 0 { r.error(node, path, "a dropout detector needs 'after', 'intervals' or both"); return nil }
            spec = .dropout(afterMs: ms, intervals: n)
        case .timestamps:
            spec = .timestamps
        case .zscore, .mad:
            // window: samples in the rolling window (default 288, one day of 5-minute samples)
            let w = m["window"].flatMap { r.int($0.value, "\(path).window", in: 3...4096) } ?? 288
            spec = kind == .zscore ? .zscore(window: w) : .mad(window: w)
        case .ewma, .seasonal:
            // alpha: smoothing of the mean and variance (per time-of-day bin for seasonal)
            let a = m["alpha"].flatMap { r.double($0.value, "\(path).alpha") } ?? (kind == .ewma ? 0.01 : 0.1)
            guard a > 0 && a <= 1 else { r.error(m["alpha"]?.value, "\(path).alpha", "expected 0 < alpha <= 1, found \(a)"); return nil }
            spec = kind == .ewma ? .ewma(alpha: a) : .seasonal(alpha: a)
        case .cusum:
            // k: allowance in σ (default 0.5); h: decision sum in σ (default 5)
            let k = m["k"].flatMap { r.double($0.value, "\(path).k") } ?? 0.5
            let h = m["h"].flatMap { r.double($0.value, "\(path).h") } ?? 5
            guard k >= 0 else { r.error(m["k"]?.value, "\(path).k", "expected 0 or more, found \(k)"); return nil }
            guard h > 0 else { r.error(m["h"]?.value, "\(path).h", "expected a sum above 0, found \(h)"); return nil }
            spec = .cusum(k: k, h: h)
        case .novelty:
            spec = .novelty
        }
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
        var d = DetectorSpec(kind: spec, severity: severity, minSamples: kind == .stuck || kind == .dropout ? 1 : minSamples,
                             hysteresis: hysteresis, raiseAt: raise, clearBelow: clear)
        // cooldown: after a clear, no new raise for this long; min_duration: how long the condition must hold
        if let c = m["cooldown"], let ms = r.durationMs(c.value, "\(path).cooldown") { d.cooldownMs = ms }
        if let c = m["min_duration"], let ms = r.durationMs(c.value, "\(path).min_duration") { d.minDurationMs = ms }
        // hold: once raised, stay raised at least this long
        if let c = m["hold"], let ms = r.durationMs(c.value, "\(path).hold") { d.holdMs = ms }
        return d
    }

    enum DetectorKind: String, CaseIterable { case threshold, rate_of_change, stuck, dropout, timestamps, zscore, ewma, mad, cusum, seasonal, novelty }
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

    enum FilterKind: String, CaseIterable { case fir, butterworth, ema, clamp, moving_average, rate_limit, median, deadband, decimate }
    enum BandKind: String, CaseIterable { case lowpass, highpass, bandpass }

    static func filter(_ node: Node, _ path: String, _ r: YAMLReader) -> FilterSpec? {
        guard let m = r.mapping(node, path, allowed: ["kind", "band", "cutoff", "taps", "order", "alpha", "min", "max",
                                                                 "length", "max_step", "threshold", "delta", "factor"]) else { return nil }
        guard let kn = r.required(m, "kind", path, in: node), let kind = r.choice(kn, "\(path).kind", FilterKind.self) else { return nil }
        func band() -> FilterBand? {
            let b = m["band"].flatMap { r.choice($0.value, "\(path).band", BandKind.self) } ?? .lowpass
            guard let cn = r.required(m, "cutoff", path, in: node) else { return nil }
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
        switch kind {
        case .fir:
            let taps = m["taps"].flatMap { r.int($0.value, "\(path).taps", in: 3...1024) } ?? 31
            guard let b = band() else { return nil }
            if case .highpass = b, taps % 2 == 0 { r.error(m["taps"]?.value ?? node, "\(path).taps", "a high-pass FIR needs an odd number of taps, found \(taps)"); return nil }
            return .fir(taps: taps, band: b)
        case .butterworth:
            let order = m["order"].flatMap { r.int($0.value, "\(path).order", in: 1...12) } ?? 4
            guard let b = band() else { return nil }
            return .butterworth(order: order, band: b)
        case .ema:
            guard let an = r.required(m, "alpha", path, in: node), let a = r.double(an, "\(path).alpha") else { return nil }
            guard a > 0 && a <= 1 else { r.error(an, "\(path).alpha", "expected 0 < alpha <= 1, found \(a)"); return nil }
            return .ema(alpha: a)
        case .clamp:
            guard let lo = r.required(m, "min", path, in: node).flatMap({ r.double($0, "\(path).min") }),
                  let hi = r.required(m, "max", path, in: node).flatMap({ r.double($0, "\(path).max") }) else { return nil }
            guard lo < hi else { r.error(m["min"]?.value, "\(path).min", "expected min below max"); return nil }
            return .clamp(min: lo, max: hi)
        case .moving_average:
            // length: samples averaged (2–4096)
            guard let ln = r.required(m, "length", path, in: node), let n = r.int(ln, "\(path).length", in: 2...4096) else { return nil }
            return .movingAverage(length: n)
        case .rate_limit:
            // max_step: the most an output may move from the previous one, in the channel's unit
            guard let sn = r.required(m, "max_step", path, in: node), let v = r.double(sn, "\(path).max_step") else { return nil }
            guard v > 0 else { r.error(sn, "\(path).max_step", "expected a step above 0, found \(v)"); return nil }
            return .rateLimit(maxStep: v)
        case .median:
            // length: odd window, 3–15; threshold (optional): replace only samples this far from the median
            let ln = m["length"]?.value
            let n = ln.flatMap { r.int($0, "\(path).length", in: 3...15) } ?? 5
            if n % 2 == 0 { r.error(ln ?? node, "\(path).length", "expected an odd window length, found \(n)"); return nil }
            var threshold: Double?
            if let tn = m["threshold"], let v = r.double(tn.value, "\(path).threshold") {
                guard v >= 0 else { r.error(tn.value, "\(path).threshold", "expected 0 or more, found \(v)"); return nil }
                threshold = v
            }
            return .median(length: n, threshold: threshold)
        case .deadband:
            // delta: a sample passes only when it moved more than this from the last one passed
            guard let bn = r.required(m, "delta", path, in: node), let v = r.double(bn, "\(path).delta") else { return nil }
            guard v >= 0 else { r.error(bn, "\(path).delta", "expected 0 or more, found \(v)"); return nil }
            return .deadband(band: v)
        case .decimate:
            // factor: keep one sample in this many (2–64), after an anti-alias FIR of 20·factor+1 taps
            guard let fn = r.required(m, "factor", path, in: node), let q = r.int(fn, "\(path).factor", in: 2...64) else { return nil }
            return .decimate(factor: q)
        }
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
