import DewpointCore

/// Why a frame could not be decoded. `offset` is the byte offset in the frame, when known.
public struct DecodeError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var offset: Int?
    /// The frame is valid but not for this binding (an NMEA sentence of another type): counted
    /// as ignored, not as an error.
    public var ignorable = false
    public init(_ message: String, offset: Int? = nil, ignorable: Bool = false) {
        self.message = message; self.offset = offset; self.ignorable = ignorable
    }
    public var description: String {
        if let offset { return "at byte \(offset): \(message)" }
        return message
    }
}

/// Turns one frame of a binding into a timestamp and one value per channel.
///
/// Built once per binding; `decode` allocates nothing. Not thread-safe: one per pipeline thread.
public final class FrameDecoder {
    public let binding: BindingSpec
    public let channelCount: Int

    private enum Plan {
        case json(JSONScanner, timestampSlot: Int?)
        case csv(CSVSplitter)
        case value
        case binary(minLength: Int)
        case jsonArray(outer: JSONScanner, inner: JSONScanner, timestampSlot: Int?, maxItems: Int)
        case lineProtocol(LineProtocolLine)
        case keyValue(KeyValueLine)
        case nmea(NMEASentence)
        case modbusTCP(registers: FrameDecoder)
    }
    /// Modbus/TCP requests seen, by transaction id: (unit, function, address).
    var modbusRequests: [UInt16: (UInt8, UInt8, UInt16)] = [:]
    /// A problem in the part of the last frame after the rows it returned (a frame with several
    /// Modbus/TCP ADUs, one of them bad): the caller counts it as a decode error and clears it.
    public var trailingError: DecodeError?
    private var keyScratch: [UInt8] = []
    private lazy var timePattern: [UInt8]? = binding.timestamp.pattern.map { Array($0.utf8) }

    /// Rows a frame can fan out into (array fields); `values` must hold `maxRows * channelCount`.
    public let maxRows: Int
    /// Spacing of fanned-out rows, from the array fields' sample rate.
    public let rowSpacingNs: Double
    /// The time of each row filled by the last `decodeRows`.
    public let rowTimes: UnsafeMutablePointer<Int64>
    private var plan: Plan
    /// The JSON path's state, outside `plan` so the per-message path reads only constants.
    private let json: JSONScanner?
    private let jsonTimestampSlot: Int
    /// Per-channel scale and offset in plain memory (the hot loop must not copy `ChannelSpec`s).
    private let scales: UnsafeMutablePointer<Double>
    private let offsets: UnsafeMutablePointer<Double>

