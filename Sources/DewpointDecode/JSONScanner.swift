#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
    public let slotCount: Int
    /// The value found for each pointer slot by the last `scan`, or `.missing`.
    private let slots: UnsafeMutablePointer<JSONValue>

    /// The value found for `slot` by the last `scan`.
    @inline(__always)
    public func value(_ slot: Int) -> JSONValue { slots[slot] }
    /// All slot values (allocates; for tests and tools).
    public var values: [JSONValue] { Array(UnsafeBufferPointer(start: slots, count: slotCount)) }

    struct Frame {
        var isObject: Bool
        var node: Int32
        var index: Int32
    }
    private let stack: UnsafeMutablePointer<Frame>

    /// The pointer trie, flattened into plain memory so that walking it costs no reference
    /// counting or exclusivity checks per key.
    struct FlatNode {
        var firstChild: Int32
        var childCount: Int32
        var firstSlot: Int32
        var slotCount: Int32
    }
    struct FlatChild {
        var tokenStart: Int32
        var tokenCount: Int32
        var arrayIndex: Int32
        var node: Int32
    }
    private let nodes: UnsafeMutablePointer<FlatNode>
    private let children: UnsafeMutablePointer<FlatChild>
    private let slotList: UnsafeMutablePointer<Int32>
    private let tokenBytes: UnsafeMutablePointer<UInt8>
    /// Scratch space for keys containing escapes (rare).
    private let scratch: UnsafeMutablePointer<UInt8>
    private static let scratchSize = 4096

    public init(_ pointers: JSONPointerSet) {
        self.pointers = pointers
        slotCount = pointers.count
        slots = .allocate(capacity: Swift.max(1, slotCount))
        slots.initialize(repeating: .missing, count: Swift.max(1, slotCount))
        stack = .allocate(capacity: JSONScanner.maxDepth)
        scratch = .allocate(capacity: JSONScanner.scratchSize)
        let trie = pointers.nodes
        let childTotal = trie.reduce(0) { $0 + $1.children.count }
        let slotTotal = trie.reduce(0) { $0 + $1.slots.count }
        let tokenTotal = trie.reduce(0) { $0 + $1.children.reduce(0) { $0 + $1.token.count } }
        nodes = .allocate(capacity: trie.count)
        children = .allocate(capacity: Swift.max(1, childTotal))
        slotList = .allocate(capacity: Swift.max(1, slotTotal))
        tokenBytes = .allocate(capacity: Swift.max(1, tokenTotal))
        var ci = 0, si = 0, ti = 0
        for (n, node) in trie.enumerated() {
            nodes[n] = FlatNode(firstChild: Int32(ci), childCount: Int32(node.children.count), firstSlot: Int32(si), slotCount: Int32(node.slots.count))
            for c in node.children {
                children[ci] = FlatChild(tokenStart: Int32(ti), tokenCount: Int32(c.token.count), arrayIndex: Int32(c.arrayIndex), node: c.node)
                for b in c.token { tokenBytes[ti] = b; ti += 1 }
                ci += 1
            }
            for sl in node.slots { slotList[si] = Int32(sl); si += 1 }
        }
    }

    public convenience init(pointers: [JSONPointer]) {
        self.init(JSONPointerSet(pointers))
    }

    deinit {
        stack.deallocate(); slots.deallocate(); scratch.deallocate(); nodes.deallocate()
        children.deallocate(); slotList.deallocate(); tokenBytes.deallocate()
    }

    private enum State { case value, afterValue, key }

    /// Validates `buf` as one JSON text and fills `values`. On error, `values` is unspecified.
    @inline(__always)
    static func skipWS(_ base: UnsafePointer<UInt8>, _ n: Int, _ from: Int) -> Int {
        var p = from
        while p < n {
            let c = base[p]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { p += 1 } else { break }
        }
        return p
    }

    public func scan(_ buf: UnsafeRawBufferPointer) throws(JSONError) {
        for i in 0..<slotCount { slots[i] = .missing }
        guard let base = buf.baseAddress?.assumingMemoryBound(to: UInt8.self), buf.count > 0 else {
            throw JSONError(.unexpectedEnd, at: 0)
        }
        let n = buf.count
        var p = 0
        var depth = 0
        var node: Int32 = 0
        var state = State.value

        // a static function, not a nested one: a nested function capturing `p` made every
        // access to it a dynamic exclusivity check (swift_beginAccess, seen in perf)

        while true {
            switch state {
            case .value:
                p = JSONScanner.skipWS(base, n, p)
                guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
                let c = base[p]
                let start = p
                switch c {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard depth < JSONScanner.maxDepth else { throw JSONError(.tooDeep, at: p) }
                    if node >= 0 && nodes[Int(node)].slotCount > 0 { record(node, JSONValue(kind: .container, start: p, end: p + 1, escaped: false)) }
                    let isObject = c == UInt8(ascii: "{")
                    stack[depth] = Frame(isObject: isObject, node: node, index: 0)
                    depth += 1
                    p += 1
                    p = JSONScanner.skipWS(base, n, p)
                    guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
                    if base[p] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        p += 1; depth -= 1; state = .afterValue
                    } else if isObject {
                        state = .key
                    } else {
                        node = child(of: node, index: 0)
                    }
                case UInt8(ascii: "\""):
                    let escaped = try scanString(base, n, &p)
                    if node >= 0 && nodes[Int(node)].slotCount > 0 {
                        record(node, JSONValue(kind: .string, start: start + 1, end: p - 1, escaped: escaped))
                    }
                    state = .afterValue
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    try scanNumber(base, n, &p)
                    if node >= 0 && nodes[Int(node)].slotCount > 0 {
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
                p = JSONScanner.skipWS(base, n, p)
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
                        node = child(of: stack[depth - 1].node, index: stack[depth - 1].index)
                        state = .value
                    } else if c == UInt8(ascii: "]") { p += 1; depth -= 1 }
                    else { throw JSONError(.unexpectedByte(c, expected: "',' or ']'"), at: p) }
                }

            case .key:
                p = JSONScanner.skipWS(base, n, p)
                guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
                guard base[p] == UInt8(ascii: "\"") else {
                    throw JSONError(.unexpectedByte(base[p], expected: "a string key"), at: p)
                }
                let ks = p + 1
                let escaped = try scanString(base, n, &p)
                let parent = stack[depth - 1].node
                node = parent >= 0 ? child(of: parent, key: base + ks, count: p - 1 - ks, escaped: escaped) : -1
                p = JSONScanner.skipWS(base, n, p)
                guard p < n else { throw JSONError(.unexpectedEnd, at: p) }
                guard base[p] == UInt8(ascii: ":") else { throw JSONError(.unexpectedByte(base[p], expected: "':'"), at: p) }
                p += 1
                state = .value
            }
        }
    }

    @inline(__always)
    private func record(_ node: Int32, _ v: JSONValue) {
        let n = nodes[Int(node)]
        var i = n.firstSlot
        while i < n.firstSlot + n.slotCount {
            let s = Int(slotList[Int(i)])
            if slots[s].kind == .missing { slots[s] = v }
            i += 1
        }
    }

    @inline(__always)
    private func child(of node: Int32, index: Int32) -> Int32 {
        if node < 0 { return -1 }
        let n = nodes[Int(node)]
        var i = n.firstChild
        while i < n.firstChild + n.childCount {
            if children[Int(i)].arrayIndex == index { return children[Int(i)].node }
            i += 1
        }
        return -1
    }

    @inline(__always)
    private func child(of node: Int32, key: UnsafePointer<UInt8>, count: Int, escaped: Bool) -> Int32 {
        let n = nodes[Int(node)]
        if n.childCount == 0 { return -1 }
        var k = key
        var len = count
        if escaped {
            guard count <= JSONScanner.scratchSize else { return -1 }
            len = JSONString.unescape(UnsafeRawBufferPointer(start: key, count: count), to: scratch)
            k = UnsafePointer(scratch)
        }
        var i = n.firstChild
        while i < n.firstChild + n.childCount {
            let c = children[Int(i)]
            if Int(c.tokenCount) == len && memcmp(tokenBytes + Int(c.tokenStart), k, len) == 0 { return c.node }
            i += 1
        }
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
        // the last position an 8-byte load may start at (n is a buffer's length: no overflow)
        let lastWord = n &- 8
        while true {
            // Skip 8 plain ASCII bytes at a time: no quote, backslash, control or non-ASCII byte.
            // Wrapping adds: p stays below n, so the loop needs no overflow checks.
            while p <= lastWord {
                let w = UnsafeRawPointer(b + p).loadUnaligned(as: UInt64.self)
                if SWAR.hasSpecial(w) { break }
                p &+= 8
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
