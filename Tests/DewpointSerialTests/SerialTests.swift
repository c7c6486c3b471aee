import DewpointCore
import DewpointDecode
import Foundation
import Testing
@testable import DewpointSerial

/// A pseudo-terminal: the test writes to the master side, the agent opens the slave path.
final class PTY {
    let pty: PseudoTerminal
    var slavePath: String { pty.slavePath }

    init() throws { pty = try PseudoTerminal() }

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { try? pty.write($0) }
    }

    /// Writes at a simulated line rate (10 bits per byte).
    func write(_ bytes: [UInt8], baud: Int) {
        let chunk = max(1, baud / 10 / 100)  // 10 ms worth
        var i = 0
        while i < bytes.count {
            write(Array(bytes[i..<min(bytes.count, i + chunk)]))
            i += chunk
            usleep(10_000)
        }
    }

    func close() { pty.close() }
}

final class FrameLog: @unchecked Sendable {
    private let lock = NSLock()
    private var frames: [String] = []
    func add(_ f: UnsafeRawBufferPointer) { let s = String(decoding: f, as: UTF8.self); lock.withLock { frames.append(s) } }
    var all: [String] { lock.withLock { frames } }
}

func wait(_ seconds: Double, _ cond: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end { if cond() { return true }; usleep(10_000) }
    return cond()
}

func nmea(_ body: String) -> String {
    let x = body.utf8.reduce(UInt8(0), ^)
    return "$\(body)*" + String(x, radix: 16, uppercase: true).leftPad(2)
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

@Suite(.serialized) struct SerialLinkTests {
    /// Linux ptys keep 8 data bits and no parity whatever is asked; every combination a pty
    /// accepts must read back exactly, and every other one must be refused by the verification
    /// (never silently run with other settings).
    @Test func settingsReadBackForEveryCombinationAPtyAccepts() throws {
        let pty = try PTY()
        defer { pty.close() }
        var accepted: [String] = []
        var refused = 0
        for bits in 5...8 {
            for parity in SerialSpec.Parity.allCases {
                for stop in 1...2 {
                    for baud in [9600, 115_200, 250_000] {  // 250000: a custom rate through termios2
                        let spec = SerialSpec(port: pty.slavePath, baud: baud, dataBits: bits, parity: parity, stopBits: stop)
                        do {
                            let port = try SerialPort(spec)
                            #expect(try port.settings() == SerialSettings(spec))
                            port.close()
                            accepted.append(SerialSettings(spec).description)
                        } catch {
                            #expect(error.description.contains("verify settings: asked for \(SerialSettings(spec))"), "\(error)")
                            refused += 1
                        }
                    }
                }
            }
        }
        #expect(refused > 0, "a pty refuses some combinations; the test must see the refusal path")
        #expect(accepted.contains("9600 8N1 flow none") && accepted.contains("250000 8N2 flow none") && accepted.contains("115200 8N1 flow none"))
    }

    @Test func aSecondOpenIsRefusedWhileLocked() throws {
        let pty = try PTY()
        defer { pty.close() }
        let first = try SerialPort(SerialSpec(port: pty.slavePath))
        do {
            _ = try SerialPort(SerialSpec(port: pty.slavePath))
            Issue.record("two opens of one port")
        } catch {
            #expect(error.description.contains("busy") || error.description.contains("in use"), "\(error)")
        }
        first.close()
        #expect(throws: Never.self) { try SerialPort(SerialSpec(port: pty.slavePath)).close() }
    }

    @Test func linesAt115200GarbageAndChecksumFailures() throws {
        let pty = try PTY()
        defer { pty.close() }
        let got = FrameLog()
        let link = SerialLink(spec: SerialSpec(port: pty.slavePath, baud: 115_200),
                              framing: .line(maxLength: 128, start: UInt8(ascii: "$"), checksum: .nmea)) { f, _ in got.add(f) }
        link.start()
        #expect(wait(2) { link.state == .open })
        var stream: [UInt8] = []
        var expected: [String] = []
        for i in 0..<200 {
            let s = nmea("WIXDR,C,\(20 + Double(i % 50) / 10),C,T\(i)")
            if i % 20 == 7 {
                stream += Array((s.dropLast(2) + "00").utf8) + [0x0D, 0x0A]  // corrupt checksum
            } else {
                expected.append(s)
                stream += Array(s.utf8) + [0x0D, 0x0A]
            }
            if i % 25 == 3 { stream += [0xFF, 0x00, 0x13, 0x37] }  // line noise between frames
        }
        pty.write(stream, baud: 115_200)
        #expect(wait(3) { got.all.count == expected.count })
        link.stop()
        #expect(got.all == expected.map { String($0.dropLast(3)) })  // "*hh" checked and stripped
        let c = link.framing
        #expect(c.corrupt == 10)
        #expect(c.garbageBytes == 8 * 4)
    }

    @Test func unplugAndReplugAtTheSamePathReconnectsWithinTwoSeconds() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dewpoint-serial-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let link = dir.appendingPathComponent("by-id-usb-sensor").path
        var pty = try PTY()
        try? FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: pty.slavePath)
        let got = FrameLog()
        let serial = SerialLink(spec: SerialSpec(port: link, baud: 9600), framing: .line(maxLength: 64)) { f, _ in got.add(f) }
        serial.start()
        #expect(wait(2) { serial.state == .open })
        pty.write(Array("a,1\n".utf8))
        #expect(wait(2) { got.all == ["a,1"] })

        pty.close()  // unplug
        #expect(wait(2) { serial.hangups == 1 })
        pty = try PTY()  // plug in again: a new device node behind the same path
        try FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: pty.slavePath)
        let replugged = Date()
        #expect(wait(3) { serial.returns == 1 && serial.state == .open })
        #expect(Date().timeIntervalSince(replugged) < 2.0)
        pty.write(Array("b,2\n".utf8))
        #expect(wait(2) { got.all == ["a,1", "b,2"] })
        serial.stop()
        pty.close()
    }
}

