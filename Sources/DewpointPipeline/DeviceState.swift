import DewpointCore
import DewpointSignal

/// Per-device state: open windows and per-channel detectors.
final class DeviceState {
    let name: String
    let binding: Int
    let lengthNs: Int64
    let latenessNs: Int64
    let maxSkewNs: Int64?
    /// `maxSkewNs` is the live default, not the binding's `max_skew`.
    let skewIsDefault: Bool
    /// The pipeline clock this device's windows follow (`Pipeline.ClockState`).
    let clock: Int
    /// Listed in the pipeline's devices to checkpoint.
    var changed = false
    /// Samples accepted and frames that failed to decode, for the metrics (not checkpointed:
    /// counters start at zero with the process, as Prometheus expects).
    var samplesTotal = 0
    var decodeErrors = 0
    /// `dedup.memory` (0: off): the payload times of the last rows, as a ring and a set.
    let dedupMemory: Int
    var seenRing: [Int64] = []
    var seenHead = 0
    var seenTimes = Set<Int64>()

    struct OpenWindow {
        var startNs: Int64
        /// `channelCount` accumulators, owned by this device (recycled through `pool`).
        var stats: UnsafeMutablePointer<WindowStats>
        /// Percentile sketches and vibration accumulators, for bindings that ask for them.
        var extras: WindowExtras?
    }

    /// The optional per-window state: one sketch per channel when the binding asks for
    /// percentiles, one accumulator per channel with `vibration`. Pooled with the window.
    final class WindowExtras {
        var sketches: [QuantileSketch]
        var vibration: [VibrationAccumulator?]
        init(channels: Int, percentiles: Bool, vibration: [VibrationAccumulator.Config?]) {
            sketches = percentiles ? Array(repeating: QuantileSketch(), count: channels) : []
            self.vibration = vibration.map { $0.map(VibrationAccumulator.init) }
        }
        func reset() {
            for i in sketches.indices { sketches[i].reset() }
            for i in vibration.indices { vibration[i]?.reset() }
        }
        @inline(__always)
        func add(_ c: Int, _ x: Float) {
            if !sketches.isEmpty { sketches[c].add(x) }
            if vibration[c] != nil { vibration[c]!.add(x) }
        }
    }
    /// Open windows, sorted by start. With lateness below the window length there are at most two.
    var open: [OpenWindow] = []
    /// At most this many open windows (`limits.max_open_windows`).
    let maxOpenWindows: Int
    /// Set by `window(for:)` when it refused a new window because of `maxOpenWindows` (the
    /// caller counts it and clears it), rather than because the window had closed.
    var refusedWindow = false
    /// When the device was last heard from (for `limits.device_idle`): the arrival time live,
    /// the newest event time in replay (or live when the caller gives no arrival time).
    var lastSeenNs: Int64 = .min
    var idleByArrival = false
    private var pool: [(UnsafeMutablePointer<WindowStats>, WindowExtras?)] = []
    /// Percentiles (0–1) and vibration configs from the binding; `needsExtras` if any.
    let quantiles: [Double]
    let timeWeightedMean: Bool
    let vibrationConfigs: [VibrationAccumulator.Config?]
    let needsExtras: Bool
    let channelCount: Int
    /// Per-channel valid range (±infinity when unset) and whether any detector watches it,
    /// in plain memory for the per-sample loop.
    let validMin: UnsafeMutablePointer<Float>
    let validMax: UnsafeMutablePointer<Float>
    let watched: UnsafeMutablePointer<Bool>

    /// The columnar batch: rows waiting to be processed. `batchColumns` holds channel `c`'s values
    /// at `c * batchCapacity ..< c * batchCapacity + batchCount` (NaN: no sample).
    static let batchCapacity = 256
    var batchCount = 0
    /// In the pipeline's list of devices to visit at the next `flush`.
    var listedDirty = false
    let batchTs: UnsafeMutablePointer<Int64>
    /// The watermark each row arrived under (decides lateness).
    let batchMark: UnsafeMutablePointer<Int64>
    /// Whether the row is a frame's first (missing values are counted once per frame).
    let batchFirstRow: UnsafeMutablePointer<Bool>
    let batchColumns: UnsafeMutablePointer<Float>

