import DewpointTestSupport
import Foundation
import Testing
@testable import DewpointSpool

@Suite struct SpoolHardeningTests {
    @Test func filesAreOwnerOnlyAndTheWALStaysSmall() throws {
        let dir = scratchDir("spool-mode")
        let path = dir + "/spool.db"
        // an older spool made 0644 is tightened when opened
        _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644])
        let q = try SpoolQueue(path: path, maxBytes: 1 << 20)
        let payload = [UInt8](repeating: 0x61, count: 900)
        for round in 0..<20 {
            for i in 0..<500 { q.append(seq: q.next(), topic: "t/\(round)/\(i)", payload: payload) }
            try q.commit()
            let all = try q.read(after: 0, limit: 100_000)
            try q.remove(all.map(\.seq))
        }
        for suffix in ["", "-wal", "-shm"] {
            let attrs = try FileManager.default.attributesOfItem(atPath: path + suffix)
            #expect((attrs[.posixPermissions] as? Int) == 0o600, "\(suffix)")
        }
        // 9 MB went through a 1 MiB spool: the write-ahead log is cut back after checkpoints
        let wal = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        #expect(wal <= 3 << 20, "WAL \(wal) bytes")
    }

    @Test func deadLettersLeaveTheQueueAndAreBounded() throws {
        let q = try SpoolQueue(path: scratchDir("dead") + "/spool.db", maxBytes: 1 << 20)
        for i in 0..<5 { q.append(seq: q.next(), topic: "t/\(i)", payload: Array("r\(i)".utf8)) }
        try q.commit()
        let before = q.stats
        try q.setAside(seq: 2, reason: "publish t/1: oversize", nowMs: 7)
        #expect(q.stats.count == before.count - 1 && q.stats.bytes == before.bytes - Int64("t/1".utf8.count + 2))
        #expect(try q.read(after: 0, limit: 10).map(\.seq) == [1, 3, 4, 5])
        let dead = try q.deadLetters()
        #expect(dead == [SpoolQueue.DeadLetter(seq: 2, topic: "t/1", payload: Array("r1".utf8), reason: "publish t/1: oversize", tsMs: 7)])
        // at most maxDeadLetters are kept, the newest
        for i in 0..<(SpoolQueue.maxDeadLetters + 10) { q.append(seq: q.next(), topic: "x", payload: [UInt8(i & 0xFF)]) }
        try q.commit()
        for r in try q.read(after: 5, limit: 100_000) { try q.setAside(seq: r.seq, reason: "r", nowMs: 0) }
        let kept = try q.deadLetters()
        #expect(kept.count == SpoolQueue.maxDeadLetters && kept.last?.seq == UInt64(5 + SpoolQueue.maxDeadLetters + 10))
        try q.clearDeadLetters()
        #expect(try q.deadLetters().isEmpty)
        #expect(q.stats.count == 4)
    }
}
