import Foundation
@testable import DewpointCore

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

func tempFile(_ name: String) -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dewpoint-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name)
}

/// Parses JSON lines with Foundation (independent of the project's own JSON code).
func parseLines(_ lines: [String]) -> [[String: Any]] {
    lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
}

func envBinding(topic: String = "sensors/+device/env", window: WindowSpec = WindowSpec(lengthMs: 10_000, latenessMs: 2_000),
                detectors: [DetectorSpec] = []) -> BindingSpec {
    BindingSpec(name: "env", file: "env.yaml", transport: .mqtt(.init(topic: try! TopicFilter(topic))), decoder: .json,
                timestamp: .init(source: .jsonPointer("/ts"), format: .epochMs),
                channels: [.init(name: "temp", unit: "degC", locator: .jsonPointer("/temp"), validMin: -40, validMax: 125, detectors: detectors),
                           .init(name: "rh", unit: "%RH", locator: .jsonPointer("/rh")),
                           .init(name: "p", unit: "hPa", locator: .jsonPointer("/p")),
                           .init(name: "v", unit: "V", locator: .jsonPointer("/batt/v"))],
                window: window)
}
