import DewpointCore
import DewpointDecode
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `transport: tcp`: accepts connections; each one is a byte stream cut into frames by the
/// binding's framer (lines, length prefix, SLIP, …), with a framer of its own.
///
/// Contract (see `Source`): the socket is bound in `init` (a clear error at start-up); one
/// thread polls the listening socket and every connection, and `onFrame` runs on it with a view
/// valid during the call.
/// Bounds, so that no sender can exhaust the agent:
/// - at most `max_connections` at once: a connection beyond it is closed at once and counted
///   (`refused`);
/// - a connection's memory is its framer's (twice the frame limit);
/// - a connection that sends garbage (a frame over the limit, a frame that fails its checksum
///   or encoding, or more skipped bytes than one frame's limit) is closed and counted
///   (`garbage_closed`), with one log line; the listener and the other connections go on;
/// - a connection silent for `idle_timeout` is closed and counted (`idle_closed`).
/// A partial frame left when a connection closes is dropped and counted (`incomplete`).
public final class TCPListener: Source, Sendable {
    public let spec: ListenSpec
    public let framing: FramingSpec
    private let socket: BoundSocket
    public var port: Int { socket.port }
    private var fd: Int32 { socket.fd }
    private let onFrame: @Sendable (UnsafeRawBufferPointer, Int64) -> Void
    private let worker = StoppableThread()
    /// Turns of the loop (see `StoppableThread.heartbeat`).
    public var heartbeat: UInt64? { worker.heartbeat }
    private let logger: Logger
    struct Counts { var accepted = 0, refused = 0, closed = 0, garbageClosed = 0, idleClosed = 0, incomplete = 0, bytes = 0, frames = 0 }
    private let counts = Mutex(Counts())

    public init(spec: ListenSpec, framing: FramingSpec, logger: Logger = Logger(label: "dewpoint.tcp"),
                onFrame: @escaping @Sendable (UnsafeRawBufferPointer, Int64) -> Void) throws(SocketError) {
        self.spec = spec
        self.framing = framing
        self.logger = logger
        self.onFrame = onFrame
        socket = try BoundSocket(spec, type: Int32(SOCK_STREAM.rawValue))
    }

    public var name: String { "tcp \(spec.host):\(port)" }

    public func start() {
        logger.info("listening on tcp \(spec.host):\(port) (at most \(spec.maxConnections) connections)")
        worker.start(name: "tcp") { [self] in run() }
    }

    public func stop() { worker.stop() }

    /// Connections open now.
    public var open: Int { counts.withLock { $0.accepted - $0.closed - $0.garbageClosed - $0.idleClosed } }

    public var counters: SourceCounters {
        let c = counts.withLock { $0 }
        return SourceCounters([("accepted", c.accepted), ("refused", c.refused), ("closed", c.closed), ("garbage_closed", c.garbageClosed),
                               ("idle_closed", c.idleClosed), ("incomplete", c.incomplete), ("bytes", c.bytes), ("frames", c.frames)])
    }

    private final class Connection {
        let fd: Int32
        let peer: String
        let framer: Framer
        var lastReadNs: UInt64
        init(fd: Int32, peer: String, framing: FramingSpec, now: UInt64) {
            self.fd = fd; self.peer = peer; framer = Framer(framing); lastReadNs = now
        }
    }

    private enum CloseReason { case peer, garbage(String), idle, stopping }

    private func run() {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buf.deallocate() }
        var conns: [Connection] = []
        var fds: [pollfd] = []
        let idleNs = spec.idleTimeoutMs > 0 ? UInt64(spec.idleTimeoutMs) * 1_000_000 : UInt64.max
        while !worker.isStopping {
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
            for c in conns { fds.append(pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), 100)
            let now = Clock.monotonicNs()
            if n > 0 {
                var closing: [(Int, CloseReason)] = []
                for (i, c) in conns.enumerated() where fds[i + 1].revents != 0 {
                    if let why = read(c, buf, now) { closing.append((i, why)) }
                }
                for (i, why) in closing.reversed() { finish(conns.remove(at: i), why) }
                if fds[0].revents & Int16(POLLIN) != 0 { accept(into: &conns, now) }
            }
            if idleNs != .max {
                for i in conns.indices.reversed() where now - conns[i].lastReadNs >= idleNs { finish(conns.remove(at: i), .idle) }
            }
        }
        for c in conns { finish(c, .stopping) }
    }

    /// Reads what one connection has; a reason when it must close.
    private func read(_ c: Connection, _ buf: UnsafeMutableRawBufferPointer, _ now: UInt64) -> CloseReason? {
        let n = recv(c.fd, buf.baseAddress, buf.count, Int32(MSG_DONTWAIT))
        if n == 0 { return .peer }
        if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? nil : .peer }
        c.lastReadNs = now
        let before = c.framer.counters
        let arrival = Clock.wallNs()
        c.framer.feed(UnsafeRawBufferPointer(rebasing: buf[0..<n])) { onFrame($0, arrival) }
        let after = c.framer.counters
        counts.withLock { $0.bytes += n; $0.frames += after.frames - before.frames }
        if after.oversize > before.oversize { return .garbage("a frame over the \(limit) byte limit") }
        if after.corrupt > before.corrupt { return .garbage("a frame that failed its check") }
        if after.garbageBytes > limit { return .garbage("\(after.garbageBytes) bytes outside any frame") }
        return nil
    }

    private var limit: Int {
        switch framing {
        case .none: 1 << 20
        case .line(let m, _, _), .delimiter(_, let m, _), .lengthPrefix(_, _, let m, _), .slip(let m, _), .cobs(let m, _): m
        case .fixed(let size, _): size
        }
    }

    private func accept(into conns: inout [Connection], _ now: UInt64) {
        while true {
            var ss = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let cfd = withUnsafeMutablePointer(to: &ss) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fd, $0, &len) }
            }
            guard cfd >= 0 else { return }
            _ = fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(cfd, F_SETFD, FD_CLOEXEC)
            let peer = ListenSocket.peer(ss).text
            guard conns.count < spec.maxConnections else {
                let r = counts.withLock { $0.refused += 1; return $0.refused }
                close(cfd)  // after counting, as in `finish`
                if r <= 10 || r % 1000 == 0 {
                    logger.warning("tcp \(spec.host):\(port): refused \(peer): \(spec.maxConnections) connections are open (max_connections; \(r) refused so far)")
                }
                continue
            }
            counts.withLock { $0.accepted += 1 }
            conns.append(Connection(fd: cfd, peer: peer, framing: framing, now: now))
        }
    }

    private func finish(_ c: Connection, _ why: CloseReason) {
        // a partial frame dies with its connection: the next connection starts a new stream
        let partial = c.framer.hasPartialFrame
        let n = counts.withLock { s -> Int in
            if partial { s.incomplete += 1 }
            switch why {
            case .peer, .stopping: s.closed += 1; return 0
            case .garbage: s.garbageClosed += 1; return s.garbageClosed
            case .idle: s.idleClosed += 1; return 0
            }
        }
        if case .garbage(let what) = why, n <= 10 || n % 1000 == 0 {
            logger.warning("tcp \(spec.host):\(port): closed \(c.peer): it sent \(what) (\(n) connections closed for garbage so far)")
        }
        // after counting and logging: a peer that sees the close may look at both at once
        close(c.fd)
    }
}
