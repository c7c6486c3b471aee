import DewpointCore
import DewpointPipeline

/// A durable, ordered, byte-bounded queue of upstream records: SQLite in WAL mode.
///
/// Why SQLite: it is crash-safe (atomic commits, WAL), small, on every gateway already, and needs
/// no server. The C API is used directly (one file, `SQLite.swift`) rather than GRDB, because the
/// spool needs four statements and GRDB would double the build time.
///
/// Contract:
/// - Threading: every method may be called from any thread. Two locks: `lock` guards the
///   in-memory state (pending records, seq, counters) and is held only for moments, so that
///   `next`/`append` (the pipeline, possibly on the MQTT network thread) never wait for a disk;
///   `dbLock` serialises the SQLite work (commit, read, remove), which may wait for an fsync.
/// - Durability: `append` only buffers. `commit()` writes the buffered records, the `seq`
///   high-water mark and any overflow drops in one transaction with `synchronous=FULL`, so a
///   committed record survives `kill -9` and power loss. Records are read for sending only once
///   committed. The agent commits within 5 ms of a record being produced (bursts share one
///   transaction), which bounds the loss window: records produced within the last 5 ms before a
///   crash or power loss may be lost; nothing committed is lost, and nothing sent upstream was
///   uncommitted.
/// - Order: records are read back in `seq` order. `seq` is strictly increasing across restarts:
///   it resumes after the highest value ever committed.
/// - Bounds: when the stored bytes exceed `maxBytes`, the oldest records are deleted and counted
///   in `dropped` (persisted). Records waiting for a commit are bounded the same way: while
///   commits fail (a full or failing disk), at most `maxBytes` of them stay in memory and the
///   oldest are dropped and counted, so a long disk failure cannot exhaust memory.
public final class SpoolQueue: SeqAllocator, @unchecked Sendable {
    // @unchecked: the SQLite handle and statements are guarded by `dbLock`, everything else by
    // `lock`; a thread holding `dbLock` may take `lock`, never the other way round.
    public struct Record: Sendable, Equatable {
        public var seq: UInt64
        public var topic: String
        public var payload: [UInt8]
        /// What the record counts against `maxBytes` (the SQL queries compute the same).
        var size: Int64 { Int64(payload.count + topic.utf8.count) }
    }

    private let db: SQLiteDB
    private let lock = Lock()
    private let dbLock = Lock()
    private let maxBytes: Int64
    private var pending: [Record] = []
    private var pendingBytes: Int64 = 0
    /// Pending records dropped by the bound above, not yet persisted in `dropped`.
    private var pendingDropped: Int64 = 0
    private var lastSeq: UInt64
    private var committedSeq: UInt64
    private var bytes: Int64
    private var count: Int
    private var dropped: Int64
    private let insert: SQLiteDB.Statement
    private let selectAfter: SQLiteDB.Statement
    private let deleteOne: SQLiteDB.Statement
    private let setMeta: SQLiteDB.Statement
    private let oldest: SQLiteDB.Statement

