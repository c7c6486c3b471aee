import DewpointCore
import DewpointMQTT
import DewpointPipeline
import DewpointSpool
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The sink of `dewpoint run`: records go to the spool (SQLite) under their upstream topics, and
/// a forwarder sends committed records to the upstream broker, deleting each on PUBACK.
///
/// The connection publishes a retained `online` status on every connect and leaves `offline` as
/// its last will; `stop` publishes `offline` itself after draining.
public final class UpstreamSink: Sink, Sendable {
    public let spool: SpoolQueue
    public let topics: UpstreamTopics
    public let client: MQTTClient
    public let forwarder: Forwarder
    private let logger: Logger
    private let onRecord: @Sendable () -> Void
    private let offline: [UInt8]
    /// `upstream.format: sparkplug_b`, and `upstream.discovery: homeassistant` (nil when not used).
    public let sparkplug: SparkplugFormat?
    public let discovery: HomeAssistantDiscovery?
    /// Which binding each device belongs to, for the formats that describe devices.
    public let directory: DeviceDirectory
    private struct CommitState {
        var lastCommitNs: UInt64 = 0
        /// Failures in a row: logged for the first and every 60th, so that a failing disk cannot
        /// flood the journal. Nothing is lost meanwhile: records stay pending in memory (bounded
        /// by the spool's size) until a commit succeeds.
        var failures = 0
        /// When to try again after a failed commit (a second later); 0 after a success.
        var retryAtNs: UInt64 = 0
        /// When the first alert since the last commit was appended (0: none).
        var earlySinceNs: UInt64 = 0
    }
    /// How long a commit waits after an alert: the forwarder sends the alert meanwhile, without
    /// the commit's disk work competing with it for the CPU. `DEWPOINT_FAULT_EARLY_COMMIT_DELAY_MS`
    /// lengthens it (the crash tests use it, to kill the agent between the send and the commit;
    /// nothing else should).
    static let earlyCommitDelayNs: UInt64 = getenv("DEWPOINT_FAULT_EARLY_COMMIT_DELAY_MS")
        .flatMap { UInt64(String(cString: $0)) }.map { $0 * 1_000_000 } ?? 1_500_000
    private let commitState = Mutex(CommitState())
    /// `spool.lock`, held (flock) while the sink lives, or until a stop: one agent per spool.
    private let lockFD: Mutex<Int32>

    deinit { releaseLock() }

