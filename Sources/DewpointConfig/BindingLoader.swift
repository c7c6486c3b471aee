import DewpointCore
import DewpointDecode

/// Reads one device binding (`devices/*.yaml`). Every key is documented in `docs/configuration.md`.
enum BindingLoader {
    static let topKeys = ["device", "description", "transport", "mqtt", "serial", "capture", "udp", "tcp", "framing", "decoder",
                          "timestamp", "channels", "window", "output", "limits", "dedup", "detectors"]

    static func load(_ root: Node, reader r: YAMLReader, defaults: WindowSpec) -> BindingSpec? {
        guard let m = r.mapping(root, "", allowed: topKeys) else { return nil }
        let startErrors = r.diagnostics.count

        // device: the name used in records and topics.
        var name = ""
        if let n = r.required(m, "device", "", in: root), let s = r.string(n, "device") {
            if s.isEmpty || s.utf8.contains(where: { !($0 == 0x2D || $0 == 0x2E || $0 == 0x5F || ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A)) }) {
                r.error(n, "device", "expected a name of letters, digits, '-', '_' or '.', found '\(s)'")
            }
            name = s
        }

        if let d = m["description"] { _ = r.string(d.value, "description") }

        // transport: mqtt | serial | capture | file, with its own section.
        var transport = TransportSpec.file
        if let tn = r.required(m, "transport", "", in: root),
           let kind = r.choice(tn, "transport", TransportKind.self) {
            for other in TransportKind.allCases where other != kind && other != .file {
                if let extra = m[other.rawValue] {
                    r.error(extra.key, other.rawValue, "this section belongs to transport '\(other.rawValue)', but transport is '\(kind.rawValue)'")
                }
            }
            switch kind {
            case .mqtt:
                if let sec = r.required(m, "mqtt", "", in: root) { transport = mqtt(sec, r) ?? .file }
            case .serial:
                if let sec = r.required(m, "serial", "", in: root) { transport = serial(sec, r) ?? .file }
            case .capture:
                if let sec = r.required(m, "capture", "", in: root) { transport = capture(sec, r) ?? .file }
            case .udp:
                if let sec = r.required(m, "udp", "", in: root) { transport = listen(sec, "udp", r).map { .udp($0) } ?? .file }
            case .tcp:
                if let sec = r.required(m, "tcp", "", in: root) { transport = listen(sec, "tcp", r).map { .tcp($0) } ?? .file }
            case .file:
                transport = .file
            }
        }

        // framing: how bytes become frames (serial, TCP). MQTT messages and datagrams are frames.
        var framing = FramingSpec.none
        if let fn = m["framing"]?.value, let fm = r.mapping(fn, "framing", allowed: ["kind", "max_length", "start", "delimiter",
                                                                                   "length_bytes", "length_endian", "size", "checksum"]) {
            framing = framingSpec(fm, fn, r)
        } else if case .serial = transport {
            framing = .line(maxLength: 4096)
        } else if case .tcp = transport {
            // a stream has no message boundaries of its own: lines unless told otherwise
            framing = .line(maxLength: 4096)
        }

        // decoder: json | csv | value, or {kind: csv, separator: ";", quote: "'"}.
        var decoder = DecoderSpec.json
        if let dn = r.required(m, "decoder", "", in: root) {
            let kinds = DecoderDescriptors.all.map(\.kind)
            if case .mapping = dn, let dm = r.mapping(dn, "decoder", allowed: DecoderDescriptors.allKeyNames) {
                let kind = r.required(dm, "kind", "decoder", in: dn).flatMap { r.choice($0, "decoder.kind", among: kinds) } ?? "json"
                decoder = decoderSpec(kind, dm, dn, r)
            } else if let kind = r.choice(dn, "decoder", among: kinds) {
                decoder = decoderSpec(kind, [:], dn, r)
            }
        }

