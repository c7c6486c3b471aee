import DewpointConfig
import DewpointCore
import DewpointMQTT
import DewpointPipeline
import DewpointUpstream
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `dewpoint run`: sources → pipeline → sink (spool → forwarder → upstream).
///
/// The sources come from `SourceTable`. MQTT messages run through the pipeline on the input
/// client's network thread (see `PipelineGate`); serial, capture and socket frames come through
/// a bounded queue to the thread that calls `run()`, which also moves the clock and commits the
/// sink.
///
/// Every commit carries a checkpoint of the pipeline's state (`Checkpointer`), restored before the
/// sources start; the MQTT input acknowledges only what is committed (`input.ack`).
///
/// Shutdown (SIGTERM/SIGINT, or `requestStop()`): stop the sources (the MQTT input commits and
/// acknowledges what it read), process what is queued, checkpoint the open windows (or emit them
/// as partial summaries, `spool.on_stop: partial_summaries`), commit, drain the spool while the
/// upstream broker is reachable (up to `drainTimeoutNs`), publish the offline status, disconnect.
public final class Agent: Sendable {
    /// The configuration the agent started with (a reload runs another; see `run`).
    public let config: LoadedConfig
    public let logger: Logger
    public let drainTimeoutNs: UInt64
    private let stopFlag = Atomic<Bool>(false)
    private let notify = SystemdNotify()
    /// A configuration waiting to replace the running one (`requestReload`).
    private let pendingReload = Mutex<LoadedConfig?>(nil)

    public init(config: LoadedConfig, logger: Logger, drainTimeoutNs: UInt64 = 10_000_000_000) {
        self.config = config
        self.logger = logger
        self.drainTimeoutNs = drainTimeoutNs
    }

    public func requestStop() { stopFlag.store(true, ordering: .releasing) }
    private var stopRequested: Bool { stopFlag.load(ordering: .acquiring) }

    /// Live reload: the running sources stop (the MQTT input commits and acknowledges what it
    /// read), the pipeline's state is checkpointed, and the agent starts again in-process on
    /// `next`, restoring that state: open windows, detectors and alerts carry over for every
    /// device whose binding kept its windows and channels (the others start afresh, logged). No
    /// window is split, nothing the MQTT input acknowledged is lost, and the spool is kept.
    public func requestReload(_ next: LoadedConfig) {
        let same = running.withLock { $0.map { $0.agent == next.agent && $0.bindings == next.bindings } ?? false }
        if same {
            logger.notice("reload: the configuration has not changed")
            return
        }
        pendingReload.withLock { $0 = next }
    }
    /// The configuration of the current run.
    private let running = Mutex<LoadedConfig?>(nil)
    private var reloadRequested: Bool { pendingReload.withLock { $0 != nil } }

    /// Runs until a stop is requested, reloading in-process when asked.
    public func run() throws {
        var current = config
        while true {
            guard try runOnce(current) else { return }
            guard let next = pendingReload.withLock({ p -> LoadedConfig? in defer { p = nil }; return p }) else { return }
            logger.notice("reload: \(Agent.describeChange(from: current, to: next))")
            current = next
        }
    }

