import ArgumentParser
import DewpointCore
import DewpointDecode
import FoundationEssentials

/// Decoder throughput on realistic payloads, with FoundationEssentials' JSONDecoder decoding the
/// same JSON into a struct as the baseline, measured in the same run.
struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-decode",
        abstract: "Measure every payload decoder: MB/s and messages/s, against JSONDecoder for JSON.")

    @Option(help: "Messages per measurement.") var messages = 300_000

    struct Case {
        var name: String
        var binding: BindingSpec
        var payloads: [[UInt8]]
    }

    static func cases() -> [Case] {
        var rng = SystemRandomNumberGenerator()
        func r(_ lo: Double, _ hi: Double) -> Double { (Double.random(in: lo..<hi, using: &rng) * 100).rounded() / 100 }
        let n = 1024
        let json4 = (0..<n).map { i in Array(#"{"ts":\#(1_764_000_000_000 + i),"temp":\#(r(15, 30)),"rh":\#(r(20, 80)),"p":\#(r(990, 1030)),"batt":{"mv":\#(3000 + i % 100)}}"#.utf8) }
        let filler = (0..<24).map { #""meta\#($0)":{"fw":"1.2.\#($0)","cal":[1,2,3,4],"note":"calibrated on site, serial A\#($0)"}"# }.joined(separator: ",")
        let jsonBig = (0..<n).map { i in Array(#"{\#(filler),"ts":\#(1_764_000_000_000 + i),"temp":\#(r(15, 30)),"rh":\#(r(20, 80)),"p":\#(r(990, 1030)),"batt":{"mv":3000}}"#.utf8) }
        let env: [ChannelSpec] = [.init(name: "temp", locator: .jsonPointer("/temp")), .init(name: "rh", locator: .jsonPointer("/rh")),
                                  .init(name: "p", locator: .jsonPointer("/p")), .init(name: "v", locator: .jsonPointer("/batt/mv"))]
        let jsonTs = TimestampSpec(source: .jsonPointer("/ts"), format: .epochMs)
        let csv = (0..<n).map { i in Array("WX,2025-11-24T12:\(String(format2: i % 60)):00Z,\(r(0, 20)),\(Int(r(0, 359))),\(r(990, 1030))".utf8) }
        let lp = (0..<n).map { i in Array("env,site=boiler\\ room,dev=a\(i % 8) temp=\(r(15, 30)),rh=\(r(20, 80)),p=\(r(990, 1030)),mv=\(3000 + i % 100)i 1764000000\(String(format2: i % 100))0000000".utf8) }
        let kv = (0..<n).map { i in Array("temp=\(r(15, 30)) rh=\(r(20, 80)) p=\(r(990, 1030)) mv=\(3000 + i % 100) fw=1.2.3".utf8) }
        let gga = (0..<n).map { i -> [UInt8] in
            let body = "GPGGA,1235\(String(format2: i % 60)),4807.0\(String(format2: i % 100)),N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"
            let x = body.utf8.reduce(UInt8(0)) { $0 ^ $1 }
            let hex = Array("0123456789ABCDEF".utf8)
            return Array("$\(body)*".utf8) + [hex[Int(x >> 4)], hex[Int(x & 15)]]
        }
        let modbus = (0..<n).map { i in (0..<16).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) } }
        let vib = (0..<n).map { i in (0..<516).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) } }
        let sep = UInt8(ascii: ","), quote = UInt8(ascii: "\"")
        return [
            Case(name: "json (4 of 5 fields, 100 B)", binding: BindingSpec(name: "j", transport: .file, decoder: .json, timestamp: jsonTs, channels: env), payloads: json4),
            Case(name: "json (4 fields in a 2.5 KB document)", binding: BindingSpec(name: "j", transport: .file, decoder: .json, timestamp: jsonTs, channels: env), payloads: jsonBig),
            Case(name: "csv (3 columns + RFC 3339 time)", binding: BindingSpec(name: "c", transport: .file, decoder: .csv(separator: sep, quote: quote),
                                                                       timestamp: TimestampSpec(source: .csvColumn(1), format: .rfc3339),
                                                                       channels: [.init(name: "a", locator: .csvColumn(2)), .init(name: "b", locator: .csvColumn(3)), .init(name: "c", locator: .csvColumn(4))]), payloads: csv),
            Case(name: "line protocol (4 fields, tags, ts)", binding: BindingSpec(name: "l", transport: .file, decoder: .lineProtocol(precision: .epochNs),
                                                                          channels: ["temp", "rh", "p", "mv"].map { .init(name: $0, locator: .key($0)) }), payloads: lp),
            Case(name: "key=value (4 of 5 pairs)", binding: BindingSpec(name: "k", transport: .file, decoder: .keyValue(pairSeparator: 0x20, kvSeparator: UInt8(ascii: "=")),
                                                                channels: ["temp", "rh", "p", "mv"].map { .init(name: $0, locator: .key($0)) }), payloads: kv),
            Case(name: "nmea GGA (checksum, lat/lon/alt)", binding: BindingSpec(name: "n", transport: .file, decoder: .nmea(sentence: "GGA", requireChecksum: true),
                                                                        channels: [.init(name: "lat", locator: .nmea(.latitude)), .init(name: "lon", locator: .nmea(.longitude)), .init(name: "alt", locator: .nmea(.altitude))]), payloads: gga),
            Case(name: "binary (Modbus block, 5 fields)", binding: BindingSpec(name: "m", transport: .file, decoder: .binary, channels: [
                .init(name: "a", locator: .binary(.init(offset: 0, kind: .f32, wordOrder: .cdab))), .init(name: "b", locator: .binary(.init(offset: 4, kind: .f32, wordOrder: .cdab))),
                .init(name: "c", locator: .binary(.init(offset: 8, kind: .u16))), .init(name: "d", locator: .binary(.init(offset: 10, kind: .i16))),
                .init(name: "e", locator: .binary(.init(offset: 12, kind: .u32)))]), payloads: modbus),
            Case(name: "binary (256 x i16 vibration block)", binding: BindingSpec(name: "v", transport: .file, decoder: .binary, channels: [
                .init(name: "t", locator: .binary(.init(offset: 2, kind: .i16))),
                .init(name: "a", locator: .binary(.init(offset: 4, kind: .i16, count: 256, sampleRateHz: 3200)))]), payloads: vib),
        ]
    }

    struct Env: Decodable {
        struct Batt: Decodable { var mv: Double }
        var ts: Int64, temp: Double, rh: Double, p: Double, batt: Batt
    }

    func run() throws {
        print("decoder                                   messages/s      MB/s   ns/message")
        var json4Rate = 0.0
        for c in Self.cases() {
            let d = try FrameDecoder(binding: c.binding)
            var values = [Float](repeating: 0, count: d.channelCount * d.maxRows)
            let bytes = c.payloads.reduce(0) { $0 + $1.count }
            var sink: Float = 0
            var errors = 0
            let t0 = Clock.monotonicNs()
            values.withUnsafeMutableBufferPointer { v in
                for i in 0..<messages {
                    c.payloads[i & 1023].withUnsafeBytes { p in
                        do { _ = try d.decodeRows(p, arrivalNs: 0, into: v); sink += v[0] } catch { errors += 1 }
                    }
                }
            }
            let secs = Double(Clock.monotonicNs() - t0) / 1e9
            let rate = Double(messages) / secs
            if c.name.hasPrefix("json (4 of 5") { json4Rate = rate }
            let mb = Double(bytes) / 1024 * Double(messages) / secs / 1e6
            print(pad(c.name, 40) + pad(String(Int(rate)), 13, left: true) + pad(String(Int(mb)), 10, left: true) + pad(String(Int(1e9 / rate)), 13, left: true)
                  + (errors > 0 ? "  (\(errors) errors)" : "") + (sink.isNaN ? " " : ""))
        }
        // serial path: framing (lines, start byte, NMEA checksum) and decoding, over a stream
        do {
            let gga = Self.cases()[5].payloads
            var stream: [UInt8] = []
            while stream.count < 8 << 20 { for p in gga { stream += p; stream += [0x0D, 0x0A] } }
            for (label, checksum) in [("serial: frame+decode NMEA lines", FrameChecksum.nmea), ("serial: frame+decode CSV lines", FrameChecksum.none)] {
                let binding = checksum == .nmea
                    ? BindingSpec(name: "n", transport: .file, framing: .line(maxLength: 128, start: UInt8(ascii: "$"), checksum: .nmea),
                                  decoder: .nmea(sentence: "GGA", requireChecksum: true),
                                  channels: [.init(name: "lat", locator: .nmea(.latitude)), .init(name: "lon", locator: .nmea(.longitude)), .init(name: "alt", locator: .nmea(.altitude))])
                    : BindingSpec(name: "c", transport: .file, framing: .line(maxLength: 128), decoder: .csv(separator: UInt8(ascii: ","), quote: UInt8(ascii: "\"")),
                                  channels: [.init(name: "a", locator: .csvColumn(2)), .init(name: "b", locator: .csvColumn(7)), .init(name: "c", locator: .csvColumn(9))])
                let framer = Framer(binding.framing)
                let d = try FrameDecoder(binding: binding)
                var values = [Float](repeating: 0, count: 3)
                var frames = 0
                let rounds = 6
                let t0 = Clock.monotonicNs()
                values.withUnsafeMutableBufferPointer { v in
                    for _ in 0..<rounds {
                        stream.withUnsafeBytes { s in
                            var off = 0
                            while off < s.count {  // 4 KiB reads, as from a serial port
                                let end = min(s.count, off + 4096)
                                framer.feed(UnsafeRawBufferPointer(rebasing: s[off..<end])) { f in
                                    if (try? d.decode(f, arrivalNs: 0, into: v)) != nil { frames += 1 }
                                }
                                off = end
                            }
                        }
                    }
                }
                let secs = Double(Clock.monotonicNs() - t0) / 1e9
                let mb = Double(stream.count * rounds) / secs / 1e6
                print(pad(label, 40) + pad(String(Int(Double(frames) / secs)), 13, left: true) + pad(String(Int(mb)), 10, left: true)
                      + pad(String(Int(secs * 1e9 / Double(max(1, frames)))), 13, left: true))
            }
        }
        // baseline: FoundationEssentials' JSONDecoder into a struct, same 100 B payloads
        let payloads = Self.cases()[0].payloads.map { Data($0) }
        let decoder = JSONDecoder()
        var acc = 0.0
        let n = messages / 4
        let t0 = Clock.monotonicNs()
        for i in 0..<n { if let e = try? decoder.decode(Env.self, from: payloads[i & 1023]) { acc += e.temp } }
        let rate = Double(n) / (Double(Clock.monotonicNs() - t0) / 1e9)
        print(pad("baseline: JSONDecoder into a struct", 40) + pad(String(Int(rate)), 13, left: true) + (acc.isNaN ? " " : ""))
        print("json field extraction is \(Int((json4Rate / rate).rounded()))x JSONDecoder on the same payloads")
    }

    func pad(_ s: String, _ w: Int, left: Bool = false) -> String {
        let p = String(repeating: " ", count: max(0, w - s.count))
        return left ? p + s : s + p
    }
}

extension String {
    init(format2 v: Int) { self = v < 10 ? "0\(v)" : String(v) }
}
