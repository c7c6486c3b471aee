import DewpointCore
import DewpointPipeline
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

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
///   high-water mark, any overflow drops and the checkpoint rows in one transaction with
///   `synchronous=FULL`, so a committed record survives `kill -9` and power loss. `remove`
///   (acknowledged records) commits without an fsync: a lost deletion only resends a record. Records are read for sending only once
///   committed, except alerts appended with `early` (see below). The agent commits within 5 ms of
///   a record being produced (bursts share one transaction), which bounds the loss window: records
///   produced within the last 5 ms before a crash or power loss may be lost; nothing committed is
///   lost.
/// - Early records (alerts): `takeEarly` hands the forwarder pending records appended with
///   `early: true` before their commit, when everything before them has been sent, so that an
///   alert does not wait for an fsync. Each is still committed, and deleted on its
///   acknowledgement (also one that arrives before the commit: it is then never written).
/// - Order: records are read back in `seq` order. `seq` is strictly increasing across restarts:
///   it resumes after the highest value ever committed or sent early. Before records go early,
///   their highest `seq` is written to `spool.db-early` beside the database (a plain write, no fsync):
///   so after a `kill -9` that lost their commit, no record made after the restart shares a
///   `seq` with one a consumer already has (which it would drop as a duplicate). A power loss
///   within the commit interval can lose that write too; then a `seq` sent early may be used
///   again.
/// - Bounds: when the stored bytes exceed `maxBytes`, the oldest records are deleted and counted
///   in `dropped` (persisted). Records waiting for a commit are bounded the same way: while
///   commits fail (a full or failing disk), at most `maxBytes` of them stay in memory and the
///   oldest are dropped and counted, so a long disk failure cannot exhaust memory.
public final class SpoolQueue: SeqAllocator, Sendable {
    public struct Record: Sendable, Equatable {
        public var seq: UInt64
        public var topic: String
        public var payload: [UInt8]
        /// May be sent before its commit (`takeEarly`): alerts.
        public var early: Bool
        public init(seq: UInt64, topic: String, payload: [UInt8], early: Bool = false) {
            self.seq = seq; self.topic = topic; self.payload = payload; self.early = early
        }
        /// What the record counts against `maxBytes` (the SQL queries compute the same).
        var size: Int64 { Int64(payload.count + topic.utf8.count) }
    }

    /// The in-memory state, held only for moments. A thread holding `database` may take `memory`,
    /// never the other way round.
    private struct Memory {
        var pending: [Record] = []
        var pendingBytes: Int64 = 0
        /// Pending records dropped by the bound above, not yet persisted in `dropped`.
        var pendingDropped: Int64 = 0
        /// Checkpoint rows waiting for the next commit, by key (the newest value wins; nil deletes).
        var pendingState: [String: [UInt8]?] = [:]
        /// When records were appended (seq, wall ns), oldest first, for the age of the oldest
        /// record; at most 65,536 kept (older ones count from `openedNs`).
        var appendTimes: [(seq: UInt64, ns: Int64)] = []
        var appendHead = 0
        var lastSeq: UInt64
        var committedSeq: UInt64
        /// The highest `seq` written to `spool.db-early`.
        var earlySeq: UInt64
        /// The batch a commit has taken out of `pending` and not finished with (it may still go
        /// early).
        var inCommit: [Record] = []
        var bytes: Int64
        var count: Int
        var dropped: Int64

        /// Keeps at most `maxBytes` pending (the newest), counting the rest as dropped.
        mutating func trimPending(maxBytes: Int64) {
            guard pendingBytes > maxBytes else { return }
            var k = 0
            while pendingBytes > maxBytes && k < pending.count - 1 {
                pendingBytes -= pending[k].size
                k += 1
            }
            pending.removeFirst(k)
            pendingDropped += Int64(k)
        }
    }

