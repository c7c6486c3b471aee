import DewpointMQTT
import DewpointTestSupport
import Foundation
import Testing

/// Running the agent as a service: one agent per spool, and `check` refusing what `run` would
/// fail on.
@Suite(.serialized) struct ServiceTests {
    @Test func aSecondAgentOnTheSameSpoolRefusesToStart() throws {
        let (broker, collector, first) = try startAgentOnOneBroker("two-agents")
        defer { collector.stop(); withExtendedLifetime(broker) {} }
        let dir = first.dir
        let second = try runDewpoint(["run", "--config", dir + "/dewpoint.yaml"])
        #expect(second.status == 1)
        #expect(second.err.contains("another agent (pid \(first.process.processIdentifier)) is using the spool in \(dir)"), "\(second.err)")
        first.terminate()
        // once the first has stopped, the spool is free
        let third = AgentProcess(dir: dir)
        try third.start()
        #expect(waitUntil(5) { third.log.contains("running:") }, "\(third.log)")
        third.terminate()
    }

    @Test func checkRefusesWhatRunCannotUse() throws {
        let dir = scratchDir("check-run")
        AgentProcess.writeConfig(dir: dir, inputPort: 1883, upstreamPort: 1883)
        var agentFile = try String(contentsOfFile: dir + "/dewpoint.yaml", encoding: .utf8)
        // the spool folder is a file; the TLS CA and the password file do not exist
        _ = FileManager.default.createFile(atPath: dir + "/not-a-folder", contents: Data("x".utf8))
        agentFile = agentFile.replacingOccurrences(of: "  dir: \(dir)", with: "  dir: \(dir)/not-a-folder")
        agentFile = agentFile.replacingOccurrences(of: "  max_inflight: 16", with: "  max_inflight: 16\n  password_file: \(dir)/missing.pw\n  tls: {ca_file: \(dir)/missing-ca.pem}")
        try agentFile.write(toFile: dir + "/dewpoint.yaml", atomically: true, encoding: .utf8)
        let r = try runDewpoint(["check", "--config", dir + "/dewpoint.yaml"])
        #expect(r.status == 1)
        #expect(r.err.contains("spool.dir: '\(dir)/not-a-folder' is not a folder"), "\(r.err)")
        #expect(r.err.contains("upstream.tls.ca_file: cannot read \(dir)/missing-ca.pem"), "\(r.err)")
        #expect(r.err.contains("upstream.password_file: cannot read the file it names") && !r.err.contains("missing.pw"), "\(r.err)")
        let bad = try runDewpoint(["run", "--config", dir + "/dewpoint.yaml", "--log-level", "loud"])
        #expect(bad.status != 0 && bad.err.contains("--log-level must be one of"), "\(bad.err)")
    }

    @Test func absentHardwareIsAWarningNotAnError() throws {
        let dir = scratchDir("absent")
        AgentProcess.writeConfig(dir: dir, inputPort: 1883, upstreamPort: 1883)
        try """
        device: late-usb
        transport: serial
        serial: {port: /dev/ttyUSB-not-plugged-in}
        decoder: csv
        channels:
          - {name: v, column: 0}
        """.write(toFile: dir + "/devices/serial.yaml", atomically: true, encoding: .utf8)
        let r = try runDewpoint(["check", "--config", dir + "/dewpoint.yaml"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("serial.port: warning: /dev/ttyUSB-not-plugged-in is not present now"), "\(r.err)")
    }

    /// SIGHUP (sent by most tools after an edit) no longer ends the agent: it checks the files,
    /// reports every problem with its position and keeps running, or applies a valid change.
    @Test func sighupChecksTheFilesAndKeepsRunning() throws {
        let (broker, collector, agent) = try startAgentOnOneBroker("sighup")
        defer { collector.stop(); withExtendedLifetime(broker) {} }
        let dir = agent.dir
        kill(agent.process.processIdentifier, SIGHUP)
        #expect(waitUntil(5) { agent.log.contains("reload: the configuration has not changed") }, "\(agent.log)")
        let binding = try String(contentsOfFile: dir + "/devices/env.yaml", encoding: .utf8)
        try binding.replacingOccurrences(of: "qos: 1", with: "qos: 7").write(toFile: dir + "/devices/env.yaml", atomically: true, encoding: .utf8)
        kill(agent.process.processIdentifier, SIGHUP)
        #expect(waitUntil(5) { agent.log.contains("SIGHUP: the configuration has 1 problem") }, "\(agent.log)")
        #expect(agent.log.contains("env.yaml:5:8: mqtt.qos"), "\(agent.log)")
        try binding.replacingOccurrences(of: "qos: 1", with: "qos: 0").write(toFile: dir + "/devices/env.yaml", atomically: true, encoding: .utf8)
        kill(agent.process.processIdentifier, SIGHUP)
        #expect(waitUntil(5) { agent.log.contains("reload: changed env") }, "\(agent.log)")
        #expect(waitUntil(5) { agent.log.components(separatedBy: "input connected").count > 2 }, "\(agent.log)")
        #expect(agent.process.isRunning)
        agent.terminate()
        #expect(agent.log.contains("spool drained"))
    }

    /// A second client taking the agent's input session (same client id) is named in the log,
    /// with the fix, rather than a bare "connection lost".
    @Test func aSessionTakeOverIsNamed() throws {
        let broker = Broker()
        broker.start()
        let dir = scratchDir("takeover")
        AgentProcess.writeConfig(dir: dir, inputPort: broker.port, upstreamPort: broker.port)
        let agent = AgentProcess(dir: dir)
        try agent.start()
        #expect(waitUntil(5) { agent.log.contains("input connected") })
        let thief = try MQTTClient(.init(host: "127.0.0.1", port: broker.port, clientId: "dewpoint-test-in-\(broker.port)", cleanSession: false,
                                         protocolVersion: 5))
        thief.start()
        // mosquitto 2.0 closes the old connection without a DISCONNECT reason: the agent sees the
        // session taken back and forth, and names the likely cause after three short connections
        #expect(waitUntil(10) { agent.log.contains("another client with client id dewpoint-test-in-\(broker.port)") }, "\(agent.log)")
        thief.stop()
        agent.terminate()
    }
}
