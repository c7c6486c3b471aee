import Testing
@testable import DewpointCore
@testable import DewpointDecode

private func decode(_ decoder: DecoderSpec, _ channels: [ChannelSpec], _ text: String, arrival: Int64 = 5) throws(DecodeError) -> (Int64, [Float]) {
    let b = BindingSpec(name: "d", transport: .file, decoder: decoder, channels: channels)
    let d = try FrameDecoder(binding: b)
    var values = [Float](repeating: 0, count: channels.count)
    let bytes = Array(text.utf8)
    var ts: Int64 = 0
    var err: DecodeError? = nil
    bytes.withUnsafeBytes { p in
        values.withUnsafeMutableBufferPointer { v in
            do throws(DecodeError) { ts = try d.decode(p, arrivalNs: arrival, into: v) } catch { err = error }
        }
    }
    if let err { throw err }
    return (ts, values)
}

/// The line protocol decoder against a table written from the InfluxDB line protocol spec.
@Suite struct LineProtocolTests {
    static let lp = DecoderSpec.lineProtocol(precision: .epochNs)

    @Test(arguments: [
        // (line, field, expected value, expected timestamp ns or nil)
        ("cpu value=1.5", "value", 1.5, nil),
        ("cpu,host=a value=2 1465839830100400200", "value", 2.0, 1_465_839_830_100_400_200),
        ("cpu value=12i", "value", 12.0, nil),
        ("cpu value=-12i", "value", -12.0, nil),
        ("cpu value=12u", "value", 12.0, nil),
        ("cpu value=1e3", "value", 1000.0, nil),
        ("cpu value=t", "value", 1.0, nil),
        ("cpu value=FALSE", "value", 0.0, nil),
        ("cpu value=True", "value", 1.0, nil),
        (#"cpu\,x value=3"#, "value", 3.0, nil),                      // escaped comma in measurement
        (#"cpu\ load value=4"#, "value", 4.0, nil),                  // escaped space in measurement
        (#"cpu,ta\ g=v\,1\=x value=5"#, "value", 5.0, nil),          // escapes in tag key and value
        (#"cpu field\ key=6"#, "field key", 6.0, nil),               // escaped space in field key
        (#"cpu field\,key=7"#, "field,key", 7.0, nil),               // escaped comma in field key
        (#"cpu field\=key=8"#, "field=key", 8.0, nil),               // escaped equals in field key
        (#"cpu s="a,b c=\"d\"",value=9"#, "value", 9.0, nil),        // string with separators and quotes
        (#"cpu s="back\\slash",value=10"#, "value", 10.0, nil),
        ("cpu a=1,b=2,value=11 -1", "value", 11.0, -1),              // negative timestamp
        ("cpu value=12\r", "value", 12.0, nil),                      // CRLF line end
        ("cpu other=1", "value", Double.nan, nil),                   // absent field: missing, not an error
    ] as [(String, String, Double, Int64?)])
    func parses(_ line: String, _ field: String, _ expected: Double, _ ts: Int64?) throws {
        let (t, v) = try decode(Self.lp, [ChannelSpec(name: "x", locator: .key(field))], line)
        if expected.isNaN { #expect(v[0].isNaN) } else { #expect(v[0] == Float(expected), "\(line)") }
        #expect(t == (ts ?? 5))
    }

    @Test(arguments: [
        ("", 0), ("cpu", 3), ("cpu ", 4), ("cpu value", 9), ("cpu value=", 10), ("cpu value=abc", 10),
        (#"cpu s="unterminated"#, 6), ("cpu value=1 12x", 12), ("cpu value=1,", 12), (",tag=a value=1", 0),
        ("cpu,tag value=1", 7), ("cpu,tag= value=1", 8), ("cpu value=1  2", 12),
    ] as [(String, Int)])
    func rejectsWithOffset(_ line: String, _ offset: Int) {
        do {
            _ = try decode(Self.lp, [ChannelSpec(name: "x", locator: .key("value"))], line)
            Issue.record("accepted: \(line)")
        } catch {
            #expect(error.offset == offset, "\(line): \(error)")
        }
    }

    @Test func stringFieldIsNotANumber() {
        #expect(throws: DecodeError.self) { try decode(Self.lp, [ChannelSpec(name: "x", locator: .key("s"))], #"cpu s="hi""#) }
    }

    @Test func precisionScalesTheTimestamp() throws {
        let (t, _) = try decode(.lineProtocol(precision: .epochMs), [ChannelSpec(name: "x", locator: .key("v"))], "m v=1 1764000000123")
        #expect(t == 1_764_000_000_123_000_000)
    }
}

@Suite struct KeyValueTests {
    @Test func defaultSpaceSeparatedPairs() throws {
        let (_, v) = try decode(.keyValue(pairSeparator: 0x20, kvSeparator: UInt8(ascii: "=")),
                                [ChannelSpec(name: "t", locator: .key("temp")), ChannelSpec(name: "h", locator: .key("hum")),
                                 ChannelSpec(name: "p", locator: .key("p"))],
                                "temp=21.5  hum=\"40\" id=abc")
        #expect(v[0] == 21.5 && v[1] == 40 && v[2].isNaN)
    }

    @Test func colonAndSemicolon() throws {
        let (_, v) = try decode(.keyValue(pairSeparator: UInt8(ascii: ";"), kvSeparator: UInt8(ascii: ":")),
                                [ChannelSpec(name: "t", locator: .key("temp"))], " temp : -3.25 ;x:1")
        #expect(v[0] == -3.25)
    }

    @Test func malformedPairAndNonNumber() {
        let kv = DecoderSpec.keyValue(pairSeparator: 0x20, kvSeparator: UInt8(ascii: "="))
        #expect(throws: DecodeError.self) { try decode(kv, [ChannelSpec(name: "t", locator: .key("temp"))], "temp 21") }
        #expect(throws: DecodeError.self) { try decode(kv, [ChannelSpec(name: "t", locator: .key("temp"))], "temp=warm") }
    }
}

@Suite struct NMEATests {
    let gga = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
    let rmc = "$GPRMC,123519,A,4807.038,N,01131.000,W,022.4,084.4,230394,003.1,W*78"

    @Test func ggaAndRmcFields() throws {
        let chans = [ChannelSpec(name: "lat", locator: .nmea(.latitude)), ChannelSpec(name: "lon", locator: .nmea(.longitude)),
                     ChannelSpec(name: "alt", locator: .nmea(.altitude)), ChannelSpec(name: "sats", locator: .nmea(.satellites)),
                     ChannelSpec(name: "speed", locator: .nmea(.speedKnots)), ChannelSpec(name: "f9", locator: .nmea(.index(9)))]
        let nmea = DecoderSpec.nmea(sentence: nil, requireChecksum: true)
        let (_, g) = try decode(nmea, chans, gga)
        #expect(abs(g[0] - 48.1173) < 1e-4 && abs(g[1] - 11.516667) < 1e-4)
        #expect(g[2] == 545.4 && g[3] == 8 && g[4].isNaN && g[5] == 545.4)
        let (_, r) = try decode(nmea, chans, rmc)
        #expect(abs(r[1] + 11.516667) < 1e-4)  // west is negative
        #expect(r[4] == 22.4 && r[2].isNaN)
    }

    @Test func checksumIsVerified() {
        let nmea = DecoderSpec.nmea(sentence: nil, requireChecksum: true)
        let bad = String(gga.dropLast(2)) + "48"
        do { _ = try decode(nmea, [ChannelSpec(name: "a", locator: .nmea(.altitude))], bad); Issue.record("bad checksum accepted") } catch {
            #expect(error.message.contains("checksum mismatch") && !error.ignorable)
        }
        let noSum = String(gga.dropLast(3))
        #expect(throws: DecodeError.self) { try decode(nmea, [ChannelSpec(name: "a", locator: .nmea(.altitude))], noSum) }
        #expect(throws: Never.self) { try decode(.nmea(sentence: nil, requireChecksum: false), [ChannelSpec(name: "a", locator: .nmea(.altitude))], noSum) }
    }

    @Test func otherSentencesAreIgnorable() {
        do { _ = try decode(.nmea(sentence: "GGA", requireChecksum: true), [ChannelSpec(name: "a", locator: .nmea(.altitude))], rmc); Issue.record("RMC accepted") } catch {
            #expect(error.ignorable)
        }
    }
}

@Suite struct TimePatternTests {
    @Test(arguments: [
        ("%d/%m/%Y %H:%M:%S", "24/11/2025 12:00:00", Int64(1_763_985_600_000_000_000)),
        ("%Y%m%dT%H%M%S.%f%z", "20251124T130000.25+0100", Int64(1_763_985_600_250_000_000)),
        ("%y-%m-%d %H:%M", "25-11-24 12:00", Int64(1_763_985_600_000_000_000)),
        ("[%Y-%m-%d %H:%M:%S%z] 100%%", "[2025-11-24 12:00:00Z] 100%", Int64(1_763_985_600_000_000_000)),
    ])
    func parses(_ pattern: String, _ text: String, _ ns: Int64) {
        #expect(Array(text.utf8).withUnsafeBytes { TimeParser.parse($0, pattern: Array(pattern.utf8)) } == ns)
    }

    @Test(arguments: [("%d/%m/%Y", "24-11-2025"), ("%d/%m/%Y", "31/02/2025"), ("%H:%M", "25:00"), ("%Y", "2025x"), ("%q", "1")])
    func rejects(_ pattern: String, _ text: String) {
        #expect(Array(text.utf8).withUnsafeBytes { TimeParser.parse($0, pattern: Array(pattern.utf8)) } == nil)
    }
}
