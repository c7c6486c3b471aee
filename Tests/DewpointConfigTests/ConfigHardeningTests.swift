import Foundation
import Testing
@testable import DewpointConfig
import DewpointCore

/// A hostile or broken config file is refused with a located diagnostic: nesting too deep for the
/// composer's recursion, a file too large to read, and paths that are not regular files (a device,
/// a FIFO, a folder). None of them may crash the loader or make it wait.
@Suite struct ConfigHardeningTests {
    /// A new scratch folder holding `dewpoint.yaml`, a valid binding `devices/a.yaml` and the
    /// given files (path relative to the folder → text); returns the folder.
    static func folder(_ files: [String: String] = [:]) throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("dewpoint-hardening-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/devices", withIntermediateDirectories: true)
        try "agent: gw-test\ndevices: devices\n".write(toFile: dir + "/dewpoint.yaml", atomically: true, encoding: .utf8)
        try binding.write(toFile: dir + "/devices/a.yaml", atomically: true, encoding: .utf8)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        return dir
    }

    static let binding = "device: a\ntransport: file\ndecoder: json\nchannels: [{name: v, pointer: /v}]\n"

    /// The diagnostics of loading the folder's agent file (an issue is recorded if it loads).
    static func diagnostics(_ dir: String) -> [ConfigDiagnostic] {
        do {
            _ = try ConfigLoader.load(agentFile: dir + "/dewpoint.yaml")
            Issue.record("\(dir) was accepted")
            return []
        } catch {
            return error.diagnostics
        }
    }

    /// The one diagnostic about `file` (a path ending so) is at 1:1, for the whole file, and says `text`.
    static func expectWholeFile(_ d: [ConfigDiagnostic], _ file: String, contains text: String,
                                sourceLocation: SourceLocation = #_sourceLocation) {
        let about = d.filter { $0.file.hasSuffix(file) }
        #expect(about.count == 1, "\(d.map(\.description))", sourceLocation: sourceLocation)
        guard let x = about.first else { return }
        #expect(x.line == 1 && x.column == 1 && x.key.isEmpty, "\(x)", sourceLocation: sourceLocation)
        #expect(x.message.contains(text), "\(x)", sourceLocation: sourceLocation)
        #expect(x.description.hasPrefix(x.file + ":1:1: "), "\(x)", sourceLocation: sourceLocation)
    }

    static func composeError(_ text: String) -> YAMLError? {
        do { _ = try YAMLDocument.compose(text); return nil } catch { return error }
    }

    // MARK: nesting

    @Test func deepNestingIsLocatedNotACrash() throws {
        // 20 KB nested 10,000 levels deep: the composer stops at the 65th level
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let e = try #require(Self.composeError(deep))
        #expect(e.message.contains("nesting deeper than 64 levels"), "\(e.message)")
        #expect(e.mark == Node.Mark(line: 1, column: 65))
        let maps = String(repeating: "{a: ", count: 10_000) + "1" + String(repeating: "}", count: 10_000)
        #expect(Self.composeError(maps)?.message.contains("nesting deeper than 64 levels") == true)
        // block style: the 65th mapping starts on line 65
        var block = ""
        for level in 0..<100 { block += String(repeating: " ", count: level) + "k:\n" }
        let b = try #require(Self.composeError(block))
        #expect(b.message.contains("nesting deeper than 64 levels") && b.mark.line == 65, "\(b)")

        // exactly the limit is fine
        let limit = YAMLDocument.maxDepth
        #expect(Self.composeError(String(repeating: "[", count: limit) + String(repeating: "]", count: limit)) == nil)
        #expect(Self.composeError(String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)) != nil)
    }

    @Test func aliasesCountAsTheNodeTheyStandFor() throws {
        // `x` is 63 levels deep under the root mapping: 64 in all
        let x = String(repeating: "[", count: 63) + String(repeating: "]", count: 63)
        #expect(Self.composeError("a: &x \(x)\nb: *x\n") == nil)
        // one more level around the alias makes 65
        let e = try #require(Self.composeError("a: &x \(x)\nb: [*x]\n"))
        #expect(e.message.contains("nesting deeper than 64 levels"), "\(e.message)")
        #expect(e.mark == Node.Mark(line: 2, column: 5))
        // aliases of aliases, each one level deeper, stop at the limit as well
        var text = "a0: &a0 [1]\n"
        for i in 1..<100 { text += "a\(i): &a\(i) [*a\(i - 1)]\n" }
        #expect(Self.composeError(text)?.message.contains("nesting deeper than 64 levels") == true)
    }

    @Test func deepBindingFileIsAProblemAtItsPosition() throws {
        let deep = "device: a\nchannels: " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "\n"
        let dir = try Self.folder(["devices/deep.yaml": deep])
        let d = Self.diagnostics(dir).filter { $0.file.hasSuffix("devices/deep.yaml") }
        #expect(d.count == 1)
        // the root mapping is level 1, so the 64th `[` (column 11 + 63) would be level 65
        #expect(d.first?.line == 2 && d.first?.column == 74, "\(d)")
        #expect(d.first?.message == "invalid YAML: nesting deeper than 64 levels of mappings and sequences", "\(d)")
    }

    // MARK: size

    @Test func largeFileIsRefusedBeforeItIsRead() throws {
        let big = "device: " + String(repeating: "x", count: 2 << 20) + "\n"
        let dir = try Self.folder(["devices/big.yaml": big])
        let d = Self.diagnostics(dir)
        Self.expectWholeFile(d, "devices/big.yaml", contains: "the file is too large (\(big.utf8.count) bytes); a config file may hold at most 1 MiB")
        #expect(d.count == 1, "\(d.map(\.description))")

        // `dewpoint try` reads a binding the same way
        do {
            _ = try ConfigLoader.loadBinding(file: dir + "/devices/big.yaml")
            Issue.record("accepted")
        } catch {
            Self.expectWholeFile(error.diagnostics, "devices/big.yaml", contains: "too large")
        }
    }

    @Test func fileOfExactlyTheLimitLoads() throws {
        let head = Self.binding + "# "
        let text = head + String(repeating: "x", count: FileSystem.maxFileBytes - head.utf8.count - 1) + "\n"
        #expect(text.utf8.count == FileSystem.maxFileBytes)
        let dir = try Self.folder(["devices/a.yaml": text])
        let cfg = try ConfigLoader.load(agentFile: dir + "/dewpoint.yaml")
        #expect(cfg.bindings.map(\.name) == ["a"])
    }

    @Test func readsStopOneByteAfterTheLimit() throws {
        let dir = try Self.folder(["eleven": "0123456789\n"])
        #expect(FileSystem.read(dir + "/eleven", limit: 11) == .success(Array("0123456789\n".utf8)))
        #expect(FileSystem.read(dir + "/eleven", limit: 10) == .failure(.tooLarge(size: 11, limit: 10)))
        // a file whose size fstat does not know (0) is still cut off while it is read
        if FileManager.default.fileExists(atPath: "/proc/self/status") {
            #expect(FileSystem.read("/proc/self/status", limit: 16) == .failure(.tooLarge(size: nil, limit: 16)))
        }
    }

    // MARK: not regular files

    @Test func symlinkToDevZeroIsRefused() throws {
        let dir = try Self.folder()
        try FileManager.default.createSymbolicLink(atPath: dir + "/devices/zero.yaml", withDestinationPath: "/dev/zero")
        let d = Self.diagnostics(dir)
        Self.expectWholeFile(d, "devices/zero.yaml", contains: "cannot read the file: it is a character device, not a regular file")
        #expect(d.count == 1, "\(d.map(\.description))")
    }

    @Test func fifoIsRefusedWithoutWaitingForAWriter() throws {
        let dir = try Self.folder()
        #expect(mkfifo(dir + "/devices/fifo.yaml", 0o600) == 0)
        let d = Self.diagnostics(dir)
        Self.expectWholeFile(d, "devices/fifo.yaml", contains: "cannot read the file: it is a FIFO, not a regular file")
        #expect(d.count == 1, "\(d.map(\.description))")
        #expect(FileSystem.read(dir + "/devices/fifo.yaml") == .failure(.notRegular(kind: "a FIFO")))
    }

    @Test func folderNamedLikeABindingIsRefused() throws {
        let dir = try Self.folder()
        try FileManager.default.createDirectory(atPath: dir + "/devices/sub.yaml", withIntermediateDirectories: true)
        let d = Self.diagnostics(dir)
        Self.expectWholeFile(d, "devices/sub.yaml", contains: "it is a folder, not a regular file")
        #expect(d.count == 1, "\(d.map(\.description))")
    }

    @Test func agentFileThatIsADeviceIsRefused() throws {
        let dir = try Self.folder()
        try FileManager.default.removeItem(atPath: dir + "/dewpoint.yaml")
        try FileManager.default.createSymbolicLink(atPath: dir + "/dewpoint.yaml", withDestinationPath: "/dev/zero")
        let d = Self.diagnostics(dir)
        Self.expectWholeFile(d, "dewpoint.yaml", contains: "it is a character device")
    }

    @Test func symlinkToARegularFileIsRead() throws {
        let dir = try Self.folder(["elsewhere.txt": Self.binding.replacingOccurrences(of: "device: a", with: "device: b")])
        try FileManager.default.createSymbolicLink(atPath: dir + "/devices/b.yaml", withDestinationPath: dir + "/elsewhere.txt")
        let cfg = try ConfigLoader.load(agentFile: dir + "/dewpoint.yaml")
        #expect(cfg.bindings.map(\.name) == ["a", "b"])
    }

    @Test func missingFileSaysWhy() throws {
        let dir = try Self.folder()
        try FileManager.default.createSymbolicLink(atPath: dir + "/devices/gone.yaml", withDestinationPath: dir + "/nowhere")
        let d = Self.diagnostics(dir)
        Self.expectWholeFile(d, "devices/gone.yaml", contains: "cannot read the file (stat: No such file or directory)")
    }
}