@Suite struct SerialLinkStateMachineTests {
    @Test func backsOffAndCountsReturns() {
        var m = SerialLinkStateMachine()
        #expect(m.start() == .open)
        #expect(m.openFailed(nowNs: 0) == .closeAndWait(untilNs: 100_000_000))
        #expect(m.tick(nowNs: 99_999_999) == .none)
        #expect(m.tick(nowNs: 100_000_000) == .open)
        #expect(m.openFailed(nowNs: 100_000_000) == .closeAndWait(untilNs: 300_000_000))
        for _ in 0..<10 {
            guard case .backoff(let u) = m.state else { Issue.record("expected backoff, found \(m.state)"); return }
            _ = m.tick(nowNs: u)
            _ = m.openFailed(nowNs: u)
        }
        #expect(m.delayNs == 2_000_000_000)  // capped: a returning device is seen within 2 s
        guard case .backoff(let u) = m.state else { Issue.record("expected backoff, found \(m.state)"); return }
        _ = m.tick(nowNs: u)
        _ = m.opened()
        #expect(m.state == .open && m.failures == 0 && m.returns == 0)
        #expect(m.hangup(nowNs: 0) == .closeAndWait(untilNs: 100_000_000))
        _ = m.tick(nowNs: 100_000_000)
        _ = m.opened()
        #expect(m.returns == 1 && m.hangups == 1)
    }
}

