import Testing
@testable import DewpointUpstream

/// The forwarder's detector of records the broker keeps refusing by closing the connection,
/// driven with a fake clock.
@Suite struct PoisonRecordTests {
    @Test func closesRightAfterSendingProbeThenSetTheRecordAside() {
        var d = PoisonRecordDetector()
        var now: UInt64 = 1_000_000_000
        // a close with records in flight: probe, one record at a time
        d.sent(seq: 7, oldest: true, nowNs: now)
        d.sent(seq: 8, oldest: false, nowNs: now)
        #expect(d.connectionLost(nowNs: now + 1000) == nil)
        #expect(d.probing && d.inflightLimit(32) == 1)
        // record 7 alone, three closes in a row: set aside on the third
        for strike in 1...3 {
            now += 1_000_000_000
            d.sent(seq: 7, oldest: true, nowNs: now)
            #expect(d.connectionLost(nowNs: now + 50_000_000) == (strike == 3 ? 7 : nil), "strike \(strike)")
        }
        // probing goes on until 64 acknowledgements in a row
        for i in 0..<64 {
            #expect(d.probing, "\(i)")
            d.sent(seq: 8 + UInt64(i), oldest: true, nowNs: now)
            d.acknowledged()
        }
        #expect(!d.probing && d.inflightLimit(32) == 32)
    }

    @Test func progressOrSlowClosesNeverSetARecordAside() {
        var d = PoisonRecordDetector()
        var now: UInt64 = 1
        for round in 0..<10 {
            d.sent(seq: 7, oldest: true, nowNs: now)
            if round % 2 == 0 { d.acknowledged() }  // the link moves records between drops
            now += 100
            #expect(d.connectionLost(nowNs: now) == nil)
        }
        // a close long after the send is a network problem, not the record
        for _ in 0..<5 {
            d.sent(seq: 9, oldest: true, nowNs: now)
            now += 6_000_000_000
            #expect(d.connectionLost(nowNs: now) == nil)
        }
        // another record alone on the wire starts the count again
        d = PoisonRecordDetector()
        d.sent(seq: 1, oldest: true, nowNs: 0); _ = d.connectionLost(nowNs: 1)  // probing
        d.sent(seq: 1, oldest: true, nowNs: 2); _ = d.connectionLost(nowNs: 3)
        d.sent(seq: 1, oldest: true, nowNs: 4); _ = d.connectionLost(nowNs: 5)
        d.sent(seq: 2, oldest: true, nowNs: 6)
        #expect(d.connectionLost(nowNs: 7) == nil && d.suspect?.seq == 2 && d.suspect?.strikes == 1)
    }
}
