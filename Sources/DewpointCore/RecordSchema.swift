/// What the records of one binding's devices can carry: each channel with its unit, the
/// statistics its summaries hold, its band energies, and the detectors whose alerts it raises.
///
/// Upstream formats that announce a device before its data (Sparkplug B's DBIRTH, Home
/// Assistant's discovery) describe the device from this. A summary may leave a statistic out (a
/// channel with no sample in a window, vibration features before the first full frame) but never
/// holds one that is not here; `Pipeline.recordSchema(for:)` makes it next to the code that writes
/// summaries, and a test holds the two together.
public struct RecordSchema: Sendable, Equatable {
    public struct Channel: Sendable, Equatable {
        public var name: String
        public var unit: String
        /// Keys of the channel's summary object, in order: `n`, `min`, `max`, `mean`, `std`,
        /// `first`, `last`, then the optional ones (`p50`, `twmean`, `rms`, …).
        public var statistics: [String]
        /// Band keys (`"<low>-<high>"` in Hz) under `bands`.
        public var bands: [String]
        /// Names of the channel's alert detectors (`threshold`, `zscore`, …), each once.
        public var detectors: [String]
        public init(name: String, unit: String, statistics: [String], bands: [String] = [], detectors: [String] = []) {
            self.name = name; self.unit = unit; self.statistics = statistics; self.bands = bands; self.detectors = detectors
        }
    }
    /// The binding's name (a device's model, to the platforms that show one).
    public var binding: String
    public var channels: [Channel]
    /// Whether the binding sends summaries and alerts upstream at all.
    public var summaries: Bool
    public var alerts: Bool
    /// Names of the detectors over the whole device (`detectors:` of the binding), whose alerts
    /// have the channel `*`.
    public var deviceDetectors: [String] = []
    public init(binding: String, channels: [Channel], summaries: Bool = true, alerts: Bool = true) {
        self.binding = binding; self.channels = channels; self.summaries = summaries; self.alerts = alerts
    }

    /// Every alert the device may raise, as (channel, detector): each channel's detectors, then
    /// the device's (channel `*`).
    public var alertKeys: [(channel: String, detector: String)] {
        channels.flatMap { c in c.detectors.map { (c.name, $0) } } + deviceDetectors.map { (DeviceDetectorSpec.recordChannel, $0) }
    }

    /// The statistics every summary channel carries.
    public static let baseStatistics = ["n", "min", "max", "mean", "std", "first", "last"]
}
