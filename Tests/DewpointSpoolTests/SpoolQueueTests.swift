import Foundation
import Testing
import DewpointTestSupport
@testable import DewpointSpool


@Suite struct SpoolQueueTests {
    @Test func ordersSurvivesReopenAndKeepsSeqIncreasing() throws {
        let path = scratchDir("spool") + "/spool.db"
        do {
            let q = try SpoolQueue(path: path, maxBytes: 1 << 20)
            for i in 0..<10 { q.append(seq: q.next(), topic: "t/\(i)", payload: Array("p\(i)".utf8)) }
            #expect(try q.read(after: 0, limit: 100).isEmpty, "uncommitted records must not be sent")
            try q.commit()
            let r = try q.read(after: 0, limit: 100)
            #expect(r.map(\.seq) == Array(1...10))
            #expect(r[3].topic == "t/3" && r[3].payload == Array("p3".utf8))
            try q.remove([1, 2, 3])
            #expect(try q.read(after: 0, limit: 2).map(\.seq) == [4, 5])
            _ = q.next()  // allocated, never written: must still not be reused
            try q.commit()
        }
        let q = try SpoolQueue(path: path, maxBytes: 1 << 20)
        #expect(q.stats.count == 7)
        #expect(q.next() == 12)
        #expect(try q.read(after: 5, limit: 100).map(\.seq) == Array(6...10))
    }

    /// Alerts go before their commit once everything before them is sent; an acknowledgement
    /// that comes first takes the record out of `pending`; a restart after a run that did not
    /// stop cleanly numbers on after the last `seq` sent early, so that none is used twice.
    @Test func earlyRecordsKeepOrderAndTheirSeqIsNeverReused() throws {
        let path = scratchDir("early") + "/spool.db"
        do {
            let q = try SpoolQueue(path: path, maxBytes: 1 << 20)
            q.append(seq: q.next(), topic: "s", payload: [1])                 // 1: a summary
            try q.commit()
            // nothing committed is read yet: no early record may overtake seq 1
            #expect(q.takeEarly(after: 0, committedSeq: 0, limit: 10).isEmpty)
            var (read, upTo) = try q.readCommitted(after: 0, limit: 10)
            #expect(read.map(\.seq) == [1] && upTo == 1)
            q.append(seq: q.next(), topic: "a", payload: [2], early: true)    // 2: an alert
            q.append(seq: q.next(), topic: "a", payload: [3], early: true)    // 3: an alert
            q.append(seq: q.next(), topic: "s", payload: [4])                 // 4: a summary
            q.append(seq: q.next(), topic: "a", payload: [5], early: true)    // 5: behind a summary
            #expect(q.takeEarly(after: 1, committedSeq: upTo, limit: 10).map(\.seq) == [2, 3])
            #expect(q.takeEarly(after: 2, committedSeq: upTo, limit: 10).map(\.seq) == [3])
            #expect(q.takeEarly(after: 1, committedSeq: upTo, limit: 1).map(\.seq) == [2])
            // a stale view of what was committed gives nothing
            #expect(q.takeEarly(after: 1, committedSeq: 0, limit: 10).isEmpty)
            // 2 is acknowledged before its commit: it is never written
            try q.remove([1, 2])
            #expect(q.stats.pending == 3)
            try q.commit()
            (read, upTo) = try q.readCommitted(after: 0, limit: 10)
            #expect(read.map(\.seq) == [3, 4, 5] && upTo == 5)
            q.append(seq: q.next(), topic: "a", payload: [6], early: true)    // 6: sent, then a crash
            #expect(q.takeEarly(after: 5, committedSeq: upTo, limit: 10).map(\.seq) == [6])
        }
        // 6 was never committed, but may have reached a consumer: it is not used again
        let q = try SpoolQueue(path: path, maxBytes: 1 << 20)
        #expect(q.next() == 7)
        #expect(try q.read(after: 0, limit: 10).map(\.seq) == [3, 4, 5])
    }

    @Test func dropsOldestWhenFullAndCounts() throws {
        let q = try SpoolQueue(path: scratchDir("full") + "/spool.db", maxBytes: 1000)
        for _ in 0..<30 { q.append(seq: q.next(), topic: "t", payload: [UInt8](repeating: 7, count: 99)) }
        try q.commit()
        let s = q.stats
        #expect(s.bytes <= 1000)
        #expect(s.count == 10)
        #expect(s.dropped == 20)
        #expect(try q.read(after: 0, limit: 100).map(\.seq) == Array(21...30))
    }

    /// Records waiting for a commit (as while the disk fails) are bounded by the same byte limit:
    /// the oldest go first, are counted at once, and the count is persisted by the next commit.
    @Test func pendingRecordsAreBoundedWhileNothingCommits() throws {
        let path = scratchDir("pending") + "/spool.db"
        do {
            let q = try SpoolQueue(path: path, maxBytes: 1000)
            for _ in 0..<30 { q.append(seq: q.next(), topic: "t", payload: [UInt8](repeating: 7, count: 99)) }
            #expect(q.stats.pending == 10)
            #expect(q.stats.dropped == 20)
            try q.commit()
            #expect(q.stats.count == 10 && q.stats.dropped == 20)
            #expect(try q.read(after: 0, limit: 100).map(\.seq) == Array(21...30))
        }
        let again = try SpoolQueue(path: path, maxBytes: 1000)
        #expect(again.stats.dropped == 20)
    }

    /// A commit that fails (the database is locked by another writer) puts its batch back in front
    /// of what was appended since, and the next commit writes all of it in order.
    @Test func aFailedCommitKeepsItsRecordsInOrder() throws {
        let path = scratchDir("busy") + "/spool.db"
        let q = try SpoolQueue(path: path, maxBytes: 1 << 20)
        for _ in 0..<3 { q.append(seq: q.next(), topic: "t", payload: [1]) }
        let other = try SQLiteDB(path: path)
        try other.exec("BEGIN IMMEDIATE")
        #expect(throws: SpoolError.self) { try q.commit() }  // waits out the busy timeout, then fails
        #expect(q.stats.pending == 3 && q.stats.count == 0)
        q.append(seq: q.next(), topic: "t", payload: [2])
        try other.exec("ROLLBACK")
        try q.commit()
        #expect(q.stats.pending == 0 && q.stats.count == 4)
        #expect(try q.read(after: 0, limit: 10).map(\.seq) == [1, 2, 3, 4])
    }
}
