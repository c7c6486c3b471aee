import DewpointCore
import DewpointMQTT
import Foundation

/// Finds a free TCP port on loopback (bind to 0, read it back, close).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func canConnect(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}

func waitUntil(_ seconds: Double, _ cond: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if cond() { return true }
        usleep(20_000)
    }
    return cond()
}

/// A private mosquitto on a loopback port, started and stopped by the test.
/// @unchecked: a test starts and stops it from one place at a time.
final class Broker: @unchecked Sendable {
    let port: Int
    let dir: String
    let extra: String
    var process: Process?

    static var executable: String {
        for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        return "mosquitto"
    }

    init(port: Int = freePort(), persistent: Bool = false, extra: String = "", anonymous: Bool = true) {
        self.port = port
        self.dir = scratchDir("broker-\(port)")
        self.extra = extra
        // `user root`: when the tests run as root, mosquitto keeps root and can write its
        // persistence file in the test's folder (it has no effect for other users)
        var conf = "user root\nlistener \(port) 127.0.0.1\nallow_anonymous \(anonymous)\n"
        conf += persistent ? "persistence true\npersistence_location \(dir)/\nautosave_interval 1\n" : "persistence false\n"
        conf += extra
        try! conf.write(toFile: dir + "/mosquitto.conf", atomically: true, encoding: .utf8)
    }

    func start() {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Broker.executable)
        p.arguments = ["-c", dir + "/mosquitto.conf"]
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        _ = FileManager.default.createFile(atPath: dir + "/log", contents: nil)
        p.standardError = FileHandle(forWritingAtPath: dir + "/log")
        try! p.run()
        process = p
        _ = waitUntil(5) { canConnect(port) }
    }

    func stop() {
        guard let p = process else { return }
        p.terminate()
        if !waitUntil(5, { !p.isRunning }) { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        process = nil
    }

    deinit { stop() }
}

/// Collects what arrives on a broker (a persistent QoS 1 session, so nothing is lost while the
/// broker restarts).
final class Collector: @unchecked Sendable {
    let client: MQTTClient
    private let lock = Lock()
    private var messages: [(topic: String, payload: String)] = []

    init(port: Int, filter: String = "dewpoint/#", tls: TLSSpec? = nil, username: String? = nil, password: String? = nil) throws {
        client = try MQTTClient(.init(host: "127.0.0.1", port: port, clientId: "collector-\(port)-\(getpid())", cleanSession: false,
                                      username: username, password: password, tls: tls))
        client.onMessage = { [lock] t, p in
            let m = (String(decoding: t, as: UTF8.self), String(decoding: p, as: UTF8.self))
            lock.withLock { self.messages.append(m) }
        }
        client.onConnected = { [client] in try? client.subscribe(filter, qos: 1) }
        client.start()
        _ = waitUntil(5) { self.client.isConnected }
        usleep(100_000)
    }

    var all: [(topic: String, payload: String)] { lock.withLock { messages } }

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
    static func writeConfig(dir: String, inputPort: Int, upstreamPort: Int, window: String = "1s", lateness: String = "200ms",
                            upstreamTLS: String = "", detectors: String = "", inputExtra: String = "", qos: Int = 1) {
        try? FileManager.default.createDirectory(atPath: dir + "/devices", withIntermediateDirectories: true)
        let agent = """
        agent: gw-test
        devices: devices
        log_level: info
        spool:
          dir: \(dir)
        input:
          host: 127.0.0.1
          port: \(inputPort)
          client_id: dewpoint-test-in-\(inputPort)
        \(inputExtra)
        upstream:
          host: 127.0.0.1
          port: \(upstreamPort)
          max_inflight: 16
        \(upstreamTLS)
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
