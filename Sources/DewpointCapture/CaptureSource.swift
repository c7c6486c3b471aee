import DewpointCore
import DewpointDecode
import DewpointPipeline

/// Live capture on one interface for the capture bindings that name it.
///
/// Contract: `pcap_dispatch` runs on a thread this object owns; `onFrame(binding, payload, ns)`
/// runs on it with a view valid during the call (copy it). `stop()` calls `pcap_breakloop` and
/// joins. A single binding's BPF expression is also set on the handle, so the kernel drops the
/// rest; with several bindings they are matched in user space.
public final class CaptureSource: @unchecked Sendable {
    // @unchecked: `stopping` is guarded by `lock`; the router is used by the capture thread only.
    public let interface: String
    private let handle: PcapHandle
    private let router: CaptureRouter
    private let onFrame: (Int, UnsafeRawBufferPointer, Int64) -> Void
    private let lock = Lock()
    private var stopping = false
    private var thread: OSThread?
    public var log: @Sendable (String) -> Void = { _ in }
    /// Sees every captured packet before routing (recording the traffic next to the live run).
    public var onPacket: ((UnsafeRawBufferPointer, Int, Int64) -> Void)?
    public var linkType: Int32 { handle.linkType }

    public init(interface: String, bindings: [(Int, CaptureSpec)], onFrame: @escaping (Int, UnsafeRawBufferPointer, Int64) -> Void,
                warning: (String) -> Void = { _ in }) throws(CaptureError) {
        self.interface = interface
        handle = try PcapHandle.openLive(interface: interface, warning: warning)
        let kernelFiltered = bindings.count == 1 && !(bindings[0].1.bpf ?? "").isEmpty
        if kernelFiltered, let bpf = bindings[0].1.bpf { try handle.setFilter(bpf) }
        router = try CaptureRouter(bindings: bindings, linkType: handle.linkType, kernelFiltered: kernelFiltered)
        self.onFrame = onFrame
    }

    public func start() {
        let t = OSThread(name: "capture") { [self] in
            while !lock.withLock({ stopping }) {
                let rc = handle.dispatch { bytes, wire, ns in
                    onPacket?(bytes, wire, ns)
                    router.route(bytes, wireLength: wire) { b, payload in onFrame(b, payload, ns) }
                }
                if rc == -1 { log("capture on \(interface) failed: \(handle.lastError)"); break }
            }
        }
        thread = t
        t.start()
    }

    public func stop() {
        lock.withLock { stopping = true }
        handle.breakLoop()
        thread?.join()
        thread = nil
    }

    /// Router counters (packets, unmatched, drops by reason), read after `stop()`.
    public var summary: String { router.summary }
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
