import Testing
@testable import DewpointMQTT

@Suite struct ConnectionStateMachineTests {
    let s: UInt64 = 1_000_000_000

    @Test func connectsAndReconnectsWithGrowingJitteredBackoff() {
        var m = ConnectionStateMachine(seed: 42)
        var now: UInt64 = 0
        #expect(m.start(nowNs: now) == .connect)
        #expect(m.connack(accepted: true, nowNs: now) == .onConnected)
        #expect(m.state == .connected)

        // connection lost: backoff within [initial/2, initial]
        now = 10 * s
        guard case .closeAndWait(let until1) = m.connectionLost(nowNs: now) else { Issue.record("no backoff"); return }
        #expect(until1 - now >= 125_000_000 && until1 - now <= 250_000_000)
        #expect(m.tick(nowNs: until1 - 1) == .none)
        #expect(m.tick(nowNs: until1) == .connect)
        // refused again and again: the delay doubles up to the cap, never below half of it
        var delays: [UInt64] = []
        now = until1
        for _ in 0..<12 {
            guard case .closeAndWait(let u) = m.connectFailed(nowNs: now) else { Issue.record("no backoff"); return }
            delays.append(u - now)
            now = u
            #expect(m.tick(nowNs: now) == .connect)
        }
        for (i, d) in delays.enumerated() {
            let cap = min(30 * s, 250_000_000 << UInt64(i + 1))
            #expect(d >= cap / 2 && d <= cap, "attempt \(i): \(d)")
        }
        #expect(delays.last! >= 15 * s)
        // success resets the failure count and counts a reconnection
        #expect(m.connack(accepted: true, nowNs: now) == .onConnected)
        #expect(m.failures == 0)
        #expect(m.reconnects == 1)
    }

    @Test func refusedConnackAndConnectTimeoutBackOff() {
        var m = ConnectionStateMachine()
        _ = m.start(nowNs: 0)
        guard case .closeAndWait = m.connack(accepted: false, nowNs: s) else { Issue.record("refusal must back off"); return }
        var m2 = ConnectionStateMachine()
        _ = m2.start(nowNs: 0)
        #expect(m2.tick(nowNs: 9 * s) == .none)
        guard case .closeAndWait = m2.tick(nowNs: 10 * s) else { Issue.record("a missing CONNACK must time out"); return }
    }

    @Test func jitterDiffersBetweenAgents() {
        var a = ConnectionStateMachine(seed: 1), b = ConnectionStateMachine(seed: 2)
        _ = a.start(nowNs: 0); _ = b.start(nowNs: 0)
        guard case .closeAndWait(let ua) = a.connectFailed(nowNs: 0), case .closeAndWait(let ub) = b.connectFailed(nowNs: 0) else {
            Issue.record("a failed connect must back off"); return
        }
        #expect(ua != ub)
    }

    @Test func eventsInTheWrongStateAreIgnored() {
        var m = ConnectionStateMachine()
        #expect(m.connectionLost(nowNs: 0) == .none)
        #expect(m.connack(accepted: true, nowNs: 0) == .none)
        _ = m.start(nowNs: 0)
        #expect(m.start(nowNs: 0) == .none)
        m.stop()
        #expect(m.state == .disconnected)
    }
}

import DewpointCore

/// The backoff both state machines use (MQTT with jitter, serial without).
@Suite struct ExponentialBackoffTests {
    @Test func doublesUpToTheCapWithoutJitter() {
        var b = ExponentialBackoff(initialNs: 100, maxNs: 1_000, jitter: false)
        #expect((1...6).map { b.delayNs(failures: $0) } == [100, 200, 400, 800, 1_000, 1_000])
        #expect(b.delayNs(failures: 0) == 100)
        #expect(b.delayNs(failures: 10_000) == 1_000)  // no overflow from a huge shift
    }

    @Test func jitterStaysWithinHalfToFullAndVaries() {
        var b = ExponentialBackoff(initialNs: 1_000, maxNs: 8_000, jitter: true, seed: 7)
        var seen = Set<UInt64>()
        for f in 1...50 {
            let d = b.delayNs(failures: f)
            let top = b.ceilingNs(failures: f)
            #expect(d >= top / 2 && d <= top)
            seen.insert(d)
        }
        #expect(seen.count > 10)
        var again = ExponentialBackoff(initialNs: 1_000, maxNs: 8_000, jitter: true, seed: 7)
        var same = ExponentialBackoff(initialNs: 1_000, maxNs: 8_000, jitter: true, seed: 7)
        #expect((1...20).map { again.delayNs(failures: $0) } == (1...20).map { same.delayNs(failures: $0) })
    }
}
