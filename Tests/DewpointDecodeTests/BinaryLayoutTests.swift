import Testing
@testable import DewpointCore
@testable import DewpointDecode

/// Frames built here, independently of the decoder, for every type, byte order and word order.
@Suite struct BinaryLayoutTests {
    /// Big-endian bytes of `bits` in `size` bytes.
    static func be(_ bits: UInt64, _ size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: bits >> UInt64(8 * (size - 1 - $0))) } }

    /// Lays out big-endian bytes in a Modbus word order: ABCD as is, DCBA reversed, CDAB words
    /// swapped, BADC bytes swapped within words.
    static func order(_ b: [UInt8], _ o: BinaryField.WordOrder) -> [UInt8] {
        switch o {
        case .abcd: return b
        case .dcba: return b.reversed()
        case .cdab: return stride(from: b.count - 2, through: 0, by: -2).flatMap { [b[$0], b[$0 + 1]] }
        case .badc: return stride(from: 0, to: b.count, by: 2).flatMap { [b[$0 + 1], b[$0]] }
        }
    }

    static func read(_ frame: [UInt8], _ f: BinaryField) -> Double {
        frame.withUnsafeBytes { BinaryReader.value($0, f) }
    }

    static let samples: [(BinaryField.Kind, UInt64, Double)] = [
        (.u8, 0xFE, 254), (.i8, 0xFE, -2), (.u16, 0xFFFE, 65534), (.i16, 0xFFFE, -2),
        (.u32, 0xFFFF_FFFE, 4_294_967_294), (.i32, 0xFFFF_FFFE, -2), (.u64, 0x0010_0000_0000_0001, 4_503_599_627_370_497),
        (.i64, 0xFFFF_FFFF_FFFF_FFFE, -2),
        (.f16, UInt64(Float16(-1.5).bitPattern), -1.5), (.f32, UInt64(Float(3.25).bitPattern), 3.25),
        (.f64, Double(-1234.5678).bitPattern, -1234.5678),
    ]

    @Test func everyTypeInBothEndiannesses() {
        for (kind, bits, expected) in Self.samples {
            let big = Self.be(bits, kind.size)
            #expect(Self.read([0xAA] + big, BinaryField(offset: 1, kind: kind, endian: .big)) == expected, "\(kind) big")
            #expect(Self.read([0xAA] + big.reversed(), BinaryField(offset: 1, kind: kind, endian: .little)) == expected, "\(kind) little")
        }
    }

    @Test func everyWordOrderFor32And64Bits() {
        for (kind, bits, expected) in Self.samples where kind.size >= 4 {
            for o in BinaryField.WordOrder.allCases {
                let frame = Self.order(Self.be(bits, kind.size), o)
                #expect(Self.read(frame, BinaryField(offset: 0, kind: kind, wordOrder: o)) == expected, "\(kind) \(o)")
            }
        }
    }

    @Test func bitFields() {
        // 0b1011_0110_0101_1100: bits 2..<6 = 0b0111 (7); bits 12..<16 = 0b1011 (11, or -5 signed)
        let frame: [UInt8] = [0b1011_0110, 0b0101_1100]
        var f = BinaryField(offset: 0, kind: .u16)
        f.bitOffset = 2; f.bitWidth = 4
        #expect(Self.read(frame, f) == 7)
        f.bitOffset = 12
        #expect(Self.read(frame, f) == 11)
        f.kind = .i16
        #expect(Self.read(frame, f) == -5)
        f.bitOffset = 0; f.bitWidth = 1; f.kind = .u8
        #expect(Self.read([0x01], f) == 1)
    }

    @Test func arraysWithStrideFanOutInTime() throws {
        // 4 records of 3 bytes: i16 LE value then a pad byte; 1 kHz
        var frame: [UInt8] = []
        let xs: [Int16] = [-300, 0, 1, 32767]
        for x in xs { frame += [UInt8(UInt16(bitPattern: x) & 0xFF), UInt8(UInt16(bitPattern: x) >> 8), 0xEE] }
        let b = BindingSpec(name: "v", transport: .file, decoder: .binary, channels: [
            ChannelSpec(name: "a", locator: .binary(BinaryField(offset: 0, kind: .i16, endian: .little, count: 4, stride: 3, sampleRateHz: 1000)), scale: 0.5),
        ])
        let d = try FrameDecoder(binding: b)
        var out = [Float](repeating: 0, count: 4)
        let (_, rows) = try frame.withUnsafeBytes { p in try out.withUnsafeMutableBufferPointer { try d.decodeRows(p, arrivalNs: 0, into: $0) } }
        #expect(rows == 4)
        #expect(out == xs.map { Float(Double($0) * 0.5) })
        #expect(d.rowSpacingNs == 1_000_000)
    }

    @Test func conditionalLayoutsByTypeByte() throws {
        var temp = BinaryField(offset: 1, kind: .i16)
        temp.whenOffset = 0; temp.whenEquals = 1
        var volts = BinaryField(offset: 1, kind: .u32)
        volts.whenOffset = 0; volts.whenEquals = 2
        let b = BindingSpec(name: "c", transport: .file, decoder: .binary, channels: [
            ChannelSpec(name: "temp", locator: .binary(temp), scale: 0.1), ChannelSpec(name: "mv", locator: .binary(volts)),
        ])
        let d = try FrameDecoder(binding: b)
        func run(_ f: [UInt8]) throws -> [Float] {
            var out = [Float](repeating: 0, count: 2)
            _ = try f.withUnsafeBytes { p in try out.withUnsafeMutableBufferPointer { try d.decodeRows(p, arrivalNs: 0, into: $0) } }
            return out
        }
        let t = try run([1, 0x00, 0xD7])  // 215 → 21.5
        #expect(t[0] == Float(215 * 0.1) && t[1].isNaN)
        let v = try run([2, 0, 0, 0x0B, 0xB8])  // 3000
        #expect(v[0].isNaN && v[1] == 3000)
        let other = try run([9])
        #expect(other[0].isNaN && other[1].isNaN)
        do { _ = try run([2, 0, 0]); Issue.record("short type-2 frame accepted") } catch {
            #expect((error as? DecodeError)?.message.contains("needs 5") == true)
        }
    }
}
