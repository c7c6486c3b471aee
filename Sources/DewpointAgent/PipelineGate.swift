import DewpointCore
import DewpointPipeline

/// The pipeline behind one lock, so that each source can run it on its own thread.
///
/// The MQTT network thread runs it inline for every message (no copy, no queue, no wakeup per
/// message) and flushes its batches at the end of each network pass; the agent's thread runs it
/// for queued serial and capture frames, for the clock (`advance`) and at shutdown. Holding the
/// lock while a source blocks would stall the others, so bodies only compute.
final class PipelineGate: @unchecked Sendable {
    // @unchecked: `pipeline` is only touched while `lock` is held.
    private let lock = Lock()
    private let pipeline: Pipeline

    init(_ pipeline: Pipeline) { self.pipeline = pipeline }

    @inline(__always)
    func run<T>(_ body: (Pipeline) -> T) -> T {
        lock.withLock { body(pipeline) }
    }
}
