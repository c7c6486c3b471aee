import DewpointCore
import DewpointDecode
import DewpointPipeline

/// Live capture on one interface for the capture bindings that name it.
///
/// Contract: `pcap_dispatch` runs on a thread this object owns; `onFrame(binding, payload, ns)`
/// runs on it with a view valid during the call (copy it). `stop()` calls `pcap_breakloop` and
/// joins. A single binding's BPF expression is also set on the handle, so the kernel drops the
/// rest; with several bindings they are matched in user space.
///
/// Failure: when capture fails (the interface went away: a USB adapter unplugged, a VLAN
/// removed), the source logs it and opens the interface again with exponential backoff (250 ms
/// doubling to 30 s) until it succeeds or `stop()` is called. Packets the kernel dropped because
/// the capture buffer was full (`pcap_stats`) are logged as a warning, at most once a minute, and
/// counted in `summary`.
public final class CaptureSource: @unchecked Sendable {
    // @unchecked: `handle` (replaced on reopen) and the kernel counters are guarded by `lock`; the
    // router is used by the capture thread only.
    public let interface: String
    private var handle: PcapHandle
    private let bpf: String?
    private let router: CaptureRouter
    private let onFrame: (Int, UnsafeRawBufferPointer, Int64) -> Void
    private let lock = Lock()
    private let worker = StoppableThread()
    /// Kernel counters of handles closed after a failure, and of the current one.
    private var closedDrops: (dropped: UInt64, interfaceDropped: UInt64) = (0, 0)
    private var currentDrops: (dropped: UInt64, interfaceDropped: UInt64) = (0, 0)
    private var reopenCount = 0
    private let backoff: ExponentialBackoff
    /// The kernel's capture buffer (`pcap_set_buffer_size`).
    private let bufferBytes: Int32
    public var log: @Sendable (String) -> Void = { _ in }
    /// Sees every captured packet before routing (recording the traffic next to the live run).
    public var onPacket: ((UnsafeRawBufferPointer, Int, Int64) -> Void)?
    public let linkType: Int32

    public init(interface: String, bindings: [(Int, CaptureSpec)], onFrame: @escaping (Int, UnsafeRawBufferPointer, Int64) -> Void,
                warning: (String) -> Void = { _ in }, bufferBytes: Int32 = 4 << 20,
                backoff: ExponentialBackoff = ExponentialBackoff(initialNs: 250_000_000, maxNs: 30_000_000_000, jitter: false)) throws(CaptureError) {
        self.interface = interface
        let kernelFiltered = bindings.count == 1 && !(bindings[0].1.bpf ?? "").isEmpty
        bpf = kernelFiltered ? bindings[0].1.bpf : nil
        self.bufferBytes = bufferBytes
        handle = try CaptureSource.open(interface, bpf: bpf, bufferBytes: bufferBytes, warning: warning)
        linkType = handle.linkType
        router = try CaptureRouter(bindings: bindings, linkType: linkType, kernelFiltered: kernelFiltered)
        self.onFrame = onFrame
        self.backoff = backoff
    }

    private static func open(_ interface: String, bpf: String?, bufferBytes: Int32, warning: (String) -> Void) throws(CaptureError) -> PcapHandle {
        let h = try PcapHandle.openLive(interface: interface, bufferBytes: bufferBytes, warning: warning)
        if let bpf { try h.setFilter(bpf) }
        return h
    }

    public func start() { worker.start(name: "capture") { [self] in run() } }

