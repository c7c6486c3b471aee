import DewpointCore
import DewpointDecode
import DewpointSignal
import Logging

/// The processing engine: frame → decoder → range check → windows and detectors → records.
///
/// Contract:
/// - Threading: one thread owns a `Pipeline`; nothing in it is locked. Sources reach it through a
///   `BoundedQueue`.
/// - Time: in `.eventTime` mode (replay) the watermark is the newest event time seen, so output
///   depends only on the input. In `.external` mode (live) there are two clocks. Devices fed by
///   sources without a backlog (serial, capture, sockets) follow the wall clock
///   (`advanceClock(nowNs:)`), so a silent device still gets its windows closed. Devices fed by
///   the MQTT input follow the event time of what it delivers while it delivers (the backlog of
///   a persistent session after a restart or a reconnect is then never late), the wall clock
///   once it has been idle for `inputIdleNs`, and stand still while it is disconnected.
/// - Checkpoints: `checkpoint(into:)` gives the state changed since the last call, and
///   `restore(_:version:)` puts it back before any source starts (see `Pipeline+Checkpoint`).
/// - Output is synchronous: records reach the sink before the call that produced them returns.
public final class Pipeline {
    public enum WatermarkMode: Sendable { case eventTime, external }

    public let agentId: String
    public let bindings: [BindingSpec]
    /// Each binding's `fingerprint`, made once: a checkpoint writes it for every device that
    /// changed, and making it describes the binding's windows and channels through reflection.
    let stateFingerprints: [UInt64]
    /// Counters live in plain memory: updating them per sample costs no exclusivity check.
    let hot: UnsafeMutablePointer<HotState>
    public var counters: PipelineCounters { hot.pointee.counters }

    struct HotState {
        var counters = PipelineCounters()
        var devicesByName = 0
        var nextEvictionNs: Int64 = .min
    }
    /// One clock's state. Index 0: the wall clock (replay: the event time, for every device);
    /// index 1: the MQTT input's clock (live only).
    struct ClockState {
        var watermarkNs: Int64 = .min
        var maxEventNs: Int64 = .min
        var nextCloseNs: Int64 = .max
        /// Arrival time of the last frame on this clock (live), or when the input last connected.
        var lastFrameNs: Int64 = .min
    }
    let clocks: UnsafeMutablePointer<ClockState>
    /// Whether the MQTT input is connected (its clock stands still while it is not).
    var inputOnline = false
    /// How long the MQTT input must be quiet before the wall clock drives its devices' windows.
    public var inputIdleNs: Int64 = 2_000_000_000
    /// The MQTT deliveries processed whose acknowledgements are not yet written (checkpointed).
    var ledger = AckLedger()
    /// Arrival times of the frames that raised or cleared alerts since the runner last took them
    /// (live; at most 4096), for the arrival-to-commit latency metric.
    var alertArrivals: [Int64] = []
    /// Rate-limited diagnostics (decode errors, unknown topics), as warnings.
    public let logger: Logger

    private let sink: any RecordSink
    private let seq: any SeqAllocator
    private let mode: WatermarkMode
    private let decoders: [FrameDecoder]
    private var routes: [(filter: TopicFilter, binding: Int, deviceLevel: Int?, channelLevel: Int?)] = []
    var devices: [DeviceState] = []
    /// Devices that batched rows since the last `flush` (each once), so that a flush after every
    /// network pass visits those, not every device of a wildcard binding.
    private var dirty: [DeviceState] = []
    /// Device per binding when the binding names exactly one device.
    var fixedDevice: [DeviceState?]
    var byName: [[String: DeviceState]]
    /// Devices whose state changed since the last checkpoint (each once), and the keys of devices
    /// evicted since then.
    var changed: [DeviceState] = []
    var evictedKeys: [String] = []
    private var values: UnsafeMutableBufferPointer<Float>
    private var captures: [Range<Int>]?
    private var closing: [(DeviceState, DeviceState.OpenWindow)] = []
    private var out: [UInt8] = []
    private let encoder = RecordEncoder()
    private var logBudget: [String: Int] = [:]
    private let hasDropout: Bool
    /// `limits.max_payload` per binding, read on every frame.
    private let maxPayloads: [Int]
    /// Live, payload times may stray at most an hour from the wall clock unless a binding says
    /// otherwise (far-future times would open windows that never close); replay's arrival times
    /// are the recording's, so there only `max_skew` applies.
    var defaultMaxSkewNs: Int64? { mode == .external ? TimestampSpec.defaultMaxSkewNs : nil }
    private var nextDropoutCheckNs: Int64 = .min

