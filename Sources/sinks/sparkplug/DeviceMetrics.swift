import DewpointCore

/// A Sparkplug data type (the `datatype` of a metric; Sparkplug B 3.0, section 6.4.16).
public enum SparkplugDataType: UInt32, Sendable {
    case int64 = 4, uint64 = 8, double = 10, boolean = 11, string = 12
}

/// The last value of a metric, carried again by every BIRTH.
public enum SparkplugValue: Sendable, Equatable {
    case null
    case double(Double)
    case uint64(UInt64)
    case boolean(Bool)
    case string(String)
}

/// The metrics of one device as its DBIRTH declares them, with the alias each keeps for the
/// life of the process, and their last values.
///
/// Names: `<channel>/<statistic>` (`temp/mean`, `temp/p90`), `<channel>/bands/<low>-<high>`, and per
/// alert detector `<channel>/alert/<detector>` (Boolean, true while raised) with
/// `<channel>/alert/<detector>/message` (String). Units travel as the `engUnit` property.
struct DeviceMetrics: Sendable {
    struct Metric: Sendable {
        var name: String
        var alias: UInt64
        var type: SparkplugDataType
        var unit: String
        var value: SparkplugValue = .null
        /// Measured at (ms since the epoch), for the BIRTH; 0 before any value.
        var timestampMs: UInt64 = 0
    }
    private(set) var metrics: [Metric] = []
    private var index: [String: Int] = [:]

    var count: Int { metrics.count }

    /// Adds the metric if it is new (the alias comes from `nextAlias`); true if it was new.
    @discardableResult
    mutating func declare(_ name: String, _ type: SparkplugDataType, unit: String, nextAlias: inout UInt64) -> Bool {
        guard index[name] == nil else { return false }
        index[name] = metrics.count
        metrics.append(Metric(name: name, alias: nextAlias, type: type, unit: unit))
        nextAlias += 1
        return true
    }

    /// Every metric `schema` says the device may send.
    mutating func declare(_ schema: RecordSchema, nextAlias: inout UInt64) {
        for c in schema.channels {
            if schema.summaries {
                for s in c.statistics { declare(Self.statisticName(c.name, s), Self.statisticType(s), unit: Self.statisticUnit(s, c.unit), nextAlias: &nextAlias) }
                for b in c.bands { declare(Self.bandName(c.name, b), .double, unit: c.unit.isEmpty ? "" : "(\(c.unit))²", nextAlias: &nextAlias) }
            }
        }
        if schema.alerts {
            for (c, d) in schema.alertKeys {
                declare(Self.alertName(c, d), .boolean, unit: "", nextAlias: &nextAlias)
                declare(Self.alertName(c, d) + "/message", .string, unit: "", nextAlias: &nextAlias)
            }
        }
    }

    func alias(_ name: String) -> UInt64? { index[name].map { metrics[$0].alias } }
    func metric(_ name: String) -> Metric? { index[name].map { metrics[$0] } }

    mutating func set(_ name: String, _ value: SparkplugValue, atMs: UInt64) {
        guard let i = index[name] else { return }
        metrics[i].value = value
        metrics[i].timestampMs = atMs
    }

    static func statisticName(_ channel: String, _ statistic: String) -> String { channel + "/" + statistic }
    static func bandName(_ channel: String, _ band: String) -> String { channel + "/bands/" + band }
    /// `<channel>/alert/<detector>`; a detector over the whole device (channel `*`) is `alert/<detector>`.
    static func alertName(_ channel: String, _ detector: String) -> String {
        channel == DeviceDetectorSpec.recordChannel ? "alert/" + detector : channel + "/alert/" + detector
    }

    /// Counts are integers; everything else a summary holds is a double.
    static func statisticType(_ s: String) -> SparkplugDataType { s == "n" || s == "frames" ? .uint64 : .double }

    /// The unit of a statistic of a channel in `unit`: none for counts and shape ratios.
    static func statisticUnit(_ s: String, _ unit: String) -> String {
        switch s {
        case "n", "frames", "crest", "kurtosis", "skewness": ""
        default: unit
        }
    }
}
