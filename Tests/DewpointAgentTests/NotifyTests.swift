import DewpointTestSupport
import Foundation
import Testing
@testable import DewpointAgent

/// A notification socket as the service manager holds it: datagrams received in order.
final class FakeNotifySocket: @unchecked Sendable {
    // @unchecked: `fd` is written once in init; `received` is read and written under `lock`.
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [String] = []
    private var thread: Thread?

    init(abstract: Bool) {
        path = abstract ? "@dewpoint-notify-\(getpid())-\(UUID().uuidString.prefix(6))" : scratchDir("notify") + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let t = Thread { [self] in
            var buf = [UInt8](repeating: 0, count: 4096)
            while !Thread.current.isCancelled {
                let n = recv(fd, &buf, buf.count, 0)
                if n > 0 { let s = String(decoding: buf[0..<n], as: UTF8.self); lock.withLock { received.append(s) } }
            }
        }
        thread = t
        t.start()
    }

    var messages: [String] { lock.withLock { received } }
    func stop() { thread?.cancel(); usleep(300_000); close(fd) }
}

@Suite(.serialized) struct NotifyTests {
    @Test(arguments: [false, true]) func theServiceManagerHearsReadyWatchdogAndStopping(abstract: Bool) throws {
        let broker = Broker()
        broker.start()
        let sock = FakeNotifySocket(abstract: abstract)
        defer { sock.stop() }
        let dir = scratchDir("notify-agent")
        AgentProcess.writeConfig(dir: dir, inputPort: broker.port, upstreamPort: broker.port)
        let agent = AgentProcess(dir: dir, environment: ["NOTIFY_SOCKET": sock.path, "WATCHDOG_USEC": "1000000"])
        try agent.start()
        #expect(waitUntil(5) { sock.messages.filter { $0 == "WATCHDOG=1" }.count >= 3 }, "\(sock.messages)")
        // every half watchdog interval (0.5 s), not every turn of the agent's loop: one state
        // machine for the whole run, which is also what lets it see a source stall
        let before = sock.messages.filter { $0 == "WATCHDOG=1" }.count
        usleep(2_000_000)
        let pings = sock.messages.filter { $0 == "WATCHDOG=1" }.count - before
        #expect((3...6).contains(pings), "\(pings) pings in 2 s")
        agent.terminate()
        let m = sock.messages
        #expect(m.first?.hasPrefix("READY=1\nSTATUS=running: 1 devices") == true, "\(m)")
        let stopping = m.firstIndex { $0.hasPrefix("STOPPING=1") }
        #expect(stopping != nil && m.contains { $0.hasPrefix("EXTEND_TIMEOUT_USEC=") }, "\(m)")
        // no ping after the stop began
        if let s = stopping { #expect(!m[s...].contains("WATCHDOG=1"), "\(m)") }
    }

    @Test func withoutANotifySocketNothingIsSent() {
        let n = SystemdNotify(environment: { _ in nil })
        #expect(n.socketPath == nil && n.watchdogUsec == nil && !n.send("READY=1"))
        let other = SystemdNotify(environment: { ["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"][$0] })
        #expect(other.watchdogUsec == nil)  // meant for pid 1, not this process
    }
}

/// The watchdog's decision, with a fake clock and heartbeats.
@Suite struct WatchdogStateMachineTests {
    @Test func pingsEveryHalfPeriodWhileEveryHeartbeatMoves() {
        var w = WatchdogStateMachine(watchdogUsec: 2_000_000, stallNs: 500_000_000)
        var pings: [UInt64] = []
        var beat: UInt64 = 0
        for t in stride(from: UInt64(1), through: 3_000_000_000, by: 20_000_000) {
            beat += 1
            if w.shouldPing(nowNs: t, heartbeats: [beat, nil]) { pings.append(t) }
        }
        // at start, then every second (half of 2 s)
        #expect(pings.count == 3 && pings[1] - pings[0] >= 1_000_000_000, "\(pings)")
    }

    @Test func aStalledThreadStopsThePingsAndResumingRestartsThem() {
        var w = WatchdogStateMachine(watchdogUsec: 2_000_000, stallNs: 500_000_000)
        var t: UInt64 = 1
        let first = w.shouldPing(nowNs: t, heartbeats: [1, 7])
        #expect(first)
        // the second thread stops turning: within stallNs it still counts as alive
        var pinged = false
        for k in 0..<100 {
            t += 20_000_000
            if w.shouldPing(nowNs: t, heartbeats: [UInt64(2 + k), 7]) { pinged = true }
        }
        #expect(!pinged && w.wedged == 1)
        // it turns again: pings resume
        t += 20_000_000
        let resumed = w.shouldPing(nowNs: t, heartbeats: [200, 8])
        #expect(resumed && w.wedged == nil)
    }
}