    public init(agentId: String, bindings: [BindingSpec], sink: any RecordSink, seq: any SeqAllocator,
                mode: WatermarkMode = .eventTime, logger: Logger = Logger(label: "dewpoint.pipeline")) throws(DecodeError) {
        self.agentId = agentId
        self.logger = logger
        self.bindings = bindings
        self.sink = sink
        self.seq = seq
        self.mode = mode
        var decs: [FrameDecoder] = []
        for b in bindings { decs.append(try FrameDecoder(binding: b)) }
        self.decoders = decs
        self.maxPayloads = bindings.map(\.limits.maxPayload)
        self.stateFingerprints = bindings.map(Pipeline.fingerprint)
        self.fixedDevice = Array(repeating: nil, count: bindings.count)
        self.byName = Array(repeating: [:], count: bindings.count)
        self.hasDropout = bindings.contains { $0.channels.contains { $0.detectors.contains { if case .dropout = $0.kind { return true } else { return false } } } }
        self.hot = .allocate(capacity: 1)
        hot.initialize(to: HotState())
        self.clocks = .allocate(capacity: 2)
        clocks.initialize(repeating: ClockState(), count: 2)
        let maxCells = decs.map { $0.channelCount * $0.maxRows }.max() ?? 1
        self.values = .allocate(capacity: Swift.max(1, maxCells))
        var maxLevels = 1
        for (i, b) in bindings.enumerated() {
            if case .mqtt(let m) = b.transport {
                routes.append((m.topic, i, m.topic.levelIndex(named: "device"), m.topic.levelIndex(named: "channel")))
                maxLevels = Swift.max(maxLevels, m.topic.levels.count)
                if m.topic.levelIndex(named: "device") != nil { continue }
            }
            let d = DeviceState(name: b.name, binding: i, spec: b, defaultMaxSkewNs: defaultMaxSkewNs, clock: clock(of: b))
            fixedDevice[i] = d
            devices.append(d)
        }
        captures = Array(repeating: 0..<0, count: maxLevels)
        out.reserveCapacity(4096)
    }

    deinit {
        values.deallocate()
        hot.deinitialize(count: 1)
        hot.deallocate()
        clocks.deinitialize(count: 2)
        clocks.deallocate()
    }

    /// The clock a binding's devices follow: the MQTT input's, live, for MQTT bindings.
    func clock(of b: BindingSpec) -> Int {
        if mode == .external, case .mqtt = b.transport { return 1 }
        return 0
    }

    /// The watermark of the clock `device` follows.
    @inline(__always)
    func watermark(_ d: DeviceState) -> Int64 { clocks[d.clock].watermarkNs }

    // MARK: Input

    /// Routes an MQTT message to its binding by topic and processes it.
    public func ingestMQTT(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, arrivalNs: Int64) {
        hot.pointee.counters.frames += 1
        clocks[1].lastFrameNs = arrivalNs
        for r in routes where r.filter.matches(topic, captures: &captures) {
            guard payload.count <= maxPayloads[r.binding] else { oversize(payload.count, binding: r.binding); return }
            var device: DeviceState
            if let d = fixedDevice[r.binding] {
                device = d
            } else {
                let range = captures![r.deviceLevel!]
                guard let d = lookupDevice(UnsafeRawBufferPointer(rebasing: topic[range]), binding: r.binding) else { return }
                device = d
            }
            var only: Int? = nil
            if let cl = r.channelLevel {
                let name = UnsafeRawBufferPointer(rebasing: topic[captures![cl]])
                guard let ci = bindings[r.binding].channels.firstIndex(where: { $0.name.utf8.elementsEqual(name) }) else {
                    hot.pointee.counters.unknownChannel += 1
                    note("unknown_channel", "topic \(logExcerpt(topic)) names no channel of binding \(bindings[r.binding].name)")
                    return
                }
                only = ci
            }
            process(device: device, payload: payload, arrivalNs: arrivalNs, onlyChannel: only)
            return
        }
        hot.pointee.counters.unknownTopic += 1
        note("unknown_topic", "no binding matches topic \(logExcerpt(topic))")
    }

    /// Processes one frame for a binding that names a single device (serial, capture).
    public func ingest(binding: Int, payload: UnsafeRawBufferPointer, arrivalNs: Int64) {
        hot.pointee.counters.frames += 1
        guard payload.count <= maxPayloads[binding] else { oversize(payload.count, binding: binding); return }
        guard let d = device(of: binding) else { return }
        process(device: d, payload: payload, arrivalNs: arrivalNs, onlyChannel: nil)
    }

    /// Processes one already-decoded row (CSV time series); `row` holds one value per channel, NaN
    /// for none.
    public func ingestRow(binding: Int, tsNs: Int64, row: UnsafeBufferPointer<Float>) {
        hot.pointee.counters.frames += 1
        guard let d = device(of: binding) else { return }
        for i in 0..<d.channelCount { values[i] = i < row.count ? row[i] : .nan }
        accept(device: d, tsNs: tsNs)
    }

