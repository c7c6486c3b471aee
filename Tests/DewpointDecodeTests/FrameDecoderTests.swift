import Testing
@testable import DewpointCore
@testable import DewpointDecode

private func decode(_ b: BindingSpec, _ payload: [UInt8], arrival: Int64 = 7) throws -> (Int64, [Float]) {
    let d = try FrameDecoder(binding: b)
    var values = [Float](repeating: 0, count: d.channelCount * d.maxRows)
    let ts = try payload.withUnsafeBytes { p in
        try values.withUnsafeMutableBufferPointer { try d.decode(p, arrivalNs: arrival, into: $0) }
    }
    return (ts, values)
}

@Suite struct FrameDecoderTests {
    let topic = try! TopicFilter("s/x")

    @Test func jsonWithScaleOffsetAndTimestamp() throws {
        let b = BindingSpec(name: "d", transport: .mqtt(.init(topic: topic)), decoder: .json,
                            timestamp: .init(source: .jsonPointer("/ts"), format: .epochMs),
                            channels: [.init(name: "t", locator: .jsonPointer("/t"), scale: 0.1, offset: -40),
                                       .init(name: "h", locator: .jsonPointer("/h")),
                                       .init(name: "on", locator: .jsonPointer("/on"))])
        let (ts, v) = try decode(b, Array(#"{"ts":1764000000123,"t":652,"on":true}"#.utf8))
        #expect(ts == 1_764_000_000_123_000_000)
        #expect(v[0] == Float(652 * 0.1 - 40))
        #expect(v[1].isNaN)
        #expect(v[2] == 1)
    }

    @Test func jsonRFC3339Timestamp() throws {
        let b = BindingSpec(name: "d", transport: .mqtt(.init(topic: topic)), decoder: .json,
                            timestamp: .init(source: .jsonPointer("/time"), format: .rfc3339),
                            channels: [.init(name: "t", locator: .jsonPointer("/t"))])
        let (ts, _) = try decode(b, Array(#"{"time":"2025-11-24T12:00:00.250Z","t":1}"#.utf8))
        #expect(ts == 1_763_985_600_250_000_000)
    }

    @Test func wrongTypeNamesChannelAndOffset() throws {
        let b = BindingSpec(name: "d", transport: .mqtt(.init(topic: topic)), decoder: .json,
                            channels: [.init(name: "temp", locator: .jsonPointer("/temp"))])
        do {
            _ = try decode(b, Array(#"{"temp":"hot"}"#.utf8))
            Issue.record("decoded a string as a number")
        } catch let e as DecodeError {
            #expect(e.offset == 8)
            #expect(e.message.contains("channel temp: expected a number at '/temp', found a string"))
        }
    }

    @Test func csvColumnsAndTimestamp() throws {
        let b = BindingSpec(name: "wx", transport: .file, decoder: .csv(separator: UInt8(ascii: ","), quote: UInt8(ascii: "\"")),
                            timestamp: .init(source: .csvColumn(1), format: .rfc3339),
                            channels: [.init(name: "speed", locator: .csvColumn(2)), .init(name: "dir", locator: .csvColumn(3)),
                                       .init(name: "p", locator: .csvColumn(9))])
        let (ts, v) = try decode(b, Array("WX,2025-11-24T12:00:00Z,4.25,270\r".utf8))
        #expect(ts == 1_763_985_600_000_000_000)
        #expect(v[0] == 4.25)
        #expect(v[1] == 270)
        #expect(v[2].isNaN)
        #expect(throws: DecodeError.self) { _ = try decode(b, Array("WX,2025-11-24T12:00:00Z,fast,270".utf8)) }
    }

    @Test func binaryLayoutWithWordOrdersAndArrays() throws {
        // supply 12.5 as f32 CDAB, current 123 (u16 BE) * 0.1, pressure -150 (i16 BE) * 0.01, 3 x i16 LE array
        let f: Float = 12.5
        let bits = f.bitPattern
        let abcd = [UInt8(bits >> 24), UInt8((bits >> 16) & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8(bits & 0xFF)]
        var frame = [abcd[2], abcd[3], abcd[0], abcd[1]]  // CDAB
        frame += [0x00, 123]
        frame += [0xFF, 0x6A]  // -150
        for x: Int16 in [-2, 1000, 32767] { frame += [UInt8(UInt16(bitPattern: x) & 0xFF), UInt8(UInt16(bitPattern: x) >> 8)] }
        let b = BindingSpec(name: "c", transport: .file, decoder: .binary, channels: [
            .init(name: "supply", locator: .binary(.init(offset: 0, kind: .f32, wordOrder: .cdab))),
            .init(name: "current", locator: .binary(.init(offset: 4, kind: .u16)), scale: 0.1),
            .init(name: "pressure", locator: .binary(.init(offset: 6, kind: .i16)), scale: 0.01),
            .init(name: "accel", locator: .binary(.init(offset: 8, kind: .i16, endian: .little, count: 3, sampleRateHz: 1000))),
        ])
        let d = try FrameDecoder(binding: b)
        #expect(d.maxRows == 3)
        #expect(d.rowSpacingNs == 1_000_000)
        var values = [Float](repeating: 0, count: 12)
        let (_, rows) = try frame.withUnsafeBytes { p in try values.withUnsafeMutableBufferPointer { try d.decodeRows(p, arrivalNs: 0, into: $0) } }
        #expect(rows == 3)
        #expect(values[0] == 12.5)
        #expect(values[1] == Float(123 * 0.1))
        #expect(values[2] == Float(-150 * 0.01))
        #expect([values[3], values[7], values[11]] == [-2, 1000, 32767])
        #expect(values[4].isNaN && values[8].isNaN)
        // too short: the error names the needed length
        do {
            _ = try Array(frame.prefix(9)).withUnsafeBytes { p in try values.withUnsafeMutableBufferPointer { try d.decodeRows(p, arrivalNs: 0, into: $0) } }
            Issue.record("short frame accepted")
        } catch let e as DecodeError {
            #expect(e.message.contains("needs at least 14"))
        }
    }

    @Test func binaryReaderAllWordOrders() {
        let bytes: [UInt8] = [0x11, 0x22, 0x33, 0x44]
        func read(_ o: BinaryField.WordOrder) -> Double {
            bytes.withUnsafeBytes { BinaryReader.value($0, BinaryField(offset: 0, kind: .u32, wordOrder: o)) }
        }
        #expect(read(.abcd) == Double(0x1122_3344))
        #expect(read(.cdab) == Double(0x3344_1122))
        #expect(read(.badc) == Double(0x2211_4433))
        #expect(read(.dcba) == Double(0x4433_2211))
        let le = bytes.withUnsafeBytes { BinaryReader.value($0, BinaryField(offset: 0, kind: .i32, endian: .little)) }
        #expect(le == Double(Int32(bitPattern: 0x4433_2211)))
    }
}

@Suite struct JSONArrayTests {
    @Test func arrayOfReadingsFansOutWithTheirOwnTimes() throws {
        let b = BindingSpec(name: "l", transport: .file, decoder: .jsonArray(pointer: "/data/readings", maxItems: 4),
                            timestamp: TimestampSpec(source: .jsonPointer("/ts"), format: .epochMs),
                            channels: [ChannelSpec(name: "v", locator: .jsonPointer("/v")), ChannelSpec(name: "w", locator: .jsonPointer("/w/0"))])
        let d = try FrameDecoder(binding: b)
        #expect(d.maxRows == 4)
        var out = [Float](repeating: 0, count: 8)
        func run(_ s: String) throws -> Int {
            let bytes = Array(s.utf8)
            return try bytes.withUnsafeBytes { p in try out.withUnsafeMutableBufferPointer { try d.decodeRows(p, arrivalNs: 0, into: $0).rows } }
        }
        let rows = try run(#"{"data":{"readings":[ {"ts":1000,"v":1.5} ,{"v":2,"ts":2000,"w":[7,8]},{"ts":3000,"v":"x\"]y","w":[9]} ] }}"#.replacingOccurrences(of: #""v":"x\"]y","#, with: #""s":"x\"]y","v":3,"#))
        #expect(rows == 3)
        #expect(out[0] == 1.5 && out[1].isNaN && out[2] == 2 && out[3] == 7 && out[4] == 3 && out[5] == 9)
        #expect([d.rowTimes[0], d.rowTimes[1], d.rowTimes[2]] == [1_000_000_000, 2_000_000_000, 3_000_000_000])
        #expect(try run(#"{"data":{"readings":[]}}"#) == 0)
        #expect(throws: DecodeError.self) { try run(#"{"data":{"readings":{"v":1}}}"#) }
        #expect(throws: DecodeError.self) { try run(#"{"data":{"readings":[{"v":1},{"v":1},{"v":1},{"v":1},{"v":1}]}}"#) }
        #expect(throws: DecodeError.self) { try run(#"{"data":{"readings":[{"v":1},]}}"#) }
    }
}
