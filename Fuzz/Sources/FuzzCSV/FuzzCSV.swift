import FuzzDriver
import DewpointCore
import DewpointDecode

/// CSV records (quoting, separators) with an RFC 3339 timestamp column, and key=value and NMEA
/// on the same bytes.
nonisolated(unsafe) let csv = try! FrameDecoder(binding: BindingSpec(
    name: "f", transport: .file, decoder: .csv(separator: UInt8(ascii: ","), quote: UInt8(ascii: "\"")),
    timestamp: TimestampSpec(source: .csvColumn(0), format: .rfc3339),
    channels: [ChannelSpec(name: "a", locator: .csvColumn(1)), ChannelSpec(name: "b", locator: .csvColumn(5))]))
nonisolated(unsafe) let kv = try! FrameDecoder(binding: BindingSpec(
    name: "k", transport: .file, decoder: .keyValue(pairSeparator: UInt8(ascii: ";"), kvSeparator: UInt8(ascii: ":")),
    channels: [ChannelSpec(name: "a", locator: .key("a")), ChannelSpec(name: "b", locator: .key("b"))]))
nonisolated(unsafe) let nmea = try! FrameDecoder(binding: BindingSpec(
    name: "n", transport: .file, decoder: .nmea(sentence: nil, requireChecksum: false),
    channels: [ChannelSpec(name: "lat", locator: .nmea(.latitude)), ChannelSpec(name: "lon", locator: .nmea(.longitude))]))
nonisolated(unsafe) var values = [Float](repeating: 0, count: 2)

func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buf = UnsafeRawBufferPointer(start: data, count: size)
    values.withUnsafeMutableBufferPointer { v in
        _ = try? csv.decode(buf, arrivalNs: 0, into: v)
        _ = try? kv.decode(buf, arrivalNs: 0, into: v)
        _ = try? nmea.decode(buf, arrivalNs: 0, into: v)
    }
    _ = TimeParser.parseISO8601(buf)
    return 0
}

@main
struct Entry {
    static func main() { runFuzzer { fuzzOne($0!, $1) } }
}
