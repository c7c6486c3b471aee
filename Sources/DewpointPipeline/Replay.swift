import DewpointCore
import DewpointDecode
import Logging

/// Feeds recordings into a pipeline in file order (see `docs/recordings.md`).
///
/// - MQTT recordings: JSONL, one message per line:
///   `{"ts_ms":…,"topic":"…","payload":"<utf-8 text>"}` or `"payload_b64":"…"`.
/// - Time series: CSV with a header `timestamp,value[,value…]`; the timestamp is ISO-8601 or
///   epoch ms. Columns map to the device's channels by name; a single `value` column maps to the
///   device's first channel.
///
/// Malformed lines are counted and logged with `file:line`, never fatal.
public final class ReplayReader {
    public private(set) var badLines = 0
    /// Skipped lines, as warnings (the first ten, then every thousandth).
    public let logger: Logger

    private let envelope = JSONScanner(pointers: [
        try! JSONPointer("/ts_ms"), try! JSONPointer("/topic"), try! JSONPointer("/payload"), try! JSONPointer("/payload_b64"),
    ])
    /// Unescaped topic and payload of the current line. A line is at most `LineReader`'s buffer,
    /// and unescaping never lengthens, so these never overflow. Pages are touched only as used.
    private let topicBuf = UnsafeMutablePointer<UInt8>.allocate(capacity: LineReader.defaultBufferSize)
    private let payloadBuf = UnsafeMutablePointer<UInt8>.allocate(capacity: LineReader.defaultBufferSize)
    private var b64: [UInt8] = []

    public init(logger: Logger = Logger(label: "dewpoint.replay")) { self.logger = logger }

    deinit {
        topicBuf.deallocate()
        payloadBuf.deallocate()
    }

    private func bad(_ file: String, _ line: Int, _ why: String) {
        badLines += 1
        if badLines <= 10 || badLines % 1000 == 0 { logger.warning("\(file):\(line): skipped: \(why)") }
    }

    public func replayMQTT(path: String, into pipeline: Pipeline) throws {
        let reader = try LineReader(path: path)
        let envelope = self.envelope
        let topicBuf = self.topicBuf, payloadBuf = self.payloadBuf
        try reader.forEachLine { line in
            var line = line
            if let last = line.last, last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
            if line.isEmpty { return }
            do { try envelope.scan(line) } catch {
                bad(path, reader.lineNumber, "\(error)"); return
            }
            let v = (envelope.value(0), envelope.value(1), envelope.value(2), envelope.value(3))
            guard v.0.kind == .number, let tsMs = NumberParser.parseInt(UnsafeRawBufferPointer(rebasing: line[v.0.start..<v.0.end])) else {
                bad(path, reader.lineNumber, "ts_ms must be an integer"); return
            }
            guard v.1.kind == .string else { bad(path, reader.lineNumber, "topic must be a string"); return }
            let topicRaw = UnsafeRawBufferPointer(rebasing: line[v.1.start..<v.1.end])
            let topic: UnsafeRawBufferPointer
            if v.1.escaped {
                topic = UnsafeRawBufferPointer(start: topicBuf, count: JSONString.unescape(topicRaw, to: topicBuf))
            } else {
                topic = topicRaw
            }
            let payload: UnsafeRawBufferPointer
            if v.2.kind == .string {
                let raw = UnsafeRawBufferPointer(rebasing: line[v.2.start..<v.2.end])
                payload = v.2.escaped ? UnsafeRawBufferPointer(start: payloadBuf, count: JSONString.unescape(raw, to: payloadBuf)) : raw
            } else if v.3.kind == .string {
                b64.removeAll(keepingCapacity: true)
                guard Base64.decode(UnsafeRawBufferPointer(rebasing: line[v.3.start..<v.3.end]), into: &b64) else {
                    bad(path, reader.lineNumber, "payload_b64 is not valid base64"); return
                }
                b64.withUnsafeBufferPointer { payloadBuf.update(from: $0.baseAddress!, count: $0.count) }
                payload = UnsafeRawBufferPointer(start: payloadBuf, count: b64.count)
            } else {
                bad(path, reader.lineNumber, "a string 'payload' or 'payload_b64' is required"); return
            }
            let (ns, overflow) = tsMs.multipliedReportingOverflow(by: 1_000_000)
            guard !overflow else { bad(path, reader.lineNumber, "ts_ms out of range"); return }
            pipeline.ingestMQTT(topic: topic, payload: payload, arrivalNs: ns)
        }
        if reader.overlongLines > 0 {
            badLines += reader.overlongLines
            logger.warning("\(path): skipped \(reader.overlongLines) lines longer than 1 MiB")
        }
    }

