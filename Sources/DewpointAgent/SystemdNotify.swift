#if canImport(Glibc)
import Glibc
#endif

/// The service manager's notification socket (`sd_notify(3)`), written by hand: one datagram to
/// `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace), no libsystemd. Without the
/// variable (not started by systemd with `Type=notify`) every call does nothing.
struct SystemdNotify: Sendable {
    let socketPath: String?
    /// `WATCHDOG_USEC`, when the watchdog is on for this process.
    let watchdogUsec: UInt64?

    init(environment: (String) -> String? = { getenv($0).map { String(cString: $0) } }) {
        socketPath = environment("NOTIFY_SOCKET").flatMap { $0.isEmpty ? nil : $0 }
        var usec = environment("WATCHDOG_USEC").flatMap(UInt64.init)
        // the watchdog may be meant for another process (WATCHDOG_PID)
        if let pid = environment("WATCHDOG_PID").flatMap(Int32.init), pid != getpid() { usec = nil }
        watchdogUsec = usec.flatMap { $0 > 0 ? $0 : nil }
    }

    /// Sends `state` (newline-separated `KEY=value` lines); false if it could not.
    @discardableResult
    func send(_ state: String) -> Bool {
        guard let path = socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        // an abstract address is as long as its name; a path one ends at its NUL
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == message.count
    }
}
