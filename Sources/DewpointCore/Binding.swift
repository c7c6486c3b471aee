/// The typed model of a device binding: what `devices/*.yaml` becomes after validation.
///
/// The pipeline is built from these values only; it never sees YAML.
public struct BindingSpec: Sendable, Equatable {
    /// Device name used in records. A binding whose MQTT topic captures `+device`
    /// produces one device per captured name instead.
    public var name: String
    /// The file this binding was read from (for messages).
    public var file: String
    public var transport: TransportSpec
    public var framing: FramingSpec
    public var decoder: DecoderSpec
    public var timestamp: TimestampSpec
    public var channels: [ChannelSpec]
    public var window: WindowSpec
    public var output: OutputSpec
    /// What one sender can make this binding hold.
    public var limits: LimitsSpec
    /// `dedup: {by: timestamp, memory: N}`: a row whose payload time the device already sent
    /// among its last N rows is a duplicate (a publisher's resend), dropped and counted. 0: off.
    public var dedupMemory: Int = 0
    /// Detectors that watch several of the device's channels together (`detectors:` at the top
    /// of a binding).
    public var deviceDetectors: [DeviceDetectorSpec] = []

    public init(name: String, file: String = "", transport: TransportSpec, framing: FramingSpec = .none,
                decoder: DecoderSpec, timestamp: TimestampSpec = TimestampSpec(), channels: [ChannelSpec],
                window: WindowSpec = WindowSpec(), output: OutputSpec = OutputSpec(), limits: LimitsSpec = LimitsSpec()) {
        self.name = name; self.file = file; self.transport = transport; self.framing = framing
        self.decoder = decoder; self.timestamp = timestamp; self.channels = channels
        self.window = window; self.output = output; self.limits = limits
    }
}

/// Bounds on what a binding's senders can make the agent hold (`limits:` in a binding). Each
/// refusal is counted and logged with a rate limit.
public struct LimitsSpec: Sendable, Equatable {
    /// Frames (MQTT payloads, datagrams, framed messages) larger than this are dropped unread.
    public var maxPayload: Int
    /// Devices a `+device` binding tracks at once; messages for more are dropped.
    public var maxDevices: Int
    /// A `+device` device silent this long (wall clock live, event time in replay) has its open
    /// windows flushed and its state dropped. 0: never.
    public var deviceIdleMs: Int64
    /// Windows one device keeps open at once (out-of-order and future times open more); samples
    /// for more are dropped.
    public var maxOpenWindows: Int
    /// Device names taken from topic levels: at most this many bytes of `[A-Za-z0-9._-]`.
    public var maxNameLength: Int

    public static let defaultMaxPayload = 1 << 20
    public init(maxPayload: Int = LimitsSpec.defaultMaxPayload, maxDevices: Int = 10_000, deviceIdleMs: Int64 = 3_600_000,
                maxOpenWindows: Int = 64, maxNameLength: Int = 64) {
        self.maxPayload = maxPayload; self.maxDevices = maxDevices; self.deviceIdleMs = deviceIdleMs
        self.maxOpenWindows = maxOpenWindows; self.maxNameLength = maxNameLength
    }

    /// Whether `name` is a device name this binding accepts: non-empty, at most `maxNameLength`
    /// bytes, letters, digits, `.`, `_` and `-` only (so that it is safe in a topic level, a log
    /// line and a file name).
    @inline(__always)
    public func accepts(name: UnsafeRawBufferPointer) -> Bool {
        guard !name.isEmpty && name.count <= maxNameLength else { return false }
        for b in name {
            let letter = (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A
            guard letter || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E || b == 0x5F else { return false }
        }
        return true
    }
}

/// Text from outside (a payload, a topic) as it may appear in a log line: control characters and
/// non-ASCII bytes escaped (`\n`, `\x1b`), at most `limit` bytes of it shown, then `…(N bytes)`. A
/// sender cannot forge a journal line or fill the journal with its payload.
public func logExcerpt(_ bytes: UnsafeRawBufferPointer, limit: Int = 64) -> String {
    var out = ""
    out.reserveCapacity(min(bytes.count, limit) + 16)
    for b in bytes.prefix(limit) {
        switch b {
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        case 0x09: out += "\\t"
        case 0x5C: out += "\\\\"
        case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(b))
        default:
            let hex = Array("0123456789abcdef".utf8)
            out += "\\x"
            out.unicodeScalars.append(Unicode.Scalar(hex[Int(b >> 4)]))
            out.unicodeScalars.append(Unicode.Scalar(hex[Int(b & 15)]))
        }
    }
    if bytes.count > limit { out += "…(\(bytes.count) bytes)" }
    return out
}

