import Foundation
import Logging
import Synchronization

/// What the tests of several targets share: free loopback ports, waiting, scratch folders and a
/// private mosquitto broker.

/// A fresh folder under the temporary directory, for one test.
public func scratchDir(_ name: String) -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("dewpoint-tests-\(getpid())/\(name)-\(UUID().uuidString.prefix(8))")
    try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d.path
}

/// Finds a free TCP port on loopback (bind to 0, read it back, close).
public func freePort() -> Int {
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

public func canConnect(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}

public func waitUntil(_ seconds: Double, _ cond: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if cond() { return true }
        usleep(20_000)
    }
    return cond()
}

/// A private mosquitto on a loopback port, started and stopped by the test.
/// @unchecked: a test starts and stops it from one place at a time.
public final class Broker: @unchecked Sendable {
    public let port: Int
    public let dir: String
    public let extra: String
    public var process: Process?

    /// `DEWPOINT_TEST_MOSQUITTO` names another broker to test against (another mosquitto release).
    public static var executable: String {
        if let p = ProcessInfo.processInfo.environment["DEWPOINT_TEST_MOSQUITTO"], !p.isEmpty { return p }
        for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        return "mosquitto"
    }

    public init(port: Int = freePort(), persistent: Bool = false, extra: String = "", anonymous: Bool = true) {
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

    public func start() {
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

    public func stop() {
        guard let p = process else { return }
        p.terminate()
        if !waitUntil(5, { !p.isRunning }) { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        process = nil
    }

    deinit { stop() }
}


/// A logger whose lines the test reads back (`lines`), for sources that log what they drop.
public final class CapturedLog: Sendable {
    private let store = Mutex<[String]>([])
    public init() {}
    public var lines: [String] { store.withLock { $0 } }
    public var logger: Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }
    struct Handler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { log.store.withLock { $0.append("\(event.message)") } }
    }
}

/// A socket connected to `port` on loopback (127.0.0.1, or ::1 with `v6`): TCP or UDP by `type`.
public func loopbackSocket(_ type: Int32, port: Int, v6: Bool = false) -> Int32 {
    let fd = socket(v6 ? AF_INET6 : AF_INET, type, 0)
    if v6 {
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_port = in_port_t(UInt16(port).bigEndian)
        a.sin6_addr = in6addr_loopback
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    } else {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    }
    return fd
}

/// `makeCertificates` failed: the openssl command that did.
public struct CertificateError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

private func openssl(_ args: [String], in dir: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    p.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw CertificateError(message: "openssl \(args.joined(separator: " ")) exited with \(p.terminationStatus)")
    }
}

/// A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated second CA.
public func makeCertificates(_ dir: String) throws {
    try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=dewpoint test CA"], in: dir)
    try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"], in: dir)
    try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: dir + "/ext", atomically: true, encoding: .utf8)
    try openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "ext"], in: dir)
    try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.crt", "-days", "1", "-subj", "/CN=someone else"], in: dir)
    _ = chmod(dir + "/server.key", 0o644)
}

/// Runs a program to its end; its exit status and its stdout and stderr together.
public func runCapturing(_ executable: String, _ args: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
}