    /// Replays a CSV time series into the binding at `binding` (a device of its own).
    public func replayCSV(path: String, binding: Int, into pipeline: Pipeline) throws {
        let spec = pipeline.bindings[binding]
        let reader = try LineReader(path: path)
        var splitter = CSVSplitter()
        var columnToChannel: [Int] = []  // -1: ignored
        var tsColumn = 0
        var header = true
        var row = [Float](repeating: .nan, count: spec.channels.count)
        try reader.forEachLine { line in
            if line.isEmpty || (line.count == 1 && line[0] == 0x0D) { return }
            do { try splitter.split(line) } catch {
                bad(path, reader.lineNumber, "\(error)"); return
            }
            if header {
                header = false
                let names = splitter.fields.map { String(decoding: UnsafeRawBufferPointer(rebasing: line[$0]), as: UTF8.self) }
                tsColumn = names.firstIndex { ["timestamp", "time", "ts", "ts_ms"].contains($0.lowercased()) } ?? 0
                let valueColumns = names.indices.filter { $0 != tsColumn }
                for (k, name) in names.enumerated() {
                    if k == tsColumn { columnToChannel.append(-1); continue }
                    if let ci = spec.channels.firstIndex(where: { $0.name == name }) {
                        columnToChannel.append(ci)
                    } else if valueColumns.count == 1 || (name == "value" && k == valueColumns.first) {
                        columnToChannel.append(0)
                    } else {
                        columnToChannel.append(-1)
                        logger.warning("\(path):1: column '\(name)' names no channel of device \(spec.name); ignored")
                    }
                }
                return
            }
            guard tsColumn < splitter.fields.count else { bad(path, reader.lineNumber, "no timestamp column"); return }
            let tsBytes = UnsafeRawBufferPointer(rebasing: line[splitter.fields[tsColumn]])
            guard let tsNs = TimeParser.parseISO8601OrEpochMs(tsBytes) else {
                bad(path, reader.lineNumber, "timestamp '\(String(decoding: tsBytes.prefix(40), as: UTF8.self))' is neither ISO-8601 nor epoch ms")
                return
            }
            for i in 0..<row.count { row[i] = .nan }
            for (k, r) in splitter.fields.enumerated() where k < columnToChannel.count && columnToChannel[k] >= 0 {
                if r.isEmpty { continue }
                guard let d = NumberParser.parseDouble(UnsafeRawBufferPointer(rebasing: line[r])) else {
                    bad(path, reader.lineNumber, "column \(k + 1) is not a number"); return
                }
                let ch = spec.channels[columnToChannel[k]]
                row[columnToChannel[k]] = Float(d * ch.scale + ch.offset)
            }
            row.withUnsafeBufferPointer { pipeline.ingestRow(binding: binding, tsNs: tsNs, row: $0) }
        }
        if reader.overlongLines > 0 {
            badLines += reader.overlongLines
            logger.warning("\(path): skipped \(reader.overlongLines) lines longer than 1 MiB")
        }
    }
}

/// RFC 4648 base64 decoding (standard alphabet, padding optional).
public enum Base64 {
    private static let table: [Int8] = {
        var t = [Int8](repeating: -1, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() { t[Int(c)] = Int8(i) }
        return t
    }()

    public static func decode(_ s: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        var acc: UInt32 = 0
        var bits = 0
        var n = s.count
        while n > 0 && s[n - 1] == UInt8(ascii: "=") { n -= 1 }
        if s.count - n > 2 { return false }
        for i in 0..<n {
            let v = table[Int(s[i])]
            if v < 0 { return false }
            acc = (acc << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> UInt32(bits)) & 0xFF))
            }
        }
        return bits < 6
    }

    /// Standard base64 with padding (exports of binary payloads).
    public static func encode(_ b: [UInt8]) -> String {
        let abc = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((b.count + 2) / 3 * 4)
        var i = 0
        while i < b.count {
            let n = min(3, b.count - i)
            let v = UInt32(b[i]) << 16 | (n > 1 ? UInt32(b[i + 1]) << 8 : 0) | (n > 2 ? UInt32(b[i + 2]) : 0)
            for k in 0..<4 { out.append(k <= n ? abc[Int((v >> UInt32(18 - 6 * k)) & 63)] : UInt8(ascii: "=")) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
