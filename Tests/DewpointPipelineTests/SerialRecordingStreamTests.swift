import Foundation
import Testing
import DewpointCore
@testable import DewpointPipeline

/// `SerialRecording.read` streams a `.dpsr` file through a fixed buffer: records that straddle
/// the buffer's refills, and records longer than the buffer, come out whole and in order, and a
/// truncated or corrupt file gives the errors it always gave.
@Suite struct SerialRecordingStreamTests {
    struct Record: Equatable {
        var bytes: [UInt8]
        var ts: Int64
    }

    /// Records of many sizes: empty, a few bytes, around the buffer's size and past it, up to 2 MiB,
    /// mixed with thousands of small and middling ones so that records fall across every refill.
    static func records(seed: UInt64, count: Int) -> [Record] {
        let buffer = SerialRecording.bufferSize
        let special = [0, 1, 11, 12, 13, 100, 4096, buffer - 13, buffer - 12, buffer - 11, buffer, buffer + 1,
                       3 * buffer + 7, 1 << 20, (2 << 20) + 5]
        var rng = SplitMix64(seed: seed)
        var out: [Record] = []
        var ts: Int64 = 1_764_000_000_000_000_000
        for i in 0..<count {
            let n: Int
            if i % 200 == 0 && i / 200 < special.count {
                n = special[i / 200]
            } else {
                n = rng.below(8) == 0 ? rng.below(20_000) : rng.below(300)
            }
            var bytes = [UInt8](repeating: 0, count: n)
            var k = 0
            while k < n {
                var w = rng.next()
                for j in k..<Swift.min(k + 8, n) {
                    bytes[j] = UInt8(truncatingIfNeeded: w)
                    w >>= 8
                }
                k += 8
            }
            ts += Int64(rng.below(1_000_000_000))
            out.append(Record(bytes: bytes, ts: ts))
        }
        return out
    }

    static func file(_ records: [Record]) -> [UInt8] {
        var file = SerialRecording.magic
        for r in records { r.bytes.withUnsafeBytes { SerialRecording.appendRecord($0, tsNs: r.ts, to: &file) } }
        return file
    }

    static func write(_ bytes: [UInt8], as name: String) throws -> String {
        let url = tempFile("\(name)-\(UUID().uuidString).dpsr")
        try Data(bytes).write(to: url)
        return url.path
    }

    /// The records `read` passes on, and the error it ends with (nil at a clean end).
    static func read(_ path: String, bufferSize: Int = SerialRecording.bufferSize) -> (records: [Record], error: String?) {
        var got: [Record] = []
        do {
            try SerialRecording.read(path: path, bufferSize: bufferSize) { b, ts in got.append(Record(bytes: Array(b), ts: ts)) }
            return (got, nil)
        } catch {
            return (got, "\(error)")
        }
    }

    @Test func streamsEveryRecordInOrderWithItsTime() throws {
        let records = Self.records(seed: 42, count: 3_200)
        let bytes = Self.file(records)
        #expect(bytes.count > 4 << 20)
        #expect(records.contains { $0.bytes.count > 2 * SerialRecording.bufferSize })
        let path = try Self.write(bytes, as: "stream")
        for size in [SerialRecording.bufferSize, 4099, 16] {
            let (got, error) = Self.read(path, bufferSize: size)
            #expect(error == nil, "buffer \(size): \(error ?? "")")
            #expect(got.count == records.count, "buffer \(size)")
            if let i = zip(got, records).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                Issue.record("buffer \(size): record \(i) differs (\(got[i].bytes.count) bytes, \(records[i].bytes.count) written)")
            }
        }
    }

    @Test func emptyRecordingHasNoRecords() throws {
        let path = try Self.write(SerialRecording.magic, as: "empty")
        let (got, error) = Self.read(path)
        #expect(got.isEmpty && error == nil)
    }

    @Test func truncatedAndCorruptFilesGiveTheSameErrors() throws {
        // records at byte 8 (10 bytes), 30 (100,000 bytes: longer than the buffer), 100,042 (5 bytes)
        let records = [Record(bytes: Array(repeating: 1, count: 10), ts: 1),
                       Record(bytes: Array(repeating: 2, count: 100_000), ts: 2),
                       Record(bytes: Array(repeating: 3, count: 5), ts: 3)]
        let whole = Self.file(records)
        #expect(whole.count == 100_059)
        // (cut at, records before the error, error)
        let cases: [(Int, Int, String)] = [
            (0, 0, "not a serial recording (expected the DPSR header of version 1)"),
            (5, 0, "not a serial recording (expected the DPSR header of version 1)"),
            (8 + 7, 0, "truncated record header at byte 8"),
            (8 + 12 + 9, 0, "truncated record at byte 8"),
            (30 + 11, 1, "truncated record header at byte 30"),
            (30 + 12 + 70_000, 1, "truncated record at byte 30"),
            (100_042 + 3, 2, "truncated record header at byte 100042"),
            (100_042 + 16, 2, "truncated record at byte 100042"),
        ]
        for size in [SerialRecording.bufferSize, 16] {
            for (cut, before, message) in cases {
                let path = try Self.write(Array(whole[0..<cut]), as: "cut")
                let (got, error) = Self.read(path, bufferSize: size)
                #expect(got == Array(records.prefix(before)), "cut at \(cut), buffer \(size)")
                #expect(error == "\(path): \(message)", "cut at \(cut), buffer \(size)")
            }
        }

        var wrongMagic = whole
        wrongMagic[4] = 2
        let magicPath = try Self.write(wrongMagic, as: "magic")
        #expect(Self.read(magicPath).error == "\(magicPath): not a serial recording (expected the DPSR header of version 1)")

        // a corrupt length past the end of the file reads as a truncated record, as before
        var corrupt = whole
        corrupt.replaceSubrange(38..<42, with: [0xFF, 0xFF, 0xFF, 0xFF])
        let corruptPath = try Self.write(corrupt, as: "corrupt")
        let c = Self.read(corruptPath)
        #expect(c.records == [records[0]])
        #expect(c.error == "\(corruptPath): truncated record at byte 30")
    }

    @Test func recordLongerThanTheLimitIsRefusedAtItsOffset() throws {
        // a header and one record that claims (and, sparse, holds) one byte more than the limit
        var head = SerialRecording.magic
        var n = UInt32(SerialRecording.maxRecordBytes + 1).littleEndian
        var ts = UInt64(7).littleEndian
        withUnsafeBytes(of: &ts) { head.append(contentsOf: $0) }
        withUnsafeBytes(of: &n) { head.append(contentsOf: $0) }
        let path = try Self.write(head, as: "huge")
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.truncate(atOffset: UInt64(20 + SerialRecording.maxRecordBytes + 1))
        try h.close()
        let (got, error) = Self.read(path)
        #expect(got.isEmpty)
        #expect(error == "\(path): record at byte 8 holds \(SerialRecording.maxRecordBytes + 1) bytes, more than the 16 MiB a record may hold")
    }
}
