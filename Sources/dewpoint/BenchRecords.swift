import DewpointCore
import DewpointSparkplug

/// What encoding a record for upstream costs: Dewpoint's JSON (the spool's form, the baseline) and
/// Sparkplug B's DDATA, which reads the spooled JSON back and encodes protobuf at send time.
extension Bench {
    struct RecordRow { var name: String; var rate: Double; var bytes: Int }

    /// A summary of 4 channels with 3 percentiles, as a weather or boiler binding sends per window.
    static func sampleSummary(seq: UInt64) -> SummaryRecord {
        let channels = ["temp", "rh", "p", "batt"].enumerated().map { i, name -> ChannelSummary in
            var c = ChannelSummary(name: name, unit: ["degC", "%RH", "hPa", "V"][i], n: 600, min: 20.1, max: 21.3, mean: 20.71 + Double(seq % 7),
                                   std: 0.31, first: 20.2, last: 21)
            c.extra = [SummaryField("p50", 20.7), SummaryField("p90", 21.1), SummaryField("p99", 21.25)]
            return c
        }
        return SummaryRecord(agent: "gw-01", device: "boiler-1", seq: seq, startMs: 1_764_000_000_000 + Int64(seq) * 10_000,
                             endMs: 1_764_000_010_000 + Int64(seq) * 10_000, partial: false, channels: channels)
    }

    static func records(_ n: Int) -> [RecordRow] {
        let encoder = RecordEncoder()
        var json: [UInt8] = []
        var bytes = 0
        let jsonRate = time(n) {
            for i in 0..<n {
                json.removeAll(keepingCapacity: true)
                encoder.encode(sampleSummary(seq: UInt64(i)), into: &json)
                bytes &+= json.count
            }
        }
        let jsonBytes = json.count
        let schema = RecordSchema(binding: "boiler", channels: ["temp", "rh", "p", "batt"].map {
            .init(name: $0, unit: "", statistics: RecordSchema.baseStatistics + ["p50", "p90", "p99"], detectors: ["threshold"])
        })
        var node = SparkplugEdgeNode(group: "plant", node: "gw-01")
        _ = node.willForNextConnect(nowMs: 0)
        _ = node.birth(nowMs: 0)
        var ddataBytes = 0
        let parsed = try! UpstreamRecord.parse(json)
        // the whole send-time path: read the spooled JSON back, then encode the DDATA
        let sparkplugRate = time(n) {
            for _ in 0..<n {
                guard let r = try? UpstreamRecord.parse(json) else { continue }
                ddataBytes = node.data(r, schema: schema, nowMs: 1).last?.payload.count ?? 0
            }
        }
        // the protobuf encoding alone
        let encodeRate = time(n) {
            for _ in 0..<n { bytes &+= node.data(parsed, schema: schema, nowMs: 1).last?.payload.count ?? 0 }
        }
        if bytes < 0 { print(bytes) }
        return [RecordRow(name: "json_summary", rate: jsonRate, bytes: jsonBytes),
                RecordRow(name: "sparkplug_ddata", rate: sparkplugRate, bytes: ddataBytes),
                RecordRow(name: "sparkplug_ddata_encode_only", rate: encodeRate, bytes: ddataBytes)]
    }
}
