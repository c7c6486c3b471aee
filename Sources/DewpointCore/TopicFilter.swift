/// An MQTT topic filter whose single-level wildcards may carry a name (`sensors/+device/+channel`).
///
/// Matching works on the raw topic bytes and allocates nothing, so it can run once per message.
public struct TopicFilter: Sendable, Equatable, CustomStringConvertible {
    public enum Level: Sendable, Equatable {
        case literal([UInt8])
        /// `+` or `+name`.
        case single(name: String?)
        /// `#` (last level only).
        case multi
    }

    public let levels: [Level]
    /// The filter as written in the binding.
    public let source: String

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case empty
        case misplacedMulti
        case wildcardInsideLevel(String)
        public var description: String {
            switch self {
            case .empty: "a topic filter cannot be empty"
            case .misplacedMulti: "'#' may only be the last level"
            case .wildcardInsideLevel(let l): "wildcards must fill a whole level, found '\(l)'"
            }
        }
    }

    public init(_ text: String) throws(ParseError) {
        if text.isEmpty { throw .empty }
        // split on the byte '/', as brokers and `matches` do: a String split works on grapheme
        // clusters, and a combining mark after '/' would hide the separator
        // on bytes, as brokers and `matches` work: String's split and prefix tests work on grapheme
        // clusters, and a combining mark after '/' or '+' would hide the separator or wildcard
        let parts = text.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        let plus = UInt8(ascii: "+"), hash = UInt8(ascii: "#")
        var levels: [Level] = []
        for (i, p) in parts.enumerated() {
            if p.elementsEqual([hash]) {
                if i != parts.count - 1 { throw .misplacedMulti }
                levels.append(.multi)
            } else if p.first == plus {
                let name = p.dropFirst()
                if name.contains(plus) || name.contains(hash) { throw .wildcardInsideLevel(String(decoding: p, as: UTF8.self)) }
                levels.append(.single(name: name.isEmpty ? nil : String(decoding: name, as: UTF8.self)))
            } else {
                if p.contains(plus) || p.contains(hash) { throw .wildcardInsideLevel(String(decoding: p, as: UTF8.self)) }
                levels.append(.literal(Array(p)))
            }
        }
        self.levels = levels
        self.source = text
    }

    /// The filter as the broker must see it: names stripped from `+name`.
    public var mqttFilter: String {
        levels.map { l -> String in
            switch l {
            case .literal(let b): String(decoding: b, as: UTF8.self)
            case .single: "+"
            case .multi: "#"
            }
        }.joined(separator: "/")
    }

    public var description: String { source }

    /// The index of the `+name` level, if any.
    public func levelIndex(named name: String) -> Int? {
        levels.firstIndex { if case .single(let n) = $0 { return n == name } else { return false } }
    }

    /// Whether `topic` matches. When it does and `capture` names a level, its byte range is returned
    /// through `captured`.
    @inlinable
    public func matches(_ topic: UnsafeRawBufferPointer) -> Bool {
        var dummy: [Range<Int>]? = nil
        return matches(topic, captures: &dummy)
    }

    /// Matches `topic`, writing the byte range of every topic level into `captures` (when non-nil),
    /// indexed by filter level. Per MQTT, wildcards do not match topics starting with `$` at level 0.
    public func matches(_ topic: UnsafeRawBufferPointer, captures: inout [Range<Int>]?) -> Bool {
        if topic.isEmpty { return false }
        if topic[0] == UInt8(ascii: "$") {
            if case .literal = levels[0] {} else { return false }
        }
        var pos = 0
        var li = 0
        let n = topic.count
        while true {
            // current topic level: [pos, end)
            var end = pos
            while end < n && topic[end] != UInt8(ascii: "/") { end += 1 }
            if li >= levels.count { return false }
            switch levels[li] {
            case .multi:
                return true
            case .single:
                if captures != nil { captures![li] = pos..<end }
            case .literal(let lit):
                if lit.count != end - pos { return false }
                var k = 0
                while k < lit.count {
                    if lit[k] != topic[pos + k] { return false }
                    k += 1
                }
            }
            li += 1
            if end == n {
                // `a/#` also matches `a` (the parent level), per the MQTT spec.
                if li == levels.count { return true }
                if li == levels.count - 1, case .multi = levels[li] { return true }
                return false
            }
            pos = end + 1
        }
    }

    /// Whether some topic exists that both filters match.
    public func overlaps(_ other: TopicFilter) -> Bool {
        var i = 0
        while true {
            let aEnd = i >= levels.count, bEnd = i >= other.levels.count
            if aEnd && bEnd { return true }
            if !aEnd, case .multi = levels[i] { return true }
            if !bEnd, case .multi = other.levels[i] { return true }
            if aEnd || bEnd { return false }
            switch (levels[i], other.levels[i]) {
            case (.literal(let a), .literal(let b)):
                if a != b { return false }
            default:
                break
            }
            i += 1
        }
    }
}