        // timestamp: where a sample's time comes from.
        var timestamp = TimestampSpec()
        if let tn = m["timestamp"]?.value, let tm = r.mapping(tn, "timestamp", allowed: ["pointer", "column", "format", "max_skew"]) {
            var format = TimestampSpec.Format.epochMs
            var pattern: String? = nil
            if let f = tm["format"], let text = r.string(f.value, "timestamp.format") {
                if text.contains("%") {
                    pattern = text
                    format = .rfc3339
                    var probe = Array(text.utf8)[...]
                    while let k = probe.firstIndex(of: UInt8(ascii: "%")) {
                        let next = probe.index(after: k)
                        if next == probe.endIndex || !Array("YymdHMSfz%".utf8).contains(probe[next]) {
                            r.error(f.value, "timestamp.format", "unknown directive in '\(text)'; supported: %Y %y %m %d %H %M %S %f %z %%")
                            break
                        }
                        probe = probe[probe.index(after: next)...]
                    }
                } else {
                    format = r.choice(f.value, "timestamp.format", TimestampSpec.Format.self) ?? .epochMs
                }
            }
            let maxSkew = tm["max_skew"].flatMap { r.durationMs($0.value, "timestamp.max_skew") }.map { $0 * 1_000_000 }
            if let p = tm["pointer"] {
                switch decoder {
                case .json, .jsonArray: break
                default: r.error(p.key, "timestamp.pointer", "a JSON pointer needs decoder json, but decoder is '\(decoder.kindName)'")
                }
                if let s = r.string(p.value, "timestamp.pointer") {
                    checkPointer(s, p.value, "timestamp.pointer", r)
                    timestamp = TimestampSpec(source: .jsonPointer(s), format: format, pattern: pattern, maxSkewNs: maxSkew)
                }
            } else if let c = tm["column"] {
                if case .csv = decoder {} else { r.error(c.key, "timestamp.column", "a column needs decoder csv, but decoder is '\(decoder.kindName)'") }
                if let col = ChannelLoader.column(c.value, "timestamp.column", decoder: decoder, r) {
                    timestamp = TimestampSpec(source: .csvColumn(col), format: format, pattern: pattern, maxSkewNs: maxSkew)
                }
            } else {
                timestamp = TimestampSpec(source: .arrival, format: format, pattern: pattern, maxSkewNs: maxSkew)
            }
        }

        // channels: a list, each with a name, a unit, and where its value is.
        var channels: [ChannelSpec] = []
        if let cn = r.required(m, "channels", "", in: root) {
            if case .sequence(let seq) = cn {
                if seq.isEmpty { r.error(cn, "channels", "expected at least one channel, found an empty list") }
                var seen: [String: Node] = [:]
                for (i, item) in seq.enumerated() {
                    guard let c = ChannelLoader.load(item, "channels[\(i)]", decoder: decoder, reader: r) else { continue }
                    if let prev = seen[c.name] {
                        r.error(item, "channels[\(i)].name", "duplicate channel '\(c.name)' (first defined at line \(prev.mark.line))")
                    }
                    seen[c.name] = item
                    channels.append(c)
                }
            } else {
                r.error(cn, "channels", "expected a list of channels, found \(YAMLReader.describe(cn))")
            }
        }

        let arrays = channels.compactMap { c -> BinaryField? in
            if case .binary(let f) = c.locator, f.count > 1 { return f } else { return nil }
        }
        if let a = arrays.first, arrays.contains(where: { $0.count != a.count || $0.sampleRateHz != a.sampleRateHz }) {
            r.error(m["channels"]?.value, "channels", "array channels of one binding must share count and sample_rate")
        }
        if case .mqtt(let mq) = transport, mq.topic.levelIndex(named: "channel") != nil, decoder != .value {
            r.error(m["mqtt"]?.value, "mqtt.topic", "a '+channel' topic level needs decoder value (one number per message)")
        }

        // window: tumbling event-time windows.
        var window = defaults
        if let wn = m["window"]?.value, let wm = r.mapping(wn, "window", allowed: ["length", "lateness", "percentiles", "time_weighted_mean"]) {
            if let l = wm["length"] {
                if let v = r.durationMs(l.value, "window.length") {
                    if v <= 0 { r.error(l.value, "window.length", "expected a duration above 0, found \(v)ms") } else { window.lengthMs = v }
                }
            }
            if let l = wm["lateness"], let v = r.durationMs(l.value, "window.lateness") { window.latenessMs = v }
            // percentiles: a list of 0–100, reported as p50, p90, … (exact up to 128 samples, then within 1%)
            if let pn = wm["percentiles"] {
                if case .sequence(let items) = pn.value {
                    for (i, item) in items.enumerated() {
                        guard let q = r.double(item, "window.percentiles[\(i)]") else { continue }
                        if q < 0 || q > 100 { r.error(item, "window.percentiles[\(i)]", "expected a percentile from 0 to 100, found \(q)") } else { window.percentiles.append(q) }
                    }
                } else {
                    r.error(pn.value, "window.percentiles", "expected a list such as [50, 90, 99], found \(YAMLReader.describe(pn.value))")
                }
            }
            // time_weighted_mean: adds twmean, each value weighted by how long it held
            if let t = wm["time_weighted_mean"] { window.timeWeightedMean = r.bool(t.value, "window.time_weighted_mean") ?? false }
        }

