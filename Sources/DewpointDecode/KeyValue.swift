/// `key=value` pairs (or `key:value`), separated by a configurable byte (default: space; runs of
/// it and surrounding blanks are skipped). Values may be double-quoted.
public struct KeyValueLine {
    public let pairSeparator: UInt8
    public let kvSeparator: UInt8
    public private(set) var pairs: [(key: Range<Int>, value: Range<Int>)] = []

    public init(pairSeparator: UInt8 = UInt8(ascii: " "), kvSeparator: UInt8 = UInt8(ascii: "=")) {
        self.pairSeparator = pairSeparator
        self.kvSeparator = kvSeparator
        pairs.reserveCapacity(16)
    }

    @inline(__always) private func blank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }

    public mutating func parse(_ b: UnsafeRawBufferPointer) throws(DecodeError) {
        pairs.removeAll(keepingCapacity: true)
        let n = b.count
        var i = 0
        while true {
            while i < n && (b[i] == pairSeparator || blank(b[i])) { i += 1 }
            if i >= n { break }
            let ks = i
            while i < n && b[i] != kvSeparator && b[i] != pairSeparator { i += 1 }
            var ke = i
            while ke > ks && blank(b[ke - 1]) { ke -= 1 }
            guard i < n, b[i] == kvSeparator, ke > ks else {
                throw DecodeError("key/value: expected key\(Character(Unicode.Scalar(kvSeparator)))value", offset: ks)
            }
            i += 1
            while i < n && blank(b[i]) && b[i] != pairSeparator { i += 1 }
            let vs: Int, ve: Int
            if i < n && b[i] == UInt8(ascii: "\"") {
                let q = i
                i += 1
                while i < n && b[i] != UInt8(ascii: "\"") { i += 1 }
                guard i < n else { throw DecodeError("key/value: unterminated quoted value", offset: q) }
                vs = q + 1; ve = i
                i += 1
            } else {
                vs = i
                while i < n && b[i] != pairSeparator { i += 1 }
                var e = i
                while e > vs && blank(b[e - 1]) { e -= 1 }
                ve = e
            }
            pairs.append((ks..<ke, vs..<ve))
        }
        guard !pairs.isEmpty else { throw DecodeError("key/value: no pairs in the frame", offset: 0) }
    }
}