public func logExcerpt(_ s: String, limit: Int = 64) -> String {
    var s = s
    return s.withUTF8 { logExcerpt(UnsafeRawBufferPointer($0), limit: limit) }
}

public enum TransportSpec: Sendable, Equatable {
    case mqtt(MQTTSourceSpec)
    case serial(SerialSpec)
    case capture(CaptureSpec)
    /// Only fed by `dewpoint replay --input file.csv` (a NAB-style time series).
    case file
    /// Datagrams received on a bound UDP socket; one datagram is one frame.
    case udp(ListenSpec)
    /// Connections accepted on a TCP socket; each is a byte stream through the binding's framer.
    case tcp(ListenSpec)

    public var kindName: String {
        switch self {
        case .mqtt: "mqtt"
        case .serial: "serial"
        case .capture: "capture"
        case .file: "file"
        case .udp: "udp"
        case .tcp: "tcp"
        }
    }
}

/// The address a `udp` or `tcp` binding listens on, and its bounds.
public struct ListenSpec: Sendable, Equatable {
    /// An address of this host (`0.0.0.0` or `::` for every interface), or a name that resolves to one.
    public var host: String
    /// 0 lets the kernel choose (tests).
    public var port: Int
    /// TCP: connections open at once; more are closed at once and counted.
    public var maxConnections: Int
    /// TCP: a connection silent this long is closed (0: never).
    public var idleTimeoutMs: Int64
    /// SO_RCVBUF, when set.
    public var receiveBufferBytes: Int?
    public init(host: String, port: Int, maxConnections: Int = 64, idleTimeoutMs: Int64 = 0, receiveBufferBytes: Int? = nil) {
        self.host = host; self.port = port; self.maxConnections = maxConnections
        self.idleTimeoutMs = idleTimeoutMs; self.receiveBufferBytes = receiveBufferBytes
    }
}

public struct MQTTSourceSpec: Sendable, Equatable {
    /// The topic filter as written, possibly with named levels (`sensors/+device/env`).
    public var topic: TopicFilter
    public var qos: Int
    public init(topic: TopicFilter, qos: Int = 1) { self.topic = topic; self.qos = qos }
}

public struct SerialSpec: Sendable, Equatable {
    public enum Parity: String, Sendable, CaseIterable { case none, even, odd }
    public enum Flow: String, Sendable, CaseIterable { case none, rtscts, xonxoff }
    public var port: String
    public var baud: Int
    public var dataBits: Int
    public var parity: Parity
    public var stopBits: Int
    public var flow: Flow
    /// For devices that only answer when asked.
    public var poll: PollSpec?
    public init(port: String, baud: Int = 9600, dataBits: Int = 8, parity: Parity = .none, stopBits: Int = 1,
                flow: Flow = .none, poll: PollSpec? = nil) {
        self.port = port; self.baud = baud; self.dataBits = dataBits; self.parity = parity
        self.stopBits = stopBits; self.flow = flow; self.poll = poll
    }
}

