import DewpointCore
import DewpointSocket
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `metrics.listen`: `GET /metrics` (Prometheus text format 0.0.4) and `GET /healthz` (JSON,
/// 200 or 503), and nothing else, over HTTP/1.0-style one-request connections.
///
/// Why hand-written: the agent needs two read-only paths for a scraper on the same host. An
/// HTTP framework (SwiftNIO with Hummingbird or Vapor) would add its event loops, allocator and
/// a few MiB of resident code to an agent that aims at single-digit MiB, and minutes of build.
/// This is one thread, poll(2) and at most `maxConnections` sockets: measured, turning it on
/// adds under 0.2 MiB of RSS (see the note on the metrics issue).
///
/// Bounds, since anyone who can reach the port can talk to it: at most `maxConnections` at once
/// (more are closed at once), a request head of at most 4 KiB read within 2 s, only GET, and the
/// connection closed after each answer. It binds where the configuration says (127.0.0.1 by
/// example); it never reads a body.
final class MetricsServer: Sendable {
    /// The listening socket: a bound TCP port, or a Unix socket (`status.sock`).
    private let listener: Int32
    private let boundPort: Int
    private let tcp: BoundSocket?
    private let unixPath: String?
    private let worker = StoppableThread()
    private let respond: @Sendable (_ path: String) -> (status: Int, type: String, body: [UInt8])
    private let maxConnections: Int
    private let logger: Logger
    /// Requests answered and connections refused or closed for misbehaving.
    let served = Atomic<Int>(0)
    let refused = Atomic<Int>(0)

    var port: Int { boundPort }

    init(_ spec: ListenSpec, logger: Logger, respond: @escaping @Sendable (String) -> (status: Int, type: String, body: [UInt8])) throws(SocketError) {
        let s = try BoundSocket(spec, type: Int32(SOCK_STREAM.rawValue))
        tcp = s
        listener = s.fd
        boundPort = s.port
        unixPath = nil
        self.respond = respond
        self.maxConnections = max(1, spec.maxConnections)
        self.logger = logger
    }

    /// A Unix socket at `path` (replacing a stale one), mode 660: only the agent's user and group
    /// can connect, and nothing crosses the network.
    init(unixPath path: String, logger: Logger, respond: @escaping @Sendable (String) -> (status: Int, type: String, body: [UInt8])) throws(SocketError) {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw SocketError("\(path): longer than a Unix socket path may be") }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("\(path): socket", errno: errno) }
        unlink(path)  // left by an agent that did not stop (the spool lock says no other runs)
        let old = umask(0o117)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        umask(old)
        guard rc == 0, listen(fd, 16) == 0 else {
            let e = errno
            close(fd)
            throw SocketError("\(path): bind", errno: e)
        }
        tcp = nil
        listener = fd
        boundPort = 0
        unixPath = path
        self.respond = respond
        self.maxConnections = 4
        self.logger = logger
    }

    deinit {
        if tcp == nil { close(listener) }
        if let unixPath { unlink(unixPath) }
    }

    func start() { worker.start(name: "metrics-http") { [self] in run() } }
    func stop() { worker.stop() }

    private struct Client {
        var fd: Int32
        var head: [UInt8] = []
        var deadlineNs: UInt64
    }

    private func run() {
        var clients: [Client] = []
        while !worker.isStopping {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            for c in clients { fds.append(pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), 100)
            let now = Clock.monotonicNs()
            // connections accepted below were not in this poll
            let polled = clients.count
            if n > 0 && fds[0].revents & Int16(POLLIN) != 0 {
                while true {
                    let fd = Glibc.accept(listener, nil, nil)
                    if fd < 0 { break }
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                    if clients.count >= maxConnections {
                        close(fd)
                        noteRefused("\(maxConnections) connections are open already")
                        continue
                    }
                    clients.append(Client(fd: fd, deadlineNs: now + 2_000_000_000))
                }
            }
            var keep: [Client] = []
            for (i, var c) in clients.enumerated() {
                let ready = n > 0 && i < polled && fds[i + 1].revents != 0
                if ready {
                    var buf = [UInt8](repeating: 0, count: 4096)
                    let got = buf.withUnsafeMutableBytes { read(c.fd, $0.baseAddress, 4096 - c.head.count) }
                    if got > 0 { c.head += buf[0..<got] }
                    if got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR) { close(c.fd); continue }
                }
                if let end = c.head.firstRange(of: Array("\r\n\r\n".utf8)) ?? c.head.firstRange(of: Array("\n\n".utf8)) {
                    answer(c.fd, Array(c.head[..<end.lowerBound]))
                    close(c.fd)
                    continue
                }
                if c.head.count >= 4096 || now >= c.deadlineNs {
                    noteRefused(c.head.count >= 4096 ? "a request head over 4 KiB" : "no request within 2 s")
                    close(c.fd)
                    continue
                }
                keep.append(c)
            }
            clients = keep
        }
        for c in clients { close(c.fd) }
    }

    /// Counts a closed connection and logs it: the first 5, then every 1000th.
    private func noteRefused(_ why: String) {
        let n = refused.add(1, ordering: .relaxed).newValue
        if n <= 5 || n % 1000 == 0 { logger.warning("metrics server: connection closed (#\(n)): \(why)") }
    }

    private func answer(_ fd: Int32, _ head: [UInt8]) {
        let line = head.split(separator: UInt8(ascii: "\n"), maxSplits: 1).first.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let parts = line.split(separator: " ")
        var status = 400, type = "text/plain; charset=utf-8", body = Array("bad request\n".utf8)
        if parts.count >= 2 {
            if parts[0] != "GET" {
                status = 405; body = Array("only GET\n".utf8)
            } else {
                // the query string, if any, is ignored
                let path = String(parts[1].prefix { $0 != "?" })
                (status, type, body) = respond(path)
            }
        }
        served.add(1, ordering: .relaxed)
        let reason = [200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"][status] ?? "Error"
        var out = Array("HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n".utf8)
        out += body
        // blocking for the answer itself (bounded by the socket buffer and a 2 s send timeout)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
    }
}
