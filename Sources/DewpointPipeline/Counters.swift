/// Everything the pipeline did not turn into output is counted here, by reason.
public struct PipelineCounters: Sendable, Equatable {
    public var frames = 0
    public var samples = 0
    /// MQTT messages whose topic matched no binding.
    public var unknownTopic = 0
    public var decodeErrors = 0
    /// Valid frames not meant for the binding (NMEA sentences of another type).
    public var ignoredFrames = 0
    /// Values outside a channel's valid range (dropped before windows and detectors).
    public var outOfRange = 0
    /// Samples removed on purpose by a deadband or decimation filter.
    public var filteredOut = 0
    /// Channels absent (or null) in a frame.
    public var missingValues = 0
    /// Payload times too far from the gateway clock, replaced by the arrival time.
    public var clockSkew = 0
    /// Samples that arrived after their window had closed (beyond the allowed lateness).
    public var lateSamples = 0
    /// `+channel` topic levels naming no channel of the binding.
    public var unknownChannel = 0
    public var summaries = 0
    public var alerts = 0
    /// Frames over their binding's `limits.max_payload`, dropped unread.
    public var oversize = 0
    /// `+device` names outside the name rule (empty, too long, other characters), dropped.
    public var invalidNames = 0
    /// Messages for a new device while the binding tracks `limits.max_devices`, dropped.
    public var deviceLimit = 0
    /// Idle devices whose state was dropped (`limits.device_idle`).
    public var devicesEvicted = 0
    /// Samples for a new window while the device had `limits.max_open_windows` open, dropped.
    public var windowLimit = 0
    /// MQTT messages the broker delivered again after they had been processed (a redelivery
    /// after a reconnect or a restart), recognised and not counted twice.
    public var redelivered = 0
    /// Rows whose payload time their device had already sent (`dedup`), dropped.
    public var duplicates = 0

    public init() {}

    /// `name value` pairs in a fixed order, for logs and the status record.
    public var fields: [(String, Int)] {
        [("frames", frames), ("samples", samples), ("unknown_topic", unknownTopic), ("decode_errors", decodeErrors), ("ignored_frames", ignoredFrames),
         ("out_of_range", outOfRange), ("filtered_out", filteredOut), ("missing_values", missingValues), ("late_samples", lateSamples), ("clock_skew", clockSkew),
         ("unknown_channel", unknownChannel), ("summaries", summaries), ("alerts", alerts), ("oversize", oversize),
         ("invalid_names", invalidNames), ("device_limit", deviceLimit), ("devices_evicted", devicesEvicted), ("window_limit", windowLimit), ("redelivered", redelivered), ("duplicates", duplicates)]
    }

    public var summaryLine: String { fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ") }
}
