/// RFC 6901 JSON pointers, compiled into a trie so one scan of a document can pick many values.
public struct JSONPointer: Sendable, Equatable, CustomStringConvertible {
    /// Unescaped reference tokens (`~1` → `/`, `~0` → `~`).
    public let tokens: [[UInt8]]
    public let source: String

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case mustStartWithSlash
        case badEscape(offset: Int)
        public var description: String {
            switch self {
            case .mustStartWithSlash: "a JSON pointer is empty or starts with '/'"
            case .badEscape(let o): "'~' must be followed by '0' or '1' (at character \(o + 1))"
            }
        }
    }

    public init(_ text: String) throws(ParseError) {
        source = text
        if text.isEmpty { tokens = []; return }
        let bytes = Array(text.utf8)
        guard bytes[0] == UInt8(ascii: "/") else { throw .mustStartWithSlash }
        var toks: [[UInt8]] = []
        var cur: [UInt8] = []
        var i = 1
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "/") {
                toks.append(cur); cur = []
            } else if b == UInt8(ascii: "~") {
                guard i + 1 < bytes.count else { throw .badEscape(offset: i) }
                switch bytes[i + 1] {
                case UInt8(ascii: "0"): cur.append(UInt8(ascii: "~"))
                case UInt8(ascii: "1"): cur.append(UInt8(ascii: "/"))
                default: throw .badEscape(offset: i)
                }
                i += 1
            } else {
                cur.append(b)
            }
            i += 1
        }
        toks.append(cur)
        tokens = toks
    }

    public var description: String { source }
}

/// A set of pointers compiled for `JSONScanner`. Slot `i` receives the value of `pointers[i]`.
public struct JSONPointerSet: Sendable {
    struct Node: Sendable {
        var children: [(token: [UInt8], arrayIndex: Int, node: Int32)] = []
        /// Slots filled by a value found at this node (several pointers may be equal).
        var slots: [Int] = []
    }
    var nodes: [Node] = [Node()]
    public let count: Int

    public init(_ pointers: [JSONPointer]) {
        count = pointers.count
        for (slot, p) in pointers.enumerated() {
            var n = 0
            for t in p.tokens {
                if let c = nodes[n].children.first(where: { $0.token == t }) {
                    n = Int(c.node)
                } else {
                    nodes.append(Node())
                    let idx = JSONPointerSet.arrayIndex(t)
                    nodes[n].children.append((t, idx, Int32(nodes.count - 1)))
                    n = nodes.count - 1
                }
            }
            nodes[n].slots.append(slot)
        }
    }

    /// `-1` unless the token is a valid RFC 6901 array index (`0` or no leading zero).
    static func arrayIndex(_ t: [UInt8]) -> Int {
        guard !t.isEmpty, t.count < 10, t.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return -1 }
        if t.count > 1 && t[0] == 48 { return -1 }
        return t.reduce(0) { $0 * 10 + Int($1 - 48) }
    }
}
