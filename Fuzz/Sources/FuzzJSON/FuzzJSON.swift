import FuzzDriver
import DewpointDecode

/// The JSON scanner with pointers into objects and arrays: any input must be accepted or rejected
/// without a crash, and picked values must lie inside the input.
nonisolated(unsafe) let scanner = JSONScanner(pointers: ["/a", "/a/b/0", "/0", "/x~1y", "/ts"].map { try! JSONPointer($0) })

func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buf = UnsafeRawBufferPointer(start: data, count: size)
    if (try? scanner.scan(buf)) != nil {
        for v in scanner.values where v.kind != .missing {
            precondition(v.start >= 0 && v.end <= size && v.start <= v.end)
            if v.kind == .number { _ = NumberParser.parseDouble(UnsafeRawBufferPointer(rebasing: buf[v.start..<v.end])) }
            if v.kind == .string {
                var out: [UInt8] = []
                JSONString.unescape(UnsafeRawBufferPointer(rebasing: buf[v.start..<v.end]), into: &out)
                precondition(out.count <= v.end - v.start)
            }
        }
    }
    return 0
}

@main
struct Entry {
    static func main() { runFuzzer { fuzzOne($0!, $1) } }
}
