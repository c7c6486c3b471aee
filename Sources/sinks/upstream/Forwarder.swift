import DewpointCore
import DewpointMQTT
import DewpointSpool
import Logging
import Synchronization

/// What the upstream connection's network thread tells the forwarder: acknowledgements and
/// (re)connections. Made before the MQTT client, whose handlers call it, and shared by both.
public final class ForwarderEvents: Sendable {
    struct State {
        var inflight: [Int32: UInt64] = [:]
        /// Acks that arrived before their publish was registered (the network thread can be faster
        /// than the thread that published).
        var earlyAcks: Set<Int32> = []
        /// Message ids of publishes that are not records (the status), whose acks are not records'.
        var untracked: Set<Int32> = []
        var acks: [UInt64] = []
        var resetRequested = false
        var published = 0
        var acknowledged = 0
        /// Records set aside as dead letters since start.
        var deadLettered = 0
        /// Reasons already logged (each is logged once).
        var loggedReasons: Set<String> = []
    }
    let state = Mutex(State())
    /// Signalled when there may be work: a commit, an acknowledgement, a (re)connection.
    public let wakeup = Wakeup()

    public init() {}

    public func acked(mid: Int32) {
        state.withLock { s in
            if let seq = s.inflight.removeValue(forKey: mid) { s.acks.append(seq) }
            else if s.untracked.remove(mid) == nil {
                // acks for ids never sent (a confused broker) must not pile up: message ids are
                // 16 bits, so more early acks than that are stale
                if s.earlyAcks.count >= 1 << 16 { s.earlyAcks.removeAll() }
                s.earlyAcks.insert(mid)
            }
        }
        wakeup.signal()
    }

    public func connectionLost() {
        state.withLock { $0.resetRequested = true }
        wakeup.signal()
    }

    /// Publishes a message that is not a spool record (the retained status) on `client`: its
    /// acknowledgement is recognised and never taken for a record's.
    public func publishUntracked(_ client: MQTTClient, topic: String, payload: UnsafeRawBufferPointer, qos: Int, retain: Bool) throws(MQTTError) {
        let mid = try client.publish(topic: topic, payload: payload, qos: qos, retain: retain)
        guard qos > 0 else { return }
        state.withLock { s in
            if s.earlyAcks.remove(mid) != nil { return }
            // ids of messages whose acks were lost with a connection; ids are 16 bits, so the set
            // stays below 2^16 (announcements, such as Home Assistant's configs, come in hundreds)
            if s.untracked.count >= 1 << 16 { s.untracked.removeAll() }
            s.untracked.insert(mid)
        }
    }
}

/// Sends spool records upstream in `seq` order and deletes each only on PUBACK: committed ones,
/// and alerts before their commit once everything before them is sent (`SpoolQueue.takeEarly`).
///
/// Contract:
/// - Threading: runs on its own thread; `sendEarly` sends from the caller's thread, under the
///   same lock as the forwarder's turns. The upstream client's handlers report acknowledgements
///   and connections through `events` (`ForwarderEvents`), whose state is behind its mutex.
/// - Flow control: at most `maxInflight` records are unacknowledged at once.
/// - Ordering and duplicates: after a reconnection everything unacknowledged is sent again from
///   the oldest, so a consumer may see a `seq` twice but never out of order after dropping
///   duplicates by `seq`.
public final class Forwarder: Sendable {
    private let spool: SpoolQueue
    private let client: MQTTClient
    private let qos: Int
    private let maxInflight: Int
    /// How records travel (nil: as spooled, Dewpoint's JSON).
    private let format: (any UpstreamFormat)?
    public let events: ForwarderEvents
    private let worker = StoppableThread()
    /// Turns of the loop (see `StoppableThread.heartbeat`).
    public var heartbeat: UInt64? { worker.heartbeat }
    private let logger: Logger
    /// The seq of the last record published; changed only under `sending`.
    private let lastSent = Atomic<UInt64>(0)

    /// Signalled when there may be work: a commit, an acknowledgement, a (re)connection.
    public var wakeup: Wakeup { events.wakeup }
    /// Records published and acknowledged (PUBACK) since start.
    public var published: Int { events.state.withLock { $0.published } }
    public var acknowledged: Int { events.state.withLock { $0.acknowledged } }
    /// Records set aside as dead letters since start (see `SpoolQueue.setAside`).
    public var deadLettered: Int { events.state.withLock { $0.deadLettered } }

