import FuzzDriver
import DewpointDecode

/// The packet parser on every link type it knows: any bytes must parse or be counted by reason,
/// and a parsed payload must lie inside the captured bytes.
func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buf = UnsafeRawBufferPointer(start: data, count: size)
    for link: Int32 in [1, 12, 101, 113, 276, 228, 229] {
        if case .success(let p) = PacketParser.parse(buf, linkType: link) {
            precondition(p.payload.lowerBound >= 0 && p.payload.upperBound <= size)
        }
    }
    return 0
}

@main
struct Entry {
    static func main() { runFuzzer { fuzzOne($0!, $1) } }
}
