#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Helpers for string and number tokens already validated by `JSONScanner`.
public enum JSONString {
    @inline(__always)
    static func hexValue(_ c: UInt8) -> Int {
        switch c {
        case 48...57: Int(c) - 48
        case 65...70: Int(c) - 55
        case 97...102: Int(c) - 87
        default: -1
        }
    }

    /// Writes the unescaped UTF-8 of a validated string body (without quotes) to `dst`, which
    /// must hold `s.count` bytes (unescaping never lengthens). Returns the bytes written.
    /// Runs without escapes are copied with `memcpy`. Lone surrogates become U+FFFD.
    @inline(__always)
    public static func unescape(_ s: UnsafeRawBufferPointer, to dst: UnsafeMutablePointer<UInt8>) -> Int {
        guard let base = s.baseAddress else { return 0 }
        var i = 0
        var o = 0
        let n = s.count
        while i < n {
            let rest = n - i
            guard let hit = memchr(base + i, 0x5C, rest) else {
                memcpy(dst + o, base + i, rest)
                return o + rest
            }
            let run = base.distance(to: UnsafeRawPointer(hit)) - i
            if run > 0 { memcpy(dst + o, base + i, run); o += run; i += run }
            // s[i] is a backslash
            i += 1
            guard i < n else { return o }
            let e = s[i]
            switch e {
            case UInt8(ascii: "b"): dst[o] = 0x08; o += 1
            case UInt8(ascii: "f"): dst[o] = 0x0C; o += 1
            case UInt8(ascii: "n"): dst[o] = 0x0A; o += 1
            case UInt8(ascii: "r"): dst[o] = 0x0D; o += 1
            case UInt8(ascii: "t"): dst[o] = 0x09; o += 1
            case UInt8(ascii: "u"):
                guard i + 4 < n else { return o }
                var cp = hex4(s, i + 1)
                i += 4
                if cp >= 0xD800 && cp < 0xDC00, i + 6 < n, s[i + 1] == UInt8(ascii: "\\"), s[i + 2] == UInt8(ascii: "u") {
                    let lo = hex4(s, i + 3)
                    if lo >= 0xDC00 && lo < 0xE000 {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                        i += 6
                    }
                }
                if cp >= 0xD800 && cp < 0xE000 { cp = 0xFFFD }
                o += writeUTF8(UInt32(cp), dst + o)
            default: dst[o] = e; o += 1  // \" \\ \/
            }
            i += 1
        }
        return o
    }

    static func writeUTF8(_ cp: UInt32, _ d: UnsafeMutablePointer<UInt8>) -> Int {
        switch cp {
        case 0..<0x80: d[0] = UInt8(cp); return 1
        case 0x80..<0x800:
            d[0] = UInt8(0xC0 | (cp >> 6)); d[1] = UInt8(0x80 | (cp & 0x3F)); return 2
        case 0x800..<0x10000:
            d[0] = UInt8(0xE0 | (cp >> 12)); d[1] = UInt8(0x80 | ((cp >> 6) & 0x3F)); d[2] = UInt8(0x80 | (cp & 0x3F)); return 3
        default:
            d[0] = UInt8(0xF0 | (cp >> 18)); d[1] = UInt8(0x80 | ((cp >> 12) & 0x3F))
            d[2] = UInt8(0x80 | ((cp >> 6) & 0x3F)); d[3] = UInt8(0x80 | (cp & 0x3F)); return 4
        }
    }

    /// Appends the unescaped UTF-8 of a validated string body (without quotes) to `out`.
    public static func unescape(_ s: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: s.count))
        let n = out.withUnsafeMutableBufferPointer { unescape(s, to: $0.baseAddress! + start) }
        out.removeLast(s.count - n)
    }

    @inline(__always)
    static func hex4(_ s: UnsafeRawBufferPointer, _ i: Int) -> Int {
        (hexValue(s[i]) << 12) | (hexValue(s[i + 1]) << 8) | (hexValue(s[i + 2]) << 4) | hexValue(s[i + 3])
    }
}

/// Decimal number parsing from bytes without allocating.
public enum NumberParser {
    private static let pow10: [Double] = (0...22).map { e in
        var v = 1.0
        for _ in 0..<e { v *= 10 }
        return v
    }