@Suite(.serialized) struct SerialRecordingTests {
    static var binary: String {
        ProcessInfo.processInfo.environment["DEWPOINT_BIN"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug/dewpoint").standardized.path
    }

    /// `dewpoint record --serial` on a pty, then `dewpoint replay` of the recording through the
    /// binding's framer and decoder: every line decodes, noise and a bad checksum are counted.
    @Test func recordThenReplay() throws {
        let pty = try PTY()
        defer { pty.close() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dewpoint-rec-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir + "/devices", withIntermediateDirectories: true)
        try "agent: gw-rec\ndevices: devices\n".write(toFile: dir + "/dewpoint.yaml", atomically: true, encoding: .utf8)
        try """
        device: mast
        transport: serial
        serial: {port: \(pty.slavePath), baud: 115200}
        framing: {kind: line, start: "$", checksum: nmea}
        decoder: csv
        channels: [{name: wind, unit: m/s, column: 1}]
        window: {length: 1h, lateness: 0ms}
        """.write(toFile: dir + "/devices/mast.yaml", atomically: true, encoding: .utf8)
        let rec = Process()
        rec.executableURL = URL(fileURLWithPath: Self.binary)
        rec.arguments = ["record", "--serial", pty.slavePath, "--baud", "115200", "--output", dir + "/mast.dpsr", "--seconds", "4"]
        rec.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try rec.run()
        // write once the recorder has the port open (a fixed sleep lost the bytes on a busy machine)
        let opened = Date().addingTimeInterval(10)
        func hasPortOpen() -> Bool {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(rec.processIdentifier)/fd")) ?? []
            return fds.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(rec.processIdentifier)/fd/\($0)")) == pty.slavePath }
        }
        while !hasPortOpen() && Date() < opened { usleep(20_000) }
        #expect(hasPortOpen(), "the recorder did not open \(pty.slavePath) within 10 s")
        usleep(100_000)
        var stream: [UInt8] = []
        for i in 0..<50 { stream += Array(nmea("WX,\(i)").utf8) + [0x0D, 0x0A] }
        stream += [0xFF, 0xFE] + Array("$WX,1*00\r\n".utf8)
        pty.write(stream, baud: 115_200)
        rec.waitUntilExit()
        #expect(rec.terminationStatus == 0)

        let replay = Process()
        replay.executableURL = URL(fileURLWithPath: Self.binary)
        replay.arguments = ["replay", "--config", dir + "/dewpoint.yaml", "--input", dir + "/mast.dpsr", "--device", "mast"]
        let out = Pipe(), err = Pipe()
        replay.standardOutput = out
        replay.standardError = err
        try replay.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        replay.waitUntilExit()
        #expect(replay.terminationStatus == 0, "\(stderr)")
        #expect(stderr.contains("frames=50 corrupt=1 oversize=0 garbage_bytes=2"), "\(stderr)")
        let summary = try #require(stdout.split(separator: "\n").first)
        let o = try JSONSerialization.jsonObject(with: Data(summary.utf8)) as! [String: Any]
        let wind = (o["channels"] as! [String: [String: Any]])["wind"]!
        #expect(wind["n"] as! Int == 50 && wind["max"] as! Double == 49 && wind["mean"] as! Double == 24.5)
    }
}

/// Polling with a byte request: the framer's counters (frames, corrupt) reach `framing`, as they
/// do when the link only listens.
@Suite(.serialized) struct BytePollTests {
    @Test func bytePollRepliesAreCountedByTheFramer() throws {
        let pty = try PTY()
        defer { pty.close() }
        let lock = NSLock()
        nonisolated(unsafe) var stop = false
        nonisolated(unsafe) var answered = 0
        nonisolated(unsafe) let master = pty
        // a device that answers each "R\n" with an NMEA-checked line, every third one corrupt
        let device = OSThread(name: "byte-device") {
            var buf = [UInt8](repeating: 0, count: 64)
            while !lock.withLock({ stop }) {
                var p = pollfd(fd: master.pty.master, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 50) > 0 else { continue }
                let n = buf.withUnsafeMutableBytes { read(master.pty.master, $0.baseAddress, $0.count) }
                guard n > 0, buf[0..<n].contains(UInt8(ascii: "\n")) else { continue }
                let k = lock.withLock { () -> Int in answered += 1; return answered }
                master.write(Array((k % 3 == 0 ? "$T,21.5*00\r\n" : "$T,21.5*60\r\n").utf8))
            }
        }
        device.start()
        let spec = SerialSpec(port: pty.slavePath, baud: 9600,
                              poll: PollSpec(request: .bytes(Array("R\n".utf8)), intervalMs: 60, timeoutMs: 200))
        let got = NSLock()
        nonisolated(unsafe) var frames = 0
        let link = SerialLink(spec: spec, framing: .line(maxLength: 64, start: UInt8(ascii: "$"), checksum: .nmea)) { _, _ in
            got.withLock { frames += 1 }
        }
        link.start()
        #expect(wait(5) { link.framing.corrupt >= 1 && link.framing.frames >= 3 })
        link.stop()
        lock.withLock { stop = true }
        device.join()
        let c = link.framing
        #expect(c.frames == got.withLock { frames }, "\(c)")
        #expect(link.pollCounters.replies == c.frames)
    }
}

/// A Modbus RTU slave on the master side of a pty, written for the tests: answers reads of
/// holding registers, with a scripted fault for some requests.
final class ModbusSlave: @unchecked Sendable {
    enum Fault { case none, badCRC, silent, exception, otherSlave }
    let pty: PTY
    let registers: [UInt16]
    let script: [Fault]
    private let lock = NSLock()
    private var served = 0
    private var stop = false
    private var thread: OSThread?

    init(pty: PTY, registers: [UInt16], script: [Fault]) {
        self.pty = pty; self.registers = registers; self.script = script
    }