    /// The device of a binding that names one; a binding that takes device names from topic
    /// levels cannot take frames without a topic: counted and logged, not dropped silently.
    private func device(of binding: Int) -> DeviceState? {
        if let d = fixedDevice[binding] { return d }
        hot.pointee.counters.decodeErrors += 1
        note("decode_error", "binding \(bindings[binding].name) takes device names from its MQTT topic; a frame without a topic cannot be routed")
        return nil
    }

    private func oversize(_ size: Int, binding: Int) {
        hot.pointee.counters.oversize += 1
        note("oversize", "binding \(bindings[binding].name): a frame of \(size) bytes is over limits.max_payload (\(bindings[binding].limits.maxPayload)); dropped")
    }

    /// The device a `+device` topic level names, made on first sight; nil (counted and logged)
    /// for a name outside the binding's rule or beyond its `max_devices`.
    private func lookupDevice(_ name: UnsafeRawBufferPointer, binding: Int) -> DeviceState? {
        let limits = bindings[binding].limits
        // only valid names are ever stored, so a known name needs no check; the length is
        // checked first so that a huge level is never copied into a key
        if name.count <= limits.maxNameLength, let d = byName[binding][String(decoding: name, as: UTF8.self)] { return d }
        guard limits.accepts(name: name) else {
            hot.pointee.counters.invalidNames += 1
            note("invalid_name", "binding \(bindings[binding].name): device name '\(logExcerpt(name))' refused: a name is 1 to \(limits.maxNameLength) bytes of letters, digits, '.', '_' and '-'")
            return nil
        }
        let key = String(decoding: name, as: UTF8.self)  // names up to 15 bytes stay inline: no allocation
        guard byName[binding].count < limits.maxDevices else {
            hot.pointee.counters.deviceLimit += 1
            note("device_limit", "binding \(bindings[binding].name): \(limits.maxDevices) devices are tracked (limits.max_devices); a message for new device '\(key)' dropped")
            return nil
        }
        let d = DeviceState(name: key, binding: binding, spec: bindings[binding], defaultMaxSkewNs: defaultMaxSkewNs,
                            clock: clock(of: bindings[binding]))
        byName[binding][key] = d
        devices.append(d)
        hot.pointee.devicesByName += 1
        return d
    }

    /// Devices seen through `+device` levels now tracked (over every binding).
    public var trackedDevices: Int { hot.pointee.devicesByName }

    /// Drops `+device` devices silent for their binding's `device_idle`: their raised alerts are
    /// cleared and their open windows emitted first (as partial summaries when they have not
    /// ended), then their state goes.
    private func evictIdle() {
        guard hot.pointee.devicesByName > 0 else { return }
        var evicted: [DeviceState] = []
        for d in devices where fixedDevice[d.binding] == nil {
            let watermark = self.watermark(d)
            let idle = bindings[d.binding].limits.deviceIdleMs
            guard idle > 0, d.lastSeenNs != .min, watermark > d.lastSeenNs &+ Clock.ns(ms: idle) else { continue }
            evicted.append(d)
        }
        guard !evicted.isEmpty else { return }
        drop(evicted)
        hot.pointee.counters.devicesEvicted += evicted.count
        note("device_evicted", "\(evicted.count) idle device\(evicted.count == 1 ? "" : "s") dropped (limits.device_idle), e.g. \(evicted[0].name) of binding \(bindings[evicted[0].binding].name)")
    }

    /// Ends the devices of the bindings named (a reload removes them, or changes their windows or
    /// channels so that their state cannot carry over): raised alerts are cleared and open
    /// windows emitted (as partial summaries when they have not ended), then their state goes.
    public func retire(bindings names: Set<String>) -> Int {
        flush()
        let gone = devices.filter { names.contains(bindings[$0.binding].name) }
        guard !gone.isEmpty else { return 0 }
        drop(gone)
        return gone.count
    }

