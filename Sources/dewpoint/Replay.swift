import ArgumentParser
import DewpointCapture
import DewpointConfig
import DewpointCore
import DewpointPipeline

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the pipeline over recordings in event time and write records as JSON lines.",
        discussion: """
        Inputs are MQTT recordings (.jsonl: one {"ts_ms","topic","payload"} object per line) or \
        CSV time series (.csv: timestamp,value[,value...], fed to the device given by --device, or \
        to the device named like the file). The output is deterministic: the same input always \
        gives byte-identical output. Counters go to stderr at the end.
        """)

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp("Only emit records of this device (repeatable).", valueName: "name"))
    var device: [String] = []

    @Option(name: .long, help: ArgumentHelp("A recording to replay (repeatable, in order).", valueName: "file"))
    var input: [String] = []

    @Flag(name: .long, help: "Do not print counters to stderr.")
    var quiet = false

    func validate() throws {
        if input.isEmpty { throw ValidationError("give at least one --input file") }
    }

    func run() throws {
        let cfg: LoadedConfig
        do { cfg = try ConfigLoader.load(agentFile: options.config) } catch {
            for d in error.diagnostics { printError("\(d)") }
            throw ExitCode(1)
        }
        var bindings = cfg.bindings
        for name in device where !bindings.contains(where: { $0.name == name }) {
            printError("error: --device \(name): no such device; devices are \(bindings.map(\.name).joined(separator: ", "))")
            throw ExitCode(1)
        }
        if !device.isEmpty {
            for i in bindings.indices where !device.contains(bindings[i].name) {
                bindings[i].output = OutputSpec(summaries: false, alerts: false)
            }
        }
        let sink = JSONLSink(fd: 1)
        let pipeline = try Pipeline(agentId: cfg.agent.agentId, bindings: bindings, sink: sink, seq: CountingSeq())
        pipeline.log = { if !quiet { printError("replay: \($0)") } }
        let reader = ReplayReader()
        reader.log = { if !quiet { printError("replay: \($0)") } }
        for path in input {
            do {
                if path.hasSuffix(".csv") {
                    let stem = String(path.split(separator: "/").last!.dropLast(4))
                    let target = device.first ?? stem
                    guard let bi = bindings.firstIndex(where: { $0.name == target }) else {
                        printError("error: \(path): a CSV time series needs --device NAME (no device is named '\(stem)')")
                        throw ExitCode(1)
                    }
                    try reader.replayCSV(path: path, binding: bi, into: pipeline)
                } else if path.hasSuffix(".jsonl") || path.hasSuffix(".json") || path == "-" {
                    try reader.replayMQTT(path: path, into: pipeline)
                } else if path.hasSuffix(".pcap") || path.hasSuffix(".pcapng") {
                    let list = bindings.enumerated().compactMap { (i, b) -> (Int, CaptureSpec)? in
                        if case .capture(let c) = b.transport { return (i, c) } else { return nil }
                    }
                    guard !list.isEmpty else {
                        printError("error: \(path): no capture binding to replay it through")
                        throw ExitCode(1)
                    }
                    let summary = try reader.replayCapture(path: path, bindings: list, into: pipeline)
                    if !quiet { printError("replay: \(path): \(summary)") }
                } else if path.hasSuffix(".dpsr") {
                    guard let name = device.first, let bi = bindings.firstIndex(where: { $0.name == name }) else {
                        printError("error: \(path): a serial recording needs --device NAME (the binding whose framer and decoder apply)")
                        throw ExitCode(1)
                    }
                    let c = try reader.replaySerial(path: path, binding: bi, into: pipeline)
                    if !quiet { printError("replay: \(path): frames=\(c.frames) corrupt=\(c.corrupt) oversize=\(c.oversize) garbage_bytes=\(c.garbageBytes)") }
                } else {
                    printError("error: \(path): unknown recording type; expected .jsonl (MQTT), .csv (time series), .dpsr (serial) or .pcap/.pcapng (capture)")
                    throw ExitCode(1)
                }
            } catch let e as IOError {
                printError("error: \(e)")
                throw ExitCode(1)
            } catch let e as CaptureError {
                printError("error: \(e)")
                throw ExitCode(1)
            } catch let e as SerialRecording.FormatError {
                printError("error: \(e)")
                throw ExitCode(1)
            }
        }
        pipeline.finish()
        if !quiet {
            printError("replay: \(pipeline.counters.summaryLine) bad_lines=\(reader.badLines)")
        }
    }
}
