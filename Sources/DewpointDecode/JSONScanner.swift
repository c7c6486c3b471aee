/// A validating, single-pass JSON (RFC 8259) scanner that picks the values of a set of JSON
/// pointers without building a tree.
///
/// Written by hand rather than taken from a library: the Swift JSON libraries available here
/// (Foundation's `JSONSerialization`/`JSONDecoder`) build objects per document, which costs
/// allocations per message; extraction here allocates nothing after `init`.
///
/// - Every document is fully validated: grammar, string escapes, UTF-8, and nesting depth
///   (at most `maxDepth`, so hostile nesting cannot exhaust the stack — there is no recursion).
/// - Not thread-safe: use one scanner per thread.
public final class JSONScanner {
    public static let maxDepth = 512

    public let pointers: JSONPointerSet
    /// The value found for each pointer slot by the last `scan`, or `.missing`.
    public private(set) var values: [JSONValue]

    struct Frame {
        var isObject: Bool
        var node: Int32
        var index: Int32
    }
    private let stack: UnsafeMutablePointer<Frame>
    /// Scratch space for keys containing escapes (rare).
    private var scratch: [UInt8] = []

    public init(_ pointers: JSONPointerSet) {
        self.pointers = pointers
        self.values = Array(repeating: JSONValue.missing, count: pointers.count)
        self.stack = .allocate(capacity: JSONScanner.maxDepth)
        scratch.reserveCapacity(256)
    }

    public convenience init(pointers: [JSONPointer]) {
        self.init(JSONPointerSet(pointers))
    }

    deinit { stack.deallocate() }

    private enum State { case value, afterValue, key }

