import DewpointTestSupport
import DewpointCore
import Foundation
import Testing

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
