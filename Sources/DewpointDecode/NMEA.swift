/// NMEA 0183 sentences: `$TTSSS,f1,f2,…*hh`. The checksum (XOR of the bytes between `$` and `*`)
/// is verified when present, and required unless the binding allows it to be missing.
public struct NMEASentence {
    /// Fields after the address field; `fields[0]` is the first data field (NMEA field 1).
    public private(set) var fields: [Range<Int>] = []
    /// The sentence type without the talker (`GGA`, `RMC`, …).
    public private(set) var type: Range<Int> = 0..<0

    public init() { fields.reserveCapacity(24) }

    public mutating func parse(_ b: UnsafeRawBufferPointer, requireChecksum: Bool) throws(DecodeError) {
        fields.removeAll(keepingCapacity: true)
        var n = b.count
        while n > 0 && (b[n - 1] == 0x0D || b[n - 1] == 0x0A) { n -= 1 }
        guard n > 0, b[0] == UInt8(ascii: "$") || b[0] == UInt8(ascii: "!") else {
            throw DecodeError("NMEA: a sentence starts with '$'", offset: 0)
        }
        var end = n
        if n >= 3 && b[n - 3] == UInt8(ascii: "*") {
            let hi = JSONString.hexValue(b[n - 2]), lo = JSONString.hexValue(b[n - 1])
            guard hi >= 0, lo >= 0 else { throw DecodeError("NMEA: checksum is not two hex digits", offset: n - 2) }
            var x: UInt8 = 0
            for i in 1..<(n - 3) { x ^= b[i] }
            guard Int(x) == hi << 4 | lo else {
                throw DecodeError("NMEA: checksum mismatch: computed \(String(x, radix: 16, uppercase: true)), sentence says \(String(hi << 4 | lo, radix: 16, uppercase: true))", offset: n - 3)
            }
            end = n - 3
        } else if requireChecksum {
            throw DecodeError("NMEA: missing '*hh' checksum", offset: n)
        }
        var i = 1
        while i < end && b[i] != UInt8(ascii: ",") { i += 1 }
        guard i - 1 >= 3 else { throw DecodeError("NMEA: address field too short", offset: 1) }
        type = (i - 3)..<i
        while i < end {
            i += 1
            let s = i
            while i < end && b[i] != UInt8(ascii: ",") { i += 1 }
            fields.append(s..<i)
        }
    }

    /// `ddmm.mmmm` (or `dddmm.mmmm`) with its hemisphere field, as signed decimal degrees.
    public static func degrees(_ b: UnsafeRawBufferPointer, _ value: Range<Int>, _ hemisphere: Range<Int>) -> Double? {
        guard let v = NumberParser.parseDouble(UnsafeRawBufferPointer(rebasing: b[value])), !hemisphere.isEmpty else { return nil }
        let deg = (v / 100).rounded(.towardZero)
        let d = deg + (v - deg * 100) / 60
        let h = b[hemisphere.lowerBound]
        return h == UInt8(ascii: "S") || h == UInt8(ascii: "W") ? -d : d
    }
}
