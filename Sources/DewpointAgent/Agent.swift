import DewpointCapture
import DewpointConfig
import DewpointCore
import DewpointMQTT
import DewpointPipeline
import DewpointSerial
import DewpointSpool
#if canImport(Glibc)
import Glibc
#endif

/// One serial or capture frame copied out of its source's thread.
struct InputFrame: Sendable {
    var bytes: [UInt8]
    var arrivalNs: Int64
    var binding: Int
}

/// `dewpoint run`: sources → pipeline → spool → forwarder → upstream.
///
/// MQTT messages run through the pipeline on the input client's network thread (see
/// `PipelineGate`); serial and capture frames come through a bounded queue to the thread that
/// calls `run()`, which also moves the clock, commits the spool and wakes the forwarder.
///
/// Shutdown (SIGTERM/SIGINT, or `requestStop()`): stop the sources, process what is queued, flush
/// open windows as partial summaries, commit, drain the spool while the upstream broker is
/// reachable (up to `drainTimeoutNs`), publish the offline status, disconnect.
public final class Agent: @unchecked Sendable {
    // @unchecked: `stopFlag` is guarded by `lock`; everything else is used by the run thread only.
    public let config: LoadedConfig
    public var log: @Sendable (LogLevel, String) -> Void
    public var drainTimeoutNs: UInt64 = 10_000_000_000
    private let lock = Lock()
    private var stopFlag = false

    public init(config: LoadedConfig, log: @escaping @Sendable (LogLevel, String) -> Void) {
        self.config = config
        self.log = log
    }

    public func requestStop() { lock.withLock { stopFlag = true } }
    private var stopRequested: Bool { lock.withLock { stopFlag } }

    static func password(_ b: BrokerSpec) throws(AgentError) -> String? {
        if let env = b.passwordEnv {
            guard let v = getenv(env) else { throw AgentError("password_env \(env) is not set") }
            return String(cString: v)
        }
        if let file = b.passwordFile {
            guard let f = fopen(file, "r") else { throw AgentError("cannot read password_file \(file): \(String(cString: strerror(errno)))") }
            defer { fclose(f) }
            var buf = [CChar](repeating: 0, count: 4096)
            guard fgets(&buf, 4096, f) != nil else { return "" }
            var s = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            while s.hasSuffix("\n") || s.hasSuffix("\r") { s.removeLast() }
            return s
        }
        return nil
    }

    static func options(_ b: BrokerSpec, clientId: String, cleanSession: Bool, will: MQTTClient.Will?) throws(AgentError) -> MQTTClient.Options {
        MQTTClient.Options(host: b.host, port: b.port, clientId: b.clientId ?? clientId, cleanSession: cleanSession,
                           username: b.username, password: try password(b), tls: b.tls, protocolVersion: b.mqttVersion,
                           keepaliveS: b.keepaliveS, will: will, batchWaitNs: UInt64(b.batchWaitMs) * 1_000_000)
    }

