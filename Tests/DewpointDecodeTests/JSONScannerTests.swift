import Foundation
import Testing
@testable import DewpointDecode

private func scan(_ text: String, _ pointers: [String]) throws -> (JSONScanner, [UInt8]) {
    let s = JSONScanner(pointers: try pointers.map { try JSONPointer($0) })
    let bytes = Array(text.utf8)
    try bytes.withUnsafeBytes { try s.scan($0) }
    return (s, bytes)
}

private func number(_ s: JSONScanner, _ b: [UInt8], _ slot: Int) -> Double? {
    let v = s.values[slot]
    guard v.kind == .number else { return nil }
    return b.withUnsafeBytes { NumberParser.parseDouble(UnsafeRawBufferPointer(rebasing: $0[v.start..<v.end])) }
}

@Suite struct JSONScannerTests {
    @Test func picksPointersWithoutConfusingSiblings() throws {
        let doc = #"{"a":{"t":1,"x":[10,20,{"v":30}]},"t":2.5,"b":{"t":3},"s":"x\"y","e":-1.5e3}"#
        let (s, b) = try scan(doc, ["/t", "/a/t", "/a/x/1", "/a/x/2/v", "/b/t", "/missing", "/e", "/a/x/3"])
        #expect(number(s, b, 0) == 2.5)
        #expect(number(s, b, 1) == 1)
        #expect(number(s, b, 2) == 20)
        #expect(number(s, b, 3) == 30)
        #expect(number(s, b, 4) == 3)
        #expect(s.values[5].kind == .missing)
        #expect(number(s, b, 6) == -1500)
        #expect(s.values[7].kind == .missing)
    }

    @Test func keysWithEscapesAndPointerEscapes() throws {
        let doc = #"{"a\/b":1,"m~n":2,"\u0074emp":3,"x/y":4}"#
        let (s, b) = try scan(doc, ["/a~1b", "/m~0n", "/temp", "/x~1y"])
        #expect(number(s, b, 0) == 1)
        #expect(number(s, b, 1) == 2)
        #expect(number(s, b, 2) == 3)
        #expect(number(s, b, 3) == 4)
    }

