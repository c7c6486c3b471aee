import DewpointCore
import DewpointDecode
import DewpointPipeline
import Logging
import Synchronization

/// Live capture on one interface for the capture bindings that name it.
///
/// Contract: the capture thread owns the libpcap handle and the router; `onFrame(binding,
/// payload, ns)` runs on it with a view valid during the call (copy it). `stop()` sets the stop
/// flag, breaks the current handle's loop (`PcapBreaker`, the one libpcap call made from another
/// thread) and joins. A single binding's BPF expression is also set on the handle, so the kernel
/// drops the rest; with several bindings they are matched in user space.
///
/// Failure: when capture fails (the interface went away: a USB adapter unplugged, a VLAN
/// removed), the source logs it and opens the interface again with exponential backoff (250 ms
/// doubling to 30 s) until it succeeds or `stop()` is called. Packets the kernel dropped because
/// the capture buffer was full (`pcap_stats`) are logged as a warning, at most once a minute, and
/// counted in `summary`.
public final class CaptureSource: Source, Sendable {
    public let interface: String
    private let bpf: String?
    private let onFrame: @Sendable (Int, UnsafeRawBufferPointer, Int64) -> Void
    /// Sees every captured packet before routing (recording the traffic next to the live run).
    private let onPacket: (@Sendable (UnsafeRawBufferPointer, Int, Int64) -> Void)?
    private let worker = StoppableThread()
    private let backoff: ExponentialBackoff
    /// The kernel's capture buffer (`pcap_set_buffer_size`).
    private let bufferBytes: Int32
    public let logger: Logger
    /// The interface's link type, once opened (0 until then for a source made `waiting`).
    public var linkType: Int32 { linkTypeValue.load(ordering: .relaxed) }
    private let linkTypeValue = Atomic<Int32>(0)
    /// What the router is built from when the interface first opens (a `waiting` source).
    private let bindings: [(Int, CaptureSpec)]
    private let kernelFiltered: Bool

    /// What the capture thread owns once it runs: made by `init` (so that a bad interface or filter
    /// fails there), taken by the thread at its start. A source runs once.
    private struct Owned {
        var handle: PcapHandle
        var router: CaptureRouter
    }
    private let owned: Mutex<Owned?>
    /// Breaks the loop of the handle in use; replaced on reopen.
    private let current: Mutex<PcapBreaker?>
    private struct Shared {
        /// Kernel counters of handles closed after a failure, and of the current one.
        var closedDrops: (dropped: UInt64, interfaceDropped: UInt64) = (0, 0)
        var currentDrops: (dropped: UInt64, interfaceDropped: UInt64) = (0, 0)
        var reopenCount = 0
        /// The router's counters as of the last second (and at stop).
        var router: [(name: String, value: Int)] = []
    }
    private let shared = Mutex(Shared())

    public init(interface: String, bindings: [(Int, CaptureSpec)], onFrame: @escaping @Sendable (Int, UnsafeRawBufferPointer, Int64) -> Void,
                onPacket: (@Sendable (UnsafeRawBufferPointer, Int, Int64) -> Void)? = nil,
                logger: Logger = Logger(label: "dewpoint.capture"), bufferBytes: Int32 = 4 << 20,
                backoff: ExponentialBackoff = ExponentialBackoff(initialNs: 250_000_000, maxNs: 30_000_000_000, jitter: false),
                waitForInterface: Bool = false) throws(CaptureError) {
        self.interface = interface
        let kernelFiltered = bindings.count == 1 && !(bindings[0].1.bpf ?? "").isEmpty
        self.kernelFiltered = kernelFiltered
        self.bindings = bindings
        bpf = kernelFiltered ? bindings[0].1.bpf : nil
        self.bufferBytes = bufferBytes
        self.logger = logger
        self.onFrame = onFrame
        self.onPacket = onPacket
        self.backoff = backoff
        guard !waitForInterface else {
            current = Mutex(nil)
            owned = Mutex(nil)
            return
        }
        let handle = try CaptureSource.open(interface, bpf: bpf, bufferBytes: bufferBytes, logger: logger)
        linkTypeValue.store(handle.linkType, ordering: .relaxed)
        let router = try CaptureRouter(bindings: bindings, linkType: handle.linkType, kernelFiltered: kernelFiltered)
        let initial = router.counterValues
        shared.withLock { $0.router = initial }
        current = Mutex(handle.breaker)
        owned = Mutex(Owned(handle: handle, router: router))
    }

    /// A source for an interface that is not there yet (a USB adapter, a VPN or wlan interface
    /// that comes up later): its thread opens it with the same backoff as after a failure, logging
    /// each distinct error once. The BPF filter and the selections are checked at first open.
    public static func waiting(interface: String, bindings: [(Int, CaptureSpec)], onFrame: @escaping @Sendable (Int, UnsafeRawBufferPointer, Int64) -> Void,
                               logger: Logger = Logger(label: "dewpoint.capture"), bufferBytes: Int32 = 4 << 20,
                               backoff: ExponentialBackoff = ExponentialBackoff(initialNs: 250_000_000, maxNs: 30_000_000_000, jitter: false)) -> CaptureSource {
        // cannot throw: nothing is opened
        try! CaptureSource(interface: interface, bindings: bindings, onFrame: onFrame, logger: logger, bufferBytes: bufferBytes,
                           backoff: backoff, waitForInterface: true)
    }

