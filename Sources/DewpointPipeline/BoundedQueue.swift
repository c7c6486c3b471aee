import DewpointCore
import Synchronization

/// A bounded multi-producer, single-consumer queue between source threads and the pipeline.
///
/// Contract:
/// - Threading: `push` from any thread; `pop` from the one consumer thread.
/// - Backpressure: when full, the `OverflowPolicy` decides: `.block` waits for room, `.dropOldest`
///   evicts the head, `.dropNewest` refuses the new element. Every drop is counted in `dropped`.
/// - Cancellation: `close()` wakes every waiter; pushes after it are refused and counted as
///   `rejectedAfterClose`; the consumer still drains what was queued.
public final class BoundedQueue<Element: Sendable>: Sendable {
    private struct State: ~Copyable {
        var ring: [Element?]
        var head = 0
        var count = 0
        var closed = false
        var interrupted = false
        /// The consumer is (about to be) waiting in `pop`: a push must wake it.
        var consumerWaiting = false
        /// Producers waiting for room (`.block`): a pop must wake them.
        var producersWaiting = 0
        var dropped = 0
        var rejected = 0
    }
    private let state: Mutex<State>
    private let policy: OverflowPolicy
    public let capacity: Int
    private let notEmpty = Wakeup()
    private let notFull = Wakeup()

    public init(capacity: Int, policy: OverflowPolicy) {
        precondition(capacity > 0)
        state = Mutex(State(ring: Array(repeating: nil, count: capacity)))
        self.capacity = capacity
        self.policy = policy
    }

    /// Elements dropped by the overflow policy.
    public var dropped: Int { state.withLock { $0.dropped } }
    public var rejectedAfterClose: Int { state.withLock { $0.rejected } }
    public var depth: Int { state.withLock { $0.count } }

    private enum PushOutcome { case pushed(wake: Bool), refused, full }

    /// Enqueues `e`. Returns false if it was refused (`.dropNewest` when full, or closed).
    @discardableResult
    public func push(_ e: Element) -> Bool {
        var waited = false
        while true {
            let outcome = state.withLock { s -> PushOutcome in
                if waited { s.producersWaiting -= 1 }
                if s.closed { s.rejected += 1; return .refused }
                if s.count == s.ring.count {
                    switch policy {
                    case .block:
                        s.producersWaiting += 1
                        return .full
                    case .dropOldest:
                        s.ring[s.head] = nil
                        s.head = (s.head + 1) % s.ring.count
                        s.count -= 1
                        s.dropped += 1
                    case .dropNewest:
                        s.dropped += 1
                        return .refused
                    }
                }
                s.ring[(s.head + s.count) % s.ring.count] = e
                s.count += 1
                let wake = s.consumerWaiting
                s.consumerWaiting = false
                return .pushed(wake: wake)
            }
            switch outcome {
            case .pushed(let wake):
                if wake { notEmpty.signal() }
                return true
            case .refused:
                return false
            case .full:
                // several producers share one wakeup: the timeout makes a wakeup taken by another
                // producer cost at most 10 ms, not a lost one
                waited = true
                notFull.wait(timeoutNs: 10_000_000)
            }
        }
    }

    /// Waits up to `timeoutMs` for an element. Returns nil on timeout, after `interrupt()`, or when
    /// closed and empty.
    public func pop(timeoutMs: Int) -> Element? {
        var deadline: UInt64? = nil
        while true {
            let (e, wakeProducers, wait) = state.withLock { s -> (Element?, Bool, Bool) in
                if s.count > 0 {
                    let e = s.ring[s.head]
                    s.ring[s.head] = nil
                    s.head = (s.head + 1) % s.ring.count
                    s.count -= 1
                    s.consumerWaiting = false
                    return (e, s.producersWaiting > 0, false)
                }
                // only a wait consumes an interrupt: a pop(timeoutMs: 0) leaves it for the next
                if s.closed || timeoutMs <= 0 { return (nil, false, false) }
                if s.interrupted {
                    s.interrupted = false
                    s.consumerWaiting = false
                    return (nil, false, false)
                }
                s.consumerWaiting = true
                return (nil, false, true)
            }
            if wakeProducers { notFull.signal() }
            if !wait { return e }
            let now = Clock.monotonicNs()
            let end = deadline ?? now + UInt64(timeoutMs) * 1_000_000
            deadline = end
            if now >= end {
                state.withLock { $0.consumerWaiting = false; $0.interrupted = false }
                return nil
            }
            notEmpty.wait(timeoutNs: end - now)
        }
    }

    /// Ends the consumer's current (or next) wait in `pop` early, without an element: for work the
    /// consumer must do that did not come through the queue.
    public func interrupt() {
        state.withLock { $0.interrupted = true }
        notEmpty.signal()
    }

    public func close() {
        state.withLock { $0.closed = true }
        notEmpty.signal()
        notFull.signal()
    }

    public var isClosed: Bool { state.withLock { $0.closed } }
}
