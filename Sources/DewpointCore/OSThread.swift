#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A dedicated OS thread for a source or sink loop (libmosquitto, serial poll, pcap dispatch).
/// Blocking C calls belong on threads the agent owns, not on the Swift concurrency pool.
public final class OSThread: @unchecked Sendable {
    // @unchecked: `thread` is written once in `start` before any other thread can read it.
    private var thread: pthread_t? = nil
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
        thread = t
    }

    public func join() {
        if let t = thread { pthread_join(t, nil); thread = nil }
    }
}

/// A flag that one thread sets, once, and others read.
public final class OnceFlag: @unchecked Sendable {
    // @unchecked: `value` is guarded by `lock`.
    private let lock = Lock()
    private var value = false
    public init() {}
    public func set() { lock.withLock { value = true } }
    public var isSet: Bool { lock.withLock { value } }
}

/// The loop thread of a source or sink, with its stop flag: `start` runs the loop, which checks
/// `isStopping` (and waits with `sleep(untilNs:)`, which returns early on stop); `stop(wake:)`
/// sets the flag, runs `wake` to interrupt a blocking call (`pcap_breakloop`, a signal to a
/// waiting thread), and joins. Shared by the MQTT client, the serial link, the capture source and
/// the forwarder.
public final class StoppableThread: @unchecked Sendable {
    // @unchecked: `thread` is touched by the owner's start/stop only.
    private let stopping = OnceFlag()
    private var thread: OSThread?

    public init() {}

    public var isStopping: Bool { stopping.isSet }

    public func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let t = OSThread(name: name, body)
        thread = t
        t.start()
    }

    public func stop(wake: () -> Void = {}) {
        stopping.set()
        wake()
        thread?.join()
        thread = nil
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

/// A mutex for small critical sections shared between an adapter thread and the pipeline.
public final class Lock: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    public init() { pthread_mutex_init(m, nil) }
    deinit { pthread_mutex_destroy(m); m.deallocate() }
    @inline(__always)
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}

/// Wakes a waiting thread: `signal()` from anywhere, `wait(timeoutNs:)` on the one waiter.
/// A signal sent while nobody waits is remembered, so none is lost.
public final class Wakeup: @unchecked Sendable {
    // @unchecked: `pending` is guarded by the mutex.
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let c = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var pending = false

    public init() {
        pthread_mutex_init(m, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(c, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(c); pthread_mutex_destroy(m)
        c.deallocate(); m.deallocate()
    }

    public func signal() {
        pthread_mutex_lock(m)
        pending = true
        pthread_cond_signal(c)
        pthread_mutex_unlock(m)
    }

    public func wait(timeoutNs: UInt64) {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        if pending { pending = false; return }
        let deadline = Clock.monotonicNs() + timeoutNs
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while !pending {
            if pthread_cond_timedwait(c, m, &ts) == ETIMEDOUT { break }
        }
        pending = false
    }
}
