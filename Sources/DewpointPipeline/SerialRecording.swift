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

    /// The read buffer of `read(path:_:)`: a record that fits in it (nearly all do: one record is
    /// one read of a port) is passed to `body` where it lies.
    public static let bufferSize = 1 << 16
    /// The longest record `read(path:_:)` takes. One longer than the read buffer is gathered in a
    /// buffer of its own, which grows up to this.
    public static let maxRecordBytes = 1 << 24

    /// Calls `body` for every record of the file, in order. The file is streamed through a buffer
    /// of `bufferSize` bytes (at least 16), so memory does not grow with the file; the records
    /// before a truncated or corrupt one are passed to `body` before the error is thrown.
    public static func read(path: String, bufferSize: Int = SerialRecording.bufferSize,
                            _ body: (UnsafeRawBufferPointer, Int64) -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(bufferSize, 16), alignment: 8)
        defer { buf.deallocate() }
        var record = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        defer { record.deallocate() }
        // the unread bytes are buf[start..<end]
        var start = 0
        var end = 0
        var eof = false

        /// read(2) into `p`, retrying EINTR; 0 at the end of the file.
        func readSome(_ p: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
            while true {
                let n = Glibc.read(fd, p, count)
                if n >= 0 { return n }
                let e = errno
                if e != EINTR { throw IOError(path: path, operation: "read", errno: e) }
            }
        }

        /// Reads until `want` bytes (at most the buffer's size) are unread, or the file ends.
        func fill(_ want: Int) throws {
            if end - start >= want || eof { return }
            if start > 0 {
                if end > start { buf.baseAddress!.copyMemory(from: buf.baseAddress! + start, byteCount: end - start) }
                end -= start
                start = 0
            }
            while end < want && !eof {
                let n = try readSome(buf.baseAddress! + end, buf.count - end)
                if n == 0 { eof = true } else { end += n }
            }
        }

        try fill(8)
        guard end - start >= 8, (0..<8).allSatisfy({ buf[start + $0] == magic[$0] }) else {
            throw FormatError(description: "\(path): not a serial recording (expected the DPSR header of version 1)")
        }
        start += 8
        var offset = 8  // the position in the file of the record that starts at buf[start]
        let b = UnsafeRawBufferPointer(buf)
        while true {
            try fill(12)
            let available = end - start
            if available == 0 { return }
            guard available >= 12 else { throw FormatError(description: "\(path): truncated record header at byte \(offset)") }
            let ts = Int64(bitPattern: b.loadUnaligned(fromByteOffset: start, as: UInt64.self).littleEndian)
            let n = Int(b.loadUnaligned(fromByteOffset: start + 8, as: UInt32.self).littleEndian)
            if 12 + n <= b.count {
                try fill(12 + n)
                guard end - start >= 12 + n else { throw FormatError(description: "\(path): truncated record at byte \(offset)") }
                body(UnsafeRawBufferPointer(rebasing: b[(start + 12)..<(start + 12 + n)]), ts)
                start += 12 + n
            } else {
                guard n <= maxRecordBytes else {
                    // a length that the rest of the file cannot hold is a truncated (or corrupt)
                    // record, as it always was; a file that does hold it is refused
                    var st = stat()
                    if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, offset + 12 + n > Int(st.st_size) {
                        throw FormatError(description: "\(path): truncated record at byte \(offset)")
                    }
                    throw FormatError(description: "\(path): record at byte \(offset) holds \(n) bytes, more than the \(maxRecordBytes >> 20) MiB a record may hold")
                }
                // longer than the read buffer: what the buffer holds of it, then the rest read
                // straight into a buffer of its own
                if record.count < n {
                    record.deallocate()
                    record = .allocate(byteCount: n, alignment: 8)
                }
                var got = available - 12
                record.baseAddress!.copyMemory(from: buf.baseAddress! + start + 12, byteCount: got)
                start = 0
                end = 0
                while got < n {
                    let k = try readSome(record.baseAddress! + got, n - got)
                    if k == 0 { throw FormatError(description: "\(path): truncated record at byte \(offset)") }
                    got += k
                }
                body(UnsafeRawBufferPointer(rebasing: record[0..<n]), ts)
            }
            offset += 12 + n
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