    /// Parses a JSON-grammar number (also accepts a leading `+` and surrounding spaces from
    /// text formats). Returns nil if the bytes are not a number.
    ///
    /// Fast path (Clinger): up to 15 significant digits with a decimal exponent within ±22 are
    /// exact with one multiplication or division. Everything else goes to `strtod`.
    @inline(__always)
    public static func parseDouble(_ s: UnsafeRawBufferPointer) -> Double? {
        var i = 0
        var n = s.count
        while i < n && s[i] == 0x20 { i += 1 }
        while n > i && s[n - 1] == 0x20 { n -= 1 }
        guard i < n else { return nil }
        var neg = false
        if s[i] == UInt8(ascii: "-") { neg = true; i += 1 } else if s[i] == UInt8(ascii: "+") { i += 1 }
        var mant: UInt64 = 0
        var digits = 0
        var exp10 = 0
        var sawDigit = false
        while i < n, s[i] &- 48 < 10 {
            sawDigit = true
            if digits < 19 { mant = mant &* 10 &+ UInt64(s[i] &- 48); if mant != 0 { digits += 1 } } else { exp10 += 1 }
            i += 1
        }
        if i < n && s[i] == UInt8(ascii: ".") {
            i += 1
            var fracDigit = false
            while i < n, s[i] &- 48 < 10 {
                fracDigit = true
                if digits < 19 { mant = mant &* 10 &+ UInt64(s[i] &- 48); if mant != 0 { digits += 1 }; exp10 -= 1 }
                i += 1
            }
            if !fracDigit && !sawDigit { return nil }
            sawDigit = sawDigit || fracDigit
        }
        guard sawDigit else { return nil }
        if i < n && (s[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            var eneg = false
            if i < n && (s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-")) { eneg = s[i] == UInt8(ascii: "-"); i += 1 }
            guard i < n, s[i] &- 48 < 10 else { return nil }
            var e = 0
            while i < n, s[i] &- 48 < 10 { if e < 100_000 { e = e * 10 + Int(s[i] &- 48) }; i += 1 }
            exp10 += eneg ? -e : e
        }
        guard i == n else { return nil }
        if mant == 0 { return neg ? -0.0 : 0.0 }
        if digits <= 15 && exp10 >= -22 && exp10 <= 22 {
            var v = Double(mant)
            if exp10 < 0 { v /= pow10[-exp10] } else { v *= pow10[exp10] }
            return neg ? -v : v
        }
        return slowParse(s)
    }

    private static func slowParse(_ s: UnsafeRawBufferPointer) -> Double? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: s.count + 1) { tmp in
            for i in 0..<s.count { tmp[i] = CChar(bitPattern: s[i]) }
            tmp[s.count] = 0
            return strtod(tmp.baseAddress!, nil)
        }
    }

    /// Parses a decimal integer (optional sign); nil on anything else or overflow.
    public static func parseInt(_ s: UnsafeRawBufferPointer) -> Int64? {
        var i = 0
        let n = s.count
        guard n > 0 else { return nil }
        var neg = false
        if s[0] == UInt8(ascii: "-") { neg = true; i = 1 } else if s[0] == UInt8(ascii: "+") { i = 1 }
        guard i < n else { return nil }
        var v: Int64 = 0
        while i < n {
            let d = s[i] &- 48
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(d))
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        return neg ? -v : v
    }
}

/// Moves over a document that `JSONScanner` has already validated.
enum JSONWalk {
    @inline(__always)
    static func skipSpace(_ b: UnsafeRawBufferPointer, _ p: Int) -> Int {
        var i = p
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        return i
    }

    /// The offset just past the value starting at `p`.
    static func skipValue(_ b: UnsafeRawBufferPointer, _ p: Int) -> Int {
        var i = p
        var depth = 0
        repeat {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                while b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
            } else if c == UInt8(ascii: "[") || c == UInt8(ascii: "{") {
                depth += 1; i += 1
            } else if c == UInt8(ascii: "]") || c == UInt8(ascii: "}") {
                depth -= 1; i += 1
            } else if depth == 0 {
                // a scalar: up to a delimiter
                while i < b.count, ![UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), 0x20, 0x0A, 0x0D, 0x09].contains(b[i]) { i += 1 }
            } else {
                i += 1
            }
        } while depth > 0
        return i
    }
}
