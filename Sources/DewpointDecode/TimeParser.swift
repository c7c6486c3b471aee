/// Timestamp parsing without Foundation: RFC 3339 / ISO-8601 text and epoch numbers.
public enum TimeParser {
    /// Reads fixed-width fields from the text; shared by both parsers.
    struct Cursor {
        let s: UnsafeRawBufferPointer
        var i = 0
        var atEnd: Bool { i >= s.count }
        var peek: UInt8? { i < s.count ? s[i] : nil }

        mutating func digits(_ count: Int) -> Int? {
            guard i + count <= s.count else { return nil }
            var v = 0
            for k in 0..<count {
                let d = s[i + k] &- 48
                guard d < 10 else { return nil }
                v = v * 10 + Int(d)
            }
            i += count
            return v
        }

        mutating func expect(_ c: UInt8) -> Bool {
            guard peek == c else { return false }
            i += 1
            return true
        }

        /// 1–9 (or more, ignored past ns) digits of a fraction of a second, as ns.
        mutating func fraction() -> Int64? {
            var scale: Int64 = 100_000_000
            var v: Int64 = 0
            let start = i
            while let c = peek, c &- 48 < 10 { v += Int64(c &- 48) * scale; scale /= 10; i += 1 }
            return i > start ? v : nil
        }

        /// `Z`, `±hh:mm` or `±hhmm`, as an offset in seconds east of UTC.
        mutating func zone() -> Int? {
            if expect(UInt8(ascii: "Z")) || expect(UInt8(ascii: "z")) { return 0 }
            guard let c = peek, c == UInt8(ascii: "+") || c == UInt8(ascii: "-") else { return nil }
            i += 1
            guard let oh = digits(2) else { return nil }
            _ = expect(UInt8(ascii: ":"))
            guard let om = digits(2), oh < 24, om < 60 else { return nil }
            return (c == UInt8(ascii: "-") ? -1 : 1) * (oh * 3600 + om * 60)
        }
    }

    /// Validates the fields and converts them to ns since the epoch; nil when a field is out of
    /// range or the time does not fit Int64 nanoseconds (before 1677 or after 2262).
    static func nanoseconds(year: Int, month: Int, day: Int, hh: Int, mm: Int, ss: Int, frac: Int64, offset: Int) -> Int64? {
        // ss may be 60: a leap second, folded forward
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hh < 24, mm < 60, ss < 61 else { return nil }
        let secs = daysFromCivil(year, month, day) * 86_400 + hh * 3600 + mm * 60 + ss - offset
        let (ns, o1) = Int64(secs).multipliedReportingOverflow(by: 1_000_000_000)
        guard !o1 else { return nil }
        let (t, o2) = ns.addingReportingOverflow(frac)
        return o2 ? nil : t
    }

    /// A CSV timestamp: ISO-8601, else integer epoch milliseconds (within ±292 years of 1970, so
    /// that nanoseconds fit in Int64). Used by `replay` and by `score`/`evaluate`.
    public static func parseISO8601OrEpochMs(_ s: UnsafeRawBufferPointer) -> Int64? {
        if let ns = parseISO8601(s) { return ns }
        guard let ms = NumberParser.parseInt(s), abs(ms) < Int64.max / 1_000_000 else { return nil }
        return ms * 1_000_000
    }