/// Request/response polling: send `request` every `intervalMs`, wait up to `timeoutMs` for the
/// reply. Missing, corrupt and exception replies are counted.
public struct PollSpec: Sendable, Equatable {
    public enum Request: Sendable, Equatable {
        /// Bytes (or text) sent as is; the reply is the first frame the binding's framer cuts.
        case bytes([UInt8])
        /// Modbus RTU: read holding (3) or input (4) registers. The reply's register bytes are the
        /// frame, so channel `byte_offset` 0 is the first register's high byte.
        case modbus(slave: UInt8, function: UInt8, address: UInt16, count: UInt16)
    }
    public var request: Request
    public var intervalMs: Int64
    public var timeoutMs: Int64
    public init(request: Request, intervalMs: Int64 = 1000, timeoutMs: Int64 = 500) {
        self.request = request; self.intervalMs = intervalMs; self.timeoutMs = timeoutMs
    }
}

public struct CaptureSpec: Sendable, Equatable {
    public var interface: String?
    public var file: String?
    public var bpf: String?
    public var srcHost: String?
    public var dstHost: String?
    public var srcPort: Int?
    public var dstPort: Int?
    /// Raw Ethernet frames of this type (sensor protocols without IP); the payload is the frame
    /// after the Ethernet header and any VLAN tags.
    public var ethertype: Int?
    /// The kernel's capture buffer for the interface (the largest of its bindings'); its pages
    /// are resident, so it is most of an idle agent's memory when it is large.
    public var bufferBytes: Int = CaptureSpec.defaultBufferBytes
    public static let defaultBufferBytes = 512 << 10
    public init(interface: String? = nil, file: String? = nil, bpf: String? = nil, srcHost: String? = nil,
                dstHost: String? = nil, srcPort: Int? = nil, dstPort: Int? = nil, ethertype: Int? = nil) {
        self.interface = interface; self.file = file; self.bpf = bpf; self.srcHost = srcHost
        self.dstHost = dstHost; self.srcPort = srcPort; self.dstPort = dstPort; self.ethertype = ethertype
    }
}

/// How a byte stream is cut into frames. MQTT messages and datagrams are already frames (`.none`).
public enum FramingSpec: Sendable, Equatable {
    case none
    /// Lines ended by `\n` (a `\r` before it is dropped). With `start`, a frame begins at that
    /// byte and anything before it is garbage (NMEA's `$`).
    case line(maxLength: Int, start: UInt8? = nil, checksum: FrameChecksum = .none)
    /// Frames ended by a custom delimiter.
    case delimiter([UInt8], maxLength: Int, checksum: FrameChecksum = .none)
    /// A length field of 1, 2 or 4 bytes, then that many bytes.
    case lengthPrefix(size: Int, bigEndian: Bool, maxLength: Int, checksum: FrameChecksum = .none)
    /// Frames of exactly `size` bytes.
    case fixed(size: Int, checksum: FrameChecksum = .none)
    /// RFC 1055 SLIP.
    case slip(maxLength: Int, checksum: FrameChecksum = .none)
    /// Consistent Overhead Byte Stuffing, frames ended by a zero byte.
    case cobs(maxLength: Int, checksum: FrameChecksum = .none)

    public var checksum: FrameChecksum {
        switch self {
        case .none: .none
        case .line(_, _, let c), .delimiter(_, _, let c), .lengthPrefix(_, _, _, let c), .fixed(_, let c), .slip(_, let c), .cobs(_, let c): c
        }
    }
}

/// A check each frame must pass. The checksum is stripped from the frame once verified (for
/// NMEA, the `*hh`; the NMEA decoder then does not ask for it again).
public enum FrameChecksum: String, Sendable, Equatable, CaseIterable {
    case none
    /// `$…*hh`: XOR of the bytes between `$` and `*`.
    case nmea
    /// The last 2 bytes, low byte first.
    case crc16Modbus = "crc16_modbus"
    /// The last 4 bytes, low byte first.
    case crc32
    /// The last byte is the 8-bit sum / XOR of the others.
    case sum8, xor8
}

