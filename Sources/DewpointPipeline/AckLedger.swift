import DewpointCore

/// The MQTT messages (QoS 1 and 2) the pipeline has processed whose acknowledgements have not been
/// written yet, and the redeliveries the broker will make of them.
///
/// Why: a broker resends, with the same packet id, every message whose acknowledgement it did
/// not get, when the client reconnects to its persistent session. Those messages were processed
/// already (and may be in a committed checkpoint), so counting them again would count them
/// twice. The ledger is kept with the pipeline's state, under its lock, and checkpointed with
/// it, so it is exact for what the checkpoint covers.
///
/// A redelivery is recognised by its packet id together with a hash of its topic and payload,
/// and only in the stretch the broker resends in: from a reconnect with the session present up
/// to the first message that is not a redelivery (brokers resend unacknowledged messages first,
/// in their original order, [MQTT-4.4.0-1]). A new message that reused a packet id of that
/// stretch and carried the same topic and payload as the message it replaces would be taken for
/// a redelivery: the broker can only reuse the id once the first was acknowledged, and the ledger
/// forgets acknowledged ids, so this needs a crash in the instant after the acknowledgement was
/// written and before the next checkpoint.
public struct AckLedger: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var id: UInt16
        public var hash: UInt64
        public init(id: UInt16, hash: UInt64) { self.id = id; self.hash = hash }
    }
    /// Processed, acknowledgement not yet written, oldest first.
    public private(set) var held: [Entry] = []
    /// Redeliveries expected since the last reconnect (processed before it, not acknowledged).
    public private(set) var expected: [Entry] = []
    /// At most this many entries in each list: MQTT 5's largest Receive Maximum, which bounds
    /// what a broker may have unacknowledged to one client.
    public static let capacity = 65_535

    public init() {}

    /// Nothing held and nothing expected.
    public var isEmpty: Bool { held.isEmpty && expected.isEmpty }

    /// The topic-and-payload hash that goes with a packet id (FNV-1a, 64 bits).
    public static func hash(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in topic { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        h = (h ^ 0xff) &* 0x100_0000_01b3
        for b in payload { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// Notes a delivery; true if it is a redelivery of a message already processed (the caller
    /// skips it). Either way its acknowledgement is now held.
    public mutating func deliver(_ e: Entry) -> Bool {
        var again = false
        if !expected.isEmpty {
            if let i = expected.firstIndex(of: e) {
                expected.remove(at: i)
                again = true
            } else {
                // the broker has resent what it will: a new message ends the stretch
                expected.removeAll()
            }
        }
        if held.count == AckLedger.capacity { held.removeFirst() }
        held.append(e)
        return again
    }

    /// Every held acknowledgement has been written to the broker.
    public mutating func acknowledged() { held.removeAll(keepingCapacity: true) }

    /// The input connected. With the session present the broker resends what was held (the
    /// connection that carried the acknowledgements is gone); without it, it resends nothing.
    public mutating func connected(sessionPresent: Bool) {
        if sessionPresent {
            expected.append(contentsOf: held)
            if expected.count > AckLedger.capacity { expected.removeFirst(expected.count - AckLedger.capacity) }
        } else {
            expected.removeAll()
        }
        held.removeAll()
    }

    /// After a restart: everything held or expected in the checkpoint may come again.
    public mutating func restored() {
        expected.append(contentsOf: held)
        held.removeAll()
    }
}

extension AckLedger: Checkpointable {
    public func save(to w: inout StateWriter) {
        for list in [held, expected] {
            w.write(UInt32(list.count))
            for e in list { w.write(e.id); w.write(e.hash) }
        }
    }

    public mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        var lists: [[Entry]] = []
        for _ in 0..<2 {
            let n = Int(try r.read(UInt32.self))
            guard n <= AckLedger.capacity else { throw StateCodingError("\(n) held acknowledgements are more than MQTT allows") }
            var list: [Entry] = []
            list.reserveCapacity(n)
            for _ in 0..<n { list.append(Entry(id: try r.read(UInt16.self), hash: try r.read(UInt64.self))) }
            lists.append(list)
        }
        held = lists[0]
        expected = lists[1]
    }
}
