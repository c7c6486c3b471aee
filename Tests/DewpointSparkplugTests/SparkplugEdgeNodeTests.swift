import DewpointCore
@testable import DewpointSparkplug
import Testing

@Suite("Sparkplug edge node session")
struct SparkplugEdgeNodeTests {
    static let schema = RecordSchema(binding: "boiler", channels: [
        .init(name: "temp", unit: "degC", statistics: RecordSchema.baseStatistics, detectors: ["threshold"]),
        .init(name: "hum", unit: "%RH", statistics: RecordSchema.baseStatistics),
    ])

    static func summary(_ device: String = "b1", endMs: Int64 = 10_000, extra: [String: Double?] = [:]) -> UpstreamRecord {
        var stats: [String: Double?] = ["n": 10, "min": 20, "max": 22, "mean": 21, "std": 0.5, "first": 20, "last": 22]
        for (k, v) in extra { stats[k] = v }
        return .summary(device: device, startMs: endMs - 10_000, endMs: endMs, partial: false,
                        channels: [.init(name: "temp", unit: "degC", statistics: stats, bands: [:])])
    }

    static func decode(_ m: SparkplugEdgeNode.Message) throws -> SparkplugPayload { try SparkplugPayload(serializedBytes: m.payload) }

    @Test func bdSeqAdvancesWithEveryConnectAndBirthCarriesIt() throws {
        var node = SparkplugEdgeNode(group: "g", node: "n", lastBdSeq: 254)
        let will1 = node.willForNextConnect(nowMs: 1)
        #expect(will1.topic == "spBv1.0/g/NDEATH/n")
        #expect(try Self.decode(will1).metrics.first { $0.name == "bdSeq" }?.longValue == 255)
        #expect(!(try Self.decode(will1).hasSeq))
        let birth = node.birth(nowMs: 2)
        #expect(birth.count == 1 && birth[0].topic == "spBv1.0/g/NBIRTH/n")
        let p = try Self.decode(birth[0])
        #expect(p.seq == 0)
        #expect(p.metrics.first { $0.name == "bdSeq" }?.longValue == 255)
        #expect(p.metrics.first { $0.name == "Node Control/Rebirth" }?.booleanValue == false)
        node.disconnected()
        node.connectionAccepted()
        let will2 = node.willForNextConnect(nowMs: 3)
        #expect(try Self.decode(will2).metrics[0].longValue == 0, "bdSeq wraps after 255")
        #expect(node.needsBirth)
        #expect(try Self.decode(node.birth(nowMs: 4)[0]).metrics[0].longValue == 0)
        #expect(SparkplugEdgeNode(group: "g", node: "n").bdSeq == nil)
        // attempts no broker accepted do not count: hosts expect one more than the last they saw
        _ = node.willForNextConnect(nowMs: 5)
        _ = node.willForNextConnect(nowMs: 6)
        #expect(node.bdSeq == 0)
        node.connectionAccepted()
        _ = node.willForNextConnect(nowMs: 7)
        #expect(node.bdSeq == 1)
    }

