/// The wait after consecutive failures, shared by the MQTT connection and the serial link state
/// machines: `initial · 2^(failures − 1)`, capped at `max`. With `jitter`, the wait is drawn from
/// [d/2, d] instead, so that a fleet of agents does not reconnect in step after a broker restart.
/// It owns no clock; the seed makes the jitter reproducible in tests.
public struct ExponentialBackoff: Sendable, Equatable {
    public let initialNs: UInt64
    public let maxNs: UInt64
    public let jitter: Bool
    private var rng: SplitMix64

    public init(initialNs: UInt64, maxNs: UInt64, jitter: Bool, seed: UInt64 = 0x5EED) {
        self.initialNs = initialNs
        self.maxNs = maxNs
        self.jitter = jitter
        self.rng = SplitMix64(seed: seed)
    }

    /// The wait before jitter: the most `delayNs` can return.
    public func ceilingNs(failures: Int) -> UInt64 {
        min(maxNs, initialNs << UInt64(min(max(failures - 1, 0), 20)))
    }

    public mutating func delayNs(failures: Int) -> UInt64 {
        let d = ceilingNs(failures: failures)
        return jitter ? d / 2 + rng.next() % (d / 2 + 1) : d
    }
}
