import Testing
@testable import DewpointAgent

/// The passes while the agent settles, on a fake clock: each offset from the start once, the
/// 5 s one logged, and a late loop makes one pass for the offsets it missed.
struct StartupPagesSettlePassesTests {
    private let start: UInt64 = 1_000_000_000_000
    private func ms(_ v: UInt64) -> UInt64 { start + v * 1_000_000 }

    @Test func eachOffsetOnceInOrder() {
        var passes = StartupPages.SettlePasses(startNs: start)
        var made: [(UInt64, Bool)] = []
        // a loop turning every 20 ms for 20 s
        for t in stride(from: UInt64(0), through: 20_000, by: 20) {
            if let p = passes.due(nowNs: ms(t)) { made.append((p.offsetNs / 1_000_000, p.logged)) }
        }
        #expect(made.map(\.0) == [500, 2_000, 5_000, 15_000])
        #expect(made.map(\.1) == [false, false, true, false])
        #expect(passes.finished)
        #expect(passes.due(nowNs: ms(60_000)) == nil)
    }

    @Test func notBeforeItsOffset() {
        var passes = StartupPages.SettlePasses(startNs: start)
        #expect(passes.due(nowNs: start) == nil)
        #expect(passes.due(nowNs: ms(499)) == nil)
        #expect(passes.due(nowNs: ms(500)) == .init(offsetNs: 500_000_000, logged: false))
        #expect(passes.due(nowNs: ms(501)) == nil)
        #expect(passes.due(nowNs: ms(1_999)) == nil)
        // a clock read before the start (another thread's reading, passed late) is not a pass
        #expect(passes.due(nowNs: start - 1) == nil)
        #expect(!passes.finished)
    }

    @Test func aLateLoopMakesOnePassForTheOffsetsItMissed() {
        var passes = StartupPages.SettlePasses(startNs: start)
        #expect(passes.due(nowNs: ms(600)) == .init(offsetNs: 500_000_000, logged: false))
        // stalled from 0.6 s to 6 s: the 2 s and 5 s passes become one, which is logged
        #expect(passes.due(nowNs: ms(6_000)) == .init(offsetNs: 5_000_000_000, logged: true))
        #expect(passes.due(nowNs: ms(6_020)) == nil)
        #expect(passes.due(nowNs: ms(15_000)) == .init(offsetNs: 15_000_000_000, logged: false))
        #expect(passes.finished)
    }
}
