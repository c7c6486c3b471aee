import DewpointCore
import DewpointMQTT
import DewpointSpool

/// Sends committed spool records upstream in `seq` order and deletes each only on PUBACK.
///
/// Contract:
/// - Threading: runs on its own thread. `acked`, `connectionLost` are called from the MQTT
///   network thread; they only touch state behind `lock`.
/// - Flow control: at most `maxInflight` records are unacknowledged at once.
/// - Ordering and duplicates: after a reconnection everything unacknowledged is sent again from
///   the oldest, so a consumer may see a `seq` twice but never out of order after dropping
///   duplicates by `seq`.
public final class Forwarder: @unchecked Sendable {
    // @unchecked: mutable state is guarded by `lock`; `thread` is set before start.
    private let spool: SpoolQueue
    private let client: MQTTClient
    private let qos: Int
    private let maxInflight: Int
    private let lock = Lock()
    private var inflight: [Int32: UInt64] = [:]
    /// Acks that arrived before their publish was registered (the network thread can be faster
    /// than the thread that published).
    private var earlyAcks: Set<Int32> = []
    /// Message ids of publishes that are not records (the status), whose acks are not records'.
    private var untracked: Set<Int32> = []
    private var acks: [UInt64] = []
    private var resetRequested = false
    private var lastSent: UInt64 = 0
    private let worker = StoppableThread()
    /// Signalled when there may be work: a commit, an acknowledgement, a (re)connection.
    public let wakeup = Wakeup()
    private var _published = 0
    private var _acknowledged = 0
    /// Records published and acknowledged (PUBACK) since start.
    public var published: Int { lock.withLock { _published } }
    public var acknowledged: Int { lock.withLock { _acknowledged } }
    public var log: @Sendable (String) -> Void = { _ in }

    public init(spool: SpoolQueue, client: MQTTClient, qos: Int, maxInflight: Int) {
        self.spool = spool
        self.client = client
        self.qos = qos
        self.maxInflight = maxInflight
    }

    public func acked(mid: Int32) {
        lock.withLock {
            if let seq = inflight.removeValue(forKey: mid) { acks.append(seq) }
            else if untracked.remove(mid) == nil { earlyAcks.insert(mid) }
        }
        wakeup.signal()
    }

    /// Publishes a message that is not a spool record (the retained status) on the same
    /// connection: its acknowledgement is recognised and never taken for a record's.
    public func publishUntracked(topic: String, payload: UnsafeRawBufferPointer, qos: Int, retain: Bool) throws(MQTTError) {
        let mid = try client.publish(topic: topic, payload: payload, qos: qos, retain: retain)
        guard qos > 0 else { return }
        lock.withLock {
            if earlyAcks.remove(mid) != nil { return }
            if untracked.count >= 64 { untracked.removeAll() }  // acks lost with a connection
            untracked.insert(mid)
        }
    }

    public func connectionLost() {
        lock.withLock { resetRequested = true }
        wakeup.signal()
    }

    public var inflightCount: Int { lock.withLock { inflight.count } }

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

    private func run() {
        while !worker.isStopping {
            var worked = false
            let (done, reset) = lock.withLock { () -> ([UInt64], Bool) in
                let a = acks, r = resetRequested
                acks.removeAll(keepingCapacity: true)
                resetRequested = false
                // `untracked` survives: the online status is registered right after a reconnect,
                // before this reset runs
                if r { inflight.removeAll(); earlyAcks.removeAll() }
                return (a, r)
            }
            if !done.isEmpty {
                do { try spool.remove(done) } catch { log("spool: \(error)") }
                lock.withLock { _acknowledged += done.count }
                worked = true
            }
            if reset { lastSent = 0 }
            let room = maxInflight - inflightCount
            if client.isConnected && room > 0 {
                do {
                    for r in try spool.read(after: lastSent, limit: room) {
                        let mid = try r.payload.withUnsafeBytes { p throws(MQTTError) in
                            try client.publish(topic: r.topic, payload: p, qos: qos, retain: false)
                        }
                        lock.withLock {
                            if earlyAcks.remove(mid) != nil { acks.append(r.seq) } else { inflight[mid] = r.seq }
                            _published += 1
                        }
                        lastSent = r.seq
                        worked = true
                    }
                } catch {
                    log("upstream publish: \(error)")
                }
            }
            // no polling: sleep until signalled (the timeout only covers a lost connection
            // that nobody reported)
            if !worked { wakeup.wait(timeoutNs: 200_000_000) }
        }
    }
}
