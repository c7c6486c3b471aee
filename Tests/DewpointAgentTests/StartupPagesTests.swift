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

    /// `DEWPOINT_KEEP_STARTUP_PAGES=1` keeps them (the value is checked, not set: setenv is not
    /// safe while other tests' threads read the environment).
    @Test func turnedOffByTheEnvironment() {
        #expect(StartupPages.kept(byEnvironment: "1"))
        #expect(!StartupPages.kept(byEnvironment: nil))
        #expect(!StartupPages.kept(byEnvironment: "0"))
    }
}
