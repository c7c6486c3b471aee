import FuzzDriver
import DewpointSparkplug

/// Sparkplug NCMD payloads: anyone who can publish on the upstream broker can send one. What must
/// hold: any bytes are either read (a rebirth request or not) or refused with an error, and a
/// rebirth request leaves the session able to birth again, with seq 0 on its NBIRTH.
func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let rebirth = try? SparkplugEdgeNode.isRebirthCommand(bytes) else { return 0 }
    var node = SparkplugEdgeNode(group: "g", node: "n")
    _ = node.willForNextConnect(nowMs: 0)
    _ = node.birth(nowMs: 0)
    if rebirth { node.requestRebirth() }
    precondition(node.needsBirth == rebirth)
    if rebirth { precondition(!node.birth(nowMs: 1).isEmpty) }
    return 0
}

@main
struct Entry {
    static func main() { runFuzzer { fuzzOne($0!, $1) } }
}
