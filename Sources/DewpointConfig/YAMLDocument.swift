import CYAML
#if canImport(Glibc)
import Glibc
#endif

/// A YAML node with its position in the file, composed from libyaml's parser events.
///
/// libyaml (Debian `libyaml-dev`) is used directly, through `CYAML`, rather than through a Swift
/// wrapper: the wrapper this project used before pulls in the whole of Foundation (ICU and
/// CoreFoundation, initialised at process start), which measured about 9 MiB of resident memory
/// in a program that did nothing else, for a file read once at start. All C calls of the YAML
/// reader are in this file.
///
/// Scalars follow the YAML 1.2 core schema, for plain (unquoted) scalars only: `~`, `null` and
/// nothing are null; `true` and `false` are booleans; decimal, `0x` and `0o` integers; decimal
/// floats and `.inf`/`.nan`. A quoted scalar is always a string. Aliases are resolved (an alias
/// is the node of its anchor). Duplicate keys in one mapping are an error. Mappings and sequences
/// nest at most `YAMLDocument.maxDepth` levels, aliases counted as the node they stand for.
public enum Node: Sendable {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(Sequence)

    /// 1-based line and column.
    public struct Mark: Sendable, Equatable {
        public var line: Int
        public var column: Int
    }

    public struct Scalar: Sendable {
        public var string: String
        /// Unquoted, so the core schema applies.
        public var plain: Bool
        public var mark: Mark
    }

    public struct Mapping: RandomAccessCollection, Sendable {
        public var pairs: [(key: Node, value: Node)]
        public var mark: Mark
        public var startIndex: Int { 0 }
        public var endIndex: Int { pairs.count }
        public subscript(i: Int) -> (key: Node, value: Node) { pairs[i] }
        /// The value of the scalar key `key`.
        public subscript(key: String) -> Node? { pairs.first { $0.key.string == key }?.value }
    }

    public struct Sequence: RandomAccessCollection, Sendable {
        public var items: [Node]
        public var mark: Mark
        public var startIndex: Int { 0 }
        public var endIndex: Int { items.count }
        public subscript(i: Int) -> Node { items[i] }
    }

    public var mark: Mark {
        switch self {
        case .scalar(let s): s.mark
        case .mapping(let m): m.mark
        case .sequence(let s): s.mark
        }
    }

    public var mapping: Mapping? {
        if case .mapping(let m) = self { return m }
        return nil
    }

    public var string: String? {
        if case .scalar(let s) = self { return s.string }
        return nil
    }

    private var plainText: String? {
        if case .scalar(let s) = self, s.plain { return s.string }
        return nil
    }

    public var null: Void? {
        guard let s = plainText else { return nil }
        return s.isEmpty || s == "~" || s == "null" || s == "Null" || s == "NULL" ? () : nil
    }

    public var bool: Bool? {
        switch plainText {
        case "true", "True", "TRUE": true
        case "false", "False", "FALSE": false
        default: nil
        }
    }

    public var int: Int? {
        guard let s = plainText, let first = s.utf8.first else { return nil }
        if s.hasPrefix("0x") { return Int(s.dropFirst(2), radix: 16) }
        if s.hasPrefix("0o") { return Int(s.dropFirst(2), radix: 8) }
        guard first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || (first >= 0x30 && first <= 0x39) else { return nil }
        return Int(s)
    }

    public var float: Double? {
        guard let s = plainText, let first = s.utf8.first else { return nil }
        switch s {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: break
        }
        // digits, signs, a point and an exponent only (Double() alone also takes hex and "inf")
        let allowed = s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2B || $0 == 0x2D || $0 == 0x65 || $0 == 0x45 }
        guard allowed, first != UInt8(ascii: "e"), first != UInt8(ascii: "E") else { return nil }
        return Double(s)
    }
}

/// A YAML syntax error (or a composition error: a duplicate key, an unknown alias, more than one
/// document, nesting deeper than `YAMLDocument.maxDepth`) at a 1-based position.
public struct YAMLError: Error, Sendable {
    public var message: String
    public var mark: Node.Mark
}

public enum YAMLDocument {
    /// The deepest nesting of mappings and sequences a document may have. The composer recurses
    /// once per level (and so does anything that walks the tree), so a hostile file nested
    /// thousands of levels deep would overflow the stack; no configuration needs more than a few.
    public static let maxDepth = 64

    /// The single document of `text`, or nil when it holds none.
    public static func compose(_ text: String) throws(YAMLError) -> Node? {
        var composer = Composer()
        return try composer.run(text)
    }
}

private struct Composer {
    /// Each anchored node with its height: the levels of mappings and sequences it holds (0 for a
    /// scalar), so that an alias placed deep in the tree is checked against the limit as the
    /// whole node it stands for.
    var anchors: [String: (node: Node, height: Int)] = [:]

