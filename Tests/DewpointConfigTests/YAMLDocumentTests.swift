import Testing
@testable import DewpointConfig

/// The YAML reader over libyaml: positions, the core schema for plain scalars, aliases, and the
/// errors a hand-written file can have.
@Suite struct YAMLDocumentTests {
    func root(_ text: String) throws -> Node.Mapping {
        let n = try #require(try YAMLDocument.compose(text))
        return try #require(n.mapping)
    }

    @Test func marksAreOneBasedAndPointAtTheValue() throws {
        let m = try root("a: 1\nlist:\n  - x\n  - {k: v}\n")
        #expect(m.mark == Node.Mark(line: 1, column: 1))
        #expect(try #require(m["a"]).mark == Node.Mark(line: 1, column: 4))
        guard case .sequence(let s) = try #require(m["list"]) else { Issue.record("not a list"); return }
        #expect(s.count == 2)
        #expect(s[0].mark == Node.Mark(line: 3, column: 5))
        #expect(s[1].mapping?["k"]?.string == "v")
    }

    @Test func plainScalarsFollowTheCoreSchemaAndQuotedOnesAreStrings() throws {
        let m = try root("""
        i: -42
        h: 0x1F
        o: 0o17
        f: 2.5e3
        inf: .inf
        t: true
        n: ~
        e:
        q: "42"
        s: '1.5'
        word: on
        v: 1.2.3
        """)
        #expect(m["i"]?.int == -42)
        #expect(m["h"]?.int == 31)
        #expect(m["o"]?.int == 15)
        #expect(m["f"]?.float == 2500)
        #expect(m["inf"]?.float == .infinity)
        #expect(m["t"]?.bool == true)
        #expect(m["n"]?.null != nil)
        #expect(m["e"]?.null != nil)
        #expect(m["q"]?.int == nil && m["q"]?.string == "42")
        #expect(m["s"]?.float == nil && m["s"]?.string == "1.5")
        #expect(m["word"]?.bool == nil && m["word"]?.string == "on")
        #expect(m["v"]?.float == nil && m["v"]?.int == nil)
        #expect(m["i"]?.float == -42)
    }

    @Test func aliasesResolveToTheirAnchor() throws {
        let m = try root("base: &w {length: 10s}\nother: *w\n")
        #expect(m["other"]?.mapping?["length"]?.string == "10s")
    }

    @Test func errorsAreLocated() {
        func error(_ text: String) -> YAMLError? {
            do { _ = try YAMLDocument.compose(text); return nil } catch { return error }
        }
        let dup = error("a: 1\nb: 2\na: 3\n")
        #expect(dup?.message.contains("duplicate key 'a'") == true)
        #expect(dup?.mark == Node.Mark(line: 3, column: 1))
        let syntax = error("a: [1, 2\nb: 3\n")
        #expect(syntax != nil)
        #expect((syntax?.mark.line ?? 0) >= 2)
        #expect(error("x: *nowhere\n")?.message.contains("unknown alias") == true)
        #expect(error("a: 1\n---\nb: 2\n")?.message.contains("one document") == true)
        #expect(error("a: 1\n") == nil)
    }

    @Test func emptyTextIsNoDocument() throws {
        #expect(try YAMLDocument.compose("") == nil)
        #expect(try YAMLDocument.compose("# only a comment\n") == nil)
    }
}
