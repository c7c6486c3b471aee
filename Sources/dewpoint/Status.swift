import ArgumentParser
import DewpointAgent
import DewpointConfig
import DewpointCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// `dewpoint status`: asks the running agent through its Unix socket (`status.sock` in the spool
/// folder) and prints what it sees.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the running agent's sources, devices, spool and raised alerts.",
        discussion: """
        Asks the agent through its status socket (status.sock in spool.dir; only the agent's user \
        and group can connect). Exit status: 0 healthy, 1 unhealthy (the reasons are printed), \
        2 no agent answered.
        """)

    @OptionGroup var options: ConfigOptions

    @Flag(name: .long, help: "Print the agent's JSON as it is.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("The status socket, instead of the one the agent file implies.", valueName: "path"))
    var socket: String?

    func run() throws {
        let path: String
        if let socket { path = socket } else {
            do { path = Agent.statusSocketPath(try ConfigLoader.load(agentFile: options.config).agent) } catch {
                for d in error.diagnostics { printError("\(d)") }
                throw ExitCode(2)
            }
        }
        guard let (code, body) = Status.request(path: path, "/status") else {
            printError("no agent answers on \(path): is it running, with this spool.dir, and may this user open the socket?")
            throw ExitCode(2)
        }
        if json {
            print(body)
        } else {
            guard let o = try? JSONDecoder().decode(StatusDocument.self, from: Data(body.utf8)) else {
                printError("the agent answered something this version cannot read: \(body.prefix(200))")
                throw ExitCode(2)
            }
            print(Status.table(o))
        }
        if code != 200 { throw ExitCode(1) }
    }

    /// One request over the Unix socket; (status, body) or nil.
    static func request(path: String, _ target: String) -> (Int, String)? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else { return nil }
        let req = Array("GET \(target) HTTP/1.1\r\nHost: dewpoint\r\n\r\n".utf8)
        guard req.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == req.count else { return nil }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65_536)
        while data.count < 64 << 20 {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            data += buf[0..<n]
        }
        guard let split = data.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: data[..<split.lowerBound], as: UTF8.self)
        let code = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (code, String(decoding: data[split.upperBound...], as: UTF8.self))
    }

    /// What the agent's `/status` holds (the fields the table shows).
    struct StatusDocument: Decodable {
        struct Source: Decodable { var name: String; var connected: Bool?; var counters: [String: Int] }
        struct Device: Decodable {
            var binding: String, device: String
            var last_sample_age_s: Double?, rate_per_s: Double?
            var samples: Int, decode_errors: Int
        }
        struct Spool: Decodable { var records: Int; var bytes: Int; var oldest_record_age_s: Double?; var dropped: Int; var dead_letters: Int }
        struct Upstream: Decodable { var connected: Bool; var published: Int; var acknowledged: Int; var reconnects: Int }
        struct Alert: Decodable { var device: String; var channel: String; var detector: String }
        var healthy: Bool
        var reasons: [String]
        var version: String
        var uptime_s: Double
        var sources: [Source]
        var devices: [Device]
        var spool: Spool
        var upstream: Upstream
        var alerts_raised: [Alert]
    }

    static func table(_ o: StatusDocument) -> String {
        var lines: [String] = []
        lines.append("agent \(o.version), up \(duration(o.uptime_s)): \(o.healthy ? "healthy" : "UNHEALTHY: " + o.reasons.joined(separator: "; "))")
        lines.append("")
        lines.append("SOURCE                               LINK          COUNTERS")
        for s in o.sources {
            let link = s.connected.map { $0 ? "connected" : "DISCONNECTED" } ?? "-"
            let counters = s.counters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            lines.append(pad(s.name, 36) + " " + pad(link, 13) + " " + counters)
        }
        lines.append("")
        lines.append("BINDING          DEVICE               LAST SAMPLE   RATE/S   SAMPLES    DECODE ERRORS")
        for d in o.devices {
            let age = d.last_sample_age_s.map { duration($0) + " ago" } ?? "never"
            let rate = d.rate_per_s.map { oneDecimal($0) } ?? "-"
            lines.append(pad(d.binding, 16) + " " + pad(d.device, 20) + " " + pad(age, 13) + " " + pad(rate, 8) + " "
                         + pad("\(d.samples)", 10) + " " + "\(d.decode_errors)")
        }
        lines.append("")
        lines.append("spool: \(o.spool.records) records (\(o.spool.bytes) bytes) waiting"
                     + (o.spool.oldest_record_age_s.map { ", oldest \(duration($0))" } ?? "")
                     + ", \(o.spool.dropped) dropped, \(o.spool.dead_letters) dead letters")
        lines.append("upstream: \(o.upstream.connected ? "connected" : "DISCONNECTED"), \(o.upstream.published) published, \(o.upstream.acknowledged) acknowledged, \(o.upstream.reconnects) reconnects")
        lines.append("alerts raised now: \(o.alerts_raised.isEmpty ? "none" : "")")
        for a in o.alerts_raised { lines.append("  \(a.device) \(a.channel) (\(a.detector))") }
        return lines.joined(separator: "\n")
    }

    static func oneDecimal(_ v: Double) -> String {
        let tenths = Int((v * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    static func duration(_ s: Double?) -> String {
        guard let s else { return "?" }
        if s < 60 { return oneDecimal(s) + "s" }
        if s < 3600 { return "\(Int(s) / 60)m\(Int(s) % 60)s" }
        return "\(Int(s) / 3600)h\(Int(s) % 3600 / 60)m"
    }
}
