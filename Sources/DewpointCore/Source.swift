/// Where a source delivers what it reads: the pipeline, reached directly (replay, or the MQTT
/// network thread through the agent's lock) or through a bounded queue (serial, capture, sockets).
///
/// The bytes passed in live only during the call: an inlet that keeps them copies them.
public protocol FrameInlet: AnyObject {
    /// One frame of the binding at index `binding` of the agent's bindings (serial, capture,
    /// socket frames, recorded frames).
    func frame(binding: Int, payload: UnsafeRawBufferPointer, arrivalNs: Int64)
    /// One MQTT message, routed to its binding by topic.
    func message(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, arrivalNs: Int64)
    /// The end of a batch of deliveries (one network pass): rows batched across them are
    /// processed now, so that alerts are not held back.
    func endOfBatch()
    /// An MQTT message delivered at QoS 1 or 2, with its packet id: the inlet recognises a
    /// redelivery of a message it already processed (after a reconnect or a restart).
    func message(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, arrivalNs: Int64, deliveryId: UInt16)
    /// The acknowledgements of every message delivered so far have been written to the broker.
    func acknowledged()
    /// The MQTT input connected; `sessionPresent`: the broker kept its session (and resends what
    /// was not acknowledged).
    func inputConnected(sessionPresent: Bool)
    /// The MQTT input lost its connection.
    func inputDisconnected()
}

extension FrameInlet {
    public func message(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, arrivalNs: Int64, deliveryId: UInt16) {
        message(topic: topic, payload: payload, arrivalNs: arrivalNs)
    }
    public func acknowledged() {}
    public func inputConnected(sessionPresent: Bool) {}
    public func inputDisconnected() {}
}

/// Asked by an input that acknowledges only what is durable (`ack: after_commit`) before it
/// writes its held acknowledgements.
///
/// Contract: `commitForAcknowledgements()` is called on the input's network thread; it returns
/// once everything the input delivered before the call is committed (with the state it produced),
/// true, or false if the commit failed (the input then keeps the acknowledgements and asks again
/// later). It may wait for a disk write, never for the network.
public protocol DurabilityGate: AnyObject, Sendable {
    func commitForAcknowledgements() -> Bool
}

/// Something that reads frames from outside (a broker, a serial line, an interface, a socket, a
/// recording) and hands them to a `FrameInlet` given to it when it was made.
///
/// Contract:
/// - Threading: a live source reads on threads it owns; `start()` returns at once, and the
///   inlet is called on one of those threads, never on two at once for one binding. A recording
///   (replay) reads on the calling thread: `start()` returns at the end of the recording.
///   Live sources are `Sendable` (`stop()` and the counters may be called from any thread).
/// - Backpressure: the inlet call is the only place a source waits for the pipeline. The MQTT
///   input runs the pipeline inside it, so a slow pipeline leaves the backlog in the broker;
///   sources fed by a kernel buffer (serial, capture, sockets) go through the agent's bounded
///   queue, whose overflow policy (counted) decides when the pipeline falls behind. A source
///   never drops a frame it read without counting it in `counters`.
/// - Failure: a live source outlives its device: a lost connection, a removed interface or an
///   unplugged port is logged, retried with backoff and counted; only a configuration that can
///   never work throws, from the factory or from `start()`.
/// - Cancellation: `stop()` stops reading, delivers what was already read, and joins the
///   source's threads before it returns (within about 100 ms). No inlet call starts after it.
public protocol Source: AnyObject {
    /// Whether the source's link is up (a broker connection, an open port), for `/healthz`; nil
    /// for a source without such a state.
    var isConnected: Bool? { get }
    /// Names the source in logs ("mqtt 127.0.0.1:1883", "serial /dev/ttyUSB0", "udp 0.0.0.0:8125").
    var name: String { get }
    func start() throws
    func stop()
    /// The source's own counters (bytes, frames, drops by reason, reconnects), for the log line
    /// every minute and at stop, and for metrics.
    var counters: SourceCounters { get }
    /// Turns of the source's loop, for the service watchdog: a live source whose loop turns at
    /// least every few hundred ms even when idle reports it; nil for one that may block for long
    /// by design (a capture waiting for packets) or that has no thread (a recording).
    var heartbeat: UInt64? { get }
}

extension Source {
    public var heartbeat: UInt64? { nil }
}

/// Named counters of a source or sink, in a fixed order.
public struct SourceCounters: Sendable, Equatable, CustomStringConvertible {
    public var values: [(name: String, value: Int)]

    public init(_ values: [(name: String, value: Int)] = []) { self.values = values }

    public subscript(name: String) -> Int? { values.first { $0.name == name }?.value }

    /// `name=value` pairs separated by spaces, as the log lines show them.
    public var description: String { values.map { "\($0.name)=\($0.value)" }.joined(separator: " ") }

    public static func == (a: SourceCounters, b: SourceCounters) -> Bool {
        a.values.elementsEqual(b.values) { $0.name == $1.name && $0.value == $1.value }
    }
}

extension Source {
    public var isConnected: Bool? { nil }
}
