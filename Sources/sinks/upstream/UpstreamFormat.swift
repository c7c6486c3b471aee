import DewpointMQTT
import DewpointSpool

/// A message the forwarder publishes.
public typealias OutgoingMessage = MQTTMessage

/// How spooled records look on the wire, and what announces their devices to a platform
/// (Sparkplug B births, Home Assistant discovery). Records stay in the spool as JSON; a format
/// turns them into messages at send time, so that after any reconnection its announcements come
/// first again.
///
/// Contract:
/// - Threading: `connectionReset`, `due` and `present` run on the forwarder's thread, the only
///   one that publishes records; state shared with other threads (a host's command on the
///   network thread, the device list from the agent's loop) lives behind the format's own lock.
/// - Order: after a (re)connection the forwarder publishes everything `due` returns before any
///   record; for each record it publishes `announce` in order, then `record`.
/// - Acknowledgement: only `record` is tracked: its acknowledgement (or, at QoS 0, its write to the
///   socket) deletes the spool row. Announcements are published untracked.
/// - Errors: a record `present` cannot read leaves the queue for the dead letters, with the
///   error's text as the reason.
/// - Backpressure: none of its own; the forwarder's `maxInflight` bounds the records in flight.
public protocol UpstreamFormat: Sendable {
    /// The connection was lost or made: whatever was announced must be announced again.
    func connectionReset()
    /// Messages due now without a record: births after a connection or a rebirth command,
    /// device deaths, removed announcements.
    func due(nowMs: UInt64) -> [OutgoingMessage]
    /// The messages that carry `record`.
    func present(_ record: SpoolQueue.Record, nowMs: UInt64) throws(UpstreamFormatError) -> (announce: [OutgoingMessage], record: OutgoingMessage)
}

public struct UpstreamFormatError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
