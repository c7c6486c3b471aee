import DewpointCore
import DewpointDecode
import Logging
import Synchronization

/// A serial source: opens the port by its configured path, reads on its own thread with `poll`,
/// frames the bytes, and reopens after a hang-up.
///
/// Contract:
/// - Threading: one reader thread per link, which owns the port and the framer. `onFrame` runs
///   on it with a view valid during the call; it must copy and return quickly (a bounded queue
///   behind it decides what happens when the pipeline falls behind).
/// - Hang-up (`read()==0`, `EIO`, `POLLHUP`/`POLLERR`): close, back off, reopen by path; the
///   device coming back is logged and counted (`returns`).
/// - Cancellation: `stop()` joins the thread within one poll interval (100 ms).
public final class SerialLink: Source, Sendable {
    public let spec: SerialSpec
    public let framingSpec: FramingSpec
    private let onFrame: @Sendable (UnsafeRawBufferPointer, Int64) -> Void
    public let logger: Logger
    private struct State {
        var machine = SerialLinkStateMachine()
        var bytes = 0
        var settings: SerialSettings?
        var poll = PollCounters()
        var framing = Framer.Counters()
    }
    private let shared = Mutex(State())
    private let worker = StoppableThread()
    /// Turns of the loop (see `StoppableThread.heartbeat`).
    public var heartbeat: UInt64? { worker.heartbeat }

    /// Request/response counters.
    public struct PollCounters: Sendable, Equatable {
        public var requests = 0
        public var replies = 0
        public var timeouts = 0
        public var crcErrors = 0
        public var exceptions = 0
        public var mismatches = 0
    }
    public var pollCounters: PollCounters { shared.withLock { $0.poll } }

    public init(spec: SerialSpec, framing: FramingSpec, logger: Logger = Logger(label: "dewpoint.serial"),
                onFrame: @escaping @Sendable (UnsafeRawBufferPointer, Int64) -> Void) {
        self.spec = spec
        self.framingSpec = framing
        self.onFrame = onFrame
        self.logger = logger
    }

    public var name: String { "serial \(spec.port)" }
    public var state: SerialLinkStateMachine.State { shared.withLock { $0.machine.state } }
    /// Open, or not (closed, opening, or waiting to retry): for `/healthz` and `dewpoint status`.
    public var isConnected: Bool? { state == .open }
    public var returns: Int { shared.withLock { $0.machine.returns } }
    public var hangups: Int { shared.withLock { $0.machine.hangups } }
    public var bytes: Int { shared.withLock { $0.bytes } }
    /// Framer counters (frames, oversize, corrupt, garbage bytes), as of the last read.
    public var framing: Framer.Counters { shared.withLock { $0.framing } }
    /// The settings read back after the last successful open.
    public var settings: SerialSettings? { shared.withLock { $0.settings } }

    public func start() { worker.start(name: "serial") { [self] in run() } }

    public func stop() { worker.stop() }

    public var counters: SourceCounters {
        let (s, f) = shared.withLock { ($0, $0.framing) }
        var c: [(name: String, value: Int)] = [("bytes", s.bytes), ("frames", f.frames), ("corrupt", f.corrupt), ("oversize", f.oversize),
                                               ("garbage_bytes", f.garbageBytes), ("hangups", s.machine.hangups), ("returns", s.machine.returns)]
        if spec.poll != nil {
            let p = s.poll
            c += [("requests", p.requests), ("replies", p.replies), ("timeouts", p.timeouts), ("crc_errors", p.crcErrors),
                  ("exceptions", p.exceptions), ("mismatches", p.mismatches)]
        }
        return SourceCounters(c)
    }

