import DewpointCore
import Testing

/// The linger decision on a fake clock: none for a slow input, the full linger once the rate
/// makes it gather `minBatch` messages, and none again soon after the input slows down.
@Suite struct BatchPacerTests {
    @Test func lingersOnlyWhenTheRateMakesItPay() {
        var p = BatchPacer(lingerNs: 1_000_000, minBatch: 2)
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

    /// The default batch (24 messages for a 1 ms linger): messages are read at once up to
    /// 20,000/s, where latency is worth more than the wakeups saved, and batched at 40,000/s.
    @Test func theDefaultBatchStartsBetween20kAnd40kPerSecond() {
        func lingers(rate: Int) -> Int {
            var p = BatchPacer(lingerNs: 1_000_000)
            var now: UInt64 = 1_000_000_000
            var lingered = 0
            // passes every 250 µs, as a publisher that writes each tick's messages at once
            for _ in 0..<400 {
                now += 250_000
                if p.pass(delivered: rate / 4000, nowNs: now) > 0 { lingered += 1 }
            }
            return lingered
        }
        #expect(BatchPacer(lingerNs: 1_000_000).minBatch == 24)
        #expect(lingers(rate: 10_000) == 0)
        #expect(lingers(rate: 20_000) == 0)
        #expect(lingers(rate: 40_000) >= 350)  // from the end of the first 10 ms window
        #expect(BatchPacer(lingerNs: 1, minBatch: 0).minBatch == 1)
    }

    /// 10,000 messages/s written in bursts of 10 every millisecond, read one message a pass
    /// (passes 5 µs apart within a burst): the rate is 10,000/s, not the 200,000/s of the gaps
    /// within a burst, and the default batch does not linger.
    @Test func burstsDoNotInflateTheRate() {
        var p = BatchPacer(lingerNs: 1_000_000)
        var now: UInt64 = 1_000_000_000
        var lingered = 0
        for _ in 0..<200 {
            now += 955_000
            for _ in 0..<10 { now += 5_000; if p.pass(delivered: 1, nowNs: now) > 0 { lingered += 1 } }
        }
        #expect(lingered == 0)
        #expect(p.rate > 9_000 && p.rate < 11_000)
    }
}
