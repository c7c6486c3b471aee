import DewpointCore

/// Where the pipeline's records go (stdout, a JSONL file, the spool).
///
/// Contract:
/// - Threading: called only on the pipeline's thread, never concurrently.
/// - Backpressure: `write` may block (a full spool or a slow disk slows the pipeline, and with it
///   the bounded input queue, whose overflow policy then applies). It must not drop a record
///   silently: a sink that drops counts the drop.
/// - The `json` buffer is only valid during the call; copy what you keep.
public protocol RecordSink: AnyObject {
    func write(kind: RecordKind, device: String, seq: UInt64, json: UnsafeRawBufferPointer)
    /// Called when the pipeline is idle or finishing; buffered output should reach its target.
    func flush()
}

/// Hands out `seq`, strictly increasing per agent.
public protocol SeqAllocator: AnyObject {
    func next() -> UInt64
}

/// A counter starting at 1, for replay (where output must be the same on every run).
public final class CountingSeq: SeqAllocator {
    private var value: UInt64
    public init(startingAfter v: UInt64 = 0) { value = v }
    public func next() -> UInt64 { value += 1; return value }
}

/// Collects records in memory (tests, `dewpoint try`).
public final class MemorySink: RecordSink {
    public private(set) var lines: [String] = []
    public init() {}
    public func write(kind: RecordKind, device: String, seq: UInt64, json: UnsafeRawBufferPointer) {
        lines.append(String(decoding: json, as: UTF8.self))
    }
    public func flush() {}
}
