import DewpointCore
import DewpointPipeline
import Synchronization

/// The pipeline behind one lock, so that each source can run it on its own thread.
///
/// The MQTT network thread runs it inline for every message (no copy, no queue, no wakeup per
/// message) and flushes its batches at the end of each network pass; the agent's thread runs it
/// for queued serial, capture and socket frames, for the clock (`advance`) and at shutdown.
/// Holding the lock while a source blocks would stall the others, so bodies only compute.
final class PipelineGate: Sendable {
    private let pipeline: Mutex<Pipeline>

    init(_ pipeline: sending Pipeline) { self.pipeline = Mutex(pipeline) }

    @inline(__always)
    func run<T: Sendable>(_ body: (Pipeline) -> T) -> T {
        pipeline.withLock { body($0) }
    }
}

/// The inlet of sources that run the pipeline on their own thread (MQTT).
final class GateInlet: FrameInlet, Sendable {
    let gate: PipelineGate
    /// Runs after each batch, outside the pipeline's lock (the sink sends the alerts it raised).
    let afterBatch: (@Sendable () -> Void)?
    init(_ gate: PipelineGate, afterBatch: (@Sendable () -> Void)? = nil) { self.gate = gate; self.afterBatch = afterBatch }
    func frame(binding: Int, payload: UnsafeRawBufferPointer, arrivalNs: Int64) {
        gate.run { $0.ingest(binding: binding, payload: payload, arrivalNs: arrivalNs) }
    }
    func message(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, arrivalNs: Int64) {
        gate.run { $0.ingestMQTT(topic: topic, payload: payload, arrivalNs: arrivalNs) }
    }
    func endOfBatch() {
        gate.run { $0.flush() }
        afterBatch?()
    }
    func message(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, arrivalNs: Int64, deliveryId: UInt16) {
        gate.run { $0.ingestMQTT(topic: topic, payload: payload, arrivalNs: arrivalNs, deliveryId: deliveryId) }
    }
    func acknowledged() { gate.run { $0.inputAcknowledged() } }
    func inputConnected(sessionPresent: Bool) { gate.run { $0.inputConnected(sessionPresent: sessionPresent, nowNs: Clock.wallNs()) } }
    func inputDisconnected() { gate.run { $0.inputDisconnected() } }
}

/// One serial, capture or socket frame copied out of its source's thread.
struct InputFrame: Sendable {
    var bytes: [UInt8]
    var arrivalNs: Int64
    var binding: Int
    /// An MQTT message's topic (routed by topic, `binding` unused); nil for a binding's frame.
    var topic: [UInt8]? = nil
}

/// The inlet of sources fed by a kernel buffer (serial, capture, sockets): frames are copied
/// into the agent's bounded queue, whose overflow policy decides when the pipeline falls behind.
final class QueueInlet: FrameInlet, Sendable {
    let queue: BoundedQueue<InputFrame>
    init(_ queue: BoundedQueue<InputFrame>) { self.queue = queue }
    func frame(binding: Int, payload: UnsafeRawBufferPointer, arrivalNs: Int64) {
        queue.push(InputFrame(bytes: Array(payload), arrivalNs: arrivalNs, binding: binding))
    }
    func message(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, arrivalNs: Int64) {
        // no source queues MQTT messages today (the input runs the pipeline inline); one that did
        // keeps the topic with the frame, and the agent routes it by topic
        queue.push(InputFrame(bytes: Array(payload), arrivalNs: arrivalNs, binding: -1, topic: Array(topic)))
    }
    func endOfBatch() {}
}
