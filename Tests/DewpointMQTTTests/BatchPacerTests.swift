import DewpointCore
import Testing

/// The linger decision on a fake clock: none for a slow input, the full linger once the rate
/// makes it gather a batch, and none again soon after the input slows down.
@Suite struct BatchPacerTests {
    @Test func lingersOnlyWhenTheRateMakesItPay() {
        var p = BatchPacer(lingerNs: 1_000_000)
        var now: UInt64 = 1_000_000_000
        // 100 messages/s, one per pass: never
        for _ in 0..<50 { now += 10_000_000; #expect(p.pass(delivered: 1, nowNs: now) == 0) }
        // 10,000 messages/s in passes of 10 every ms: soon the full linger
        var lingered = 0
        for _ in 0..<50 { now += 1_000_000; if p.pass(delivered: 10, nowNs: now) > 0 { lingered += 1 } }
        #expect(lingered >= 40)
        #expect(p.rate > 5_000)
        // back to a message every 100 ms: it stops lingering within a few passes
        var stillLingering = 0
        for i in 0..<10 { now += 100_000_000; if p.pass(delivered: 1, nowNs: now) > 0 && i >= 1 { stillLingering += 1 } }
        #expect(stillLingering == 0)
        // nothing delivered, or no linger configured: never
        #expect(p.pass(delivered: 0, nowNs: now + 1) == 0)
        var off = BatchPacer(lingerNs: 0)
        for _ in 0..<10 { now += 100_000; #expect(off.pass(delivered: 100, nowNs: now) == 0) }
    }
}
