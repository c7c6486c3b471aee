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
            var out = ""
            for l in letters { out += Spool.jsonLine(l) + "\n" }
            if export == "-" { print(out, terminator: "") } else {
                let fd = open(export, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard fd >= 0 else { printError("error: cannot create \(export): \(String(cString: strerror(errno)))"); throw ExitCode(1) }
                let ok = Array(out.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) == $0.count }
                close(fd)
                guard ok else { printError("error: cannot write \(export)"); throw ExitCode(1) }
                printError("spool: \(letters.count) dead letters written to \(export)")
            }
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

    /// One dead letter as a JSON object; the payload as text when it is UTF-8, else base64.
    static func jsonLine(_ l: SpoolQueue.DeadLetter) -> String {
        var s = "{\"seq\":\(l.seq),\"topic\":\(quote(l.topic)),\"reason\":\(quote(l.reason)),\"ts_ms\":\(l.tsMs),"
        if let text = String(validating: l.payload, as: UTF8.self) {
            s += "\"payload\":\(quote(text))}"
        } else {
            s += "\"payload_b64\":\"\(Base64.encode(l.payload))\"}"
        }
        return s
    }

    static func quote(_ t: String) -> String {
        var o = "\""
        for u in t.unicodeScalars {
            switch u {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\r": o += "\\r"
            case "\t": o += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F || u.value == 0x2028 || u.value == 0x2029 {
                    let h = String(u.value, radix: 16)
                    o += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else { o.unicodeScalars.append(u) }
            }
        }
        return o + "\""
    }
}
