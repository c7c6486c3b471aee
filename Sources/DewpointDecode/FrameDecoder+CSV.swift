import DewpointCore

/// CSV: one record per frame (`decoder: csv`).
extension FrameDecoder {
    /// One CSV record; a frame that repeats `decoder.header` is ignorable.
    // one call per frame: kept out of `decode`, whose JSON path is the hot one
    @inline(never)
    func decodeCSV(_ payload: UnsafeRawBufferPointer, arrivalNs: Int64, _ splitter: CSVSplitter,
                   into values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> Int64 {
        var splitter = splitter
        let channels = binding.channels
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
    }
}
