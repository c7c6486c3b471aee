import DewpointCore

/// The life of one broker connection, as an explicit state machine driven by events and a clock.
///
///     disconnected ──start──► connecting ──CONNACK ok──► connected
///          ▲                   │  │                         │
///          │        refused/timeout/socket error       connection lost
///          │                   ▼  ▼                         │
///          └──stop──────── backoff ◄───────────────────────┘
///                            │ deadline passed
///                            └──────────► connecting
///
/// The machine owns no thread, socket or clock: callers feed it events with the current time and
/// carry out the action it returns. That keeps it testable with a fake clock.
public struct ConnectionStateMachine: Sendable {
    public enum State: Sendable, Equatable {
        case disconnected
        case connecting(sinceNs: UInt64)
        case connected
        case backoff(untilNs: UInt64)
    }

    public enum Action: Sendable, Equatable {
        case none
        /// Open the socket and send CONNECT.
        case connect
        /// Connected: subscribe again, publish the online status, resume sending.
        case onConnected
        /// Close the socket (if open) and wait until the deadline.
        case closeAndWait(untilNs: UInt64)
    }

    public struct Backoff: Sendable {
        public var initialNs: UInt64 = 250_000_000
        public var maxNs: UInt64 = 30_000_000_000
        /// Time allowed between opening the socket and CONNACK.
        public var connectTimeoutNs: UInt64 = 10_000_000_000
        public init() {}
    }

    public private(set) var state: State = .disconnected
    /// Consecutive failed attempts; reset on a successful connection.
    public private(set) var failures = 0
    /// Successful connections after the first (reconnections), for logs and counters.
    public private(set) var reconnects = 0
    private var everConnected = false
    public let backoff: Backoff
    private var waits: ExponentialBackoff

    public init(backoff: Backoff = Backoff(), seed: UInt64 = 0x5EED) {
        self.backoff = backoff
        self.waits = ExponentialBackoff(initialNs: backoff.initialNs, maxNs: backoff.maxNs, jitter: true, seed: seed)
    }

    /// Exponential backoff with jitter (`ExponentialBackoff`): a delay drawn from [d/2, d],
    /// d = initial·2^(failures-1), capped. The jitter spreads a fleet's reconnections after a
    /// broker restart.
    public mutating func nextDelayNs() -> UInt64 { waits.delayNs(failures: failures) }

    public mutating func start(nowNs: UInt64) -> Action {
        guard state == .disconnected else { return .none }
        state = .connecting(sinceNs: nowNs)
        return .connect
    }

    /// The socket could not be opened (DNS, refused, TLS setup).
    public mutating func connectFailed(nowNs: UInt64) -> Action { fail(nowNs) }

    /// CONNACK arrived. `accepted` is false when the broker refused (auth, protocol).
    public mutating func connack(accepted: Bool, nowNs: UInt64) -> Action {
        guard case .connecting = state else { return .none }
        guard accepted else { return fail(nowNs) }
        state = .connected
        failures = 0
        if everConnected { reconnects += 1 }
        everConnected = true
        return .onConnected
    }

    /// The connection dropped (network error, broker gone, keepalive timeout).
    public mutating func connectionLost(nowNs: UInt64) -> Action {
        switch state {
        case .connected, .connecting: return fail(nowNs)
        case .disconnected, .backoff: return .none
        }
    }

    /// Called periodically: ends a backoff or times out a connection attempt.
    public mutating func tick(nowNs: UInt64) -> Action {
        switch state {
        case .backoff(let until) where nowNs >= until:
            state = .connecting(sinceNs: nowNs)
            return .connect
        case .connecting(let since) where nowNs - since >= backoff.connectTimeoutNs:
            return fail(nowNs)
        default:
            return .none
        }
    }

    public mutating func stop() {
        state = .disconnected
    }

    private mutating func fail(_ nowNs: UInt64) -> Action {
        failures += 1
        let until = nowNs + nextDelayNs()
        state = .backoff(untilNs: until)
        return .closeAndWait(untilNs: until)
    }
}
