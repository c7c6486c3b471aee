import FuzzDriver
import DewpointCore

/// MQTT topic filters: the input as a topic matched against fixed filters, and the input parsed
/// as a filter (with `+name` levels). What must hold: captured level ranges lie inside the topic;
/// a filter overlaps itself, and overlapping is symmetric; the broker's form of a filter
/// (`mqttFilter`) parses again with as many levels; a filter without wildcards matches its own
/// text; and a filter that matches a topic overlaps that topic read as a filter.
let fixed = ["#", "+", "+/+/#", "a", "a/b", "a/#", "a/+/c", "a//b", "/", "sensors/+device/+channel", "$SYS/#", "$SYS/+/x"]
    .map { try! TopicFilter($0) }

func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let topic = UnsafeRawBufferPointer(start: data, count: size)
    var matched: [Bool] = []
    for f in fixed {
        var captures: [Range<Int>]? = Array(repeating: 0..<0, count: f.levels.count)
        let m = f.matches(topic, captures: &captures)
        precondition(m == f.matches(topic))
        if m {
            for r in captures! { precondition(r.lowerBound >= 0 && r.upperBound <= size) }
        }
        matched.append(m)
    }

    guard let filter = try? TopicFilter(String(decoding: topic, as: UTF8.self)) else { return 0 }
    precondition(filter.overlaps(filter))
    for f in fixed { precondition(filter.overlaps(f) == f.overlaps(filter), "\(filter) and \(f)") }
    let broker = try? TopicFilter(filter.mqttFilter)
    precondition(broker?.levels.count == filter.levels.count, "\(filter) as \(filter.mqttFilter)")

    let literal = filter.levels.allSatisfy { level in
        if case .literal = level { return true }
        return false
    }
    if literal {
        var text = filter.source
        let matchesItself = text.withUTF8 { filter.matches(UnsafeRawBufferPointer($0)) }
        precondition(matchesItself, "\(filter)")
        // the topic's bytes are the filter's when they are valid UTF-8
        if String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) != nil {
            for (f, m) in zip(fixed, matched) where m { precondition(f.overlaps(filter), "\(f) matches \(filter)") }
        }
    }
    return 0
}

@main
struct Entry {
    static func main() { runFuzzer { fuzzOne($0!, $1) } }
}
