import CMosquitto
import DewpointCore
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct MQTTError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var code: Int32
    public var detail: String
    public var description: String { "\(operation): \(detail)" }

    /// Whether publishing this message can never succeed, whatever the connection does: a topic
    /// or payload the protocol or the broker's limits refuse. The message must be set aside
    /// rather than retried.
    public var isPermanentForMessage: Bool {
        [MOSQ_ERR_INVAL, MOSQ_ERR_PAYLOAD_SIZE, MOSQ_ERR_MALFORMED_UTF8, MOSQ_ERR_OVERSIZE_PACKET].contains { $0.rawValue == code }
    }
}

/// A message to publish: a last will, or what an upstream format sends.
public struct MQTTMessage: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: Int
    public var retain: Bool
    public init(topic: String, payload: [UInt8], qos: Int, retain: Bool) {
        self.topic = topic; self.payload = payload; self.qos = qos; self.retain = retain
    }
}

/// One connection to one broker, over libmosquitto, with its own network thread.
///
/// Contract:
/// - Threading: `mosquitto_loop` runs on a dedicated thread that this object owns
///   (`mosquitto_threaded_set` is on; `loop_start` is not used because its thread dies silently on
///   fatal errors). The `Handlers`, given at init, run on that thread and must not block for long. `publish` and `subscribe` may be called
///   from any thread.
/// - Reconnection: the `ConnectionStateMachine` decides; backoff is jittered and exponential.
///   `connected` runs after every CONNACK, so subscriptions and the online status are renewed.
/// - Backpressure: the message bytes passed to `onMessage` live only during the call (libmosquitto
///   frees them after it). While `message` runs the client reads nothing more, so a slow handler
///   leaves the backlog in TCP buffers and the broker, within the broker's queue limits.
/// - Cancellation: `stop()` disconnects cleanly (no last will) and joins the thread.
public final class MQTTClient: Sendable {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        public var clientId: String?
        /// false: a persistent session, so QoS 1/2 messages sent while away are delivered.
        public var cleanSession: Bool
        public var username: String?
        public var password: String?
        public var tls: TLSSpec?
        /// 4 (MQTT 3.1.1) or 5.
        public var protocolVersion: Int
        public var keepaliveS: Int
        public var will: Will?
        /// Called on the network thread before every connection attempt: its will replaces `will`
        /// for that CONNECT (Sparkplug's NDEATH carries a number that changes per connection).
        public var willForConnect: (@Sendable () -> Will)? = nil
        public var backoff: ConnectionStateMachine.Backoff
        /// After a pass that delivered messages but emptied the socket (fewer than `batchSize`), the network thread
        /// sleeps this long before it waits on the socket again, so that the next pass finds a
        /// batch, when the arrival rate makes that pay (`BatchPacer`: at least `batchMin` messages
        /// expected meanwhile). 0 (the default) waits at once: one wakeup per message.
        public var batchWaitNs: UInt64
        /// The fewest messages a linger must be expected to gather (`BatchPacer.minBatch`).
        public var batchMin: Int
        /// The most packets one pass reads before it writes what they queued (PUBACKs).
        public var batchSize: Int
        /// Serve libmosquitto's reads of a plain TCP socket from a 32 KiB buffer of the network
        /// thread (one read(2) for many packets instead of about three a packet), by redirecting
        /// libmosquitto's `read` and `write` imports in its GOT (`CMosquittoShim`). Off by
        /// default: it rests on how libmosquitto 2.0 reads its sockets, and is installed only for
        /// that version. See the MQTT README for the trade-off.
        public var readBuffer = false
        /// MQTT 5: the largest packet the broker may send this client (CONNECT's Maximum Packet
        /// Size); it discards larger ones instead. nil: no limit. Ignored with MQTT 3.1.1, where
        /// only the broker's own `max_packet_size` bounds what arrives.
        public var maximumPacketSize: UInt32? = nil
        /// Send the packets a pass queued (PUBACKs) in one write(2) instead of one each. The write
        /// then waits up to 10 s for room in the socket, and the connection is dropped if it
        /// cannot finish: for a nearby broker (the input), not for a slow uplink. Plain TCP only.
        public var coalesceWrites = false
        /// Acknowledge QoS 1/2 messages only once `Handlers.commit` says what they produced is
        /// durable (`ack: after_commit`): PUBACKs wait in libmosquitto's queue until then.
        public var ackAfterCommit = false
        /// With `ackAfterCommit`: acknowledgements wait at most this long for a commit.
        public var ackIntervalNs: UInt64 = 500_000_000
        /// MQTT 5: how many QoS 1/2 messages the broker may have unacknowledged to this client
        /// (CONNECT's Receive Maximum); mosquitto lets it replace its `max_inflight_messages`.
        public var receiveMaximum: UInt16? = nil
        public init(host: String, port: Int, clientId: String? = nil, cleanSession: Bool = true, username: String? = nil,
                    password: String? = nil, tls: TLSSpec? = nil, protocolVersion: Int = 4, keepaliveS: Int = 30,
                    will: Will? = nil, backoff: ConnectionStateMachine.Backoff = .init(), batchWaitNs: UInt64 = 0,
                    batchMin: Int = BatchPacer.defaultMinBatch, batchSize: Int = 256, readBuffer: Bool = false) {
            self.host = host; self.port = port; self.clientId = clientId; self.cleanSession = cleanSession
            self.username = username; self.password = password; self.tls = tls; self.protocolVersion = protocolVersion
            self.keepaliveS = keepaliveS; self.will = will; self.backoff = backoff
            self.batchWaitNs = batchWaitNs; self.batchMin = batchMin; self.batchSize = max(1, batchSize); self.readBuffer = readBuffer
        }
    }

    /// The last will: a message like any other.
    public typealias Will = MQTTMessage

    /// What the network thread calls. All optional; given at init, never changed.
    public struct Handlers: Sendable {
        /// A message (bytes valid during the call).
        public var message: (@Sendable (_ topic: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) -> Void)?
        /// After every CONNACK that accepted the connection: subscribe here.
        public var connected: (@Sendable (MQTTClient) -> Void)?
        public var disconnected: (@Sendable (_ reason: String) -> Void)?
        /// After a pass of the network loop that delivered messages to `message`: the place to
        /// finish work batched across those messages.
        public var batchEnd: (@Sendable () -> Void)?
        /// PUBACK (QoS 1) or PUBCOMP (QoS 2) for a message id returned by `publish`.
        public var published: (@Sendable (_ mid: Int32) -> Void)?
        /// A QoS 1 or 2 message with its packet id; used instead of `message` for those when set.
        public var delivery: (@Sendable (_ topic: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer, _ packetId: UInt16) -> Void)?
        /// With `Options.ackAfterCommit`: commit what the delivered messages produced; true once it
        /// is durable (see `DurabilityGate`). Runs on the network thread.
        public var commit: (@Sendable () -> Bool)?
        /// Every acknowledgement queued so far has been written to the socket.
        public var acknowledged: (@Sendable () -> Void)?
        public init(message: (@Sendable (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void)? = nil,
                    connected: (@Sendable (MQTTClient) -> Void)? = nil, disconnected: (@Sendable (String) -> Void)? = nil,
                    batchEnd: (@Sendable () -> Void)? = nil, published: (@Sendable (Int32) -> Void)? = nil,
                    delivery: (@Sendable (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UInt16) -> Void)? = nil,
                    commit: (@Sendable () -> Bool)? = nil, acknowledged: (@Sendable () -> Void)? = nil) {
            self.message = message; self.connected = connected; self.disconnected = disconnected
            self.batchEnd = batchEnd; self.published = published
            self.delivery = delivery; self.commit = commit; self.acknowledged = acknowledged
        }
    }

    public let options: Options
    private let handlers: Handlers
    public let logger: Logger

    private struct State {
        var connected = false
        var connack: Int32? = nil
        var sessionPresent = false
        var machine: ConnectionStateMachine
        /// The reason code of the broker's last DISCONNECT (MQTT 5), until the loop reads it.
        var disconnectReason: Int32? = nil
        /// When the current connection was accepted, and how many in a row died within seconds.
        var connectedAtNs: UInt64 = 0
        var shortLived = 0
        /// Sessions taken over by another client with the same id (MQTT 5 reason 0x8E, or a
        /// connection closed within seconds three times in a row).
        var takeovers = 0
    }
    private let mosq: Mosquitto
    private let state: Mutex<State>
    private let worker = StoppableThread()
    /// Turns of the loop (see `StoppableThread.heartbeat`).
    public var heartbeat: UInt64? { worker.heartbeat }
    /// Held by `publish` and by the network thread while it reinitialises the handle between
    /// connections (a publish must not run into a handle being reset).
    private let publishing = Mutex(())
    /// Connections made so far (the network thread's own count).
    private let connects = Atomic<Int>(0)
    /// Messages delivered to `message`; counted by the network thread only (relaxed).
    private let delivered = Atomic<Int>(0)

    public init(_ options: Options, logger: Logger = Logger(label: "dewpoint.mqtt"), handlers: Handlers = Handlers()) throws(MQTTError) {
        self.options = options
        self.handlers = handlers
        self.logger = logger
        self.state = Mutex(State(machine: ConnectionStateMachine(backoff: options.backoff, seed: UInt64(truncatingIfNeeded: Clock.wallNs()))))
        mosq = try Mosquitto(clientId: options.clientId, cleanSession: options.cleanSession)
        try mosq.configure(options)
    }

    /// Process-wide: reads libmosquitto asked of buffered sockets, and the read(2) calls that
    /// served them (see `CMosquittoShim`).
    public static var readBufferTotals: (requests: UInt64, syscalls: UInt64) { Mosquitto.readBufferTotals }

    /// Why libmosquitto's reads cannot go through the read buffer in this process (an untested
    /// libmosquitto version, a redirection that failed), or nil when they can.
    public static var readBufferUnavailable: String? { Mosquitto.readHook == 0 ? nil : Mosquitto.readHookProblem }

    /// Whether libmosquitto's reads on this connection go through the read buffer (plain TCP,
    /// hook installed, not turned off).
    public var readsBuffered: Bool { mosq.readBuffered }

    public var isConnected: Bool { state.withLock { $0.connected } }
    /// Whether the broker kept this client's session at the last CONNACK.
    public var sessionPresent: Bool { state.withLock { $0.sessionPresent } }
    /// Acknowledgements held for a commit longer than twice `ackIntervalNs` because the broker
    /// stopped sending (a limit of its own on unacknowledged messages), and that limit.
    public var ackStalls: (count: Int, atHeld: Int) { stalls.withLock { ($0.count, $0.atHeld) } }
    private let stalls = Mutex<(count: Int, atHeld: Int, logged: Int)>((0, 0, -1))
    public var reconnects: Int { state.withLock { $0.machine.reconnects } }

    public func start() {
        mosq.setCallbacks(owner: Unmanaged.passUnretained(self).toOpaque())
        worker.start(name: "mqtt-\(options.port)") { [self] in run() }
    }

    /// Disconnects cleanly and joins the network thread.
    public func stop() { worker.stop() }

    public func subscribe(_ filter: String, qos: Int) throws(MQTTError) {
        try mosq.subscribe(filter, qos: Int32(qos))
    }

    /// Queues a message; returns its message id (for `onPublished`).
    @discardableResult
    public func publish(topic: String, payload: UnsafeRawBufferPointer, qos: Int, retain: Bool) throws(MQTTError) -> Int32 {
        try publishing.withLock { _ throws(MQTTError) in try mosq.publish(topic: topic, payload: payload, qos: Int32(qos), retain: retain) }
    }

    private func run() {
        if options.readBuffer && options.tls == nil && !mosq.readBuffered {
            logger.warning("read_buffer is on, but libmosquitto's reads stay unbuffered: \(Mosquitto.readHookProblem)")
        }
        var action = state.withLock { $0.machine.start(nowNs: Clock.monotonicNs()) }
        var held = HeldAcknowledgements()
        var pacer = BatchPacer(lingerNs: options.batchWaitNs, minBatch: options.batchMin)
        while true {
            if worker.isStopping { break }
            switch action {
            case .connect:
                mosq.detachReadBuffer()
                // a publishing client with a clean session starts each connection with an empty
                // libmosquitto queue: its owner (the forwarder) sends again what was not
                // acknowledged, and a message the broker refuses by closing the connection must
                // not be resent behind its back on every reconnect
                if options.cleanSession && connects.load(ordering: .relaxed) > 0 {
                    let owner = Unmanaged.passUnretained(self).toOpaque()
                    do {
                        try publishing.withLock { _ throws(MQTTError) in
                            try mosq.reinitialise(clientId: options.clientId, cleanSession: true, options, owner: owner)
                        }
                    } catch {
                        logger.error("resetting the connection to \(options.host):\(options.port) failed: \(error)")
                    }
                }
                connects.store(connects.load(ordering: .relaxed) + 1, ordering: .relaxed)
                if let makeWill = options.willForConnect {
                    do { try mosq.setWill(makeWill()) } catch { logger.error("last will for \(options.host):\(options.port): \(error)") }
                }
                mosq.setLibraryLog(true)
                do {
                    let v5 = options.protocolVersion == 5
                    try mosq.connect(host: options.host, port: Int32(options.port), keepalive: Int32(options.keepaliveS),
                                     sessionExpiryS: v5 && !options.cleanSession ? UInt32.max : nil,
                                     maximumPacketSize: v5 ? options.maximumPacketSize : nil,
                                     receiveMaximum: v5 ? options.receiveMaximum : nil)
                    action = .none
                } catch {
                    logger.warning("connect to \(options.host):\(options.port) failed: \(error)")
                    action = state.withLock { $0.machine.connectFailed(nowNs: Clock.monotonicNs()) }
                    continue
                }
            case .onConnected:
                mosq.setLibraryLog(false)
                state.withLock { $0.connected = true; $0.connectedAtNs = Clock.monotonicNs() }
                handlers.connected?(self)
                action = .none
            case .closeAndWait(let until):
                let was = state.withLock { s -> Bool in let w = s.connected; s.connected = false; return w }
                mosq.disconnect()
                mosq.detachReadBuffer()
                if was { handlers.disconnected?("connection lost") }
                worker.sleep(untilNs: until, sliceNs: 20_000_000)
                action = state.withLock { $0.machine.tick(nowNs: Clock.monotonicNs()) }
                continue
            case .none:
                break
            }
            mosq.syncReadBuffer()
            let before = delivered.load(ordering: .relaxed)
            var rc: Int32
            if options.ackAfterCommit {
                // nothing is written while acknowledgements wait for a commit; CONNECT, SUBSCRIBE
                // and PINGREQ go out whenever none wait. Also before the CONNACK: libmosquitto 2.1
                // reads every whole packet it has buffered in one call, so the messages a
                // persistent session resends right behind the CONNACK arrive in the same pass,
                // and `mosquitto_loop` would write their acknowledgements at once
                rc = held.count == 0 ? mosq.writeQueued() : 0
                if rc == 0 {
                    // with acknowledgements held, wake in time for their commit (rounded up to a whole ms)
                    let untilDueMs = (Int64(held.dueNs(options.ackIntervalNs)) - Int64(Clock.monotonicNs()) + 999_999) / 1_000_000
                    let wait = held.count == 0 ? 50 : Int32(max(0, min(50, untilDueMs)))
                    rc = mosq.loopWithoutWriting(timeoutMs: wait, maxPackets: options.batchSize) { delivered.load(ordering: .relaxed) }
                }
            } else {
                rc = mosq.loop(timeoutMs: 50, maxPackets: options.batchSize) { delivered.load(ordering: .relaxed) }
                if rc == 0 && !mosq.wantsWrite { handlers.acknowledged?() }
            }
            let now = Clock.monotonicNs()
            let n = delivered.load(ordering: .relaxed) &- before
            if n > 0 { handlers.batchEnd?() }
            if options.ackAfterCommit && rc == 0 {
                // every message read is held, also one read in the pass that brought the CONNACK
                if n > 0 { held.add(n, nowNs: now) }
                rc = acknowledgeIfDue(&held, nowNs: now, quiet: n == 0)
            }
            // linger only when the arrival rate makes it gather a batch (`BatchPacer`); a pass that
            // stopped at batchSize left data in the socket: read on at once
            let linger = pacer.pass(delivered: n, nowNs: now)
            if rc == 0 && n > 0 && n < options.batchSize && linger > 0 { Clock.sleep(ns: linger) }
            if rc != 0 { held = HeldAcknowledgements() }  // the connection went, with the queue
            let ack = state.withLock { s -> Int32? in let a = s.connack; s.connack = nil; return a }
            if let ack {
                if ack != 0 { logger.error("broker \(options.host):\(options.port) refused the connection: \(Mosquitto.connackString(ack))") }
                action = state.withLock { $0.machine.connack(accepted: ack == 0, nowNs: now) }
            } else if rc != 0 {
                let (reason, short) = state.withLock { s -> (Int32?, Int) in
                    let r = s.disconnectReason
                    s.disconnectReason = nil
                    // a connection closed within 2 s of being accepted, again and again, is
                    // usually another client with the same id (MQTT 3.1.1 gives no reason)
                    s.shortLived = s.connected && now - s.connectedAtNs < 2_000_000_000 ? s.shortLived + 1 : 0
                    if r == 0x8E || s.shortLived == 3 { s.takeovers += 1 }
                    return (r, s.shortLived)
                }
                let id = options.clientId ?? "(generated)"
                if reason == 0x8E {
                    logger.error("another client with client id \(id) took the session on \(options.host):\(options.port) (MQTT 5 reason 0x8E): two agents, or an agent and another program, share this id; give each its own client_id")
                } else if short == 3 {
                    logger.error("the connection to \(options.host):\(options.port) keeps closing right after it is made: another client with client id \(id) may be taking the session; give each agent its own client_id")
                } else {
                    let why = reason.map { " (reason code 0x\(String($0, radix: 16)))" } ?? ""
                    logger.warning("connection to \(options.host):\(options.port) lost: \(Mosquitto.errorString(rc))\(why)")
                }
                action = state.withLock { $0.machine.connectionLost(nowNs: now) }
            } else {
                action = state.withLock { $0.machine.tick(nowNs: now) }
            }
        }
        if state.withLock({ $0.connected }) {
            // what was processed is committed and acknowledged before leaving, so that the
            // broker does not send it again
            var abandon = false
            if options.ackAfterCommit && held.count > 0 {
                // the ledger keeps these messages (no `acknowledged`): if the broker did not take
                // the acknowledgements, the next session recognises its resends
                if handlers.commit?() ?? true {
                    _ = mosq.writeQueued()
                } else {
                    abandon = true
                }
            }
            if abandon {
                // the commit failed: leave without writing the queue (DISCONNECT would go out
                // behind the held acknowledgements), so that the broker sends those messages again
                logger.warning("leaving the input broker without acknowledging \(held.count) messages whose commit failed: it will send them again")
                let owner = Unmanaged.passUnretained(self).toOpaque()
                _ = try? publishing.withLock { _ throws(MQTTError) in
                    try mosq.reinitialise(clientId: options.clientId, cleanSession: options.cleanSession, options, owner: owner)
                }
            } else if options.ackAfterCommit || handlers.delivery != nil {
                // an input: the broker keeps sending, and closing with its messages unread would
                // reset the connection, and the broker would drop the acknowledgements just written
                mosq.closeAfterWrites(timeoutMs: 500)
            } else {
                mosq.disconnect()
                _ = mosq.loop(timeoutMs: 10, maxPackets: 1) { delivered.load(ordering: .relaxed) }
            }
        }
        mosq.releaseReadBuffer()
        state.withLock { $0.connected = false; $0.machine.stop() }
    }

    // Called by the C callbacks on the network thread.
    func handleConnack(_ rc: Int32, sessionPresent: Bool) { state.withLock { $0.connack = rc; $0.sessionPresent = sessionPresent } }
    // reason codes of 0x80 and above are the broker's; below them libmosquitto reports its own errors
    func handleDisconnect(_ rc: Int32) { if rc >= 0x80 { state.withLock { $0.disconnectReason = rc } } }

    /// Sessions another client with the same id took over (see `State.takeovers`).
    public var takeovers: Int { state.withLock { $0.takeovers } }
    func handleMessage(_ topic: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer, mid: Int32, qos: Int32) {
        // only this thread writes it: a plain load and store, no locked instruction per message
        delivered.store(delivered.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        if qos > 0, let d = handlers.delivery {
            d(topic, payload, UInt16(truncatingIfNeeded: mid))
        } else {
            handlers.message?(topic, payload)
        }
    }

    /// Messages read whose acknowledgements wait for a commit (network thread only).
    struct HeldAcknowledgements {
        var count = 0
        var firstNs: UInt64 = 0
        var lastNs: UInt64 = 0
        mutating func add(_ n: Int, nowNs: UInt64) {
            if count == 0 { firstNs = nowNs }
            count += n
            lastNs = nowNs
        }
        func dueNs(_ interval: UInt64) -> UInt64 { firstNs + interval }
    }

    /// Commits and writes the held acknowledgements when they are due: after `ackIntervalNs`, when
    /// 2048 or half the Receive Maximum wait (the broker would stop sending), or when the broker has
    /// stopped sending for 20 ms with acknowledgements held (a broker limit below ours, which
    /// MQTT 3.1.1 cannot tell the client). Returns a libmosquitto error code.
    private func acknowledgeIfDue(_ held: inout HeldAcknowledgements, nowNs now: UInt64, quiet: Bool) -> Int32 {
        guard held.count > 0 else { return 0 }
        // at most 2048 wait: a fast input commits more often than the interval. Measured at 40k
        // msg/s against 8192: agent CPU 0.43 against 0.47 CPU-s per 100k, peak RSS 1 MiB lower
        // (libmosquitto keeps a packet per held acknowledgement), and the broker, which looks up
        // each PUBACK in its list of messages in flight, spends less; at 10k msg/s the interval
        // still decides (about 5 commits a second)
        let budget = min(2_048, Int(options.receiveMaximum ?? 65_535) / 2)
        // at least 8 held: a slow sender's pauses are not a broker's limit
        let stalled = quiet && now - held.lastNs >= 20_000_000 && held.count >= 8 && held.count < budget
        guard now >= held.dueNs(options.ackIntervalNs) || held.count >= budget || stalled else { return 0 }
        if stalled && now < held.dueNs(options.ackIntervalNs) {
            let count = held.count
            // the same count twice in a row is the broker's limit: said once per limit
            let tell = stalls.withLock { s -> Bool in
                let same = s.atHeld == count
                s.count += 1
                s.atHeld = count
                guard same && s.logged != count else { return false }
                s.logged = count
                return true
            }
            if tell {
                logger.notice("the input broker stops sending at \(count) unacknowledged messages (its own limit: mosquitto's max_inflight_messages, 20 by default, applies to MQTT 3.1.1 clients); with ack: after_commit each pause costs a commit. Raise the broker's limit or use mqtt_version: 5 for fewer commits")
            }
        }
        guard handlers.commit?() ?? true else {
            held.firstNs = now  // the commit failed: try again after another interval
            return 0
        }
        let rc = mosq.writeQueued()
        if rc == 0 && !mosq.wantsWrite { handlers.acknowledged?() }
        held = HeldAcknowledgements()
        return rc
    }
    func handlePublished(_ mid: Int32) { handlers.published?(mid) }
    func handleLibraryLog(_ text: String) { logger.warning("libmosquitto: \(text)") }
}
