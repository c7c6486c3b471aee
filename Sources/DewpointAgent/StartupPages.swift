import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

/// Gives back the file pages that only start-up touched.
///
/// Start-up reads much more of the executable than the agent then runs: the runtime's metadata
/// and conformance tables, the configuration loader, every command's argument parsing. Those pages
/// stay in the process's resident set although the running agent never touches them again. Once
/// the agent runs, every mapping of a file that is not writable and holds no page of its own
/// (`Anonymous` and `Swap` are 0 in `/proc/self/smaps`) is dropped with
/// `MADV_DONTNEED`: its content is exactly the file's, which stays in the page cache, and a page
/// used again faults back in from there (a minor fault, no disk read). Mappings the process
/// changed (relocated data, RELRO) are never touched.
///
/// `dewpoint run` releases them at each step of its start (before anything else, after
/// loading its configuration, after opening its spool, after building its pipeline, after
/// starting its sources) and 0.5 s, 2 s, 5 s and 15 s after the start (`SettlePasses`): the
/// resident set's high-water mark is then that of the largest step, not of all of start-up
/// together.
///
/// `DEWPOINT_KEEP_STARTUP_PAGES=1` turns it off.
public enum StartupPages {
    /// Whether `DEWPOINT_KEEP_STARTUP_PAGES` (its value) turns the release off.
    static func kept(byEnvironment value: String?) -> Bool { value == "1" }

    /// Drops the clean read-only file mappings; returns the KiB they held.
    @discardableResult
    public static func release() -> Int {
        if kept(byEnvironment: getenv("DEWPOINT_KEEP_STARTUP_PAGES").map { String(cString: $0) }) { return 0 }
        guard let f = fopen("/proc/self/smaps", "r") else { return 0 }
        defer { fclose(f) }
        struct Mapping { var start = 0, end = 0, file = false, readOnly = false, rss = 0, changed = false }
        var mappings: [Mapping] = []
        var current: Mapping? = nil
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-") && !first.hasSuffix(":"), fields.count >= 5 {
                if let c = current { mappings.append(c) }
                let range = first.split(separator: "-")
                var m = Mapping()
                m.start = Int(range[0], radix: 16) ?? 0
                m.end = Int(range.count > 1 ? range[1] : "", radix: 16) ?? 0
                let perms = fields[1]
                m.readOnly = perms.count == 4 && !perms.contains("w")
                // a file's path (not [heap], [stack], [vdso], an anonymous mapping or a device:
                // a device's pages are not the page cache's)
                m.file = fields.count >= 6 && fields[5].hasPrefix("/") && !fields[5].hasPrefix("/dev/") && fields[4] != "0"
                current = m
            } else if var c = current {
                let value = fields.count >= 2 ? Int(fields[1]) ?? 0 : 0
                switch first {
                case "Rss:": c.rss = value
                // a private copy the process made (relocated data, RELRO) is anonymous; Private_Dirty
                // is not a sign of one: it also counts file pages dirty in the page cache (a binary
                // just installed or linked, not yet written back), which were kept for that
                case "Anonymous:", "Swap:": if value != 0 { c.changed = true }
                default: break
                }
                current = c
            }
        }
        if let c = current { mappings.append(c) }
        var released = 0
        for m in mappings where m.file && m.readOnly && !m.changed && m.rss > 0 && m.end > m.start {
            guard let p = UnsafeMutableRawPointer(bitPattern: m.start) else { continue }
            if madvise(p, m.end - m.start, MADV_DONTNEED) == 0 { released += m.rss }
        }
        return released
    }
}
