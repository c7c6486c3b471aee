import CSQLite
import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

public struct SpoolError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// The thin wrapper around the SQLite C API: every C call of the spool is in this file.
final class SQLiteDB {
    private var db: OpaquePointer?
    let path: String

    init(path: String) throws(SpoolError) {
        self.path = path
        // records may hold what sensors said about a site: owner-only. SQLite gives the -wal and
        // -shm files the database file's mode, so creating it 0600 covers them; an older spool
        // is tightened.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd >= 0 { _ = fchmod(fd, 0o600); close(fd) }
        for suffix in ["-wal", "-shm"] { _ = chmod(path + suffix, 0o600) }
        let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw SpoolError(message: "cannot open spool \(path): \(msg)")
        }
        sqlite3_busy_timeout(db, 5000)
    }

    deinit { sqlite3_close(db) }

    func exec(_ sql: String) throws(SpoolError) {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "error \(rc)"
            sqlite3_free(err)
            throw SpoolError(message: "spool \(path): \(msg) (in: \(sql.prefix(60)))")
        }
    }

    func prepare(_ sql: String) throws(SpoolError) -> Statement {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw SpoolError(message: "spool \(path): \(String(cString: sqlite3_errmsg(db))) (in: \(sql.prefix(60)))")
        }
        return Statement(stmt, db: self)
    }

    var lastError: String { String(cString: sqlite3_errmsg(db)) }

    final class Statement {
        let stmt: OpaquePointer
        unowned let db: SQLiteDB
        init(_ s: OpaquePointer, db: SQLiteDB) { stmt = s; self.db = db }
        deinit { sqlite3_finalize(stmt) }

        func reset() { sqlite3_reset(stmt); sqlite3_clear_bindings(stmt) }
        func bind(_ i: Int32, _ v: Int64) { sqlite3_bind_int64(stmt, i, v) }
        func bind(_ i: Int32, _ s: String) {
            // SQLITE_TRANSIENT: SQLite copies the text before this call returns
            sqlite3_bind_text(stmt, i, s, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        }
        func bind(_ i: Int32, _ b: [UInt8]) {
            b.withUnsafeBytes { p in
                _ = sqlite3_bind_blob(stmt, i, p.baseAddress, Int32(p.count), unsafeBitCast(-1, to: sqlite3_destructor_type.self))
            }
        }
        /// Steps once: true when a row is available, false when done.
        func step() throws(SpoolError) -> Bool {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_ROW { return true }
            if rc == SQLITE_DONE { return false }
            throw SpoolError(message: "spool \(db.path): \(db.lastError)")
        }
        func int64(_ col: Int32) -> Int64 { sqlite3_column_int64(stmt, col) }
        func text(_ col: Int32) -> String {
            guard let p = sqlite3_column_text(stmt, col) else { return "" }
            return String(cString: p)
        }
        func blob(_ col: Int32) -> [UInt8] {
            let n = Int(sqlite3_column_bytes(stmt, col))
            guard n > 0, let p = sqlite3_column_blob(stmt, col) else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: n))
        }
    }
}