        var output = OutputSpec()
        if let on = m["output"]?.value, let om = r.mapping(on, "output", allowed: ["summaries", "alerts"]) {
            if let v = om["summaries"] { output.summaries = r.bool(v.value, "output.summaries") ?? true }
            if let v = om["alerts"] { output.alerts = r.bool(v.value, "output.alerts") ?? true }
        }

        // limits: what one sender can make this binding hold
        var limits = LimitsSpec()
        if let ln = m["limits"]?.value, let lm = r.mapping(ln, "limits", allowed: ["max_payload", "max_devices", "device_idle",
                                                                                  "max_open_windows", "max_name_length"]) {
            if let v = lm["max_payload"], let b = r.bytes(v.value, "limits.max_payload") {
                if b < 16 || b > 256 << 20 { r.error(v.value, "limits.max_payload", "expected a size from 16B to 256MiB, found \(b) bytes") } else { limits.maxPayload = Int(b) }
            }
            if let v = lm["max_devices"], let n = r.int(v.value, "limits.max_devices", in: 1...10_000_000) { limits.maxDevices = n }
            if let v = lm["device_idle"], let ms = r.durationMs(v.value, "limits.device_idle") {
                if ms < 0 { r.error(v.value, "limits.device_idle", "expected 0 (never) or a duration") } else { limits.deviceIdleMs = ms }
            }
            if let v = lm["max_open_windows"], let n = r.int(v.value, "limits.max_open_windows", in: 2...100_000) { limits.maxOpenWindows = n }
            if let v = lm["max_name_length"], let n = r.int(v.value, "limits.max_name_length", in: 1...200) { limits.maxNameLength = n }
        }

        // dedup: payload times already seen, per device
        var dedupMemory = 0
        if let dn = m["dedup"]?.value, let dm = r.mapping(dn, "dedup", allowed: ["by", "memory"]) {
            if let v = dm["by"], let s = r.string(v.value, "dedup.by"), s != "timestamp" {
                r.error(v.value, "dedup.by", "expected 'timestamp' (rows are told apart by their payload time), found '\(s)'")
            }
            dedupMemory = 1024
            if let v = dm["memory"], let n = r.int(v.value, "dedup.memory", in: 1...65_536) { dedupMemory = n }
            if timestamp.source == .arrival {
                r.error(dn, "dedup", "needs a payload time (timestamp.pointer or timestamp.column): arrival times never repeat")
            }
        }

        // detectors: over several channels of the device together
        var deviceDetectors: [DeviceDetectorSpec] = []
        if let dn = m["detectors"]?.value, !channels.isEmpty { deviceDetectors = DeviceDetectorLoader.load(dn, channels: channels, r) }

