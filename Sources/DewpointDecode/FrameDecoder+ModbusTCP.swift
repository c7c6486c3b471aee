import DewpointCore

/// Modbus/TCP as seen on the wire by a capture: requests and responses between a client (SCADA,
/// a PLC master) and a server, several ADUs possibly in one TCP segment (pipelined requests,
/// responses sent back to back). Responses to the binding's read go through its binary layout.
extension FrameDecoder {
    /// ADUs with rows that one segment may carry; more is counted as a decode error.
    static let modbusMaxADUs = 16

    /// Decodes every ADU of `payload` and returns the rows of the responses to the binding's read.
    /// Requests are remembered, responses to other reads skipped; if nothing in the segment is for
    /// the binding, that is an ignorable error. A bad ADU after some rows ends the segment and
    /// is left in `trailingError` (the rows before it stand); a segment that ends inside an ADU
    /// (one split across segments: not reassembled) is a decode error too.
    func decodeModbusTCP(_ payload: UnsafeRawBufferPointer, arrivalNs: Int64, registers: FrameDecoder,
                         into values: UnsafeMutableBufferPointer<Float>) throws(DecodeError) -> Int {
        let cc = channelCount
        let perADU = registers.maxRows
        var p = 0
        var rows = 0
        var problem: DecodeError? = nil
        var skipped: DecodeError? = nil
        trailingError = nil
        while p < payload.count {
            let adu = UnsafeRawBufferPointer(rebasing: payload[p...])
            let size: Int
            let data: Range<Int>?
            let exception: DecodeError?
            do {
                (size, data, exception) = try modbusADU(adu)
            } catch {
                problem = DecodeError(error.message, offset: error.offset.map { p + $0 })
                break
            }
            defer { p += size }
            if let exception {
                // well formed, so the ADUs after it are still read
                problem = DecodeError(exception.message, offset: exception.offset.map { p + $0 })
                continue
            }
            guard let data else {
                skipped = DecodeError(p == 0 && rows == 0 ? "Modbus/TCP request or response to another read" : "Modbus/TCP", offset: p, ignorable: true)
                continue
            }
            guard rows + perADU <= maxRows else {
                problem = DecodeError("Modbus/TCP: more than \(FrameDecoder.modbusMaxADUs) responses in one segment", offset: p)
                break
            }
            do {
                let (_, r) = try registers.decodeRows(UnsafeRawBufferPointer(rebasing: adu[data]), arrivalNs: arrivalNs,
                                                      into: UnsafeMutableBufferPointer(rebasing: values[(rows * cc)...]))
                for k in 0..<r { rowTimes[rows + k] = registers.rowTimes[k] }
                rows += r
            } catch {
                problem = DecodeError(error.message, offset: error.offset.map { p + data.lowerBound + $0 })
            }
        }
        if rows > 0 {
            trailingError = problem
            return rows
        }
        if let problem { throw problem }
        throw skipped ?? DecodeError("Modbus/TCP: empty segment", offset: 0, ignorable: true)
    }

    /// One ADU at the start of `b`: its size, and the register bytes if it is a response to the
    /// binding's read (nil for a request, which is remembered, or anything else for another
    /// read), or the exception a server answered with. Throws for a malformed ADU, after which
    /// the segment cannot be followed.
    private func modbusADU(_ b: UnsafeRawBufferPointer) throws(DecodeError) -> (size: Int, data: Range<Int>?, exception: DecodeError?) {
        guard case .modbusTCP(let unit, let function, let address) = binding.decoder else { return (b.count, nil, nil) }
        guard b.count >= 8 else { throw DecodeError("Modbus/TCP: \(b.count) bytes, shorter than the MBAP header and function code", offset: b.count) }
        let tid = UInt16(b[0]) << 8 | UInt16(b[1])
        guard b[2] == 0, b[3] == 0 else { throw DecodeError("Modbus/TCP: protocol id is not 0", offset: 2) }
        let length = Int(b[4]) << 8 | Int(b[5])
        guard length >= 2, 6 + length <= b.count else {
            throw DecodeError("Modbus/TCP: MBAP length \(length) does not fit the \(b.count) bytes left (an ADU split across segments is not reassembled)", offset: 4)
        }
        let size = 6 + length
        let fc = b[7]
        if fc & 0x80 != 0 {
            modbusRequests[tid] = nil
            return (size, nil, DecodeError("Modbus/TCP: exception \(length > 2 ? b[8] : 0) for function \(fc & 0x7F)", offset: 7))
        }
        // a request: fc, start address, count (length 6) — remember it
        if length == 6 && (fc == 3 || fc == 4) {
            let start = UInt16(b[8]) << 8 | UInt16(b[9])
            // only the binding's own read is remembered; the table is bounded (transactions are
            // short-lived, so an overflow means unanswered requests: those are forgotten)
            if b[6] == unit && fc == function && start == address {
                if modbusRequests.count >= 1024 { modbusRequests.removeAll(keepingCapacity: true) }
                modbusRequests[tid] = (b[6], fc, start)
            }
            return (size, nil, nil)
        }
        guard fc == 3 || fc == 4, length >= 3 else { return (size, nil, nil) }  // not a register read
        let n = Int(b[8])
        guard 9 + n <= size else { throw DecodeError("Modbus/TCP: byte count \(n) exceeds the PDU", offset: 8) }
        guard let req = modbusRequests.removeValue(forKey: tid), req.0 == unit, req.1 == function, req.2 == address,
              b[6] == unit, fc == function else {
            return (size, nil, nil)  // a response to another read
        }
        return (size, 9..<(9 + n), nil)
    }
}
