import DewpointDecode

/// Modbus RTU framing for function codes 3 and 4 (read holding/input registers).
public enum ModbusRTU {
    /// `slave fc addr_hi addr_lo count_hi count_lo crc_lo crc_hi`
    public static func request(slave: UInt8, function: UInt8, address: UInt16, count: UInt16) -> [UInt8] {
        var r: [UInt8] = [slave, function, UInt8(address >> 8), UInt8(address & 0xFF), UInt8(count >> 8), UInt8(count & 0xFF)]
        let crc = r.withUnsafeBytes { Checksum.crc16Modbus($0) }
        r += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        return r
    }

    public enum Reply: Equatable {
        /// Not enough bytes yet.
        case incomplete
        /// The register bytes (`2 × count`) at this range of the buffer.
        case data(Range<Int>)
        case exception(code: UInt8)
        case crcError
        /// From another slave, another function, or with a wrong byte count.
        case mismatch
    }

    /// Parses a reply to `request(slave:function:address:count:)` from the start of `b`.
    public static func parse(_ b: UnsafeRawBufferPointer, slave: UInt8, function: UInt8, count: UInt16) -> Reply {
        guard b.count >= 5 else { return .incomplete }
        if b[1] == function | 0x80 {
            let body = UnsafeRawBufferPointer(rebasing: b[0..<3])
            let crc = Checksum.crc16Modbus(body)
            guard b[3] == UInt8(crc & 0xFF), b[4] == UInt8(crc >> 8) else { return .crcError }
            return b[0] == slave ? .exception(code: b[2]) : .mismatch
        }
        let n = Int(b[2])
        let total = 3 + n + 2
        guard b.count >= total else { return n == Int(count) * 2 ? .incomplete : .mismatch }
        let crc = Checksum.crc16Modbus(UnsafeRawBufferPointer(rebasing: b[0..<(3 + n)]))
        guard b[3 + n] == UInt8(crc & 0xFF), b[4 + n] == UInt8(crc >> 8) else { return .crcError }
        guard b[0] == slave, b[1] == function, n == Int(count) * 2 else { return .mismatch }
        return .data(3..<(3 + n))
    }

    /// The 3.5-character silence that ends an RTU frame: 11 bits a character, and a fixed
    /// 1.75 ms above 19,200 baud (Modbus over serial line, 2.5.1.1).
    public static func interFrameGapNs(baud: Int) -> UInt64 {
        baud > 19_200 ? 1_750_000 : UInt64(3.5 * 11 / Double(baud) * 1e9)
    }
}
