extension StartupPages {
    /// When `dewpoint run` releases the start-up pages again while it settles.
    ///
    /// Each first time (connections made, the first messages decoded, the first commit, the first
    /// window closed) touches code that the running agent does not use again. The passes come at
    /// fixed offsets from the start: 0.5 s (the connections are usually up), 2 s (the first
    /// messages through), 5 s (logged: by then the figure says what start-up left behind) and
    /// 15 s (after the first windows of the usual lengths have closed). A loop that was late past
    /// several offsets makes one pass, not one per offset.
    struct SettlePasses: Sendable {
        /// One pass that is due.
        struct Pass: Equatable, Sendable {
            /// Its offset from the start.
            var offsetNs: UInt64
            /// Whether the agent logs what it released.
            var logged: Bool
        }

        static let offsetsNs: [UInt64] = [500_000_000, 2_000_000_000, 5_000_000_000, 15_000_000_000]
        static let loggedOffsetNs: UInt64 = 5_000_000_000

        let startNs: UInt64
        private var next = 0

        init(startNs: UInt64) { self.startNs = startNs }

        /// Whether every pass has been made.
        var finished: Bool { next >= Self.offsetsNs.count }

        /// The pass due at `nowNs`, if any; a pass is returned once.
        mutating func due(nowNs: UInt64) -> Pass? {
            guard !finished, nowNs >= startNs else { return nil }
            let elapsed = nowNs - startNs
            var reached: UInt64? = nil
            while next < Self.offsetsNs.count && Self.offsetsNs[next] <= elapsed {
                reached = Self.offsetsNs[next]
                next += 1
            }
            return reached.map { Pass(offsetNs: $0, logged: $0 == Self.loggedOffsetNs) }
        }
    }
}
