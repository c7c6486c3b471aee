import DewpointCore
import DewpointSpool
import DewpointTestSupport
@testable import DewpointUpstream
import Foundation
import Logging
import Testing

@Suite("Home Assistant discovery payloads")
struct HomeAssistantDiscoveryTests {
    static let schema = RecordSchema(binding: "boiler", channels: [
        .init(name: "temp", unit: "degC", statistics: RecordSchema.baseStatistics + ["p90"], detectors: ["threshold", "zscore"]),
        .init(name: "it's", unit: "", statistics: RecordSchema.baseStatistics),
    ])

    static func make(dir: String, schemas: [RecordSchema] = [schema], statistic: String = "mean",
                     bindingOf: @escaping @Sendable (String) -> String? = { _ in "boiler" }) -> HomeAssistantDiscovery {
        var spec = UpstreamSpec()
        spec.discovery = .homeassistant
        spec.homeAssistantStatistic = statistic
        return HomeAssistantDiscovery(spec: spec, agentId: "gw-1", topics: UpstreamTopics(spec, agent: "gw-1"), spoolDir: dir,
                                      schemas: schemas, logger: Logger(label: "test"), bindingOf: bindingOf)
    }

    static func summary(_ device: String) -> SpoolQueue.Record {
        var out: [UInt8] = []
        RecordEncoder().encode(SummaryRecord(agent: "gw-1", device: device, seq: 1, startMs: 0, endMs: 1000, partial: false,
                                             channels: [ChannelSummary(name: "temp", unit: "degC", n: 1, min: 1, max: 1, mean: 1, std: 0, first: 1, last: 1)]),
                               into: &out)
        return SpoolQueue.Record(seq: 1, topic: "dewpoint/gw-1/\(device)/summary", payload: out)
    }