public enum DecoderSpec: Sendable, Equatable {
    /// A JSON document; channels name JSON pointers.
    case json
    /// A JSON document holding an array of readings at `pointer`; each element becomes one row,
    /// with channel (and timestamp) pointers relative to the element. At most `maxItems` per frame.
    case jsonArray(pointer: String, maxItems: Int)
    /// One CSV record per frame; channels name a 0-based column (names given in `header` are
    /// resolved to indexes when the binding is loaded). A frame repeating the header is ignored.
    case csv(separator: UInt8, quote: UInt8, header: [String] = [])
    /// The whole payload is one number (the channel usually comes from a `+channel` topic level).
    case value
    /// Fixed binary layout; channels name an offset and a type.
    case binary
    /// InfluxDB line protocol; channels name a field. The line's timestamp, when present, is
    /// the sample time, in `precision` (default ns).
    case lineProtocol(precision: TimestampSpec.Format)
    /// `key=value` pairs; channels name a key.
    case keyValue(pairSeparator: UInt8, kvSeparator: UInt8)
    /// NMEA 0183; channels name a field (index or name). Sentences of another type than
    /// `sentence` (when set) are ignored and counted.
    case nmea(sentence: String?, requireChecksum: Bool)
    /// Modbus/TCP (one TCP segment per frame): requests are remembered by transaction id; a
    /// response to a read (function 3 or 4) of `unit` starting at `address` is decoded with the
    /// channels' binary layout over its register bytes (register `address + n` at byte `2n`).
    case modbusTCP(unit: UInt8, function: UInt8, address: UInt16)

    public var kindName: String {
        switch self {
        case .json, .jsonArray: "json"
        case .csv: "csv"
        case .value: "value"
        case .binary: "binary"
        case .lineProtocol: "lineprotocol"
        case .keyValue: "keyvalue"
        case .nmea: "nmea"
        case .modbusTCP: "modbustcp"
        }
    }
}

/// Where a channel's value sits in a decoded frame.
public enum ValueLocator: Sendable, Equatable {
    case jsonPointer(String)
    case csvColumn(Int)
    /// The whole payload (decoder `value`).
    case payload
    case binary(BinaryField)
    /// A key (key=value) or field (line protocol) name.
    case key(String)
    case nmea(NMEAField)
}

/// Where a value sits in an NMEA sentence.
public enum NMEAField: Sendable, Equatable {
    /// 1-based data field (field 0 is the address, `$GPGGA`).
    case index(Int)
    /// Decimal degrees from GGA (fields 2–5), RMC (3–6) or GLL (1–4), signed by hemisphere.
    case latitude, longitude
    /// RMC speed over ground (field 7).
    case speedKnots
    /// RMC course over ground (field 8).
    case course
    /// GGA fix quality, satellites, HDOP and altitude (fields 6–9).
    case fixQuality, satellites, hdop, altitude

    public static let names: [String: NMEAField] = [
        "latitude": .latitude, "longitude": .longitude, "speed_knots": .speedKnots, "course": .course,
        "fix_quality": .fixQuality, "satellites": .satellites, "hdop": .hdop, "altitude": .altitude,
    ]
}