    struct Watch {
        var detector: ChannelDetector
        var machine: AlertStateMachine
        let severity: Severity
    }
    var watches: [[Watch]]
    /// Detectors over several channels (`detectors:` of the binding), fed once per row.
    struct DeviceWatch {
        let detector: DeviceDetector
        var machine: AlertStateMachine
        let severity: Severity
        /// The binding's channel indices, in the detector's order.
        let channels: [Int]
    }
    var deviceWatches: [DeviceWatch]
    /// One row's values in a device detector's channel order.
    let rowValues: UnsafeMutablePointer<Float>
    /// Per-channel filter chains (empty: none, or filtered by a lane group); `scratch` gathers
    /// a column's valid samples.
    var filters: [[ChannelFilter]]
    /// Channels filtered together across SIMD lanes (see `LaneGroup`).
    var laneGroups: [LaneGroup]
    /// Last sample per channel (time and value), for dropout detection, and the usual interval
    /// between samples (an EWMA of the gaps, α = 0.1) with how many gaps it has seen.
    var intervalNs: [Double]
    var gaps: [Int]
    var lastSampleNs: [Int64]
    var lastValue: [Float]
    let hasDropout: Bool
    /// Gathers a column's valid samples and their rows for the filter chain.
    let scratch: UnsafeMutablePointer<Float>
    let scratchRows: UnsafeMutablePointer<Int32>

    init(name: String, binding: Int, spec: BindingSpec, defaultMaxSkewNs: Int64? = nil, clock: Int = 0) {
        self.name = name
        self.binding = binding
        self.clock = clock
        self.dedupMemory = spec.dedupMemory
        self.lengthNs = Clock.ns(ms: spec.window.lengthMs)
        self.latenessNs = Clock.ns(ms: spec.window.latenessMs)
        self.maxSkewNs = spec.timestamp.maxSkewNs ?? defaultMaxSkewNs
        self.skewIsDefault = spec.timestamp.maxSkewNs == nil
        self.maxOpenWindows = spec.limits.maxOpenWindows
        self.channelCount = spec.channels.count
        self.quantiles = spec.window.percentiles.map { $0 / 100 }
        self.timeWeightedMean = spec.window.timeWeightedMean
        self.vibrationConfigs = spec.channels.map { ch in
            ch.vibration.map { v in
                VibrationAccumulator.Config(fftSize: v.fftSize, sampleRateHz: v.sampleRateHz, bands: v.bands.map { ($0[0], $0[1]) })
            }
        }
        self.needsExtras = !quantiles.isEmpty || vibrationConfigs.contains { $0 != nil }
        self.watches = spec.channels.map { ch in
            ch.detectors.map { d in
                let det = ChannelDetector(d)
                let machine = AlertStateMachine(raiseAt: d.raiseAt, clearBelow: d.clearBelow, minSamples: d.minSamples,
                                                minDurationNs: Clock.ns(ms: d.minDurationMs), cooldownNs: Clock.ns(ms: d.cooldownMs),
                                                holdNs: Clock.ns(ms: d.holdMs))
                return Watch(detector: det, machine: machine,
                             severity: d.severity)
            }
        }
        self.deviceWatches = spec.deviceDetectors.map { d in
            let config = DeviceDetector.Config(learnRows: d.learnRows, learnNs: Clock.ns(ms: d.learnMs), baselineRows: d.baselineRows,
                                               smoothingRows: d.smoothingRows, margin: d.margin)
            let machine = AlertStateMachine(raiseAt: d.raiseAt, clearBelow: d.clearBelow, minSamples: d.minSamples,
                                            minDurationNs: Clock.ns(ms: d.minDurationMs), cooldownNs: Clock.ns(ms: d.cooldownMs),
                                            holdNs: Clock.ns(ms: d.holdMs))
            return DeviceWatch(detector: DeviceDetector(channels: d.channels.count, config: config), machine: machine,
                               severity: d.severity, channels: d.channels)
        }
        self.rowValues = .allocate(capacity: DeviceDetectorSpec.maxChannels)
        self.lastSampleNs = Array(repeating: .min, count: spec.channels.count)
        self.intervalNs = Array(repeating: 0, count: spec.channels.count)
        self.gaps = Array(repeating: 0, count: spec.channels.count)
        self.lastValue = Array(repeating: .nan, count: spec.channels.count)
        self.hasDropout = spec.channels.contains { $0.detectors.contains { if case .dropout = $0.kind { return true } else { return false } } }
        self.filters = spec.channels.map { $0.filters.map(ChannelFilter.init) }
        self.laneGroups = LaneGroup.plan(spec)
        for g in laneGroups { for c in g.channels { filters[c] = [] } }
        open.reserveCapacity(4)
        let n = Swift.max(1, spec.channels.count)
        batchTs = .allocate(capacity: DeviceState.batchCapacity)
        batchMark = .allocate(capacity: DeviceState.batchCapacity)
        batchFirstRow = .allocate(capacity: DeviceState.batchCapacity)
        batchColumns = .allocate(capacity: DeviceState.batchCapacity * n)
        scratch = .allocate(capacity: DeviceState.batchCapacity)
        scratchRows = .allocate(capacity: DeviceState.batchCapacity)
        validMin = .allocate(capacity: n)
        validMax = .allocate(capacity: n)
        watched = .allocate(capacity: n)
        for (i, c) in spec.channels.enumerated() {
            // round outward so that a Float sample equal to a Double bound is inside the range
            validMin[i] = c.validMin.map { Float($0).nextDown } ?? -.infinity
            validMax[i] = c.validMax.map { Float($0).nextUp } ?? .infinity
            watched[i] = !c.detectors.isEmpty
        }
    }

