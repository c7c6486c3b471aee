import DewpointCore
import DewpointPipeline
import Logging
import Synchronization

/// stderr, unbuffered enough for diagnostics: the writer lives in the lock that guards it.
let stderrWriter = Mutex(FDWriter(fd: 2, bufferSize: 4096))

/// A logger for the one-shot commands (replay, record, simulate): each line is `<prefix>: message`
/// on stderr, or nothing when `quiet`.
func commandLogger(_ prefix: String, quiet: Bool = false) -> Logger {
    Logger(label: prefix) { label in PrefixLogHandler(prefix: label, quiet: quiet) }
}

struct PrefixLogHandler: LogHandler {
    let prefix: String
    let quiet: Bool
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        if quiet { return }
        printError("\(prefix): \(event.message)")
    }
}
