/// Splits one CSV record (RFC 4180 quoting) into field ranges, reusing its storage.
public struct CSVSplitter: Sendable {
    public let separator: UInt8
    public let quote: UInt8
    /// Field byte ranges of the last `split`. A quoted field's range excludes the quotes; doubled
    /// quotes inside it are left as they are (numbers never contain them).
    public private(set) var fields: [Range<Int>] = []
    public private(set) var quoted: [Bool] = []

    public init(separator: UInt8 = UInt8(ascii: ","), quote: UInt8 = UInt8(ascii: "\"")) {
        self.separator = separator
        self.quote = quote
        fields.reserveCapacity(32)
        quoted.reserveCapacity(32)
    }

    public enum SplitError: Error, Equatable, CustomStringConvertible {
        case unterminatedQuote(offset: Int)
        case textAfterQuote(offset: Int)
        public var description: String {
            switch self {
            case .unterminatedQuote(let o): "unterminated quoted field starting at byte \(o)"
            case .textAfterQuote(let o): "unexpected text after a closing quote at byte \(o)"
            }
        }
    }

    /// Splits `line` (without its line terminator; a trailing CR is ignored).
    public mutating func split(_ line: UnsafeRawBufferPointer) throws(SplitError) {
        fields.removeAll(keepingCapacity: true)
        quoted.removeAll(keepingCapacity: true)
        var n = line.count
        if n > 0 && line[n - 1] == 0x0D { n -= 1 }
        var i = 0
        while true {
            if i < n && line[i] == quote {
                let start = i + 1
                i += 1
                while true {
                    guard i < n else { throw .unterminatedQuote(offset: start - 1) }
                    if line[i] == quote {
                        if i + 1 < n && line[i + 1] == quote { i += 2; continue }
                        break
                    }
                    i += 1
                }
                fields.append(start..<i)
                quoted.append(true)
                i += 1
                if i < n && line[i] != separator { throw .textAfterQuote(offset: i) }
            } else {
                let start = i
                while i < n && line[i] != separator { i += 1 }
                fields.append(start..<i)
                quoted.append(false)
            }
            if i >= n { return }
            i += 1  // separator
            if i == n { fields.append(n..<n); quoted.append(false); return }
        }
    }
}
