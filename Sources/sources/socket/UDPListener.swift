import DewpointCore
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `transport: udp`: binds an address and port; every datagram is one frame of the binding.
///
/// Contract (see `Source`): the socket is bound in `init`, so a port in use or an address the
/// host does not have is a clear error at start-up; one thread reads (poll with a 100 ms timeout,
/// then every waiting datagram), and `onFrame` runs on it with a view valid during the call.
/// A datagram larger than the 64 KiB read buffer is dropped and counted (`truncated`), never
/// delivered cut. The kernel's receive buffer (`receive_buffer`) absorbs bursts; what overflows
/// it the kernel drops (`netstat -su`, "receive buffer errors").
public final class UDPListener: Source, Sendable {
    public let spec: ListenSpec
    private let socket: BoundSocket
    /// The bound port (the configured one, or the one the kernel chose for port 0).
    public var port: Int { socket.port }
    private var fd: Int32 { socket.fd }
    private let onFrame: @Sendable (UnsafeRawBufferPointer, Int64) -> Void
    private let worker = StoppableThread()
    /// Turns of the loop (see `StoppableThread.heartbeat`).
    public var heartbeat: UInt64? { worker.heartbeat }
    private let logger: Logger
    private struct Counts { var datagrams = 0, bytes = 0, truncated = 0, errors = 0 }
    private let counts = Mutex(Counts())

    public init(spec: ListenSpec, logger: Logger = Logger(label: "dewpoint.udp"),
                onFrame: @escaping @Sendable (UnsafeRawBufferPointer, Int64) -> Void) throws(SocketError) {
        self.spec = spec
        self.logger = logger
        self.onFrame = onFrame
        socket = try BoundSocket(spec, type: Int32(SOCK_DGRAM.rawValue))
    }

    public var name: String { "udp \(spec.host):\(port)" }

    public func start() {
        logger.info("listening on udp \(spec.host):\(port)")
        worker.start(name: "udp") { [self] in run() }
    }

    public func stop() { worker.stop() }

    public var counters: SourceCounters {
        let c = counts.withLock { $0 }
        return SourceCounters([("datagrams", c.datagrams), ("bytes", c.bytes), ("truncated", c.truncated), ("errors", c.errors)])
    }

    private func run() {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buf.deallocate() }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while !worker.isStopping {
            guard poll(&p, 1, 100) > 0 else { continue }
            var got = Counts()
            // every datagram waiting, at most 256 a pass so that a stop is noticed under a flood
            for _ in 0..<256 {
                let n = recv(fd, buf.baseAddress, buf.count, Int32(MSG_TRUNC) | Int32(MSG_DONTWAIT))
                if n < 0 {
                    if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                        got.errors += 1
                        if counts.withLock({ $0.errors }) + got.errors <= 10 { logger.warning("udp \(spec.host):\(port): recv: \(String(cString: strerror(errno)))") }
                    }
                    break
                }
                if n > buf.count {
                    got.truncated += 1
                    let t = counts.withLock { $0.truncated } + got.truncated
                    if t <= 10 || t % 1000 == 0 { logger.warning("udp \(spec.host):\(port): a datagram of \(n) bytes is larger than 64 KiB; dropped (\(t) so far)") }
                    continue
                }
                got.datagrams += 1
                got.bytes += n
                onFrame(UnsafeRawBufferPointer(rebasing: buf[0..<n]), Clock.wallNs())
            }
            counts.withLock { c in
                c.datagrams += got.datagrams; c.bytes += got.bytes; c.truncated += got.truncated; c.errors += got.errors
            }
        }
    }
}