    /// Parses `YYYY-MM-DD[T| ]hh:mm[:ss[.fraction]][Z|±hh:mm|±hhmm]` into ns since the epoch.
    /// A time without a zone is taken as UTC (as in NAB's CSV files). A bare date is midnight UTC.
    public static func parseISO8601(_ s: UnsafeRawBufferPointer) -> Int64? {
        var c = Cursor(s: s)
        guard let year = c.digits(4), c.expect(UInt8(ascii: "-")), let month = c.digits(2), c.expect(UInt8(ascii: "-")),
              let day = c.digits(2) else { return nil }
        var hh = 0, mm = 0, ss = 0, offset = 0
        var frac: Int64 = 0
        if !c.atEnd {
            guard c.expect(UInt8(ascii: "T")) || c.expect(UInt8(ascii: "t")) || c.expect(UInt8(ascii: " ")) else { return nil }
            guard let h = c.digits(2), c.expect(UInt8(ascii: ":")), let m = c.digits(2) else { return nil }
            hh = h; mm = m
            if c.expect(UInt8(ascii: ":")) {
                guard let v = c.digits(2) else { return nil }
                ss = v
                if c.expect(UInt8(ascii: ".")) || c.expect(UInt8(ascii: ",")) {
                    guard let f = c.fraction() else { return nil }
                    frac = f
                }
            }
            if !c.atEnd {
                guard let z = c.zone() else { return nil }
                offset = z
            }
        }
        guard c.atEnd else { return nil }
        return nanoseconds(year: year, month: month, day: day, hh: hh, mm: mm, ss: ss, frac: frac, offset: offset)
    }

    /// Parses text with a strptime-like pattern: `%Y` (4-digit year), `%y` (2-digit, 2000+),
    /// `%m`, `%d`, `%H`, `%M`, `%S` (2 digits), `%f` (fraction of a second, 1–9 digits), `%z`
    /// (`Z`, `±hh:mm` or `±hhmm`), `%%`; any other character must match itself. Times are UTC
    /// unless `%z` says otherwise.
    public static func parse(_ s: UnsafeRawBufferPointer, pattern: [UInt8]) -> Int64? {
        var c = Cursor(s: s)
        var k = 0
        var year = 1970, month = 1, day = 1, hh = 0, mm = 0, ss = 0, offset = 0
        var frac: Int64 = 0
        while k < pattern.count {
            let p = pattern[k]
            guard p == UInt8(ascii: "%") else {
                guard c.expect(p) else { return nil }
                k += 1
                continue
            }
            guard k + 1 < pattern.count else { return nil }
            let spec = pattern[k + 1]
            k += 2
            switch spec {
            case UInt8(ascii: "Y"): guard let v = c.digits(4) else { return nil }; year = v
            case UInt8(ascii: "y"): guard let v = c.digits(2) else { return nil }; year = 2000 + v
            case UInt8(ascii: "m"): guard let v = c.digits(2) else { return nil }; month = v
            case UInt8(ascii: "d"): guard let v = c.digits(2) else { return nil }; day = v
            case UInt8(ascii: "H"): guard let v = c.digits(2) else { return nil }; hh = v
            case UInt8(ascii: "M"): guard let v = c.digits(2) else { return nil }; mm = v
            case UInt8(ascii: "S"): guard let v = c.digits(2) else { return nil }; ss = v
            case UInt8(ascii: "f"): guard let v = c.fraction() else { return nil }; frac = v
            case UInt8(ascii: "z"): guard let v = c.zone() else { return nil }; offset = v
            case UInt8(ascii: "%"): guard c.expect(UInt8(ascii: "%")) else { return nil }
            default: return nil
            }
        }
        guard c.atEnd else { return nil }
        return nanoseconds(year: year, month: month, day: day, hh: hh, mm: mm, ss: ss, frac: frac, offset: offset)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    public static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Formats ns since the epoch as RFC 3339 UTC with milliseconds (for messages and logs).
    public static func formatRFC3339(ns: Int64) -> String {
        // beyond ±10^17 ms the civil arithmetic below would overflow: messages say the number
        guard ns > Int64.min / 2 && ns < Int64.max / 2 else { return "\(ns) ns" }
        let ms = ns >= 0 ? ns / 1_000_000 : (ns - 999_999) / 1_000_000
        var days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let rem = ms - days * 86_400_000
        // civil from days
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func pad(_ v: Int64, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3_600_000, 2)):\(pad(rem / 60_000 % 60, 2)):\(pad(rem / 1000 % 60, 2)).\(pad(rem % 1000, 3))Z"
    }
}
