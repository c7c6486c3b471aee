/// Timestamp parsing without Foundation: RFC 3339 / ISO-8601 text and epoch numbers.
public enum TimeParser {
    /// Parses `YYYY-MM-DD[T| ]hh:mm[:ss[.fraction]][Z|±hh:mm|±hhmm]` into ns since the epoch.
    /// A time without a zone is taken as UTC (as in NAB's CSV files). A bare date is midnight UTC.
    public static func parseISO8601(_ s: UnsafeRawBufferPointer) -> Int64? {
        let n = s.count
        var i = 0
        @inline(__always) func digits(_ count: Int) -> Int? {
            guard i + count <= n else { return nil }
            var v = 0
            for k in 0..<count {
                let d = s[i + k] &- 48
                guard d < 10 else { return nil }
                v = v * 10 + Int(d)
            }
            i += count
            return v
        }
        @inline(__always) func expect(_ c: UInt8) -> Bool {
            guard i < n, s[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")),
              let day = digits(2) else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        var secs = daysFromCivil(year, month, day) * 86_400
        var frac: Int64 = 0
        if i < n {
            guard s[i] == UInt8(ascii: "T") || s[i] == UInt8(ascii: "t") || s[i] == UInt8(ascii: " ") else { return nil }
            i += 1
            guard let hh = digits(2), expect(UInt8(ascii: ":")), let mm = digits(2) else { return nil }
            var ss = 0
            if expect(UInt8(ascii: ":")) {
                guard let v = digits(2) else { return nil }
                ss = v
                if i < n && (s[i] == UInt8(ascii: ".") || s[i] == UInt8(ascii: ",")) {
                    i += 1
                    var scale: Int64 = 100_000_000
                    var any = false
                    while i < n, s[i] &- 48 < 10 {
                        frac += Int64(s[i] &- 48) * scale
                        scale /= 10
                        any = true
                        i += 1
                    }
                    guard any else { return nil }
                }
            }
            guard hh < 24, mm < 60, ss < 61 else { return nil }  // 60: leap second, folded forward
            secs += hh * 3600 + mm * 60 + ss
            if i < n {
                if s[i] == UInt8(ascii: "Z") || s[i] == UInt8(ascii: "z") {
                    i += 1
                } else if s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-") {
                    let sign = s[i] == UInt8(ascii: "-") ? -1 : 1
                    i += 1
                    guard let oh = digits(2) else { return nil }
                    _ = expect(UInt8(ascii: ":"))
                    guard let om = digits(2), oh < 24, om < 60 else { return nil }
                    secs -= sign * (oh * 3600 + om * 60)
                } else {
                    return nil
                }
            }
        }
        guard i == n else { return nil }
        // years before 1677 or after 2262 do not fit in Int64 nanoseconds
        let (ns, overflow) = Int64(secs).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        let (total, overflow2) = ns.addingReportingOverflow(frac)
        return overflow2 ? nil : total
    }

    /// Parses text with a strptime-like pattern: `%Y` (4-digit year), `%y` (2-digit, 2000+),
    /// `%m`, `%d`, `%H`, `%M`, `%S` (2 digits), `%f` (fraction of a second, 1–9 digits), `%z`
    /// (`Z`, `±hh:mm` or `±hhmm`), `%%`; any other character must match itself. Times are UTC
    /// unless `%z` says otherwise.
    public static func parse(_ s: UnsafeRawBufferPointer, pattern: [UInt8]) -> Int64? {
        var i = 0, k = 0
        var year = 1970, month = 1, day = 1, hh = 0, mm = 0, ss = 0
        var frac: Int64 = 0
        var offset = 0
        let n = s.count
        func digits(_ count: Int) -> Int? {
            guard i + count <= n else { return nil }
            var v = 0
            for j in 0..<count {
                let d = s[i + j] &- 48
                guard d < 10 else { return nil }
                v = v * 10 + Int(d)
            }
            i += count
            return v
        }
        while k < pattern.count {
            let c = pattern[k]
            if c != UInt8(ascii: "%") {
                guard i < n, s[i] == c else { return nil }
                i += 1; k += 1
                continue
            }
            guard k + 1 < pattern.count else { return nil }
            let spec = pattern[k + 1]
            k += 2
            switch spec {
            case UInt8(ascii: "Y"): guard let v = digits(4) else { return nil }; year = v
            case UInt8(ascii: "y"): guard let v = digits(2) else { return nil }; year = 2000 + v
            case UInt8(ascii: "m"): guard let v = digits(2) else { return nil }; month = v
            case UInt8(ascii: "d"): guard let v = digits(2) else { return nil }; day = v
            case UInt8(ascii: "H"): guard let v = digits(2) else { return nil }; hh = v
            case UInt8(ascii: "M"): guard let v = digits(2) else { return nil }; mm = v
            case UInt8(ascii: "S"): guard let v = digits(2) else { return nil }; ss = v
            case UInt8(ascii: "f"):
                var scale: Int64 = 100_000_000
                var any = false
                while i < n, s[i] &- 48 < 10 { frac += Int64(s[i] &- 48) * scale; scale /= 10; any = true; i += 1 }
                guard any else { return nil }
            case UInt8(ascii: "z"):
                guard i < n else { return nil }
                if s[i] == UInt8(ascii: "Z") { i += 1; break }
                guard s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-") else { return nil }
                let sign = s[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                guard let oh = digits(2) else { return nil }
                if i < n && s[i] == UInt8(ascii: ":") { i += 1 }
                guard let om = digits(2) else { return nil }
                offset = sign * (oh * 3600 + om * 60)
            case UInt8(ascii: "%"):
                guard i < n, s[i] == UInt8(ascii: "%") else { return nil }
                i += 1
            default: return nil
            }
        }
        guard i == n, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hh < 24, mm < 60, ss < 61 else { return nil }
        let secs = daysFromCivil(year, month, day) * 86_400 + hh * 3600 + mm * 60 + ss - offset
        let (ns, o1) = Int64(secs).multipliedReportingOverflow(by: 1_000_000_000)
        guard !o1 else { return nil }
        let (t, o2) = ns.addingReportingOverflow(frac)
        return o2 ? nil : t
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
