import Testing
@testable import DewpointCore
@testable import DewpointDecode

/// Feeds `stream` in chunks of `chunk` bytes and returns the frames and counters.
private func frames(_ spec: FramingSpec, _ stream: [UInt8], chunk: Int = .max) -> ([[UInt8]], Framer.Counters) {
    let f = Framer(spec)
    var out: [[UInt8]] = []
    var i = 0
    while i < stream.count {
        let j = min(stream.count, i + max(1, min(chunk, stream.count)))
        stream[i..<j].withUnsafeBytes { f.feed($0) { out.append(Array($0)) } }
        i = j
    }
    return (out, f.counters)
}

private func nmea(_ body: String) -> [UInt8] {
    let x = body.utf8.reduce(UInt8(0), ^)
    let hex = Array("0123456789ABCDEF".utf8)
    return Array("$\(body)*".utf8) + [hex[Int(x >> 4)], hex[Int(x & 15)]]
}

@Suite struct FramerTests {
    @Test(arguments: [1, 3, 7, 1000])
    func linesWithGarbageChecksumsAndOversize(chunk: Int) {
        var s: [UInt8] = []
        s += [0x00, 0xFF, 0x13] + nmea("GPGGA,1,2") + [0x0D, 0x0A]           // garbage before '$'
        s += Array(nmea("GPRMC,3,4").dropLast()) + [UInt8(ascii: "0"), 0x0A] // bad checksum
        s += [UInt8](repeating: UInt8(ascii: "X"), count: 300) + [0x0A]  // oversize
        s += nmea("GPGGA,5,6") + [0x0A]
        let (f, c) = frames(.line(maxLength: 100, start: UInt8(ascii: "$"), checksum: .nmea), s, chunk: chunk)
        #expect(f == [nmea("GPGGA,1,2").dropLast(3), nmea("GPGGA,5,6").dropLast(3)].map { Array($0) })
        #expect(c.frames == 2 && c.corrupt == 1 && c.garbageBytes == 3 && c.oversize == 1)
    }

    @Test func plainLinesDropCRAndEmptyLines() {
        let (f, c) = frames(.line(maxLength: 10), Array("a,1\r\n\nb,2\nc".utf8))
        #expect(f == [Array("a,1".utf8), Array("b,2".utf8)])
        #expect(c.frames == 2)
    }

    @Test(arguments: [1, 2, 5, 100])
    func lengthPrefixResynchronises(chunk: Int) {
        // [len=3] abc, garbage 0x00 (a zero length is implausible), [len=2] de, [len=900] (too long), [len=1] f
        let s: [UInt8] = [0, 3, 97, 98, 99, 0, 0, 2, 100, 101, 3, 0x84, 0, 1, 102]
        let (f, c) = frames(.lengthPrefix(size: 2, bigEndian: true, maxLength: 16), s, chunk: chunk)
        #expect(f == [[97, 98, 99], [100, 101], [102]])
        // 0x00 (zero length), then 0x03 0x84 and 0x84 0x00 (over the limit)
        #expect(c.garbageBytes == 3)
        let le: [UInt8] = [2, 0, 0, 0, 7, 8]
        #expect(frames(.lengthPrefix(size: 4, bigEndian: false, maxLength: 16), le).0 == [[7, 8]])
    }

    @Test func fixedFramesWithCRC16SlideToResync() {
        func frame(_ p: [UInt8]) -> [UInt8] {
            let crc = p.withUnsafeBytes { Checksum.crc16Modbus($0) }
            return p + [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        }
        let s = frame([1, 3, 2, 0x12, 0x34]) + [0x55] + frame([1, 3, 2, 0x56, 0x78])
        let (f, c) = frames(.fixed(size: 7, checksum: .crc16Modbus), s)
        #expect(f == [[1, 3, 2, 0x12, 0x34], [1, 3, 2, 0x56, 0x78]])
        #expect(c.garbageBytes == 1)
    }

    @Test func crcReferenceValues() {
        // CRC-16/MODBUS and CRC-32 check values for "123456789"
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { Checksum.crc16Modbus($0) } == 0x4B37)
        #expect(check.withUnsafeBytes { Checksum.crc32($0) } == 0xCBF4_3926)
        // a Modbus request: slave 1, read holding registers 0..1 → CRC bytes 0xC4 0x0B
        let req: [UInt8] = [0x01, 0x03, 0x00, 0x00, 0x00, 0x02]
        let crc = req.withUnsafeBytes { Checksum.crc16Modbus($0) }
        #expect([UInt8(crc & 0xFF), UInt8(crc >> 8)] == [0xC4, 0x0B])
    }

    @Test(arguments: [1, 4, 100])
    func slipDecodesEscapesAndDropsBadOnes(chunk: Int) {
        let s: [UInt8] = [0xC0, 1, 0xDB, 0xDC, 2, 0xDB, 0xDD, 0xC0, 9, 0xDB, 0x01, 8, 0xC0, 3, 0xC0]
        let (f, c) = frames(.slip(maxLength: 16), s, chunk: chunk)
        #expect(f == [[1, 0xC0, 2, 0xDB], [3]])
        #expect(c.corrupt == 1)
    }

    @Test func cobsDecodes() {
        // Wikipedia's examples: 00 → 01 01 00; 11 22 00 33 → 03 11 22 02 33 00
        let s: [UInt8] = [0x01, 0x01, 0x00, 0x03, 0x11, 0x22, 0x02, 0x33, 0x00, 0x05, 0x11, 0x00]
        let (f, c) = frames(.cobs(maxLength: 16), s)
        #expect(f == [[0x00], [0x11, 0x22, 0x00, 0x33]])
        #expect(c.corrupt == 1)  // 05 11 claims more bytes than it has
    }

    @Test func oversizeFrameEndsOnlyAtTheWholeDelimiter() {
        // a 40-byte frame with a lone 0x0A inside, then a good frame; delimiter CR LF, limit 16
        var s = [UInt8](repeating: 7, count: 40)
        s[25] = 0x0A
        s += [0x0D, 0x0A, 1, 2, 3, 0x0D, 0x0A]
        let (f, c) = frames(.delimiter([0x0D, 0x0A], maxLength: 16), s, chunk: 1)
        #expect(f == [[1, 2, 3]])
        #expect(c.oversize == 1)
    }

    /// The byte that overflows the limit is the CR of CR LF: the LF that follows still ends the
    /// oversize frame, and the next good frame is kept.
    @Test func oversizeFrameWhoseDelimiterStartsAtTheOverflow() {
        for chunk in [1, 5, 64] {
            let s = [UInt8](repeating: 7, count: 18) + [0x0D, 0x0A, 1, 2, 3, 0x0D, 0x0A]
            let (f, c) = frames(.delimiter([0x0D, 0x0A], maxLength: 16), s, chunk: chunk)
            #expect(f == [[1, 2, 3]], "chunk \(chunk)")
            #expect(c.oversize == 1)
        }
    }

    @Test func delimiterAndByteChecksums() {
        let payload: [UInt8] = [10, 20, 30]
        let sum = payload.reduce(0, &+), xor = payload.reduce(0, ^)
        let s = payload + [sum] + [0xAA, 0x55] + [1, 2, 3, 99] + [0xAA, 0x55]
        let (f, c) = frames(.delimiter([0xAA, 0x55], maxLength: 16, checksum: .sum8), s, chunk: 1)
        #expect(f == [payload] && c.corrupt == 1)
        let (g, _) = frames(.delimiter([0x0D], maxLength: 16, checksum: .xor8), payload + [xor, 0x0D])
        #expect(g == [payload])
    }
}
