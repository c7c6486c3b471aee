import DewpointCore
import SwiftProtobuf

/// One Sparkplug B 3.0 edge node session: the agent is the edge node
/// (`spBv1.0/<group>/NBIRTH/<node>`), and each device the pipeline sees is one of its devices.
///
/// Pure: the caller passes the time, publishes what each call returns in the order returned, and
/// calls it from one thread (the upstream forwarder's). What it guarantees:
/// - every CONNECT carries an NDEATH will whose `bdSeq` (0–255, wrapping) is one more than the
///   last connection's, and the NBIRTH of that connection carries the same `bdSeq`;
/// - `seq` is 0 on NBIRTH and goes up by one (wrapping after 255) on every DBIRTH, DDATA and DDEATH
///   of the session;
/// - a device's DBIRTH, carrying every metric it will send with its alias and last value,
///   precedes its first DDATA after every NBIRTH, and comes again if a record brings a metric the
///   birth did not declare;
/// - a rebirth (a host's `Node Control/Rebirth` command) sends NBIRTH and every known device's
///   DBIRTH again.
public struct SparkplugEdgeNode: Sendable {
    public struct Message: Sendable, Equatable {
        public enum Kind: String, Sendable { case nbirth = "NBIRTH", ndeath = "NDEATH", dbirth = "DBIRTH", ddata = "DDATA", ddeath = "DDEATH" }
        public var kind: Kind
        public var topic: String
        public var payload: [UInt8]
        /// The device it is about (nil for the node's own messages).
        public var device: String?
    }

    public let group: String
    public let node: String
    /// The bdSeq of the current (or last) connection; nil before the first.
    public private(set) var bdSeq: UInt64?
    /// The next message's seq.
    private var seq: UInt64 = 0
    private var nodeBorn = false
    /// Whether a broker accepted a CONNECT carrying the current bdSeq (else the next CONNECT
    /// reuses it: no host saw it, and hosts expect one more than the last they saw).
    private var bdSeqAccepted = true
    private struct Device {
        var metrics = DeviceMetrics()
        var born = false
        /// Whether its metrics came from its binding's schema (else only from records so far).
        var fromSchema = false
    }
    private var devices: [String: Device] = [:]
    private var nextAlias: UInt64 = 1
    /// How many devices it keeps at most; beyond, dead ones are forgotten first, and then no new one is taken.
    public let maxDevices: Int
    /// Devices refused because `maxDevices` were known.
    public private(set) var refusedDevices = 0

    public static let namespace = "spBv1.0"
    public static let rebirthMetric = "Node Control/Rebirth"

    /// `lastBdSeq` is the bdSeq of the previous process's last connection (kept on disk), so
    /// that a restart goes on counting.
    public init(group: String, node: String, lastBdSeq: UInt64? = nil, maxDevices: Int = 100_000) {
        self.group = group
        self.node = node
        self.bdSeq = lastBdSeq
        self.maxDevices = maxDevices
    }

    public var commandTopic: String { "\(Self.namespace)/\(group)/NCMD/\(node)" }
    private func nodeTopic(_ kind: Message.Kind) -> String { "\(Self.namespace)/\(group)/\(kind.rawValue)/\(node)" }
    private func deviceTopic(_ kind: Message.Kind, _ device: String) -> String {
        "\(Self.namespace)/\(group)/\(kind.rawValue)/\(node)/\(Self.topicID(device))"
    }