    /// Emits what `devices` hold and forgets them (see `evictIdle`, `retire`).
    private func drop(_ evicted: [DeviceState]) {
        for d in evicted {
            let watermark = self.watermark(d)
            // a raised alert is cleared before its state goes, so that no consumer waits for ever
            for c in 0..<d.channelCount {
                for k in 0..<d.watches[c].count where d.watches[c][k].machine.isRaised {
                    emitAlert(d, c, k, .cleared, score: 0, value: d.lastValue[c], ts: watermark)
                }
            }
            for k in 0..<d.deviceWatches.count where d.deviceWatches[k].machine.isRaised {
                emitDeviceAlert(d, k, .cleared, score: 0, ts: watermark)
            }
            for w in d.open {
                emitSummary(d, w, partial: w.startNs + d.lengthNs > watermark)
                d.recycle(w)
            }
            d.open.removeAll()
            byName[d.binding][d.name] = nil
            evictedKeys.append(checkpointKey(d))
        }
        let gone = Set(evicted.map { ObjectIdentifier($0) })
        devices.removeAll { gone.contains(ObjectIdentifier($0)) }
        changed.removeAll { gone.contains(ObjectIdentifier($0)) }
        // a binding's own device is not counted among those named by topic levels
        hot.pointee.devicesByName -= evicted.filter { fixedDevice[$0.binding] !== $0 }.count
        // a binding's own device starts afresh (frames may still come for it)
        for d in evicted where fixedDevice[d.binding] === d {
            let b = bindings[d.binding]
            let fresh = DeviceState(name: b.name, binding: d.binding, spec: b, defaultMaxSkewNs: defaultMaxSkewNs, clock: clock(of: b))
            fixedDevice[d.binding] = fresh
            devices.append(fresh)
        }
        recomputeNextClose()
    }

    func recomputeNextClose() {
        clocks[0].nextCloseNs = .max
        clocks[1].nextCloseNs = .max
        for d in devices where d.nextCloseNs < clocks[d.clock].nextCloseNs { clocks[d.clock].nextCloseNs = d.nextCloseNs }
    }

    @inline(__always)
    private func process(device: DeviceState, payload: UnsafeRawBufferPointer, arrivalNs: Int64, onlyChannel: Int?) {
        // idle is measured on the clock that moves the watermark: arrival live, event time in replay (`accept`)
        if mode == .external && arrivalNs > 0 { device.lastSeenNs = arrivalNs; device.idleByArrival = true }
        let decoder = decoders[device.binding]
        do {
            if decoder.maxRows == 1 && !decoder.fansOut {
                let ts = try decoder.decode(payload, arrivalNs: arrivalNs, onlyChannel: onlyChannel,
                                            into: UnsafeMutableBufferPointer(rebasing: values[0..<device.channelCount]))
                accept(device: device, tsNs: checkSkew(ts, arrivalNs, device), row: 0)
            } else {
                let (_, rows) = try decoder.decodeRows(payload, arrivalNs: arrivalNs, onlyChannel: onlyChannel, into: values)
                for r in 0..<rows { accept(device: device, tsNs: checkSkew(decoder.rowTimes[r], arrivalNs, device), row: r) }
                if let e = decoder.trailingError {  // rows came out, but part of the frame was bad
                    decoder.trailingError = nil
                    hot.pointee.counters.decodeErrors += 1
                    note("decode_error", "device \(device.name): \(e)")
                }
            }
        } catch {
            if error.ignorable {
                hot.pointee.counters.ignoredFrames += 1
            } else {
                hot.pointee.counters.decodeErrors += 1
                device.decodeErrors += 1
                note("decode_error", "device \(device.name): \(error)")
            }
        }
    }

    /// A payload time too far from the gateway's clock is replaced by the arrival time, counted
    /// and logged (a device with a dead RTC battery reports 1970).
    @inline(__always)
    private func checkSkew(_ ts: Int64, _ arrivalNs: Int64, _ device: DeviceState) -> Int64 {
        guard let limit = device.maxSkewNs, ts != arrivalNs else { return ts }
        // the default limit needs a real arrival time (a caller without one passes 0)
        if device.skewIsDefault && arrivalNs <= 0 { return ts }
        // a time no sensor means is a decode error (`accept`), not a skewed clock
        guard ts > -Pipeline.timeLimitNs && ts < Pipeline.timeLimitNs else { return ts }
        let d = ts > arrivalNs ? ts &- arrivalNs : arrivalNs &- ts
        if d <= limit && d >= 0 { return ts }
        hot.pointee.counters.clockSkew += 1
        note("clock_skew", "device \(device.name): payload time \(TimeParser.formatRFC3339(ns: ts)) is \(d / 1_000_000_000) s from the gateway clock; using arrival time")
        return arrivalNs
    }

    /// Times this far from the epoch would overflow window arithmetic (and no sensor means them).
    static let timeLimitNs: Int64 = 4_000_000_000_000_000_000  // about year 2096 / 1843