    public init(binding: BindingSpec) throws(DecodeError) {
        self.binding = binding
        channelCount = binding.channels.count
        let n = Swift.max(1, binding.channels.count)
        scales = .allocate(capacity: n)
        offsets = .allocate(capacity: n)
        for (i, c) in binding.channels.enumerated() { scales[i] = c.scale; offsets[i] = c.offset }
        var json: JSONScanner? = nil
        var jsonTs = -1
        var arrayItems = 0
        switch binding.decoder {
        case .jsonArray(let arrayPointer, let maxItems):
            let (pointers, tsSlot) = try FrameDecoder.jsonPointers(binding)
            let outer: JSONScanner
            do { outer = JSONScanner(pointers: [try JSONPointer(arrayPointer)]) } catch { throw DecodeError("array: \(error)") }
            plan = .jsonArray(outer: outer, inner: JSONScanner(pointers: pointers), timestampSlot: tsSlot, maxItems: maxItems)
            arrayItems = maxItems
        case .json:
            var pointers: [JSONPointer] = []
            for c in binding.channels {
                guard case .jsonPointer(let p) = c.locator else {
                    throw DecodeError("channel \(c.name): the json decoder needs a JSON pointer")
                }
                do { pointers.append(try JSONPointer(p)) } catch {
                    throw DecodeError("channel \(c.name): \(error)")
                }
            }
            var tsSlot: Int? = nil
            if case .jsonPointer(let p) = binding.timestamp.source {
                do { pointers.append(try JSONPointer(p)) } catch { throw DecodeError("timestamp: \(error)") }
                tsSlot = pointers.count - 1
            }
            let scanner = JSONScanner(pointers: pointers)
            json = scanner
            jsonTs = tsSlot ?? -1
            plan = .json(scanner, timestampSlot: tsSlot)
        case .csv(let sep, let quote, _):
            for c in binding.channels {
                guard case .csvColumn = c.locator else {
                    throw DecodeError("channel \(c.name): the csv decoder needs a column")
                }
            }
            plan = .csv(CSVSplitter(separator: sep, quote: quote))
        case .value:
            plan = .value
        case .binary:
            var minLength = 0
            for c in binding.channels {
                guard case .binary(let f) = c.locator else {
                    throw DecodeError("channel \(c.name): the binary decoder needs an offset and a type")
                }
                if let w = f.whenOffset { minLength = Swift.max(minLength, w + 1) } else { minLength = Swift.max(minLength, f.span) }
            }
            plan = .binary(minLength: minLength)
        case .modbusTCP:
            var inner = binding
            inner.decoder = .binary
            plan = .modbusTCP(registers: try FrameDecoder(binding: inner))
        case .lineProtocol, .keyValue, .nmea:
            for c in binding.channels {
                switch (binding.decoder, c.locator) {
                case (.lineProtocol, .key), (.keyValue, .key), (.nmea, .nmea): continue
                default: throw DecodeError("channel \(c.name): the \(binding.decoder.kindName) decoder needs a key or field")
                }
            }
            switch binding.decoder {
            case .lineProtocol: plan = .lineProtocol(LineProtocolLine())
            case .keyValue(let ps, let kv): plan = .keyValue(KeyValueLine(pairSeparator: ps, kvSeparator: kv))
            default: plan = .nmea(NMEASentence())
            }
        }
        var rows = 1
        var spacing = 0.0
        for c in binding.channels {
            if case .binary(let f) = c.locator, f.count > 1 {
                rows = Swift.max(rows, f.count)
                if f.sampleRateHz > 0 { spacing = 1e9 / f.sampleRateHz }
            }
        }
        if case .modbusTCP = binding.decoder { rows *= FrameDecoder.modbusMaxADUs }
        maxRows = Swift.max(rows, arrayItems)
        rowSpacingNs = spacing
        rowTimes = .allocate(capacity: maxRows)
        self.json = json
        self.jsonTimestampSlot = jsonTs
    }

    /// Whether frames may yield several rows (arrays of readings), so `decodeRows` must be used.
    public var fansOut: Bool {
        if case .jsonArray = binding.decoder { return true }
        return maxRows > 1
    }

    /// Whether the sample time comes from the payload (otherwise from arrival).
    public var hasPayloadTime: Bool {
        if binding.timestamp.source != .arrival { return true }
        if case .lineProtocol = binding.decoder { return true }
        return false
    }

