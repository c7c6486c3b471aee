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

    enum Plan {
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
    var keyScratch: [UInt8] = []
    private lazy var timePattern: [UInt8]? = binding.timestamp.pattern.map { Array($0.utf8) }

    /// Rows a frame can fan out into (array fields); `values` must hold `maxRows * channelCount`.
    public let maxRows: Int
    /// Spacing of fanned-out rows, from the array fields' sample rate.
    public let rowSpacingNs: Double
    /// The time of each row filled by the last `decodeRows`.
    public let rowTimes: UnsafeMutablePointer<Int64>
    var plan: Plan
    /// The JSON path's state, outside `plan` so the per-message path reads only constants.
    let json: JSONScanner?
    let jsonTimestampSlot: Int
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
        return try decodeBinary(payload, arrivalNs: arrivalNs, minLength: minLength, into: values)
    }

    /// Decodes a frame that yields one row. Channels absent from the frame come out as NaN.
    /// - Parameters:
    ///   - onlyChannel: for the `value` decoder, the channel this frame carries (from the topic).
    /// - Returns: the sample time in ns since the epoch.
    public func decode(_ payload: UnsafeRawBufferPointer, arrivalNs: Int64, onlyChannel: Int? = nil,
                       into values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> Int64 {
        if let scanner = json { return try decodeJSON(scanner, payload, arrivalNs: arrivalNs, into: values) }
        switch plan {
        case .json:
            fatalError("unreachable: handled above")
        case .jsonArray:
            throw DecodeError("an array of readings yields several rows: use decodeRows")
        case .modbusTCP:
            return try decodeRows(payload, arrivalNs: arrivalNs, onlyChannel: onlyChannel, into: values).tsNs
        case .csv(let splitter):
            return try decodeCSV(payload, arrivalNs: arrivalNs, splitter, into: values)
        case .binary:
            return try decodeRows(payload, arrivalNs: arrivalNs, onlyChannel: onlyChannel, into: values).tsNs
        case .lineProtocol(let line):
            return try decodeLineProtocol(payload, arrivalNs: arrivalNs, line, into: values)
        case .keyValue(let kv):
            return try decodeKeyValue(payload, arrivalNs: arrivalNs, kv, into: values)
        case .nmea(let sentence):
            return try decodeNMEA(payload, arrivalNs: arrivalNs, sentence, into: values)
        case .value:
            return try decodeValue(payload, arrivalNs: arrivalNs, onlyChannel: onlyChannel, into: values)
        }
    }

    @inline(__always)
    func scaled(_ d: Double, _ channel: Int) -> Float {
        Float(d * scales[channel] + offsets[channel])
    }

    deinit {
        rowTimes.deallocate()
        scales.deallocate()
        offsets.deallocate()
    }

    /// Epoch numbers: integers are converted exactly; fractions (e.g. `1764000000.25` s) through Double.
    func epoch(_ bytes: UnsafeRawBufferPointer, offset: Int) throws(DecodeError) -> Int64 {
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

    func rfc3339(_ bytes: UnsafeRawBufferPointer, offset: Int) throws(DecodeError) -> Int64 {
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

    func text(_ p: UnsafeRawBufferPointer, _ r: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: p[r]), as: UTF8.self)
    }
}
