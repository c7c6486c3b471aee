import ArgumentParser
import DewpointAgent
import DewpointConfig
import DewpointCore
import Foundation

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
            guard let o = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
                printError("the agent answered something that is not JSON: \(body.prefix(200))")
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

    static func table(_ o: [String: Any]) -> String {
        var lines: [String] = []
        let healthy = o["healthy"] as? Bool ?? false
        let reasons = o["reasons"] as? [String] ?? []
        lines.append("agent \(o["version"] as? String ?? "?"), up \(Status.duration(o["uptime_s"] as? Double)): \(healthy ? "healthy" : "UNHEALTHY: " + reasons.joined(separator: "; "))")
        lines.append("")
        lines.append("SOURCE                               LINK          COUNTERS")
        for s in o["sources"] as? [[String: Any]] ?? [] {
            let link = (s["connected"] as? Bool).map { $0 ? "connected" : "DISCONNECTED" } ?? "-"
            let counters = (s["counters"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            lines.append(pad(s["name"] as? String ?? "?", 36) + " " + pad(link, 13) + " " + counters)
        }
        lines.append("")
        lines.append("BINDING          DEVICE               LAST SAMPLE   RATE/S   SAMPLES    DECODE ERRORS")
        for d in o["devices"] as? [[String: Any]] ?? [] {
            let age = (d["last_sample_age_s"] as? Double).map { Status.duration($0) + " ago" } ?? "never"
            let rate = (d["rate_per_s"] as? Double).map { String(format: "%.1f", $0) } ?? "-"
            lines.append(pad(d["binding"] as? String ?? "?", 16) + " " + pad(d["device"] as? String ?? "?", 20) + " " + pad(age, 13) + " "
                         + pad(rate, 8) + " " + pad("\(d["samples"] as? Int ?? 0)", 10) + " " + "\(d["decode_errors"] as? Int ?? 0)")
        }
        let spool = o["spool"] as? [String: Any] ?? [:]
        let up = o["upstream"] as? [String: Any] ?? [:]
        lines.append("")
        lines.append("spool: \(spool["records"] as? Int ?? 0) records (\(spool["bytes"] as? Int ?? 0) bytes) waiting"
                     + ((spool["oldest_record_age_s"] as? Double).map { ", oldest \(Status.duration($0))" } ?? "")
                     + ", \(spool["dropped"] as? Int ?? 0) dropped, \(spool["dead_letters"] as? Int ?? 0) dead letters")
        lines.append("upstream: \((up["connected"] as? Bool ?? false) ? "connected" : "DISCONNECTED"), \(up["published"] as? Int ?? 0) published, \(up["acknowledged"] as? Int ?? 0) acknowledged, \(up["reconnects"] as? Int ?? 0) reconnects")
        let alerts = o["alerts_raised"] as? [[String: Any]] ?? []
        lines.append("alerts raised now: \(alerts.isEmpty ? "none" : "")")
        for a in alerts { lines.append("  \(a["device"] as? String ?? "?") \(a["channel"] as? String ?? "?") (\(a["detector"] as? String ?? "?"))") }
        return lines.joined(separator: "\n")
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    static func duration(_ s: Double?) -> String {
        guard let s else { return "?" }
        if s < 60 { return String(format: "%.1fs", s) }
        if s < 3600 { return "\(Int(s) / 60)m\(Int(s) % 60)s" }
        return "\(Int(s) / 3600)h\(Int(s) % 3600 / 60)m"
    }
}
