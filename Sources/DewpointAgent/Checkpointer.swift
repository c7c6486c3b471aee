import DewpointCore
import DewpointPipeline
import DewpointUpstream
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Commits the sink's records together with the pipeline's state that produced them: one SQLite
/// transaction holds both, so that after a crash the restored state and the committed records
/// agree (no window is summarised twice, none is lost).
///
/// Commits come from the agent's loop (records within 5 ms, state every `spool.commit_interval`)
/// and from the MQTT input's network thread before it writes held acknowledgements
/// (`DurabilityGate`). The spool's database lock orders them; inside it the checkpoint is taken
/// and the records are sealed under the pipeline's lock.
final class Checkpointer: DurabilityGate, Sendable {
    let gate: PipelineGate
    let sink: UpstreamSink
    let intervalNs: UInt64
    private let lastCommitNs = Atomic<UInt64>(0)
    /// Commits made, and those that failed.
    let commits = Atomic<Int>(0)
    /// Arrival-to-commit latencies (ns) of committed alerts, until the metrics take them.
    private let latencies = Mutex<[Int64]>([])
    /// Whether to measure them (metrics are on).
    let measureLatency: Bool

    init(gate: PipelineGate, sink: UpstreamSink, intervalNs: UInt64, measureLatency: Bool = false) {
        self.measureLatency = measureLatency
        self.gate = gate
        self.sink = sink
        self.intervalNs = intervalNs
        lastCommitNs.store(Clock.monotonicNs(), ordering: .relaxed)
    }

    /// Commits pending records and the state changed since the last commit; false if the
    /// transaction failed (everything stays pending, and the sink logs it).
    @discardableResult
    func commit() -> Bool {
        let spool = sink.spool
        let gate = self.gate
        let measure = measureLatency
        var arrivals: [Int64] = []
        let ok = sink.commit(sealing: { take in
            arrivals = gate.run { p in
                var rows: [StateRow] = []
                p.checkpoint(version: DewpointVersion.string, into: &rows)
                spool.appendState(rows)
                take()
                return measure ? p.takeAlertArrivals() : []
            }
        })
        if ok && !arrivals.isEmpty {
            let now = Clock.wallNs()
            latencies.withLock { l in
                for a in arrivals where l.count < 4096 { l.append(now - a) }
            }
        }
        lastCommitNs.store(Clock.monotonicNs(), ordering: .relaxed)
        commits.add(1, ordering: .relaxed)
        return ok
    }

    /// The latencies measured since the last call.
    func takeLatencies() -> [Int64] { latencies.withLock { l in defer { l.removeAll() }; return l } }

    func commitForAcknowledgements() -> Bool {
        let ok = commit()
        if ok, let n = Checkpointer.exitAfterCommits, acknowledgementCommits.add(1, ordering: .relaxed).newValue == n {
            // fault injection for the crash tests: die between the commit and the PUBACKs
            _exit(9)
        }
        return ok
    }

    private let acknowledgementCommits = Atomic<Int>(0)
    /// `DEWPOINT_FAULT_EXIT_AFTER_COMMITS=n`: exit at once after the n-th commit made for
    /// acknowledgements, before writing them (the crash tests use it; nothing else should).
    private static let exitAfterCommits: Int? = getenv("DEWPOINT_FAULT_EXIT_AFTER_COMMITS").flatMap { Int(String(cString: $0)) }

    /// When the agent's loop should commit next: the sink's own due time for records, or the
    /// checkpoint interval since the last commit.
    var dueNs: UInt64 {
        let state = lastCommitNs.load(ordering: .relaxed) + intervalNs
        return min(sink.commitDueNs ?? state, state)
    }

    /// Puts the committed state back into the pipeline (before any source starts), and logs what
    /// it did and what it discarded.
    func restore(logger: Logger) throws {
        let rows = try sink.spool.loadState()
        guard !rows.isEmpty else { return }
        let report = gate.run { $0.restore(rows, version: DewpointVersion.string) }
        if let why = report.refused {
            logger.warning("checkpoint not restored: \(why); open windows and detector state start afresh")
            return
        }
        for (key, why) in report.discarded { logger.warning("checkpoint of \(key) discarded: \(why)") }
        logger.info("checkpoint restored: \(report.devices) devices, \(report.openWindows) open windows\(report.discarded.isEmpty ? "" : ", \(report.discarded.count) discarded")")
    }
}