    /// Appends one decoded row to the device's columnar batch. The batch is processed when full,
    /// when a window is due to close, and on `flush()`/`advance`/`finish`, so results do not depend
    /// on batch boundaries: each row keeps the watermark it arrived under, which alone decides
    /// whether it is late.
    @inline(__always)
    private func accept(device: DeviceState, tsNs: Int64, row: Int = 0) {
        guard tsNs > -Pipeline.timeLimitNs && tsNs < Pipeline.timeLimitNs else {
            hot.pointee.counters.decodeErrors += 1
            note("decode_error", "device \(device.name): timestamp \(tsNs) ns is out of range")
            return
        }
        if device.dedupMemory > 0 && !device.firstSight(tsNs) {
            hot.pointee.counters.duplicates += 1
            note("duplicate", "device \(device.name): a row with time \(TimeParser.formatRFC3339(ns: tsNs)) was already received (dedup); dropped")
            return
        }
        if !device.idleByArrival && tsNs > device.lastSeenNs { device.lastSeenNs = tsNs }
        let clock = clocks + device.clock
        if tsNs > clock.pointee.maxEventNs {
            clock.pointee.maxEventNs = tsNs
        }
        if mode == .eventTime && tsNs > clock.pointee.watermarkNs {
            clock.pointee.watermarkNs = tsNs
            // in replay, dropouts are checked as event time passes (at most once a second of it)
            if hasDropout && tsNs >= nextDropoutCheckNs {
                nextDropoutCheckNs = tsNs &+ 1_000_000_000
                flush()
                checkDropouts()
            }
            if hot.pointee.devicesByName > 0 && tsNs >= hot.pointee.nextEvictionNs {
                flush()
                checkEviction(tsNs)
            }
        }
        let r = device.batchCount
        if !device.listedDirty {
            device.listedDirty = true
            dirty.append(device)
            if !device.changed { device.changed = true; changed.append(device) }
        }
        let cap = DeviceState.batchCapacity
        device.batchTs[r] = tsNs
        device.batchMark[r] = clock.pointee.watermarkNs
        device.batchFirstRow[r] = row == 0
        let base = row * device.channelCount
        for c in 0..<device.channelCount { device.batchColumns[c * cap + r] = values[base + c] }
        device.batchCount = r + 1
        let close = device.windowStart(tsNs) &+ device.lengthNs &+ device.latenessNs
        if close < clock.pointee.nextCloseNs { clock.pointee.nextCloseNs = close }
        if r + 1 == cap { processBatch(device) }
        if clock.pointee.watermarkNs >= clock.pointee.nextCloseNs {
            flush()
            closeWindows(partialAfterNs: .max)
        }
    }

    /// Processes every pending batch (records reach the sink before this returns).
    public func flush() {
        for d in dirty {
            if d.batchCount > 0 { processBatch(d) }
            d.listedDirty = false
        }
        dirty.removeAll(keepingCapacity: true)
    }

    /// Column stage (per channel, contiguous in time), then row stage (windows and detectors in
    /// arrival order).
    private func processBatch(_ d: DeviceState) {
        let n = d.batchCount
        guard n > 0 else { return }
        d.batchCount = 0
        let cap = DeviceState.batchCapacity
        let cc = d.channelCount
        var missing = 0, outOfRange = 0, accepted = 0
        for c in 0..<cc {
            let col = d.batchColumns + c * cap
            let lo = d.validMin[c], hi = d.validMax[c]
            for r in 0..<n {
                let x = col[r]
                if x.isNaN { if d.batchFirstRow[r] { missing += 1 }; continue }
                // false for NaN bounds only; infinite values are never valid
                if !(x >= lo && x <= hi) || !x.isFinite { col[r] = .nan; outOfRange += 1; continue }
                accepted += 1
                // a sample counts against dropout even if a deadband or decimation holds it back
                if d.hasDropout && d.batchTs[r] > d.lastSampleNs[c] { d.sampleArrived(c, d.batchTs[r], x) }
            }
        }
        // Filters run here: channels sharing a Butterworth across SIMD lanes, the rest per column
        // (the channel's valid samples in arrival order, gathered contiguously, filtered, put back;
        // rows without a sample stay NaN).
        for g in d.laneGroups.indices { d.laneGroups[g].process(columns: d.batchColumns, capacity: cap, rows: n) }
        for c in 0..<cc where !d.filters[c].isEmpty { filterColumn(d, c, d.batchColumns + c * cap, n) }
        hot.pointee.counters.missingValues += missing
        hot.pointee.counters.outOfRange += outOfRange
        hot.pointee.counters.samples += accepted
        d.samplesTotal += accepted
        // every drop kind is logged with the counted rate limit (once per batch here, not per sample)
        if outOfRange > 0 {
            note("out_of_range", "device \(d.name): \(outOfRange) value\(outOfRange == 1 ? "" : "s") outside the channels' range (or infinite) dropped")
        }
        let watched = d.watched
        var late = 0
        var refused = 0
        for r in 0..<n {
            let ts = d.batchTs[r]
            var stats: UnsafeMutablePointer<WindowStats>? = nil
            var extras: DeviceState.WindowExtras? = nil
            var looked = false
            for c in 0..<cc {
                let x = d.batchColumns[c * cap + r]
                if x.isNaN { continue }
                if !looked {
                    looked = true
                    if let i = d.window(for: ts, watermarkNs: d.batchMark[r]) {
                        stats = d.open[i].stats
                        // only bindings with percentiles or vibration pay for the reference
                        if d.needsExtras { extras = d.open[i].extras }
                    }
                }
                if let stats {
                    stats[c].add(x, ts: ts)
                    extras?.add(c, x)
                } else if d.refusedWindow {
                    refused += 1
                } else {
                    late += 1
                }
                if watched[c] { detect(d, c, x, ts) }
            }
            if looked && !d.deviceWatches.isEmpty { detectDevice(d, row: r, ts: ts) }
        }
        hot.pointee.counters.lateSamples += late
        if late > 0 {
            note("late_samples", "device \(d.name): \(late) sample\(late == 1 ? "" : "s") for windows already closed (beyond window.lateness) left out of summaries")
        }
        if refused > 0 {
            d.refusedWindow = false
            hot.pointee.counters.windowLimit += refused
            note("window_limit", "device \(d.name): \(d.maxOpenWindows) windows are open (limits.max_open_windows); \(refused) samples for another window dropped")
        }
        clocks[d.clock].nextCloseNs = Swift.min(clocks[d.clock].nextCloseNs, d.nextCloseNs)
    }