    public func run() throws {
        let agent = config.agent
        let topics = UpstreamTopics(agent.upstream, agent: agent.agentId)
        let spoolPath = agent.spool.dir + "/spool.db"
        let spool: SpoolQueue
        do { spool = try SpoolQueue(path: spoolPath, maxBytes: agent.spool.maxBytes) } catch {
            throw AgentError("\(error) (set spool.dir to a writable folder)")
        }
        let s0 = spool.stats
        log(.info, "spool \(spoolPath): \(s0.count) records waiting, \(s0.dropped) dropped so far")
        let sink = SpoolSink(spool: spool, topics: topics)
        sink.onError = { [log] e in log(.error, "spool commit failed: \(e)") }
        let pipeline = try Pipeline(agentId: agent.agentId, bindings: config.bindings, sink: sink, seq: spool, mode: .external)
        pipeline.log = { [log] in log(.warning, $0) }
        let gate = PipelineGate(pipeline)
        let queue = BoundedQueue<InputFrame>(capacity: agent.queue.capacity, policy: agent.queue.overflow)
        // a new record (summary or alert) wakes this thread to commit it and wake the forwarder
        sink.onRecord = { queue.interrupt() }

        // Upstream: last will = offline (retained); online on every connect.
        let offline = Array(#"{"state":"offline","agent":"\#(agent.agentId)"}"#.utf8)
        let up = try MQTTClient(Agent.options(agent.upstream.broker, clientId: "dewpoint-\(agent.agentId)-up", cleanSession: true,
                                              will: .init(topic: topics.status, payload: offline, qos: 1, retain: true)))
        let forwarder = Forwarder(spool: spool, client: up, qos: agent.upstream.qos, maxInflight: agent.upstream.maxInflight)
        forwarder.log = { [log] in log(.warning, $0) }
        up.log = { [log] in log(.warning, "upstream: \($0)") }
        up.onPublished = { forwarder.acked(mid: $0) }
        up.onDisconnected = { [log] reason in
            forwarder.connectionLost()
            log(.warning, "upstream disconnected: \(reason)")
        }
        up.onConnected = { [log] in
            forwarder.connectionLost()  // resend everything unacknowledged, from the oldest
            var online: [UInt8] = Array(#"{"state":"online","agent":"\#(agent.agentId)","ts_ms":"#.utf8)
            JSONText.integer(Clock.wallNs() / 1_000_000, into: &online)
            online.append(UInt8(ascii: "}"))
            _ = try? online.withUnsafeBytes { try forwarder.publishUntracked(topic: topics.status, payload: $0, qos: 1, retain: true) }
            log(.info, "upstream connected to \(agent.upstream.broker.host):\(agent.upstream.broker.port)")
        }

        // Input: a persistent session with a fixed client id, so QoS 1 messages sent while the agent
        // was away are delivered; every connect subscribes again.
        let filters = config.bindings.compactMap { b -> (String, Int)? in
            if case .mqtt(let m) = b.transport { return (m.topic.mqttFilter, m.qos) }
            return nil
        }
        var input: MQTTClient? = nil
        if !filters.isEmpty {
            var o = try Agent.options(agent.input, clientId: "dewpoint-\(agent.agentId)-in", cleanSession: false, will: nil)
            o.coalesceWrites = true  // a pass's PUBACKs in one write
            let c = try MQTTClient(o)
            c.log = { [log] in log(.warning, "input: \($0)") }
            c.onMessage = { topic, payload in
                let now = Clock.wallNs()
                gate.run { $0.ingestMQTT(topic: topic, payload: payload, arrivalNs: now) }
            }
            // process the rows batched during the pass now, so that alerts are not held back
            c.onBatchEnd = { gate.run { $0.flush() } }
            c.onConnected = { [log, unowned c] in
                for (f, q) in filters {
                    do { try c.subscribe(f, qos: q) } catch { log(.error, "subscribe \(f): \(error)") }
                }
                log(.info, "input connected to \(agent.input.host):\(agent.input.port), \(filters.count) subscriptions\(c.readsBuffered ? "" : ", reads unbuffered")")
            }
            input = c
        }
        var serialLinks: [SerialLink] = []
        for (i, b) in config.bindings.enumerated() {
            switch b.transport {
            case .mqtt: continue
            case .serial(let s):
                let link = SerialLink(spec: s, framing: b.framing) { frame, now in
                    queue.push(InputFrame(bytes: Array(frame), arrivalNs: now, binding: i))
                }
                link.log = { [log] in log(.info, "serial \(b.name): \($0)") }
                serialLinks.append(link)
            case .capture(let c):
                if c.interface == nil { log(.warning, "device \(b.name): capture from a file only runs in replay; skipped") }
            case .file:
                log(.warning, "device \(b.name): transport file only runs in replay; skipped")
            }
        }
        // one capture per interface, shared by the bindings that name it
        var captures: [CaptureSource] = []
        var byInterface: [String: [(Int, CaptureSpec)]] = [:]
        for (i, b) in config.bindings.enumerated() {
            if case .capture(let c) = b.transport, let iface = c.interface { byInterface[iface, default: []].append((i, c)) }
        }
        for (iface, list) in byInterface.sorted(by: { $0.key < $1.key }) {
            do {
                let src = try CaptureSource(interface: iface, bindings: list, onFrame: { b, payload, ns in
                    queue.push(InputFrame(bytes: Array(payload), arrivalNs: ns, binding: b))
                }, warning: { [log] in log(.warning, "capture: \($0)") })
                src.log = { [log] in log(.warning, $0) }
                captures.append(src)
            } catch {
                log(.error, "capture: \(error)")
            }
        }

        up.start()
        forwarder.start()
        input?.start()
        for l in serialLinks { l.start() }
        for c in captures { c.start() }
        log(.info, "running: agent \(agent.agentId), \(config.bindings.count) devices")

        var lastCommit = Clock.monotonicNs()
        var lastReport = lastCommit
        var reportedDrops = 0
        while !stopRequested {
            // Wait for a queued frame, a new record (`interrupt`), the next commit or 20 ms. After a
            // failed commit the next one waits for `sink.retryAtNs`, so a failing disk costs one
            // attempt a second, not a wakeup every 5 ms.
            var waitMs = 20
            if spool.stats.pending > 0 {
                let t = Clock.monotonicNs()
                let due = max(lastCommit + 5_000_000, sink.retryAtNs)
                waitMs = due > t ? Int((due - t + 999_999) / 1_000_000) : 0
            }
            if let f = queue.pop(timeoutMs: waitMs) {
                let n = ingestQueued(f, queue, gate, limit: 4096)
                // A small batch means we were woken per frame: linger 1 ms so the next wakeup
                // finds a batch. This trades at most 1 ms of latency for far fewer context switches.
                if n < 32 { Clock.sleep(ns: 1_000_000) }
            }
            gate.run { $0.advance(watermarkNs: Clock.wallNs()) }
            // Commit as soon as records exist (they are few: one summary per device per window,
            // and alerts), at most every 5 ms so that bursts share one transaction; then wake the
            // forwarder. An alert thus reaches the broker within milliseconds.
            let now = Clock.monotonicNs()
            if spool.stats.pending > 0 && now - lastCommit >= 5_000_000 && now >= sink.retryAtNs {
                lastCommit = now
                if sink.commit() { forwarder.wakeup.signal() }
            }
            if now - lastReport >= 60_000_000_000 {
                lastReport = now
                let drops = queue.dropped
                let st = spool.stats
                log(.info, "counters: \(gate.run { $0.counters.summaryLine }) queue_dropped=\(drops) spool_records=\(st.count) spool_dropped=\(st.dropped) upstream_reconnects=\(up.reconnects)")
                for l in serialLinks { log(.info, Agent.serialCounters(l)) }
                if drops > reportedDrops { log(.warning, "input queue overflow: \(drops - reportedDrops) frames dropped (policy \(agent.queue.overflow.rawValue))"); reportedDrops = drops }
            }
        }

        log(.info, "stopping: closing sources")
        // The sources stop on a thread of their own while this one keeps draining the queue, so
        // that a source blocked on a full queue (overflow: block) gets room and can stop, and
        // every frame a source read before it stopped is processed. Only then is the queue closed.
        let sourcesStopped = OnceFlag()
        let stopper = OSThread(name: "stop-sources") { [input, captures, serialLinks, log] in
            input?.stop()
            for c in captures {
                c.stop()
                log(.info, "capture \(c.interface): \(c.summary)")
            }
            for l in serialLinks {
                l.stop()
                log(.info, Agent.serialCounters(l))
            }
            sourcesStopped.set()
            queue.interrupt()
        }
        stopper.start()
        while !sourcesStopped.isSet {
            if let f = queue.pop(timeoutMs: 50) { _ = ingestQueued(f, queue, gate) }
        }
        stopper.join()
        queue.close()
        if let f = queue.pop(timeoutMs: 0) { _ = ingestQueued(f, queue, gate) }
        if queue.rejectedAfterClose > 0 { log(.warning, "\(queue.rejectedAfterClose) frames arrived after the stop began and were not processed") }
        gate.run { $0.finish() }  // partial summaries for open windows; commits
        let uncommitted = spool.stats.pending
        if uncommitted > 0 {
            log(.error, "spool: the last commit failed; \(uncommitted) records that were never written to disk are lost")
        }
        let deadline = Clock.monotonicNs() + drainTimeoutNs
        let drained = forwarder.drain(deadlineNs: deadline)
        let st = spool.stats
        log(drained ? .info : .warning, drained ? "spool drained" : "spool not drained within the timeout: \(st.count) records stay for the next start")
        log(.info, "upstream: published=\(forwarder.published) acknowledged=\(forwarder.acknowledged) reconnects=\(up.reconnects) spool_dropped=\(st.dropped)")
        forwarder.stop()
        if up.isConnected {
            _ = try? offline.withUnsafeBytes { try forwarder.publishUntracked(topic: topics.status, payload: $0, qos: 1, retain: true) }
            Clock.sleep(ns: 100_000_000)
        }
        up.stop()
        log(.info, "stopped: \(gate.run { $0.counters.summaryLine }) queue_dropped=\(queue.dropped)")
    }

    /// One log line with a serial link's counters: every 60 s and at stop.
    static func serialCounters(_ l: SerialLink) -> String {
        let f = l.framing
        var line = "serial \(l.spec.port): bytes=\(l.bytes) frames=\(f.frames) corrupt=\(f.corrupt) oversize=\(f.oversize) garbage_bytes=\(f.garbageBytes) hangups=\(l.hangups) returns=\(l.returns)"
        if l.spec.poll != nil {
            let p = l.pollCounters
            line += " requests=\(p.requests) replies=\(p.replies) timeouts=\(p.timeouts) crc_errors=\(p.crcErrors) exceptions=\(p.exceptions) mismatches=\(p.mismatches)"
        }
        return line
    }

    /// Runs `first` and what else is queued, at most `limit` frames in all, through the pipeline
    /// under one hold of the gate; returns how many.
    private func ingestQueued(_ first: InputFrame, _ queue: BoundedQueue<InputFrame>, _ gate: PipelineGate, limit: Int = .max) -> Int {
        gate.run { p in
            var n = 0
            var next: InputFrame? = first
            while let f = next {
                f.bytes.withUnsafeBytes { p.ingest(binding: f.binding, payload: $0, arrivalNs: f.arrivalNs) }
                n += 1
                next = n < limit ? queue.pop(timeoutMs: 0) : nil
            }
            return n
        }
    }
}

public struct AgentError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Turns SIGTERM and SIGINT into a call on a thread of our own (sigwait), instead of running code
/// inside a signal handler. Call before starting any other thread so all threads inherit the mask.
public enum SignalWatcher {
    public static func install(_ onSignal: @escaping @Sendable (Int32) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
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