    /// The SQLite handle and its statements: the SQLite work, which may wait for an fsync.
    private struct Database {
        let db: SQLiteDB
        let insert: SQLiteDB.Statement
        let selectAfter: SQLiteDB.Statement
        let deleteOne: SQLiteDB.Statement
        let setMeta: SQLiteDB.Statement
        let oldest: SQLiteDB.Statement
        let putState: SQLiteDB.Statement
        let deleteState: SQLiteDB.Statement
    }

    private let memory: Mutex<Memory>
    private let openedAt = Clock.wallNs()
    private let database: Mutex<Database>
    private let maxBytes: Int64
    /// `spool.db-early`: the highest `seq` sent before its commit (-1: it could not be opened,
    /// and nothing is sent early).
    private let earlyFD: Int32

    deinit { if earlyFD >= 0 { close(earlyFD) } }

    public init(path: String, maxBytes: Int64) throws(SpoolError) {
        let db = try SQLiteDB(path: path)
        self.maxBytes = maxBytes
        try db.exec("PRAGMA journal_mode=WAL")
        try db.exec("PRAGMA synchronous=FULL")
        // records are read once, oldest first: a small page cache is enough (the default is 2 MiB)
        try db.exec("PRAGMA cache_size=-256")
        // the WAL is checkpointed every 256 pages (1 MiB) and cut back to 1 MiB after each
        // checkpoint, so that the files stay within max_bytes plus about 2 MiB (see README)
        try db.exec("PRAGMA wal_autocheckpoint=256")
        try db.exec("PRAGMA journal_size_limit=1048576")
        try db.exec("CREATE TABLE IF NOT EXISTS records(seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL)")
        try db.exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        // the pipeline's checkpoint (see `Pipeline+Checkpoint`), committed with the records it produced
        try db.exec("CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        try db.exec("CREATE TABLE IF NOT EXISTS dead_letters(seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, reason TEXT NOT NULL, ts_ms INTEGER NOT NULL)")
        func scalar(_ sql: String) throws(SpoolError) -> Int64 {
            let s = try db.prepare(sql)
            return try s.step() ? s.int64(0) : 0
        }
        let maxRecord = try scalar("SELECT COALESCE(MAX(seq), 0) FROM records")
        let metaSeq = try scalar("SELECT COALESCE((SELECT value FROM meta WHERE key='last_seq'), 0)")
        // records sent early by a run that ended before their commit
        earlyFD = open(path + "-early", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        var early: UInt64 = 0
        if earlyFD >= 0 && pread(earlyFD, &early, 8, 0) != 8 { early = 0 }
        let lastSeq = max(UInt64(max(maxRecord, metaSeq)), early)
        memory = Mutex(Memory(
            lastSeq: lastSeq, committedSeq: lastSeq, earlySeq: lastSeq,
            bytes: try scalar("SELECT COALESCE(SUM(length(payload) + length(CAST(topic AS BLOB))), 0) FROM records"),
            count: Int(try scalar("SELECT COUNT(*) FROM records")),
            dropped: try scalar("SELECT COALESCE((SELECT value FROM meta WHERE key='dropped'), 0)")))
        database = Mutex(Database(
            db: db,
            insert: try db.prepare("INSERT OR REPLACE INTO records(seq, topic, payload) VALUES(?, ?, ?)"),
            selectAfter: try db.prepare("SELECT seq, topic, payload FROM records WHERE seq > ? ORDER BY seq LIMIT ?"),
            deleteOne: try db.prepare("DELETE FROM records WHERE seq = ? RETURNING length(payload) + length(CAST(topic AS BLOB))"),
            setMeta: try db.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)"),
            oldest: try db.prepare("DELETE FROM records WHERE seq = (SELECT MIN(seq) FROM records) RETURNING length(payload) + length(CAST(topic AS BLOB))"),
            putState: try db.prepare("INSERT OR REPLACE INTO state(key, value) VALUES(?, ?)"),
            deleteState: try db.prepare("DELETE FROM state WHERE key = ?")))
    }

    /// Runs `body` with the database, holding its lock (the dead-letter methods).
    func withDatabase<T: Sendable>(_ body: (SQLiteDB) throws(SpoolError) -> T) throws(SpoolError) -> T {
        try database.withLock { (d: inout Database) throws(SpoolError) -> T in try body(d.db) }
    }

    /// Changes the committed totals after a record left the queue by another way than `remove`.
    func adjustCommitted(bytes: Int64, count: Int) {
        memory.withLock { $0.bytes += bytes; $0.count += count }
    }

    /// The next `seq` (strictly increasing, also across restarts).
    public func next() -> UInt64 { memory.withLock { $0.lastSeq += 1; return $0.lastSeq } }

    /// Buffers a record for the next commit; `early`: it may be sent before it (alerts).
    public func append(seq: UInt64, topic: String, payload: [UInt8], early: Bool = false) {
        let r = Record(seq: seq, topic: topic, payload: payload, early: early)
        let now = Clock.wallNs()
        memory.withLock { m in
            if m.appendTimes.count - m.appendHead >= 65_536 { m.appendHead += 1 }
            m.appendTimes.append((seq, now))
            if m.appendHead > 4096 { m.appendTimes.removeFirst(m.appendHead); m.appendHead = 0 }
            m.pending.append(r)
            m.pendingBytes += r.size
            m.trimPending(maxBytes: maxBytes)
        }
    }

    /// Checkpoint rows for the next commit: committed in the same transaction as the records
    /// appended before them.
    public func appendState(_ rows: [StateRow]) {
        guard !rows.isEmpty else { return }
        memory.withLock { m in for r in rows { m.pendingState[r.key] = .some(r.value) } }
    }

    /// The committed checkpoint rows.
    public func loadState() throws(SpoolError) -> [StateRow] {
        try database.withLock { (d: inout Database) throws(SpoolError) -> [StateRow] in
            let q = try d.db.prepare("SELECT key, value FROM state ORDER BY key")
            var out: [StateRow] = []
            while try q.step() { out.append(StateRow(key: q.text(0), value: q.blob(1))) }
            return out
        }
    }

    /// Seconds the oldest record has waited (nil when the spool is empty): from its append, or
    /// from when the spool was opened for records of an earlier run.
    public func oldestRecordAgeS(nowNs: Int64 = Clock.wallNs()) -> Double? {
        let minSeq: UInt64? = try? database.withLock { (d: inout Database) throws(SpoolError) -> UInt64? in
            let q = try d.db.prepare("SELECT MIN(seq) FROM records")
            guard try q.step() else { return nil }
            let v = q.int64(0)
            return v > 0 ? UInt64(v) : nil
        }
        guard let minSeq = minSeq ?? nil else { return nil }
        let since = memory.withLock { m -> Int64 in
            while m.appendHead < m.appendTimes.count && m.appendTimes[m.appendHead].seq < minSeq { m.appendHead += 1 }
            guard m.appendHead < m.appendTimes.count, m.appendTimes[m.appendHead].seq == minSeq else { return openedAt }
            return m.appendTimes[m.appendHead].ns
        }
        return Double(max(0, nowNs - since)) / 1e9
    }

    /// Bytes of committed checkpoint state.
    public func stateBytes() throws(SpoolError) -> Int64 {
        try database.withLock { (d: inout Database) throws(SpoolError) -> Int64 in
            let q = try d.db.prepare("SELECT COALESCE(SUM(length(value)), 0) FROM state")
            return try q.step() ? q.int64(0) : 0
        }
    }

    /// `dropped` includes pending records dropped while commits failed.
    public var stats: (count: Int, bytes: Int64, dropped: Int64, pending: Int) {
        memory.withLock { m in (m.count, m.bytes, m.dropped + m.pendingDropped, m.pending.count) }
    }

    /// Writes buffered records and checkpoint rows in one transaction (see the type's durability
    /// contract). The batch is taken out of `pending` first, so appends go on meanwhile; if the
    /// transaction fails it goes back in front of them.
    ///
    /// `sealing` runs first, holding the database lock, and must call `take` once: the agent
    /// appends its checkpoint and calls `take` under the pipeline's lock, so that the batch is
    /// exactly the records that state produced, and batches are written in the order they were
    /// sealed. Lock order: database, then the caller's locks, then memory.
    public func commit(sealing: (_ take: () -> Void) -> Void = { $0() }) throws(SpoolError) {
        try database.withLock { (d: inout Database) throws(SpoolError) in
            var taken: (batch: [Record], bytes: Int64, dropped: Int64, seq: UInt64, total: Int64, count: Int, allDropped: Int64, state: [String: [UInt8]?])?
            sealing {
                taken = memory.withLock { m in
                    guard !m.pending.isEmpty || m.lastSeq != m.committedSeq || !m.pendingState.isEmpty else { return nil }
                    defer { m.inCommit = m.pending; m.pending = []; m.pendingBytes = 0; m.pendingDropped = 0; m.pendingState = [:] }
                    return (m.pending, m.pendingBytes, m.pendingDropped, m.lastSeq, m.bytes, m.count, m.dropped, m.pendingState)
                }
            }
            guard let t = taken else { return }
            // counters change only once the transaction commits (a failed commit is retried)
            var newBytes = t.total, newCount = t.count
            var begun = false
            do throws(SpoolError) {
                try d.db.exec("BEGIN IMMEDIATE")
                begun = true
                for r in t.batch {
                    d.insert.reset()
                    d.insert.bind(1, Int64(r.seq)); d.insert.bind(2, r.topic); d.insert.bind(3, r.payload)
                    _ = try d.insert.step()
                    newBytes += r.size
                    newCount += 1
                }
                var droppedNow: Int64 = t.dropped
                while newBytes > maxBytes && newCount > 0 {
                    d.oldest.reset()
                    guard try d.oldest.step() else { break }
                    newBytes -= d.oldest.int64(0)
                    newCount -= 1
                    droppedNow += 1
                    _ = try d.oldest.step()
                }
                for (key, value) in t.state {
                    if let value {
                        d.putState.reset(); d.putState.bind(1, key); d.putState.bind(2, value); _ = try d.putState.step()
                    } else {
                        d.deleteState.reset(); d.deleteState.bind(1, key); _ = try d.deleteState.step()
                    }
                }
                d.setMeta.reset(); d.setMeta.bind(1, "last_seq"); d.setMeta.bind(2, Int64(t.seq)); _ = try d.setMeta.step()
                if droppedNow > 0 {
                    d.setMeta.reset(); d.setMeta.bind(1, "dropped"); d.setMeta.bind(2, t.allDropped + droppedNow); _ = try d.setMeta.step()
                }
                try d.db.exec("COMMIT")
                let (b, c, dn) = (newBytes, newCount, droppedNow)
                memory.withLock { m in
                    // only commit and remove change these, and both hold `database`
                    m.bytes = b
                    m.count = c
                    m.dropped += dn
                    m.committedSeq = t.seq
                    m.inCommit = []
                }
            } catch {
                if begun { try? d.db.exec("ROLLBACK") }
                memory.withLock { m in
                    m.inCommit = []
                    m.pending = t.batch + m.pending
                    m.pendingBytes += t.bytes
                    m.pendingDropped += t.dropped
                    // state rows set since the batch was taken are newer: they win
                    for (k, v) in t.state where m.pendingState[k] == nil { m.pendingState[k] = .some(v) }
                    m.trimPending(maxBytes: maxBytes)
                }
                throw error
            }
        }
    }

    /// Committed records with `seq > after`, oldest first.
    public func read(after: UInt64, limit: Int) throws(SpoolError) -> [Record] {
        try readCommitted(after: after, limit: limit).records
    }

    /// Committed records with `seq > after`, oldest first, and the last committed `seq` when they
    /// were read (for `takeEarly`: with fewer than `limit` records, everything committed up to it
    /// was read).
    public func readCommitted(after: UInt64, limit: Int) throws(SpoolError) -> (records: [Record], committedSeq: UInt64) {
        try database.withLock { (d: inout Database) throws(SpoolError) -> ([Record], UInt64) in
            d.selectAfter.reset()
            d.selectAfter.bind(1, Int64(after)); d.selectAfter.bind(2, Int64(limit))
            var out: [Record] = []
            while try d.selectAfter.step() {
                out.append(Record(seq: UInt64(d.selectAfter.int64(0)), topic: d.selectAfter.text(1), payload: d.selectAfter.blob(2)))
            }
            // `database` is held: no commit is half done, and the one read is the last
            return (out, memory.withLock { $0.committedSeq })
        }
    }

    /// Records not yet committed that may be sent: the longest run of `early` records at the
    /// front of those (the batch a commit is writing, then `pending`), with `seq > after`, at
    /// most `limit`. Only when nothing was committed since `committedSeq` (as `readCommitted`
    /// returned it, having read everything up to it), so that nothing unsent comes before them.
    /// Their highest `seq` is in `spool.db-early` before they are returned.
    public func takeEarly(after: UInt64, committedSeq: UInt64, limit: Int) -> [Record] {
        guard earlyFD >= 0 else { return [] }
        return memory.withLock { m in
            guard m.committedSeq == committedSeq, limit > 0 else { return [] }
            var out: [Record] = []
            for r in [m.inCommit, m.pending].joined() {
                guard r.early, out.count < limit else { break }
                if r.seq > after { out.append(r) }
            }
            if let last = out.last?.seq, last > m.earlySeq {
                var v = last
                // a plain write: it survives the process, and costs no fsync
                guard pwrite(earlyFD, &v, 8, 0) == 8 else { return [] }
                m.earlySeq = last
            }
            return out
        }
    }

    /// Deletes acknowledged records (one transaction). A record sent early and acknowledged before
    /// its commit leaves `pending` instead, and is never written.
    public func remove(_ seqs: [UInt64]) throws(SpoolError) {
        guard !seqs.isEmpty else { return }
        try database.withLock { (d: inout Database) throws(SpoolError) in
            // `database` is held, so no commit has a batch out of `pending`
            var seqs = seqs
            memory.withLock { m in
                guard let first = m.pending.first?.seq, seqs.contains(where: { $0 >= first }) else { return }
                let acked = Set(seqs.filter { $0 >= first })
                var freed: Int64 = 0
                m.pending.removeAll { r in
                    guard acked.contains(r.seq) else { return false }
                    freed += r.size
                    return true
                }
                m.pendingBytes -= freed
                seqs.removeAll { acked.contains($0) }
            }
            guard !seqs.isEmpty else { return }
            var (newBytes, newCount) = memory.withLock { ($0.bytes, $0.count) }
            // a deletion needs no fsync of its own: if a crash loses it, the record is sent again
            // (at-least-once), and the next commit's fsync makes it durable with itself
            try d.db.exec("PRAGMA synchronous=NORMAL")
            defer { try? d.db.exec("PRAGMA synchronous=FULL") }
            try d.db.exec("BEGIN IMMEDIATE")
            do throws(SpoolError) {
                for s in seqs {
                    d.deleteOne.reset()
                    d.deleteOne.bind(1, Int64(s))
                    if try d.deleteOne.step() {
                        newBytes -= d.deleteOne.int64(0)
                        newCount -= 1
                        _ = try d.deleteOne.step()
                    }
                }
                try d.db.exec("COMMIT")
                let (b, c) = (newBytes, newCount)
                memory.withLock { $0.bytes = b; $0.count = c }
            } catch {
                try? d.db.exec("ROLLBACK")
                throw error
            }
        }
    }
}

/// Dead letters: records the upstream broker can never take (a topic or payload its limits or
/// the protocol refuse). They leave the queue, so that they never hold back the records behind
/// them, and wait in `dead_letters` for `dewpoint spool` to list or export them. At most
/// `SpoolQueue.maxDeadLetters` are kept (the oldest go first).
extension SpoolQueue {
    public static let maxDeadLetters = 1000

