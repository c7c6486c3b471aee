import DewpointCore
import DewpointMQTT
import DewpointTestSupport
import Foundation

/// Collects what arrives on a broker (a persistent QoS 1 session, so nothing is lost while the
/// broker restarts).
final class Collector: @unchecked Sendable {
    let client: MQTTClient
    /// @unchecked: `messages` is touched under `lock` only.
    final class MessageBox: @unchecked Sendable {
        let lock = NSLock()
        var messages: [(topic: String, payload: String)] = []
    }
    private let box: MessageBox

    init(port: Int, filter: String = "dewpoint/#", tls: TLSSpec? = nil, username: String? = nil, password: String? = nil) throws {
        let box = MessageBox()
        self.box = box
        client = try MQTTClient(.init(host: "127.0.0.1", port: port, clientId: "collector-\(port)-\(getpid())", cleanSession: false,
                                      username: username, password: password, tls: tls),
                                handlers: .init(message: { t, p in
                                    let m = (String(decoding: t, as: UTF8.self), String(decoding: p, as: UTF8.self))
                                    box.lock.withLock { box.messages.append(m) }
                                }, connected: { client in try? client.subscribe(filter, qos: 1) }))
        client.start()
        _ = waitUntil(5) { self.client.isConnected }
        usleep(100_000)
    }

    var all: [(topic: String, payload: String)] { box.lock.withLock { box.messages } }

    /// Records of a kind, parsed, in arrival order.
    func records(_ kind: String) -> [[String: Any]] {
        all.compactMap { m in
            guard let o = try? JSONSerialization.jsonObject(with: Data(m.payload.utf8)) as? [String: Any], o["kind"] as? String == kind else { return nil }
            return o
        }
    }

    func stop() { client.stop() }
}

/// The `dewpoint` binary running `run` on a config written for the test.
final class AgentProcess {
    let dir: String
    let process = Process()
    var logPath: String { dir + "/agent.log" }

    static var binary: String {
        ProcessInfo.processInfo.environment["DEWPOINT_BIN"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug/dewpoint").standardized.path
    }

    /// Writes `dewpoint.yaml` and one binding, `env.yaml`: JSON `{"ts":ms,"v":x}` on `t/env`.
    /// `onStop`: the tests that look at what a run sent, not at how a stop keeps state, have
    /// stops emit open windows as partial summaries (`spool.on_stop`).
    static func writeConfig(dir: String, inputPort: Int, upstreamPort: Int, window: String = "1s", lateness: String = "200ms",
                            upstreamExtra: String = "", detectors: String = "", inputExtra: String = "", qos: Int = 1,
                            onStop: String = "partial_summaries", spoolExtra: String = "") {
        try? FileManager.default.createDirectory(atPath: dir + "/devices", withIntermediateDirectories: true)
        let agent = """
        agent: gw-test
        devices: devices
        log_level: info
        spool:
          dir: \(dir)
          on_stop: \(onStop)
        \(spoolExtra)
        input:
          host: 127.0.0.1
          port: \(inputPort)
          client_id: dewpoint-test-in-\(inputPort)
        \(inputExtra)
        upstream:
          host: 127.0.0.1
          port: \(upstreamPort)
          max_inflight: 16
        \(upstreamExtra)
        queue:
          capacity: 100000
          overflow: block
        """
        let binding = """
        device: env
        transport: mqtt
        mqtt:
          topic: t/env
          qos: \(qos)
        decoder: json
        timestamp:
          pointer: /ts
        channels:
          - name: v
            unit: V
            pointer: /v
        \(detectors)
        window:
          length: \(window)
          lateness: \(lateness)
        """
        try! agent.write(toFile: dir + "/dewpoint.yaml", atomically: true, encoding: .utf8)
        try! binding.write(toFile: dir + "/devices/env.yaml", atomically: true, encoding: .utf8)
    }

    init(dir: String, environment: [String: String] = [:]) {
        self.dir = dir
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.executableURL = URL(fileURLWithPath: AgentProcess.binary)
        process.arguments = ["run", "--config", dir + "/dewpoint.yaml", "--drain-timeout", "10"]
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let h = FileHandle(forWritingAtPath: logPath)!
        h.seekToEndOfFile()
        process.standardError = h
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    }

    func start() throws {
        try process.run()
        _ = waitUntil(5) { self.log.contains("running:") }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func terminate() {
        process.terminate()
        if !waitUntil(20, { !self.process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Publishes JSON readings for the test binding.
final class Publisher {
    let client: MQTTClient
    init(port: Int, username: String? = nil, password: String? = nil) throws {
        client = try MQTTClient(.init(host: "127.0.0.1", port: port, clientId: "publisher-\(port)-\(getpid())", username: username, password: password))
        client.start()
        _ = waitUntil(5) { self.client.isConnected }
    }
    func send(ts: Int64, v: Double, topic: String = "t/env") throws {
        let p = Array(#"{"ts":\#(ts),"v":\#(v)}"#.utf8)
        _ = try p.withUnsafeBytes { try client.publish(topic: topic, payload: $0, qos: 1, retain: false) }
    }
    func sendRaw(_ s: String, topic: String = "t/env") throws {
        _ = try Array(s.utf8).withUnsafeBytes { try client.publish(topic: topic, payload: $0, qos: 1, retain: false) }
    }
    func stop() { client.stop() }
}

func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

/// Checks that summaries, after dropping duplicate `seq`s, arrived in strictly increasing `seq`
/// order without gaps, and returns them.
func deduplicated(_ records: [[String: Any]]) -> (records: [[String: Any]], inOrder: Bool, contiguous: Bool) {
    var seen = Set<Int>()
    var out: [[String: Any]] = []
    var inOrder = true
    var last = 0
    for r in records {
        let s = r["seq"] as! Int
        if seen.contains(s) { continue }
        seen.insert(s)
        if s <= last { inOrder = false }
        last = s
        out.append(r)
    }
    let seqs = out.map { $0["seq"] as! Int }.sorted()
    let contiguous = seqs.isEmpty || seqs == Array(seqs.first!...seqs.last!)
    return (out, inOrder, contiguous)
}

func samples(_ summaries: [[String: Any]]) -> Int {
    summaries.reduce(0) { $0 + ((($1["channels"] as? [String: [String: Any]])?["v"]?["n"] as? Int) ?? 0) }
}
