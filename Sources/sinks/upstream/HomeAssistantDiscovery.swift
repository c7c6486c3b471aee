import DewpointCore
import DewpointSparkplug
import DewpointSpool
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `upstream.discovery: homeassistant`: Home Assistant's MQTT discovery, beside the JSON records.
///
/// - The gateway is a device of its own, with a `connectivity` binary sensor on the status topic;
///   every sensor's `via_device` points at it.
/// - Each channel of a device is a `sensor` whose state is its summary topic, and whose
///   `value_template` picks the configured statistic (`mean` by default).
/// - Each alert detector of a channel is a `binary_sensor` (device class `problem`), on while
///   raised. Its state is a retained topic of this format's, `<alert topic>/state`
///   (`{"temp/threshold":"raised",…}`), published with the configs (from the pipeline's raised
///   alerts) and after every alert record: alert records are events, and a Home Assistant that
///   subscribes after one (just discovered, or restarted) would otherwise not know the state.
/// - Availability is the agent's status topic.
/// - Configs are retained, and published before a device's first record on every connection
///   (a broker that lost its retained messages gets them again).
/// - What was announced is kept in `homeassistant.json` in the spool folder. At start (and so at
///   every reload), configs of a binding that is gone, or of a channel or detector it no longer
///   has, are removed with an empty retained message.
public final class HomeAssistantDiscovery: UpstreamFormat {
    /// One device's announcement: its binding and config topics.
    struct Announced: Equatable {
        var binding: String
        var topics: [String]
    }
    private struct State {
        /// Devices announced on this connection.
        var announcedNow: Set<String> = []
        var gatewayAnnounced = false
        /// Everything announced, ever (what the file holds).
        var announced: [String: Announced] = [:]
        /// Alert states of announced devices: `channel/detector` → raised.
        var alerts: [String: [String: Bool]] = [:]
        var removals: [String] = []
        var dirty = false
    }
    private let state: Mutex<State>
    private let agentId: String
    private let topics: UpstreamTopics
    private let prefix: String
    private let statistic: String
    private let schemas: [String: RecordSchema]
    private let bindingOf: @Sendable (String) -> String?
    private let raisedOf: @Sendable (String) -> [String]?
    private let qos: Int
    private let path: String
    private let logger: Logger
    /// At most this many devices are remembered (the file stays small); beyond, the oldest go.
    static let maxRemembered = 10_000

    /// `schemas` are the bindings' (by name); `bindingOf` names a device's binding, `raisedOf` its
    /// alerts raised now (`channel/detector`).
    public init(spec: UpstreamSpec, agentId: String, topics: UpstreamTopics, spoolDir: String, schemas: [RecordSchema],
                logger: Logger, bindingOf: @escaping @Sendable (String) -> String?,
                raisedOf: @escaping @Sendable (String) -> [String]? = { _ in nil }) {
        self.raisedOf = raisedOf
        self.agentId = agentId
        self.topics = topics
        self.prefix = spec.homeAssistantPrefix
        self.statistic = spec.homeAssistantStatistic
        self.schemas = Dictionary(schemas.map { ($0.binding, $0) }, uniquingKeysWith: { a, _ in a })
        self.bindingOf = bindingOf
        self.qos = spec.qos
        self.path = spoolDir + "/homeassistant.json"
        self.logger = logger
        state = Mutex(State())
        var s = State()
        s.announced = HomeAssistantDiscovery.load(path)
        // what the bindings no longer have goes now
        for (device, a) in s.announced.sorted(by: { $0.key < $1.key }) {
            let keep = self.schemas[a.binding].map { Set(announcedTopics(device: device, schema: $0)) } ?? []
            let gone = a.topics.filter { !keep.contains($0) }
            s.removals += gone
            if keep.isEmpty { s.announced[device] = nil } else if !gone.isEmpty { s.announced[device]!.topics = a.topics.filter(keep.contains) }
            if !gone.isEmpty { s.dirty = true }
        }
        if !s.removals.isEmpty { logger.info("homeassistant: \(s.removals.count) entities of removed bindings, channels or detectors will be removed") }
        state.withLock { [s] in $0 = s }
    }

    // MARK: UpstreamFormat

    public func connectionReset() {
        state.withLock { $0.announcedNow.removeAll(); $0.gatewayAnnounced = false }
    }

    public func due(nowMs: UInt64) -> [OutgoingMessage] {
        let (out, save) = state.withLock { s -> ([OutgoingMessage], [String: Announced]?) in
            var out: [OutgoingMessage] = []
            if !s.gatewayAnnounced {
                s.gatewayAnnounced = true
                out.append(gatewayConfig())
            }
            out += s.removals.map { OutgoingMessage(topic: $0, payload: [], qos: 1, retain: true) }
            s.removals.removeAll()
            let save = s.dirty ? s.announced : nil
            s.dirty = false
            return (out, save)
        }
        if let save { HomeAssistantDiscovery.store(save, path: path, logger: logger) }
        return out
    }

