import DewpointTestSupport
import DewpointCore
import Foundation
import Testing

private func openssl(_ args: [String], in dir: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    p.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try p.run()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0, "openssl \(args.joined(separator: " "))")
}

/// A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated second CA.
private func makeCertificates(_ dir: String) throws {
    try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=dewpoint test CA"], in: dir)
    try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"], in: dir)
    try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: dir + "/ext", atomically: true, encoding: .utf8)
    try openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "ext"], in: dir)
    try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.crt", "-days", "1", "-subj", "/CN=someone else"], in: dir)
    _ = chmod(dir + "/server.key", 0o644)
}

@Suite(.serialized) struct TLSTests {
    @Test func upstreamOverTLSWithVerifiedCertificate() throws {
        let certs = scratchDir("certs")
        try makeCertificates(certs)
        let input = Broker()
        let upstream = Broker(extra: "cafile \(certs)/ca.crt\ncertfile \(certs)/server.crt\nkeyfile \(certs)/server.key\n")
        input.start(); upstream.start()
        let collector = try Collector(port: upstream.port, tls: TLSSpec(caFile: certs + "/ca.crt"))
        #expect(collector.client.isConnected)

        let dir = scratchDir("tls-ok")
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port, window: "60s", lateness: "10s",
                                 upstreamExtra: "  tls:\n    ca_file: \(certs)/ca.crt")
        let agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(10) { agent.log.contains("upstream connected") }, "\(agent.log)")
        let pub = try Publisher(port: input.port)
        for i in 0..<10 { try pub.send(ts: nowMs() + Int64(i), v: 3) }
        usleep(300_000)
        pub.stop()
        agent.terminate()
        #expect(waitUntil(5) { samples(collector.records("summary")) == 10 })
        collector.stop()
    }

    @Test func wrongCAIsRefusedWithAClearError() throws {
        let certs = scratchDir("certs-wrong")
        try makeCertificates(certs)
        let input = Broker()
        let upstream = Broker(extra: "cafile \(certs)/ca.crt\ncertfile \(certs)/server.crt\nkeyfile \(certs)/server.key\n")
        input.start(); upstream.start()
        let dir = scratchDir("tls-wrong")
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port,
                                 upstreamExtra: "  tls:\n    ca_file: \(certs)/other.crt")
        let agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(10) { agent.log.contains("TLS handshake failed") }, "\(agent.log)")
        #expect(agent.log.contains("certificate verify failed"), "\(agent.log)")
        #expect(!agent.log.contains("upstream connected"))
        agent.terminate()
    }
}
