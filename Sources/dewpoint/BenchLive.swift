import ArgumentParser
import Synchronization
import DewpointAgent
import DewpointCore
import DewpointMQTT
#if canImport(Glibc)
import Glibc
#endif

/// Load generator and alert-latency probe for a running agent (used by scripts/bench-live.sh).
struct BenchLive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-live",
        abstract: "Publish JSON readings at a fixed rate to a broker and time alerts coming back upstream.",
        discussion: """
        Publishes {"ts":ms,"v":x,"a":..,"b":..,"c":..} (4 channels) on --topic at --rate messages/s for --seconds. Every --alert-every-th \
        message carries v=100+k/1000 (the agent's threshold detector must raise on v > 50) and the next one \
        v=0 (clears). Prints messages sent and the latency from publishing a raising message to its \
        alert arriving on dewpoint/+/+/alert, as p50/p99/max.
        """)

    @Option(help: ArgumentHelp("The broker the agent reads from and writes to.", valueName: "host:port"))
    var broker: String
    @Option(help: "Input topic of the agent's binding.") var topic = "bench/env"
    @Option(help: "Messages per second.") var rate: Double = 10_000
    @Option(help: "Seconds to publish.") var seconds: Double = 10
    @Option(help: "A raising message every N messages.") var alertEvery = 1000

    func run() throws {
        let parts = broker.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--broker expects host:port") }
        let host = String(parts[0])
        struct Timing { var sentAt = [UInt64](repeating: 0, count: 1000); var latencies: [Double] = [] }
        let timing = Mutex(Timing())
        let sub = try MQTTClient(.init(host: host, port: port, clientId: "bench-sub-\(getpid())"), handlers: .init(message: { _, payload in
            let now = Clock.monotonicNs()
            let text = String(decoding: payload, as: UTF8.self)
            guard text.contains("\"state\":\"raised\""), let r = text.firstRange(of: "\"value\":") else { return }
            let num = text[r.upperBound...].prefix { $0 == "." || $0.isNumber }
            guard let v = Double(num), v >= 100 else { return }
            let k = Int(((v - 100) * 1000).rounded())
            timing.withLock { t in
                if k >= 0 && k < 1000 && t.sentAt[k] > 0 { t.latencies.append(Double(now - t.sentAt[k]) / 1e6); t.sentAt[k] = 0 }
            }
        }, connected: { sub in try? sub.subscribe("dewpoint/+/+/alert", qos: 1) }))
        let pub = try MQTTClient(.init(host: host, port: port, clientId: "bench-pub-\(getpid())"))
        sub.start(); pub.start()
        while !(sub.isConnected && pub.isConnected) { Clock.sleep(ns: 10_000_000) }
        Clock.sleep(ns: 300_000_000)
        let total = Int(rate * seconds)
        let t0 = Clock.monotonicNs()
        var sent = 0
        var alerts = 0
        var buf: [UInt8] = []
        for i in 0..<total {
            let due = t0 + UInt64(Double(i) / rate * 1e9)
            let now = Clock.monotonicNs()
            if due > now + 200_000 { Clock.sleep(ns: due - now) }
            var v = "20.5"
            var k = -1
            if i % alertEvery == 0 && i > 0 {
                k = alerts % 1000
                alerts += 1
                v = String(100 + Double(k) / 1000)
            } else if i % alertEvery == 1 && i > 1 {
                v = "0"
            }
            buf.removeAll(keepingCapacity: true)
            buf.append(contentsOf: #"{"ts":"#.utf8)
            JSONText.integer(Clock.wallNs() / 1_000_000, into: &buf)
            buf.append(contentsOf: #","v":\#(v),"a":\#(i % 50),"b":-3.25,"c":\#(i & 1023)}"#.utf8)
            if k >= 0 { let now = Clock.monotonicNs(); timing.withLock { $0.sentAt[k] = now } }
            if (try? buf.withUnsafeBytes({ try pub.publish(topic: topic, payload: $0, qos: 1, retain: false) })) != nil { sent += 1 }
        }
        let elapsed = Double(Clock.monotonicNs() - t0) / 1e9
        Clock.sleep(ns: 1_000_000_000)
        pub.stop(); sub.stop()
        let lat = timing.withLock { $0.latencies.sorted() }
        func pct(_ p: Double) -> String {
            lat.isEmpty ? "n/a" : fmt2(lat[min(lat.count - 1, Int(Double(lat.count) * p))])
        }
        print("sent \(sent) messages in \(fmt2(elapsed)) s (\(Int(Double(sent) / elapsed)) msg/s)")
        print("alerts: \(lat.count) of \(alerts) raised; latency ms p50 \(pct(0.5)) p99 \(pct(0.99)) max \(lat.last.map(fmt2) ?? "n/a")")
    }
}

func fmt2(_ x: Double) -> String { fixed(x, 2) }
