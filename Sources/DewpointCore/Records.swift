/// Records sent upstream and written by `dewpoint replay`. The schema is the public contract in
/// `docs/records.md`: existing keys never change meaning within `v:1`.
public enum RecordKind: String, Sendable {
    case summary, alert, status
}

/// Condensed statistics of one channel over one window.
public struct ChannelSummary: Sendable, Equatable {
    public var name: String
    public var unit: String
    public var n: Int
    public var min: Float
    public var max: Float
    public var mean: Double
    /// Population standard deviation (divides by n).
    public var std: Double
    public var first: Float
    public var last: Float
    /// Optional statistics in a fixed order, each a key of the channel object: `p50`, `p90`, …,
    /// `twmean`, and the vibration features `rms`, `peak`, `p2p`, `crest`, `kurtosis`, `skewness`,
    /// `frames`.
    public var extra: [SummaryField] = []
    /// Band energies (mean square in the band, unit²), keyed `"<low>-<high>"` in Hz, under `bands`.
    public var bands: [SummaryField] = []
    public init(name: String, unit: String, n: Int, min: Float, max: Float, mean: Double, std: Double,
                first: Float, last: Float) {
        self.name = name; self.unit = unit; self.n = n; self.min = min; self.max = max
        self.mean = mean; self.std = std; self.first = first; self.last = last
    }
}

public struct SummaryField: Sendable, Equatable {
    public var key: String
    public var value: Double
    public init(_ key: String, _ value: Double) { self.key = key; self.value = value }
}

public struct SummaryRecord: Sendable, Equatable {
    public var agent: String
    public var device: String
    public var seq: UInt64
    public var startMs: Int64
    public var endMs: Int64
    /// True when the window was flushed before it closed (shutdown or end of replay input).
    public var partial: Bool
    public var channels: [ChannelSummary]
    public init(agent: String, device: String, seq: UInt64, startMs: Int64, endMs: Int64, partial: Bool,
                channels: [ChannelSummary]) {
        self.agent = agent; self.device = device; self.seq = seq; self.startMs = startMs; self.endMs = endMs
        self.partial = partial; self.channels = channels
    }
}

public enum AlertState: String, Sendable { case raised, cleared }

public struct AlertRecord: Sendable, Equatable {
    public var agent: String
    public var device: String
    public var channel: String
    public var seq: UInt64
    public var tsMs: Int64
    public var state: AlertState
    public var severity: Severity
    public var detector: String
    public var score: Double
    public var value: Float
    public var message: String
    public init(agent: String, device: String, channel: String, seq: UInt64, tsMs: Int64, state: AlertState,
                severity: Severity, detector: String, score: Double, value: Float, message: String) {
        self.agent = agent; self.device = device; self.channel = channel; self.seq = seq; self.tsMs = tsMs
        self.state = state; self.severity = severity; self.detector = detector; self.score = score
        self.value = value; self.message = message
    }
}

/// Serialises records to compact JSON with a fixed key order, so the same record always gives the
/// same bytes. Floats print in their shortest round-trip form; non-finite numbers print as `null`.
public struct RecordEncoder: Sendable {
    public init() {}

