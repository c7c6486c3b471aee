import DewpointCore

/// The life of a serial link, as an explicit state machine driven by events and a clock:
///
///     closed ──start──► opening ──opened──► open ──hang-up──► backoff ──deadline──► opening
///                         │ failed                                ▲
///                         └───────────────────────────────────────┘
///
/// Backoff starts at 100 ms and doubles to 2 s, so a device that comes back (a USB adapter
/// plugged in again, the same `/dev/serial/by-id/…` path) is reopened within about 2 s. It owns no
/// thread or clock, so tests drive it with a fake clock.
public struct SerialLinkStateMachine: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed, opening, open
        case backoff(untilNs: UInt64)
    }

    public enum Action: Sendable, Equatable {
        case none
        case open
        /// Close the port and wait until the deadline.
        case closeAndWait(untilNs: UInt64)
    }

    public private(set) var state: State = .closed
    public private(set) var failures = 0
    /// Successful reopenings after a hang-up.
    public private(set) var returns = 0
    public private(set) var hangups = 0
    private var wasOpen = false
    /// No jitter: one gateway's own device, nothing to spread.
    private var waits: ExponentialBackoff

    public init(initialNs: UInt64 = 100_000_000, maxNs: UInt64 = 2_000_000_000) {
        waits = ExponentialBackoff(initialNs: initialNs, maxNs: maxNs, jitter: false)
    }

    public var delayNs: UInt64 { waits.ceilingNs(failures: failures) }

    public mutating func start() -> Action {
        guard state == .closed else { return .none }
        state = .opening
        return .open
    }

    public mutating func opened() -> Action {
        guard state == .opening else { return .none }
        state = .open
        failures = 0
        if wasOpen { returns += 1 }
        wasOpen = true
        return .none
    }

    public mutating func openFailed(nowNs: UInt64) -> Action {
        guard state == .opening else { return .none }
        failures += 1
        let until = nowNs + delayNs
        state = .backoff(untilNs: until)
        return .closeAndWait(untilNs: until)
    }

    /// The device went away: `read()==0`, `EIO`, `POLLHUP`/`POLLERR`.
    public mutating func hangup(nowNs: UInt64) -> Action {
        guard state == .open else { return .none }
        hangups += 1
        failures = 1
        let until = nowNs + delayNs
        state = .backoff(untilNs: until)
        return .closeAndWait(untilNs: until)
    }

    public mutating func tick(nowNs: UInt64) -> Action {
        if case .backoff(let until) = state, nowNs >= until {
            state = .opening
            return .open
        }
        return .none
    }

    public mutating func stop() { state = .closed }
}
