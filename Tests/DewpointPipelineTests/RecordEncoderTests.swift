import DewpointCore
import Testing

@Suite struct RecordEncoderTests {
    /// The exact bytes of the schema in docs/records.md, optional keys included.
    @Test func summaryAndAlertBytes() {
        var c = ChannelSummary(name: "temp", unit: "degC", n: 100, min: 20.5, max: 21.25, mean: 20.75, std: 0.25, first: 20.5, last: 21)
        c.extra = [SummaryField("p50", 20.75), SummaryField("twmean", .nan)]
        c.bands = [SummaryField("5-100", 0.5)]
        let s = SummaryRecord(agent: "gw-01", device: "boiler", seq: 7, startMs: 1000, endMs: 2000, partial: true, channels: [c])
        var out: [UInt8] = []
        RecordEncoder().encode(s, into: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"{"kind":"summary","v":1,"agent":"gw-01","device":"boiler","seq":7,"start_ms":1000,"end_ms":2000,"partial":true,"channels":{"temp":{"unit":"degC","n":100,"min":20.5,"max":21.25,"mean":20.75,"std":0.25,"first":20.5,"last":21,"p50":20.75,"twmean":null,"bands":{"5-100":0.5}}}}"#)
        let a = AlertRecord(agent: "gw-01", device: "boiler", channel: "temp", seq: 8, tsMs: 1500, state: .raised, severity: .critical,
                            detector: "threshold", score: 1, value: 61.5, message: "temp 61.5 degC is above the threshold 60 degC")
        out.removeAll()
        RecordEncoder().encode(a, into: &out)
        #expect(String(decoding: out, as: UTF8.self).hasPrefix(#"{"kind":"alert","v":1,"agent":"gw-01","device":"boiler","channel":"temp","seq":8,"ts_ms":1500,"state":"raised","severity":"critical","detector":"threshold","score":1,"value":61.5,"message":"#))
    }
}
