#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Synchronization
import DewpointAgent
import DewpointCore
import DewpointMQTT
import DewpointPipeline

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate readings for the example devices, with injected spikes, drift, a stuck sensor, a dropout and a pump fault only the relations between its channels show.",
        discussion: "With --record FILE it writes an MQTT recording (JSONL) for `dewpoint replay`, as fast as it can.")

    @Option(name: .long, help: ArgumentHelp("Write an MQTT recording to this file (- for stdout).", valueName: "file"))
    var record: String?

    @Option(name: .long, help: ArgumentHelp("Publish live to this broker, in real time.", valueName: "host:port"))
    var publish: String?

    @Option(name: .long, help: "Simulated seconds to generate.")
    var seconds: Int = 3600

    @Option(name: .long, help: "Messages per second per device.")
    var rate: Double = 1

    @Option(name: .long, help: "Start time, ms since the epoch.")
    var startMs: Int64 = 1_764_000_000_000

    @Option(name: .long, help: "Random seed (the same seed gives the same recording).")
    var seed: UInt64 = 1

    @Option(name: .long, help: ArgumentHelp("Only this example device (boiler-room, chiller-1 or pump-skid-1).", valueName: "name"))
    var device: String?

    @Option(name: .long, help: "Run the fault schedule this many times faster than real time (spike at minute 10, drift from 5, stuck at 20, pump strainer clogged from 24 to 34, dropout at 30).")
    var faultSpeed: Double = 1

    func validate() throws {
        if (record == nil) == (publish == nil) { throw ValidationError("give exactly one of --record FILE or --publish HOST:PORT") }
    }

    func run() throws {
        if let publish { return try live(publish) }
        let record = record!
        var sim = SensorSimulator(startMs: startMs, rateHz: rate, seed: seed, faultSpeed: faultSpeed)
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

extension Simulate {
    /// Publishes the simulated readings in real time (QoS 1) until --seconds have passed or a
    /// signal stops it. Message times are the wall clock.
    func live(_ target: String) throws {
        let parts = target.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--publish expects host:port, found \(target)") }
        let client = try MQTTClient(.init(host: String(parts[0]), port: port, clientId: "dewpoint-simulator-\(getpid())"),
                                    logger: commandLogger("simulate"))
        let stopped = Atomic<Bool>(false)
        SignalWatcher.install { _ in stopped.store(true, ordering: .relaxed) }
        client.start()
        let start = Clock.wallNs() / 1_000_000
        var sim = SensorSimulator(startMs: start, rateHz: rate, seed: seed, faultSpeed: faultSpeed)
        let t0 = Clock.monotonicNs()
        var sent = 0
        for tick in 0..<Int(Double(seconds) * rate) {
            if stopped.load(ordering: .relaxed) { break }
            let due = t0 + UInt64(Double(tick) / rate * 1e9)
            let now = Clock.monotonicNs()
            if due > now { Clock.sleep(ns: due - now) }
            for m in sim.next() where device == nil || m.topic.contains("/\(device!)/") {
                guard client.isConnected else { continue }
                if (try? m.payload.withUnsafeBytes({ try client.publish(topic: m.topic, payload: $0, qos: 1, retain: false) })) != nil { sent += 1 }
            }
        }
        Clock.sleep(ns: 200_000_000)
        client.stop()
        printError("simulate: published \(sent) messages")
    }
}
