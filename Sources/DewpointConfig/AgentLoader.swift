import DewpointCore
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Reads the agent file (`dewpoint.yaml`). Every key is documented in `docs/configuration.md`.
enum AgentLoader {
    static let topKeys = ["agent", "devices", "log_level", "spool", "input", "upstream", "queue", "defaults", "metrics"]
    static let brokerKeys = ["host", "port", "client_id", "username", "password_file", "password_env", "tls",
                             "mqtt_version", "keepalive", "password"]

    static func load(_ root: Node, reader r: YAMLReader) -> AgentSpec? {
        guard let m = r.mapping(root, "", allowed: topKeys) else { return nil }
        let before = r.diagnostics.count
        var a = AgentSpec(agentId: "")
        if let n = r.required(m, "agent", "", in: root), let s = r.string(n, "agent") {
            if s.isEmpty || s.contains("/") || s.contains("+") || s.contains("#") {
                r.error(n, "agent", "expected an id without '/', '+' or '#' (it is a topic level), found '\(s)'")
            }
            a.agentId = s
        }
        if let n = m["devices"], let s = r.string(n.value, "devices") { a.devicesDir = s }
        if let n = m["log_level"], let v = r.choice(n.value, "log_level", Logger.Level.self) { a.logLevel = v }
        var spoolDirNode: Node? = nil
        if let n = m["spool"]?.value, let sm = r.mapping(n, "spool", allowed: ["dir", "max_bytes", "commit_interval", "on_stop"]) {
            if let d = sm["commit_interval"], let v = r.durationMs(d.value, "spool.commit_interval") {
                if v < 10 || v > 60_000 { r.error(d.value, "spool.commit_interval", "expected 10ms to 60s, found \(v)ms") } else { a.spool.commitIntervalMs = v }
            }
            if let d = sm["on_stop"], let v = r.choice(d.value, "spool.on_stop", StopBehaviour.self) { a.spool.onStop = v }
            if let d = sm["dir"], let s = r.string(d.value, "spool.dir") { a.spool.dir = s; spoolDirNode = d.value }
            if let d = sm["max_bytes"], let v = r.bytes(d.value, "spool.max_bytes") {
                if v < 1 << 16 { r.error(d.value, "spool.max_bytes", "expected at least 64KiB, found \(v) bytes") } else { a.spool.maxBytes = v }
            }
        }
        if let n = m["input"]?.value, let (b, im) = broker(n, "input", extra: ["batch_wait", "batch_min", "read_buffer", "ack"], r) {
            let defaultWait = a.input.batchWaitMs  // from AgentSpec
            a.input = b
            a.input.batchWaitMs = defaultWait
            // input.batch_wait: sleep after a pass that emptied the socket (0 = wake per message)
            if let v = im["read_buffer"] { a.input.readBuffer = r.bool(v.value, "input.read_buffer") ?? false }
            if let v = im["ack"], let p = r.choice(v.value, "input.ack", AckPolicy.self) { a.input.ack = p }
            if let v = im["batch_wait"], let d = r.durationMs(v.value, "input.batch_wait") {
                if d > 100 { r.error(v.value, "input.batch_wait", "expected 0ms to 100ms, found \(d)ms") } else { a.input.batchWaitMs = d }
            }
            if let v = im["batch_min"], let k = r.int(v.value, "input.batch_min", in: 1...4096) { a.input.batchMin = k }
        }
        if let n = m["upstream"]?.value, let (b, um) = broker(n, "upstream", extra: ["topic_prefix", "qos", "max_inflight", "summary_topic", "alert_topic", "status_topic",
                                                                           "format", "sparkplug", "discovery", "homeassistant"], r) {
            a.upstream.broker = b
            platforms(um, into: &a.upstream, r)
            if let v = um["topic_prefix"], let s = r.string(v.value, "upstream.topic_prefix") { a.upstream.topicPrefix = s }
            if let v = um["qos"], let q = r.int(v.value, "upstream.qos", in: 0...2) { a.upstream.qos = q }
            if let v = um["max_inflight"], let q = r.int(v.value, "upstream.max_inflight", in: 1...65535) { a.upstream.maxInflight = q }
            for (key, kp) in [("summary_topic", \UpstreamSpec.summaryTopic), ("alert_topic", \UpstreamSpec.alertTopic),
                              ("status_topic", \UpstreamSpec.statusTopic)] {
                guard let v = um[key], let t = r.string(v.value, "upstream.\(key)") else { continue }
                let stripped = t.replacing("{prefix}", with: "p").replacing("{agent}", with: "a")
                    .replacing("{device}", with: "d")
                if t.isEmpty || stripped.contains("+") || stripped.contains("#") || stripped.contains("{") || stripped.contains("}") {
                    r.error(v.value, "upstream.\(key)", "expected a topic without wildcards, using only {prefix}, {agent} and {device}, found '\(t)'")
                } else if key == "status_topic" && t.contains("{device}") {
                    r.error(v.value, "upstream.\(key)", "the status topic is per agent and cannot use {device}")
                } else {
                    a.upstream[keyPath: kp] = t
                }
            }
        }
        if let n = m["queue"]?.value, let qm = r.mapping(n, "queue", allowed: ["capacity", "overflow"]) {
            if let v = qm["capacity"], let c = r.int(v.value, "queue.capacity", in: 1...10_000_000) { a.queue.capacity = c }
            if let v = qm["overflow"], let p = r.choice(v.value, "queue.overflow", OverflowPolicy.self) { a.queue.overflow = p }
        }
        if let n = m["defaults"]?.value, let dm = r.mapping(n, "defaults", allowed: ["window", "lateness"]) {
            if let v = dm["window"], let d = r.durationMs(v.value, "defaults.window") {
                if d <= 0 { r.error(v.value, "defaults.window", "expected a duration above 0") } else { a.defaultWindow.lengthMs = d }
            }
            if let v = dm["lateness"], let d = r.durationMs(v.value, "defaults.lateness") { a.defaultWindow.latenessMs = d }
        }
        if let n = m["metrics"]?.value, let mm = r.mapping(n, "metrics", allowed: ["listen", "textfile", "interval", "mqtt"]) {
            if let v = mm["listen"], let s = r.string(v.value, "metrics.listen") {
                // HOST:PORT, [V6]:PORT
                if let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) {
                    var host = String(s[..<colon])
                    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                    if host.isEmpty { r.error(v.value, "metrics.listen", "expected HOST:PORT (127.0.0.1:9464), found '\(s)'") } else {
                        a.metrics.listen = ListenSpec(host: host, port: port, maxConnections: 8)
                    }
                } else {
                    r.error(v.value, "metrics.listen", "expected HOST:PORT (127.0.0.1:9464), found '\(s)'")
                }
            }
            if let v = mm["textfile"], let s = r.string(v.value, "metrics.textfile") {
                if s.isEmpty || s.hasSuffix("/") { r.error(v.value, "metrics.textfile", "expected a file path ending in .prom") } else { a.metrics.textfile = s }
            }
            if let v = mm["mqtt"] { a.metrics.mqtt = r.bool(v.value, "metrics.mqtt") ?? false }
            if let v = mm["interval"], let d = r.durationMs(v.value, "metrics.interval") {
                if d < 1_000 || d > 3_600_000 { r.error(v.value, "metrics.interval", "expected 1s to 1h, found \(d)ms") } else { a.metrics.intervalMs = d }
            }
        }
        // what `run` will need: a spool folder it can write, or create
        if let problem = spoolDirProblem(a.spool.dir) { r.error(spoolDirNode ?? m["spool"]?.value ?? root, "spool.dir", problem) }
        return r.diagnostics.count == before ? a : nil
    }

    /// `upstream.format`, `upstream.sparkplug`, `upstream.discovery` and `upstream.homeassistant`.
    static func platforms(_ um: [String: (key: Node, value: Node)], into u: inout UpstreamSpec, _ r: YAMLReader) {
        if let v = um["format"], let f = r.choice(v.value, "upstream.format", UpstreamFormatKind.self) { u.format = f }
        if let v = um["sparkplug"], let sm = r.mapping(v.value, "upstream.sparkplug", allowed: ["group", "node"]) {
            for (key, set) in [("group", { (s: String, u: inout UpstreamSpec) in u.sparkplugGroup = s }),
                               ("node", { (s: String, u: inout UpstreamSpec) in u.sparkplugNode = s })] {
                guard let n = sm[key], let s = r.string(n.value, "upstream.sparkplug.\(key)") else { continue }
                if s.isEmpty || s.contains(where: { "/+#".contains($0) || $0.asciiValue.map { $0 < 0x20 } == true }) {
                    r.error(n.value, "upstream.sparkplug.\(key)", "expected a Sparkplug id without '/', '+' or '#', found '\(s)'")
                } else {
                    set(s, &u)
                }
            }
            if u.format != .sparkplugB { r.error(v.key, "upstream.sparkplug", "applies only with upstream.format: sparkplug_b") }
        }
        if let v = um["discovery"], let d = r.choice(v.value, "upstream.discovery", DiscoveryKind.self) {
            if d == .homeassistant && u.format == .sparkplugB {
                r.error(v.value, "upstream.discovery", "Home Assistant reads JSON state topics: discovery needs upstream.format: json (a Sparkplug host discovers devices from their births)")
            } else {
                u.discovery = d
            }
        }
        if let v = um["homeassistant"], let hm = r.mapping(v.value, "upstream.homeassistant", allowed: ["prefix", "statistic"]) {
            if let n = hm["prefix"], let s = r.string(n.value, "upstream.homeassistant.prefix") {
                if s.isEmpty || s.contains("+") || s.contains("#") { r.error(n.value, "upstream.homeassistant.prefix", "expected a topic prefix without wildcards, found '\(s)'") } else { u.homeAssistantPrefix = s }
            }
            if let n = hm["statistic"], let s = r.string(n.value, "upstream.homeassistant.statistic") {
                let known = ["mean", "min", "max", "std", "first", "last", "twmean", "rms", "peak", "p2p", "crest", "kurtosis", "skewness"]
                let percentile = s.hasPrefix("p") && Double(s.dropFirst()).map { (0...100).contains($0) } == true
                if known.contains(s) || percentile { u.homeAssistantStatistic = s } else {
                    r.error(n.value, "upstream.homeassistant.statistic", "expected one of \(known.joined(separator: ", ")) or a percentile such as p90, found '\(s)'")
                }
            }
            if u.discovery != .homeassistant { r.error(v.key, "upstream.homeassistant", "applies only with upstream.discovery: homeassistant") }
        }
    }

    /// Why the agent could not keep its spool in `dir`, if it could not.
    static func spoolDirProblem(_ dir: String) -> String? {
        var st = stat()
        if stat(dir, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { return "'\(dir)' is not a folder" }
            return access(dir, W_OK | X_OK) == 0 ? nil : "cannot write to '\(dir)' (\(String(cString: strerror(errno)))); the spool lives there"
        }
        // absent: the nearest folder that exists must let the agent create it
        var parent = dir
        while true {
            guard let slash = parent.lastIndex(of: "/") else { parent = "."; break }
            parent = slash == parent.startIndex ? "/" : String(parent[..<slash])
            if stat(parent, &st) == 0 { break }
            if parent == "/" { break }
        }
        return access(parent, W_OK | X_OK) == 0 ? nil : "'\(dir)' does not exist and cannot be made in '\(parent)' (\(String(cString: strerror(errno))))"
    }

    static func broker(_ node: Node, _ path: String, extra: [String], _ r: YAMLReader) -> (BrokerSpec, [String: (key: Node, value: Node)])? {
        guard let m = r.mapping(node, path, allowed: brokerKeys + extra) else { return nil }
        // the input speaks MQTT 5 unless told otherwise: its Maximum Packet Size keeps one
        // oversize message from reaching the agent (3.1.1 has no such limit for a client)
        var b = BrokerSpec(mqttVersion: path == "input" ? 5 : 4)
        if let v = m["password"] {
            r.error(v.key, "\(path).password", "passwords are never read from the YAML; use password_file or password_env")
        }
        if let v = m["host"], let s = r.string(v.value, "\(path).host") { b.host = s }
        if let v = m["port"], let p = r.int(v.value, "\(path).port", in: 1...65535) { b.port = p }
        if let v = m["client_id"], let s = r.string(v.value, "\(path).client_id") { b.clientId = s }
        if let v = m["username"], let s = r.string(v.value, "\(path).username") { b.username = s }
        // neither value is ever repeated in a message: a password pasted in place of the file
        // name or the variable name would otherwise reach the log
        if let v = m["password_file"], let s = r.string(v.value, "\(path).password_file") {
            b.passwordFile = s
            var st = stat()
            if stat(s, &st) != 0 || access(s, R_OK) != 0 {
                r.error(v.value, "\(path).password_file", "cannot read the file it names (\(String(cString: strerror(errno)))); its value is not shown, in case it is the password itself")
            } else if st.st_mode & 0o004 != 0 {
                r.warning(v.value, "\(path).password_file", "every user of this host can read the file it names; make it readable by the agent only (chmod 600), or pass it with systemd's LoadCredential=")
            }
        }
        if let v = m["password_env"], let s = r.string(v.value, "\(path).password_env") {
            b.passwordEnv = s
            let name = s.utf8
            let isName = !name.isEmpty && name.allSatisfy { $0 == 0x5F || ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) }
                && !(name.first! >= 0x30 && name.first! <= 0x39)
            if !isName {
                r.error(v.value, "\(path).password_env", "expected the name of an environment variable (letters, digits and _); the value is not shown, in case it is the password itself")
            } else if getenv(s) == nil {
                r.warning(v.value, "\(path).password_env", "the variable it names is not set in this environment (the agent needs it set)")
            }
        }
        if let v = m["keepalive"], let s = r.durationMs(v.value, "\(path).keepalive") { b.keepaliveS = Int(max(5, s / 1000)) }
        if let v = m["mqtt_version"], let s = r.string(v.value, "\(path).mqtt_version") {
            switch s {
            case "3.1.1", "4": b.mqttVersion = 4
            case "5", "5.0": b.mqttVersion = 5
            default: r.error(v.value, "\(path).mqtt_version", "expected 3.1.1 or 5, found '\(s)'")
            }
        }
        if let v = m["tls"]?.value, let tm = r.mapping(v, "\(path).tls", allowed: ["ca_file", "cert_file", "key_file"]) {
            if let ca = r.required(tm, "ca_file", "\(path).tls", in: v), let s = r.string(ca, "\(path).tls.ca_file") {
                var t = TLSSpec(caFile: s)
                t.certFile = tm["cert_file"].flatMap { r.string($0.value, "\(path).tls.cert_file") }
                t.keyFile = tm["key_file"].flatMap { r.string($0.value, "\(path).tls.key_file") }
                if (t.certFile == nil) != (t.keyFile == nil) {
                    r.error(v, "\(path).tls", "cert_file and key_file go together")
                }
                for key in ["ca_file", "cert_file", "key_file"] {
                    guard let n = tm[key], let f = n.value.string, access(f, R_OK) != 0 else { continue }
                    r.error(n.value, "\(path).tls.\(key)", "cannot read \(f): \(String(cString: strerror(errno)))")
                }
                b.tls = t
            }
        }
        return (b, m)
    }
}