    public init(path: String, maxBytes: Int64) throws(SpoolError) {
        let db = try SQLiteDB(path: path)
        self.db = db
        self.maxBytes = maxBytes
        try db.exec("PRAGMA journal_mode=WAL")
        try db.exec("PRAGMA synchronous=FULL")
        // records are read once, oldest first: a small page cache is enough (the default is 2 MiB)
        try db.exec("PRAGMA cache_size=-256")
        try db.exec("CREATE TABLE IF NOT EXISTS records(seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL)")
        try db.exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        func scalar(_ sql: String) throws(SpoolError) -> Int64 {
            let s = try db.prepare(sql)
            return try s.step() ? s.int64(0) : 0
        }
        let maxRecord = try scalar("SELECT COALESCE(MAX(seq), 0) FROM records")
        let metaSeq = try scalar("SELECT COALESCE((SELECT value FROM meta WHERE key='last_seq'), 0)")
        lastSeq = UInt64(max(maxRecord, metaSeq))
        committedSeq = lastSeq
        bytes = try scalar("SELECT COALESCE(SUM(length(payload) + length(CAST(topic AS BLOB))), 0) FROM records")
        count = Int(try scalar("SELECT COUNT(*) FROM records"))
        dropped = try scalar("SELECT COALESCE((SELECT value FROM meta WHERE key='dropped'), 0)")
        insert = try db.prepare("INSERT OR REPLACE INTO records(seq, topic, payload) VALUES(?, ?, ?)")
        selectAfter = try db.prepare("SELECT seq, topic, payload FROM records WHERE seq > ? ORDER BY seq LIMIT ?")
        deleteOne = try db.prepare("DELETE FROM records WHERE seq = ? RETURNING length(payload) + length(CAST(topic AS BLOB))")
        setMeta = try db.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)")
        oldest = try db.prepare("DELETE FROM records WHERE seq = (SELECT MIN(seq) FROM records) RETURNING length(payload) + length(CAST(topic AS BLOB))")
    }

    /// The next `seq` (strictly increasing, also across restarts).
    public func next() -> UInt64 { lock.withLock { lastSeq += 1; return lastSeq } }

    public func append(seq: UInt64, topic: String, payload: [UInt8]) {
        lock.withLock {
            let r = Record(seq: seq, topic: topic, payload: payload)
            pending.append(r)
            pendingBytes += r.size
            trimPending()
        }
    }

    /// Keeps at most `maxBytes` pending (the newest), counting the rest as dropped. Under `lock`.
    private func trimPending() {
        guard pendingBytes > maxBytes else { return }
        var k = 0
        while pendingBytes > maxBytes && k < pending.count - 1 {
            pendingBytes -= pending[k].size
            k += 1
        }
        pending.removeFirst(k)
        pendingDropped += Int64(k)
    }

    /// `dropped` includes pending records dropped while commits failed.
    public var stats: (count: Int, bytes: Int64, dropped: Int64, pending: Int) {
        lock.withLock { (count, bytes, dropped + pendingDropped, pending.count) }
    }

    /// Writes buffered records in one transaction (see the type's durability contract). The
    /// batch is taken out of `pending` first, so appends go on meanwhile; if the transaction
    /// fails it goes back in front of them.
    public func commit() throws(SpoolError) {
        try dbLock.withLock { () throws(SpoolError) in
            let taken = lock.withLock { () -> (batch: [Record], bytes: Int64, dropped: Int64, seq: UInt64, total: Int64, count: Int, allDropped: Int64)? in
                guard !pending.isEmpty || lastSeq != committedSeq else { return nil }
                defer { pending = []; pendingBytes = 0; pendingDropped = 0 }
                return (pending, pendingBytes, pendingDropped, lastSeq, bytes, count, dropped)
            }
            guard let t = taken else { return }
            // counters change only once the transaction commits (a failed commit is retried)
            var newBytes = t.total, newCount = t.count
            var begun = false
            do throws(SpoolError) {
                try db.exec("BEGIN IMMEDIATE")
                begun = true
                for r in t.batch {
                    insert.reset()
                    insert.bind(1, Int64(r.seq)); insert.bind(2, r.topic); insert.bind(3, r.payload)
                    _ = try insert.step()
                    newBytes += r.size
                    newCount += 1
                }
                var droppedNow: Int64 = t.dropped
                while newBytes > maxBytes && newCount > 0 {
                    oldest.reset()
                    guard try oldest.step() else { break }
                    newBytes -= oldest.int64(0)
                    newCount -= 1
                    droppedNow += 1
                    _ = try oldest.step()
                }
                setMeta.reset(); setMeta.bind(1, "last_seq"); setMeta.bind(2, Int64(t.seq)); _ = try setMeta.step()
                if droppedNow > 0 {
                    setMeta.reset(); setMeta.bind(1, "dropped"); setMeta.bind(2, t.allDropped + droppedNow); _ = try setMeta.step()
                }
                try db.exec("COMMIT")
                lock.withLock {
                    // only commit and remove change these, and both hold dbLock
                    bytes = newBytes
                    count = newCount
                    dropped += droppedNow
                    committedSeq = t.seq
                }
            } catch {
                if begun { try? db.exec("ROLLBACK") }
                lock.withLock {
                    pending = t.batch + pending
                    pendingBytes += t.bytes
                    pendingDropped += t.dropped
                    trimPending()
                }
                throw error
            }
        }
    }

    /// Committed records with `seq > after`, oldest first.
    public func read(after: UInt64, limit: Int) throws(SpoolError) -> [Record] {
        try dbLock.withLock { () throws(SpoolError) -> [Record] in
            selectAfter.reset()
            selectAfter.bind(1, Int64(after)); selectAfter.bind(2, Int64(limit))
            var out: [Record] = []
            while try selectAfter.step() {
                out.append(Record(seq: UInt64(selectAfter.int64(0)), topic: selectAfter.text(1), payload: selectAfter.blob(2)))
            }
            return out
        }
    }

    /// Deletes acknowledged records (one transaction).
    public func remove(_ seqs: [UInt64]) throws(SpoolError) {
        guard !seqs.isEmpty else { return }
        try dbLock.withLock { () throws(SpoolError) in
            var (newBytes, newCount) = lock.withLock { (bytes, count) }
            try db.exec("BEGIN IMMEDIATE")
            do throws(SpoolError) {
                for s in seqs {
                    deleteOne.reset()
                    deleteOne.bind(1, Int64(s))
                    if try deleteOne.step() {
                        newBytes -= deleteOne.int64(0)
                        newCount -= 1
                        _ = try deleteOne.step()
                    }
                }
                try db.exec("COMMIT")
                lock.withLock { bytes = newBytes; count = newCount }
            } catch {
                try? db.exec("ROLLBACK")
                throw error
            }
        }
    }
}

