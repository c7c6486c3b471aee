import DewpointCore
import DewpointTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

/// GET with URLSession (a real HTTP client): status and body, or nil on a transport error.
func httpGet(_ url: String, method: String = "GET") -> (status: Int, body: String)? {
    final class Box: @unchecked Sendable {  // @unchecked: written once before the semaphore is signalled, read after
        var result: (Int, String)?
    }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    var request = URLRequest(url: URL(string: url)!, timeoutInterval: 5)
    request.httpMethod = method
    URLSession.shared.dataTask(with: request) { data, response, _ in
        if let r = response as? HTTPURLResponse { box.result = (r.statusCode, String(decoding: data ?? Data(), as: UTF8.self)) }
        done.signal()
    }.resume()
    _ = done.wait(timeout: .now() + 10)
    return box.result
}

/// Every line of a Prometheus text exposition is a comment or `name{labels} value`.
func expositionProblems(_ text: String) -> [String] {
    text.split(separator: "\n").filter { line in
        if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") { return false }
        return line.wholeMatch(of: /[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eEnaNIf]+/) == nil
    }.map(String.init)
}

/// The value of a metric line (no labels) in an exposition.
func metricValue(_ text: String, _ name: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") { return Double(line.split(separator: " ")[1]) }
    return nil
}

@Suite(.serialized) struct MetricsTests {
    /// `/metrics` parses line by line and its counters move while data flows; `/healthz` turns
    /// 503 (with the reason) while the input broker is down and 200 when it is back; the textfile
    /// is replaced atomically (a reader never sees half of it); the server answers only GET on
    /// its two paths and closes a connection that never finishes its request.
    @Test func metricsHealthAndTextfile() throws {
        let input = Broker(persistent: true), upstream = Broker()
        input.start(); upstream.start()
        defer { input.stop(); upstream.stop() }
        let collector = try Collector(port: upstream.port)
        defer { collector.stop() }
        let dir = scratchDir("metrics")
        let port = freePort()
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port, window: "1s", lateness: "0ms",
                                 detectors: "    detectors: [{kind: threshold, above: 50}]")
        let yaml = try String(contentsOfFile: dir + "/dewpoint.yaml", encoding: .utf8)
        try (yaml + "\nmetrics:\n  listen: 127.0.0.1:\(port)\n  textfile: \(dir)/dewpoint.prom\n  interval: 1s\n  mqtt: true\n")
            .write(toFile: dir + "/dewpoint.yaml", atomically: true, encoding: .utf8)
        let agent = AgentProcess(dir: dir)
        try agent.start()
        defer { agent.terminate() }
        #expect(waitUntil(5) { agent.log.contains("metrics on http://127.0.0.1:\(port)/metrics") }, "\(agent.log)")
        let base = "http://127.0.0.1:\(port)"
        #expect(waitUntil(5) { httpGet(base + "/healthz")?.status == 200 }, "\(String(describing: httpGet(base + "/healthz")))")

        // a reader of the textfile while it is rewritten every second
        let torn = Atomic<Int>(0), reads = Atomic<Int>(0), stopReading = Atomic<Bool>(false)
        let reader = Thread {
            while !stopReading.load(ordering: .acquiring) {
                if let t = try? String(contentsOfFile: dir + "/dewpoint.prom", encoding: .utf8) {
                    reads.add(1, ordering: .relaxed)
                    if !t.hasSuffix("\n") || !t.contains("dewpoint_frames_total ") || !expositionProblems(t).isEmpty { torn.add(1, ordering: .relaxed) }
                }
                usleep(2_000)
            }
        }
        reader.start()

        let first = try #require(httpGet(base + "/metrics"))
        #expect(first.status == 200)
        #expect(expositionProblems(first.body).isEmpty, "\(expositionProblems(first.body).prefix(5))")
        let pub = try Publisher(port: input.port)
        let t0 = nowMs()
        for i in 0..<500 { try pub.send(ts: t0 + Int64(i), v: i == 250 ? 99 : 5) }
        #expect(waitUntil(10) { (metricValue(httpGet(base + "/metrics")?.body ?? "", "dewpoint_frames_total") ?? 0) >= 500 })
        let later = try #require(httpGet(base + "/metrics")).body
        #expect(expositionProblems(later).isEmpty, "\(expositionProblems(later).prefix(5))")
        #expect(later.contains(#"dewpoint_device_samples_total{binding="env",device="env"} 500"#), "\(later)")
        #expect(later.contains("dewpoint_alert_commit_latency_seconds_bucket"), "no latency histogram")
        #expect(later.contains(#"dewpoint_source_connected{source="mqtt 127.0.0.1:\#(input.port)"} 1"#), "\(later)")
        #expect((metricValue(later, "dewpoint_resident_memory_bytes") ?? 0) > 1_000_000)
        // metrics.mqtt: the retained status carries the vitals, and a metrics record follows
        #expect(waitUntil(5) { collector.records("metrics").contains { (($0["counters"] as? [String: Any])?["frames"] as? Int ?? 0) >= 500 } })
        let statuses = collector.all.filter { $0.topic == "dewpoint/gw-test/status" }.map(\.payload)
        #expect(statuses.contains { $0.contains(#""version":"#) && $0.contains(#""devices":1"#) && $0.contains(#""state":"online""#) }, "\(statuses)")

