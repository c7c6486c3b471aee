import DewpointCore
import DewpointDecode
#if canImport(Glibc)
import Glibc
#endif

/// Raw serial recordings, as written by `dewpoint record --serial` and read by `dewpoint replay`.
///
/// Format (little-endian): an 8-byte header, `DPSR` then the version byte `1` and three zero
/// bytes; then one record per read from the port: `u64` wall time in ns since the epoch, `u32`
/// byte count, the bytes. Replay runs the bytes through the binding's framer and decoder with the
/// record's time as arrival time, exactly as live.
public enum SerialRecording {
    public static let magic: [UInt8] = Array("DPSR".utf8) + [1, 0, 0, 0]

    public static func appendRecord(_ bytes: UnsafeRawBufferPointer, tsNs: Int64, to out: inout [UInt8]) {
        var t = UInt64(bitPattern: tsNs).littleEndian
        var n = UInt32(bytes.count).littleEndian
        withUnsafeBytes(of: &t) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: bytes)
    }

    public struct FormatError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Calls `body` for every record of the file, in order.
    public static func read(path: String, _ body: (UnsafeRawBufferPointer, Int64) -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw IOError(path: path, operation: "read", errno: errno) }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
        }
        guard data.count >= 8, Array(data[0..<8]) == magic else {
            throw FormatError(description: "\(path): not a serial recording (expected the DPSR header of version 1)")
        }
        try data.withUnsafeBytes { b in
            var i = 8
            while i < b.count {
                guard i + 12 <= b.count else { throw FormatError(description: "\(path): truncated record header at byte \(i)") }
                let ts = Int64(bitPattern: b.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian)
                let n = Int(b.loadUnaligned(fromByteOffset: i + 8, as: UInt32.self).littleEndian)
                guard i + 12 + n <= b.count else { throw FormatError(description: "\(path): truncated record at byte \(i)") }
                body(UnsafeRawBufferPointer(rebasing: b[(i + 12)..<(i + 12 + n)]), ts)
                i += 12 + n
            }
        }
    }
}

extension ReplayReader {
    /// Replays a serial recording through the binding's framer and decoder.
    public func replaySerial(path: String, binding: Int, into pipeline: Pipeline) throws -> Framer.Counters {
        let framer = Framer(pipeline.bindings[binding].framing)
        try SerialRecording.read(path: path) { bytes, ts in
            framer.feed(bytes) { pipeline.ingest(binding: binding, payload: $0, arrivalNs: ts) }
        }
        return framer.counters
    }
}
