import Foundation
import Testing
@testable import DewpointAgent

/// The file pages only start-up touched leave the resident set, the process's own data is kept,
/// and code that runs afterwards faults back in from the page cache and behaves the same.
@Suite(.serialized) struct StartupPagesTests {
    private func residentKiB() -> Int {
        let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(getpagesize()) / 1024 : 0
    }

    @Test func cleanFilePagesAreReleasedAndEverythingStillWorks() throws {
        // data the process made before the release (heap, relocated tables) must survive it
        let before = (0..<10_000).map { $0 &* 2_654_435_761 }
        let text = String(repeating: "dewpoint ", count: 1_000)
        let rss = residentKiB()
        let released = StartupPages.release()
        #expect(released > 1_000, "only \(released) KiB released")
        #expect(residentKiB() < rss - 1_000, "resident \(rss) KiB before, \(residentKiB()) after")
        #expect(before == (0..<10_000).map { $0 &* 2_654_435_761 })
        #expect(text.count == 9_000)
        // code and read-only data come back from the page cache: parse JSON, format, sort
        let json = try JSONSerialization.jsonObject(with: Data(#"{"v":[3,1,2]}"#.utf8)) as? [String: [Int]]
        #expect(json?["v"]?.sorted() == [1, 2, 3])
        #expect(String(format: "%.2f", 2.5) == "2.50")
    }

    /// A file written just now has dirty pages in the page cache, which smaps counts as
    /// `Private_Dirty` even in a read-only mapping: a binary just installed or linked. They are
    /// released too (the agent's first start after an upgrade kept 7 MiB of code).
    @Test func pagesOfAFileJustWrittenAreReleased() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("startup-pages-\(getpid())").path
        let size = 2 << 20
        // written with write(2), no fsync: its pages stay dirty until writeback (30 s)
        let w = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(w >= 0)
        let bytes = [UInt8](repeating: 0x5A, count: size)
        #expect(bytes.withUnsafeBytes { write(w, $0.baseAddress, size) } == size)
        close(w)
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        #expect(fd >= 0)
        defer { close(fd) }
        let p = try #require(mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0))
        #expect(p != MAP_FAILED)
        defer { munmap(p, size) }
        var sum = 0
        for i in stride(from: 0, to: size, by: 4096) { sum &+= Int(p.load(fromByteOffset: i, as: UInt8.self)) }
        #expect(sum == 0x5A * (size / 4096))
        func mapping(_ key: String) -> Int {
            let start = String(UInt(bitPattern: p), radix: 16)
            // read to the end: /proc files have no size to read up to
            let smaps = String(decoding: FileHandle(forReadingAtPath: "/proc/self/smaps")?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
            var inMapping = false
            for line in smaps.split(separator: "\n") {
                if line.first?.isHexDigit == true && line.contains("-") && !line.hasSuffix(":") { inMapping = line.hasPrefix(start + "-") }
                if inMapping && line.hasPrefix(key + ":") { return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1 }
            }
            return -1
        }
        #expect(mapping("Rss") >= 2000)
        #expect(mapping("Private_Dirty") > 0, "the pages were written back already: the case is not shown")
        StartupPages.release()
        #expect(mapping("Rss") == 0, "the just-written file's pages were kept")
        #expect(p.load(fromByteOffset: 4096 * 100, as: UInt8.self) == 0x5A)
    }

    /// `DEWPOINT_KEEP_STARTUP_PAGES=1` keeps them (the value is checked, not set: setenv is not
    /// safe while other tests' threads read the environment).
    @Test func turnedOffByTheEnvironment() {
        #expect(StartupPages.kept(byEnvironment: "1"))
        #expect(!StartupPages.kept(byEnvironment: nil))
        #expect(!StartupPages.kept(byEnvironment: "0"))
    }
}