    @Test func deviceBirthPrecedesDataAndDeclaresEverything() throws {
        var node = SparkplugEdgeNode(group: "g", node: "n")
        _ = node.willForNextConnect(nowMs: 0)
        _ = node.birth(nowMs: 0)
        let out = node.data(Self.summary(), schema: Self.schema, nowMs: 5)
        #expect(out.map(\.kind) == [.dbirth, .ddata])
        #expect(out[0].topic == "spBv1.0/g/DBIRTH/n/b1" && out[1].topic == "spBv1.0/g/DDATA/n/b1")
        let birth = try Self.decode(out[0])
        #expect(birth.seq == 1)
        let names = birth.metrics.map(\.name)
        // every statistic of both channels, and the alert with its message
        #expect(names.count == 7 + 7 + 2)
        #expect(names.contains("temp/mean") && names.contains("hum/last") && names.contains("temp/alert/threshold")
            && names.contains("temp/alert/threshold/message"))
        #expect(Set(birth.metrics.map(\.alias)).count == names.count, "aliases are unique")
        #expect(birth.metrics.allSatisfy { $0.hasDatatype })
        let mean = birth.metrics.first { $0.name == "temp/mean" }!
        #expect(mean.datatype == 10 && mean.isNull, "no value yet at the first birth")
        #expect(mean.properties.keys == ["engUnit"] && mean.properties.values[0].stringValue == "degC")
        #expect(birth.metrics.first { $0.name == "temp/n" }!.datatype == 8)
        let data = try Self.decode(out[1])
        #expect(data.seq == 2)
        #expect(data.metrics.count == 7)
        #expect(data.metrics.allSatisfy { !$0.hasName && !$0.hasDatatype && $0.hasAlias && $0.timestamp == 10_000 })
        let meanData = data.metrics.first { $0.alias == mean.alias }!
        #expect(meanData.doubleValue == 21)
        // the next record is data alone, and a rebirth carries the last values
        let next = node.data(Self.summary(endMs: 20_000), schema: Self.schema, nowMs: 6)
        #expect(next.map(\.kind) == [.ddata])
        #expect(try Self.decode(next[0]).seq == 3)
        node.requestRebirth()
        let reborn = node.birth(nowMs: 7)
        #expect(reborn.map(\.kind) == [.nbirth, .dbirth])
        #expect(try Self.decode(reborn[0]).seq == 0)
        let rebirth = try Self.decode(reborn[1])
        #expect(rebirth.metrics.first { $0.name == "temp/mean" }?.doubleValue == 21)
        #expect(rebirth.metrics.first { $0.name == "temp/mean" }?.alias == mean.alias, "aliases stay")
    }

    @Test func aMetricTheBirthDidNotDeclareBringsANewBirth() throws {
        var node = SparkplugEdgeNode(group: "g", node: "n")
        _ = node.birth(nowMs: 0)
        _ = node.data(Self.summary(), schema: Self.schema, nowMs: 1)
        let out = node.data(Self.summary(extra: ["p90": 21.9, "twmean": nil]), schema: Self.schema, nowMs: 2)
        #expect(out.map(\.kind) == [.dbirth, .ddata])
        let birth = try Self.decode(out[0])
        #expect(birth.metrics.contains { $0.name == "temp/p90" } && birth.metrics.contains { $0.name == "temp/twmean" })
        let data = try Self.decode(out[1])
        let tw = birth.metrics.first { $0.name == "temp/twmean" }!.alias
        #expect(data.metrics.first { $0.alias == tw }?.isNull == true, "a value that was not finite is null")
    }

    @Test func alertsAreBooleansWithTheirMessage() throws {
        var node = SparkplugEdgeNode(group: "g", node: "n")
        _ = node.birth(nowMs: 0)
        let raised = UpstreamRecord.alert(device: "b1", channel: "temp", detector: "threshold", tsMs: 4_200, raised: true, severity: "critical",
                                          score: 1, value: 61.5, message: "temp 61.5 degC is above the threshold 60 degC")
        let out = node.data(raised, schema: Self.schema, nowMs: 5)
        let birth = try Self.decode(out[0])
        let alias = birth.metrics.first { $0.name == "temp/alert/threshold" }!.alias
        let data = try Self.decode(out[1])
        #expect(data.metrics.first { $0.alias == alias }?.booleanValue == true)
        #expect(data.metrics.contains { $0.stringValue.hasPrefix("temp 61.5 degC") })
    }

    /// A detector over the whole device (channel `*`) is declared at birth as `alert/<detector>`,
    /// and its alert sets that metric without a new birth.
    @Test func aDeviceDetectorsAlertIsDeclaredAtBirth() throws {
        var schema = Self.schema
        schema.deviceDetectors = ["device"]
        var node = SparkplugEdgeNode(group: "g", node: "n")
        _ = node.birth(nowMs: 0)
        let first = node.data(Self.summary(), schema: schema, raisedAlerts: ["*/device"], nowMs: 1)
        let birth = try Self.decode(first[0])
        let metric = try #require(birth.metrics.first { $0.name == "alert/device" })
        #expect(metric.booleanValue == true, "raised when the device was first born")
        #expect(birth.metrics.contains { $0.name == "alert/device/message" })
        let cleared = UpstreamRecord.alert(device: "b1", channel: "*", detector: "device", tsMs: 4_200, raised: false, severity: "warning",
                                           score: 0.3, value: 0.4, message: "b1: temp, hum move together as learned again")
        let out = node.data(cleared, schema: schema, nowMs: 5)
        #expect(out.map(\.kind) == [.ddata])
        #expect(try Self.decode(out[0]).metrics.first { $0.alias == metric.alias }?.booleanValue == false)
    }

    @Test func seqWrapsAfter255() throws {
        var node = SparkplugEdgeNode(group: "g", node: "n")
        _ = node.birth(nowMs: 0)
        var seqs: [UInt64] = []
        for i in 0..<300 {
            let out = node.data(Self.summary(endMs: Int64(i) * 10_000), schema: Self.schema, nowMs: 1)
            for m in out { seqs.append(try Self.decode(m).seq) }
        }
        #expect(seqs.count == 301)
        for (a, b) in zip(seqs, seqs.dropFirst()) { #expect(b == (a + 1) % 256) }
        #expect(seqs.max() == 255)
    }

    @Test func deathsOnlyForBornDevicesAndThenBirthAgain() throws {
        var node = SparkplugEdgeNode(group: "g", node: "n")
        #expect(node.deviceLost("b1", nowMs: 0) == nil)
        _ = node.birth(nowMs: 0)
        _ = node.data(Self.summary(), schema: Self.schema, nowMs: 1)
        #expect(node.bornDevices == ["b1"])
        let lost = node.deviceLost("b1", nowMs: 2)
        let death = try #require(lost)
        #expect(death.kind == .ddeath && death.topic == "spBv1.0/g/DDEATH/n/b1")
        #expect(try Self.decode(death).seq == 3)
        #expect(node.deviceLost("b1", nowMs: 3) == nil)
        #expect(node.data(Self.summary(), schema: Self.schema, nowMs: 4).map(\.kind) == [.dbirth, .ddata])
        node.disconnected()
        #expect(node.bornDevices.isEmpty)
    }

    @Test func deviceIDsAreTopicSafeAndDevicesAreBounded() {
        #expect(SparkplugEdgeNode.topicID("line/1+#x\u{1}") == "line_1__x_")
        #expect(SparkplugEdgeNode.isValidID("gw-01") && !SparkplugEdgeNode.isValidID("a/b") && !SparkplugEdgeNode.isValidID(""))
        var node = SparkplugEdgeNode(group: "g", node: "n", maxDevices: 2)
        _ = node.birth(nowMs: 0)
        #expect(!node.data(Self.summary("a"), schema: nil, nowMs: 1).isEmpty)
        #expect(!node.data(Self.summary("b"), schema: nil, nowMs: 1).isEmpty)
        #expect(node.data(Self.summary("c"), schema: nil, nowMs: 1).isEmpty, "a third device while two are born is refused")
        #expect(node.refusedDevices == 1)
        _ = node.deviceLost("a", nowMs: 2)
        #expect(!node.data(Self.summary("c"), schema: nil, nowMs: 3).isEmpty)
    }

    @Test func rebirthCommands() throws {
        var cmd = SparkplugPayload()
        cmd.timestamp = 1
        var m = SparkplugPayload.Metric()
        m.name = "Node Control/Rebirth"
        m.datatype = 11
        m.booleanValue = true
        cmd.metrics = [m]
        #expect(try SparkplugEdgeNode.isRebirthCommand(try cmd.serializedBytes()))
        cmd.metrics[0].booleanValue = false
        #expect(!(try SparkplugEdgeNode.isRebirthCommand(try cmd.serializedBytes())))
        #expect(throws: (any Error).self) { try SparkplugEdgeNode.isRebirthCommand([0xFF, 0xFF, 0xFF, 0x0F]) }
    }
}

