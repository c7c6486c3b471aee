#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A record read back from the spool (the JSON of `docs/records.md`), for formats that re-encode
/// it at send time. Values the JSON holds as `null` (a statistic that was not finite) are nil.
public enum UpstreamRecord: Sendable, Equatable {
    public struct Channel: Sendable, Equatable {
        public var name: String
        public var unit: String
        /// The channel object's numeric keys (`n`, `min`, …, `p50`, `rms`, …).
        public var statistics: [String: Double?]
        /// `bands`: band key → energy.
        public var bands: [String: Double?]
    }
    case summary(device: String, startMs: Int64, endMs: Int64, partial: Bool, channels: [Channel])
    case alert(device: String, channel: String, detector: String, tsMs: Int64, raised: Bool, severity: String,
               score: Double?, value: Double?, message: String)

    public var device: String {
        switch self {
        case .summary(let d, _, _, _, _), .alert(let d, _, _, _, _, _, _, _, _): d
        }
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads one record. Throws for anything that is not a summary or an alert of `v:1` (a
    /// damaged row, or a kind this format does not carry).
    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> UpstreamRecord {
        let head: Head
        do { head = try JSONDecoder().decode(Head.self, from: Data(bytes)) } catch {
            throw ParseError(description: "not a record: \(error)")
        }
        guard head.v == 1 else { throw ParseError(description: "record version \(head.v) is not 1") }
        do {
            switch head.kind {
            case "summary":
                let s = try JSONDecoder().decode(Summary.self, from: Data(bytes))
                let channels = s.channels.values.map { c in
                    Channel(name: c.name, unit: c.unit, statistics: c.statistics, bands: c.bands)
                }.sorted { $0.name < $1.name }
                return .summary(device: head.device, startMs: s.start_ms, endMs: s.end_ms, partial: s.partial ?? false, channels: channels)
            case "alert":
                let a = try JSONDecoder().decode(Alert.self, from: Data(bytes))
                return .alert(device: head.device, channel: a.channel, detector: a.detector, tsMs: a.ts_ms, raised: a.state == "raised",
                              severity: a.severity, score: a.score, value: a.value, message: a.message)
            default:
                throw ParseError(description: "a \(head.kind) record has no place in this format")
            }
        } catch let e as ParseError {
            throw e
        } catch {
            throw ParseError(description: "damaged \(head.kind) record: \(error)")
        }
    }

    private struct Head: Decodable {
        var kind: String
        var v: Int
        var device: String
    }

    private struct Summary: Decodable {
        var start_ms: Int64
        var end_ms: Int64
        var partial: Bool?
        var channels: Channels
    }

    private struct Alert: Decodable {
        var channel: String
        var ts_ms: Int64
        var state: String
        var severity: String
        var detector: String
        var score: Double?
        var value: Double?
        var message: String
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// `channels`: an object keyed by channel name.
    private struct Channels: Decodable {
        var values: [ChannelObject] = []
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            for k in c.allKeys {
                var ch = try c.decode(ChannelObject.self, forKey: k)
                ch.name = k.stringValue
                values.append(ch)
            }
        }
    }

    private struct ChannelObject: Decodable {
        var name = ""
        var unit = ""
        var statistics: [String: Double?] = [:]
        var bands: [String: Double?] = [:]
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            for k in c.allKeys {
                switch k.stringValue {
                case "unit": unit = try c.decode(String.self, forKey: k)
                case "bands":
                    let b = try c.nestedContainer(keyedBy: Key.self, forKey: k)
                    for bk in b.allKeys { bands[bk.stringValue] = .some(try b.decodeIfPresent(Double.self, forKey: bk)) }
                default:
                    // extra keys may be added within v:1: numbers are statistics, anything else is skipped
                    if let v = try? c.decodeIfPresent(Double.self, forKey: k) { statistics[k.stringValue] = .some(v) }
                    else if (try? c.decodeNil(forKey: k)) == true { statistics[k.stringValue] = .some(nil) }
                }
            }
        }
    }
}