    public init(spool: SpoolQueue, client: MQTTClient, events: ForwarderEvents, qos: Int, maxInflight: Int,
                format: (any UpstreamFormat)? = nil, logger: Logger = Logger(label: "dewpoint.upstream")) {
        self.format = format
        self.spool = spool
        self.client = client
        self.events = events
        self.qos = qos
        self.maxInflight = maxInflight
        self.logger = logger
    }

    /// Publishes a message that is not a spool record (the retained status) on the same
    /// connection: its acknowledgement is recognised and never taken for a record's.
    public func publishUntracked(topic: String, payload: UnsafeRawBufferPointer, qos: Int, retain: Bool) throws(MQTTError) {
        try events.publishUntracked(client, topic: topic, payload: payload, qos: qos, retain: retain)
    }

    public var inflightCount: Int { events.state.withLock { $0.inflight.count } }

    public func start() {
        worker.start(name: "forwarder") { [self] in run() }
    }

    public func stop() { worker.stop { wakeup.signal() } }

    /// Waits until everything committed is acknowledged, or the deadline passes. True if drained.
    public func drain(deadlineNs: UInt64) -> Bool {
        while Clock.monotonicNs() < deadlineNs {
            let s = spool.stats
            // records still pending here failed their final commit (the agent logs them): only
            // what is on disk can be sent
            if s.count == 0 && inflightCount == 0 { return true }
            Clock.sleep(ns: 10_000_000)
        }
        return false
    }

    /// A record the broker can never take leaves the queue for the dead letters, so that it does
    /// not hold back the records behind it; each reason is logged once.
    private func setAside(_ r: SpoolQueue.Record, _ error: MQTTError) {
        guard setAside(seq: r.seq, reason: error.description, topic: r.topic, bytes: r.payload.count) else { return }
        lastSent.store(r.seq, ordering: .relaxed)
    }

    /// Moves record `seq` to the dead letters and logs the reason once; false if it failed.
    @discardableResult
    private func setAside(seq: UInt64, reason: String, topic: String? = nil, bytes: Int? = nil) -> Bool {
        do { try spool.setAside(seq: seq, reason: reason, nowMs: Clock.wallNs() / 1_000_000) } catch {
            logger.error("spool: cannot set record \(seq) aside: \(error)")
            return false
        }
        let first = events.state.withLock { s -> Bool in
            s.deadLettered += 1
            return s.loggedReasons.count < 64 && s.loggedReasons.insert(reason).inserted
        }
        if first {
            let what = topic.map { " (topic \(logExcerpt($0)), \(bytes ?? 0) bytes)" } ?? ""
            logger.error("record \(seq)\(what) can never be published (\(logExcerpt(reason, limit: 240))): set aside as a dead letter; `dewpoint spool --dead-letters` lists them")
        }
        return true
    }

    /// Publishes a format's message that is not a record (untracked).
    private func announce(_ m: OutgoingMessage) throws(MQTTError) {
        let r = m.payload.withUnsafeBytes { p in
            Result { () throws(MQTTError) in try publishUntracked(topic: m.topic, payload: p, qos: m.qos, retain: m.retain) }
        }
        try r.get()
    }

    /// What the sending side keeps between turns. Behind `sending`, so that the input's thread
    /// can send an alert itself while the forwarder waits (`sendEarly`).
    private struct SendState: Sendable {
        var poison = PoisonRecordDetector()
        /// The last committed seq when a read found everything committed sent (nil: not known).
        var caughtUpTo: UInt64? = nil
    }
    private let sending = Mutex(SendState())

    /// Sends the alerts waiting for their commit on the calling thread (the input's, right after
    /// the pass that raised them) when the forwarder is not busy and knows that everything
    /// committed has been sent; otherwise wakes the forwarder for them. It saves a thread's
    /// wakeup on the way of an alert, and never waits for the database.
    public func sendEarly() {
        let sent = sending.withLockIfAvailable { s -> Bool in
            guard client.isConnected else { return false }
            let batch = uncommitted(s, after: lastSent.load(ordering: .relaxed), limit: freeSlots(s))
            guard !batch.isEmpty else { return false }
            do { try publish(batch, &s) } catch { logger.warning("upstream publish: \(error)") }
            return true
        }
        if sent != true { wakeup.signal() }
    }

    /// How many more records may be in flight.
    private func freeSlots(_ st: SendState) -> Int { st.poison.inflightLimit(maxInflight) - inflightCount }

    /// Alerts not yet committed that may go now: only when the last read found everything
    /// committed sent (`caughtUpTo`), and `takeEarly` checks that nothing was committed since.
    private func uncommitted(_ st: SendState, after: UInt64, limit: Int) -> [SpoolQueue.Record] {
        guard let upTo = st.caughtUpTo, limit > 0 else { return [] }
        return spool.takeEarly(after: after, committedSeq: upTo, limit: limit)
    }