/// Where a number sits in a binary frame.
public struct BinaryField: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case u8, i8, u16, i16, u32, i32, u64, i64, f16, f32, f64
        public var size: Int {
            switch self {
            case .u8, .i8: 1
            case .u16, .i16, .f16: 2
            case .u32, .i32, .f32: 4
            case .u64, .i64, .f64: 8
            }
        }
    }
    public enum Endian: String, Sendable, CaseIterable { case big, little }
    /// Order of 16-bit words in 32- and 64-bit values, as Modbus devices name it. `abcd` is
    /// plain big-endian; `cdab` swaps the words; `badc` swaps bytes in each word; `dcba` is
    /// little-endian. When set, it overrides `endian`.
    public enum WordOrder: String, Sendable, CaseIterable { case abcd, cdab, badc, dcba }

    public var offset: Int
    public var kind: Kind
    public var endian: Endian
    public var wordOrder: WordOrder?
    /// Arrays: `count` values, `stride` bytes apart (default: the type's size). They fan out into
    /// `count` samples spaced `1/sampleRateHz` apart, starting at the frame's time.
    public var count: Int
    public var stride: Int
    public var sampleRateHz: Double
    /// Bit field: `bitWidth` bits starting at `bitOffset` (0 = least significant) of the integer
    /// read at `offset`. Signed types sign-extend the field.
    public var bitOffset: Int = 0
    public var bitWidth: Int? = nil
    /// Conditional layout: the field exists only in frames whose byte at `whenOffset` equals
    /// `whenEquals` (a type byte); other frames leave the channel empty.
    public var whenOffset: Int? = nil
    public var whenEquals: UInt8 = 0

    public init(offset: Int, kind: Kind, endian: Endian = .big, wordOrder: WordOrder? = nil, count: Int = 1,
                stride: Int? = nil, sampleRateHz: Double = 0) {
        self.offset = offset; self.kind = kind; self.endian = endian; self.wordOrder = wordOrder
        self.count = count; self.stride = stride ?? kind.size; self.sampleRateHz = sampleRateHz
    }

    /// Bytes the field spans in a frame.
    public var span: Int { offset + (count - 1) * stride + kind.size }
}

public struct TimestampSpec: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// Gateway arrival time (in replay: the recording's `ts_ms`).
        case arrival
        case jsonPointer(String)
        case csvColumn(Int)
    }
    public enum Format: String, Sendable, Equatable, CaseIterable {
        case epochS = "epoch_s", epochMs = "epoch_ms", epochUs = "epoch_us", epochNs = "epoch_ns"
        case rfc3339
    }
    public var source: Source
    public var format: Format
    /// A strptime-like pattern (`%d/%m/%Y %H:%M:%S`) for text times; overrides `format` for strings.
    public var pattern: String?
    /// A payload time further than this from the gateway's clock (arrival) is replaced by the
    /// arrival time and counted (`clock_skew`). nil: trust the payload.
    public var maxSkewNs: Int64?
    /// The limit when the binding sets none: an hour.
    public static let defaultMaxSkewNs: Int64 = 3_600_000_000_000
    public init(source: Source = .arrival, format: Format = .epochMs, pattern: String? = nil, maxSkewNs: Int64? = nil) {
        self.source = source; self.format = format; self.pattern = pattern; self.maxSkewNs = maxSkewNs
    }
}

public struct ChannelSpec: Sendable, Equatable {
    public var name: String
    public var unit: String
    public var locator: ValueLocator
    public var scale: Double
    public var offset: Double
    /// Values outside `[validMin, validMax]` are sensor faults: dropped before windows and counted.
    public var validMin: Double?
    public var validMax: Double?
    public var detectors: [DetectorSpec]
    /// Applied in order to the channel's valid samples before windows and detectors.
    public var filters: [FilterSpec] = []
    /// Vibration features per window (fast channels).
    public var vibration: VibrationSpec?

    public init(name: String, unit: String = "", locator: ValueLocator, scale: Double = 1, offset: Double = 0,
                validMin: Double? = nil, validMax: Double? = nil, detectors: [DetectorSpec] = []) {
        self.name = name; self.unit = unit; self.locator = locator; self.scale = scale; self.offset = offset
        self.validMin = validMin; self.validMax = validMax; self.detectors = detectors
    }
}

/// Vibration features of a fast channel: RMS, peak, peak-to-peak, crest factor, kurtosis,
/// skewness, and band energies from Hann-windowed FFT frames of `fftSize` samples.
public struct VibrationSpec: Sendable, Equatable {
    public var fftSize: Int
    public var sampleRateHz: Double
    /// [low, high) in Hz.
    public var bands: [[Double]]
    public init(fftSize: Int = 1024, sampleRateHz: Double, bands: [[Double]] = []) {
        self.fftSize = fftSize; self.sampleRateHz = sampleRateHz; self.bands = bands
    }
}

