import DewpointCore
import Logging

/// The MQTT input: one connection with a persistent session (a fixed client id, clean session
/// off) for every `mqtt` binding, so that QoS 1 messages sent while the agent was away are
/// delivered; every connect subscribes again.
///
/// Messages go to the inlet on the network thread, without a copy or a queue: a slow pipeline
/// slows reading, and the broker holds the backlog. Each network pass ends with `endOfBatch`.
public final class MQTTInput: Source, Sendable {
    public let client: MQTTClient

    /// `subscriptions`: topic filter and QoS per mqtt binding. With `options.ackAfterCommit`,
    /// `durability` commits before acknowledgements are written.
    public init(options: MQTTClient.Options, subscriptions: [(filter: String, qos: Int)], inlet: any FrameInlet & Sendable,
                durability: (any DurabilityGate)? = nil, logger: Logger) throws(MQTTError) {
        var o = options
        o.coalesceWrites = true  // a pass's PUBACKs in one write
        if o.protocolVersion == 5 && o.receiveMaximum == nil { o.receiveMaximum = 65_535 }
        let where_ = "\(options.host):\(options.port)"
        let ackMode = o.ackAfterCommit ? "acknowledged after commit" : "acknowledged on receipt"
        var commit: (@Sendable () -> Bool)? = nil
        if let durability { commit = { durability.commitForAcknowledgements() } }
        let delivery: @Sendable (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UInt16) -> Void = { topic, payload, id in
            inlet.message(topic: topic, payload: payload, arrivalNs: Clock.wallNs(), deliveryId: id)
        }
        client = try MQTTClient(o, logger: logger, handlers: MQTTClient.Handlers(
            message: { topic, payload in inlet.message(topic: topic, payload: payload, arrivalNs: Clock.wallNs()) },
            connected: { c in
                inlet.inputConnected(sessionPresent: c.sessionPresent)
                for (f, q) in subscriptions {
                    do { try c.subscribe(f, qos: q) } catch { logger.error("subscribe \(f): \(error)") }
                }
                logger.info("input connected to \(where_), \(subscriptions.count) subscriptions, session \(c.sessionPresent ? "resumed" : "new"), \(ackMode)\(c.readsBuffered ? ", reads buffered" : "")")
            },
            disconnected: { _ in inlet.inputDisconnected() },
            // process the rows batched during the pass now, so that alerts are not held back
            batchEnd: { inlet.endOfBatch() },
            delivery: delivery,
            commit: commit,
            acknowledged: { inlet.acknowledged() }))
    }

    public var name: String { "mqtt \(client.options.host):\(client.options.port)" }
    public func start() { client.start() }
    public func stop() { client.stop() }
    public var counters: SourceCounters { SourceCounters([("reconnects", client.reconnects)]) }
    public var heartbeat: UInt64? { client.heartbeat }
    public var isConnected: Bool? { client.isConnected }
}