@Suite("Records read back for re-encoding")
struct UpstreamRecordTests {
    @Test func summaryAndAlertRoundTrip() throws {
        var c = ChannelSummary(name: "temp", unit: "degC", n: 3, min: 1, max: 3, mean: 2, std: .nan, first: 1, last: 3)
        c.extra = [SummaryField("p90", 2.8)]
        c.bands = [SummaryField("10-100", 0.25)]
        var out: [UInt8] = []
        RecordEncoder().encode(SummaryRecord(agent: "gw", device: "d\"1", seq: 9, startMs: 0, endMs: 1000, partial: true, channels: [c]), into: &out)
        guard case .summary(let device, let start, let end, let partial, let channels) = try UpstreamRecord.parse(out) else { Issue.record("not a summary"); return }
        #expect(device == "d\"1" && start == 0 && end == 1000 && partial)
        #expect(channels.count == 1 && channels[0].unit == "degC")
        #expect(channels[0].statistics["mean"] == .some(2) && channels[0].statistics["p90"] == .some(2.8))
        #expect(channels[0].statistics["std"] == .some(nil), "NaN is written as null and read back as nil")
        #expect(channels[0].bands["10-100"] == .some(0.25))
        out.removeAll()
        RecordEncoder().encode(AlertRecord(agent: "gw", device: "d", channel: "temp", seq: 10, tsMs: 5, state: .cleared, severity: .warning,
                                           detector: "zscore", score: 0.2, value: 1.5, message: "ok"), into: &out)
        #expect(try UpstreamRecord.parse(out) == .alert(device: "d", channel: "temp", detector: "zscore", tsMs: 5, raised: false, severity: "warning",
                                                         score: 0.2, value: 1.5, message: "ok"))
    }

    @Test func damagedRecordsAreErrors() {
        for bad in ["", "{", #"{"kind":"summary","v":2,"device":"d"}"#, #"{"kind":"metrics","v":1,"device":"d"}"#,
                    #"{"kind":"summary","v":1,"device":"d","start_ms":"x"}"#] {
            #expect(throws: UpstreamRecord.ParseError.self) { try UpstreamRecord.parse(Array(bad.utf8)) }
        }
    }
}