    deinit {
        validMin.deallocate(); validMax.deallocate(); watched.deallocate(); rowValues.deallocate()
        batchTs.deallocate(); batchMark.deallocate(); batchFirstRow.deallocate(); batchColumns.deallocate()
        scratch.deallocate(); scratchRows.deallocate()
        for g in laneGroups { g.frames.deallocate() }
        for w in open { w.stats.deallocate() }
        for p in pool { p.0.deallocate() }
    }

    /// Whether `ts` is new among this device's last `dedupMemory` row times (and remembers it).
    @inline(__always)
    func firstSight(_ ts: Int64) -> Bool {
        if seenTimes.contains(ts) { return false }
        if seenRing.count < dedupMemory {
            seenRing.append(ts)
        } else {
            seenTimes.remove(seenRing[seenHead])
            seenRing[seenHead] = ts
            seenHead = (seenHead + 1) % dedupMemory
        }
        seenTimes.insert(ts)
        return true
    }

    /// Notes a sample of channel `c` at `ts` (newer than the last) for dropout detection.
    @inline(__always)
    func sampleArrived(_ c: Int, _ ts: Int64, _ x: Float) {
        if lastSampleNs[c] != .min {
            let gap = Double(ts - lastSampleNs[c])
            intervalNs[c] = gaps[c] == 0 ? gap : intervalNs[c] + 0.1 * (gap - intervalNs[c])
            gaps[c] += 1
        }
        lastSampleNs[c] = ts
        lastValue[c] = x
    }

    @inline(__always)
    func windowStart(_ ts: Int64) -> Int64 {
        let r = ts % lengthNs
        return r >= 0 ? ts - r : ts - r - lengthNs
    }

    /// A fresh window's accumulators (from the pool when it has some).
    private func newWindow(start: Int64) -> OpenWindow {
        let stats: UnsafeMutablePointer<WindowStats>
        var extras: WindowExtras?
        if let p = pool.popLast() {
            stats = p.0
            extras = p.1
            extras?.reset()
        } else {
            stats = .allocate(capacity: Swift.max(1, channelCount))
            if needsExtras { extras = WindowExtras(channels: channelCount, percentiles: !quantiles.isEmpty, vibration: vibrationConfigs) }
        }
        stats.initialize(repeating: WindowStats(), count: Swift.max(1, channelCount))
        return OpenWindow(startNs: start, stats: stats, extras: extras)
    }