    static func json(_ m: OutgoingMessage) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(m.payload)) as? [String: Any])
    }

    @Test func configsFollowTheDocumentedSchema() throws {
        let d = Self.make(dir: scratchDir("ha-configs"))
        let cs = d.configs(device: "b-1", schema: Self.schema)
        #expect(cs.map(\.topic) == ["homeassistant/sensor/gw-1_b-1_temp/config", "homeassistant/binary_sensor/gw-1_b-1_temp_threshold/config",
                                    "homeassistant/binary_sensor/gw-1_b-1_temp_zscore/config", "homeassistant/sensor/gw-1_b-1_it_s/config"])
        #expect(cs.allSatisfy { $0.retain && $0.qos == 1 })
        let temp = try Self.json(cs[0])
        // the keys Home Assistant's MQTT sensor schema requires or that discovery relies on
        #expect(temp["unique_id"] as? String == "dewpoint_gw-1_b-1_temp")
        #expect(temp["state_topic"] as? String == "dewpoint/gw-1/b-1/summary")
        #expect(temp["value_template"] as? String == "{{ value_json.channels['temp']['mean'] if 'temp' in value_json.channels else '' }}")
        #expect(temp["unit_of_measurement"] as? String == "°C" && temp["device_class"] as? String == "temperature")
        #expect(temp["state_class"] as? String == "measurement" && temp["suggested_display_precision"] as? Int == 2)
        #expect(temp["availability_topic"] as? String == "dewpoint/gw-1/status")
        let device = try #require(temp["device"] as? [String: Any])
        #expect(device["identifiers"] as? [String] == ["dewpoint_gw-1_b-1"] && device["model"] as? String == "boiler")
        #expect(device["via_device"] as? String == "dewpoint_gw-1")
        let alert = try Self.json(cs[1])
        #expect(alert["state_topic"] as? String == "dewpoint/gw-1/b-1/alert/state")
        #expect(alert["value_template"] as? String == "{{ value_json['temp/threshold'] if 'temp/threshold' in value_json else '' }}")
        #expect(alert["payload_on"] as? String == "raised" && alert["payload_off"] as? String == "cleared")
        #expect(alert["device_class"] as? String == "problem")
        // a quote in a channel name is escaped inside the template's string literal
        #expect((try Self.json(cs[3]))["value_template"] as? String == #"{{ value_json.channels['it\'s']['mean'] if 'it\'s' in value_json.channels else '' }}"#)
        #expect((try Self.json(cs[3]))["unit_of_measurement"] == nil)
        let gateway = try Self.json(d.gatewayConfig())
        #expect(gateway["device_class"] as? String == "connectivity")
        #expect((gateway["device"] as? [String: Any])?["identifiers"] as? [String] == ["dewpoint_gw-1"])
    }

    /// A detector over the whole device (channel `*`) is one binary sensor named by the
    /// detector, reading the `*/device` key of the alert states.
    @Test func aDeviceDetectorIsOneBinarySensor() throws {
        var schema = Self.schema
        schema.deviceDetectors = ["device"]
        let d = Self.make(dir: scratchDir("ha-device"))
        let cs = d.configs(device: "b-1", schema: schema)
        let last = try #require(cs.last)
        #expect(last.topic == "homeassistant/binary_sensor/gw-1_b-1_all_device/config")
        let o = try Self.json(last)
        #expect(o["name"] as? String == "device" && o["device_class"] as? String == "problem")
        #expect(o["value_template"] as? String == "{{ value_json['*/device'] if '*/device' in value_json else '' }}")
        #expect(HomeAssistantDiscovery.hasAlerts(RecordSchema(binding: "x", channels: [.init(name: "v", unit: "", statistics: [])])) == false)
        var onlyDevice = RecordSchema(binding: "x", channels: [.init(name: "v", unit: "", statistics: [])])
        onlyDevice.deviceDetectors = ["device"]
        #expect(HomeAssistantDiscovery.hasAlerts(onlyDevice))
    }

    @Test func theStatisticIsConfigurableWhereTheChannelHasIt() throws {
        let d = Self.make(dir: scratchDir("ha-stat"), statistic: "p90")
        let cs = d.configs(device: "b", schema: Self.schema)
        #expect((try Self.json(cs[0]))["value_template"] as? String == "{{ value_json.channels['temp']['p90'] if 'temp' in value_json.channels else '' }}")
        #expect((try Self.json(cs[0]))["name"] as? String == "temp p90")
        // a channel without that statistic shows its mean
        #expect((try Self.json(cs[3]))["value_template"] as? String == #"{{ value_json.channels['it\'s']['mean'] if 'it\'s' in value_json.channels else '' }}"#)
    }

    @Test func unitsMapToDeviceClasses() {
        for (unit, ha, cls) in [("degC", "°C", "temperature"), ("%RH", "%", "humidity"), ("hPa", "hPa", "pressure"), ("V", "V", "voltage"),
                                ("mA", "mA", "current"), ("kWh", "kWh", "energy"), ("L/min", "L/min", "volume_flow_rate"),
                                ("mm/s", "mm/s", nil), (" V ", "V", "voltage")] as [(String, String, String?)] {
            let r = HomeAssistantDiscovery.homeAssistantUnit(unit, statistic: "mean")
            #expect(r.unit == ha && r.deviceClass == cls, "\(unit)")
        }
        #expect(HomeAssistantDiscovery.homeAssistantUnit("g", statistic: "kurtosis") == (nil, nil))
    }

    @Test func aDeviceIsAnnouncedOncePerConnectionBeforeItsFirstRecord() throws {
        let d = Self.make(dir: scratchDir("ha-announce"))
        #expect(d.due(nowMs: 0).map(\.topic) == ["homeassistant/binary_sensor/gw-1_status/config"])
        let first = try d.present(Self.summary("b-1"), nowMs: 0)
        #expect(first.announce.count == 5, "four configs and the alert states")
        #expect(first.announce.last?.topic == "dewpoint/gw-1/b-1/alert/state")
        #expect(first.announce.last.map { String(decoding: $0.payload, as: UTF8.self) } == #"{"temp/threshold":"cleared","temp/zscore":"cleared"}"#)
        #expect(first.record.topic == "dewpoint/gw-1/b-1/summary" && first.record.payload == Self.summary("b-1").payload)
        #expect(try d.present(Self.summary("b-1"), nowMs: 0).announce.isEmpty)
        d.connectionReset()
        #expect(d.due(nowMs: 0).count == 1, "the gateway again")
        #expect(try d.present(Self.summary("b-1"), nowMs: 0).announce.count == 5)
        // an alert record moves the retained state (once per change)
        var alert: [UInt8] = []
        RecordEncoder().encode(AlertRecord(agent: "gw-1", device: "b-1", channel: "temp", seq: 2, tsMs: 5, state: .raised, severity: .warning,
                                           detector: "zscore", score: 1, value: 9, message: "m"), into: &alert)
        let raised = try d.present(SpoolQueue.Record(seq: 2, topic: "dewpoint/gw-1/b-1/alert", payload: alert), nowMs: 0)
        #expect(raised.announce.map { String(decoding: $0.payload, as: UTF8.self) } == [#"{"temp/threshold":"cleared","temp/zscore":"raised"}"#])
        #expect(raised.record.payload == alert)
        #expect(try d.present(SpoolQueue.Record(seq: 3, topic: "dewpoint/gw-1/b-1/alert", payload: alert), nowMs: 0).announce.isEmpty)
        // a device of no known binding passes through unannounced
        let unknown = Self.make(dir: scratchDir("ha-unknown"), bindingOf: { _ in nil })
        #expect(try unknown.present(Self.summary("x"), nowMs: 0).announce.isEmpty)
    }

    @Test func configsOfWhatTheBindingsNoLongerHaveAreRemovedAtTheNextStart() throws {
        let dir = scratchDir("ha-remove")
        let d = Self.make(dir: dir)
        _ = d.due(nowMs: 0)
        _ = try d.present(Self.summary("b-1"), nowMs: 0)
        // the next run: the detector zscore is gone from the binding
        var fewer = Self.schema
        fewer.channels[0].detectors = ["threshold"]
        let next = Self.make(dir: dir, schemas: [fewer])
        let removals = next.due(nowMs: 0).filter { $0.payload.isEmpty }
        #expect(removals.map(\.topic) == ["homeassistant/binary_sensor/gw-1_b-1_temp_zscore/config"])
        #expect(removals.allSatisfy { $0.retain })
        // and the run after that: the binding is gone
        let none = Self.make(dir: dir, schemas: [])
        #expect(none.due(nowMs: 0).filter { $0.payload.isEmpty }.map(\.topic).sorted() == [
            "dewpoint/gw-1/b-1/alert/state", "homeassistant/binary_sensor/gw-1_b-1_temp_threshold/config",
            "homeassistant/sensor/gw-1_b-1_it_s/config", "homeassistant/sensor/gw-1_b-1_temp/config"])
        #expect(Self.make(dir: dir, schemas: []).due(nowMs: 0).filter { $0.payload.isEmpty }.isEmpty, "removed once")
    }
}
