import DewpointCore

/// Text formats of one line per frame: InfluxDB line protocol, `key=value` pairs, NMEA 0183, and
/// a payload that is one number (`decoder: value`).
extension FrameDecoder {
    /// One InfluxDB line protocol line; its timestamp, when present, is the sample time.
    // one call per frame: kept out of `decode`, whose JSON path is the hot one
    @inline(never)
    func decodeLineProtocol(_ payload: UnsafeRawBufferPointer, arrivalNs: Int64, _ line: LineProtocolLine,
                            into values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> Int64 {
        var line = line
        let channels = binding.channels
        try line.parse(payload)
        plan = .lineProtocol(line)
        for i in 0..<channels.count {
            guard case .key(let name) = channels[i].locator else { continue }
            values[i] = .nan
            for f in line.fields where matches(payload, f.key, escaped: f.keyEscaped, name) {
                switch f.kind {
                case .boolean(let b): values[i] = scaled(b ? 1 : 0, i)
                case .string: throw DecodeError("channel \(channels[i].name): field '\(name)' is a string", offset: f.value.lowerBound - 1)
                case .float, .integer, .unsigned:
                    guard let d = NumberParser.parseDouble(UnsafeRawBufferPointer(rebasing: payload[f.value])) else {
                        throw DecodeError("channel \(channels[i].name): field '\(name)' is not a number", offset: f.value.lowerBound)
                    }
                    values[i] = scaled(d, i)
                }
                break
            }
        }
        guard let tsr = line.timestamp, case .lineProtocol(let precision) = binding.decoder else { return arrivalNs }
        guard let t = NumberParser.parseInt(UnsafeRawBufferPointer(rebasing: payload[tsr])) else {
            throw DecodeError("line protocol: timestamp out of range", offset: tsr.lowerBound)
        }
        let mult: Int64 = precision == .epochS ? 1_000_000_000 : precision == .epochMs ? 1_000_000 : precision == .epochUs ? 1_000 : 1
        let (ns, o) = t.multipliedReportingOverflow(by: mult)
        guard !o else { throw DecodeError("line protocol: timestamp out of range", offset: tsr.lowerBound) }
        return ns
    }

    /// `key=value` pairs.
    // one call per frame: kept out of `decode`, whose JSON path is the hot one
    @inline(never)
    func decodeKeyValue(_ payload: UnsafeRawBufferPointer, arrivalNs: Int64, _ kv: KeyValueLine,
                        into values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> Int64 {
        var kv = kv
        let channels = binding.channels
        try kv.parse(payload)
        plan = .keyValue(kv)
        for i in 0..<channels.count {
            guard case .key(let name) = channels[i].locator else { continue }
            values[i] = .nan
            for p in kv.pairs where UnsafeRawBufferPointer(rebasing: payload[p.key]).elementsEqual(name.utf8) {
                if p.value.isEmpty { break }
                guard let d = NumberParser.parseDouble(UnsafeRawBufferPointer(rebasing: payload[p.value])) else {
                    throw DecodeError("channel \(channels[i].name): '\(name)' is not a number: '\(text(payload, p.value))'", offset: p.value.lowerBound)
                }
                values[i] = scaled(d, i)
                break
            }
        }
        return arrivalNs
    }

    /// One NMEA 0183 sentence; sentences of another type than `decoder.sentence` are ignorable.
    // one call per frame: kept out of `decode`, whose JSON path is the hot one
    @inline(never)
    func decodeNMEA(_ payload: UnsafeRawBufferPointer, arrivalNs: Int64, _ sentence: NMEASentence,
                    into values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> Int64 {
        var sentence = sentence
        let channels = binding.channels
        guard case .nmea(let want, let requireChecksum) = binding.decoder else { return arrivalNs }
        // a framer that checked `*hh` has already stripped it
        try sentence.parse(payload, requireChecksum: requireChecksum && binding.framing.checksum != .nmea)
        plan = .nmea(sentence)
        let type = UnsafeRawBufferPointer(rebasing: payload[sentence.type])
        if let want, !type.elementsEqual(want.utf8) {
            throw DecodeError("NMEA: \(String(decoding: type, as: UTF8.self)) sentence, the binding takes \(want)", offset: 3, ignorable: true)
        }
        let isGGA = type.elementsEqual("GGA".utf8), isRMC = type.elementsEqual("RMC".utf8), isGLL = type.elementsEqual("GLL".utf8)
        let f = sentence.fields
        func field(_ k: Int) -> Range<Int>? { k >= 1 && k <= f.count ? f[k - 1] : nil }
        for i in 0..<channels.count {
            guard case .nmea(let which) = channels[i].locator else { continue }
            var d: Double? = nil
            var r: Range<Int>? = nil
            switch which {
            case .index(let k): r = field(k)
            case .latitude, .longitude:
                let base = isGGA ? 2 : isRMC ? 3 : isGLL ? 1 : 0
                if base > 0, let v = field(base + (which == .longitude ? 2 : 0)), let h = field(base + (which == .longitude ? 3 : 1)), !v.isEmpty {
                    d = NMEASentence.degrees(payload, v, h)
                    if d == nil { throw DecodeError("channel \(channels[i].name): malformed position", offset: v.lowerBound) }
                }
            case .speedKnots: r = isRMC ? field(7) : nil
            case .course: r = isRMC ? field(8) : nil
            case .fixQuality: r = isGGA ? field(6) : nil
            case .satellites: r = isGGA ? field(7) : nil
            case .hdop: r = isGGA ? field(8) : nil
            case .altitude: r = isGGA ? field(9) : nil
            }
            if let r, !r.isEmpty {
                guard let v = NumberParser.parseDouble(UnsafeRawBufferPointer(rebasing: payload[r])) else {
                    throw DecodeError("channel \(channels[i].name): NMEA field is not a number: '\(text(payload, r))'", offset: r.lowerBound)
                }
                d = v
            }
            values[i] = d.map { scaled($0, i) } ?? .nan
        }
        return arrivalNs
    }

    /// The whole payload is one number, for `onlyChannel` (from the topic) or the only channel.
    // one call per frame: kept out of `decode`, whose JSON path is the hot one
    @inline(never)
    func decodeValue(_ payload: UnsafeRawBufferPointer, arrivalNs: Int64, onlyChannel: Int?,
                     into values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> Int64 {
        let channels = binding.channels
        for i in 0..<channels.count { values[i] = .nan }
        guard let ch = onlyChannel ?? (channels.count == 1 ? 0 : nil) else {
            throw DecodeError("the value decoder needs a '+channel' topic level or exactly one channel")
        }
        guard let d = NumberParser.parseDouble(trimmed(payload)) else {
            throw DecodeError("payload is not a number: '\(text(payload, 0..<min(payload.count, 40)))'", offset: 0)
        }
        values[ch] = scaled(d, ch)
        return arrivalNs
    }

    /// Whether a (possibly escaped) key in the frame equals `name`.
    private func matches(_ p: UnsafeRawBufferPointer, _ r: Range<Int>, escaped: Bool, _ name: String) -> Bool {
        if !escaped { return UnsafeRawBufferPointer(rebasing: p[r]).elementsEqual(name.utf8) }
        LineProtocolLine.unescape(p, r, into: &keyScratch)
        return keyScratch.elementsEqual(name.utf8)
    }

    private func trimmed(_ p: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var a = 0, b = p.count
        while a < b && (p[a] == 0x20 || p[a] == 0x0A || p[a] == 0x0D || p[a] == 0x09) { a += 1 }
        while b > a && (p[b - 1] == 0x20 || p[b - 1] == 0x0A || p[b - 1] == 0x0D || p[b - 1] == 0x09) { b -= 1 }
        return UnsafeRawBufferPointer(rebasing: p[a..<b])
    }
}