    @Test func reportsByteOffsetOfError() {
        let s = JSONScanner(pointers: [])
        let bytes = Array(#"{"a": 1,, "b": 2}"#.utf8)
        do {
            try bytes.withUnsafeBytes { try s.scan($0) }
            Issue.record("accepted invalid JSON")
        } catch let e as JSONError {
            #expect(e.offset == 8)
            #expect(e.description.contains("expected a string key"))
        } catch { Issue.record("\(error)") }
    }

    @Test(arguments: [
        "", " ", "{", "[1,]", "[01]", "[1.]", "[.5]", "[-]", "[1e]", "{\"a\" 1}", "{\"a\":1,}", "[\"\\x\"]",
        "[\"a\u{01}\"]", "nul", "[true false]", "[1] [2]", "{1:2}", "[\"\\u12G4\"]", "[NaN]", "[Infinity]", "[+1]",
        "\u{FEFF}{}",
    ])
    func rejectsInvalid(_ text: String) {
        let s = JSONScanner(pointers: [])
        let bytes = Array(text.utf8)
        #expect(throws: JSONError.self) { try bytes.withUnsafeBytes { try s.scan($0) } }
    }

    @Test func rejectsInvalidUTF8AndSurvivesDeepNesting() {
        let s = JSONScanner(pointers: [try! JSONPointer("/a")])
        for bad: [UInt8] in [[0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], [0x22, 0xE2, 0x82, 0x22]] {
            #expect(throws: JSONError.self) { try bad.withUnsafeBytes { try s.scan($0) } }
        }
        let deep = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        #expect(throws: JSONError.self) { try deep.withUnsafeBytes { try s.scan($0) } }
        let ok = Array(String(repeating: "[", count: 500).utf8) + Array(String(repeating: "]", count: 500).utf8)
        #expect(throws: Never.self) { try ok.withUnsafeBytes { try s.scan($0) } }
    }

    static let suiteDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/data/JSONTestSuite/test_parsing").standardized
    static var suitePresent: Bool { FileManager.default.fileExists(atPath: suiteDir.path) }

    /// Every `y_` file of JSONTestSuite is accepted, every `n_` file rejected, and no file crashes.
    @Test(.enabled(if: suitePresent, "JSONTestSuite is absent: it is read from ../shared/data/JSONTestSuite beside the checkout"))
    func jsonTestSuiteConformance() throws {
        let dir = Self.suiteDir
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        let s = JSONScanner(pointers: [try JSONPointer("/0"), try JSONPointer("/a")])
        var checked = 0
        for f in files.sorted() where f.hasSuffix(".json") {
            let data = try [UInt8](Data(contentsOf: dir.appendingPathComponent(f)))
            let accepted = (try? data.withUnsafeBytes { try s.scan($0) }) != nil
            if f.hasPrefix("y_") { #expect(accepted, "\(f) must be accepted") }
            if f.hasPrefix("n_") { #expect(!accepted, "\(f) must be rejected") }
            checked += 1
        }
        #expect(checked > 300)
    }
}

@Suite struct NumberParserTests {
    @Test(arguments: [
        ("0", 0.0), ("-0", -0.0), ("1", 1), ("21.5", 21.5), ("-273.15", -273.15), ("1e3", 1000), ("1E-3", 0.001),
        ("123456789012345678901234567890", 123456789012345678901234567890.0), ("0.1", 0.1), ("3.14159265358979", 3.14159265358979),
        ("1.7976931348623157e308", 1.7976931348623157e308), ("5e-324", Double.leastNonzeroMagnitude), ("+7", 7), (" 42 ", 42),
        ("0.000001234", 0.000001234), ("9007199254740993", 9007199254740993.0),
    ])
    func parsesLikeTheStandardLibrary(_ text: String, _ expected: Double) {
        let got = Array(text.utf8).withUnsafeBytes { NumberParser.parseDouble($0) }
        #expect(got == expected)
        #expect(got?.sign == expected.sign)
    }

    @Test func randomDecimalsRoundTripExactly() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let v = Double.random(in: -1e6...1e6, using: &rng)
            for text in [v.description, String(format: "%.3f", v), String(format: "%.9e", v)] {
                let got = Array(text.utf8).withUnsafeBytes { NumberParser.parseDouble($0) }
                #expect(got == Double(text), "\(text)")
            }
        }
    }

    @Test(arguments: ["", "-", "1.2.3", "abc", "1e", ".", "1x"])
    func rejectsNonNumbers(_ text: String) {
        #expect(Array(text.utf8).withUnsafeBytes { NumberParser.parseDouble($0) } == nil)
    }
}

@Suite struct TimeParserTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2025-11-24T12:00:00.250Z", Int64(1_763_985_600_250_000_000)),
        ("2025-11-24T13:00:00.250+01:00", Int64(1_763_985_600_250_000_000)),
        ("2025-11-24 12:00:00", Int64(1_763_985_600_000_000_000)),
        ("2014-04-01 00:00:00", Int64(1_396_310_400_000_000_000)),
        ("2000-02-29T00:00:00Z", Int64(951_782_400_000_000_000)),
        ("1969-12-31T23:59:59.5Z", Int64(-500_000_000)),
    ])
    func parses(_ text: String, _ ns: Int64) {
        #expect(Array(text.utf8).withUnsafeBytes { TimeParser.parseISO8601($0) } == ns)
    }

    @Test(arguments: ["2025-13-01T00:00:00Z", "2025-02-30", "2025-11-24T25:00:00Z", "2025-11-24T12:00:00X", "yesterday", "2025-11-24T12",
                      "0171-01-07", "9999-12-31T23:59:59Z"])  // found by FuzzCSV: outside Int64 nanoseconds
    func rejects(_ text: String) {
        #expect(Array(text.utf8).withUnsafeBytes { TimeParser.parseISO8601($0) } == nil)
    }

    @Test func formatsRFC3339() {
        #expect(TimeParser.formatRFC3339(ns: 1_763_985_600_250_000_000) == "2025-11-24T12:00:00.250Z")
        #expect(TimeParser.formatRFC3339(ns: -500_000_000) == "1969-12-31T23:59:59.500Z")
    }
}

@Suite struct CSVSplitterTests {
    @Test func splitsQuotedFields() throws {
        var s = CSVSplitter()
        let line = Array(#"WX,"a,b",4.2,,"say ""hi""",7"#.utf8) + [0x0D]
        try line.withUnsafeBytes { try s.split($0) }
        let fields = s.fields.map { String(decoding: line[$0], as: UTF8.self) }
        #expect(fields == ["WX", "a,b", "4.2", "", #"say ""hi"""#, "7"])
        #expect(s.quoted == [false, true, false, false, true, false])
    }

    @Test func reportsUnterminatedQuote() {
        var s = CSVSplitter()
        let line = Array(#"1,"abc"#.utf8)
        #expect(throws: CSVSplitter.SplitError.unterminatedQuote(offset: 2)) { try line.withUnsafeBytes { try s.split($0) } }
    }

    @Test func trailingSeparatorGivesEmptyField() throws {
        var s = CSVSplitter(separator: UInt8(ascii: ";"))
        let line = Array("1;2;".utf8)
        try line.withUnsafeBytes { try s.split($0) }
        #expect(s.fields.count == 3)
        #expect(s.fields[2].isEmpty)
    }
}
