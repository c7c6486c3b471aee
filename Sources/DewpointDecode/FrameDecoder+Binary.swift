import DewpointCore

/// Fixed binary layouts (`decoder: binary`; `modbustcp` decodes its register bytes with one).
extension FrameDecoder {
    /// The binary layout: one row, or `count` rows for array fields, spaced `rowSpacingNs` apart.
    // one call per frame: kept out of `decode`, whose JSON path is the hot one
    @inline(never)
    func decodeBinary(_ payload: UnsafeRawBufferPointer, arrivalNs: Int64, minLength: Int,
                      into values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> (tsNs: Int64, rows: Int) {
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
}