    /// Validates `buf` as one JSON text and fills `values`. On error, `values` is unspecified.
    public func scan(_ buf: UnsafeRawBufferPointer) throws(JSONError) {
        for i in 0..<values.count { values[i] = .missing }
        guard let base = buf.baseAddress?.assumingMemoryBound(to: UInt8.self), buf.count > 0 else {
            throw JSONError(.unexpectedEnd, at: 0)
        }
        let n = buf.count
        var p = 0
        var depth = 0
        var node: Int32 = 0
        var state = State.value
        let trie = pointers.nodes

        @inline(__always) func skipWS() {
            while p < n {
                let c = base[p]
                if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { p += 1 } else { break }
            }
        }

        while true {
            switch state {
            case .value:
                skipWS()
                guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
                let c = base[p]
                let start = p
                switch c {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard depth < JSONScanner.maxDepth else { throw JSONError(.tooDeep, at: p) }
                    if node >= 0 && !trie[Int(node)].slots.isEmpty { record(node, JSONValue(kind: .container, start: p, end: p + 1, escaped: false)) }
                    let isObject = c == UInt8(ascii: "{")
                    stack[depth] = Frame(isObject: isObject, node: node, index: 0)
                    depth += 1
                    p += 1
                    skipWS()
                    guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
                    if base[p] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        p += 1; depth -= 1; state = .afterValue
                    } else if isObject {
                        state = .key
                    } else {
                        node = child(trie, of: node, index: 0)
                    }
                case UInt8(ascii: "\""):
                    let escaped = try scanString(base, n, &p)
                    if node >= 0 && !trie[Int(node)].slots.isEmpty {
                        record(node, JSONValue(kind: .string, start: start + 1, end: p - 1, escaped: escaped))
                    }
                    state = .afterValue
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    try scanNumber(base, n, &p)
                    if node >= 0 && !trie[Int(node)].slots.isEmpty {
                        record(node, JSONValue(kind: .number, start: start, end: p, escaped: false))
                    }
                    state = .afterValue
                case UInt8(ascii: "t"):
                    try literal(base, n, &p, "true")
                    if node >= 0 { record(node, JSONValue(kind: .bool(true), start: start, end: p, escaped: false)) }
                    state = .afterValue
                case UInt8(ascii: "f"):
                    try literal(base, n, &p, "false")
                    if node >= 0 { record(node, JSONValue(kind: .bool(false), start: start, end: p, escaped: false)) }
                    state = .afterValue
                case UInt8(ascii: "n"):
                    try literal(base, n, &p, "null")
                    if node >= 0 { record(node, JSONValue(kind: .null, start: start, end: p, escaped: false)) }
                    state = .afterValue
                default:
                    throw JSONError(.unexpectedByte(c, expected: "a value"), at: p)
                }

            case .afterValue:
                skipWS()
                if depth == 0 {
                    guard p == n else { throw JSONError(.unexpectedByte(base[p], expected: "end of document"), at: p) }
                    return
                }
                guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
                let c = base[p]
                if stack[depth - 1].isObject {
                    if c == UInt8(ascii: ",") { p += 1; state = .key }
                    else if c == UInt8(ascii: "}") { p += 1; depth -= 1 }
                    else { throw JSONError(.unexpectedByte(c, expected: "',' or '}'"), at: p) }
                } else {
                    if c == UInt8(ascii: ",") {
                        p += 1
                        stack[depth - 1].index &+= 1
                        node = child(trie, of: stack[depth - 1].node, index: Int(stack[depth - 1].index))
                        state = .value
                    } else if c == UInt8(ascii: "]") { p += 1; depth -= 1 }
                    else { throw JSONError(.unexpectedByte(c, expected: "',' or ']'"), at: p) }
                }

            case .key:
                skipWS()
                guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
                guard base[p] == UInt8(ascii: "\"") else {
                    throw JSONError(.unexpectedByte(base[p], expected: "a string key"), at: p)
                }
                let ks = p + 1
                let escaped = try scanString(base, n, &p)
                let parent = stack[depth - 1].node
                node = parent >= 0 ? child(trie, of: parent, key: UnsafeBufferPointer(start: base + ks, count: p - 1 - ks), escaped: escaped) : -1
                skipWS()
                guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
                guard base[p] == UInt8(ascii: ":") else { throw JSONError(.unexpectedByte(base[p], expected: "':'"), at: p) }
                p += 1
                state = .value
            }
        }
    }

    @inline(__always)
    private func record(_ node: Int32, _ v: JSONValue) {
        for s in pointers.nodes[Int(node)].slots where values[s].kind == .missing { values[s] = v }
    }

    @inline(__always)
    private func child(_ trie: [JSONPointerSet.Node], of node: Int32, index: Int) -> Int32 {
        if node < 0 { return -1 }
        for c in trie[Int(node)].children where c.arrayIndex == index { return c.node }
        return -1
    }

    private func child(_ trie: [JSONPointerSet.Node], of node: Int32, key: UnsafeBufferPointer<UInt8>, escaped: Bool) -> Int32 {
        let children = trie[Int(node)].children
        if children.isEmpty { return -1 }
        if escaped {
            scratch.removeAll(keepingCapacity: true)
            JSONString.unescape(UnsafeRawBufferPointer(key), into: &scratch)
            return scratch.withUnsafeBufferPointer { k in
                for c in children where c.token.elementsEqual(k) { return c.node }
                return -1
            }
        }
        for c in children where c.token.count == key.count && c.token.elementsEqual(key) { return c.node }
        return -1
    }

    @inline(__always)
    private func literal(_ b: UnsafePointer<UInt8>, _ n: Int, _ p: inout Int, _ word: StaticString) throws(JSONError) {
        let len = word.utf8CodeUnitCount
        let w = word.utf8Start
        for i in 0..<len {
            guard p + i < n else { throw JSONError(.unexpectedEnd, at: p + i) }
            guard b[p + i] == w[i] else { throw JSONError(.unexpectedByte(b[p + i], expected: "'\(word)'"), at: p + i) }
        }
        p += len
    }

    private func scanNumber(_ b: UnsafePointer<UInt8>, _ n: Int, _ p: inout Int) throws(JSONError) {
        @inline(__always) func isDigit(_ i: Int) -> Bool { i < n && b[i] >= 48 && b[i] <= 57 }
        if b[p] == UInt8(ascii: "-") { p += 1 }
        guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
        if b[p] == UInt8(ascii: "0") {
            p += 1
        } else if isDigit(p) {
            while isDigit(p) { p += 1 }
        } else {
            throw JSONError(.badNumber, at: p)
        }
        if p < n && b[p] == UInt8(ascii: ".") {
            p += 1
            guard isDigit(p) else { throw JSONError(.badNumber, at: p) }
            while isDigit(p) { p += 1 }
        }
        if p < n && (b[p] | 0x20) == UInt8(ascii: "e") {
            p += 1
            if p < n && (b[p] == UInt8(ascii: "+") || b[p] == UInt8(ascii: "-")) { p += 1 }
            guard isDigit(p) else { throw JSONError(.badNumber, at: p) }
            while isDigit(p) { p += 1 }
        }
    }

    /// Scans a string starting at its opening quote; leaves `p` after the closing quote.
    /// Returns whether it contained escapes.
    private func scanString(_ b: UnsafePointer<UInt8>, _ n: Int, _ p: inout Int) throws(JSONError) -> Bool {
        p += 1
        var escaped = false
        while true {
            // Skip 8 plain ASCII bytes at a time: no quote, backslash, control or non-ASCII byte.
            while p + 8 <= n {
                let w = UnsafeRawPointer(b + p).loadUnaligned(as: UInt64.self)
                if SWAR.hasSpecial(w) { break }
                p += 8
            }
            guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
            let c = b[p]
            if c == UInt8(ascii: "\"") { p += 1; return escaped }
            if c == UInt8(ascii: "\\") {
                escaped = true
                p += 1
                guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
                switch b[p] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    p += 1
                case UInt8(ascii: "u"):
                    for i in 1...4 {
                        guard p + i < n else { throw JSONError(.unexpectedEnd, at: p + i) }
                        guard JSONString.hexValue(b[p + i]) >= 0 else { throw JSONError(.badEscape, at: p + i) }
                    }
                    p += 5
                default:
                    throw JSONError(.badEscape, at: p)
                }
                continue
            }
            if c < 0x20 { throw JSONError(.controlCharacterInString, at: p) }
            if c < 0x80 { p += 1; continue }
            let len = UTF8Check.sequenceLength(b, n, p)
            guard len > 0 else { throw JSONError(.invalidUTF8, at: p) }
            p += len
        }
    }
}

