import DewpointCore

/// Generates realistic readings for the example devices in `devices/`, with injected faults:
/// spikes, a slow drift, a stuck sensor, a dropout, and a pump whose channels stay in their
/// ranges while their relation breaks. Deterministic for a given seed, so a
/// simulated recording replays the same way every time.
///
/// Messages are produced in time order as (arrival ms, topic, payload bytes).
public struct SensorSimulator {
    public struct Message {
        public var tsMs: Int64
        public var topic: String
        public var payload: [UInt8]
        /// True when the payload is binary (recordings then use `payload_b64`).
        public var binary: Bool
    }

    public var startMs: Int64
    /// Messages per second per device.
    public var rateHz: Double
    /// How much faster than real time the fault schedule runs (the demo uses 20, so a fault due
    /// at minute 10 shows after 30 s).
    public var faultSpeed: Double
    private var rng: SplitMix64
    private var tick: Int64 = 0

    public init(startMs: Int64, rateHz: Double = 1, seed: UInt64 = 1, faultSpeed: Double = 1) {
        self.startMs = startMs
        self.rateHz = rateHz
        self.rng = SplitMix64(seed: seed)
        self.faultSpeed = faultSpeed
    }

    private mutating func uniform() -> Double { rng.unit() }

    private mutating func gauss() -> Double {
        let u = max(uniform(), 1e-12), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// The messages of the next tick (one per device, fewer during a dropout).
    public mutating func next() -> [Message] {
        let t = tick
        tick += 1
        let ms = startMs + Int64((Double(t) * 1000 / rateHz).rounded())
        let hours = Double(t) / rateHz / 3600
        var out: [Message] = []

        // Boiler room: daily temperature cycle, humidity, pressure, battery slowly draining.
        // Faults: a spike every ~17 minutes; from minute 10 to 12 the battery channel dips.
        var temp = 21 + 3 * sin(2 * Double.pi * hours / 24) + 0.1 * gauss()
        let faultSec = Double(t) / rateHz * faultSpeed
        let phase = (faultSec - 600).truncatingRemainder(dividingBy: 1017)
        if faultSec >= 600 && phase < faultSpeed / rateHz { temp = 68 + uniform() * 5 }
        let rh = 45 + 5 * sin(2 * Double.pi * hours / 24 + 1) + 0.3 * gauss()
        let p = 1013 + 0.2 * gauss()
        let minute = faultSec / 60
        let mv = minute >= 10 && minute < 12 ? 2600 + 10 * gauss() : 3050 - hours * 2 + 2 * gauss()
        out.append(Message(tsMs: ms, topic: "sensors/boiler-room/env",
                           payload: Array(#"{"ts":\#(ms),"temp":\#(r(temp, 2)),"rh":\#(r(rh, 1)),"p":\#(r(p, 1)),"batt":{"mv":\#(Int(mv))}}"#.utf8),
                           binary: false))

        // Chiller: registers with the return temperature drifting up 0.5 degC per minute after
        // minute 5; the current sensor gets stuck from minute 20; a dropout from minute 30 to 31.
        if !(minute >= 30 && minute < 31) {
            let supply = 7 + 0.05 * gauss()
            let ret = 12 + max(0, minute - 5) * 0.5 + 0.05 * gauss()
            let current = minute >= 20 ? 42.0 : 40 + 4 * uniform()
            let pressure = 8.5 + 0.02 * gauss()
            var regs: [UInt8] = []
            for f in [Float(supply), Float(ret)] {
                let b = f.bitPattern  // CDAB word order
                regs += [UInt8((b >> 8) & 0xFF), UInt8(b & 0xFF), UInt8(b >> 24), UInt8((b >> 16) & 0xFF)]
            }
            let cur = UInt16(current * 10), pr = Int16(pressure * 100)
            regs += [UInt8(cur >> 8), UInt8(cur & 0xFF), UInt8(UInt16(bitPattern: pr) >> 8), UInt8(UInt16(bitPattern: pr) & 0xFF)]
            let hoursRun = UInt32(12_000 + t / Int64(3600 * rateHz))
            regs += [UInt8(hoursRun >> 24), UInt8((hoursRun >> 16) & 0xFF), UInt8((hoursRun >> 8) & 0xFF), UInt8(hoursRun & 0xFF)]
            out.append(Message(tsMs: ms, topic: "plant/chiller-1/registers", payload: regs, binary: true))
        }
        // Pump skid: the demand (pump speed, as a fraction) moves with the downstream valves, and
        // flow, discharge pressure, motor current and vibration follow it (affinity laws: flow ∝
        // speed, pressure ∝ speed², power ∝ speed³). From minute 24 to 34 the suction strainer
        // clogs: flow falls to 85% for the same speed and current, while the demand stays above
        // 0.72. Every value stays inside the range it covers in normal running; only the
        // relation breaks.
        let clogged = minute >= 24 && minute < 34
        let speed = min(1.0, max(clogged ? 0.72 : 0.6, 0.8 + 0.07 * gauss()))
        let flow = 40 * speed * (clogged ? 0.85 : 1) + 0.25 * gauss()
        let pressure = 3.2 * speed * speed * (clogged ? 1.04 : 1) + 0.02 * gauss()
        let current = 2 + 9 * speed * speed * speed + 0.08 * gauss()
        let vibration = 1.1 + 0.6 * speed + 0.04 * gauss()
        out.append(Message(tsMs: ms, topic: "plant/pump-skid-1/state",
                           payload: Array(#"{"ts":\#(ms),"flow":\#(r(flow, 2)),"pressure":\#(r(pressure, 3)),"current":\#(r(current, 2)),"vibration":\#(r(vibration, 3))}"#.utf8),
                           binary: false))
        return out
    }

    private func r(_ v: Double, _ digits: Int) -> String {
        var m = 1.0
        for _ in 0..<digits { m *= 10 }
        return String((v * m).rounded() / m)
    }

    /// One recording line for `m` (see `docs/recordings.md`).
    public static func recordingLine(_ m: Message, into out: inout [UInt8]) {
        out.append(contentsOf: #"{"ts_ms":"#.utf8)
        JSONText.integer(m.tsMs, into: &out)
        out.append(contentsOf: #","topic":"#.utf8)
        JSONText.string(m.topic, into: &out)
        if m.binary {
            out.append(contentsOf: #","payload_b64":""#.utf8)
            Base64.encode(m.payload, into: &out)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: #","payload":"#.utf8)
            JSONText.string(String(decoding: m.payload, as: UTF8.self), into: &out)
        }
        out.append(contentsOf: "}\n".utf8)
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension Base64 {
    public static func encode(_ bytes: [UInt8], into out: inout [UInt8]) {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(v >> 18)], alphabet[Int((v >> 12) & 63)], alphabet[Int((v >> 6) & 63)], alphabet[Int(v & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let v = UInt32(bytes[i]) << 16
            out += [alphabet[Int(v >> 18)], alphabet[Int((v >> 12) & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(v >> 18)], alphabet[Int((v >> 12) & 63)], alphabet[Int((v >> 6) & 63)], UInt8(ascii: "=")]
        }
    }
}
