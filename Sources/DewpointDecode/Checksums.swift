/// Frame checksums: CRC-16/MODBUS, CRC-32 (IEEE 802.3), 8-bit sum and XOR, NMEA `*hh`.
public enum Checksum {
    private static let crc16Table: [UInt16] = (0..<256).map { i -> UInt16 in
        var c = UInt16(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xA001 : c >> 1 }
        return c
    }
    private static let crc32Table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        return c
    }

    /// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first.
    public static func crc16Modbus(_ b: UnsafeRawBufferPointer) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        crc16Table.withUnsafeBufferPointer { t in
            for x in b { crc = (crc >> 8) ^ t[Int((crc ^ UInt16(x)) & 0xFF)] }
        }
        return crc
    }

    /// CRC-32 as in zlib and Ethernet; sent low byte first.
    public static func crc32(_ b: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        crc32Table.withUnsafeBufferPointer { t in
            for x in b { crc = (crc >> 8) ^ t[Int((crc ^ UInt32(x)) & 0xFF)] }
        }
        return ~crc
    }

    public static func sum8(_ b: UnsafeRawBufferPointer) -> UInt8 { b.reduce(0, &+) }
    public static func xor8(_ b: UnsafeRawBufferPointer) -> UInt8 { b.reduce(0, ^) }
}