/// A filter stage of a channel. Cutoffs are fractions of the Nyquist frequency of the channel's
/// sample stream.
public enum FilterSpec: Sendable, Equatable {
    case fir(taps: Int, band: FilterBand)
    case butterworth(order: Int, band: FilterBand)
    case ema(alpha: Double)
    case clamp(min: Double, max: Double)
    /// Box average of the last `length` samples.
    case movingAverage(length: Int)
    /// Each output moves at most `maxStep` from the previous one.
    case rateLimit(maxStep: Double)
    /// Running median of `length` samples; with `threshold`, replaces only samples that far from it.
    case median(length: Int, threshold: Double?)
    /// Passes a sample only when it moved more than `band` from the last one passed.
    case deadband(band: Double)
    /// Keeps one sample in `factor` after an anti-alias low pass.
    case decimate(factor: Int)
}

public enum FilterBand: Sendable, Equatable { case lowpass(Double), highpass(Double), bandpass(Double, Double) }

public struct WindowSpec: Sendable, Equatable {
    /// Tumbling window length in event time.
    public var lengthMs: Int64
    /// How far behind the newest event time a sample may arrive and still be counted in its window.
    public var latenessMs: Int64
    /// Percentiles (0–100) reported per channel, e.g. [50, 90, 99]; none by default.
    public var percentiles: [Double] = []
    /// Whether summaries carry the time-weighted mean (`twmean`).
    public var timeWeightedMean = false
    public init(lengthMs: Int64 = 10_000, latenessMs: Int64 = 2_000) {
        self.lengthMs = lengthMs; self.latenessMs = latenessMs
    }
}

public enum Severity: String, Sendable, Equatable, CaseIterable {
    case info, warning, critical
}

/// A detector attached to one channel. Rule detectors score 0 or 1; statistical and learned
/// ones score in [0, 1], and `raiseAt`/`clearBelow` turn their scores into alerts.
public struct DetectorSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Raised while the value is above `above` or below `below`.
        case threshold(above: Double?, below: Double?)
        /// Raised while the value changes faster than `maxPerSecond` (in the channel's unit).
        case rateOfChange(maxPerSecond: Double)
        /// Raised when the value has stayed within `epsilon` for `samples` samples in a row.
        case stuck(epsilon: Double, samples: Int)
        /// Raised from the clock when no sample has arrived for `afterMs`, or for `intervals` times
        /// the channel's usual interval between samples (learned), whichever is longer; cleared
        /// by the next sample. 0 leaves a limit unused.
        case dropout(afterMs: Int64, intervals: Double = 0)
        /// Raised by a sample whose time is not after the newest seen (duplicate or out of order).
        case timestamps
        /// Rolling z-score over `window` samples.
        case zscore(window: Int)
        /// z-score against an exponentially weighted mean and variance.
        case ewma(alpha: Double)
        /// Robust z-score: median and MAD of `window` samples.
        case mad(window: Int)
        /// Two-sided CUSUM for level shifts (allowance `k`, decision sum `h`, in σ).
        case cusum(k: Double, h: Double)
        /// z-score against the usual value for the time of day (30-minute bins).
        case seasonal(alpha: Double)
        /// The learned novelty detector (range, context, time-of-day and deviation).
        case novelty
    }
    public var kind: Kind
    public var severity: Severity
    /// Samples the condition must hold before raising (1 = at once).
    public var minSamples: Int
    /// How long (event time) the condition must hold before raising.
    public var minDurationMs: Int64 = 0
    /// After a clear, no new raise for this long.
    public var cooldownMs: Int64 = 0
    /// Once raised, stay raised at least this long.
    public var holdMs: Int64 = 0
    /// In the channel's unit: once raised, the value must come back this far inside the
    /// threshold to clear, so a value hovering at the threshold does not flap.
    public var hysteresis: Double
    /// Score at which to raise, and below which to clear.
    public var raiseAt: Double
    public var clearBelow: Double
    public init(kind: Kind, severity: Severity = .warning, minSamples: Int = 1, hysteresis: Double = 0,
                raiseAt: Double? = nil, clearBelow: Double? = nil) {
        self.kind = kind; self.severity = severity; self.minSamples = minSamples; self.hysteresis = hysteresis
        let d = Self.defaultLevels(kind)
        self.raiseAt = raiseAt ?? d.raise
        self.clearBelow = min(clearBelow ?? d.clear, self.raiseAt)
    }

    /// Rule detectors score 0 or 1 (0.5 splits them). Sigma scores raise at 0.999 (|z| ≈ 3.1)
    /// and clear below 0.99 (|z| ≈ 2.3); CUSUM raises when a sum reaches h; the novelty
    /// detector at 0.57 (the level NAB's scoring chose for it; the categories' cross-validation
    /// chose 0.57–0.59).
    public static func defaultLevels(_ kind: Kind) -> (raise: Double, clear: Double) {
        switch kind {
        case .threshold, .rateOfChange, .stuck, .dropout, .timestamps: (0.5, 0.5)
        case .zscore, .ewma, .mad, .seasonal: (0.999, 0.99)
        case .cusum: (0.5, 0.5)
        case .novelty: (0.57, 0.57)
        }
    }

    public var name: String {
        switch kind {
        case .threshold: "threshold"
        case .rateOfChange: "rate_of_change"
        case .stuck: "stuck"
        case .dropout: "dropout"
        case .timestamps: "timestamps"
        case .zscore: "zscore"
        case .ewma: "ewma"
        case .mad: "mad"
        case .cusum: "cusum"
        case .seasonal: "seasonal"
        case .novelty: "novelty"
        }
    }
}