    public struct DeadLetter: Sendable, Equatable {
        public var seq: UInt64
        public var topic: String
        public var payload: [UInt8]
        public var reason: String
        public var tsMs: Int64
    }

    /// Moves record `seq` from the queue to the dead letters, with why it cannot be sent.
    public func setAside(seq: UInt64, reason: String, nowMs: Int64) throws(SpoolError) {
        try withDatabase { (db: SQLiteDB) throws(SpoolError) in
            try db.exec("BEGIN IMMEDIATE")
            do throws(SpoolError) {
                let move = try db.prepare("INSERT OR REPLACE INTO dead_letters(seq, topic, payload, reason, ts_ms) SELECT seq, topic, payload, ?, ? FROM records WHERE seq = ?")
                move.bind(1, reason); move.bind(2, nowMs); move.bind(3, Int64(seq))
                _ = try move.step()
                let del = try db.prepare("DELETE FROM records WHERE seq = ? RETURNING length(payload) + length(CAST(topic AS BLOB))")
                del.bind(1, Int64(seq))
                let size: Int64? = try del.step() ? del.int64(0) : nil
                if size != nil { _ = try del.step() }
                try db.exec("DELETE FROM dead_letters WHERE seq NOT IN (SELECT seq FROM dead_letters ORDER BY seq DESC LIMIT \(SpoolQueue.maxDeadLetters))")
                try db.exec("COMMIT")
                if let size { adjustCommitted(bytes: -size, count: -1) }
            } catch {
                try? db.exec("ROLLBACK")
                throw error
            }
        }
    }

