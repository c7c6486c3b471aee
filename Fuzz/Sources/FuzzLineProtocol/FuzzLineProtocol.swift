import FuzzDriver
import DewpointCore
import DewpointDecode

/// Line protocol through the binding decoder (fields, escapes, timestamps).
nonisolated(unsafe) let decoder = try! FrameDecoder(binding: BindingSpec(
    name: "f", transport: .file, decoder: .lineProtocol(precision: .epochNs),
    channels: [ChannelSpec(name: "a", locator: .key("value")), ChannelSpec(name: "b", locator: .key("x y")),
               ChannelSpec(name: "c", locator: .key("s"))]))
nonisolated(unsafe) var values = [Float](repeating: 0, count: 3)

func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buf = UnsafeRawBufferPointer(start: data, count: size)
    values.withUnsafeMutableBufferPointer { v in _ = try? decoder.decode(buf, arrivalNs: 0, into: v) }
    return 0
}

@main
struct Entry {
    static func main() { runFuzzer { fuzzOne($0!, $1) } }
}