    private func run() {
        let framer = Framer(framingSpec)
        var action = shared.withLock { $0.machine.start() }
        var lastError = ""
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buf.deallocate() }
        while !worker.isStopping {
            switch action {
            case .open:
                do {
                    let port = try SerialPort(spec)
                    let settings = try? port.settings()
                    let back = shared.withLock { s -> Bool in
                        s.settings = settings
                        _ = s.machine.opened()
                        return s.machine.returns > 0
                    }
                    lastError = ""
                    logger.info(back ? "\(spec.port) is back (\(settings?.description ?? ""))" : "\(spec.port) open (\(settings?.description ?? ""))")
                    framer.reset()
                    if let poll = spec.poll { pollUntilHangup(port, buf, poll, framer) } else { readUntilHangup(port, buf, framer) }
                    port.close()
                    if worker.isStopping { action = .none; break }
                    action = shared.withLock { $0.machine.hangup(nowNs: Clock.monotonicNs()) }
                    logger.warning("\(spec.port) went away; reopening")
                } catch {
                    if error.description != lastError { logger.warning("cannot open: \(error)") }  // once per distinct error
                    lastError = error.description
                    action = shared.withLock { $0.machine.openFailed(nowNs: Clock.monotonicNs()) }
                }
            case .closeAndWait(let until):
                worker.sleep(untilNs: until, sliceNs: 10_000_000)
                action = shared.withLock { $0.machine.tick(nowNs: Clock.monotonicNs()) }
            case .none:
                action = shared.withLock { $0.machine.tick(nowNs: Clock.monotonicNs()) }
                if action == .none { Clock.sleep(ns: 10_000_000) }
            }
        }
        shared.withLock { $0.machine.stop() }
    }

    /// Sends the request every interval and waits for its reply; returns on hang-up or stop.
    private func pollUntilHangup(_ port: SerialPort, _ buf: UnsafeMutableRawBufferPointer, _ poll: PollSpec, _ framer: Framer) {
        var next = Clock.monotonicNs()
        var reply: [UInt8] = []
        let gap = ModbusRTU.interFrameGapNs(baud: spec.baud)
        while !worker.isStopping {
            let now = Clock.monotonicNs()
            if now < next {
                // drain anything unsolicited (a late reply) so that it cannot pass for the next one
                if case .hangup = readOnce(port, buf, timeoutMs: Int32(min(100, (next - now) / 1_000_000 + 1))) { return }
                continue
            }
            next = now + UInt64(poll.intervalMs) * 1_000_000
            let request: [UInt8]
            switch poll.request {
            case .bytes(let b): request = b
            case .modbus(let slave, let fc, let address, let count): request = ModbusRTU.request(slave: slave, function: fc, address: address, count: count)
            }
            Clock.sleep(ns: gap)  // the silence that separates RTU frames
            do { try request.withUnsafeBytes { try port.write($0) } } catch { logger.warning("poll: \(error)"); return }
            shared.withLock { $0.poll.requests += 1 }
            reply.removeAll(keepingCapacity: true)
            let deadline = Clock.monotonicNs() + UInt64(poll.timeoutMs) * 1_000_000
            var answered = false
            while !answered {
                let left = deadline > Clock.monotonicNs() ? deadline - Clock.monotonicNs() : 0
                if left == 0 { shared.withLock { $0.poll.timeouts += 1 }; break }
                switch readOnce(port, buf, timeoutMs: Int32(max(1, left / 1_000_000))) {
                case .nothing: continue
                case .hangup: return
                case .data(let n):
                    reply.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[0..<n]))
                    answered = handleReply(reply, poll, framer)
                }
            }
        }
    }

    /// True when the reply is complete (delivered or counted).
    private func handleReply(_ reply: [UInt8], _ poll: PollSpec, _ framer: Framer) -> Bool {
        let now = Clock.wallNs()
        switch poll.request {
        case .modbus(let slave, let fc, _, let count):
            return reply.withUnsafeBytes { b -> Bool in
                switch ModbusRTU.parse(b, slave: slave, function: fc, count: count) {
                case .incomplete: return false
                case .data(let r):
                    shared.withLock { $0.poll.replies += 1 }
                    onFrame(UnsafeRawBufferPointer(rebasing: b[r]), now)
                case .crcError: shared.withLock { $0.poll.crcErrors += 1 }
                case .exception(let code):
                    shared.withLock { $0.poll.exceptions += 1 }
                    logger.warning("modbus exception \(code) from slave \(slave)")
                case .mismatch: shared.withLock { $0.poll.mismatches += 1 }
                }
                return true
            }
        case .bytes:
            var got = false
            reply.withUnsafeBytes { b in
                framer.reset()
                framer.feed(b) { f in
                    if !got { got = true; onFrame(f, now) }
                }
            }
            let c = framer.counters
            shared.withLock {
                $0.framing = c
                if got { $0.poll.replies += 1 }
            }
            return got
        }
    }

    private enum ReadEvent { case nothing, hangup, data(Int) }

    /// One `poll` and `read`: `.nothing` on timeout or EAGAIN; bytes are counted.
    private func readOnce(_ port: SerialPort, _ buf: UnsafeMutableRawBufferPointer, timeoutMs: Int32) -> ReadEvent {
        switch Sys.poll(port.fd, timeoutMs: timeoutMs) {
        case .timeout: return .nothing
        case .hangup: return .hangup
        case .readable:
            switch Sys.read(port.fd, buf) {
            case .wouldBlock: return .nothing
            case .hangup: return .hangup
            case .data(let n):
                shared.withLock { $0.bytes += n }
                return .data(n)
            }
        }
    }

    private func readUntilHangup(_ port: SerialPort, _ buf: UnsafeMutableRawBufferPointer, _ framer: Framer) {
        while !worker.isStopping {
            switch readOnce(port, buf, timeoutMs: 100) {
            case .nothing: continue
            case .hangup: return
            case .data(let n):
                let now = Clock.wallNs()
                // onFrame may block (a full queue); never call it holding the lock
                framer.feed(UnsafeRawBufferPointer(rebasing: buf[0..<n])) { onFrame($0, now) }
                let c = framer.counters
                shared.withLock { $0.framing = c }
            }
        }
    }
}
