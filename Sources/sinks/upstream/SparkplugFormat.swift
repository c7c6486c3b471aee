import DewpointCore
import DewpointMQTT
import DewpointSparkplug
import DewpointSpool
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `upstream.format: sparkplug_b`: the agent is a Sparkplug B edge node, each device one of its
/// devices (see `SparkplugEdgeNode` for the session's rules, and docs/sparkplug.md).
///
/// - The NDEATH will changes with every CONNECT (`willForConnect`), and its `bdSeq` is kept in
///   `sparkplug.bdseq` in the spool folder so that a restart goes on counting.
/// - A host's `Node Control/Rebirth` command (NCMD, on the network thread) asks for a rebirth;
///   rebirths come at most once a second, however many commands arrive.
/// - `devicesLive` (the agent's loop, once a second) says which devices still have a source:
///   the others get their DDEATH.
/// - DDATA goes at `upstream.qos` (1 by default, so that the spool deletes a record only once the
///   broker has it); births and deaths at QoS 0, as the specification asks.
public final class SparkplugFormat: UpstreamFormat {
    private struct State {
        var node: SparkplugEdgeNode
        var rebirthRequested = false
        var lastRebirthNs: UInt64 = 0
        var live: Set<String>? = nil
        /// Set by `devicesLive`: the born devices are compared with `live` once per new list, not
        /// on every turn of the forwarder.
        var liveChanged = false
        var commandErrors = 0
    }
    private let state: Mutex<State>
    private let schemaOf: @Sendable (String) -> RecordSchema?
    private let raisedOf: @Sendable (String) -> [String]?
    private let qos: Int
    private let bdSeqPath: String
    private let logger: Logger

    /// `schemaOf` gives a device's binding's schema (nil when unknown; its metrics then come from
    /// its records, with a new DBIRTH whenever one brings a new metric).
    /// `raisedOf` gives a device's alerts raised now (`channel/detector`), for its first DBIRTH.
    public init(spec: UpstreamSpec, agentId: String, spoolDir: String, logger: Logger,
                schemaOf: @escaping @Sendable (String) -> RecordSchema?, raisedOf: @escaping @Sendable (String) -> [String]?) {
        bdSeqPath = spoolDir + "/sparkplug.bdseq"
        let last = SparkplugFormat.readNumber(bdSeqPath)
        state = Mutex(State(node: SparkplugEdgeNode(group: spec.sparkplugGroup, node: spec.sparkplugNode ?? agentId, lastBdSeq: last)))
        self.schemaOf = schemaOf
        self.raisedOf = raisedOf
        self.qos = spec.qos
        self.logger = logger
    }

    public var commandTopic: String { state.withLock { $0.node.commandTopic } }

    /// The will of the next CONNECT (network thread), with its bdSeq written to disk first.
    public func willForConnect() -> MQTTClient.Will {
        let (m, bd) = state.withLock { s in (s.node.willForNextConnect(nowMs: Self.nowMs()), s.node.bdSeq ?? 0) }
        SparkplugFormat.writeNumber(bd, to: bdSeqPath)
        // the specification's NDEATH: QoS 1, not retained
        return .init(topic: m.topic, payload: m.payload, qos: 1, retain: false)
    }

    /// The broker accepted the connection (network thread, before anything is published on it).
    public func connectionAccepted() {
        state.withLock { $0.node.connectionAccepted() }
    }

    /// The NDEATH a clean stop publishes before it disconnects (a clean DISCONNECT drops the will).
    public func deathCertificate() -> OutgoingMessage {
        let m = state.withLock { $0.node.deathCertificate(nowMs: Self.nowMs()) }
        return OutgoingMessage(topic: m.topic, payload: m.payload, qos: 1, retain: false)
    }

    /// An NCMD payload (network thread). Anything but a rebirth request is ignored; bytes that
    /// are not a Sparkplug payload are counted and logged (the first, then every 100th).
    public func command(_ payload: [UInt8]) {
        do {
            guard try SparkplugEdgeNode.isRebirthCommand(payload) else { return }
            state.withLock { $0.rebirthRequested = true }
        } catch {
            let n = state.withLock { s -> Int in s.commandErrors += 1; return s.commandErrors }
            if n == 1 || n % 100 == 0 { logger.warning("sparkplug: \(n) NCMD payloads could not be read so far (\(payload.count) bytes this time: \(error))") }
        }
    }