    private func run() {
        while !worker.isStopping {
            let worked = sending.withLock { s in turn(&s) }
            // no polling: sleep until signalled (the timeout only covers a lost connection
            // that nobody reported)
            if !worked { wakeup.wait(timeoutNs: 200_000_000) }
        }
    }

    /// One turn: acknowledgements, a reconnection, the format's announcements, then records.
    /// True if it did anything.
    private func turn(_ st: inout SendState) -> Bool {
        var worked = false
        let (done, reset) = events.state.withLock { s -> ([UInt64], Bool) in
            let a = s.acks, r = s.resetRequested
            s.acks.removeAll(keepingCapacity: true)
            s.resetRequested = false
            // `untracked` survives: the online status is registered right after a reconnect,
            // before this reset runs
            if r { s.inflight.removeAll(); s.earlyAcks.removeAll() }
            return (a, r)
        }
        if !done.isEmpty {
            do { try spool.remove(done) } catch { logger.warning("spool: \(error)") }
            events.state.withLock { $0.acknowledged += done.count }
            st.poison.acknowledged()
            worked = true
        }
        if reset {
            format?.connectionReset()
            lastSent.store(0, ordering: .relaxed)
            st.caughtUpTo = nil
            if qos > 0, let seq = st.poison.connectionLost(nowNs: Clock.monotonicNs()) {
                setAside(seq: seq, reason: "the broker closed the connection each of the \(st.poison.strikesToSetAside) times this record was the next to deliver (a packet over its max_packet_size, or one it refuses)")
            }
        }
        if let format, client.isConnected {
            do {
                for m in format.due(nowMs: UInt64(Clock.wallNs() / 1_000_000)) {
                    try announce(m)
                    worked = true
                }
            } catch {
                logger.warning("upstream publish: \(error)")
            }
        }
        let room = freeSlots(st)
        if client.isConnected && room > 0 {
            do {
                // committed records first; once all are sent, alerts not yet committed
                // (`SpoolQueue.takeEarly`), so that an alert does not wait for a disk
                let after = lastSent.load(ordering: .relaxed)
                // caught up with what was committed: alerts go without waiting for the
                // database (a commit may be writing them)
                var batch = uncommitted(st, after: after, limit: room)
                if batch.isEmpty {
                    let (committed, committedSeq) = try spool.readCommitted(after: after, limit: room)
                    st.caughtUpTo = committed.count < room ? committedSeq : nil
                    batch = committed + uncommitted(st, after: max(after, committed.last?.seq ?? 0), limit: room - committed.count)
                }
                if !batch.isEmpty { worked = true }
                try publish(batch, &st)
            } catch {
                logger.warning("upstream publish: \(error)")
            }
        }
        return worked
    }

    /// Publishes records in order: each in its format, registered in flight, `lastSent` moved on.
    /// A record the format or the broker can never take is set aside; another error ends the batch.
    private func publish(_ batch: [SpoolQueue.Record], _ st: inout SendState) throws {
        for r in batch {
            var message = OutgoingMessage(topic: r.topic, payload: r.payload, qos: qos, retain: false)
            if let format {
                switch Result(catching: { () throws(UpstreamFormatError) in try format.present(r, nowMs: UInt64(Clock.wallNs() / 1_000_000)) }) {
                case .success(let presented):
                    for m in presented.announce { try announce(m) }
                    message = presented.record
                case .failure(let e):
                    if setAside(seq: r.seq, reason: e.description, topic: r.topic, bytes: r.payload.count) {
                        lastSent.store(r.seq, ordering: .relaxed)
                    }
                    continue
                }
            }
            let sent = message.payload.withUnsafeBytes { p in
                Result { () throws(MQTTError) in try client.publish(topic: message.topic, payload: p, qos: message.qos, retain: message.retain) }
            }
            let mid: Int32
            switch sent {
            case .success(let m): mid = m
            case .failure(let e) where e.isPermanentForMessage:
                setAside(r, e)
                continue
            case .failure(let e): throw e
            }
            let oldest = events.state.withLock { s -> Bool in
                let first = s.inflight.isEmpty
                if s.earlyAcks.remove(mid) != nil { s.acks.append(r.seq) } else { s.inflight[mid] = r.seq }
                s.published += 1
                return first
            }
            st.poison.sent(seq: r.seq, oldest: oldest, nowNs: Clock.monotonicNs())
            lastSent.store(r.seq, ordering: .relaxed)
        }
    }
}
