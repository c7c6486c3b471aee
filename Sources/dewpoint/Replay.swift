import ArgumentParser
import DewpointAgent
import DewpointCapture
import DewpointConfig
import DewpointCore
import DewpointPipeline

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the pipeline over recordings in event time and write records as JSON lines.",
        discussion: """
        Inputs are MQTT recordings (.jsonl: one {"ts_ms","topic","payload"} object per line), \
        CSV time series (.csv: timestamp,value[,value...], fed to the device given by --device, or \
        to the device named like the file), byte recordings (.dpsr: serial or TCP bytes, UDP \
        datagrams, for the device given by --device) or packet captures (.pcap, .pcapng). The output is deterministic: the same input always \
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
        let logger = commandLogger("replay", quiet: quiet)
        let pipeline = try Pipeline(agentId: cfg.agent.agentId, bindings: bindings, sink: sink, seq: CountingSeq(), logger: logger)
        let reader = ReplayReader(logger: logger)
        for path in input {
            guard let kind = SourceTable.recording(for: path) else {
                printError("error: \(path): unknown recording type; expected \(SourceTable.recordings.map(\.describe).joined(separator: ", "))")
                throw ExitCode(1)
            }
            do {
                let source = try kind.make(RecordingContext(path: path, bindings: bindings, devices: device, pipeline: pipeline, reader: reader))
                try source.start()
                if let summary = source.summary, !quiet { printError("replay: \(path): \(summary)") }
            } catch let e as RecordingError {
                printError("error: \(e)")
                throw ExitCode(1)
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
