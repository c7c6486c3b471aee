import DewpointCore
import DewpointDecode

/// A serial source: opens the port by its configured path, reads on its own thread with `poll`,
/// frames the bytes, and reopens after a hang-up.
///
/// Contract:
/// - Threading: one reader thread per link. `onFrame` runs on it with a view valid during the
///   call; it must copy and return quickly (a bounded queue behind it decides what happens when
///   the pipeline falls behind).
/// - Hang-up (`read()==0`, `EIO`, `POLLHUP`/`POLLERR`): close, back off, reopen by path; the
///   device coming back is logged and counted (`returns`).
/// - Cancellation: `stop()` joins the thread within one poll interval (100 ms).
public final class SerialLink: @unchecked Sendable {
    // @unchecked: mutable state is guarded by `lock`; the framer and port are used by the reader thread only.
    public let spec: SerialSpec
    private let framer: Framer
    private let onFrame: (UnsafeRawBufferPointer, Int64) -> Void
    public var log: @Sendable (String) -> Void = { _ in }
    private let lock = Lock()
    private var machine = SerialLinkStateMachine()
    private let worker = StoppableThread()
    private var _bytes = 0
    private var _settings: SerialSettings?
    private var _poll = PollCounters()

    /// Request/response counters.
    public struct PollCounters: Sendable, Equatable {
        public var requests = 0
        public var replies = 0
        public var timeouts = 0
        public var crcErrors = 0
        public var exceptions = 0
        public var mismatches = 0
    }
    public var pollCounters: PollCounters { lock.withLock { _poll } }

    public init(spec: SerialSpec, framing: FramingSpec, onFrame: @escaping (UnsafeRawBufferPointer, Int64) -> Void) {
        self.spec = spec
        self.framer = Framer(framing)
        self.onFrame = onFrame
    }

    public var state: SerialLinkStateMachine.State { lock.withLock { machine.state } }
    public var returns: Int { lock.withLock { machine.returns } }
    public var hangups: Int { lock.withLock { machine.hangups } }
    public var bytes: Int { lock.withLock { _bytes } }
    /// Framer counters (frames, oversize, corrupt, garbage bytes), as of the last read.
    public var framing: Framer.Counters { lock.withLock { _framing } }
    private var _framing = Framer.Counters()
    /// The settings read back after the last successful open.
    public var settings: SerialSettings? { lock.withLock { _settings } }

    public func start() { worker.start(name: "serial") { [self] in run() } }

    public func stop() { worker.stop() }

    private func run() {
        var action = lock.withLock { machine.start() }
        var lastError = ""
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buf.deallocate() }
        while !worker.isStopping {
            switch action {
            case .open:
                do {
                    let port = try SerialPort(spec)
                    let settings = try? port.settings()
                    let back = lock.withLock { () -> Bool in
                        _settings = settings
                        _ = machine.opened()
                        return machine.returns > 0
                    }
                    lastError = ""
                    log(back ? "\(spec.port) is back (\(settings?.description ?? ""))" : "\(spec.port) open (\(settings?.description ?? ""))")
                    framer.reset()
                    if let poll = spec.poll { pollUntilHangup(port, buf, poll) } else { readUntilHangup(port, buf) }
                    port.close()
                    if worker.isStopping { action = .none; break }
                    action = lock.withLock { machine.hangup(nowNs: Clock.monotonicNs()) }
                    log("\(spec.port) went away; reopening")
                } catch {
                    if error.description != lastError { log("cannot open: \(error)") }  // once per distinct error
                    lastError = error.description
                    action = lock.withLock { machine.openFailed(nowNs: Clock.monotonicNs()) }
                }
            case .closeAndWait(let until):
                worker.sleep(untilNs: until, sliceNs: 10_000_000)
                action = lock.withLock { machine.tick(nowNs: Clock.monotonicNs()) }
            case .none:
                action = lock.withLock { machine.tick(nowNs: Clock.monotonicNs()) }
                if action == .none { Clock.sleep(ns: 10_000_000) }
            }
        }
        lock.withLock { machine.stop() }
    }

    /// Sends the request every interval and waits for its reply; returns on hang-up or stop.
    private func pollUntilHangup(_ port: SerialPort, _ buf: UnsafeMutableRawBufferPointer, _ poll: PollSpec) {
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
            do { try request.withUnsafeBytes { try port.write($0) } } catch { log("poll: \(error)"); return }
            lock.withLock { _poll.requests += 1 }
            reply.removeAll(keepingCapacity: true)
            let deadline = Clock.monotonicNs() + UInt64(poll.timeoutMs) * 1_000_000
            var answered = false
            while !answered {
                let left = deadline > Clock.monotonicNs() ? deadline - Clock.monotonicNs() : 0
                if left == 0 { lock.withLock { _poll.timeouts += 1 }; break }
                switch readOnce(port, buf, timeoutMs: Int32(max(1, left / 1_000_000))) {
                case .nothing: continue
                case .hangup: return
                case .data(let n):
                    reply.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[0..<n]))
                    answered = handleReply(reply, poll)
                }
            }
        }
    }

    /// True when the reply is complete (delivered or counted).
    private func handleReply(_ reply: [UInt8], _ poll: PollSpec) -> Bool {
        let now = Clock.wallNs()
        switch poll.request {
        case .modbus(let slave, let fc, _, let count):
            return reply.withUnsafeBytes { b -> Bool in
                switch ModbusRTU.parse(b, slave: slave, function: fc, count: count) {
                case .incomplete: return false
                case .data(let r):
                    lock.withLock { _poll.replies += 1 }
                    onFrame(UnsafeRawBufferPointer(rebasing: b[r]), now)
                case .crcError: lock.withLock { _poll.crcErrors += 1 }
                case .exception(let code):
                    lock.withLock { _poll.exceptions += 1 }
                    log("modbus exception \(code) from slave \(slave)")
                case .mismatch: lock.withLock { _poll.mismatches += 1 }
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
            lock.withLock {
                _framing = c
                if got { _poll.replies += 1 }
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
                lock.withLock { _bytes += n }
                return .data(n)
            }
        }
    }

    private func readUntilHangup(_ port: SerialPort, _ buf: UnsafeMutableRawBufferPointer) {
        while !worker.isStopping {
            switch readOnce(port, buf, timeoutMs: 100) {
            case .nothing: continue
            case .hangup: return
            case .data(let n):
                let now = Clock.wallNs()
                // onFrame may block (a full queue); never call it holding the lock
                framer.feed(UnsafeRawBufferPointer(rebasing: buf[0..<n])) { onFrame($0, now) }
                let c = framer.counters
                lock.withLock { _framing = c }
            }
        }
    }
}
