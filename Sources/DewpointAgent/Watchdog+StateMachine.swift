/// Decides when the agent may tell the service manager it is alive (`WATCHDOG=1`).
///
/// The agent's thread asks on every turn of its loop, which holds the pipeline's lock each turn:
/// a wedged pipeline stops the questions, and so the pings. Each other thread (the MQTT input's
/// network thread, serial links, listeners, the forwarder) shows a heartbeat that its loop
/// advances at least every few hundred ms, even when idle; one that has not moved for
/// `stallNs` is wedged, and no ping goes out while it is. Sources that may block by design (a
/// capture waiting for packets) show no heartbeat and are not judged.
struct WatchdogStateMachine: Sendable {
    /// Half the service's `WatchdogSec`, as systemd recommends.
    let pingEveryNs: UInt64
    let stallNs: UInt64
    private var lastPingNs: UInt64 = 0
    private var seen: [(beat: UInt64, sinceNs: UInt64)?] = []
    /// The first component found wedged (index into the heartbeats), for the status line.
    private(set) var wedged: Int? = nil

    init(watchdogUsec: UInt64, stallNs: UInt64 = 10_000_000_000) {
        pingEveryNs = watchdogUsec * 1_000 / 2
        // a thread is judged well inside the watchdog's own time
        self.stallNs = min(stallNs, watchdogUsec * 1_000 / 2)
    }

    /// True when a ping is due and every thread with a heartbeat has moved recently.
    mutating func shouldPing(nowNs: UInt64, heartbeats: [UInt64?]) -> Bool {
        if seen.count != heartbeats.count { seen = Array(repeating: nil, count: heartbeats.count) }
        wedged = nil
        for (i, h) in heartbeats.enumerated() {
            guard let h else { continue }
            if let s = seen[i], s.beat == h {
                if nowNs - s.sinceNs > stallNs && wedged == nil { wedged = i }
            } else {
                seen[i] = (h, nowNs)
            }
        }
        guard wedged == nil, nowNs - lastPingNs >= pingEveryNs || lastPingNs == 0 else { return false }
        lastPingNs = nowNs
        return true
    }
}
