import DewpointCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors from the file layer, with errno read at once.
public struct IOError: Error, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var errno: Int32
    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(errno)))"
    }
}

/// Reads a file line by line through a fixed buffer; `\n` ends a line and a trailing `\r` is kept
/// for the caller to ignore. Lines longer than the buffer are reported as too long and skipped.
public final class LineReader {
    private let fd: Int32
    private let path: String
    private var buf: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var eof = false
    public private(set) var lineNumber = 0
    public private(set) var overlongLines = 0

    public static let defaultBufferSize = 1 << 20

    public init(path: String, bufferSize: Int = LineReader.defaultBufferSize) throws(IOError) {
        self.path = path
        let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw IOError(path: path, operation: "open", errno: errno) }
        self.fd = fd
        buf = .allocate(byteCount: bufferSize, alignment: 16)
    }

    deinit {
        if fd > 0 { close(fd) }
        buf.deallocate()
    }

    /// Calls `body` with each line (without `\n`) until the end of the file.
    public func forEachLine(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        while true {
            // find newline in [start, end)
            var i = start
            while i < end && buf[i] != 0x0A { i += 1 }
            if i < end {
                lineNumber += 1
                try body(UnsafeRawBufferPointer(rebasing: buf[start..<i]))
                start = i + 1
                continue
            }
            if eof {
                if start < end {
                    lineNumber += 1
                    try body(UnsafeRawBufferPointer(rebasing: buf[start..<end]))
                }
                return
            }
            // compact and refill
            if start > 0 {
                if end > start { buf.baseAddress!.copyMemory(from: buf.baseAddress! + start, byteCount: end - start) }
                end -= start
                start = 0
            }
            if end == buf.count {
                // a line longer than the buffer: drop it up to the next newline
                overlongLines += 1
                lineNumber += 1
                end = 0
                try skipToNewline()
                continue
            }
            let n = try readSome(into: end)
            if n == 0 { eof = true } else { end += n }
        }
    }

    private func readSome(into offset: Int) throws(IOError) -> Int {
        while true {
            let n = read(fd, buf.baseAddress! + offset, buf.count - offset)
            if n >= 0 { return n }
            let e = errno
            if e == EINTR { continue }
            throw IOError(path: path, operation: "read", errno: e)
        }
    }

    private func skipToNewline() throws(IOError) {
        while true {
            let n = try readSome(into: 0)
            if n == 0 { eof = true; return }
            for i in 0..<n where buf[i] == 0x0A {
                start = i + 1
                end = n
                return
            }
        }
    }
}

/// Buffered writes to a file descriptor, retrying EINTR and short writes.
public final class FDWriter {
    private let fd: Int32
    private var buf: [UInt8] = []
    private let limit: Int
    public init(fd: Int32, bufferSize: Int = 1 << 16) {
        self.fd = fd
        self.limit = bufferSize
        buf.reserveCapacity(bufferSize)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        if buf.count + bytes.count > limit { flush() }
        buf.append(contentsOf: bytes)
    }

    public func write(_ s: String) {
        var s = s
        s.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    /// Set once a write failed (a closed pipe, a full disk): what was buffered then is lost, and a
    /// caller that must know (an export before deleting its source) checks it.
    public private(set) var failed = false

    public func flush() {
        var off = 0
        buf.withUnsafeBytes { p in
            while off < p.count {
                let n = sysWrite(fd, p.baseAddress! + off, p.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    return  // stdout closed (EPIPE): nothing more can be written
                }
                off += n
            }
        }
        buf.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}

/// Writes each record as one JSON line.
public final class JSONLSink: RecordSink {
    private let writer: FDWriter
    public init(fd: Int32 = 1) { writer = FDWriter(fd: fd) }
    public func write(kind: RecordKind, device: String, seq: UInt64, json: UnsafeRawBufferPointer) {
        writer.write(json)
        var nl: UInt8 = 0x0A
        withUnsafeBytes(of: &nl) { writer.write($0) }
    }
    public func flush() { writer.flush() }
}

@inline(__always)
func sysWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}
