import DewpointCore
import DewpointPipeline
import CoreMetrics
import Prometheus
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What the agent's loop gathers once per metrics pass: the pipeline's totals (already aggregated
/// in plain memory per batch), every device, the spool, the upstream link and the sources.
struct MetricsSnapshot: Sendable {
    var pipeline = PipelineCounters()
    var devices: [DeviceSnapshot] = []
    var queueDropped = 0
    var spoolRecords = 0
    var spoolBytes: Int64 = 0
    var spoolMaxBytes: Int64 = 1
    var spoolDropped: Int64 = 0
    var spoolOldestAgeS: Double? = nil
    var deadLetters = 0
    var published = 0
    var acknowledged = 0
    var upstreamReconnects = 0
    var upstreamConnected = false
    /// Per source: its name, its counters, and whether it is connected (nil: no such state).
    var sources: [(name: String, counters: [(String, Int)], connected: Bool?)] = []
    var openWindows = 0
    var residentBytes = 0
    /// Arrival-to-commit latencies (ns) of the alerts committed since the last pass.
    var commitLatenciesNs: [Int64] = []
    /// The service watchdog's verdict: the name of a wedged thread, if any.
    var wedged: String? = nil
    var takenAtNs: UInt64 = 0
}

/// The agent's metrics, through swift-metrics, on a Prometheus registry of the agent's own (no
/// process-wide bootstrap, so that tests and reloads get a fresh one).
///
/// Cost: nothing on the per-sample path. The pipeline counts in plain memory as it always has;
/// once per pass (every second, under the pipeline's lock) the loop takes a snapshot, and the
/// metrics move by the difference since the last pass.
final class AgentMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let spec: MetricsSpec
    private let startedNs = Clock.wallNs()

    private struct Handles {
        var counters: [String: CoreMetrics.Counter] = [:]
        var gauges: [String: CoreMetrics.Gauge] = [:]
        var previous: [String: Int] = [:]
        /// Keys of the per-device handles alive in the last pass (devices come and go).
        var deviceKeys: Set<String> = []
        var lastSamples: [String: (samples: Int, atNs: UInt64)] = [:]
    }
    private let handles = Mutex(Handles())
    private let latency: CoreMetrics.Timer
    /// The last snapshot, for `/healthz` (the server's thread reads it).
    private let last = Mutex<MetricsSnapshot?>(nil)
    /// Since when each source has been seen disconnected (monotonic ns), by name.
    private let downSince = Mutex<[String: UInt64]>([:])
    /// A source reconnecting for less than this is retrying within its limits, not unhealthy.
    static let reconnectGraceNs: UInt64 = 10_000_000_000
    private let updateEveryNs: UInt64

    /// Whether the Prometheus registry is kept up to date (`metrics.listen` or `metrics.textfile`);
    /// without it only the snapshot for `/healthz` and `dewpoint status` is kept.
    let exportsMetrics: Bool
    /// Per device, its sample rate over the last pass (for `status`).
    private let rates = Mutex<[String: Double]>([:])

    init(spec: MetricsSpec) {
        self.spec = spec
        exportsMetrics = spec.enabled
        var f = PrometheusMetricsFactory(registry: registry)
        // arrival of a frame to the commit of the alert it raised: from 1 ms to 10 s
        f.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                             .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                                             .seconds(1), .seconds(2.5), .seconds(10)]
        factory = f
        latency = CoreMetrics.Timer(label: "dewpoint_alert_commit_latency_seconds", dimensions: [], preferredDisplayUnit: .seconds, factory: f)
        updateEveryNs = UInt64(min(spec.intervalMs, 2_000)) * 1_000_000
    }

    /// How often the loop should call `update`.
    var passIntervalNs: UInt64 { updateEveryNs }

    // MARK: Update

    private func counter(_ h: inout Handles, _ name: String, _ dims: [(String, String)], total: Int) {
        let key = name + dims.map { "|\($0.0)=\($0.1)" }.joined()
        let c = h.counters[key] ?? {
            let c = CoreMetrics.Counter(label: name, dimensions: dims, factory: factory)
            h.counters[key] = c
            return c
        }()
        let before = h.previous[key] ?? 0
        // a total that went down (a device evicted and back, a reload) starts a new count
        let delta = total >= before ? total - before : total
        if delta > 0 { c.increment(by: delta) }
        h.previous[key] = total
    }

    private func gauge(_ h: inout Handles, _ name: String, _ dims: [(String, String)], _ value: Double) {
        let key = name + dims.map { "|\($0.0)=\($0.1)" }.joined()
        let g = h.gauges[key] ?? {
            let g = CoreMetrics.Gauge(label: name, dimensions: dims, factory: factory)
            h.gauges[key] = g
            return g
        }()
        g.record(value)
    }

    /// Moves every metric to `s`.
    func update(_ s: MetricsSnapshot) {
        let now = Clock.monotonicNs()
        downSince.withLock { d in
            var next: [String: UInt64] = [:]
            for src in s.sources where src.connected == false { next[src.name] = d[src.name] ?? now }
            d = next
        }
        // per device, samples per second over the last pass (status, and the rate gauge)
        let newRates = handles.withLock { h -> [String: Double] in
            var r: [String: Double] = [:]
            var seen: [String: (samples: Int, atNs: UInt64)] = [:]
            for d in s.devices {
                let key = d.binding + "/" + d.device
                if let prev = h.lastSamples[key], now > prev.atNs { r[key] = Double(max(0, d.samples - prev.samples)) / (Double(now - prev.atNs) / 1e9) }
                seen[key] = (d.samples, now)
            }
            h.lastSamples = seen  // devices that went are forgotten
            return r
        }
        rates.withLock { $0 = newRates }
        guard exportsMetrics else {
            var kept = s
            kept.takenAtNs = now
            last.withLock { $0 = kept }
            return
        }
        handles.withLock { h in
            let p = s.pipeline
            counter(&h, "dewpoint_frames_total", [], total: p.frames)
            counter(&h, "dewpoint_samples_total", [], total: p.samples)
            counter(&h, "dewpoint_filtered_samples_total", [], total: p.filteredOut)
            counter(&h, "dewpoint_missing_values_total", [], total: p.missingValues)
            counter(&h, "dewpoint_summaries_total", [], total: p.summaries)
            counter(&h, "dewpoint_alert_transitions_total", [], total: p.alerts)
            counter(&h, "dewpoint_redelivered_total", [], total: p.redelivered)
            counter(&h, "dewpoint_devices_evicted_total", [], total: p.devicesEvicted)
            counter(&h, "dewpoint_clock_skew_total", [], total: p.clockSkew)
            for (reason, n) in [("decode_error", p.decodeErrors), ("ignored", p.ignoredFrames), ("out_of_range", p.outOfRange),
                                ("late", p.lateSamples), ("unknown_topic", p.unknownTopic), ("unknown_channel", p.unknownChannel),
                                ("oversize", p.oversize), ("invalid_name", p.invalidNames), ("device_limit", p.deviceLimit),
                                ("window_limit", p.windowLimit), ("duplicate", p.duplicates), ("queue_overflow", s.queueDropped)] {
                counter(&h, "dewpoint_dropped_total", [("reason", reason)], total: n)
            }
            counter(&h, "dewpoint_spool_dropped_total", [], total: Int(s.spoolDropped))
            counter(&h, "dewpoint_dead_letters_total", [], total: s.deadLetters)
            counter(&h, "dewpoint_upstream_published_total", [], total: s.published)
            counter(&h, "dewpoint_upstream_acknowledged_total", [], total: s.acknowledged)
            counter(&h, "dewpoint_upstream_reconnects_total", [], total: s.upstreamReconnects)
            gauge(&h, "dewpoint_spool_records", [], Double(s.spoolRecords))
            gauge(&h, "dewpoint_spool_bytes", [], Double(s.spoolBytes))
            gauge(&h, "dewpoint_spool_oldest_record_age_seconds", [], s.spoolOldestAgeS ?? 0)
            gauge(&h, "dewpoint_upstream_connected", [], s.upstreamConnected ? 1 : 0)
            gauge(&h, "dewpoint_open_windows", [], Double(s.openWindows))
            gauge(&h, "dewpoint_resident_memory_bytes", [], Double(s.residentBytes))
            gauge(&h, "dewpoint_uptime_seconds", [], Double(Clock.wallNs() - startedNs) / 1e9)
            for src in s.sources {
                for (name, n) in src.counters {
                    counter(&h, "dewpoint_source_events_total", [("source", src.name), ("event", name)], total: n)
                }
                if let c = src.connected { gauge(&h, "dewpoint_source_connected", [("source", src.name)], c ? 1 : 0) }
            }
            var perBinding: [String: Int] = [:]
            var raised = 0
            var alive = Set<String>()
            for d in s.devices {
                let dims = [("binding", d.binding), ("device", d.device)]
                let key = d.binding + "/" + d.device
                alive.insert(key)
                perBinding[d.binding, default: 0] += 1
                raised += d.raisedAlerts
                counter(&h, "dewpoint_device_samples_total", dims, total: d.samples)
                counter(&h, "dewpoint_device_decode_errors_total", dims, total: d.decodeErrors)
                if let t = d.lastSeenNs { gauge(&h, "dewpoint_device_last_seen_timestamp_seconds", dims, Double(t) / 1e9) }
                if let rate = newRates[key] { gauge(&h, "dewpoint_device_sample_rate", dims, rate) }
            }
            for (b, n) in perBinding { gauge(&h, "dewpoint_devices", [("binding", b)], Double(n)) }
            gauge(&h, "dewpoint_alerts_raised", [], Double(raised))
            // devices that went (evicted, removed by a reload) leave the exposition
            for key in h.deviceKeys.subtracting(alive) {
                let suffix = "|binding=" + key.replacing("/", with: "|device=", maxReplacements: 1)
                for (k, c) in h.counters where k.hasSuffix(suffix) {
                    c.destroy()
                    h.counters[k] = nil
                    h.previous[k] = nil
                }
                for (k, g) in h.gauges where k.hasSuffix(suffix) {
                    g.destroy()
                    h.gauges[k] = nil
                }
            }
            h.deviceKeys = alive
        }
        for ns in s.commitLatenciesNs where ns >= 0 { latency.recordNanoseconds(ns) }
        var kept = s
        kept.takenAtNs = now
        last.withLock { $0 = kept }
    }

    // MARK: Outputs

    /// The Prometheus text exposition of every metric.
    func exposition() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16_384)
        registry.emit(into: &out)
        return out
    }

    /// Why the agent is not healthy (empty: healthy), from the last snapshot.
    private func reasons(_ s: MetricsSnapshot, nowNs: UInt64) -> [String] {
        var reasons: [String] = []
        let age = Double(nowNs &- s.takenAtNs) / 1e9
        if age > Double(updateEveryNs) / 1e9 * 3 + 5 { reasons.append("the pipeline has made no progress for \(Int(age)) s") }
        if let w = s.wedged { reasons.append("\(w) has made no progress") }
        // a source that lost its link is retrying (with backoff); it counts against health once
        // that has lasted longer than the grace
        let down = downSince.withLock { $0 }
        for src in s.sources where src.connected == false {
            let since = down[src.name] ?? nowNs
            if nowNs &- since >= AgentMetrics.reconnectGraceNs {
                reasons.append("\(src.name) is disconnected (for \((nowNs &- since) / 1_000_000_000) s)")
            }
        }
        let fill = Double(s.spoolBytes) / Double(max(1, s.spoolMaxBytes))
        if fill > 0.9 { reasons.append("the spool is \(Int(fill * 100))% full") }
        if !s.upstreamConnected && (s.spoolOldestAgeS ?? 0) > 60 {
            reasons.append("upstream is unreachable with records waiting for \(Int(s.spoolOldestAgeS ?? 0)) s")
        }
        return reasons
    }

    /// Health, with every reason it is not healthy.
    func health(nowNs: UInt64 = Clock.monotonicNs()) -> (healthy: Bool, json: [UInt8]) {
        guard let s = last.withLock({ $0 }) else {
            return (false, Array(#"{"healthy":false,"reasons":["starting"]}"#.utf8))
        }
        let reasons = self.reasons(s, nowNs: nowNs)
        var o: [UInt8] = Array(#"{"healthy":"#.utf8)
        o += Array((reasons.isEmpty ? "true" : "false").utf8)
        o += Array(#","reasons":["#.utf8)
        for (i, r) in reasons.enumerated() {
            if i > 0 { o.append(UInt8(ascii: ",")) }
            JSONText.string(r, into: &o)
        }
        o += Array(#"],"spool_records":"#.utf8)
        JSONText.integer(Int64(s.spoolRecords), into: &o)
        o += Array(#","upstream_connected":"#.utf8)
        o += Array((s.upstreamConnected ? "true" : "false").utf8)
        o += Array(#","open_windows":"#.utf8)
        JSONText.integer(Int64(s.openWindows), into: &o)
        o.append(UInt8(ascii: "}"))
        return (reasons.isEmpty, o)
    }

    /// The retained status record with the agent's vitals, and the metrics record (`metrics.mqtt`;
    /// schemas in records.md).
    func vitals(agentId: String) -> (status: [UInt8], metrics: [UInt8])? {
        guard let s = last.withLock({ $0 }) else { return nil }
        let wall = Clock.wallNs()
        var st: [UInt8] = Array(#"{"state":"online","agent":"#.utf8)
        JSONText.string(agentId, into: &st)
        st += Array(#","ts_ms":"#.utf8); JSONText.integer(wall / 1_000_000, into: &st)
        st += Array(#","version":"#.utf8); JSONText.string(DewpointVersion.string, into: &st)
        st += Array(#","uptime_s":"#.utf8); JSONText.integer((wall - startedNs) / 1_000_000_000, into: &st)
        st += Array(#","backlog":"#.utf8); JSONText.integer(Int64(s.spoolRecords), into: &st)
        st += Array(#","devices":"#.utf8); JSONText.integer(Int64(s.devices.count), into: &st)
        st += Array(#","alerts_raised":"#.utf8); JSONText.integer(Int64(s.devices.reduce(0) { $0 + $1.raisedAlerts }), into: &st)
        st += Array(#","healthy":"#.utf8); st += Array((reasons(s, nowNs: Clock.monotonicNs()).isEmpty ? "true" : "false").utf8)
        st.append(UInt8(ascii: "}"))
        var m: [UInt8] = Array(#"{"kind":"metrics","v":1,"agent":"#.utf8)
        JSONText.string(agentId, into: &m)
        m += Array(#","ts_ms":"#.utf8); JSONText.integer(wall / 1_000_000, into: &m)
        m += Array(#","counters":{"#.utf8)
        var fields = s.pipeline.fields
        fields += [("queue_dropped", s.queueDropped), ("spool_records", s.spoolRecords), ("spool_dropped", Int(s.spoolDropped)),
                   ("dead_letters", s.deadLetters), ("upstream_published", s.published), ("upstream_acknowledged", s.acknowledged),
                   ("upstream_reconnects", s.upstreamReconnects), ("resident_bytes", s.residentBytes)]
        for (i, f) in fields.enumerated() {
            if i > 0 { m.append(UInt8(ascii: ",")) }
            JSONText.string(f.0, into: &m); m.append(UInt8(ascii: ":")); JSONText.integer(Int64(f.1), into: &m)
        }
        m += Array("}}".utf8)
        return (st, m)
    }

    /// `dewpoint status`: sources, devices, the spool, upstream and the alerts raised now, as JSON.
    func statusJSON(nowNs: UInt64 = Clock.monotonicNs()) -> (healthy: Bool, json: [UInt8]) {
        guard let s = last.withLock({ $0 }) else {
            return (false, Array(#"{"healthy":false,"reasons":["starting"]}"#.utf8))
        }
        let reasons = self.reasons(s, nowNs: nowNs)
        let rates = self.rates.withLock { $0 }
        let wall = Clock.wallNs()
        var o: [UInt8] = []
        func key(_ k: String, first: Bool = false) { if !first { o.append(UInt8(ascii: ",")) }; JSONText.string(k, into: &o); o.append(UInt8(ascii: ":")) }
        func int(_ v: Int) { JSONText.integer(Int64(v), into: &o) }
        func num(_ v: Double?) { if let v { JSONText.double(v, into: &o) } else { o += Array("null".utf8) } }
        func str(_ v: String) { JSONText.string(v, into: &o) }
        func bool(_ v: Bool?) { o += Array((v.map { $0 ? "true" : "false" } ?? "null").utf8) }
        o.append(UInt8(ascii: "{"))
        key("healthy", first: true); bool(reasons.isEmpty)
        key("reasons"); o.append(UInt8(ascii: "["))
        for (i, r) in reasons.enumerated() { if i > 0 { o.append(UInt8(ascii: ",")) }; str(r) }
        o.append(UInt8(ascii: "]"))
        key("version"); str(DewpointVersion.string)
        key("uptime_s"); num(Double(wall - startedNs) / 1e9)
        key("sources"); o.append(UInt8(ascii: "["))
        for (i, src) in s.sources.enumerated() {
            if i > 0 { o.append(UInt8(ascii: ",")) }
            o.append(UInt8(ascii: "{"))
            key("name", first: true); str(src.name)
            key("connected"); bool(src.connected)
            key("counters"); o.append(UInt8(ascii: "{"))
            for (j, c) in src.counters.enumerated() { key(c.0, first: j == 0); int(c.1) }
            o.append(UInt8(ascii: "}"))
            o.append(UInt8(ascii: "}"))
        }
        o.append(UInt8(ascii: "]"))
        key("devices"); o.append(UInt8(ascii: "["))
        var alerts: [(String, String)] = []
        for (i, d) in s.devices.enumerated() {
            if i > 0 { o.append(UInt8(ascii: ",")) }
            o.append(UInt8(ascii: "{"))
            key("binding", first: true); str(d.binding)
            key("device"); str(d.device)
            key("last_sample_age_s"); num(d.lastSeenNs.map { Double(max(0, wall - $0)) / 1e9 })
            key("rate_per_s"); num(rates[d.binding + "/" + d.device])
            key("samples"); int(d.samples)
            key("decode_errors"); int(d.decodeErrors)
            key("open_windows"); int(d.openWindows)
            o.append(UInt8(ascii: "}"))
            for r in d.raised { alerts.append((d.device, r)) }
        }
        o.append(UInt8(ascii: "]"))
        key("spool"); o.append(UInt8(ascii: "{"))
        key("records", first: true); int(s.spoolRecords)
        key("bytes"); int(Int(s.spoolBytes))
        key("oldest_record_age_s"); num(s.spoolOldestAgeS)
        key("dropped"); int(Int(s.spoolDropped))
        key("dead_letters"); int(s.deadLetters)
        o.append(UInt8(ascii: "}"))
        key("upstream"); o.append(UInt8(ascii: "{"))
        key("connected", first: true); bool(s.upstreamConnected)
        key("published"); int(s.published)
        key("acknowledged"); int(s.acknowledged)
        key("reconnects"); int(s.upstreamReconnects)
        o.append(UInt8(ascii: "}"))
        key("alerts_raised"); o.append(UInt8(ascii: "["))
        for (i, a) in alerts.enumerated() {
            if i > 0 { o.append(UInt8(ascii: ",")) }
            o.append(UInt8(ascii: "{"))
            key("device", first: true); str(a.0)
            let parts = a.1.split(separator: "/", maxSplits: 1)
            key("channel"); str(String(parts[0]))
            key("detector"); str(parts.count > 1 ? String(parts[1]) : "")
            o.append(UInt8(ascii: "}"))
        }
        o.append(UInt8(ascii: "]"))
        key("pipeline"); o.append(UInt8(ascii: "{"))
        for (j, f) in s.pipeline.fields.enumerated() { key(f.0, first: j == 0); int(f.1) }
        o.append(UInt8(ascii: "}"))
        o.append(UInt8(ascii: "}"))
        return (reasons.isEmpty, o)
    }

    /// Writes the exposition to `metrics.textfile` atomically: a temporary file in the same
    /// folder, then rename(2), so that node_exporter never reads half a file.
    func writeTextfile() throws(AgentError) {
        guard let path = spec.textfile else { return }
        let tmp = path + ".tmp.\(getpid())"
        let body = exposition()
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw AgentError("metrics.textfile: cannot write \(tmp): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < body.count {
            let n = body.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n <= 0 {
                let e = errno
                close(fd); unlink(tmp)
                throw AgentError("metrics.textfile: writing \(tmp): \(String(cString: strerror(e)))")
            }
            written += n
        }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw AgentError("metrics.textfile: cannot replace \(path): \(String(cString: strerror(e)))")
        }
    }

    /// This process's resident memory, from /proc/self/statm (its second number, in pages).
    static func residentBytes() -> Int {
        guard let f = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 128)
        guard fgets(&buf, 128, f) != nil else { return 0 }
        let parts = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: " ")
        guard parts.count >= 2, let pages = Int(parts[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

