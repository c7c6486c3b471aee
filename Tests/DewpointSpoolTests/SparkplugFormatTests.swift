import DewpointCore
import DewpointSparkplug
import DewpointSpool
import DewpointTestSupport
@testable import DewpointUpstream
import Logging
import Testing

@Suite("Sparkplug format: commands, deaths, records")
struct SparkplugFormatTests {
    static let schema = RecordSchema(binding: "env", channels: [.init(name: "v", unit: "V", statistics: RecordSchema.baseStatistics, detectors: ["threshold"])])

    static func make(_ dir: String) -> SparkplugFormat {
        var spec = UpstreamSpec()
        spec.format = .sparkplugB
        spec.sparkplugGroup = "g"
        return SparkplugFormat(spec: spec, agentId: "gw", spoolDir: dir, logger: Logger(label: "test"),
                               schemaOf: { _ in schema }, raisedOf: { _ in ["v/threshold"] })
    }

    static func record(_ device: String) -> SpoolQueue.Record {
        var out: [UInt8] = []
        RecordEncoder().encode(SummaryRecord(agent: "gw", device: device, seq: 1, startMs: 0, endMs: 1000, partial: false,
                                             channels: [ChannelSummary(name: "v", unit: "V", n: 2, min: 1, max: 2, mean: 1.5, std: 0.5, first: 1, last: 2)]),
                               into: &out)
        return SpoolQueue.Record(seq: 1, topic: "dewpoint/gw/\(device)/summary", payload: out)
    }

    static func rebirth() throws -> [UInt8] {
        var p = SparkplugPayload()
        var m = SparkplugPayload.Metric()
        m.name = "Node Control/Rebirth"
        m.booleanValue = true
        p.metrics = [m]
        return try p.serializedBytes()
    }

    @Test func theWillCarriesAPersistedBdSeq() throws {
        let dir = scratchDir("spb-bdseq")
        let f = Self.make(dir)
        let w1 = f.willForConnect()
        #expect(w1.topic == "spBv1.0/g/NDEATH/gw" && w1.qos == 1 && !w1.retain)
        f.connectionAccepted()
        _ = f.willForConnect()
        // a restart goes on counting from the file
        let again = Self.make(dir)
        let w = again.willForConnect()
        #expect(try SparkplugPayload(serializedBytes: w.payload).metrics.first?.longValue == 2)
    }

    @Test func recordsFollowBirthsAndDevicesDieWhenTheirSourceGoes() throws {
        let f = Self.make(scratchDir("spb-records"))
        _ = f.willForConnect()
        f.connectionAccepted()
        let births = f.due(nowMs: 1)
        #expect(births.map(\.topic) == ["spBv1.0/g/NBIRTH/gw"] && births.allSatisfy { $0.qos == 0 })
        let sent = try f.present(Self.record("d1"), nowMs: 2)
        #expect(sent.announce.map(\.topic) == ["spBv1.0/g/DBIRTH/gw/d1"])
        #expect(sent.record.topic == "spBv1.0/g/DDATA/gw/d1" && sent.record.qos == 1, "DDATA at upstream.qos")
        // the DBIRTH says the alert raised now is raised
        let birth = try SparkplugPayload(serializedBytes: sent.announce[0].payload)
        #expect(birth.metrics.first { $0.name == "v/alert/threshold" }?.booleanValue == true)
        f.devicesLive(["d2"])
        #expect(f.due(nowMs: 3).map(\.topic) == ["spBv1.0/g/DDEATH/gw/d1"])
        #expect(f.due(nowMs: 4).isEmpty)
        // a damaged record is an error (the forwarder sets it aside), not a crash
        #expect(throws: UpstreamFormatError.self) { try f.present(SpoolQueue.Record(seq: 2, topic: "t", payload: Array("{".utf8)), nowMs: 5) }
    }

    @Test func rebirthCommandsAreHonouredAtMostOnceASecondAndGarbageIsCounted() throws {
        let f = Self.make(scratchDir("spb-cmd"))
        _ = f.willForConnect()
        _ = f.due(nowMs: 0)
        _ = try f.present(Self.record("d1"), nowMs: 1)
        f.command(try Self.rebirth())
        let reborn = f.due(nowMs: 2)
        #expect(reborn.map(\.topic) == ["spBv1.0/g/NBIRTH/gw", "spBv1.0/g/DBIRTH/gw/d1"])
        // a flood of commands: nothing more within the second
        for _ in 0..<100 { f.command(try Self.rebirth()) }
        #expect(f.due(nowMs: 3).isEmpty)
        f.command([0xFF, 0xFF, 0xFF])
        f.command([0x0A, 0x05])
        #expect(f.commandErrors == 2)
    }
}
