/// InfluxDB line protocol, parsed in place:
/// `measurement[,tag=value…] field=value[,field=value…] [timestamp]`.
///
/// Escaping follows the spec: in the measurement, `\,` and `\ `; in tag keys, tag values and
/// field keys, `\,`, `\=` and `\ `; in string field values, `\"` and `\\`. Any other backslash is
/// literal. Field values are floats, integers (`12i`), unsigned integers (`12u`), booleans
/// (`t`, `T`, `true`, `True`, `TRUE`, and the same for false) or double-quoted strings.
public struct LineProtocolLine {
    public enum FieldKind: Equatable, Sendable { case float, integer, unsigned, boolean(Bool), string }
    public struct Field: Equatable, Sendable {
        /// Raw (still escaped) key bytes.
        public var key: Range<Int>
        public var keyEscaped: Bool
        /// Value bytes: the number without its `i`/`u` suffix, or a string's contents without quotes.
        public var value: Range<Int>
        public var kind: FieldKind
    }
    public var measurement: Range<Int> = 0..<0
    public var tags: [(key: Range<Int>, value: Range<Int>)] = []
    public var fields: [Field] = []
    public var timestamp: Range<Int>? = nil

    public init() {
        tags.reserveCapacity(8)
        fields.reserveCapacity(16)
    }

    /// Parses one line (without its newline). Throws with the byte offset of the problem.
    public mutating func parse(_ b: UnsafeRawBufferPointer) throws(DecodeError) {
        tags.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        timestamp = nil
        var n = b.count
        if n > 0 && b[n - 1] == 0x0D { n -= 1 }
        var i = 0
        // measurement: up to an unescaped ',' or ' '
        let mStart = i
        while i < n && b[i] != UInt8(ascii: ",") && b[i] != UInt8(ascii: " ") {
            if b[i] == UInt8(ascii: "\\") && i + 1 < n && (b[i + 1] == UInt8(ascii: ",") || b[i + 1] == UInt8(ascii: " ")) { i += 1 }
            i += 1
        }
        guard i > mStart else { throw DecodeError("line protocol: expected a measurement name", offset: i) }
        measurement = mStart..<i
        // tags
        while i < n && b[i] == UInt8(ascii: ",") {
            i += 1
            let k = try key(b, n, &i, what: "tag key")
            guard i < n, b[i] == UInt8(ascii: "=") else { throw DecodeError("line protocol: expected '=' after a tag key", offset: i) }
            i += 1
            let vStart = i
            while i < n && b[i] != UInt8(ascii: ",") && b[i] != UInt8(ascii: " ") {
                if b[i] == UInt8(ascii: "\\") && i + 1 < n { i += 1 }
                i += 1
            }
            guard i > vStart else { throw DecodeError("line protocol: empty tag value", offset: i) }
            tags.append((k.range, vStart..<i))
        }
        guard i < n, b[i] == UInt8(ascii: " ") else { throw DecodeError("line protocol: expected a space before the fields", offset: i) }
        i += 1
        // fields
        while true {
            let k = try key(b, n, &i, what: "field key")
            guard i < n, b[i] == UInt8(ascii: "=") else { throw DecodeError("line protocol: expected '=' after field key", offset: i) }
            i += 1
            guard i < n else { throw DecodeError("line protocol: missing field value", offset: i) }
            if b[i] == UInt8(ascii: "\"") {
                i += 1
                let s = i
                while i < n && b[i] != UInt8(ascii: "\"") {
                    if b[i] == UInt8(ascii: "\\") && i + 1 < n { i += 1 }
                    i += 1
                }
                guard i < n else { throw DecodeError("line protocol: unterminated string field", offset: s - 1) }
                fields.append(Field(key: k.range, keyEscaped: k.escaped, value: s..<i, kind: .string))
                i += 1
            } else {
                let s = i
                while i < n && b[i] != UInt8(ascii: ",") && b[i] != UInt8(ascii: " ") { i += 1 }
                fields.append(try fieldValue(b, s..<i, key: k))
            }
            if i < n && b[i] == UInt8(ascii: ",") { i += 1; continue }
            break
        }
        // optional timestamp
        if i < n {
            guard b[i] == UInt8(ascii: " ") else { throw DecodeError("line protocol: expected ',' or a space after a field", offset: i) }
            i += 1
            let s = i
            if i < n && b[i] == UInt8(ascii: "-") { i += 1 }
            while i < n && b[i] &- 48 < 10 { i += 1 }
            guard i == n, i > s else { throw DecodeError("line protocol: expected an integer timestamp at the end", offset: s) }
            timestamp = s..<i
        }
    }

    private func key(_ b: UnsafeRawBufferPointer, _ n: Int, _ i: inout Int, what: String) throws(DecodeError) -> (range: Range<Int>, escaped: Bool) {
        let s = i
        var escaped = false
        while i < n && b[i] != UInt8(ascii: "=") && b[i] != UInt8(ascii: ",") && b[i] != UInt8(ascii: " ") {
            if b[i] == UInt8(ascii: "\\") && i + 1 < n { escaped = true; i += 1 }
            i += 1
        }
        guard i > s else { throw DecodeError("line protocol: empty \(what)", offset: s) }
        return (s..<i, escaped)
    }

    private func fieldValue(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, key: (range: Range<Int>, escaped: Bool)) throws(DecodeError) -> Field {
        guard !r.isEmpty else { throw DecodeError("line protocol: empty field value", offset: r.lowerBound) }
        let last = b[r.upperBound - 1]
        if last == UInt8(ascii: "i") || last == UInt8(ascii: "u") {
            let digits = r.lowerBound..<(r.upperBound - 1)
            guard NumberParser.parseInt(UnsafeRawBufferPointer(rebasing: b[digits])) != nil || last == UInt8(ascii: "u") else {
                throw DecodeError("line protocol: malformed integer field", offset: r.lowerBound)
            }
            return Field(key: key.range, keyEscaped: key.escaped, value: digits, kind: last == UInt8(ascii: "i") ? .integer : .unsigned)
        }
        let word = UnsafeRawBufferPointer(rebasing: b[r])
        for t in ["t", "T", "true", "True", "TRUE"] where word.elementsEqual(t.utf8) {
            return Field(key: key.range, keyEscaped: key.escaped, value: r, kind: .boolean(true))
        }
        for f in ["f", "F", "false", "False", "FALSE"] where word.elementsEqual(f.utf8) {
            return Field(key: key.range, keyEscaped: key.escaped, value: r, kind: .boolean(false))
        }
        guard NumberParser.parseDouble(word) != nil, word[0] != 0x20 else {
            throw DecodeError("line protocol: field value '\(String(decoding: word.prefix(30), as: UTF8.self))' is not a number, boolean or quoted string", offset: r.lowerBound)
        }
        return Field(key: key.range, keyEscaped: key.escaped, value: r, kind: .float)
    }

    /// Unescapes a key or tag (`\,` `\=` `\ ` `\\`→ the character) into `out`.
    public static func unescape(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        var i = r.lowerBound
        while i < r.upperBound {
            if b[i] == UInt8(ascii: "\\") && i + 1 < r.upperBound {
                let c = b[i + 1]
                if c == UInt8(ascii: ",") || c == UInt8(ascii: "=") || c == UInt8(ascii: " ") || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") {
                    out.append(c); i += 2; continue
                }
            }
            out.append(b[i])
            i += 1
        }
    }
}
