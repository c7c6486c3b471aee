#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import DewpointCore

/// Cuts a byte stream (serial, TCP) into frames, checks each frame's checksum, and
/// resynchronises after garbage. Shared by every stream transport and by replay of recordings.
///
/// Contract: not thread-safe (one per stream). `feed` calls `onFrame` with a view that is valid
/// only during the call. Memory is bounded by the frame size limit; nothing is allocated per
/// frame. Every dropped byte or frame is counted.
public final class Framer {
    public struct Counters: Sendable, Equatable {
        public var frames = 0
        /// Frames longer than the limit, dropped whole.
        public var oversize = 0
        /// Frames that failed their checksum or their encoding (SLIP, COBS), dropped.
        public var corrupt = 0
        /// Bytes skipped while looking for the start of a frame.
        public var garbageBytes = 0
        public init() {}
    }

    public let spec: FramingSpec
    public private(set) var counters = Counters()
    private var buf: [UInt8]
    private var out: [UInt8]
    private let limit: Int
    /// Inside an oversize frame: drop bytes until its end.
    private var discarding = false
    private var slipEscape = false
    private var discardTail: [UInt8] = []

    public init(_ spec: FramingSpec) {
        self.spec = spec
        switch spec {
        case .none: limit = 1 << 20
        case .line(let m, _, _), .delimiter(_, let m, _), .lengthPrefix(_, _, let m, _), .slip(let m, _), .cobs(let m, _): limit = m
        case .fixed(let size, _): limit = size
        }
        buf = []
        buf.reserveCapacity(limit + 8)
        out = []
        out.reserveCapacity(limit + 8)
    }

    /// Whether bytes of an unfinished frame are held (what `reset` would drop).
    public var hasPartialFrame: Bool { !buf.isEmpty || discarding }

    /// Drops any partial frame (after a reconnection: the next bytes start a new stream).
    public func reset() {
        buf.removeAll(keepingCapacity: true)
        discarding = false
        slipEscape = false
    }

    public func feed(_ bytes: UnsafeRawBufferPointer, onFrame: (UnsafeRawBufferPointer) -> Void) {
        switch spec {
        case .none:
            emit(bytes, onFrame)
        case .line(_, let start, _):
            lines(bytes, start: start, onFrame)
        case .delimiter(let d, _, _):
            for b in bytes { delimited(b, d, start: nil, trimCR: false, onFrame) }
        case .fixed(let size, _):
            buf.append(contentsOf: bytes)
            var i = 0
            while buf.count - i >= size {
                let ok = buf.withUnsafeBytes { check(UnsafeRawBufferPointer(rebasing: $0[i..<(i + size)])) }
                if ok {
                    buf.withUnsafeBytes { emitChecked(UnsafeRawBufferPointer(rebasing: $0[i..<(i + size)]), onFrame) }
                    i += size
                } else if spec.checksum == .none {
                    i += size
                } else {
                    // resynchronise: the frame boundary is off by some bytes; slide by one
                    counters.garbageBytes += 1
                    i += 1
                }
            }
            buf.removeFirst(i)
        case .lengthPrefix(let size, let bigEndian, let maxLength, _):
            buf.append(contentsOf: bytes)
            var i = 0
            while buf.count - i >= size {
                var len = 0
                for k in 0..<size {
                    let byte = Int(buf[i + (bigEndian ? k : size - 1 - k)])
                    len = len << 8 | byte
                }
                if len == 0 || len > maxLength {
                    // not a plausible length: garbage, move on by one byte
                    counters.garbageBytes += 1
                    i += 1
                    continue
                }
                guard buf.count - i - size >= len else { break }
                let frame = (i + size)..<(i + size + len)
                buf.withUnsafeBytes { emitChecked(UnsafeRawBufferPointer(rebasing: $0[frame]), onFrame) }
                i += size + len
            }
            buf.removeFirst(i)
        case .slip:
            for b in bytes { slip(b, onFrame) }
        case .cobs:
            for b in bytes {
                if b == 0 {
                    if discarding { discarding = false; buf.removeAll(keepingCapacity: true); continue }
                    if !buf.isEmpty { cobsFrame(onFrame) }
                    buf.removeAll(keepingCapacity: true)
                } else if !discarding {
                    if buf.count >= limit + 1 { counters.oversize += 1; discarding = true; buf.removeAll(keepingCapacity: true) } else { buf.append(b) }
                }
            }
        }
    }