    mutating func run(_ text: String) throws(YAMLError) -> Node? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw YAMLError(message: "out of memory", mark: .init(line: 1, column: 1)) }
        defer { yaml_parser_delete(&parser) }
        var bytes = Array(text.utf8)
        return try bytes.withUnsafeMutableBufferPointer { (buf) throws(YAMLError) -> Node? in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            var root: Node? = nil
            var documents = 0
            while true {
                var ev = try next(&parser)
                defer { yaml_event_delete(&ev) }
                switch ev.type {
                case YAML_STREAM_END_EVENT:
                    return root
                case YAML_DOCUMENT_START_EVENT:
                    documents += 1
                    if documents > 1 { throw YAMLError(message: "expected one document, found a second", mark: Self.mark(ev.start_mark)) }
                case YAML_STREAM_START_EVENT, YAML_DOCUMENT_END_EVENT:
                    continue
                default:
                    root = try node(from: &ev, &parser, depth: 0).node
                }
            }
        }
    }

    func next(_ parser: inout yaml_parser_t) throws(YAMLError) -> yaml_event_t {
        var ev = yaml_event_t()
        guard yaml_parser_parse(&parser, &ev) == 1 else {
            let problem = parser.problem.map { String(cString: $0) } ?? "syntax error"
            let context = parser.context.map { String(cString: $0) + " " } ?? ""
            throw YAMLError(message: context + problem, mark: Self.mark(parser.problem_mark))
        }
        return ev
    }

    static func mark(_ m: yaml_mark_t) -> Node.Mark { Node.Mark(line: Int(m.line) + 1, column: Int(m.column) + 1) }

    static func text(_ p: UnsafeMutablePointer<yaml_char_t>?, _ count: Int? = nil) -> String? {
        guard let p else { return nil }
        let n = count ?? strlen(UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    static func tooDeep(_ mark: Node.Mark) -> YAMLError {
        YAMLError(message: "nesting deeper than \(YAMLDocument.maxDepth) levels of mappings and sequences", mark: mark)
    }

    /// The node that starts with `ev` (a scalar, an alias, or the start of a collection, whose
    /// events are read up to its end), and its height. `depth` is the number of collections that
    /// enclose it; a collection at depth `YAMLDocument.maxDepth` (its own level would be one more)
    /// is an error, so the recursion never goes deeper than the limit.
    mutating func node(from ev: inout yaml_event_t, _ parser: inout yaml_parser_t, depth: Int) throws(YAMLError) -> (node: Node, height: Int) {
        let start = Self.mark(ev.start_mark)
        switch ev.type {
        case YAML_SCALAR_EVENT:
            let s = ev.data.scalar
            let n = Node.scalar(.init(string: Self.text(s.value, Int(s.length)) ?? "", plain: s.style == YAML_PLAIN_SCALAR_STYLE, mark: start))
            if let a = Self.text(s.anchor) { anchors[a] = (n, 0) }
            return (n, 0)
        case YAML_ALIAS_EVENT:
            let name = Self.text(ev.data.alias.anchor) ?? ""
            guard let a = anchors[name] else { throw YAMLError(message: "unknown alias *\(name)", mark: start) }
            if depth + a.height > YAMLDocument.maxDepth { throw Self.tooDeep(start) }
            return a
        case YAML_SEQUENCE_START_EVENT:
            if depth >= YAMLDocument.maxDepth { throw Self.tooDeep(start) }
            let anchor = Self.text(ev.data.sequence_start.anchor)
            var items: [Node] = []
            var height = 1
            while true {
                var child = try next(&parser)
                defer { yaml_event_delete(&child) }
                if child.type == YAML_SEQUENCE_END_EVENT { break }
                let item = try node(from: &child, &parser, depth: depth + 1)
                items.append(item.node)
                height = max(height, item.height + 1)
            }
            let n = Node.sequence(.init(items: items, mark: start))
            if let anchor { anchors[anchor] = (n, height) }
            return (n, height)
        case YAML_MAPPING_START_EVENT:
            if depth >= YAMLDocument.maxDepth { throw Self.tooDeep(start) }
            let anchor = Self.text(ev.data.mapping_start.anchor)
            var pairs: [(key: Node, value: Node)] = []
            var seen: Set<String> = []
            var height = 1
            while true {
                var k = try next(&parser)
                defer { yaml_event_delete(&k) }
                if k.type == YAML_MAPPING_END_EVENT { break }
                let key = try node(from: &k, &parser, depth: depth + 1)
                var v = try next(&parser)
                defer { yaml_event_delete(&v) }
                let value = try node(from: &v, &parser, depth: depth + 1)
                if let name = key.node.string, !seen.insert(name).inserted {
                    throw YAMLError(message: "duplicate key '\(name)' in this mapping", mark: key.node.mark)
                }
                pairs.append((key.node, value.node))
                height = max(height, key.height + 1, value.height + 1)
            }
            let n = Node.mapping(.init(pairs: pairs, mark: start))
            if let anchor { anchors[anchor] = (n, height) }
            return (n, height)
        default:
            throw YAMLError(message: "unexpected YAML event", mark: start)
        }
    }
}