    private static func open(_ interface: String, bpf: String?, bufferBytes: Int32, logger: Logger) throws(CaptureError) -> PcapHandle {
        let h = try PcapHandle.openLive(interface: interface, bufferBytes: bufferBytes, warning: { logger.warning("capture: \($0)") })
        if let bpf { try h.setFilter(bpf) }
        return h
    }

    public var name: String { "capture \(interface)" }

    public func start() { worker.start(name: "capture") { [self] in run() } }

    private func run() {
        guard var o = owned.withLock({ $0.take() }) ?? firstOpen() else { return }
        var lastStats = Clock.monotonicNs()
        var reportedDrops: UInt64 = 0
        var lastWarning: UInt64? = nil  // not 0: the monotonic clock starts at boot
        while !worker.isStopping {
            let router = o.router
            let rc = o.handle.dispatch { bytes, wire, ns in
                onPacket?(bytes, wire, ns)
                router.route(bytes, wireLength: wire) { b, payload in onFrame(b, payload, ns) }
            }
            let now = Clock.monotonicNs()
            if rc == -1 || now - lastStats >= 1_000_000_000 {
                lastStats = now
                sampleStats(o)
                let dropped = kernelDropped
                if dropped > reportedDrops && lastWarning.map({ now - $0 >= 60_000_000_000 }) ?? true {
                    logger.warning("capture on \(interface): the kernel dropped \(dropped - reportedDrops) packets (capture buffer full; the agent is too slow for this traffic)")
                    reportedDrops = dropped
                    lastWarning = now
                }
            }
            guard rc == -1 else { continue }
            logger.warning("capture on \(interface) failed: \(o.handle.lastError); opening it again")
            guard let reopened = reopen() else { break }
            // registered before the next dispatch: a stop after this breaks the new handle, and
            // libpcap keeps a break that comes before the dispatch starts
            let b = reopened.breaker
            current.withLock { $0 = b }
            o.handle = reopened
        }
        sampleStats(o)  // the counters as they stand at stop, for `summary`; the handle closes with `o`
    }

    /// Reads the kernel's counters of the current handle and the router's (capture thread only).
    private func sampleStats(_ o: Owned) {
        let st = o.handle.stats()
        let router = o.router.counterValues
        shared.withLock { s in
            if let st { s.currentDrops = (st.dropped, st.interfaceDropped) }
            s.router = router
        }
    }

    /// A `waiting` source's first open, retried with backoff; nil once stopping or when the
    /// bindings cannot apply to the interface (logged).
    private func firstOpen() -> Owned? {
        guard let h = reopen(first: true) else { return nil }
        do throws(CaptureError) {
            let router = try CaptureRouter(bindings: bindings, linkType: h.linkType, kernelFiltered: kernelFiltered)
            let b = h.breaker
            current.withLock { $0 = b }
            logger.info("capture on \(interface): open")
            return Owned(handle: h, router: router)
        } catch {
            logger.error("capture on \(interface): \(error.description); this interface is not captured")
            return nil
        }
    }

    /// Opens the interface again after a failure, waiting between attempts; nil once stopping.
    private func reopen(first: Bool = false) -> PcapHandle? {
        var waits = backoff
        var failures = 0
        var lastError = ""
        while true {
            failures += 1
            // a first open is tried at once; a reopen waits first
            if !(first && failures == 1) {
                guard worker.sleep(untilNs: Clock.monotonicNs() + waits.delayNs(failures: failures - (first ? 1 : 0)), sliceNs: 50_000_000) else { return nil }
            }
            do throws(CaptureError) {
                let h = try CaptureSource.open(interface, bpf: bpf, bufferBytes: bufferBytes, logger: logger)
                if first {
                    linkTypeValue.store(h.linkType, ordering: .relaxed)
                    return h
                }
                guard h.linkType == linkType else {
                    throw CaptureError(description: "\(interface): the link type changed from \(linkType) to \(h.linkType)")
                }
                shared.withLock { s in
                    s.closedDrops.dropped += s.currentDrops.dropped
                    s.closedDrops.interfaceDropped += s.currentDrops.interfaceDropped
                    s.currentDrops = (0, 0)
                    s.reopenCount += 1
                }
                logger.info("capture on \(interface) reopened after \(failures) attempt\(failures == 1 ? "" : "s")")
                return h
            } catch {
                // one line per distinct error, not one per attempt
                if error.description != lastError { logger.warning("capture on \(interface): \(error.description); retrying"); lastError = error.description }
            }
        }
    }

    public func stop() { worker.stop { current.withLock { $0?.breakLoop() } } }

    /// Packets the kernel dropped because the capture buffer was full, over every handle so far.
    public var kernelDropped: UInt64 { shared.withLock { $0.closedDrops.dropped + $0.currentDrops.dropped } }
    /// Times capture was opened again after a failure.
    public var reopens: Int { shared.withLock { $0.reopenCount } }

    /// Router counters (packets, unmatched, drops by reason) and the kernel's drops; exact after `stop()`.
    public var summary: String { counters.description }

    public var counters: SourceCounters {
        let (k, i, r, router) = shared.withLock { s in
            (s.closedDrops.dropped + s.currentDrops.dropped, s.closedDrops.interfaceDropped + s.currentDrops.interfaceDropped, s.reopenCount, s.router)
        }
        return SourceCounters(router + [("kernel_dropped", Int(k)), ("interface_dropped", Int(i)), ("reopens", r)])
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
