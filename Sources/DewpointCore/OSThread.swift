#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// A dedicated OS thread for a source or sink loop (libmosquitto, serial poll, pcap dispatch).
/// Blocking C calls belong on threads the agent owns, not on the Swift concurrency pool.
public final class OSThread: Sendable {
    private let thread = Mutex<pthread_t?>(nil)
    private let body: @Sendable () -> Void
    public let name: String

    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    public func start() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { arg in
            let me = Unmanaged<OSThread>.fromOpaque(arg!).takeRetainedValue()
            me.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        let created = t
        thread.withLock { $0 = created }
    }

    public func join() {
        if let t = thread.withLock({ $0.take() }) { pthread_join(t, nil) }
    }
}

/// The loop thread of a source or sink, with its stop flag: `start` runs the loop, which checks
/// `isStopping` (and waits with `sleep(untilNs:)`, which returns early on stop); `stop(wake:)`
/// sets the flag, runs `wake` to interrupt a blocking call (a signal to a waiting thread), and
/// joins. Shared by the MQTT client, the serial link, the capture source, the listeners and the
/// forwarder.
public final class StoppableThread: Sendable {
    private let stopping = Atomic<Bool>(false)
    private let thread = Mutex<OSThread?>(nil)
    private let beats = Atomic<UInt64>(0)

    public init() {}

    /// Checked by the loop on every turn, which also counts as a sign of life (`heartbeat`).
    public var isStopping: Bool {
        // only the loop's own thread writes it: a plain load and store
        beats.store(beats.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        return stopping.load(ordering: .acquiring)
    }

    /// Turns the loop has made: a loop that stops turning is wedged (the service watchdog).
    public var heartbeat: UInt64 { beats.load(ordering: .relaxed) }

    public func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let t = OSThread(name: name, body)
        thread.withLock { $0 = t }
        t.start()
    }

    public func stop(wake: () -> Void = {}) {
        stopping.store(true, ordering: .releasing)
        wake()
        thread.withLock { $0.take() }?.join()
    }

    /// Sleeps until the monotonic clock reaches `deadlineNs`, in slices of `sliceNs` so that a stop
    /// is noticed; false if it returned because of a stop.
    @discardableResult
    public func sleep(untilNs deadlineNs: UInt64, sliceNs: UInt64) -> Bool {
        while true {
            if isStopping { return false }
            // the clock is read once: a second read could pass the deadline and underflow
            let now = Clock.monotonicNs()
            if now >= deadlineNs { return true }
            Clock.sleep(ns: min(sliceNs, deadlineNs - now))
        }
    }
}

/// Monotonic and wall clocks in ns.
public enum Clock {
    /// Milliseconds as nanoseconds, saturating at Int64.max (about 292 years), so that an
    /// absurd configured duration cannot trap.
    @inline(__always)
    public static func ns(ms: Int64) -> Int64 {
        ms >= Int64.max / 1_000_000 ? .max : (ms <= Int64.min / 1_000_000 ? .min : ms * 1_000_000)
    }

    public static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public static func wallNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    public static func sleep(ns: UInt64) {
        var req = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        var rem = timespec()
        while nanosleep(&req, &rem) != 0 && errno == EINTR { req = rem }
    }
}

/// Wakes a waiting thread: `signal()` from anywhere, `wait(timeoutNs:)` on a waiter. A signal
/// sent while nobody waits is remembered (until the next wait), so none is lost.
///
/// A non-blocking pipe: the kernel holds the pending state, so there is no shared memory to
/// guard, and a signal is a write of one byte (a full pipe is already signalled).
public final class Wakeup: Sendable {
    private let readFD: Int32
    private let writeFD: Int32

    public init() {
        var fds: [Int32] = [-1, -1]
        precondition(pipe(&fds) == 0, "pipe failed: errno \(errno)")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit { close(readFD); close(writeFD) }

    public func signal() {
        var one: UInt8 = 1
        _ = write(writeFD, &one, 1)
    }

    /// Returns when signalled (consuming every pending signal) or after `timeoutNs`.
    public func wait(timeoutNs: UInt64) {
        var p = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
        // poll's timeout is in ms: round up, so a short wait does not become a busy loop
        let ms = Int32(clamping: (timeoutNs + 999_999) / 1_000_000)
        while poll(&p, 1, ms) < 0 && errno == EINTR {}
        var sink = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &sink, { read(readFD, $0.baseAddress, $0.count) }) == 32 {}
    }
}
