import ArgumentParser
import DewpointAgent
import DewpointCore

@main
struct Dewpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dewpoint",
        abstract: "An edge agent that condenses sensor feeds into window summaries and alerts.",
        discussion: """
        Dewpoint reads sensor feeds (MQTT, serial, packet capture), decodes them through device \
        bindings (YAML files under devices/), condenses each channel into per-window summaries, \
        raises alerts, and forwards both upstream.
        """,
        version: DewpointVersion.string,
        subcommands: [Run.self, Status.self, Check.self, Replay.self, Spool.self, Try.self, Record.self, Score.self, Evaluate.self, Simulate.self, Bench.self, BenchLive.self, BenchDecode.self, BenchCapture.self, Version.self]
    )

    /// `dewpoint run` goes to the agent without ArgumentParser when its options are plainly
    /// valid (`RunArguments`); every other command line is ArgumentParser's.
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        if let run = RunArguments.parse(args) {
            // before any other work: the dynamic loader's reading of the libraries' symbol
            // tables (libcrypto's, libstdc++'s) is most of what a process holds at this point
            StartupPages.release()
            do {
                try Run.runAgent(config: run.config, drainTimeout: run.drainTimeout, logLevel: run.logLevel)
            } catch {
                Run.exit(withError: error)
            }
            return
        }
        main(args)
    }
}


struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("dewpoint \(DewpointVersion.string)") }
}

/// Options shared by commands that read the agent file.
struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("The agent file.", valueName: "file"))
    var config: String = "dewpoint.yaml"
}

/// Writes a line to stderr; safe from any thread (MQTT callbacks log too).
func printError(_ s: String) {
    var s = s
    if !s.hasSuffix("\n") { s += "\n" }
    stderrWriter.withLock { w in
        w.write(s)
        w.flush()
    }
}