        // the input broker goes: retrying within its limits at first (healthy), then unhealthy,
        // with the reason; back: healthy
        input.stop()
        usleep(3_000_000)
        #expect(httpGet(base + "/healthz")?.status == 200)
        #expect(waitUntil(20) { httpGet(base + "/healthz")?.status == 503 })
        #expect(httpGet(base + "/healthz")?.body.contains("disconnected") == true)
        input.start()
        #expect(waitUntil(15) { httpGet(base + "/healthz")?.status == 200 }, "\(agent.log)")

        // only GET, only the two paths
        #expect(httpGet(base + "/other")?.status == 404)
        #expect(httpGet(base + "/metrics", method: "POST")?.status == 405)
        // a client that never finishes its request is closed within about 2 s
        let fd = loopbackSocket(Int32(SOCK_STREAM.rawValue), port: port)
        defer { close(fd) }
        _ = Array("GET /metrics HTTP/1.1\r\n".utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        let started = Date()
        #expect(recv(fd, &byte, 1, 0) == 0, "the half request got an answer")
        #expect(Date().timeIntervalSince(started) < 4)

        // more connections than it takes, with garbage and oversized heads: it refuses or closes
        // them, and goes on answering
        var hostile: [Int32] = []
        for i in 0..<24 {
            let h = loopbackSocket(Int32(SOCK_STREAM.rawValue), port: port)
            let junk = i % 2 == 0 ? [UInt8](repeating: 0x41, count: 8192) : [0x00, 0xFF, 0x0D, 0x0A, 0x0D, 0x0A]
            _ = junk.withUnsafeBytes { send(h, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            hostile.append(h)
        }
        usleep(300_000)
        for h in hostile { close(h) }
        #expect(waitUntil(5) { httpGet(base + "/metrics")?.status == 200 })
        #expect(agent.process.isRunning)

        stopReading.store(true, ordering: .releasing)
        usleep(50_000)
        pub.stop()
        #expect(reads.load(ordering: .relaxed) > 100)
        #expect(torn.load(ordering: .relaxed) == 0, "a reader saw a partial textfile")
    }
}

/// `dewpoint status` asks the running agent through its socket: devices with their last sample,
/// the spool backlog while upstream is down, and a non-zero exit when the input is gone.
@Suite(.serialized) struct StatusCommandTests {
    @Test func statusShowsDevicesAndTheBacklogWhileUpstreamIsDown() throws {
        let input = Broker(), upstream = Broker()
        input.start(); upstream.start()
        defer { input.stop(); upstream.stop() }
        let dir = scratchDir("status")
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port, window: "1s", lateness: "0ms",
                                 detectors: "    detectors: [{kind: threshold, above: 50}]")
        let agent = AgentProcess(dir: dir)
        try agent.start()
        defer { agent.terminate() }
        #expect(waitUntil(5) { agent.log.contains("input connected") })
        upstream.stop()
        let pub = try Publisher(port: input.port)
        defer { pub.stop() }
        let t0 = nowMs()
        for i in 0..<200 { try pub.send(ts: t0 + Int64(i) * 10, v: i >= 197 ? 99 : 5) }  // raised at the end, and still raised
        // windows close and their summaries wait in the spool
        var o: [String: Any] = [:]
        #expect(waitUntil(15) {
            guard let r = try? runDewpoint(["status", "--config", dir + "/dewpoint.yaml", "--json"]),
                  let j = try? JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any] else { return false }
            o = j
            return ((j["spool"] as? [String: Any])?["records"] as? Int ?? 0) > 0
        }, "\(o)")
        let devices = o["devices"] as? [[String: Any]] ?? []
        #expect(devices.first?["device"] as? String == "env")
        #expect(devices.first?["samples"] as? Int == 200)
        #expect((devices.first?["last_sample_age_s"] as? Double ?? 99) < 30)
        #expect((o["upstream"] as? [String: Any])?["connected"] as? Bool == false)
        #expect((o["alerts_raised"] as? [[String: Any]])?.first?["channel"] as? String == "v")
        let table = try runDewpoint(["status", "--config", dir + "/dewpoint.yaml"])
        #expect(table.status == 0, "\(table.out)\(table.err)")
        #expect(table.out.contains("env") && table.out.contains("upstream: DISCONNECTED") && table.out.contains("alerts raised now:"), "\(table.out)")
        // the input goes: unhealthy, exit 1, with the reason
        input.stop()
        #expect(waitUntil(20) { (try? runDewpoint(["status", "--config", dir + "/dewpoint.yaml"]))?.status == 1 })
        #expect(try runDewpoint(["status", "--config", dir + "/dewpoint.yaml"]).out.contains("is disconnected"))
        // the socket is the agent user's alone
        var st = stat()
        #expect(stat(dir + "/status.sock", &st) == 0 && st.st_mode & 0o007 == 0)
        agent.terminate()
        #expect(try runDewpoint(["status", "--config", dir + "/dewpoint.yaml"]).status == 2)
    }
}