    /// The dead letters, oldest first.
    public func deadLetters(limit: Int = SpoolQueue.maxDeadLetters) throws(SpoolError) -> [DeadLetter] {
        try withDatabase { (db: SQLiteDB) throws(SpoolError) -> [DeadLetter] in
            let q = try db.prepare("SELECT seq, topic, payload, reason, ts_ms FROM dead_letters ORDER BY seq LIMIT ?")
            q.bind(1, Int64(limit))
            var out: [DeadLetter] = []
            while try q.step() {
                out.append(DeadLetter(seq: UInt64(q.int64(0)), topic: q.text(1), payload: q.blob(2), reason: q.text(3), tsMs: q.int64(4)))
            }
            return out
        }
    }

    /// Deletes the dead letters (after an export).
    public func clearDeadLetters() throws(SpoolError) {
        try withDatabase { (db: SQLiteDB) throws(SpoolError) in try db.exec("DELETE FROM dead_letters") }
    }
}

/// Upstream topics from the templates (default `<prefix>/<agent>/<device>/summary|alert` and
/// `<prefix>/<agent>/status`). Topics are built once per device and cached.
public final class UpstreamTopics: Sendable {
    public let prefix: String
    public let agent: String
    let summaryTemplate: String
    let alertTemplate: String
    public let status: String
    /// `<prefix>/<agent>/metrics` (next to the status topic).
    public let metrics: String
    private let cache = Mutex<[String: (summary: String, alert: String)]>([:])

    public init(prefix: String, agent: String, summary: String = "{prefix}/{agent}/{device}/summary",
                alert: String = "{prefix}/{agent}/{device}/alert", status: String = "{prefix}/{agent}/status") {
        self.prefix = prefix
        self.agent = agent
        summaryTemplate = summary
        alertTemplate = alert
        self.status = UpstreamTopics.fill(status, prefix, agent, "")
        self.metrics = UpstreamTopics.fill("{prefix}/{agent}/metrics", prefix, agent, "")
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
        let t = cache.withLock { c in
            if let t = c[device] { return t }
            // devices come and go (limits.device_idle): the cache is bounded, not a history
            if c.count >= 16_384 { c.removeAll(keepingCapacity: true) }
            let t = (summary: UpstreamTopics.fill(summaryTemplate, prefix, agent, device), alert: UpstreamTopics.fill(alertTemplate, prefix, agent, device))
            c[device] = t
            return t
        }
        return kind == .summary ? t.summary : t.alert
    }
}