    /// A device name as a Sparkplug id: `/`, `+`, `#` and control characters become `_`.
    public static func topicID(_ s: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            switch u {
            case "/", "+", "#": out.unicodeScalars.append("_")
            case _ where u.value < 0x20 || u.value == 0x7F: out.unicodeScalars.append("_")
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// Whether `s` can be a group or node id as it is.
    public static func isValidID(_ s: String) -> Bool { !s.isEmpty && topicID(s) == s }

    // MARK: Connections

    /// The NDEATH for the next CONNECT's will: `bdSeq` advances if the last one was accepted
    /// (attempts the broker refused, or that never reached it, do not count).
    public mutating func willForNextConnect(nowMs: UInt64) -> Message {
        if bdSeqAccepted || bdSeq == nil { bdSeq = bdSeq.map { ($0 + 1) & 0xFF } ?? 0 }
        bdSeqAccepted = false
        return deathCertificate(nowMs: nowMs)
    }

    /// The broker accepted the connection (CONNACK): its will, and so its bdSeq, is in force.
    public mutating func connectionAccepted() { bdSeqAccepted = true }

    /// The NDEATH of the current connection (a clean stop publishes it itself).
    public func deathCertificate(nowMs: UInt64) -> Message {
        var p = SparkplugPayload()
        p.timestamp = nowMs
        p.metrics = [Self.metric(name: "bdSeq", type: .uint64, value: .uint64(bdSeq ?? 0), timestampMs: nowMs)]
        return Message(kind: .ndeath, topic: nodeTopic(.ndeath), payload: Self.bytes(p), device: nil)
    }

    /// After a connection is lost nothing is born: the next connection starts with NBIRTH.
    public mutating func disconnected() {
        nodeBorn = false
        for k in devices.keys { devices[k]!.born = false }
    }

    /// Whether an NBIRTH is due (after a connect, or for a rebirth).
    public var needsBirth: Bool { !nodeBorn }

    /// NBIRTH, then the DBIRTH of every known device: after a connect, and for a rebirth.
    public mutating func birth(nowMs: UInt64) -> [Message] {
        seq = 0
        nodeBorn = true
        var p = SparkplugPayload()
        p.timestamp = nowMs
        p.seq = nextSeq()
        p.metrics = [Self.metric(name: "bdSeq", type: .uint64, value: .uint64(bdSeq ?? 0), timestampMs: nowMs),
                     Self.metric(name: Self.rebirthMetric, type: .boolean, value: .boolean(false), timestampMs: nowMs)]
        var out = [Message(kind: .nbirth, topic: nodeTopic(.nbirth), payload: Self.bytes(p), device: nil)]
        for name in devices.keys.sorted() { out.append(deviceBirth(name, nowMs: nowMs)) }
        return out
    }

    /// Asks for NBIRTH and every DBIRTH again (the host's rebirth command).
    public mutating func requestRebirth() { nodeBorn = false }

    private mutating func nextSeq() -> UInt64 {
        defer { seq = (seq + 1) & 0xFF }
        return seq
    }

    private mutating func deviceBirth(_ name: String, nowMs: UInt64) -> Message {
        devices[name]!.born = true
        var p = SparkplugPayload()
        p.timestamp = nowMs
        p.seq = nextSeq()
        p.metrics = devices[name]!.metrics.metrics.map { m in
            var x = Self.metric(name: m.name, type: m.type, value: m.value, timestampMs: m.timestampMs == 0 ? nowMs : m.timestampMs)
            x.alias = m.alias
            if !m.unit.isEmpty {
                var props = SparkplugPayload.PropertySet()
                props.keys = ["engUnit"]
                var v = SparkplugPayload.PropertyValue()
                v.type = SparkplugDataType.string.rawValue
                v.stringValue = m.unit
                props.values = [v]
                x.properties = props
            }
            return x
        }
        return Message(kind: .dbirth, topic: deviceTopic(.dbirth, name), payload: Self.bytes(p), device: name)
    }

    // MARK: Devices

    /// The messages that carry `record`: its device's DBIRTH first when it is not born (or the
    /// record brings a metric its birth did not declare), then the DDATA. `schema` is the
    /// device's binding's, when known. Empty only when the device is over `maxDevices`.
    /// Call only when `needsBirth` is false.
    ///
    /// `raisedAlerts` (`channel/detector`) are the device's alerts raised now, when known: a device
    /// new to this session (after a restart, or born again) starts with them, so that its DBIRTH
    /// says which alerts are on, not just null.
    public mutating func data(_ record: UpstreamRecord, schema: RecordSchema?, raisedAlerts: [String]? = nil, nowMs: UInt64) -> [Message] {
        let name = record.device
        if devices[name] == nil {
            guard makeRoom() else { refusedDevices += 1; return [] }
            devices[name] = Device()
        }
        if !devices[name]!.fromSchema, let schema {
            devices[name]!.metrics.declare(schema, nextAlias: &nextAlias)
            devices[name]!.fromSchema = true
            devices[name]!.born = false  // its birth declared less than it will send
            if let raisedAlerts {
                for (c, d) in schema.alertKeys where schema.alerts {
                    let n = DeviceMetrics.alertName(c, d)
                    if devices[name]!.metrics.metric(n)?.value == .null {
                        devices[name]!.metrics.set(n, .boolean(raisedAlerts.contains("\(c)/\(d)")), atMs: nowMs)
                    }
                }
            }
        }
        // values, by metric name, and any metric the birth did not declare
        var values: [(String, SparkplugValue, UInt64)] = []
        var grew = false
        switch record {
        case .summary(_, _, let endMs, _, let channels):
            let at = UInt64(max(0, endMs))
            for c in channels {
                for (k, v) in c.statistics.sorted(by: { $0.key < $1.key }) {
                    let n = DeviceMetrics.statisticName(c.name, k)
                    let type = DeviceMetrics.statisticType(k)
                    grew = devices[name]!.metrics.declare(n, type, unit: DeviceMetrics.statisticUnit(k, c.unit), nextAlias: &nextAlias) || grew
                    values.append((n, Self.value(v, type), at))
                }
                for (k, v) in c.bands.sorted(by: { $0.key < $1.key }) {
                    let n = DeviceMetrics.bandName(c.name, k)
                    grew = devices[name]!.metrics.declare(n, .double, unit: c.unit.isEmpty ? "" : "(\(c.unit))²", nextAlias: &nextAlias) || grew
                    values.append((n, Self.value(v, .double), at))
                }
            }
        case .alert(_, let channel, let detector, let tsMs, let raised, _, _, _, let message):
            let at = UInt64(max(0, tsMs))
            let n = DeviceMetrics.alertName(channel, detector)
            grew = devices[name]!.metrics.declare(n, .boolean, unit: "", nextAlias: &nextAlias) || grew
            grew = devices[name]!.metrics.declare(n + "/message", .string, unit: "", nextAlias: &nextAlias) || grew
            values.append((n, .boolean(raised), at))
            values.append((n + "/message", .string(message), at))
        }
        var out: [Message] = []
        if grew || !devices[name]!.born { out.append(deviceBirth(name, nowMs: nowMs)) }
        var p = SparkplugPayload()
        p.timestamp = nowMs
        p.seq = nextSeq()
        for (n, v, at) in values {
            devices[name]!.metrics.set(n, v, atMs: at)
            let m = devices[name]!.metrics.metric(n)!
            // DATA metrics carry the alias alone: the name and datatype were declared at birth
            var x = Self.metric(name: nil, type: m.type, value: v, timestampMs: at)
            x.clearDatatype()
            x.alias = m.alias
            p.metrics.append(x)
        }
        out.append(Message(kind: .ddata, topic: deviceTopic(.ddata, name), payload: Self.bytes(p), device: name))
        return out
    }

    /// DDEATH for a device that is born (its source was lost, or it was evicted or retired); the
    /// device is forgotten, and a later record births it again.
    public mutating func deviceLost(_ name: String, nowMs: UInt64) -> Message? {
        guard let d = devices.removeValue(forKey: name) else { return nil }
        guard d.born && nodeBorn else { return nil }
        var p = SparkplugPayload()
        p.timestamp = nowMs
        p.seq = nextSeq()
        return Message(kind: .ddeath, topic: deviceTopic(.ddeath, name), payload: Self.bytes(p), device: name)
    }

    /// The devices born in this session.
    public var bornDevices: [String] { devices.filter { $0.value.born }.map(\.key).sorted() }
    public var knownDeviceCount: Int { devices.count }

    /// Room for one more device: forgets one that is not born if full.
    private mutating func makeRoom() -> Bool {
        guard devices.count >= maxDevices else { return true }
        guard let k = devices.first(where: { !$0.value.born })?.key else { return false }
        devices.removeValue(forKey: k)
        return true
    }

    // MARK: Commands

    /// Whether an NCMD payload asks for a rebirth (`Node Control/Rebirth` = true). Throws for bytes
    /// that are not a Sparkplug payload.
    public static func isRebirthCommand(_ bytes: [UInt8]) throws -> Bool {
        let p = try SparkplugPayload(serializedBytes: bytes)
        return p.metrics.contains { $0.name == rebirthMetric && $0.booleanValue }
    }

    // MARK: Encoding

    static func value(_ v: Double?, _ type: SparkplugDataType) -> SparkplugValue {
        guard let v, v.isFinite else { return .null }
        return type == .uint64 ? .uint64(v >= 0 && v < 1.8e19 ? UInt64(v) : 0) : .double(v)
    }

    static func metric(name: String?, type: SparkplugDataType, value: SparkplugValue, timestampMs: UInt64) -> SparkplugPayload.Metric {
        var m = SparkplugPayload.Metric()
        if let name { m.name = name }
        m.datatype = type.rawValue
        m.timestamp = timestampMs
        switch value {
        case .null: m.isNull = true
        case .double(let d): m.doubleValue = d
        case .uint64(let u): m.longValue = u
        case .boolean(let b): m.booleanValue = b
        case .string(let s): m.stringValue = s
        }
        return m
    }

    static func bytes(_ p: SparkplugPayload) -> [UInt8] {
        // serialising a message of this schema cannot fail (no required fields, no Any)
        (try? p.serializedBytes()) ?? []
    }
}