    /// `{"kind":…,"v":1,"agent":…,"device":…`, the start every record shares.
    private func head(_ kind: StaticString, agent: String, device: String, into out: inout [UInt8]) {
        out.append(contentsOf: #"{"kind":""#.utf8)
        out.append(contentsOf: UnsafeBufferPointer(start: kind.utf8Start, count: kind.utf8CodeUnitCount))
        out.append(contentsOf: #"","v":1,"agent":"#.utf8)
        JSONText.string(agent, into: &out)
        out.append(contentsOf: #","device":"#.utf8)
        JSONText.string(device, into: &out)
    }

    /// `"key":value`, for the optional statistics.
    private func field(_ f: SummaryField, into out: inout [UInt8]) {
        JSONText.string(f.key, into: &out)
        out.append(UInt8(ascii: ":"))
        JSONText.double(f.value, into: &out)
    }

    public func encode(_ r: SummaryRecord, into out: inout [UInt8]) {
        head("summary", agent: r.agent, device: r.device, into: &out)
        out.append(contentsOf: #","seq":"#.utf8)
        JSONText.integer(r.seq, into: &out)
        out.append(contentsOf: #","start_ms":"#.utf8)
        JSONText.integer(r.startMs, into: &out)
        out.append(contentsOf: #","end_ms":"#.utf8)
        JSONText.integer(r.endMs, into: &out)
        if r.partial { out.append(contentsOf: #","partial":true"#.utf8) }
        out.append(contentsOf: #","channels":{"#.utf8)
        for (i, c) in r.channels.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.string(c.name, into: &out)
            out.append(contentsOf: #":{"unit":"#.utf8)
            JSONText.string(c.unit, into: &out)
            out.append(contentsOf: #","n":"#.utf8)
            JSONText.integer(c.n, into: &out)
            out.append(contentsOf: #","min":"#.utf8)
            JSONText.float(c.min, into: &out)
            out.append(contentsOf: #","max":"#.utf8)
            JSONText.float(c.max, into: &out)
            out.append(contentsOf: #","mean":"#.utf8)
            JSONText.double(c.mean, into: &out)
            out.append(contentsOf: #","std":"#.utf8)
            JSONText.double(c.std, into: &out)
            out.append(contentsOf: #","first":"#.utf8)
            JSONText.float(c.first, into: &out)
            out.append(contentsOf: #","last":"#.utf8)
            JSONText.float(c.last, into: &out)
            for f in c.extra {
                out.append(UInt8(ascii: ","))
                field(f, into: &out)
            }
            if !c.bands.isEmpty {
                out.append(contentsOf: #","bands":{"#.utf8)
                for (i, f) in c.bands.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    field(f, into: &out)
                }
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "}}".utf8)
    }

    public func encode(_ r: AlertRecord, into out: inout [UInt8]) {
        head("alert", agent: r.agent, device: r.device, into: &out)
        out.append(contentsOf: #","channel":"#.utf8)
        JSONText.string(r.channel, into: &out)
        out.append(contentsOf: #","seq":"#.utf8)
        JSONText.integer(r.seq, into: &out)
        out.append(contentsOf: #","ts_ms":"#.utf8)
        JSONText.integer(r.tsMs, into: &out)
        out.append(contentsOf: #","state":"#.utf8)
        JSONText.string(r.state.rawValue, into: &out)
        out.append(contentsOf: #","severity":"#.utf8)
        JSONText.string(r.severity.rawValue, into: &out)
        out.append(contentsOf: #","detector":"#.utf8)
        JSONText.string(r.detector, into: &out)
        out.append(contentsOf: #","score":"#.utf8)
        JSONText.double(r.score, into: &out)
        out.append(contentsOf: #","value":"#.utf8)
        JSONText.float(r.value, into: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONText.string(r.message, into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

/// Small helpers that append JSON text to a byte buffer.
public enum JSONText {
    public static func string(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    public static func integer<T: BinaryInteger>(_ v: T, into out: inout [UInt8]) {
        if v == 0 { out.append(UInt8(ascii: "0")); return }
        var x = v.magnitude
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, no allocation
        let n = withUnsafeMutableBytes(of: &tmp) { buf -> Int in
            var i = 0
            while x > 0 {
                buf[i] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
                i += 1
            }
            return i
        }
        withUnsafeBytes(of: &tmp) { buf in
            var i = n - 1
            while i >= 0 { out.append(buf[i]); i -= 1 }
        }
    }

    public static func double(_ v: Double, into out: inout [UInt8]) {
        guard v.isFinite else { out.append(contentsOf: "null".utf8); return }
        if v == v.rounded(), abs(v) < 1e15 {
            integer(Int64(v), into: &out)  // `20` rather than `20.0`
            return
        }
        out.append(contentsOf: v.description.utf8)
    }

    public static func float(_ v: Float, into out: inout [UInt8]) {
        guard v.isFinite else { out.append(contentsOf: "null".utf8); return }
        if v == v.rounded(), abs(v) < 1e7 {
            integer(Int64(v), into: &out)
            return
        }
        out.append(contentsOf: v.description.utf8)
    }
}
