import ArgumentParser
import DewpointAgent
import DewpointConfig
import DewpointCore
import Logging
#if canImport(Glibc)
import Glibc
#endif

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the agent: read the configured sources, forward summaries and alerts upstream.",
        discussion: """
        Records are written to the spool (spool.dir) before they are sent, and deleted only when the \
        upstream broker acknowledges them, with the pipeline's state checkpointed alongside. SIGTERM or \
        SIGINT stops the sources, checkpoints open windows (spool.on_stop), drains the spool while the \
        broker is reachable (up to --drain-timeout), and exits. SIGHUP reloads the configuration in-process \
        if it is valid, carrying open windows and detector state over. Logs go to stderr with syslog \
        priority prefixes, which journald understands.
        """)

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Seconds to keep sending the spool after a stop request.")
    var drainTimeout: Double = 10

    @Option(name: .long, help: ArgumentHelp("Log level, overriding the agent file's log_level: trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String?

    func validate() throws {
        if let l = logLevel, Logger.Level(rawValue: l) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; found '\(l)'")
        }
    }

    func run() throws {
        try Run.runAgent(config: options.config, drainTimeout: drainTimeout, logLevel: logLevel)
    }

    /// The agent itself, for `run()` and for `Dewpoint.main`'s direct path (`RunArguments`).
    static func runAgent(config agentFile: String, drainTimeout: Double, logLevel: String?) throws {
        // what loading the libraries and parsing the arguments touched (`StartupPages`)
        StartupPages.release()
        let cfg: LoadedConfig
        do { cfg = try ConfigLoader.load(agentFile: agentFile) } catch {
            for d in error.diagnostics { printError("\(d)") }
            throw ExitCode(1)
        }
        // and what loading the configuration did
        StartupPages.release()
        let level = logLevel.flatMap(Logger.Level.init(rawValue:)) ?? cfg.agent.logLevel
        LoggingSystem.bootstrap { JournalLogHandler(label: $0, level: level) }
        let logger = Logger(label: "dewpoint")
        for w in cfg.warnings { logger.warning("\(w)") }
        let agent = Agent(config: cfg, logger: logger, drainTimeoutNs: UInt64(max(0, drainTimeout) * 1e9))
        SignalWatcher.install { [agent] sig in
            guard sig == SIGHUP else {
                logger.notice("signal \(sig): stopping")
                agent.requestStop()
                return
            }
            // SIGHUP (what most tools send after an edit, and `systemctl reload`): a valid new
            // configuration is applied in-process, carrying the pipeline's state over; an
            // invalid one is refused and the agent keeps running as it was
            do throws(ConfigErrors) {
                let next = try ConfigLoader.load(agentFile: agentFile)
                for w in next.warnings { logger.warning("SIGHUP: \(w)") }
                if next.agent.logLevel != cfg.agent.logLevel && logLevel == nil {
                    logger.warning("SIGHUP: log_level changes only with a restart")
                }
                logger.notice("SIGHUP: the configuration is valid; reloading")
                agent.requestReload(next)
            } catch {
                for d in error.diagnostics { logger.error("SIGHUP: \(d)") }
                logger.error("SIGHUP: the configuration has \(error.diagnostics.count) problem\(error.diagnostics.count == 1 ? "" : "s"); the agent keeps running as it was")
            }
        }
        do { try agent.run() } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }
}

/// Writes one line per event to stderr with a `<N>` syslog priority prefix; under systemd,
/// journald turns the prefix into the entry's priority. Metadata follows as key=value.
struct JournalLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let priority: Int
        switch event.level {
        case .trace, .debug: priority = 7
        case .info: priority = 6
        case .notice: priority = 5
        case .warning: priority = 4
        case .error: priority = 3
        case .critical: priority = 2
        }
        // one event is one journal line: a line break inside a message (from a library, an
        // error text) must not start a line that journald would read with its own priority
        var line = "<\(priority)>\(event.level): \(Self.oneLine("\(event.message)"))"
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        for (k, v) in all.sorted(by: { $0.key < $1.key }) { line += " \(k)=\(Self.oneLine("\(v)"))" }
        printError(line)
    }
}

extension JournalLogHandler {
    /// `s` with its control characters escaped (`\n`, `\r`, `\x1b`), so that it stays one line.
    static func oneLine(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return s }
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F { out += "\\x" + (u.value < 16 ? "0" : "") + String(u.value, radix: 16) } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }
}
