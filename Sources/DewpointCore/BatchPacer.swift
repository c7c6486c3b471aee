/// Whether a reader should linger before its next pass so that the pass finds a batch: only when
/// the recent arrival rate makes the linger gather at least `minBatch` messages. Batching then
/// starts where it pays (a 1 ms linger gathers 40 messages at 40,000/s) and costs nothing below
/// (each message is read at once, with no added latency), in the spirit of Nagle and of interrupt
/// coalescing.
///
/// Why a batch of 24 by default (`input.batch_min`): a linger delays the messages that arrive
/// during it by half its length on average, and saves one wakeup per message gathered. On the
/// development VM a wakeup costs about 5 µs, so below 20,000 messages/s reading each message at
/// once costs less than a tenth of a core, and the latency is worth more; at 40,000/s it would
/// cost a fifth, and the agent lingers.
///
/// The rate is counted over windows of ten lingers (at least 10 ms), not from the gaps between
/// passes: a publisher that writes its messages in bursts makes passes microseconds apart, whose
/// instantaneous rate would be many times the real one. A gap of more than a window with nothing
/// delivered starts the count again from zero.
public struct BatchPacer: Sendable {
    public let lingerNs: UInt64
    /// The fewest messages a linger must be expected to gather.
    public let minBatch: Int
    /// Messages per second over the last whole window.
    public private(set) var rate: Double = 0
    private var windowStartNs: UInt64 = 0
    private var windowCount = 0
    private var lastNs: UInt64 = 0
    private let windowNs: UInt64

    public static let defaultMinBatch = 24

    public init(lingerNs: UInt64, minBatch: Int = BatchPacer.defaultMinBatch) {
        self.lingerNs = lingerNs
        self.minBatch = max(1, minBatch)
        windowNs = max(10_000_000, 10 * lingerNs)
    }

    /// Notes a pass that delivered `n` messages at `nowNs`; returns how long to linger (0: not).
    public mutating func pass(delivered n: Int, nowNs: UInt64) -> UInt64 {
        guard n > 0, lingerNs > 0 else { return 0 }
        if lastNs == 0 || nowNs &- lastNs > windowNs {
            // the first pass, or the first after a quiet spell: count from here
            rate = 0
            windowStartNs = nowNs
            windowCount = 0
        }
        lastNs = nowNs
        windowCount += n
        if nowNs - windowStartNs >= windowNs {
            rate = Double(windowCount) / (Double(nowNs - windowStartNs) / 1e9)
            windowStartNs = nowNs
            windowCount = 0
        }
        return rate * Double(lingerNs) / 1e9 >= Double(minBatch) ? lingerNs : 0
    }
}
