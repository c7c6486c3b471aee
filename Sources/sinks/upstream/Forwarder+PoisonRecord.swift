/// Finds a record the upstream broker can never take although the client library accepts it:
/// with MQTT 3.1.1 the client does not know the broker's packet limit, and a broker that gets a
/// packet over its `max_packet_size` (or one it refuses for another reason) closes the
/// connection. Resent first after every reconnect, such a record would stall forwarding for ever.
///
/// - A connection lost within `windowNs` of sending while records were in flight and none was
///   acknowledged since makes the forwarder **probe**: one record in flight at a time, so that a
///   close can be blamed on the one record that was on the wire.
/// - While probing, each such close is a strike against that record; `strikesToSetAside` in a
///   row make it a dead letter (kept and listed by `dewpoint spool`, not lost).
/// - An acknowledgement clears the strikes; `acksToLeaveProbing` in a row end probing.
/// A link that flaps while records move never sets one aside: every record it loses is resent.
struct PoisonRecordDetector: Sendable {
    var windowNs: UInt64 = 5_000_000_000
    var strikesToSetAside = 3
    var acksToLeaveProbing = 64
    /// The oldest record in flight and when it was sent; nil once anything is acknowledged.
    private(set) var probe: (seq: UInt64, sentNs: UInt64)? = nil
    private(set) var suspect: (seq: UInt64, strikes: Int)? = nil
    private(set) var probing = false
    private var cleanAcks = 0

    /// How many records may be in flight: one while probing.
    func inflightLimit(_ normal: Int) -> Int { probing ? 1 : normal }

    /// Record `seq` was published; `oldest` when nothing older was in flight.
    mutating func sent(seq: UInt64, oldest: Bool, nowNs: UInt64) {
        if oldest { probe = (seq, nowNs) }
    }

    /// An acknowledgement arrived: the connection moves records.
    mutating func acknowledged() {
        probe = nil
        suspect = nil
        if probing {
            cleanAcks += 1
            if cleanAcks >= acksToLeaveProbing { probing = false }
        }
    }

    /// The connection was lost; returns the record to set aside, if one has its last strike.
    mutating func connectionLost(nowNs: UInt64) -> UInt64? {
        defer { probe = nil }
        guard let p = probe, nowNs >= p.sentNs, nowNs - p.sentNs <= windowNs else { return nil }
        cleanAcks = 0
        guard probing else {
            probing = true  // which of the records in flight did it? send one at a time to see
            return nil
        }
        let strikes = suspect?.seq == p.seq ? suspect!.strikes + 1 : 1
        if strikes >= strikesToSetAside {
            suspect = nil
            return p.seq
        }
        suspect = (p.seq, strikes)
        return nil
    }
}
