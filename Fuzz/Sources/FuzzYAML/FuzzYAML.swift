import FuzzDriver
import DewpointConfig

/// The binding loader on any bytes, by the path a binding file takes: the file checks and the
/// size limit, the UTF-8 check, the YAML composer (nesting limit, anchors and aliases, duplicate
/// keys) and every key of a binding. Any input must load, or be refused with at least one
/// diagnostic located in the file; a composed tree never nests deeper than the limit.
///
/// Each input is written to one scratch file, unlinked as soon as it is created and reached
/// through /proc/self/fd, so that nothing is left behind when the target stops or crashes.
let scratch: (fd: Int32, path: String) = {
    let dir = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array("\(dir)/dewpoint-fuzz-yaml-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    precondition(fd >= 0, "cannot create a scratch file in \(dir)")
    _ = template.withUnsafeBufferPointer { unlink($0.baseAddress!) }
    return (fd, "/proc/self/fd/\(fd)")
}()

/// The nesting depth of `node` (0 for a scalar), visiting at most `budget` nodes: aliases make a
/// tree whose walk can be far longer than its text.
func depth(_ node: Node, _ budget: inout Int) -> Int {
    budget -= 1
    if budget < 0 { return 0 }
    var deepest = 0
    switch node {
    case .scalar:
        return 0
    case .sequence(let s):
        for item in s.items { deepest = max(deepest, depth(item, &budget)) }
    case .mapping(let m):
        for (key, value) in m.pairs {
            deepest = max(deepest, depth(key, &budget))
            deepest = max(deepest, depth(value, &budget))
        }
    }
    return deepest + 1
}

func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    precondition(ftruncate(scratch.fd, 0) == 0 && pwrite(scratch.fd, data, size, 0) == size)
    do {
        _ = try ConfigLoader.loadBinding(file: scratch.path)
    } catch {
        precondition(!error.diagnostics.isEmpty, "refused without a diagnostic")
        for d in error.diagnostics {
            precondition(d.file == scratch.path && d.line >= 1 && d.column >= 1, "\(d)")
        }
    }
    if let text = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self),
       let root = try? YAMLDocument.compose(text) {
        var budget = 100_000
        precondition(depth(root, &budget) <= YAMLDocument.maxDepth)
    }
    return 0
}

@main
struct Entry {
    static func main() { runFuzzer { fuzzOne($0!, $1) } }
}