    /// Decodes `payload` into `rows` rows of `channelCount` values (row-major). Channels absent
    /// from a row come out as NaN. Row `r` is at `time + r * rowSpacingNs`.
    public func decodeRows(_ payload: UnsafeRawBufferPointer, arrivalNs: Int64, onlyChannel: Int? = nil,
                           into values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> (tsNs: Int64, rows: Int) {
        if case .jsonArray(let outer, let inner, let tsSlot, let maxItems) = plan {
            let rows = try decodeArray(payload, arrivalNs, outer, inner, tsSlot, maxItems, values)
            return (rows > 0 ? rowTimes[0] : arrivalNs, rows)
        }
        if case .modbusTCP(let registers) = plan {
            return (arrivalNs, try decodeModbusTCP(payload, arrivalNs: arrivalNs, registers: registers, into: values))
        }
        guard case .binary(let minLength) = plan else {
            let ts = try decode(payload, arrivalNs: arrivalNs, onlyChannel: onlyChannel, into: values)
            rowTimes[0] = ts
            return (ts, 1)
        }
        guard payload.count >= minLength else {
            throw DecodeError("frame is \(payload.count) bytes, the layout needs at least \(minLength)", offset: payload.count)
        }
        let channels = binding.channels
        let cc = channels.count
        var rows = 1
        for i in 0..<(maxRows * cc) { values[i] = .nan }
        for (i, c) in channels.enumerated() {
            guard case .binary(let f) = c.locator else { continue }
            if let w = f.whenOffset {
                if payload[w] != f.whenEquals { continue }
                guard payload.count >= f.span else {
                    throw DecodeError("frame is \(payload.count) bytes; channel \(c.name) (type byte \(f.whenEquals)) needs \(f.span)", offset: payload.count)
                }
            }
            rows = Swift.max(rows, f.count)
            for k in 0..<f.count {
                values[k * cc + i] = scaled(BinaryReader.value(payload, f, index: k), i)
            }
        }
        for r in 0..<rows { rowTimes[r] = arrivalNs &+ Int64((Double(r) * rowSpacingNs).rounded()) }
        return (arrivalNs, rows)
    }

    /// Decodes a frame that yields one row. Channels absent from the frame come out as NaN.
    /// - Parameters:
    ///   - onlyChannel: for the `value` decoder, the channel this frame carries (from the topic).
    /// - Returns: the sample time in ns since the epoch.
    public func decode(_ payload: UnsafeRawBufferPointer, arrivalNs: Int64, onlyChannel: Int? = nil,
                       into values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> Int64 {
        if let scanner = json {
            do { try scanner.scan(payload) } catch { throw DecodeError(error.description, offset: error.offset) }
            for i in 0..<channelCount {
                values[i] = try number(scanner.value(i), payload, channel: i)
            }
            let tsSlot = jsonTimestampSlot
            guard tsSlot >= 0 else { return arrivalNs }
            let v = scanner.value(tsSlot)
            switch v.kind {
            case .number:
                return try epoch(UnsafeRawBufferPointer(rebasing: payload[v.start..<v.end]), offset: v.start)
            case .string:
                return try rfc3339(UnsafeRawBufferPointer(rebasing: payload[v.start..<v.end]), offset: v.start)
            case .missing:
                throw DecodeError("timestamp: nothing at \(pointerText(binding.timestamp.source))")
            default:
                throw DecodeError("timestamp: expected a number or a string, found \(v.kindName)", offset: v.start)
            }
        }
        let channels = binding.channels
        switch plan {
        case .json:
            fatalError("unreachable: handled above")
        case .jsonArray:
            throw DecodeError("an array of readings yields several rows: use decodeRows")
        case .modbusTCP:
            return try decodeRows(payload, arrivalNs: arrivalNs, onlyChannel: onlyChannel, into: values).tsNs
        case .csv(var splitter):
            do { try splitter.split(payload) } catch { throw DecodeError(error.description) }
            plan = .csv(splitter)
            if case .csv(_, _, let header) = binding.decoder, !header.isEmpty, splitter.fields.count >= header.count,
               header.indices.allSatisfy({ UnsafeRawBufferPointer(rebasing: payload[splitter.fields[$0]]).elementsEqual(header[$0].utf8) }) {
                throw DecodeError("the header line", offset: 0, ignorable: true)
            }
            for i in 0..<channels.count {
                guard case .csvColumn(let col) = channels[i].locator else { values[i] = .nan; continue }
                guard col < splitter.fields.count else { values[i] = .nan; continue }
                let r = splitter.fields[col]
                if r.isEmpty { values[i] = .nan; continue }
                guard let d = NumberParser.parseDouble(UnsafeRawBufferPointer(rebasing: payload[r])) else {
                    throw DecodeError("channel \(channels[i].name): column \(col) is not a number: '\(text(payload, r))'", offset: r.lowerBound)
                }
                values[i] = scaled(d, i)
            }
            if case .csvColumn(let col) = binding.timestamp.source {
                guard col < splitter.fields.count else { throw DecodeError("timestamp: the frame has no column \(col)") }
                let r = splitter.fields[col]
                let bytes = UnsafeRawBufferPointer(rebasing: payload[r])
                if binding.timestamp.format != .rfc3339 && binding.timestamp.pattern == nil { return try epoch(bytes, offset: r.lowerBound) }
                return try rfc3339(bytes, offset: r.lowerBound)
            }
            return arrivalNs
        case .binary:
            return try decodeRows(payload, arrivalNs: arrivalNs, onlyChannel: onlyChannel, into: values).tsNs
        case .lineProtocol(var line):
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
        case .keyValue(var kv):
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
        case .nmea(var sentence):
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
        case .value:
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
    }

    @inline(__always)
    private func scaled(_ d: Double, _ channel: Int) -> Float {
        Float(d * scales[channel] + offsets[channel])
    }

    @inline(__always)
    private func number(_ v: JSONValue, _ payload: UnsafeRawBufferPointer, channel: Int) throws(DecodeError) -> Float {
        switch v.kind {
        case .number:
            guard let d = NumberParser.parseDouble(UnsafeRawBufferPointer(rebasing: payload[v.start..<v.end])) else {
                throw DecodeError("channel \(binding.channels[channel].name): number out of range", offset: v.start)
            }
            return scaled(d, channel)
        case .bool(let b):
            return scaled(b ? 1 : 0, channel)
        case .missing, .null:
            return .nan
        case .string, .container:
            let c = binding.channels[channel]
            let what = c.name
            // point at the opening quote of a string, not its first character
            throw DecodeError("channel \(what): expected a number at \(pointerText(c.locator)), found \(v.kindName)",
                              offset: v.kind == .string ? v.start - 1 : v.start)
        }
    }

    /// Epoch numbers: integers are converted exactly; fractions (e.g. `1764000000.25` s) through Double.
    static func jsonPointers(_ binding: BindingSpec) throws(DecodeError) -> ([JSONPointer], Int?) {
        var pointers: [JSONPointer] = []
        for c in binding.channels {
            guard case .jsonPointer(let p) = c.locator else { throw DecodeError("channel \(c.name): the json decoder needs a JSON pointer") }
            do { pointers.append(try JSONPointer(p)) } catch { throw DecodeError("channel \(c.name): \(error)") }
        }
        var tsSlot: Int? = nil
        if case .jsonPointer(let p) = binding.timestamp.source {
            do { pointers.append(try JSONPointer(p)) } catch { throw DecodeError("timestamp: \(error)") }
            tsSlot = pointers.count - 1
        }
        return (pointers, tsSlot)
    }

    /// `[{"ts":…,"v":…}, …]`: one row per element, pointers relative to the element.
    private func decodeArray(_ payload: UnsafeRawBufferPointer, _ arrivalNs: Int64, _ outer: JSONScanner, _ inner: JSONScanner,
                             _ tsSlot: Int?, _ maxItems: Int, _ values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> Int {
        do { try outer.scan(payload) } catch { throw DecodeError(error.description, offset: error.offset) }
        let a = outer.value(0)
        guard case .jsonArray(let pointer, _) = binding.decoder else { return 0 }
        guard a.kind == .container, payload[a.start] == UInt8(ascii: "[") else {
            throw DecodeError("expected an array of readings at '\(pointer)', found \(a.kind == .container ? "an object" : a.kindName)", offset: a.kind == .missing ? nil : a.start)
        }
        let cc = channelCount
        var p = a.start + 1
        var rows = 0
        while true {
            p = JSONWalk.skipSpace(payload, p)
            if payload[p] == UInt8(ascii: "]") { break }
            let end = JSONWalk.skipValue(payload, p)
            guard rows < maxItems else {
                throw DecodeError("more than \(maxItems) readings in one frame (decoder.max_items)", offset: p)
            }
            let element = UnsafeRawBufferPointer(rebasing: payload[p..<end])
            do { try inner.scan(element) } catch { throw DecodeError(error.description, offset: p + error.offset) }
            for i in 0..<cc {
                do { values[rows * cc + i] = try number(inner.value(i), element, channel: i) } catch {
                    throw DecodeError("reading \(rows): \(error.message)", offset: error.offset.map { $0 + p })
                }
            }
            var t = arrivalNs
            if let tsSlot {
                let v = inner.value(tsSlot)
                switch v.kind {
                case .number: t = try epoch(UnsafeRawBufferPointer(rebasing: element[v.start..<v.end]), offset: p + v.start)
                case .string: t = try rfc3339(UnsafeRawBufferPointer(rebasing: element[v.start..<v.end]), offset: p + v.start)
                default: throw DecodeError("reading \(rows): timestamp: expected a number or a string, found \(v.kindName)", offset: p)
                }
            }
            rowTimes[rows] = t
            rows += 1
            p = JSONWalk.skipSpace(payload, end)
            if payload[p] == UInt8(ascii: ",") { p += 1 }
        }
        return rows
    }

    /// Whether a (possibly escaped) key in the frame equals `name`.
    private func matches(_ p: UnsafeRawBufferPointer, _ r: Range<Int>, escaped: Bool, _ name: String) -> Bool {
        if !escaped { return UnsafeRawBufferPointer(rebasing: p[r]).elementsEqual(name.utf8) }
        LineProtocolLine.unescape(p, r, into: &keyScratch)
        return keyScratch.elementsEqual(name.utf8)
    }

    deinit {
        rowTimes.deallocate()
        scales.deallocate()
        offsets.deallocate()
    }

    private func epoch(_ bytes: UnsafeRawBufferPointer, offset: Int) throws(DecodeError) -> Int64 {
        let mult: Int64
        switch binding.timestamp.format {
        case .epochS: mult = 1_000_000_000
        case .epochMs: mult = 1_000_000
        case .epochUs: mult = 1_000
        case .epochNs: mult = 1
        case .rfc3339: throw DecodeError("timestamp: expected an RFC 3339 string, found a number", offset: offset)
        }
        if let i = NumberParser.parseInt(bytes) {
            let (ns, overflow) = i.multipliedReportingOverflow(by: mult)
            guard !overflow else { throw DecodeError("timestamp out of range", offset: offset) }
            return ns
        }
        guard let d = NumberParser.parseDouble(bytes) else {
            throw DecodeError("timestamp: expected an epoch number, found '\(String(decoding: bytes.prefix(40), as: UTF8.self))'", offset: offset)
        }
        let ns = d * Double(mult)
        guard ns.isFinite, abs(ns) < 9.2e18 else { throw DecodeError("timestamp out of range", offset: offset) }
        return Int64(ns)
    }

    private func rfc3339(_ bytes: UnsafeRawBufferPointer, offset: Int) throws(DecodeError) -> Int64 {
        if let pattern = timePattern {
            guard let ns = TimeParser.parse(bytes, pattern: pattern) else {
                throw DecodeError("timestamp: '\(String(decoding: bytes.prefix(40), as: UTF8.self))' does not match '\(binding.timestamp.pattern ?? "")'", offset: offset)
            }
            return ns
        }
        guard let ns = TimeParser.parseISO8601(bytes) else {
            throw DecodeError("timestamp: expected RFC 3339 / ISO-8601 time, found '\(String(decoding: bytes.prefix(40), as: UTF8.self))'", offset: offset)
        }
        return ns
    }

    private func trimmed(_ p: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var a = 0, b = p.count
        while a < b && (p[a] == 0x20 || p[a] == 0x0A || p[a] == 0x0D || p[a] == 0x09) { a += 1 }
        while b > a && (p[b - 1] == 0x20 || p[b - 1] == 0x0A || p[b - 1] == 0x0D || p[b - 1] == 0x09) { b -= 1 }
        return UnsafeRawBufferPointer(rebasing: p[a..<b])
    }

    private func text(_ p: UnsafeRawBufferPointer, _ r: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: p[r]), as: UTF8.self)
    }

    private func pointerText(_ l: ValueLocator) -> String {
        if case .jsonPointer(let p) = l { return "'\(p)'" }
        return "its location"
    }

    private func pointerText(_ s: TimestampSpec.Source) -> String {
        if case .jsonPointer(let p) = s { return "'\(p)'" }
        return "its location"
    }
}
