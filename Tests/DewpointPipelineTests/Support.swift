import Foundation
@testable import DewpointCore

typealias SplitMix = SplitMix64

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