    /// Line framing on whole chunks: `memchr` finds each newline, and complete lines are emitted
    /// straight from the input without copying.
    private func lines(_ bytes: UnsafeRawBufferPointer, start: UInt8?, _ onFrame: (UnsafeRawBufferPointer) -> Void) {
        guard let base = bytes.baseAddress else { return }
        var i = 0
        let n = bytes.count
        while i < n {
            guard let hit = memchr(base + i, 0x0A, n - i) else {
                // no end of line in this chunk: keep the partial line (bounded)
                if !discarding {
                    if buf.count + (n - i) > limit + 1 {
                        counters.oversize += 1
                        discarding = true
                        buf.removeAll(keepingCapacity: true)
                    } else {
                        buf.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<n]))
                    }
                }
                return
            }
            let nl = base.distance(to: UnsafeRawPointer(hit))
            if discarding {
                discarding = false
            } else if buf.isEmpty {
                segment(UnsafeRawBufferPointer(rebasing: bytes[i..<nl]), start: start, onFrame)
            } else {
                buf.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<nl]))
                buf.withUnsafeBytes { segment($0, start: start, onFrame) }
                buf.removeAll(keepingCapacity: true)
            }
            i = nl + 1
        }
    }

    /// One line without its `\n`: skip to the last start byte, drop a trailing `\r`, check size.
    private func segment(_ line: UnsafeRawBufferPointer, start: UInt8?, _ onFrame: (UnsafeRawBufferPointer) -> Void) {
        var lo = 0
        var hi = line.count
        if hi > 0 && line[hi - 1] == 0x0D { hi -= 1 }
        // the same rule as for a partial line that outgrows the buffer
        if hi > limit { counters.oversize += 1; return }
        if let start {
            var k = hi - 1
            while k >= 0 && line[k] != start { k -= 1 }
            if k < 0 {
                counters.garbageBytes += hi
                return
            }
            counters.garbageBytes += k
            lo = k
        }
        guard hi > lo else { return }
        emitChecked(UnsafeRawBufferPointer(rebasing: line[lo..<hi]), onFrame)
    }

    private func delimited(_ b: UInt8, _ delim: [UInt8], start: UInt8?, trimCR: Bool, _ onFrame: (UnsafeRawBufferPointer) -> Void) {
        if let start, buf.isEmpty, !discarding, b != start {
            if b != 0x0A && b != 0x0D { counters.garbageBytes += 1 }
            return
        }
        if let start, b == start, !buf.isEmpty, !discarding {
            // a new start byte inside a frame: the partial frame before it was garbage
            counters.garbageBytes += buf.count
            buf.removeAll(keepingCapacity: true)
        }
        if !discarding { buf.append(b) }
        let ends = buf.count >= delim.count && buf.suffix(delim.count).elementsEqual(delim)
        var endsWhileDiscarding = false
        if discarding {
            // the whole delimiter must match, not just its last byte
            discardTail.append(b)
            if discardTail.count > delim.count { discardTail.removeFirst() }
            endsWhileDiscarding = discardTail.elementsEqual(delim)
        }
        if ends || endsWhileDiscarding {
            if discarding {
                discarding = false
                discardTail.removeAll(keepingCapacity: true)
            } else {
                var n = buf.count - delim.count
                if trimCR && n > 0 && buf[n - 1] == 0x0D { n -= 1 }
                if n > 0 { buf.withUnsafeBytes { emitChecked(UnsafeRawBufferPointer(rebasing: $0[0..<n]), onFrame) } }
            }
            buf.removeAll(keepingCapacity: true)
            return
        }
        if buf.count > limit + delim.count {
            counters.oversize += 1
            discarding = true
            // keep the last bytes: a delimiter may have begun at the overflow point
            discardTail = Array(buf.suffix(delim.count - 1))
            buf.removeAll(keepingCapacity: true)
        }
    }

    private func slip(_ b: UInt8, _ onFrame: (UnsafeRawBufferPointer) -> Void) {
        let END: UInt8 = 0xC0, ESC: UInt8 = 0xDB
        if b == END {
            if discarding { discarding = false } else if !buf.isEmpty { buf.withUnsafeBytes { emitChecked($0, onFrame) } }
            buf.removeAll(keepingCapacity: true)
            slipEscape = false
            return
        }
        if discarding { return }
        if slipEscape {
            slipEscape = false
            switch b {
            case 0xDC: buf.append(END)
            case 0xDD: buf.append(ESC)
            default:
                counters.corrupt += 1  // invalid escape: drop the frame
                discarding = true
                buf.removeAll(keepingCapacity: true)
                return
            }
        } else if b == ESC {
            slipEscape = true
            return
        } else {
            buf.append(b)
        }
        if buf.count > limit {
            counters.oversize += 1
            discarding = true
            buf.removeAll(keepingCapacity: true)
        }
    }

    private func cobsFrame(_ onFrame: (UnsafeRawBufferPointer) -> Void) {
        out.removeAll(keepingCapacity: true)
        var i = 0
        while i < buf.count {
            let code = Int(buf[i])
            guard code != 0, i + code <= buf.count else { counters.corrupt += 1; return }
            out.append(contentsOf: buf[(i + 1)..<(i + code)])
            i += code
            if code < 0xFF && i < buf.count { out.append(0) }
        }
        out.withUnsafeBytes { emitChecked($0, onFrame) }
    }

    private func emit(_ f: UnsafeRawBufferPointer, _ onFrame: (UnsafeRawBufferPointer) -> Void) {
        counters.frames += 1
        onFrame(f)
    }

    /// Checks and strips the frame's checksum, then emits it; counts a failure as corrupt.
    private func emitChecked(_ f: UnsafeRawBufferPointer, _ onFrame: (UnsafeRawBufferPointer) -> Void) {
        guard check(f) else { counters.corrupt += 1; return }
        let strip: Int
        switch spec.checksum {
        case .none: strip = 0
        case .nmea: strip = 3  // "*hh"
        case .crc16Modbus: strip = 2
        case .crc32: strip = 4
        case .sum8, .xor8: strip = 1
        }
        emit(UnsafeRawBufferPointer(rebasing: f[0..<(f.count - strip)]), onFrame)
    }

    private func check(_ f: UnsafeRawBufferPointer) -> Bool {
        switch spec.checksum {
        case .none:
            return true
        case .nmea:
            let n = f.count
            guard n >= 4, f[0] == UInt8(ascii: "$") || f[0] == UInt8(ascii: "!"), f[n - 3] == UInt8(ascii: "*") else { return false }
            let hi = JSONString.hexValue(f[n - 2]), lo = JSONString.hexValue(f[n - 1])
            guard hi >= 0, lo >= 0 else { return false }
            return Int(Checksum.xor8(UnsafeRawBufferPointer(rebasing: f[1..<(n - 3)]))) == hi << 4 | lo
        case .crc16Modbus:
            guard f.count > 2 else { return false }
            let crc = Checksum.crc16Modbus(UnsafeRawBufferPointer(rebasing: f[0..<(f.count - 2)]))
            return f[f.count - 2] == UInt8(crc & 0xFF) && f[f.count - 1] == UInt8(crc >> 8)
        case .crc32:
            guard f.count > 4 else { return false }
            let crc = Checksum.crc32(UnsafeRawBufferPointer(rebasing: f[0..<(f.count - 4)]))
            return (0..<4).allSatisfy { f[f.count - 4 + $0] == UInt8(truncatingIfNeeded: crc >> (8 * UInt32($0))) }
        case .sum8:
            guard f.count > 1 else { return false }
            return Checksum.sum8(UnsafeRawBufferPointer(rebasing: f[0..<(f.count - 1)])) == f[f.count - 1]
        case .xor8:
            guard f.count > 1 else { return false }
            return Checksum.xor8(UnsafeRawBufferPointer(rebasing: f[0..<(f.count - 1)])) == f[f.count - 1]
        }
    }
}
