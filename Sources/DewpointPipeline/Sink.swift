import DewpointCore

/// Where records leave the agent: the `RecordSink` the pipeline writes to, plus the lifecycle
/// the runner drives (the upstream spool and forwarder for `run`, JSON lines on stdout for
/// `replay`).
///
/// Contract:
/// - Threading: `write` and `flush` are called on the pipeline's thread (one at a time, under the
///   agent's pipeline lock); `start`, `commit`, `stop` and `counters` on the runner's thread. A
///   sink shared by both keeps what they share behind a lock of its own.
/// - Backpressure: `write` never waits for the network. A sink buffers what it cannot deliver
///   yet within a bound of its own, and counts (and logs) what that bound drops.
/// - Durability: `commit(sealing:)` makes what was written durable (the spool's transaction) and
///   moves it on; the runner calls it once `commitDueNs` has passed. `sealing` runs inside the
///   commit and must call its argument once: the runner checkpoints the pipeline there, under the
///   pipeline's lock, so that the records and the state that produced them commit together.
///   `flush` (the pipeline's) does not commit.
/// - Cancellation: `stop(deadlineNs:final:)` delivers what it can until the deadline, then
///   releases its threads, connections and files; it returns whether everything accepted was
///   delivered. `final` is false for a reload: another sink on the same spool follows at once, so
///   nothing says the agent went away.
public protocol Sink: RecordSink {
    var name: String { get }
    func start()
    /// When the runner should call `commit()` next (monotonic ns); nil while nothing waits.
    var commitDueNs: UInt64? { get }
    /// Returns false if the commit failed (what was written stays pending for the next one).
    @discardableResult
    func commit(sealing: (_ take: () -> Void) -> Void) -> Bool
    func stop(deadlineNs: UInt64, final: Bool) -> Bool
    var counters: SourceCounters { get }
}

extension JSONLSink: Sink {
    public var name: String { "jsonl" }
    public func start() {}
    public var commitDueNs: UInt64? { nil }
    public func commit(sealing: (_ take: () -> Void) -> Void) -> Bool { sealing {}; flush(); return true }
    public func stop(deadlineNs: UInt64, final: Bool) -> Bool { flush(); return true }
    public var counters: SourceCounters { SourceCounters() }
}