    public func present(_ record: SpoolQueue.Record, nowMs: UInt64) throws(UpstreamFormatError) -> (announce: [OutgoingMessage], record: OutgoingMessage) {
        let message = OutgoingMessage(topic: record.topic, payload: record.payload, qos: qos, retain: false)
        guard let device = UpstreamRecordHead.device(record.payload) else { return ([], message) }
        guard let binding = bindingOf(device) ?? state.withLock({ $0.announced[device]?.binding }), let schema = schemas[binding] else {
            return ([], message)
        }
        // an alert record moves the device's retained alert state
        var alert: (key: String, raised: Bool)? = nil
        if record.payload.starts(with: Self.alertHead), case .alert(_, let channel, let detector, _, let raised, _, _, _, _)? = try? UpstreamRecord.parse(record.payload) {
            alert = ("\(channel)/\(detector)", raised)
        }
        let fresh = state.withLock { !$0.announcedNow.contains(device) }
        let raisedNow = fresh ? raisedOf(device) : nil
        let (announce, save) = state.withLock { s -> ([OutgoingMessage], [String: Announced]?) in
            var out: [OutgoingMessage] = []
            if !s.announcedNow.contains(device) {
                out = announcement(device: device, binding: binding, schema: schema, raised: raisedNow, &s)
            }
            if let alert, s.alerts[device]?[alert.key] != alert.raised {
                s.alerts[device, default: [:]][alert.key] = alert.raised
                out.append(alertState(device: device, s.alerts[device]!))
            }
            let save = s.dirty ? s.announced : nil
            s.dirty = false
            return (out, save)
        }
        if let save { HomeAssistantDiscovery.store(save, path: path, logger: logger) }
        return (announce, message)
    }