    private func filterColumn(_ d: DeviceState, _ c: Int, _ col: UnsafeMutablePointer<Float>, _ n: Int) {
        var count = 0
        for r in 0..<n where !col[r].isNaN {
            d.scratch[count] = col[r]
            d.scratchRows[count] = Int32(r)
            count += 1
        }
        guard count > 0 else { return }
        let values = UnsafeMutableBufferPointer(start: d.scratch, count: count)
        let rows = UnsafeMutableBufferPointer(start: d.scratchRows, count: count)
        var left = count
        for k in 0..<d.filters[c].count where left > 0 {
            left = d.filters[c][k].process(UnsafeMutableBufferPointer(rebasing: values[0..<left]),
                                           positions: UnsafeMutableBufferPointer(rebasing: rows[0..<left]))
        }
        if left < count {
            // removed samples leave their rows empty for this channel
            for r in 0..<n { col[r] = .nan }
            hot.pointee.counters.filteredOut += count - left
            hot.pointee.counters.samples -= count - left
        }
        for j in 0..<left { col[Int(rows[j])] = values[j] }
    }

    private func detect(_ device: DeviceState, _ c: Int, _ x: Float, _ ts: Int64) {
        for k in 0..<device.watches[c].count {
            let score = device.watches[c][k].detector.score(x, ts: ts)
            let t = device.watches[c][k].machine.observe(score: score, ts: ts)
            guard t != .none else { continue }
            emitAlert(device, c, k, t, score: score, value: x, ts: ts)
        }
    }

    /// Feeds row `r` of the batch to the device's multi-channel detectors.
    private func detectDevice(_ d: DeviceState, row r: Int, ts: Int64) {
        let cap = DeviceState.batchCapacity
        for k in 0..<d.deviceWatches.count {
            let chans = d.deviceWatches[k].channels
            var any = false
            for (j, c) in chans.enumerated() {
                let x = d.batchColumns[c * cap + r]
                d.rowValues[j] = x
                any = any || !x.isNaN
            }
            guard any else { continue }
            let score = d.deviceWatches[k].detector.observe(d.rowValues, stride: 1, ts: ts)
            let t = d.deviceWatches[k].machine.observe(score: score, ts: ts)
            guard t != .none else { continue }
            emitDeviceAlert(d, k, t, score: score, ts: ts)
        }
    }

    private func emitDeviceAlert(_ device: DeviceState, _ k: Int, _ t: AlertStateMachine.Transition, score: Double, ts: Int64) {
        let w = device.deviceWatches[k]
        let spec = bindings[device.binding]
        hot.pointee.counters.alerts += 1
        guard spec.output.alerts else { return }
        if mode == .external && device.idleByArrival && alertArrivals.count < 4096 { alertArrivals.append(device.lastSeenNs) }
        let message = DeviceAlertText.message(device: device.name, detector: w.detector, raised: t == .raised,
                                              names: w.channels.map { spec.channels[$0].name }, units: w.channels.map { spec.channels[$0].unit })
        let rec = AlertRecord(agent: agentId, device: device.name, channel: DeviceDetectorSpec.recordChannel, seq: seq.next(),
                              tsMs: floorMs(ts), state: t == .raised ? .raised : .cleared, severity: w.severity, detector: "device",
                              score: score, value: Float(w.detector.ratio), message: message)
        out.removeAll(keepingCapacity: true)
        encoder.encode(rec, into: &out)
        out.withUnsafeBytes { sink.write(kind: .alert, device: device.name, seq: rec.seq, json: $0) }
    }