/// A detector over several channels of one device (`detectors: [{kind: device, …}]` at the top of
/// a binding): it learns how the channels move together and raises while the device's state
/// departs from that (see `DeviceDetector` in DewpointSignal).
public struct DeviceDetectorSpec: Sendable, Equatable {
    /// Indices into the binding's channels, in the order given.
    public var channels: [Int]
    /// Rows learned before scoring, and at least this much event time (0: rows only).
    public var learnRows: Int
    public var learnMs: Int64
    /// Rows over which each channel's level adapts (while the device is normal).
    public var baselineRows: Double
    /// Rows over which the innovations are smoothed.
    public var smoothingRows: Double
    /// Multiple of the learned limit at which the score reaches 0.5.
    public var margin: Double
    public var severity: Severity
    public var minSamples: Int
    public var minDurationMs: Int64 = 0
    public var cooldownMs: Int64 = 0
    public var holdMs: Int64 = 0
    public var raiseAt: Double
    public var clearBelow: Double
    /// The `channel` of its alert records.
    public static let recordChannel = "*"
    /// Channels one detector may watch (its cost grows with their square).
    public static let maxChannels = 16

    public init(channels: [Int], learnRows: Int = 400, learnMs: Int64 = 0, baselineRows: Double = 300, smoothingRows: Double = 10,
                margin: Double = 1.5, severity: Severity = .warning, minSamples: Int = 1, raiseAt: Double = 0.5, clearBelow: Double = 0.4) {
        self.channels = channels; self.learnRows = learnRows; self.learnMs = learnMs; self.baselineRows = baselineRows
        self.smoothingRows = smoothingRows; self.margin = margin; self.severity = severity; self.minSamples = minSamples
        self.raiseAt = raiseAt; self.clearBelow = min(clearBelow, raiseAt)
    }
}

public struct OutputSpec: Sendable, Equatable {
    public var summaries: Bool
    public var alerts: Bool
    public init(summaries: Bool = true, alerts: Bool = true) { self.summaries = summaries; self.alerts = alerts }
}