    /// Lets go of `spool.lock` (a reload's next sink takes it at once).
    private func releaseLock() {
        lockFD.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    /// Takes the spool folder's lock, or says who holds it.
    static func lockSpool(_ dir: String) throws(SinkError) -> Int32 {
        let path = dir + "/spool.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SinkError("cannot open \(path): \(String(cString: strerror(errno))) (set spool.dir to a writable folder)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, 31, 0)
            let holder = n > 0 ? String(decoding: buf[0..<n].prefix { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self) : "?"
            close(fd)
            throw SinkError("another agent (pid \(holder)) is using the spool in \(dir): two agents on one spool would send records twice and take each other's broker sessions. Stop the other one, or give this one its own spool.dir and client ids")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        return fd
    }

    /// Opens the spool and prepares the upstream connection (it connects on `start`).
    /// `onRecord` runs after every record is appended, on the pipeline's thread, so that the
    /// runner can commit it soon without polling.
    /// `schemas` describe the bindings' records, for the formats that announce devices.
    public init(agentId: String, spec: UpstreamSpec, spoolSpec: SpoolSpec, options: MQTTClient.Options, schemas: [RecordSchema] = [],
                logger: Logger, onRecord: @escaping @Sendable () -> Void) throws(SinkError) {
        let path = spoolSpec.dir + "/spool.db"
        _ = mkdir(spoolSpec.dir, 0o700)  // StateDirectory makes it under systemd; by hand, it may not exist
        lockFD = Mutex(try UpstreamSink.lockSpool(spoolSpec.dir))
        do { spool = try SpoolQueue(path: path, maxBytes: spoolSpec.maxBytes) } catch {
            throw SinkError("\(error) (set spool.dir to a writable folder)")
        }
        let s0 = spool.stats
        logger.info("spool \(path): \(s0.count) records waiting, \(s0.dropped) dropped so far")
        let topics = UpstreamTopics(spec, agent: agentId)
        self.topics = topics
        self.logger = logger
        self.onRecord = onRecord
        let offline = Array(#"{"state":"offline","agent":"\#(agentId)"}"#.utf8)
        self.offline = offline
        var o = options
        o.will = .init(topic: topics.status, payload: offline, qos: 1, retain: true)
        let directory = DeviceDirectory()
        self.directory = directory
        let bySchema = Dictionary(schemas.map { ($0.binding, $0) }, uniquingKeysWith: { a, _ in a })
        let sparkplug: SparkplugFormat? = spec.format == .sparkplugB
            ? SparkplugFormat(spec: spec, agentId: agentId, spoolDir: spoolSpec.dir, logger: logger,
                              schemaOf: { device in directory.binding(of: device).flatMap { bySchema[$0] } },
                              raisedOf: { directory.raisedAlerts(of: $0) })
            : nil
        let discovery: HomeAssistantDiscovery? = spec.discovery == .homeassistant
            ? HomeAssistantDiscovery(spec: spec, agentId: agentId, topics: topics, spoolDir: spoolSpec.dir, schemas: schemas, logger: logger,
                                     bindingOf: { directory.binding(of: $0) }, raisedOf: { directory.raisedAlerts(of: $0) })
            : nil
        self.sparkplug = sparkplug
        self.discovery = discovery
        if let sparkplug {
            // the node's death certificate is the will (its bdSeq changes with every connection);
            // Sparkplug's NBIRTH and NDEATH say what the status topic says
            o.will = nil
            o.willForConnect = { sparkplug.willForConnect() }
        }
        let commandTopic = sparkplug?.commandTopic
        let events = ForwarderEvents()
        let host = "\(options.host):\(options.port)"
        do {
            client = try MQTTClient(o, logger: logger, handlers: .init(
                message: { topic, payload in
                    guard let sparkplug, let commandTopic, topic.elementsEqual(commandTopic.utf8) else { return }
                    sparkplug.command(Array(payload))
                },
                connected: { client in
                    events.connectionLost()  // resend everything unacknowledged, from the oldest
                    if let commandTopic {
                        sparkplug?.connectionAccepted()
                        do { try client.subscribe(commandTopic, qos: 0) } catch { logger.error("sparkplug: cannot subscribe to \(commandTopic): \(error)") }
                        logger.info("upstream connected to \(host)")
                        return
                    }
                    var online: [UInt8] = Array(#"{"state":"online","agent":"\#(agentId)","ts_ms":"#.utf8)
                    JSONText.integer(Clock.wallNs() / 1_000_000, into: &online)
                    online.append(UInt8(ascii: "}"))
                    _ = try? online.withUnsafeBytes { try events.publishUntracked(client, topic: topics.status, payload: $0, qos: 1, retain: true) }
                    logger.info("upstream connected to \(host)")
                },
                disconnected: { reason in
                    events.connectionLost()
                    logger.warning("upstream disconnected: \(reason)")
                },
                published: { events.acked(mid: $0) }))
        } catch {
            throw SinkError("upstream: \(error)")
        }
        let format: (any UpstreamFormat)? = sparkplug ?? discovery
        forwarder = Forwarder(spool: spool, client: client, events: events, qos: spec.qos, maxInflight: spec.maxInflight,
                              format: format, logger: logger)
    }

    public var name: String { "upstream \(client.options.host):\(client.options.port)" }

    /// Publishes a retained status (the agent's vitals) and a metrics record, if connected; they
    /// are not spooled (the next ones replace them).
    public func publishVitals(status: [UInt8], metrics: [UInt8]) {
        guard client.isConnected else { return }
        _ = try? status.withUnsafeBytes { try forwarder.publishUntracked(topic: topics.status, payload: $0, qos: 1, retain: true) }
        _ = try? metrics.withUnsafeBytes { try forwarder.publishUntracked(topic: topics.metrics, payload: $0, qos: 0, retain: false) }
    }

    public func write(kind: RecordKind, device: String, seq: UInt64, json: UnsafeRawBufferPointer) {
        // an alert may go before its commit (`SpoolQueue.takeEarly`), sent by `sendEarly`
        let early = kind == .alert
        if early { commitState.withLock { s in if s.earlySinceNs == 0 { s.earlySinceNs = Clock.monotonicNs() } } }
        spool.append(seq: seq, topic: topics.topic(kind: kind, device: device), payload: Array(json), early: early)
        onRecord()
        if early { earlyWaiting.store(true, ordering: .releasing) }
    }

    /// The pipeline's flush does not commit: the runner commits, with a checkpoint
    /// (`commit(sealing:)`), and the pipeline's lock must not be held while it waits for a disk.
    public func flush() {}

    /// Alerts were appended since the last `sendEarly`.
    private let earlyWaiting = Atomic<Bool>(false)

    /// Sends the alerts appended since the last call, before their commit: called by the thread
    /// that produced them once it has left the pipeline's lock (the MQTT input after each pass,
    /// the agent's loop after its frames and clock), so that the alert does not wait for another
    /// thread to wake (`Forwarder.sendEarly`). Alerts nobody sends this way go with their commit.
    public func sendEarly() {
        guard earlyWaiting.exchange(false, ordering: .acquiringAndReleasing) else { return }
        forwarder.sendEarly()
    }

    public func start() {
        client.start()
        forwarder.start()
    }

    /// Commits come as soon as records exist (they are few: one summary per device per window,
    /// and alerts), at most every 5 ms so that bursts share one transaction, and 1.5 ms after an
    /// alert (sent meanwhile, before its commit); after a failed commit, a second later.
    public var commitDueNs: UInt64? {
        guard spool.stats.pending > 0 else { return nil }
        return commitState.withLock { s in
            let due = max(s.lastCommitNs + 5_000_000, s.retryAtNs)
            return s.earlySinceNs == 0 ? due : max(due, s.earlySinceNs + Self.earlyCommitDelayNs)
        }
    }

    /// Commits what is pending (with what `sealing` adds) and wakes the forwarder; true if it did
    /// (or nothing was pending).
    @discardableResult
    public func commit(sealing: (_ take: () -> Void) -> Void) -> Bool {
        let now = Clock.monotonicNs()
        do {
            try spool.commit(sealing: sealing)
            commitState.withLock { $0.failures = 0; $0.retryAtNs = 0; $0.lastCommitNs = now; $0.earlySinceNs = 0 }
            forwarder.wakeup.signal()
            return true
        } catch {
            let failures = commitState.withLock { s -> Int in
                s.failures += 1
                s.retryAtNs = now + 1_000_000_000
                s.lastCommitNs = now
                return s.failures
            }
            if failures == 1 || failures % 60 == 0 { logger.error("spool commit failed: \(error)") }
            return false
        }
    }

    public func stop(deadlineNs: UInt64, final: Bool = true) -> Bool {
        let uncommitted = spool.stats.pending
        if uncommitted > 0 {
            logger.error("spool: the last commit failed; \(uncommitted) records that were never written to disk are lost")
        }
        let drained = forwarder.drain(deadlineNs: deadlineNs)
        let st = spool.stats
        if !final {
            logger.info("spool: \(st.count) records waiting go on after the reload")
        } else if drained {
            logger.info("spool drained")
        } else {
            logger.warning("spool not drained within the timeout: \(st.count) records stay for the next start")
        }
        logger.info("upstream: published=\(forwarder.published) acknowledged=\(forwarder.acknowledged) reconnects=\(client.reconnects) spool_dropped=\(st.dropped) dead_letters=\(forwarder.deadLettered)")
        forwarder.stop()
        if let sparkplug, client.isConnected {
            // a clean DISCONNECT drops the will: the node's death is published here (a reload too
            // ends the session, and the next one starts with a new bdSeq)
            let death = sparkplug.deathCertificate()
            _ = try? death.payload.withUnsafeBytes { try forwarder.publishUntracked(topic: death.topic, payload: $0, qos: death.qos, retain: false) }
            Clock.sleep(ns: 100_000_000)
        } else if final && client.isConnected {
            _ = try? offline.withUnsafeBytes { try forwarder.publishUntracked(topic: topics.status, payload: $0, qos: 1, retain: true) }
            Clock.sleep(ns: 100_000_000)
        }
        client.stop()
        releaseLock()
        return drained
    }

    public var counters: SourceCounters {
        let st = spool.stats
        return SourceCounters([("spool_records", st.count), ("spool_dropped", Int(st.dropped)), ("upstream_reconnects", client.reconnects),
                               ("dead_letters", forwarder.deadLettered)])
    }
}

/// Which binding each device belongs to: a cache in front of a lookup in the pipeline (set by
/// the agent once the pipeline exists), bounded.
public final class DeviceDirectory: Sendable {
    private let cache = Mutex<[String: String]>([:])
    private let lookup = Mutex<(@Sendable (String) -> String?)?>(nil)
    private let alerts = Mutex<(@Sendable (String) -> [String]?)?>(nil)
    public init() {}

    public func setLookup(_ f: @escaping @Sendable (String) -> String?) { lookup.withLock { $0 = f } }
    /// How to ask for a device's raised alerts (`channel/detector`).
    public func setAlertLookup(_ f: @escaping @Sendable (String) -> [String]?) { alerts.withLock { $0 = f } }

    public func raisedAlerts(of device: String) -> [String]? { alerts.withLock { $0 }?(device) }

    public func binding(of device: String) -> String? {
        if let b = cache.withLock({ $0[device] }) { return b }
        guard let f = lookup.withLock({ $0 }), let b = f(device) else { return nil }
        cache.withLock { c in
            if c.count >= 100_000 { c.removeAll(keepingCapacity: true) }
            c[device] = b
        }
        return b
    }
}

public struct SinkError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