    private func run() {
        var h = lock.withLock { handle }
        var lastStats = Clock.monotonicNs()
        var reportedDrops: UInt64 = 0
        var lastWarning: UInt64? = nil  // not 0: the monotonic clock starts at boot
        while !worker.isStopping {
            let rc = h.dispatch { bytes, wire, ns in
                onPacket?(bytes, wire, ns)
                router.route(bytes, wireLength: wire) { b, payload in onFrame(b, payload, ns) }
            }
            let now = Clock.monotonicNs()
            if rc == -1 || now - lastStats >= 1_000_000_000 {
                lastStats = now
                sampleStats(h)
                let dropped = kernelDropped
                if dropped > reportedDrops && lastWarning.map({ now - $0 >= 60_000_000_000 }) ?? true {
                    log("capture on \(interface): the kernel dropped \(dropped - reportedDrops) packets (capture buffer full; the agent is too slow for this traffic)")
                    reportedDrops = dropped
                    lastWarning = now
                }
            }
            guard rc == -1 else { continue }
            log("capture on \(interface) failed: \(h.lastError); opening it again")
            guard let reopened = reopen() else { break }
            h = reopened
        }
        sampleStats(lock.withLock { handle })  // the counters as they stand at stop, for `summary`
    }

    /// Reads the kernel's counters of `h`, the current handle (capture thread only).
    private func sampleStats(_ h: PcapHandle) {
        if let st = h.stats() { lock.withLock { currentDrops = (st.dropped, st.interfaceDropped) } }
    }

    /// Opens the interface again after a failure, waiting between attempts; nil once stopping.
    private func reopen() -> PcapHandle? {
        var waits = backoff
        var failures = 0
        var lastError = ""
        while true {
            failures += 1
            guard worker.sleep(untilNs: Clock.monotonicNs() + waits.delayNs(failures: failures), sliceNs: 50_000_000) else { return nil }
            do throws(CaptureError) {
                let h = try CaptureSource.open(interface, bpf: bpf, bufferBytes: bufferBytes, warning: { log("capture: \($0)") })
                guard h.linkType == linkType else {
                    throw CaptureError(description: "\(interface): the link type changed from \(linkType) to \(h.linkType)")
                }
                // under the lock with the swap: `stop` breaks whichever handle is current after it
                let done = lock.withLock { () -> Bool in
                    if worker.isStopping { return true }
                    closedDrops.dropped += currentDrops.dropped
                    closedDrops.interfaceDropped += currentDrops.interfaceDropped
                    currentDrops = (0, 0)
                    handle = h
                    reopenCount += 1
                    return false
                }
                if done { return nil }
                log("capture on \(interface) reopened after \(failures) attempt\(failures == 1 ? "" : "s")")
                return h
            } catch {
                // one line per distinct error, not one per attempt
                if error.description != lastError { log("capture on \(interface): \(error.description); retrying"); lastError = error.description }
            }
        }
    }

    public func stop() { worker.stop { lock.withLock { handle }.breakLoop() } }

    /// Packets the kernel dropped because the capture buffer was full, over every handle so far.
    public var kernelDropped: UInt64 { lock.withLock { closedDrops.dropped + currentDrops.dropped } }
    /// Times capture was opened again after a failure.
    public var reopens: Int { lock.withLock { reopenCount } }

    /// Router counters (packets, unmatched, drops by reason) and the kernel's drops, read after `stop()`.
    public var summary: String {
        let (k, i, r) = lock.withLock { (closedDrops.dropped + currentDrops.dropped, closedDrops.interfaceDropped + currentDrops.interfaceDropped, reopenCount) }
        return "\(router.summary) kernel_dropped=\(k) interface_dropped=\(i) reopens=\(r)"
    }
}

extension ReplayReader {
    /// Replays a pcap or pcapng file through every capture binding (packet times are event
    /// times). Returns the router's counters.
    public func replayCapture(path: String, bindings: [(Int, CaptureSpec)], into pipeline: Pipeline) throws -> String {
        let h = try PcapHandle.openOffline(path)
        let router = try CaptureRouter(bindings: bindings, linkType: h.linkType)
        while true {
            let n = h.dispatch { bytes, wire, ns in
                router.route(bytes, wireLength: wire) { b, payload in pipeline.ingest(binding: b, payload: payload, arrivalNs: ns) }
            }
            if n == 0 { break }
            if n < 0 { throw CaptureError(description: "\(path): \(h.lastError)") }
        }
        return router.summary
    }
}
