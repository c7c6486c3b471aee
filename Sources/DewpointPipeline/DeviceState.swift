import DewpointCore
import DewpointSignal

/// Per-device state: open windows and per-channel detectors.
final class DeviceState {
    let name: String
    let binding: Int
    let lengthNs: Int64
    let latenessNs: Int64

    struct OpenWindow {
        var startNs: Int64
        var stats: [WindowStats]
    }
    /// Open windows, sorted by start. With lateness below the window length there are at most two.
    var open: [OpenWindow] = []
    private var pool: [[WindowStats]] = []
    let channelCount: Int

    struct Watch {
        var detector: ChannelDetector
        var machine: AlertStateMachine
        let severity: Severity
    }
    var watches: [[Watch]]

    init(name: String, binding: Int, spec: BindingSpec) {
        self.name = name
        self.binding = binding
        self.lengthNs = spec.window.lengthMs * 1_000_000
        self.latenessNs = spec.window.latenessMs * 1_000_000
        self.channelCount = spec.channels.count
        self.watches = spec.channels.map { ch in
            ch.detectors.map { d in
                let det: ChannelDetector
                switch d.kind {
                case .threshold(let above, let below): det = .threshold(above: above, below: below, hysteresis: d.hysteresis)
                }
                return Watch(detector: det, machine: AlertStateMachine(raiseAt: 0.5, clearBelow: 0.5, minSamples: d.minSamples),
                             severity: d.severity)
            }
        }
        open.reserveCapacity(4)
    }

    @inline(__always)
    func windowStart(_ ts: Int64) -> Int64 {
        let r = ts % lengthNs
        return r >= 0 ? ts - r : ts - r - lengthNs
    }

    /// The stats of the window holding `ts`, opening it if needed; nil if that window has closed
    /// (its end plus the allowed lateness is at or before the watermark).
    @inline(__always)
    func window(for ts: Int64, watermarkNs: Int64) -> Int? {
        let start = windowStart(ts)
        if start &+ lengthNs &+ latenessNs <= watermarkNs { return nil }
        var i = open.count - 1
        while i >= 0 {
            if open[i].startNs == start { return i }
            if open[i].startNs < start { break }
            i -= 1
        }
        var stats = pool.popLast() ?? Array(repeating: WindowStats(), count: channelCount)
        for c in 0..<stats.count { stats[c].reset() }
        open.insert(OpenWindow(startNs: start, stats: stats), at: i + 1)
        return i + 1
    }

    /// Earliest time at which an open window may close (end + lateness), or `.max`.
    var nextCloseNs: Int64 {
        guard let w = open.first else { return .max }
        return w.startNs + lengthNs + latenessNs
    }

    /// Removes and returns the windows that close at `watermarkNs`.
    func takeClosable(watermarkNs: Int64, into out: inout [(DeviceState, OpenWindow)]) {
        while let w = open.first, w.startNs + lengthNs + latenessNs <= watermarkNs {
            open.removeFirst()
            out.append((self, w))
        }
    }

    func recycle(_ stats: [WindowStats]) { if pool.count < 4 { pool.append(stats) } }
}