    /// Dropout detectors are raised by time, not by samples: a channel silent for longer than its
    /// limit at the watermark (event time in replay, the wall clock live) raises, with the time
    /// the silence became too long.
    private func checkDropouts() {
        for d in devices where d.hasDropout {
            let watermark = self.watermark(d)
            for c in 0..<d.channelCount where d.lastSampleNs[c] != .min {
                for k in 0..<d.watches[c].count {
                    guard case .dropout(let after, let intervals, _) = d.watches[c][k].detector, !d.watches[c][k].machine.isRaised else { continue }
                    // the learned interval counts once it has seen 3 gaps
                    var limit = after
                    if intervals > 0 && d.gaps[c] >= 3 { limit = max(after, Int64(min(intervals * d.intervalNs[c], 9e18))) }
                    guard limit > 0 else { continue }
                    let due = d.lastSampleNs[c] &+ limit
                    guard watermark > due else { continue }
                    // the watermark as the time: it advances while the silence lasts, so a
                    // min_duration can elapse (`due` stays put)
                    let t = d.watches[c][k].machine.observe(score: 1, ts: watermark)
                    if !d.changed { d.changed = true; changed.append(d) }
                    if t == .raised {
                        d.watches[c][k].detector = .dropout(afterNs: after, intervals: intervals, limitNs: limit)
                        emitAlert(d, c, k, t, score: 1, value: d.lastValue[c], ts: due &+ d.watches[c][k].machine.minDurationNs)
                    }
                }
            }
        }
    }

    private func emitAlert(_ device: DeviceState, _ c: Int, _ k: Int, _ t: AlertStateMachine.Transition, score: Double, value x: Float, ts: Int64) {
        do {
            let w = device.watches[c][k]
            let spec = bindings[device.binding].channels[c]
            hot.pointee.counters.alerts += 1
            guard bindings[device.binding].output.alerts else { return }
            if mode == .external && device.idleByArrival && alertArrivals.count < 4096 { alertArrivals.append(device.lastSeenNs) }
            let rec = AlertRecord(agent: agentId, device: device.name, channel: spec.name, seq: seq.next(),
                                  tsMs: floorMs(ts), state: t == .raised ? .raised : .cleared,
                                  severity: w.severity, detector: w.detector.name, score: score, value: x,
                                  message: w.detector.explain(channel: spec.name, value: x, unit: spec.unit, raised: t == .raised))
            out.removeAll(keepingCapacity: true)
            encoder.encode(rec, into: &out)
            out.withUnsafeBytes { sink.write(kind: .alert, device: device.name, seq: rec.seq, json: $0) }
        }
    }

    // MARK: Time

    /// Moves every clock's watermark to `now` (tests, and replay's end of input). A window closes
    /// once the watermark passes its end plus its binding's allowed lateness.
    public func advance(watermarkNs now: Int64) {
        flush()
        for i in 0..<2 where now > clocks[i].watermarkNs { clocks[i].watermarkNs = now }
        afterAdvance(now)
    }

    /// Live mode, from the runner's loop: the wall clock drives the devices of sources without a
    /// backlog; the MQTT input's devices follow the event time it delivers (never past `now`),
    /// the wall clock once the input has been quiet for `inputIdleNs` with nothing left to
    /// acknowledge, and nothing while it is disconnected.
    public func advanceClock(nowNs now: Int64) {
        flush()
        if now > clocks[0].watermarkNs { clocks[0].watermarkNs = now }
        if inputOnline {
            let idle = ledger.isEmpty && (clocks[1].lastFrameNs == .min || now &- clocks[1].lastFrameNs >= inputIdleNs)
            let target = idle ? now : Swift.min(now, clocks[1].maxEventNs)
            if target > clocks[1].watermarkNs { clocks[1].watermarkNs = target }
        }
        afterAdvance(now)
    }

    private func afterAdvance(_ now: Int64) {
        if hasDropout { checkDropouts() }
        if clocks[0].watermarkNs >= clocks[0].nextCloseNs || clocks[1].watermarkNs >= clocks[1].nextCloseNs {
            closeWindows(partialAfterNs: .max)
        }
        checkEviction(now)
    }