    static let alertHead = Array(#"{"kind":"alert""#.utf8)

    /// The retained alert states of a device.
    private func alertState(device: String, _ states: [String: Bool]) -> OutgoingMessage {
        var o = JSONObject()
        for (k, raised) in states.sorted(by: { $0.key < $1.key }) { o.string(k, raised ? "raised" : "cleared") }
        return OutgoingMessage(topic: alertStateTopic(device), payload: o.bytes, qos: 1, retain: true)
    }

    func alertStateTopic(_ device: String) -> String { topics.topic(kind: .alert, device: device) + "/state" }

    /// A device's configs (and the removal of those it no longer has), and its alert states.
    private func announcement(device: String, binding: String, schema: RecordSchema, raised: [String]?, _ s: inout State) -> [OutgoingMessage] {
        s.announcedNow.insert(device)
        var out = configs(device: device, schema: schema)
        let new = Announced(binding: binding, topics: announcedTopics(device: device, schema: schema))
        // a device that moved to another binding, or a binding that changed: old topics go
        if let old = s.announced[device] {
            out += old.topics.filter { !new.topics.contains($0) }.map { OutgoingMessage(topic: $0, payload: [], qos: 1, retain: true) }
        }
        if Self.hasAlerts(schema) {
            var states = s.alerts[device] ?? [:]
            for (c, d) in schema.alertKeys where states["\(c)/\(d)"] == nil || raised != nil {
                states["\(c)/\(d)"] = raised?.contains("\(c)/\(d)") ?? false
            }
            s.alerts[device] = states
            out.append(alertState(device: device, states))
        }
        guard s.announced[device] != new else { return out }
        if s.announced[device] == nil && s.announced.count >= Self.maxRemembered, let k = s.announced.keys.first(where: { !s.announcedNow.contains($0) }) {
            s.announced[k] = nil
            s.alerts[k] = nil
        }
        s.announced[device] = new
        s.dirty = true
        return out
    }

    static func hasAlerts(_ schema: RecordSchema) -> Bool { schema.alerts && !schema.alertKeys.isEmpty }

    /// The retained topics a device's announcement leaves on the broker: its configs and its alert states.
    func announcedTopics(device: String, schema: RecordSchema) -> [String] {
        configs(device: device, schema: schema).map(\.topic) + (Self.hasAlerts(schema) ? [alertStateTopic(device)] : [])
    }

    // MARK: Payloads

    /// Characters Home Assistant allows in an object id; the rest become `_`.
    static func objectID(_ parts: [String]) -> String {
        String(parts.joined(separator: "_").unicodeScalars.map { u -> Character in
            (("0"..."9").contains(u) || ("a"..."z").contains(u) || ("A"..."Z").contains(u) || u == "_" || u == "-") ? Character(u) : "_"
        })
    }

    var gatewayID: String { Self.objectID(["dewpoint", agentId]) }

    /// The gateway's device and its connectivity sensor.
    func gatewayConfig() -> OutgoingMessage {
        let id = Self.objectID([agentId, "status"])
        var o = JSONObject()
        o.string("name", "Agent")
        o.string("unique_id", Self.objectID(["dewpoint", agentId, "status"]))
        o.string("object_id", id)
        o.string("state_topic", topics.status)
        o.string("value_template", "{{ 'ON' if value_json.state == 'online' else 'OFF' }}")
        o.string("device_class", "connectivity")
        o.string("entity_category", "diagnostic")
        o.raw("device", deviceBlock(identifier: gatewayID, name: "Dewpoint \(agentId)", model: "Dewpoint edge agent", via: nil))
        o.raw("origin", origin())
        return OutgoingMessage(topic: "\(prefix)/binary_sensor/\(id)/config", payload: o.bytes, qos: 1, retain: true)
    }

    /// Every config of one device: a sensor per channel, a binary sensor per alert detector.
    func configs(device: String, schema: RecordSchema) -> [OutgoingMessage] {
        var out: [OutgoingMessage] = []
        let dev = deviceBlock(identifier: Self.objectID(["dewpoint", agentId, device]), name: device, model: schema.binding, via: gatewayID)
        for c in schema.channels {
            if schema.summaries {
                let stat = c.statistics.contains(statistic) ? statistic : "mean"
                let id = Self.objectID([agentId, device, c.name])
                var o = JSONObject()
                o.string("name", stat == "mean" ? c.name : "\(c.name) \(stat)")
                o.string("unique_id", Self.objectID(["dewpoint", agentId, device, c.name]))
                o.string("object_id", Self.objectID([device, c.name]))
                o.string("state_topic", topics.topic(kind: .summary, device: device))
                let ch = Self.jinjaString(c.name)
                // a window without a sample of the channel leaves it out: an empty state keeps the last one
                o.string("value_template", "{{ value_json.channels[\(ch)][\(Self.jinjaString(stat))] if \(ch) in value_json.channels else '' }}")
                let (unit, deviceClass) = Self.homeAssistantUnit(c.unit, statistic: stat)
                if let unit { o.string("unit_of_measurement", unit) }
                if let deviceClass { o.string("device_class", deviceClass) }
                o.string("state_class", "measurement")
                // a window's mean has many digits; Home Assistant shows this many decimals
                o.raw("suggested_display_precision", Array("2".utf8))
                availability(&o)
                o.raw("device", dev)
                o.raw("origin", origin())
                out.append(OutgoingMessage(topic: "\(prefix)/sensor/\(id)/config", payload: o.bytes, qos: 1, retain: true))
            }
            guard schema.alerts else { continue }
            for d in c.detectors { out.append(alertConfig(device: device, channel: c.name, detector: d, dev: dev)) }
        }
        // a detector over the whole device (channel `*`) is named by itself
        for d in schema.deviceDetectors where schema.alerts {
            out.append(alertConfig(device: device, channel: DeviceDetectorSpec.recordChannel, detector: d, dev: dev))
        }
        return out
    }

    /// The binary sensor of one alert detector (`channel` `*`: of the whole device).
    private func alertConfig(device: String, channel: String, detector d: String, dev: [UInt8]) -> OutgoingMessage {
        let whole = channel == DeviceDetectorSpec.recordChannel
        let parts = whole ? ["all", d] : [channel, d]
        let id = Self.objectID([agentId, device] + parts)
        var o = JSONObject()
        o.string("name", whole ? d : "\(channel) \(d)")
        o.string("unique_id", Self.objectID(["dewpoint", agentId, device] + parts))
        o.string("object_id", Self.objectID([device] + parts))
        o.string("state_topic", alertStateTopic(device))
        // the device's alert states share one retained topic; a key the message lacks
        // renders empty, which Home Assistant ignores
        let key = Self.jinjaString("\(channel)/\(d)")
        o.string("value_template", "{{ value_json[\(key)] if \(key) in value_json else '' }}")
        o.string("payload_on", "raised")
        o.string("payload_off", "cleared")
        o.string("device_class", "problem")
        availability(&o)
        o.raw("device", dev)
        o.raw("origin", origin())
        return OutgoingMessage(topic: "\(prefix)/binary_sensor/\(id)/config", payload: o.bytes, qos: 1, retain: true)
    }

    private func availability(_ o: inout JSONObject) {
        o.string("availability_topic", topics.status)
        o.string("availability_template", "{{ value_json.state }}")
        o.string("payload_available", "online")
        o.string("payload_not_available", "offline")
    }

    private func deviceBlock(identifier: String, name: String, model: String, via: String?) -> [UInt8] {
        var d = JSONObject()
        d.raw("identifiers", Array("[".utf8) + JSONObject.quoted(identifier) + Array("]".utf8))
        d.string("name", name)
        d.string("model", model)
        d.string("manufacturer", "Dewpoint")
        d.string("sw_version", DewpointVersion.string)
        if let via { d.string("via_device", via) }
        return d.bytes
    }

    private func origin() -> [UInt8] {
        var o = JSONObject()
        o.string("name", "Dewpoint")
        o.string("sw_version", DewpointVersion.string)
        return o.bytes
    }

    /// A Jinja string literal.
    static func jinjaString(_ s: String) -> String {
        "'" + s.replacing("\\", with: "\\\\").replacing("'", with: "\\'") + "'"
    }

    /// The unit as Home Assistant writes it, and the device class it implies (where it knows one).
    /// Statistics that are not in the channel's unit (counts, shape ratios) have neither.
    static func homeAssistantUnit(_ unit: String, statistic: String) -> (unit: String?, deviceClass: String?) {
        if ["crest", "kurtosis", "skewness"].contains(statistic) { return (nil, nil) }
        let u = String(unit.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
        switch u {
        case "": return (nil, nil)
        case "degC", "°C", "C", "celsius": return ("°C", "temperature")
        case "degF", "°F", "F": return ("°F", "temperature")
        case "K": return ("K", "temperature")
        case "%RH", "%rh", "RH": return ("%", "humidity")
        case "hPa", "Pa", "kPa", "bar", "mbar", "psi", "mmHg", "inHg", "cbar", "MPa": return (u, "pressure")
        case "V", "mV", "kV": return (u, "voltage")
        case "A", "mA": return (u, "current")
        case "W", "kW", "MW": return (u, "power")
        case "Wh", "kWh", "MWh": return (u, "energy")
        case "Hz", "kHz", "MHz", "GHz": return (u, "frequency")
        case "lx": return (u, "illuminance")
        case "dB", "dBA": return (u, "sound_pressure")
        case "L/min", "m³/h", "m3/h", "gal/min", "ft³/min": return (u == "m3/h" ? "m³/h" : u, "volume_flow_rate")
        case "µg/m³", "ug/m3": return ("µg/m³", nil)
        case "ppm": return ("ppm", nil)
        case "VA": return (u, "apparent_power")
        case "var": return (u, "reactive_power")
        case "dBm": return (u, "signal_strength")
        case "m/s": return (u, "speed")
        default: return (u, nil)
        }
    }

    // MARK: The file

    static func load(_ path: String) -> [String: Announced] {
        guard let bytes = readFile(path) else { return [:] }
        return UpstreamRecordHead.announcements(bytes).reduce(into: [:]) { $0[$1.device] = Announced(binding: $1.binding, topics: $1.topics) }
    }

    static func store(_ a: [String: Announced], path: String, logger: Logger) {
        var out = Array("{\"v\":1,\"devices\":[".utf8)
        for (i, (device, e)) in a.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            var o = JSONObject()
            o.string("device", device)
            o.string("binding", e.binding)
            o.raw("topics", Array("[".utf8) + e.topics.map(JSONObject.quoted).joined(separator: Array(",".utf8)) + Array("]".utf8))
            out += o.bytes
        }
        out += Array("]}\n".utf8)
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { logger.warning("homeassistant: cannot write \(tmp): \(String(cString: strerror(errno)))"); return }
        let ok = out.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == out.count
        close(fd)
        if ok { rename(tmp, path) } else { unlink(tmp); logger.warning("homeassistant: cannot write \(tmp)") }
    }

    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
            if out.count > 64 << 20 { return nil }  // not a file of ours
        }
        return out
    }
}

/// A JSON object written key by key, in order.
struct JSONObject {
    private var out: [UInt8] = [UInt8(ascii: "{")]
    private var first = true

    static func quoted(_ s: String) -> [UInt8] {
        var b: [UInt8] = []
        JSONText.string(s, into: &b)
        return b
    }

    private mutating func key(_ k: String) {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        JSONText.string(k, into: &out)
        out.append(UInt8(ascii: ":"))
    }

    mutating func string(_ k: String, _ v: String) {
        key(k)
        JSONText.string(v, into: &out)
    }

    /// A value already in JSON.
    mutating func raw(_ k: String, _ v: [UInt8]) {
        key(k)
        out += v
    }

    var bytes: [UInt8] { out + [UInt8(ascii: "}")] }
}
