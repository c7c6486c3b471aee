import DewpointCore
import DewpointTestSupport
import Foundation
import Testing

/// `Tests/tools/homeassistant_check.py`: the real Home Assistant (PyPI), its MQTT integration
/// pointed at the test broker; `states()` reads its entities through its REST API.
final class HomeAssistant {
    let tool: PythonTool

    init(python: String, brokerPort: Int, dir: String) throws {
        tool = try PythonTool(python: python, script: "homeassistant_check.py",
                              arguments: ["--broker-port", "\(brokerPort)", "--http-port", "\(freePort())", "--config", dir + "/ha"],
                              out: dir + "/homeassistant.jsonl")
    }

    var ready: Bool { tool.lines.contains { $0["ready"] as? Bool == true } }
    var failure: String? { tool.lines.compactMap { $0["error"] as? String }.first }

    /// entity_id → (state, attributes), as Home Assistant holds them now.
    func states() -> [String: (state: String, attributes: [String: Any])] {
        let before = tool.lines.count
        tool.send("states")
        _ = waitUntil(10) { self.tool.lines.count > before }
        guard let last = tool.lines.last?["states"] as? [[String: Any]] else { return [:] }
        var out: [String: (String, [String: Any])] = [:]
        for s in last {
            if let id = s["entity_id"] as? String { out[id] = (s["state"] as? String ?? "", s["attributes"] as? [String: Any] ?? [:]) }
        }
        return out
    }

    func stop() { tool.stop(sending: "quit", seconds: 40) }
}

/// `upstream.discovery: homeassistant` against the real Home Assistant.
@Suite(.serialized) struct HomeAssistantTests {
    @Test func homeAssistantCreatesTheEntitiesFollowsThemAndRemovesThoseOfARemovedBinding() throws {
        guard let python = testPython(needing: "homeassistant") else {
            print("skipped: no Python with homeassistant (run `make testenv`, or `make test`)")
            return
        }
        let input = Broker(persistent: true)
        let upstream = Broker(persistent: true)
        input.start(); upstream.start()
        defer { input.stop(); upstream.stop() }
        let dir = scratchDir("homeassistant")
        AgentProcess.writeConfig(dir: dir, inputPort: input.port, upstreamPort: upstream.port,
                                 upstreamExtra: "  discovery: homeassistant\n",
                                 detectors: "    detectors: [{kind: threshold, below: 2}]")
        try "device: other\ntransport: mqtt\nmqtt: {topic: t/other, qos: 1}\ndecoder: json\nchannels: [{name: temp, unit: degC, pointer: /x}]\nwindow: {length: 1s, lateness: 200ms}\n"
            .write(toFile: dir + "/devices/other.yaml", atomically: true, encoding: .utf8)
        let ha = try HomeAssistant(python: python, brokerPort: upstream.port, dir: dir)
        defer { ha.stop() }
        #expect(waitUntil(120) { ha.ready || ha.failure != nil }, "Home Assistant did not start")
        #expect(ha.failure == nil, "\(ha.failure ?? "")")
        guard ha.ready else { return }

        let agent = AgentProcess(dir: dir)
        try agent.start()
        defer { agent.terminate() }
        #expect(waitUntil(10) { agent.log.contains("input connected") })
        let pub = try Publisher(port: input.port)
        defer { pub.stop() }
        var i: Int64 = 0
        func publish(seconds: Double) throws {
            let until = Date().addingTimeInterval(seconds)
            while Date() < until {
                i += 1
                try pub.send(ts: nowMs(), v: 1)
                try pub.sendRaw(#"{"ts":\#(nowMs()),"x":21.5}"#, topic: "t/other")
                usleep(20_000)
            }
        }
        try publish(seconds: 3.5)
        var st = ha.states()
        #expect(waitUntil(20) { st = ha.states(); return st["sensor.env_v"].flatMap { Double($0.state) } == 1 }, "entities: \(st.keys.sorted())\n\(agent.log)")
        let v = st["sensor.env_v"]
        #expect(v?.attributes["unit_of_measurement"] as? String == "V")
        #expect(v?.attributes["device_class"] as? String == "voltage")
        #expect(v?.attributes["state_class"] as? String == "measurement")
        #expect(st["sensor.other_temp"].flatMap { Double($0.state) } == 21.5)
        #expect(st["sensor.other_temp"]?.attributes["unit_of_measurement"] as? String == "°C")
        #expect(st["sensor.other_temp"]?.attributes["device_class"] as? String == "temperature")
        // the alert: v = 1 is below 2
        #expect(st["binary_sensor.env_v_threshold"]?.state == "on", "\(st["binary_sensor.env_v_threshold"].map { "\($0)" } ?? "none")")
        #expect(st["binary_sensor.env_v_threshold"]?.attributes["device_class"] as? String == "problem")
        // the gateway's own connectivity sensor
        #expect(st["binary_sensor.gw_test_status"]?.state == "on")

        // the binding `other` is removed at a reload: its entity goes
        try FileManager.default.removeItem(atPath: dir + "/devices/other.yaml")
        kill(agent.process.processIdentifier, SIGHUP)
        #expect(waitUntil(10) { agent.log.contains("reload: removed other") }, "\(agent.log)")
        #expect(waitUntil(20) { st = ha.states(); return st["sensor.other_temp"] == nil }, "sensor.other_temp is still there\n\(agent.log)")
        #expect(agent.log.contains("homeassistant: 1 entities of removed bindings"))
        try publish(seconds: 1.5)
        #expect(ha.states()["sensor.env_v"].flatMap { Double($0.state) } == 1, "the other entities stay")

        // a stop: the agent says it is offline, and its entities become unavailable
        agent.terminate()
        #expect(waitUntil(20) { st = ha.states(); return st["sensor.env_v"]?.state == "unavailable" }, "\(st["sensor.env_v"].map { "\($0)" } ?? "none")")
        #expect(st["binary_sensor.gw_test_status"]?.state == "off")
    }
}
