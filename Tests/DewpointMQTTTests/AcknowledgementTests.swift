import DewpointCore
import DewpointMQTT
import DewpointTestSupport
import Foundation
import Synchronization
import Testing

/// `ackAfterCommit`: libmosquitto (threaded) queues the PUBACKs, and the client writes them only
/// after its commit says the messages are durable. Checked against a real broker: messages whose
/// acknowledgements were never written are delivered again to the same persistent session.
@Suite(.serialized) struct AcknowledgementTests {
    final class Received: Sendable {
        let ids = Mutex<[UInt16]>([])
        let commits = Atomic<Int>(0)
        let allowCommit = Atomic<Bool>(false)
        let sessions = Mutex<[Bool]>([])
    }

    func input(port: Int, _ r: Received, intervalNs: UInt64, tls: TLSSpec? = nil) throws -> MQTTClient {
        var o = MQTTClient.Options(host: "127.0.0.1", port: port, clientId: "ack-test-\(port)", cleanSession: false, tls: tls, protocolVersion: 5)
        o.ackAfterCommit = true
        o.ackIntervalNs = intervalNs
        o.receiveMaximum = 1000
        let c = try MQTTClient(o, handlers: .init(
            connected: { c in
                r.sessions.withLock { $0.append(c.sessionPresent) }
                try? c.subscribe("ack/#", qos: 1)
            },
            delivery: { _, _, id in r.ids.withLock { $0.append(id) } },
            commit: {
                r.commits.add(1, ordering: .relaxed)
                return r.allowCommit.load(ordering: .relaxed)
            }))
        c.start()
        #expect(waitUntil(5) { c.isConnected })
        usleep(200_000)  // the SUBSCRIBE goes out
        return c
    }

    func publish(port: Int, count: Int, tls: TLSSpec? = nil) throws {
        let p = try MQTTClient(.init(host: "127.0.0.1", port: port, clientId: "ack-pub-\(port)", tls: tls))
        p.start()
        #expect(waitUntil(5) { p.isConnected })
        for i in 0..<count {
            _ = try Array("m\(i)".utf8).withUnsafeBytes { try p.publish(topic: "ack/x", payload: $0, qos: 1, retain: false) }
        }
        usleep(300_000)
        p.stop()
    }

    /// Over TLS too: the input reads the CONNACK with its own pass (no `mosquitto_loop`), which
    /// must carry the TLS handshake as well.
    @Test(arguments: [false, true]) func acknowledgementsWaitForTheCommit(tls useTLS: Bool) throws {
        var tls: TLSSpec? = nil
        var extra = ""
        if useTLS {
            let certs = scratchDir("ack-certs")
            try makeCertificates(certs)
            tls = TLSSpec(caFile: certs + "/ca.crt")
            extra = "cafile \(certs)/ca.crt\ncertfile \(certs)/server.crt\nkeyfile \(certs)/server.key\n"
        }
        let broker = Broker(extra: extra)
        broker.start()
        defer { broker.stop() }

        // the commit fails: nothing is acknowledged, and the broker sends it all again
        let r = Received()
        var c = try input(port: broker.port, r, intervalNs: 100_000_000, tls: tls)
        try publish(port: broker.port, count: 5, tls: tls)
        #expect(waitUntil(5) { r.ids.withLock { $0.count } == 5 })
        #expect(waitUntil(5) { r.commits.load(ordering: .relaxed) >= 2 }, "the client did not ask for a commit")
        c.stop()
        // the messages a persistent session resends come right behind the CONNACK (libmosquitto
        // 2.1 reads them in the same call): they wait for a commit like any others
        let again = Received()
        again.allowCommit.store(true, ordering: .relaxed)
        c = try input(port: broker.port, again, intervalNs: 100_000_000, tls: tls)
        #expect(again.sessions.withLock { $0 } == [true])
        #expect(waitUntil(5) { again.ids.withLock { $0.count } == 5 }, "unacknowledged messages were not delivered again")
        #expect(again.ids.withLock { $0 } == r.ids.withLock { $0 }, "redeliveries keep their packet ids")
        // this time the commit succeeds: after it the acknowledgements go out
        #expect(waitUntil(5) { again.commits.load(ordering: .relaxed) >= 1 }, "the resent messages were not held for a commit")
        usleep(300_000)
        c.stop()
        let third = Received()
        third.allowCommit.store(true, ordering: .relaxed)
        c = try input(port: broker.port, third, intervalNs: 100_000_000, tls: tls)
        usleep(700_000)
        #expect(third.ids.withLock { $0 }.isEmpty, "acknowledged messages came again")
        c.stop()
    }
}
