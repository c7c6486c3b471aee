import ArgumentParser
import DewpointConfig
import DewpointCore
import DewpointDecode
import DewpointPipeline

struct Try: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode one sample payload with a binding and print the samples it yields.",
        discussion: "For people writing bindings: on failure it says precisely where decoding failed.")

    @Argument(help: ArgumentHelp("A device binding file.", valueName: "binding"))
    var binding: String

    @Argument(help: ArgumentHelp("A file holding one payload (use - for stdin).", valueName: "payload-file"))
    var payloadFile: String

    @Option(name: .long, help: ArgumentHelp("The MQTT topic, for bindings that take levels from it.", valueName: "topic"))
    var topic: String?

    func run() throws {
        let spec: BindingSpec
        do { spec = try ConfigLoader.loadBinding(file: binding).0 } catch {
            for d in error.diagnostics { printError("\(d)") }
            throw ExitCode(1)
        }
        var payload: [UInt8] = []
        do {
            let r = try LineReader(path: payloadFile)
            var first = true
            try r.forEachLine { line in
                if !first { payload.append(0x0A) }
                first = false
                payload.append(contentsOf: line)
            }
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let decoder: FrameDecoder
        do { decoder = try FrameDecoder(binding: spec) } catch {
            printError("error: \(binding): \(error)")
            throw ExitCode(1)
        }
        var only: Int? = nil
        if case .mqtt(let m) = spec.transport, let ci = m.topic.levelIndex(named: "channel") {
            guard let topic else {
                printError("error: this binding takes its channel from the topic; pass --topic")
                throw ExitCode(1)
            }
            let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
            guard ci < levels.count, let idx = spec.channels.firstIndex(where: { $0.name == levels[ci] }) else {
                printError("error: topic \(topic) names no channel of \(spec.name)")
                throw ExitCode(1)
            }
            only = idx
        }
        let cc = spec.channels.count
        var values = [Float](repeating: .nan, count: cc * decoder.maxRows)
        do {
            var result: Result<(tsNs: Int64, rows: Int), DecodeError> = .success((0, 0))
            payload.withUnsafeBytes { p in
                values.withUnsafeMutableBufferPointer { v in
                    result = Result { () throws(DecodeError) in try decoder.decodeRows(p, arrivalNs: 0, onlyChannel: only, into: v) }
                }
            }
            let (ts, rows) = try result.get()
            for r in 0..<rows {
                let t = decoder.rowTimes[r]
                let when = ts == 0 && !decoder.hasPayloadTime ? "(arrival time)" + (r > 0 ? " + \(Double(t - ts) / 1e6) ms" : "") : TimeParser.formatRFC3339(ns: t)
                print(rows > 1 ? "row \(r), time: \(when)" : "time: \(when)")
                for (i, c) in spec.channels.enumerated() {
                    let v = values[r * cc + i]
                    if rows > 1 && v.isNaN { continue }
                    var line = "  \(c.name): " + (v.isNaN ? "(missing)" : "\(v)\(c.unit.isEmpty ? "" : " " + c.unit)")
                    if !v.isNaN, let lo = c.validMin, let hi = c.validMax, Double(v) < lo || Double(v) > hi {
                        line += "  (outside the valid range [\(lo), \(hi)]: would be dropped)"
                    }
                    print(line)
                }
            }
        } catch {
            if error.ignorable {
                print("ignored: \(error.message) (counted as ignored_frames, not as an error)")
                return
            }
            printError("error: \(payloadFile): \(error)")
            if let off = error.offset { printError(Try.context(payload, off)) }
            throw ExitCode(1)
        }
    }

    /// Shows the bytes around `offset` with a caret under it.
    static func context(_ p: [UInt8], _ offset: Int) -> String {
        let lo = max(0, offset - 30), hi = min(p.count, offset + 30)
        let shown = p[lo..<hi].map { $0 >= 0x20 && $0 < 0x7F ? Character(Unicode.Scalar($0)) : "." }
        return "  " + String(shown) + "\n  " + String(repeating: " ", count: offset - lo) + "^ byte \(offset)"
    }
}