    public var commandErrors: Int { state.withLock { $0.commandErrors } }

    /// The devices that still have a source (agent's loop): the others that are born get DDEATH.
    public func devicesLive(_ live: Set<String>) {
        state.withLock { $0.live = live; $0.liveChanged = true }
    }

    public func connectionReset() {
        state.withLock { $0.node.disconnected() }
    }

    public func due(nowMs: UInt64) -> [OutgoingMessage] {
        let out = state.withLock { s -> [SparkplugEdgeNode.Message] in
            var out: [SparkplugEdgeNode.Message] = []
            let now = Clock.monotonicNs()
            if s.rebirthRequested && now - s.lastRebirthNs >= 1_000_000_000 {
                s.rebirthRequested = false
                s.lastRebirthNs = now
                s.node.requestRebirth()
            }
            if s.node.needsBirth { out += s.node.birth(nowMs: nowMs) }
            if s.liveChanged, let live = s.live {
                s.liveChanged = false
                for d in s.node.bornDevices where !live.contains(d) {
                    if let m = s.node.deviceLost(d, nowMs: nowMs) { out.append(m) }
                }
            }
            return out
        }
        if out.contains(where: { $0.kind == .nbirth }) {
            logger.info("sparkplug: NBIRTH on \(out[0].topic) with bdSeq \(state.withLock { $0.node.bdSeq ?? 0 }), and \(out.count - 1) DBIRTH")
        }
        return out.map { OutgoingMessage(topic: $0.topic, payload: $0.payload, qos: 0, retain: false) }
    }

    public func present(_ record: SpoolQueue.Record, nowMs: UInt64) throws(UpstreamFormatError) -> (announce: [OutgoingMessage], record: OutgoingMessage) {
        let r: UpstreamRecord
        do { r = try UpstreamRecord.parse(record.payload) } catch { throw UpstreamFormatError("sparkplug: \(error)") }
        let schema = schemaOf(r.device)
        let raised = schema == nil ? nil : raisedOf(r.device)
        let (messages, refused) = state.withLock { s -> ([SparkplugEdgeNode.Message], Int?) in
            if s.node.needsBirth {
                // the node's birth comes first (a rebirth asked for between `due` and now)
                let b = s.node.birth(nowMs: nowMs)
                return (b + s.node.data(r, schema: schema, raisedAlerts: raised, nowMs: nowMs), nil)
            }
            let m = s.node.data(r, schema: schema, raisedAlerts: raised, nowMs: nowMs)
            return (m, m.isEmpty ? s.node.refusedDevices : nil)
        }
        guard let last = messages.last else {
            if let refused, refused == 1 || refused % 1000 == 0 {
                logger.error("sparkplug: \(refused) records of devices beyond the \(state.withLock { $0.node.maxDevices }) the edge node keeps were set aside")
            }
            throw UpstreamFormatError("sparkplug: more devices than the edge node keeps")
        }
        let announce = messages.dropLast().map { OutgoingMessage(topic: $0.topic, payload: $0.payload, qos: 0, retain: false) }
        return (announce, OutgoingMessage(topic: last.topic, payload: last.payload, qos: qos, retain: false))
    }

    static func nowMs() -> UInt64 { UInt64(max(0, Clock.wallNs() / 1_000_000)) }

    /// A small number kept in a file (the last bdSeq), or nil.
    static func readNumber(_ path: String) -> UInt64? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 16)
        let n = read(fd, &buf, 15)
        guard n > 0 else { return nil }
        return UInt64(String(decoding: buf[0..<n].prefix { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self)).map { $0 & 0xFF }
    }

    /// Writes it whole (a temporary file renamed over the old one).
    static func writeNumber(_ v: UInt64, to path: String) {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let text = Array("\(v)\n".utf8)
        let ok = write(fd, text, text.count) == text.count
        close(fd)
        if ok { rename(tmp, path) } else { unlink(tmp) }
    }
}