/// A `RecordSink` that writes every record to the spool under its upstream topic.
public final class SpoolSink: RecordSink {
    public let spool: SpoolQueue
    public let topics: UpstreamTopics
    public var onError: (SpoolError) -> Void = { _ in }
    public init(spool: SpoolQueue, topics: UpstreamTopics) { self.spool = spool; self.topics = topics }

    /// Called after every record is appended (on the thread that runs the pipeline), so that the
    /// agent can commit it and wake the forwarder without polling.
    public var onRecord: () -> Void = {}

    public func write(kind: RecordKind, device: String, seq: UInt64, json: UnsafeRawBufferPointer) {
        spool.append(seq: seq, topic: topics.topic(kind: kind, device: device), payload: Array(json))
        onRecord()
    }

    /// Commit failures (a full or failing disk) are logged for the first failure and every 60th
    /// after it, so that they cannot flood the journal. Nothing is lost meanwhile: records stay
    /// pending in memory (bounded by the spool's size) until a commit succeeds.
    private var failures = 0
    /// When the agent should try again after a failed commit (a second later); 0 after a success.
    public private(set) var retryAtNs: UInt64 = 0

    /// Commits what is pending now; true if it did (or nothing was pending).
    @discardableResult
    public func commit() -> Bool {
        do {
            try spool.commit()
            failures = 0
            retryAtNs = 0
            return true
        } catch {
            failures += 1
            retryAtNs = Clock.monotonicNs() + 1_000_000_000
            if failures == 1 || failures % 60 == 0 { onError(error) }
            return false
        }
    }

    /// The pipeline's idle or final flush: always tries, whatever `retryAtNs` says.
    public func flush() { commit() }
}

/// Upstream topics from the templates (default `<prefix>/<agent>/<device>/summary|alert` and
/// `<prefix>/<agent>/status`). Topics are built once per device and cached.
public final class UpstreamTopics: @unchecked Sendable {
    // @unchecked: the cache is only used by the pipeline, which runs on one thread at a time.
    public let prefix: String
    public let agent: String
    let summaryTemplate: String
    let alertTemplate: String
    public let status: String
    private var cache: [String: (summary: String, alert: String)] = [:]

    public init(prefix: String, agent: String, summary: String = "{prefix}/{agent}/{device}/summary",
                alert: String = "{prefix}/{agent}/{device}/alert", status: String = "{prefix}/{agent}/status") {
        self.prefix = prefix
        self.agent = agent
        summaryTemplate = summary
        alertTemplate = alert
        self.status = UpstreamTopics.fill(status, prefix, agent, "")
    }

    public convenience init(_ u: UpstreamSpec, agent: String) {
        self.init(prefix: u.topicPrefix, agent: agent, summary: u.summaryTopic, alert: u.alertTopic, status: u.statusTopic)
    }

    static func fill(_ t: String, _ prefix: String, _ agent: String, _ device: String) -> String {
        t.replacing("{prefix}", with: prefix).replacing("{agent}", with: agent)
            .replacing("{device}", with: device)
    }

    public func topic(kind: RecordKind, device: String) -> String {
        if kind == .status { return status }
        let t: (summary: String, alert: String)
        if let c = cache[device] { t = c } else {
            t = (UpstreamTopics.fill(summaryTemplate, prefix, agent, device), UpstreamTopics.fill(alertTemplate, prefix, agent, device))
            cache[device] = t
        }
        return kind == .summary ? t.summary : t.alert
    }
}
