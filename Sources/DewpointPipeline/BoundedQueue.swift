import DewpointCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A bounded multi-producer, single-consumer queue between source threads and the pipeline.
///
/// Contract:
/// - Threading: `push` from any thread; `pop`/`drain` from the one consumer thread.
/// - Backpressure: when full, the `OverflowPolicy` decides: `.block` waits for room, `.dropOldest`
///   evicts the head, `.dropNewest` refuses the new element. Every drop is counted in `dropped`.
/// - Cancellation: `close()` wakes every waiter; pushes after it are refused and counted as
///   `rejectedAfterClose`; the consumer still drains what was queued.
public final class BoundedQueue<Element>: @unchecked Sendable {
    // @unchecked: every stored property is guarded by `mutex`.
    private var ring: [Element?]
    private var head = 0
    private var count = 0
    private var closed = false
    private var interrupted = false
    private var _dropped = 0
    private var _rejected = 0
    private let policy: OverflowPolicy
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let notEmpty = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let notFull = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init(capacity: Int, policy: OverflowPolicy) {
        precondition(capacity > 0)
        ring = Array(repeating: nil, count: capacity)
        self.policy = policy
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(notEmpty, nil)
        pthread_cond_init(notFull, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex); pthread_cond_destroy(notEmpty); pthread_cond_destroy(notFull)
        mutex.deallocate(); notEmpty.deallocate(); notFull.deallocate()
    }

    public var capacity: Int { ring.count }

    /// Elements dropped by the overflow policy.
    public var dropped: Int { locked { _dropped } }
    public var rejectedAfterClose: Int { locked { _rejected } }
    public var depth: Int { locked { count } }

    @inline(__always)
    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Enqueues `e`. Returns false if it was refused (`.dropNewest` when full, or closed).
    @discardableResult
    public func push(_ e: Element) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if closed { _rejected += 1; return false }
        if count == ring.count {
            switch policy {
            case .block:
                while count == ring.count && !closed { pthread_cond_wait(notFull, mutex) }
                if closed { _rejected += 1; return false }
            case .dropOldest:
                ring[head] = nil
                head = (head + 1) % ring.count
                count -= 1
                _dropped += 1
            case .dropNewest:
                _dropped += 1
                return false
            }
        }
        ring[(head + count) % ring.count] = e
        count += 1
        pthread_cond_signal(notEmpty)
        return true
    }

    /// Waits up to `timeoutMs` for an element. Returns nil on timeout, after `interrupt()`, or when
    /// closed and empty.
    public func pop(timeoutMs: Int) -> Element? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if count == 0 && !closed && timeoutMs > 0 {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            var deadline = now
            deadline.tv_sec += timeoutMs / 1000
            deadline.tv_nsec += (timeoutMs % 1000) * 1_000_000
            if deadline.tv_nsec >= 1_000_000_000 { deadline.tv_sec += 1; deadline.tv_nsec -= 1_000_000_000 }
            while count == 0 && !closed && !interrupted {
                if pthread_cond_timedwait(notEmpty, mutex, &deadline) == ETIMEDOUT { break }
            }
            interrupted = false  // only a wait consumes it: a pop(timeoutMs: 0) leaves it for the next
        }
        guard count > 0 else { return nil }
        let e = ring[head]
        ring[head] = nil
        head = (head + 1) % ring.count
        count -= 1
        pthread_cond_signal(notFull)
        return e
    }

    /// Ends the consumer's current (or next) wait in `pop` early, without an element: for work the
    /// consumer must do that did not come through the queue.
    public func interrupt() {
        locked {
            interrupted = true
            pthread_cond_signal(notEmpty)
        }
    }

    public func close() {
        locked {
            closed = true
            pthread_cond_broadcast(notEmpty)
            pthread_cond_broadcast(notFull)
        }
    }

    public var isClosed: Bool { locked { closed } }
}