/// A value located by a pointer: its kind and byte range in the scanned buffer.
public struct JSONValue: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case missing, number, string, bool(Bool), null, container
    }
    public var kind: Kind
    /// For strings: the bytes between the quotes (still escaped when `escaped`).
    public var start: Int
    public var end: Int
    public var escaped: Bool
    public static let missing = JSONValue(kind: .missing, start: 0, end: 0, escaped: false)

    public var kindName: String {
        switch kind {
        case .missing: "nothing"
        case .number: "a number"
        case .string: "a string"
        case .bool: "a boolean"
        case .null: "null"
        case .container: "an object or array"
        }
    }
}

public struct JSONError: Error, Equatable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        case unexpectedEnd
        case unexpectedByte(UInt8, expected: String)
        case tooDeep
        case badNumber
        case badEscape
        case controlCharacterInString
        case invalidUTF8
    }
    public var reason: Reason
    /// Byte offset into the document.
    public var offset: Int
    public init(_ reason: Reason, at offset: Int) { self.reason = reason; self.offset = offset }

    public var description: String {
        let what: String
        switch reason {
        case .unexpectedEnd: what = "unexpected end of document"
        case .unexpectedByte(let b, let expected):
            let shown = b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
            what = "expected \(expected), found \(shown)"
        case .tooDeep: what = "nesting deeper than \(JSONScanner.maxDepth) levels"
        case .badNumber: what = "malformed number"
        case .badEscape: what = "invalid escape in string"
        case .controlCharacterInString: what = "unescaped control character in string"
        case .invalidUTF8: what = "invalid UTF-8"
        }
        return "invalid JSON: \(what)"
    }
}

enum SWAR {
    /// True if any byte of `w` is `"`, `\`, below 0x20, or 0x80 and above.
    @inline(__always)
    static func hasSpecial(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let quote = w ^ (ones &* 0x22)
        let slash = w ^ (ones &* 0x5C)
        let hasZeroQ = (quote &- ones) & ~quote & high
        let hasZeroS = (slash &- ones) & ~slash & high
        let below20 = (w &- ones &* 0x20) & ~w & high
        return (hasZeroQ | hasZeroS | below20 | (w & high)) != 0
    }
}

enum UTF8Check {
    /// Length of the well-formed UTF-8 sequence at `p` (lead byte ≥ 0x80), or 0 if ill-formed
    /// (overlong forms, surrogates and code points above U+10FFFF are ill-formed).
    @inline(__always)
    static func sequenceLength(_ b: UnsafePointer<UInt8>, _ n: Int, _ p: Int) -> Int {
        let c = b[p]
        @inline(__always) func cont(_ i: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            i < n && b[i] >= lo && b[i] <= hi
        }
        switch c {
        case 0xC2...0xDF: return cont(p + 1) ? 2 : 0
        case 0xE0: return cont(p + 1, 0xA0) && cont(p + 2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(p + 1) && cont(p + 2) ? 3 : 0
        case 0xED: return cont(p + 1, 0x80, 0x9F) && cont(p + 2) ? 3 : 0
        case 0xF0: return cont(p + 1, 0x90) && cont(p + 2) && cont(p + 3) ? 4 : 0
        case 0xF1...0xF3: return cont(p + 1) && cont(p + 2) && cont(p + 3) ? 4 : 0
        case 0xF4: return cont(p + 1, 0x80, 0x8F) && cont(p + 2) && cont(p + 3) ? 4 : 0
        default: return 0
        }
    }
}