        guard r.diagnostics.count == startErrors else { return nil }
        var spec = BindingSpec(name: name, file: r.file, transport: transport, framing: framing, decoder: decoder,
                               timestamp: timestamp, channels: channels, window: window, output: output, limits: limits)
        spec.dedupMemory = dedupMemory
        spec.deviceDetectors = deviceDetectors
        return spec
    }

    enum TransportKind: String, CaseIterable { case mqtt, serial, capture, file, udp, tcp }
    enum FramingKind: String, CaseIterable { case none, line, delimiter, length, fixed, slip, cobs }

    static func framingSpec(_ fm: [String: (key: Node, value: Node)], _ node: Node, _ r: YAMLReader) -> FramingSpec {
        let kind = fm["kind"].flatMap { r.choice($0.value, "framing.kind", FramingKind.self) } ?? .line
        let maxLen = fm["max_length"].flatMap { r.int($0.value, "framing.max_length", in: 1...(1 << 20)) } ?? 4096
        let checksum = fm["checksum"].flatMap { r.choice($0.value, "framing.checksum", FrameChecksum.self) } ?? .none
        let owners: [String: [FramingKind]] = ["start": [.line], "delimiter": [.delimiter], "length_bytes": [.length],
                                               "length_endian": [.length], "size": [.fixed]]
        for (k, kinds) in owners where !kinds.contains(kind) {
            if let e = fm[k] { r.error(e.key, "framing.\(k)", "'\(k)' belongs to framing kind \(kinds.map(\.rawValue).joined(separator: "/")), not \(kind.rawValue)") }
        }
        func bytes(_ key: String) -> [UInt8]? {
            guard let e = fm[key], let s = r.string(e.value, "framing.\(key)") else { return nil }
            // escapes for control bytes: \r \n \t \0 and \xHH
            var out: [UInt8] = []
            var it = Array(s.utf8)[...]
            while let c = it.popFirst() {
                guard c == UInt8(ascii: "\\"), let e2 = it.popFirst() else { out.append(c); continue }
                switch e2 {
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "0"): out.append(0)
                case UInt8(ascii: "x"):
                    let h = it.prefix(2)
                    guard h.count == 2, let v = UInt8(String(decoding: h, as: UTF8.self), radix: 16) else {
                        r.error(e.value, "framing.\(key)", "expected \\xHH, found '\(s)'"); return nil
                    }
                    out.append(v); it = it.dropFirst(2)
                default: out.append(e2)
                }
            }
            if out.isEmpty { r.error(e.value, "framing.\(key)", "expected at least one byte") }
            return out
        }
        switch kind {
        case .none: return .none
        case .line:
            let start = bytes("start")
            if let s = start, s.count != 1 { r.error(fm["start"]?.value, "framing.start", "expected a single byte such as '$'") }
            return .line(maxLength: maxLen, start: start?.first, checksum: checksum)
        case .delimiter:
            guard let d = bytes("delimiter") else { r.error(node, "framing.delimiter", "missing required key"); return .none }
            return .delimiter(d, maxLength: maxLen, checksum: checksum)
        case .length:
            let size = fm["length_bytes"].flatMap { r.int($0.value, "framing.length_bytes", in: 1...4) } ?? 2
            if size == 3 { r.error(fm["length_bytes"]?.value, "framing.length_bytes", "expected 1, 2 or 4") }
            let endian = fm["length_endian"].flatMap { r.choice($0.value, "framing.length_endian", BinaryField.Endian.self) } ?? .big
            return .lengthPrefix(size: size, bigEndian: endian == .big, maxLength: maxLen, checksum: checksum)
        case .fixed:
            guard let sn = fm["size"], let size = r.int(sn.value, "framing.size", in: 1...65536) else {
                r.error(node, "framing.size", "missing required key"); return .none
            }
            return .fixed(size: size, checksum: checksum)
        case .slip: return .slip(maxLength: maxLen, checksum: checksum)
        case .cobs: return .cobs(maxLength: maxLen, checksum: checksum)
        }
    }

    /// The decoder of kind `kind` from its section `dm` (empty for the short form), after
    /// refusing the options of other decoders.
    static func decoderSpec(_ kind: String, _ dm: [String: (key: Node, value: Node)], _ node: Node, _ r: YAMLReader) -> DecoderSpec {
        guard let d = DecoderDescriptors.named(kind) else { return .json }
        r.refuse(node, "decoder", known: DecoderDescriptors.allKeyNames, own: ["kind"] + d.keys.map(\.name)) { k in
            let owners = DecoderDescriptors.all.filter { $0.keys.contains { $0.name == k } }.map(\.kind)
            return "only the \(owners.joined(separator: "/")) decoder takes '\(k)'; \(d.keysText)"
        }
        return d.build(Entry(m: dm, node: node, path: "decoder", r: r))
    }

    static func checkPointer(_ s: String, _ node: Node, _ path: String, _ r: YAMLReader) {
        do { _ = try JSONPointer(s) } catch {
            r.error(node, path, "expected a JSON pointer (RFC 6901) such as /temp or /readings/0/v, found '\(s)': \(error)")
        }
    }

    static func mqtt(_ node: Node, _ r: YAMLReader) -> TransportSpec? {
        guard let m = r.mapping(node, "mqtt", allowed: ["topic", "qos"]) else { return nil }
        var qos = 1
        if let q = m["qos"] { qos = r.int(q.value, "mqtt.qos", in: 0...2) ?? 1 }
        guard let tn = r.required(m, "topic", "mqtt", in: node), let t = r.string(tn, "mqtt.topic") else { return nil }
        do {
            let f = try TopicFilter(t)
            for case .single(let n?) in f.levels where n != "device" && n != "channel" {
                r.error(tn, "mqtt.topic", "a named level must be '+device' or '+channel', found '+\(n)'")
            }
            return .mqtt(MQTTSourceSpec(topic: f, qos: qos))
        } catch {
            r.error(tn, "mqtt.topic", "expected an MQTT topic filter, found '\(t)': \(error)")
            return nil
        }
    }

    static func serial(_ node: Node, _ r: YAMLReader) -> TransportSpec? {
        guard let m = r.mapping(node, "serial", allowed: ["port", "baud", "data_bits", "parity", "stop_bits", "flow", "poll", "modbus"]) else { return nil }
        guard let pn = r.required(m, "port", "serial", in: node), let port = r.string(pn, "serial.port") else { return nil }
        var s = SerialSpec(port: port)
        if let v = m["baud"] { s.baud = r.int(v.value, "serial.baud", in: 50...4_000_000) ?? s.baud }
        if let v = m["data_bits"] { s.dataBits = r.int(v.value, "serial.data_bits", in: 5...8) ?? s.dataBits }
        if let v = m["stop_bits"] { s.stopBits = r.int(v.value, "serial.stop_bits", in: 1...2) ?? s.stopBits }
        if let v = m["parity"] { s.parity = r.choice(v.value, "serial.parity", SerialSpec.Parity.self) ?? s.parity }
        if let v = m["flow"] { s.flow = r.choice(v.value, "serial.flow", SerialSpec.Flow.self) ?? s.flow }
        func timing(_ pm: [String: (key: Node, value: Node)], _ path: String) -> (Int64, Int64) {
            let interval = pm["interval"].flatMap { r.durationMs($0.value, "\(path).interval") } ?? 1000
            let timeout = pm["timeout"].flatMap { r.durationMs($0.value, "\(path).timeout") } ?? 500
            if interval <= 0 { r.error(pm["interval"]?.value, "\(path).interval", "expected a duration above 0") }
            if timeout <= 0 || timeout >= interval {
                r.error(pm["timeout"]?.value ?? pm["interval"]?.value, "\(path).timeout", "expected a timeout above 0 and below the interval (\(interval)ms), found \(timeout)ms")
            }
            return (interval, timeout)
        }
        if let pn = m["poll"]?.value, let pm = r.mapping(pn, "serial.poll", allowed: ["request", "interval", "timeout"]) {
            if let rq = r.required(pm, "request", "serial.poll", in: pn), let text = r.string(rq, "serial.poll.request") {
                // \r, \n and \xHH escapes, as in framing
                var bytes: [UInt8] = []
                var it = Array(text.utf8)[...]
                while let c = it.popFirst() {
                    guard c == UInt8(ascii: "\\"), let e = it.popFirst() else { bytes.append(c); continue }
                    switch e {
                    case UInt8(ascii: "r"): bytes.append(0x0D)
                    case UInt8(ascii: "n"): bytes.append(0x0A)
                    case UInt8(ascii: "x"):
                        if let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) { bytes.append(v); it = it.dropFirst(2) } else {
                            r.error(rq, "serial.poll.request", "expected \\xHH")
                        }
                    default: bytes.append(e)
                    }
                }
                let (i, t) = timing(pm, "serial.poll")
                s.poll = PollSpec(request: .bytes(bytes), intervalMs: i, timeoutMs: t)
            }
        }
        if let mn = m["modbus"]?.value, let mm = r.mapping(mn, "serial.modbus", allowed: ["slave", "function", "address", "count", "interval", "timeout"]) {
            if m["poll"] != nil { r.error(m["modbus"]?.key, "serial.modbus", "use either poll or modbus, not both") }
            let slave = mm["slave"].flatMap { r.int($0.value, "serial.modbus.slave", in: 1...247) } ?? 1
            let fc = mm["function"].flatMap { r.int($0.value, "serial.modbus.function", in: 3...4) } ?? 3
            let address = mm["address"].flatMap { r.int($0.value, "serial.modbus.address", in: 0...65535) } ?? 0
            let count = mm["count"].flatMap { r.int($0.value, "serial.modbus.count", in: 1...125) } ?? 1
            let (i, t) = timing(mm, "serial.modbus")
            s.poll = PollSpec(request: .modbus(slave: UInt8(slave), function: UInt8(fc), address: UInt16(address), count: UInt16(count)),
                              intervalMs: i, timeoutMs: t)
        }
        return .serial(s)
    }

    static func capture(_ node: Node, _ r: YAMLReader) -> TransportSpec? {
        guard let m = r.mapping(node, "capture", allowed: ["interface", "file", "bpf", "src_host", "dst_host", "src_port", "dst_port", "ethertype", "buffer"]) else { return nil }
        var c = CaptureSpec()
        c.interface = m["interface"].flatMap { r.string($0.value, "capture.interface") }
        c.file = m["file"].flatMap { r.string($0.value, "capture.file") }
        c.bpf = m["bpf"].flatMap { r.string($0.value, "capture.bpf") }
        c.srcHost = m["src_host"].flatMap { r.string($0.value, "capture.src_host") }
        c.dstHost = m["dst_host"].flatMap { r.string($0.value, "capture.dst_host") }
        c.srcPort = m["src_port"].flatMap { r.int($0.value, "capture.src_port", in: 1...65535) }
        c.dstPort = m["dst_port"].flatMap { r.int($0.value, "capture.dst_port", in: 1...65535) }
        c.ethertype = m["ethertype"].flatMap { r.int($0.value, "capture.ethertype", in: 0x0600...0xFFFF) }
        if let v = m["buffer"], let b = r.bytes(v.value, "capture.buffer") {
            if b < 64 << 10 || b > 256 << 20 { r.error(v.value, "capture.buffer", "expected a size from 64KiB to 256MiB, found \(b) bytes") } else { c.bufferBytes = Int(b) }
        }
        if c.interface == nil && c.file == nil {
            r.error(node, "capture", "expected 'interface' (live) or 'file' (a pcap/pcapng file)")
        }
        return .capture(c)
    }

    /// `udp:` / `tcp:` — `listen: "host:port"` (`[::1]:port` for IPv6), and for tcp the bounds.
    static func listen(_ node: Node, _ kind: String, _ r: YAMLReader) -> ListenSpec? {
        let keys = kind == "tcp" ? ["listen", "max_connections", "idle_timeout", "receive_buffer"] : ["listen", "receive_buffer"]
        guard let m = r.mapping(node, kind, allowed: keys) else { return nil }
        guard let ln = r.required(m, "listen", kind, in: node), let text = r.string(ln, "\(kind).listen") else { return nil }
        // host:port, the host in brackets when it holds colons (IPv6)
        var host = "", portText = ""
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { portText = String(rest.dropFirst()) }
        } else if let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else {
            r.error(ln, "\(kind).listen", "expected host:port such as 127.0.0.1:8125, 0.0.0.0:8125 or [::1]:8125, found '\(text)'")
            return nil
        }
        var spec = ListenSpec(host: host, port: port)
        if let v = m["max_connections"], let n = r.int(v.value, "tcp.max_connections", in: 1...4096) { spec.maxConnections = n }
        if let v = m["idle_timeout"], let ms = r.durationMs(v.value, "tcp.idle_timeout") {
            if ms < 0 { r.error(v.value, "tcp.idle_timeout", "expected a duration of 0 (never) or more") } else { spec.idleTimeoutMs = ms }
        }
        if let v = m["receive_buffer"], let b = r.bytes(v.value, "\(kind).receive_buffer") {
            if b < 4096 || b > 256 << 20 { r.error(v.value, "\(kind).receive_buffer", "expected a size from 4KiB to 256MiB, found \(b) bytes") } else { spec.receiveBufferBytes = Int(b) }
        }
        return spec
    }
}
