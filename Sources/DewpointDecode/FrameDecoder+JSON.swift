import DewpointCore

/// JSON: one document per frame (`decoder: json`), or an array of readings (`decoder.array`).
extension FrameDecoder {
    /// One JSON document: a value per channel, and the time at the timestamp pointer if any.
    @inline(__always)
    func decodeJSON(_ scanner: JSONScanner, _ payload: UnsafeRawBufferPointer, arrivalNs: Int64,
                    into values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> Int64 {
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

    /// The channels' JSON pointers, then the timestamp's (at the slot returned), if any.
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
    func decodeArray(_ payload: UnsafeRawBufferPointer, _ arrivalNs: Int64, _ outer: JSONScanner, _ inner: JSONScanner,
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

    private func pointerText(_ l: ValueLocator) -> String {
        if case .jsonPointer(let p) = l { return "'\(p)'" }
        return "its location"
    }

    private func pointerText(_ s: TimestampSpec.Source) -> String {
        if case .jsonPointer(let p) = s { return "'\(p)'" }
        return "its location"
    }
}