    func start() {
        let t = OSThread(name: "modbus-slave") { [self] in
            var buf = [UInt8](repeating: 0, count: 256)
            var req: [UInt8] = []
            while !lock.withLock({ stop }) {
                var p = pollfd(fd: pty.pty.master, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 50) > 0 else { continue }
                let n = buf.withUnsafeMutableBytes { read(pty.pty.master, $0.baseAddress, $0.count) }
                guard n > 0 else { continue }
                req += buf[0..<n]
                while req.count >= 8 {
                    let frame = Array(req.prefix(8))
                    req.removeFirst(8)
                    let crc = frame.prefix(6).withUnsafeBytes { Checksum.crc16Modbus($0) }
                    guard frame[6] == UInt8(crc & 0xFF), frame[7] == UInt8(crc >> 8) else { continue }
                    let i = lock.withLock { () -> Int in served += 1; return served - 1 }
                    let fault = i < script.count ? script[i] : .none
                    let address = Int(frame[2]) << 8 | Int(frame[3]), count = Int(frame[4]) << 8 | Int(frame[5])
                    var reply: [UInt8]
                    switch fault {
                    case .silent: continue
                    case .exception: reply = [frame[0], frame[1] | 0x80, 2]
                    default:
                        reply = [fault == .otherSlave ? frame[0] + 1 : frame[0], frame[1], UInt8(count * 2)]
                        for r in address..<(address + count) { reply += [UInt8(registers[r] >> 8), UInt8(registers[r] & 0xFF)] }
                    }
                    let c = reply.withUnsafeBytes { Checksum.crc16Modbus($0) }
                    reply += [UInt8(c & 0xFF), UInt8(c >> 8) ^ (fault == .badCRC ? 0xFF : 0)]
                    pty.write(reply)
                }
            }
        }
        thread = t
        t.start()
    }

    func stopAndJoin() { lock.withLock { stop = true }; thread?.join() }
}

@Suite(.serialized) struct ModbusRTUTests {
    @Test func requestFrameAndReplyParsing() {
        #expect(ModbusRTU.request(slave: 1, function: 3, address: 0, count: 2) == [0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0B])
        #expect(ModbusRTU.interFrameGapNs(baud: 9600) == 4_010_416)
        #expect(ModbusRTU.interFrameGapNs(baud: 115_200) == 1_750_000)
        var good: [UInt8] = [1, 3, 4, 0x00, 0xD7, 0xFF, 0x6A]
        let c = good.withUnsafeBytes { Checksum.crc16Modbus($0) }
        good += [UInt8(c & 0xFF), UInt8(c >> 8)]
        #expect(good.withUnsafeBytes { ModbusRTU.parse($0, slave: 1, function: 3, count: 2) } == .data(3..<7))
        #expect(Array(good.prefix(6)).withUnsafeBytes { ModbusRTU.parse($0, slave: 1, function: 3, count: 2) } == .incomplete)
        var bad = good
        bad[8] ^= 1
        #expect(bad.withUnsafeBytes { ModbusRTU.parse($0, slave: 1, function: 3, count: 2) } == .crcError)
    }

    /// Polls a simulated slave: scaled register values decode through the binding's binary
    /// layout; CRC errors, timeouts, exceptions and replies from another slave are counted, not
    /// emitted.
    @Test func pollsASimulatedSlave() throws {
        let pty = try PTY()
        defer { pty.close() }
        // reg 0: temperature 21.5 (i16, 0.1 degC); reg 1-2: energy 123456 (u32); reg 3: flags
        let slave = ModbusSlave(pty: pty, registers: [215, 0x0001, 0xE240, 0b101],
                                script: [.none, .badCRC, .silent, .exception, .otherSlave, .none, .none])
        slave.start()
        let spec = SerialSpec(port: pty.slavePath, baud: 19_200,
                              poll: PollSpec(request: .modbus(slave: 1, function: 3, address: 0, count: 4), intervalMs: 150, timeoutMs: 100))
        let binding = BindingSpec(name: "meter", transport: .serial(spec), decoder: .binary, channels: [
            ChannelSpec(name: "temp", unit: "degC", locator: .binary(BinaryField(offset: 0, kind: .i16)), scale: 0.1),
            ChannelSpec(name: "energy", unit: "Wh", locator: .binary(BinaryField(offset: 2, kind: .u32))),
        ])
        // the decoder is used by the serial thread only
        nonisolated(unsafe) let decoder = try FrameDecoder(binding: binding)
        let lock = NSLock()
        nonisolated(unsafe) var decoded: [[Float]] = []
        let link = SerialLink(spec: spec, framing: .none) { frame, _ in
            var v = [Float](repeating: 0, count: 2)
            v.withUnsafeMutableBufferPointer { _ = try? decoder.decode(frame, arrivalNs: 0, into: $0) }
            lock.withLock { decoded.append(v) }
        }
        link.start()
        #expect(wait(5) { link.pollCounters.requests >= 7 && lock.withLock { decoded.count } >= 3 })
        link.stop()
        slave.stopAndJoin()
        let c = link.pollCounters
        #expect(c.crcErrors == 1 && c.timeouts == 1 && c.exceptions == 1 && c.mismatches == 1, "\(c)")
        #expect(c.replies == lock.withLock { decoded.count })
        for v in lock.withLock({ decoded }) { #expect(v == [Float(215 * 0.1), 123_456]) }
    }
}