    /// At most once a second: idle devices go (`limits.device_idle`).
    @inline(__always)
    private func checkEviction(_ now: Int64) {
        guard hot.pointee.devicesByName > 0, now >= hot.pointee.nextEvictionNs else { return }
        hot.pointee.nextEvictionNs = now &+ 1_000_000_000
        evictIdle()
    }

    /// Emits every open window: those whose end is past the newest event time are marked partial.
    /// Call at the end of a replay or on shutdown.
    public func finish() {
        flush()
        let newest = Swift.max(clocks[0].maxEventNs, clocks[1].maxEventNs)
        let marks = (clocks[0].watermarkNs, clocks[1].watermarkNs)
        clocks[0].watermarkNs = .max
        clocks[1].watermarkNs = .max
        closeWindows(partialAfterNs: mode == .eventTime ? newest : .min)
        // a checkpoint taken after this keeps the clocks where they were, not at the end of time
        (clocks[0].watermarkNs, clocks[1].watermarkNs) = marks
        sink.flush()
    }

    private func closeWindows(partialAfterNs: Int64) {
        closing.removeAll(keepingCapacity: true)
        for d in devices {
            let before = closing.count
            d.takeClosable(watermarkNs: watermark(d), into: &closing)
            if closing.count > before && !d.changed { d.changed = true; changed.append(d) }
        }
        closing.sort { a, b in
            a.1.startNs != b.1.startNs ? a.1.startNs < b.1.startNs : a.0.name < b.0.name
        }
        for (d, w) in closing {
            emitSummary(d, w, partial: w.startNs + d.lengthNs > partialAfterNs)
            d.recycle(w)
        }
        recomputeNextClose()
    }

    private func emitSummary(_ d: DeviceState, _ w: DeviceState.OpenWindow, partial: Bool) {
        let spec = bindings[d.binding]
        var chans: [ChannelSummary] = []
        chans.reserveCapacity(d.channelCount)
        for c in 0..<d.channelCount where w.stats[c].count > 0 {
            let s = w.stats[c]
            var summary = ChannelSummary(name: spec.channels[c].name, unit: spec.channels[c].unit, n: s.count,
                                         min: s.min, max: s.max, mean: s.mean, std: s.std, first: s.first, last: s.last)
            if let extras = w.extras, !extras.sketches.isEmpty {
                for (q, key) in zip(d.quantiles, spec.window.percentiles) {
                    summary.extra.append(SummaryField(Self.percentileKey(key), Double(extras.sketches[c].quantile(q))))
                }
            }
            if d.timeWeightedMean { summary.extra.append(SummaryField("twmean", s.timeWeightedMean)) }
            if let v = w.extras?.vibration[c]?.features {
                summary.extra += [SummaryField("rms", v.rms), SummaryField("peak", v.peak), SummaryField("p2p", v.peakToPeak),
                                  SummaryField("crest", v.crest), SummaryField("kurtosis", v.kurtosis),
                                  SummaryField("skewness", v.skewness), SummaryField("frames", Double(v.frames))]
                let bands = spec.channels[c].vibration?.bands ?? []
                summary.bands = zip(bands, v.bandEnergy).map { SummaryField("\(numberText($0.0[0]))-\(numberText($0.0[1]))", $0.1) }
            }
            chans.append(summary)
        }
        guard !chans.isEmpty else { return }
        hot.pointee.counters.summaries += 1
        guard spec.output.summaries else { return }
        let rec = SummaryRecord(agent: agentId, device: d.name, seq: seq.next(), startMs: floorMs(w.startNs),
                                endMs: floorMs(w.startNs + d.lengthNs), partial: partial, channels: chans)
        out.removeAll(keepingCapacity: true)
        encoder.encode(rec, into: &out)
        out.withUnsafeBytes { sink.write(kind: .summary, device: d.name, seq: rec.seq, json: $0) }
    }

    /// `p50`, `p99.9`: the percentile's key in a summary.
    static func percentileKey(_ q: Double) -> String { "p" + numberText(q) }

    @inline(__always)
    private func floorMs(_ ns: Int64) -> Int64 {
        ns >= 0 ? ns / 1_000_000 : (ns - 999_999) / 1_000_000
    }

    /// Logs the first 5 events of each kind, then every 1000th, so a flood of bad input cannot
    /// flood the journal. Deterministic (counts, not time), so replay logs are reproducible.
    private func note(_ kind: String, _ message: @autoclosure () -> String) {
        let n = (logBudget[kind] ?? 0) + 1
        logBudget[kind] = n
        if n <= 5 || n % 1000 == 0 {
            // messages quote what senders sent: escaped and capped, so that none can forge a
            // journal line or fill the journal
            logger.warning("\(kind) (#\(n)): \(logExcerpt(message(), limit: 400))")
        }
    }
}