    /// The index in `open` of the window holding `ts`, opening it if needed; nil if that window
    /// has closed (its end plus the allowed lateness is at or before the watermark).
    @inline(__always)
    func window(for ts: Int64, watermarkNs: Int64) -> Int? {
        let start = windowStart(ts)
        if start &+ lengthNs &+ latenessNs <= watermarkNs { return nil }
        // in order, the newest window is the one (checked first); otherwise binary search
        var i: Int
        if let last = open.last, last.startNs <= start {
            if last.startNs == start { return open.count - 1 }
            i = open.count - 1
        } else {
            var lo = 0, hi = open.count  // first window starting at or after `start`
            while lo < hi {
                let mid = (lo + hi) >> 1
                if open[mid].startNs < start { lo = mid + 1 } else { hi = mid }
            }
            if lo < open.count && open[lo].startNs == start { return lo }
            i = lo - 1
        }
        guard open.count < maxOpenWindows else {
            refusedWindow = true
            return nil
        }
        open.insert(newWindow(start: start), at: i + 1)
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

    func recycle(_ w: OpenWindow) {
        if pool.count < 4 { pool.append((w.stats, w.extras)) } else { w.stats.deallocate() }
    }
}

/// A device's state in a checkpoint: everything processing changes (open windows with their
/// statistics, sketches and vibration accumulators; filters; detectors and alert states; dropout
/// tracking; when it was last seen). The pending batch is always empty here: the pipeline
/// flushes before it checkpoints.
extension DeviceState {
    func save(to w: inout StateWriter) {
        w.write(lastSeenNs)
        w.write(idleByArrival)
        w.write(UInt32(open.count))
        for win in open {
            w.write(win.startNs)
            for c in 0..<channelCount { win.stats[c].save(to: &w) }
            if let x = win.extras {
                for sk in x.sketches { sk.save(to: &w) }
                for v in x.vibration { v?.save(to: &w) }
            }
        }
        for c in 0..<channelCount {
            for watch in watches[c] { watch.detector.save(to: &w); watch.machine.save(to: &w) }
            for f in filters[c] { f.save(to: &w) }
        }
        for g in laneGroups { g.save(to: &w) }
        for watch in deviceWatches { watch.detector.save(to: &w); watch.machine.save(to: &w) }
        w.write(intervalNs)
        w.write(gaps)
        w.write(lastSampleNs)
        w.write(lastValue)
        if dedupMemory > 0 { w.write(seenRing); w.write(seenHead) }
    }

    /// Overwrites this device's state (made from the current binding) with a saved one; throws if
    /// it does not fit the binding. Called on a fresh device only (no open windows yet).
    func restore(from r: inout StateReader) throws(StateCodingError) {
        lastSeenNs = try r.read(Int64.self)
        idleByArrival = try r.read(Bool.self)
        let n = Int(try r.read(UInt32.self))
        guard n <= maxOpenWindows else { throw StateCodingError("\(n) open windows, over limits.max_open_windows") }
        var restored: [OpenWindow] = []
        defer { for w in restored { open.append(w) } }  // so that deinit frees them, even after a throw
        for _ in 0..<n {
            let start = try r.read(Int64.self)
            guard start == windowStart(start), restored.last.map({ $0.startNs < start }) ?? true else {
                throw StateCodingError("a window start that does not fit the window length")
            }
            let win = newWindow(start: start)
            restored.append(win)
            for c in 0..<channelCount { try win.stats[c].restore(from: &r) }
            if let x = win.extras {
                for i in x.sketches.indices { try x.sketches[i].restore(from: &r) }
                for i in x.vibration.indices where x.vibration[i] != nil { try x.vibration[i]!.restore(from: &r) }
            }
        }
        for c in 0..<channelCount {
            for k in watches[c].indices {
                try watches[c][k].detector.restore(from: &r)
                try watches[c][k].machine.restore(from: &r)
            }
            for k in filters[c].indices { try filters[c][k].restore(from: &r) }
        }
        for g in laneGroups.indices { try laneGroups[g].restore(from: &r) }
        for k in deviceWatches.indices {
            try deviceWatches[k].detector.restore(from: &r)
            try deviceWatches[k].machine.restore(from: &r)
        }
        intervalNs = try r.read([Double].self, count: channelCount)
        gaps = try r.read([Int].self, count: channelCount)
        lastSampleNs = try r.read([Int64].self, count: channelCount)
        lastValue = try r.read([Float].self, count: channelCount)
        if dedupMemory > 0 {
            let ring = try r.read([Int64].self, max: dedupMemory)
            let head = try r.read(Int.self)
            let set = Set(ring)
            guard head >= 0, head < Swift.max(1, ring.count), set.count == ring.count else { throw StateCodingError("a damaged dedup memory") }
            seenRing = ring
            seenHead = head
            seenTimes = set
        }
        guard r.isAtEnd else { throw StateCodingError("bytes left over after the device's state") }
    }
}
