import ArgumentParser
import DewpointConfig
import DewpointCore
import DewpointPipeline
import DewpointSpool
#if canImport(Glibc)
import Glibc
#endif

struct Spool: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the spool: records waiting to go upstream, and dead letters.",
        discussion: """
        Without options, prints the records waiting, their bytes, the records dropped to stay within \
        spool.max_bytes, and the dead letters: records the upstream broker can never take (a topic \
        or payload its limits refuse), set aside so that they do not hold back the others. \
        --dead-letters lists them; --export writes them as JSON lines ({"seq","topic","reason", \
        "ts_ms","payload" or "payload_b64"}), and --clear deletes them after a successful export. \
        Safe while the agent runs.
        """)

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "List the dead letters.")
    var deadLetters = false

    @Option(name: .long, help: ArgumentHelp("Write the dead letters to this file as JSON lines (- for stdout).", valueName: "file"))
    var export: String?

    @Flag(name: .long, help: "With --export: delete the dead letters once written.")
    var clear = false

    func validate() throws {
        if clear && export == nil { throw ValidationError("--clear goes with --export") }
    }

    func run() throws {
        let cfg: LoadedConfig
        do { cfg = try ConfigLoader.load(agentFile: options.config) } catch {
            for d in error.diagnostics { printError("\(d)") }
            throw ExitCode(1)
        }
        let path = cfg.agent.spool.dir + "/spool.db"
        guard access(path, F_OK) == 0 else {
            printError("error: \(path): no spool yet (the agent creates it on its first run)")
            throw ExitCode(1)
        }
        let spool: SpoolQueue
        let letters: [SpoolQueue.DeadLetter]
        do {
            spool = try SpoolQueue(path: path, maxBytes: cfg.agent.spool.maxBytes)
            letters = try spool.deadLetters()
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        if let export {
            let fd = export == "-" ? 1 : open(export, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { printError("error: cannot create \(export): \(String(cString: strerror(errno)))"); throw ExitCode(1) }
            let w = FDWriter(fd: fd)
            for l in letters { Spool.jsonLine(l).withUnsafeBytes { w.write($0) } }
            w.flush()
            // --clear deletes them: only after every byte is written, and on disk
            let written = !w.failed && (fd == 1 || fsync(fd) == 0)
            if fd != 1 { close(fd) }
            guard written else { printError("error: cannot write \(export); the dead letters stay in the spool"); throw ExitCode(1) }
            if export != "-" { printError("spool: \(letters.count) dead letters written to \(export)") }
            if clear {
                do { try spool.clearDeadLetters() } catch { printError("error: \(error)"); throw ExitCode(1) }
                printError("spool: dead letters cleared")
            }
            return
        }
        let st = spool.stats
        print("spool \(path): \(st.count) records waiting (\(st.bytes) bytes of \(cfg.agent.spool.maxBytes)), \(st.dropped) dropped so far, \(letters.count) dead letters")
        if deadLetters {
            for l in letters {
                print("  seq \(l.seq) at \(l.tsMs) ms: \(l.payload.count) bytes to \(logExcerpt(l.topic, limit: 80)): \(logExcerpt(l.reason, limit: 160))")
            }
        }
    }

    /// One dead letter as a JSON line; the payload as text when it is UTF-8, else base64.
    static func jsonLine(_ l: SpoolQueue.DeadLetter) -> [UInt8] {
        var o: [UInt8] = Array("{\"seq\":".utf8)
        JSONText.integer(l.seq, into: &o)
        o += Array(",\"topic\":".utf8); JSONText.string(l.topic, into: &o)
        o += Array(",\"reason\":".utf8); JSONText.string(l.reason, into: &o)
        o += Array(",\"ts_ms\":".utf8); JSONText.integer(l.tsMs, into: &o)
        if let text = String(validating: l.payload, as: UTF8.self) {
            o += Array(",\"payload\":".utf8); JSONText.string(text, into: &o)
        } else {
            o += Array(",\"payload_b64\":\"\(Base64.encode(l.payload))\"".utf8)
        }
        o += Array("}\n".utf8)
        return o
    }
}
