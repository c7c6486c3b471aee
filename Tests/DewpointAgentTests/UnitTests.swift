import DewpointTestSupport
import Foundation
import Testing

/// The shipped systemd unit keeps its exposure (`systemd-analyze security`) at 2.0 or below.
@Suite struct SystemdUnitTests {
    static let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: analyze != nil, "needs systemd-analyze (Debian package systemd; make test installs it)"))
    func exposureIsAtMostTwo() throws {
        let unit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../systemd/dewpoint.service").standardized.path
        let (_, text) = try runCapturing(Self.analyze!, ["security", "--offline=yes", "--no-pager", unit])
        let line = try #require(text.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(text)")
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, "\(line)")
        #expect(score <= 2.0, "\(line)")
    }
}
