#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import DewpointPipeline

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate readings for the example devices, with injected spikes, drift, a stuck sensor and a dropout.",
        discussion: "With --record FILE it writes an MQTT recording (JSONL) for `dewpoint replay`, as fast as it can.")

    @Option(name: .long, help: ArgumentHelp("Write an MQTT recording to this file (- for stdout).", valueName: "file"))
    var record: String

    @Option(name: .long, help: "Simulated seconds to generate.")
    var seconds: Int = 3600

    @Option(name: .long, help: "Messages per second per device.")
    var rate: Double = 1

    @Option(name: .long, help: "Start time, ms since the epoch.")
    var startMs: Int64 = 1_764_000_000_000

    @Option(name: .long, help: "Random seed (the same seed gives the same recording).")
    var seed: UInt64 = 1

    @Option(name: .long, help: ArgumentHelp("Only this example device (boiler-room or chiller-1).", valueName: "name"))
    var device: String?

    func run() throws {
        var sim = SensorSimulator(startMs: startMs, rateHz: rate, seed: seed)
        let fd: Int32 = record == "-" ? 1 : open(record, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot create \(record)") }
        let w = FDWriter(fd: fd)
        var line: [UInt8] = []
        for _ in 0..<Int(Double(seconds) * rate) {
            for m in sim.next() where device == nil || m.topic.contains("/\(device!)/") {
                line.removeAll(keepingCapacity: true)
                SensorSimulator.recordingLine(m, into: &line)
                line.withUnsafeBytes { w.write($0) }
            }
        }
        w.flush()
        if fd != 1 { close(fd) }
    }
}