    /// What a reload changes, for the log.
    static func describeChange(from a: LoadedConfig, to b: LoadedConfig) -> String {
        let old = Dictionary(a.bindings.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        let new = Dictionary(b.bindings.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        let added = new.keys.filter { old[$0] == nil }.sorted()
        let removed = old.keys.filter { new[$0] == nil }.sorted()
        let changed = new.keys.filter { old[$0] != nil && old[$0] != new[$0] }.sorted()
        var parts: [String] = []
        if a.agent != b.agent { parts.append("agent file changed") }
        if !added.isEmpty { parts.append("added \(added.joined(separator: ", "))") }
        if !removed.isEmpty { parts.append("removed \(removed.joined(separator: ", "))") }
        if !changed.isEmpty { parts.append("changed \(changed.joined(separator: ", "))") }
        return parts.isEmpty ? "no change" : parts.joined(separator: "; ")
    }

    /// One run of the agent on `config`; true if it ended for a reload (state checkpointed,
    /// everything released), false for a stop.
    private func runOnce(_ config: LoadedConfig) throws -> Bool {
        running.withLock { $0 = config }
        let agent = config.agent
        for (b, role) in [(agent.input, "input"), (agent.upstream.broker, "upstream")] {
            if let w = Agent.plainCredentialsWarning(b, role) { logger.warning("\(w)") }
        }
        let queue = BoundedQueue<InputFrame>(capacity: agent.queue.capacity, policy: agent.queue.overflow)
        // a new record wakes this thread to commit it
        let sink = try UpstreamSink(agentId: agent.agentId, spec: agent.upstream, spoolSpec: agent.spool,
                                    options: Agent.options(agent.upstream.broker, clientId: "dewpoint-\(agent.agentId)-up", cleanSession: true),
                                    schemas: config.bindings.map(Pipeline.recordSchema(for:)),
                                    logger: logger.with("sink", "upstream"), onRecord: { queue.interrupt() })
        // what opening the spool (SQLite) touched once
        StartupPages.release()
        let pipeline = try Pipeline(agentId: agent.agentId, bindings: config.bindings, sink: sink, seq: sink.spool, mode: .external,
                                    logger: logger)
        // the MQTT input's clock falls back to the wall clock once it has been quiet for a few
        // commit intervals (it may wait that long for acknowledgements before the broker sends more)
        pipeline.inputIdleNs = max(2_000_000_000, 4 * Clock.ns(ms: agent.spool.commitIntervalMs))
        let gate = PipelineGate(pipeline)
        sink.directory.setLookup { name in gate.run { $0.bindingName(ofDevice: name) } }
        sink.directory.setAlertLookup { name in gate.run { $0.raisedAlerts(ofDevice: name) } }
        // always: `dewpoint status` and its socket; the Prometheus outputs only when configured
        let metrics: AgentMetrics? = AgentMetrics(spec: agent.metrics)
        let checkpointer = Checkpointer(gate: gate, sink: sink, intervalNs: UInt64(Clock.ns(ms: agent.spool.commitIntervalMs)),
                                        measureLatency: agent.metrics.enabled)
        try checkpointer.restore(logger: logger)
        // and building the pipeline and restoring its checkpoint
        StartupPages.release()
        // the wall clock's devices start at the wall clock, before any frame arrives; the MQTT
        // input's stand still until it connects, then follow what it delivers
        gate.run { $0.advanceClock(nowNs: Clock.wallNs()) }
        let (sources, sourceOfBinding) = try makeSources(config, inline: GateInlet(gate, afterBatch: { sink.sendEarly() }), queued: QueueInlet(queue), durability: checkpointer)
        var nextLivenessNs = Clock.monotonicNs()
        var server: MetricsServer? = nil
        if let metrics, let listen = agent.metrics.listen {
            do {
                server = try MetricsServer(listen, logger: logger) { path in
                    switch path {
                    case "/metrics": return (200, "text/plain; version=0.0.4; charset=utf-8", metrics.exposition())
                    case "/healthz":
                        let h = metrics.health()
                        return (h.healthy ? 200 : 503, "application/json", h.json)
                    default: return (404, "text/plain; charset=utf-8", Array("not found: this serves /metrics and /healthz\n".utf8))
                    }
                }
            } catch {
                throw AgentError("metrics.listen: \(error)")
            }
        }
        defer { server?.stop() }
        var statusServer: MetricsServer? = nil
        if let metrics {
            let path = Agent.statusSocketPath(agent)
            do {
                statusServer = try MetricsServer(unixPath: path, logger: logger) { p in
                    switch p {
                    case "/status":
                        let st = metrics.statusJSON()
                        return (st.healthy ? 200 : 503, "application/json", st.json)
                    case "/healthz":
                        let h = metrics.health()
                        return (h.healthy ? 200 : 503, "application/json", h.json)
                    default: return (404, "text/plain; charset=utf-8", Array("not found\n".utf8))
                    }
                }
                statusServer?.start()
            } catch {
                logger.warning("no status socket (dewpoint status will not answer): \(error)")
            }
        }
        defer { statusServer?.stop() }
        sink.start()
        for s in sources { try s.start() }
        // what building the pipeline, the spool and the sources touched once
        StartupPages.release()
        if let server, let listen = agent.metrics.listen {
            server.start()
            logger.info("metrics on http://\(listen.host.contains(":") ? "[\(listen.host)]" : listen.host):\(server.port)/metrics and /healthz")
        }
        var nextMetricsNs = Clock.monotonicNs()
        var nextTextfileNs = Clock.monotonicNs()
        var textfileFailures = 0
        var wedgedName: String? = nil
        logger.info("running: agent \(agent.agentId), \(config.bindings.count) devices")
        notify.send("READY=1\nSTATUS=running: \(config.bindings.count) devices, \(sources.count) sources")
        var lastReport = Clock.monotonicNs()
        var reportedDrops = 0
        // passes while the agent settles (connections made, the first commits and records
        // through: each first time touches code of its own) drop the pages only that needed
        // (`StartupPages`); `SettlePasses` says when, and which one is logged
        var settlePasses = StartupPages.SettlePasses(startNs: Clock.monotonicNs())
        // serial, capture and socket frames: linger 1 ms after a small batch only when frames come
        // fast enough for it to gather a batch (`input.batch_min`)
        var queuePacer = BatchPacer(lingerNs: 1_000_000, minBatch: agent.input.batchMin)
        var watchdog = notify.watchdogUsec.map { WatchdogStateMachine(watchdogUsec: $0) }
        var reportedWedge: Int? = nil
        while !stopRequested && !reloadRequested {
            // wait for a queued frame, a new record (`interrupt`), the next commit or 20 ms
            let now = Clock.monotonicNs()
            let due = checkpointer.dueNs
            let waitMs = due > now ? Int((due - now + 999_999) / 1_000_000) : 0
            if let f = queue.pop(timeoutMs: min(waitMs, 20)) {
                // a small batch means we were woken per frame: linger 1 ms so that the next wakeup
                // finds a batch, when frames come fast enough for that to pay
                let n = ingestQueued(f, queue, gate, limit: 4096)
                let linger = queuePacer.pass(delivered: n, nowNs: Clock.monotonicNs())
                if n < 32 && linger > 0 { Clock.sleep(ns: linger) }
            }
            gate.run { $0.advanceClock(nowNs: Clock.wallNs()) }
            sink.sendEarly()
            if Clock.monotonicNs() >= checkpointer.dueNs { checkpointer.commit() }
            if let pass = settlePasses.due(nowNs: Clock.monotonicNs()) {
                let kib = StartupPages.release()
                if kib > 0 && pass.logged { logger.info("released \(kib) KiB of file pages only start-up used") }
            }
            if Clock.monotonicNs() - lastReport >= 60_000_000_000 {
                lastReport = Clock.monotonicNs()
                report(config, gate, queue, sink, sources, reportedDrops: &reportedDrops)
            }
            if let sparkplug = sink.sparkplug, Clock.monotonicNs() >= nextLivenessNs {
                // once a second: devices whose source is lost, or that were evicted, get DDEATH
                nextLivenessNs = Clock.monotonicNs() + 1_000_000_000
                sparkplug.devicesLive(liveDevices(gate, sources, sourceOfBinding))
            }
            if let metrics, Clock.monotonicNs() >= nextMetricsNs {
                nextMetricsNs = Clock.monotonicNs() + metrics.passIntervalNs
                metrics.update(metricsSnapshot(config, gate, queue, sink, sources, checkpointer, wedged: wedgedName))
                // every metrics.interval: the textfile, and the vitals upstream
                if metrics.exportsMetrics && Clock.monotonicNs() >= nextTextfileNs {
                    nextTextfileNs = Clock.monotonicNs() + UInt64(Clock.ns(ms: agent.metrics.intervalMs))
                    if agent.metrics.mqtt, let v = metrics.vitals(agentId: agent.agentId) { sink.publishVitals(status: v.status, metrics: v.metrics) }
                    if agent.metrics.textfile != nil {
                        do {
                            try metrics.writeTextfile()
                            textfileFailures = 0
                        } catch {
                            textfileFailures += 1
                            if textfileFailures == 1 || textfileFailures % 60 == 0 { logger.error("\(error)") }
                        }
                    }
                }
            }
            if watchdog != nil {
                let beats = sources.map(\.heartbeat) + [sink.forwarder.heartbeat]
                if watchdog!.shouldPing(nowNs: Clock.monotonicNs(), heartbeats: beats) { notify.send("WATCHDOG=1") }
                if watchdog!.wedged != reportedWedge {
                    reportedWedge = watchdog!.wedged
                    wedgedName = reportedWedge.map { $0 < sources.count ? sources[$0].name : "the upstream forwarder" }
                    if let i = reportedWedge {
                        let what = i < sources.count ? sources[i].name : "the upstream forwarder"
                        logger.critical("\(what) has made no progress for \(watchdog!.stallNs / 1_000_000_000) s; the service watchdog is no longer fed")
                    }
                }
            }
        }
        if stopRequested {
            notify.send("STOPPING=1\nSTATUS=stopping: draining the spool")
            // the drain may take up to its timeout: ask the service manager for that much more
            notify.send("EXTEND_TIMEOUT_USEC=\((drainTimeoutNs + 10_000_000_000) / 1_000)")
            stop(config, sources, queue, gate, sink, checkpointer, reload: false)
            return false
        }
        // systemd: reloading until the next READY=1 (MONOTONIC_USEC: Type=notify-reload needs it)
        notify.send("RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=\(Clock.monotonicNs() / 1_000)")
        stop(config, sources, queue, gate, sink, checkpointer, reload: true)
        return true
    }

    /// The live sources of every binding, from the table, and which source feeds each binding
    /// (by name): a kind that makes one source per binding makes them in the bindings' order;
    /// one that makes fewer (the MQTT input) feeds all its bindings from its first.
    private func makeSources(_ config: LoadedConfig, inline: any FrameInlet & Sendable, queued: any FrameInlet & Sendable,
                             durability: any DurabilityGate) throws -> ([any Source & Sendable], [String: Int]) {
        var all: [any Source & Sendable] = []
        var feeds: [String: Int] = [:]
        for kind in SourceTable.kinds {
            let mine = config.bindings.enumerated().filter { $0.element.transport.kindName == kind.transport }.map { (index: $0.offset, spec: $0.element) }
            if mine.isEmpty { continue }
            let made = try kind.makeLive(LiveSourceContext(config: config, bindings: mine, inline: inline, queued: queued,
                                                           durability: durability, logger: logger))
            for (i, b) in mine.enumerated() where !made.isEmpty {
                feeds[b.spec.name] = all.count + (made.count == mine.count ? i : 0)
            }
            all += made
        }
        return (all, feeds)
    }

    /// The devices the pipeline holds whose source is connected (or cannot say).
    private func liveDevices(_ gate: PipelineGate, _ sources: [any Source & Sendable], _ sourceOfBinding: [String: Int]) -> Set<String> {
        let connected = sources.map { $0.isConnected != false }
        let devices = gate.run { $0.deviceBindings() }
        return Set(devices.filter { d in sourceOfBinding[d.binding].map { connected[$0] } ?? true }.map(\.device))
    }

    /// Where `dewpoint status` finds the agent: `status.sock` in the spool folder, which only the
    /// agent's user can enter (mode 700 under systemd).
    public static func statusSocketPath(_ agent: AgentSpec) -> String { agent.spool.dir + "/status.sock" }

    /// What the metrics need, gathered in one pass (the pipeline's part under its lock).
    private func metricsSnapshot(_ config: LoadedConfig, _ gate: PipelineGate, _ queue: BoundedQueue<InputFrame>, _ sink: UpstreamSink,
                                 _ sources: [any Source & Sendable], _ checkpointer: Checkpointer, wedged: String?) -> MetricsSnapshot {
        var s = MetricsSnapshot()
        (s.pipeline, s.devices, s.openWindows) = gate.run { p in (p.counters, p.deviceSnapshot(), p.openWindows) }
        s.queueDropped = queue.dropped
        let st = sink.spool.stats
        s.spoolRecords = st.count
        s.spoolBytes = st.bytes
        s.spoolDropped = st.dropped
        s.spoolMaxBytes = config.agent.spool.maxBytes
        s.spoolOldestAgeS = sink.spool.oldestRecordAgeS()
        s.deadLetters = sink.forwarder.deadLettered
        s.published = sink.forwarder.published
        s.acknowledged = sink.forwarder.acknowledged
        s.upstreamReconnects = sink.client.reconnects
        s.upstreamConnected = sink.client.isConnected
        s.sources = sources.map { src in (src.name, src.counters.values.map { ($0.name, $0.value) }, src.isConnected) }
        s.residentBytes = AgentMetrics.residentBytes()
        s.commitLatenciesNs = checkpointer.takeLatencies()
        s.wedged = wedged
        return s
    }

    /// The counters line every minute, and a warning for new queue drops.
    private func report(_ config: LoadedConfig, _ gate: PipelineGate, _ queue: BoundedQueue<InputFrame>, _ sink: UpstreamSink, _ sources: [any Source & Sendable],
                        reportedDrops: inout Int) {
        let drops = queue.dropped
        logger.info("counters: \(gate.run { $0.counters.summaryLine }) queue_dropped=\(drops) \(sink.counters)")
        for s in sources where !(s is MQTTInput) { logger.info("\(s.name): \(s.counters)") }
        if drops > reportedDrops {
            logger.warning("input queue overflow: \(drops - reportedDrops) frames dropped (policy \(config.agent.queue.overflow.rawValue))")
        }
        reportedDrops = drops
    }

    /// Stops a run: for a stop, the open windows follow `spool.on_stop` and the spool drains; for
    /// a reload, they are always checkpointed, the spool stays for the next run, and no offline
    /// status is published.
    private func stop(_ config: LoadedConfig, _ sources: [any Source & Sendable], _ queue: BoundedQueue<InputFrame>, _ gate: PipelineGate,
                      _ sink: UpstreamSink, _ checkpointer: Checkpointer, reload: Bool) {
        logger.info(reload ? "reloading: closing sources" : "stopping: closing sources")
        // The sources stop on a thread of their own while this one keeps draining the queue, so
        // that a source blocked on a full queue (overflow: block) gets room and can stop, and
        // every frame a source read before it stopped is processed. Only then is the queue closed.
        let sourcesStopped = Atomic<Bool>(false)
        let stopper = OSThread(name: "stop-sources") { [logger] in
            for s in sources {
                s.stop()
                if !(s is MQTTInput) { logger.info("\(s.name): \(s.counters)") }
            }
            sourcesStopped.store(true, ordering: .releasing)
            queue.interrupt()
        }
        stopper.start()
        while !sourcesStopped.load(ordering: .acquiring) {
            if let f = queue.pop(timeoutMs: 50) { _ = ingestQueued(f, queue, gate) }
        }
        stopper.join()
        queue.close()
        if let f = queue.pop(timeoutMs: 0) { _ = ingestQueued(f, queue, gate) }
        if queue.rejectedAfterClose > 0 { logger.warning("\(queue.rejectedAfterClose) frames arrived after the stop began and were not processed") }
        if reload, let next = pendingReload.withLock({ $0 }) {
            // devices whose state cannot carry over (binding removed, or its windows or channels
            // changed) emit their open windows as partial summaries and clear their alerts, so that
            // no sample they hold is lost
            let nextByName = Dictionary(next.bindings.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let ending = Set(config.bindings.filter { b in nextByName[b.name].map { !Pipeline.stateCarriesOver(from: b, to: $0) } ?? true }.map(\.name))
            if !ending.isEmpty {
                let n = gate.run { $0.retire(bindings: ending) }
                logger.notice("reload: \(n) device\(n == 1 ? "" : "s") of \(ending.sorted().joined(separator: ", ")) emitted their open windows as partial summaries (removed, or windows or channels changed)")
            }
        }
        switch reload ? .checkpoint : config.agent.spool.onStop {
        case .checkpoint:
            // open windows stay open in the checkpoint: the next start continues them
            let open = gate.run { p -> Int in p.flush(); return p.openWindows }
            logger.info("checkpointing \(open) open windows for the next start")
        case .flush:
            gate.run { $0.finish() }  // partial summaries for open windows
        }
        if !checkpointer.commit() { logger.error("the final commit failed: what was processed since the last commit is lost, and will be sent again by the input broker where it can") }
        _ = sink.stop(deadlineNs: reload ? 0 : Clock.monotonicNs() + drainTimeoutNs, final: !reload)
        logger.info("\(reload ? "reloaded after" : "stopped"): \(gate.run { $0.counters.summaryLine }) queue_dropped=\(queue.dropped)")
    }

    /// Runs `first` and what else is queued, at most `limit` frames in all, through the pipeline
    /// under one hold of the gate; returns how many.
    private func ingestQueued(_ first: InputFrame, _ queue: BoundedQueue<InputFrame>, _ gate: PipelineGate, limit: Int = .max) -> Int {
        gate.run { p in
            var n = 0
            var next: InputFrame? = first
            while let f = next {
                f.bytes.withUnsafeBytes { payload in
                    if let topic = f.topic {
                        topic.withUnsafeBytes { p.ingestMQTT(topic: $0, payload: payload, arrivalNs: f.arrivalNs) }
                    } else {
                        p.ingest(binding: f.binding, payload: payload, arrivalNs: f.arrivalNs)
                    }
                }
                n += 1
                next = n < limit ? queue.pop(timeoutMs: 0) : nil
            }
            return n
        }
    }
}

extension Agent {
    static func password(_ b: BrokerSpec) throws(AgentError) -> String? {
        if let env = b.passwordEnv {
            // the names are not repeated: a password pasted in their place would reach the log
            guard let v = getenv(env) else { throw AgentError("password_env: the environment variable it names is not set (its value is not shown, in case it is the password itself)") }
            return String(cString: v)
        }
        if let file = b.passwordFile {
            guard let f = fopen(file, "r") else { throw AgentError("password_file: cannot read the file it names: \(String(cString: strerror(errno))) (its value is not shown, in case it is the password itself)") }
            defer { fclose(f) }
            var buf = [CChar](repeating: 0, count: 4096)
            guard fgets(&buf, 4096, f) != nil else { return "" }
            var s = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            while s.hasSuffix("\n") || s.hasSuffix("\r") { s.removeLast() }
            return s
        }
        return nil
    }

    /// A warning when credentials would cross the network in clear text: a user name or password
    /// without TLS to a broker that is not on this host.
    static func plainCredentialsWarning(_ b: BrokerSpec, _ role: String) -> String? {
        guard b.tls == nil, b.username != nil || b.passwordFile != nil || b.passwordEnv != nil else { return nil }
        let h = b.host.lowercased()
        if h == "localhost" || h == "::1" || h.hasPrefix("127.") { return nil }
        return "\(role): credentials go to \(b.host):\(b.port) without TLS, readable by anyone on the path; add a tls section"
    }

    static func options(_ b: BrokerSpec, clientId: String, cleanSession: Bool) throws(AgentError) -> MQTTClient.Options {
        MQTTClient.Options(host: b.host, port: b.port, clientId: b.clientId ?? clientId, cleanSession: cleanSession,
                           username: b.username, password: try password(b), tls: b.tls, protocolVersion: b.mqttVersion,
                           keepaliveS: b.keepaliveS, batchWaitNs: UInt64(b.batchWaitMs) * 1_000_000, batchMin: b.batchMin, readBuffer: b.readBuffer)
    }
}

public struct AgentError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Turns SIGTERM, SIGINT and SIGHUP into a call on a thread of our own (sigwait), instead of
/// running code inside a signal handler. Call before starting any other thread so all threads
/// inherit the mask.
public enum SignalWatcher {
    public static func install(_ onSignal: @escaping @Sendable (Int32) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let blocked = set
        OSThread(name: "signals") {
            var s = blocked
            while true {
                var sig: Int32 = 0
                if sigwait(&s, &sig) == 0 { onSignal(sig) }
            }
        }.start()
    }
}
