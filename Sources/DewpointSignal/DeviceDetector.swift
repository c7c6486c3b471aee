import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

/// Watches a device's channels together: it learns how they normally move with each other and
/// raises while the device's state departs from that, clearing when it returns.
///
/// ## Method
/// For each channel `j` the detector keeps a slowly adapting level `b_j` (an EWMA over
/// `baselineRows` rows) and predicts the next deviation from it with the channel's own lag-1
/// autocorrelation `φ_j`, learned at start: the innovation is
/// `e_j = (x_j − b_j) − φ_j (x_j,prev − b_j)`. A channel that is noise around a level (`φ ≈ 0`) is
/// watched for level shifts; a channel that drifts smoothly (a temperature, `φ ≈ 1`) is watched for
/// changes of its trend, so its ordinary drift does not alarm.
///
/// The innovations are smoothed (EWMA over `smoothingRows`), scaled by their learned spread, and
/// combined with the inverse of their learned correlation matrix (shrunk towards the identity, by
/// 10% for 8 channels with the defaults, so that a few hundred rows give a stable inverse): `T = zᵀ R⁻¹ z / d`. Movements that the
/// channels normally make together cost little; the same movements apart (flow falling while
/// current rises) cost a lot. The limit is the 0.999 quantile of `χ²_d / d` (Wilson–Hilferty)
/// times `margin`; `ratio = T / limit`, and the score is `ratio / (1 + ratio)` (0.5 at the
/// limit).
///
/// ## Learning and adapting
/// The first `learnRows` rows (or `learnNs` of event time, whichever ends later): the first half
/// gives the levels and `φ`, the second half the spread and correlation of the smoothed
/// innovations. Nothing is scored meanwhile (the score is 0). After it:
/// - the levels keep adapting while the device is normal, and freeze while it is anomalous
///   (`ratio ≥ 1`, until it falls below 2/3), so that a fault that lasts is not learned as normal;
/// - the spread and correlation keep adapting, over the last `learnRows` rows, to rows that are
///   clearly normal (a statistic below 0.75 of the χ² quantile), so that slow changes of the
///   noise (a bearing wearing in, a sensor ageing) do not alarm after hours of running;
/// - a state that is anomalous for 10 learning periods (counting anomalous rows up and normal
///   rows down, so that flickering does not reset it) is taken as the new normal: the detector
///   learns afresh (`relearned` counts it) and its alert clears.
///
/// ## Partial rows
/// A row carries the channels that arrived in it; a missing channel keeps its last smoothed
/// innovation (sample and hold), so channels sampled at different instants combine without
/// inventing values. A channel with too few samples while learning, or one that did not vary, is
/// left out (its term is 0) and named by `excludedChannels`.
///
/// ## Cost
/// O(d²) per row (d ≤ ``maxChannels``), no allocation after `init`. State: `stateBytes`, 3,040
/// bytes for 8 channels (the inverse correlation, the adapting covariance and scratch are 4 d² Doubles).
public final class DeviceDetector {
    public static let maxChannels = DeviceDetectorSpec.maxChannels
    /// `χ²` tail probability of the limit.
    static let tail = 0.999
    /// How far the correlation is shrunk towards the identity: a quarter of channels per
    /// effective learning row (rows of the second half over the smoothing span, whose rows are
    /// not independent), at most 0.5. 0.1 for 8 channels with the defaults.
    var shrink: Double {
        let effective = max(1, Double(config.learnRows) / 2 / max(1, config.smoothingRows))
        return min(0.5, 0.25 * Double(channels) / effective)
    }
    static let maxPhi = 0.98
    /// Ratio below which an anomalous state is over (for the level's freeze).
    static let clearRatio = 2.0 / 3.0
    /// Rows whose statistic is below this share of the χ² quantile are clearly normal: the
    /// spread and correlation adapt to them. Relative to the quantile, not to `margin`, so that a
    /// lower margin does not starve the adaptation.
    static let adaptBelow = 0.75
    /// Rows of adaptation between refreshes of the inverse correlation (O(d³)).
    static let refreshRows = 10
    /// Learning periods in a row in an anomalous state after which the state is learned afresh.
    static let relearnFactor = 10

    public struct Config: Sendable, Equatable {
        public var learnRows: Int
        public var learnNs: Int64
        public var baselineRows: Double
        public var smoothingRows: Double
        public var margin: Double
        public init(learnRows: Int = 400, learnNs: Int64 = 0, baselineRows: Double = 300, smoothingRows: Double = 10, margin: Double = 1.5) {
            self.learnRows = learnRows; self.learnNs = learnNs; self.baselineRows = baselineRows
            self.smoothingRows = smoothingRows; self.margin = margin
        }
    }

    public let config: Config
    public let channels: Int
    private let alpha: Double
    private let beta: Double

    // per channel
    private let base: UnsafeMutablePointer<Double>
    private let prev: UnsafeMutablePointer<Double>
    private let num: UnsafeMutablePointer<Double>
    private let den: UnsafeMutablePointer<Double>
    private let phi: UnsafeMutablePointer<Double>
    private let smoothed: UnsafeMutablePointer<Double>
    private let level: UnsafeMutablePointer<Double>
    private let spread: UnsafeMutablePointer<Double>
    private let seen: UnsafeMutablePointer<Double>
    private let last: UnsafeMutablePointer<Double>
    /// d × d: the sum of outer products while learning, then the inverse correlation.
    private let matrix: UnsafeMutablePointer<Double>
    /// d × d: the covariance of the smoothed innovations, adapting after learning.
    private let cov: UnsafeMutablePointer<Double>
    /// 1 for a channel in the statistic, 0 for one left out at the end of learning.
    private let included: UnsafeMutablePointer<Double>
    private let scratch: UnsafeMutablePointer<Double>

    private var rows = 0
    private var firstTs: Int64 = .min
    /// 0: levels and φ; 1: spread and correlation; 2: scoring.
    public private(set) var phase = 0
    private var covRows = 0.0
    /// Rows since the second half of learning began.
    private var settle = 0
    private var limit = 1.0
    private var active = 0
    public private(set) var anomalous = false
    public private(set) var ratio = 0.0
    /// Rows in an anomalous state, less the normal rows since (never below 0).
    private var anomalousRows = 0
    /// Clearly normal rows adapted to since learning ended.
    private var adapted = 0
    /// How often a lasting state was learned afresh (`relearnFactor`).
    public private(set) var relearned = 0

    public init(channels d: Int, config: Config) {
        precondition(d >= 1 && d <= DeviceDetector.maxChannels)
        self.channels = d
        self.config = config
        alpha = 2 / (max(1, config.smoothingRows) + 1)
        beta = 1 / max(1, config.baselineRows)
        base = .allocate(capacity: d); prev = .allocate(capacity: d); num = .allocate(capacity: d)
        den = .allocate(capacity: d); phi = .allocate(capacity: d); smoothed = .allocate(capacity: d)
        level = .allocate(capacity: d); spread = .allocate(capacity: d); seen = .allocate(capacity: d)
        last = .allocate(capacity: d)
        matrix = .allocate(capacity: d * d); scratch = .allocate(capacity: 2 * d * d + 3 * d)
        cov = .allocate(capacity: d * d); cov.initialize(repeating: 0, count: d * d)
        included = .allocate(capacity: d)
        for p in [base, prev, num, den, phi, smoothed, level, spread, seen, included] { p.initialize(repeating: 0, count: d) }
        last.initialize(repeating: .nan, count: d)
        matrix.initialize(repeating: 0, count: d * d)
        scratch.initialize(repeating: 0, count: 2 * d * d + 3 * d)
    }

    deinit {
        for p in [base, prev, num, den, phi, smoothed, level, spread, seen, last, matrix, scratch, cov, included] { p.deallocate() }
    }

    /// Bytes of state (the per-channel vectors, the matrix and its scratch, the scalars).
    public static func stateBytes(channels d: Int) -> Int { (14 * d + 4 * d * d) * 8 + 96 }

    /// Warm-up samples per channel before its level is tracked: an eighth of learning, 1–30.
    private var warm: Double { Double(min(30, max(1, config.learnRows / 8))) }

    private func inFirstHalf(_ ts: Int64) -> Bool {
        rows * 2 < config.learnRows || (config.learnNs > 0 && ts &- firstTs < config.learnNs / 2)
    }

    private func learning(_ ts: Int64) -> Bool {
        rows < config.learnRows || (config.learnNs > 0 && ts &- firstTs < config.learnNs)
    }

    /// Takes one row: `values[j * stride]` for channel `j`, NaN where the channel has no sample.
    /// Returns the score in [0, 1] (0 while learning).
    @inline(__always)
    public func observe(_ values: UnsafePointer<Float>, stride: Int, ts: Int64) -> Double {
        if firstTs == .min { firstTs = ts }
        rows += 1
        let d = channels
        switch phase {
        case 0:
            for j in 0..<d {
                let xf = values[j * stride]
                guard !xf.isNaN else { continue }
                let x = Double(xf)
                last[j] = x
                seen[j] += 1
                if seen[j] <= warm {
                    base[j] += (x - base[j]) / seen[j]
                    prev[j] = x - base[j]
                    level[j] = x
                    continue
                }
                let v = x - base[j]
                num[j] += v * prev[j]
                den[j] += prev[j] * prev[j]
                prev[j] = v
                base[j] += beta * (x - base[j])
                level[j] += alpha * (x - level[j])
            }
            if !inFirstHalf(ts) {
                for j in 0..<d { phi[j] = seen[j] > warm + 2 && den[j] > 0 ? min(DeviceDetector.maxPhi, max(0, num[j] / den[j])) : 0 }
                phase = 1
            }
            return 0
        case 1:
            innovate(values, stride: stride)
            followLevels(values, stride: stride)
            // the smoothed innovations settle for one smoothing span before they count
            settle += 1
            if Double(settle) > config.smoothingRows {
                for i in 0..<d { for k in 0..<d { matrix[i * d + k] += smoothed[i] * smoothed[k] } }
                covRows += 1
            }
            if !learning(ts) { finishLearning() }
            return 0
        default:
            if anomalousRows >= DeviceDetector.relearnFactor * config.learnRows {
                // a state that has lasted ten learning periods is the new normal: learn it afresh
                relearn()
                relearned += 1
                return observe(values, stride: stride, ts: ts)
            }
            innovate(values, stride: stride)
            ratio = statistic() / limit
            anomalous = anomalous ? ratio >= DeviceDetector.clearRatio : ratio >= 1
            // a leaky count: a state that is anomalous most of the time, even if it flickers, fills it
            anomalousRows = anomalous ? anomalousRows + 1 : max(0, anomalousRows - 1)
            if !anomalous { followLevels(values, stride: stride) }
            // the spread and correlation follow the device's clearly normal rows
            if ratio * config.margin < DeviceDetector.adaptBelow {
                let w = 1 / Double(max(1, config.learnRows))
                for i in 0..<d { for k in 0..<d { cov[i * d + k] += w * (smoothed[i] * smoothed[k] - cov[i * d + k]) } }
                adapted += 1
                if adapted % DeviceDetector.refreshRows == 0 { refresh() }
            }
            return ratio / (1 + ratio)
        }
    }

    /// Moves the level of each channel present in the row towards its sample.
    @inline(__always)
    private func followLevels(_ values: UnsafePointer<Float>, stride: Int) {
        for j in 0..<channels where !values[j * stride].isNaN { base[j] += beta * (Double(values[j * stride]) - base[j]) }
    }

    /// Updates the innovations of the channels present in the row.
    @inline(__always)
    private func innovate(_ values: UnsafePointer<Float>, stride: Int) {
        for j in 0..<channels {
            let xf = values[j * stride]
            guard !xf.isNaN else { continue }
            let x = Double(xf)
            last[j] = x
            seen[j] += 1
            let v = x - base[j]
            let e = v - phi[j] * prev[j]
            prev[j] = v
            smoothed[j] += alpha * (e - smoothed[j])
            level[j] += alpha * (x - level[j])
        }
    }

    private func finishLearning() {
        let d = channels
        let n = max(1, covRows)
        active = 0
        for i in 0..<d * d { cov[i] = matrix[i] / n }
        for j in 0..<d {
            included[j] = cov[j * d + j] > 1e-24 ? 1 : 0
            if included[j] > 0 { active += 1 }
        }
        let a = Double(max(1, active))
        limit = DeviceDetector.chiSquareQuantile(degrees: a) / a * config.margin
        refresh()
        phase = 2
    }

    /// The spreads and the inverse correlation from `cov`: over the included channels, shrunk;
    /// the identity on the others.
    private func refresh() {
        let d = channels
        for j in 0..<d { spread[j] = included[j] > 0 ? max(cov[j * d + j], 1e-24).squareRoot() : 0 }
        let r = scratch
        let shrinkage = shrink
        for i in 0..<d {
            for k in 0..<d {
                if included[i] > 0 && included[k] > 0 {
                    let c = cov[i * d + k] / (spread[i] * spread[k])
                    r[i * d + k] = (1 - shrinkage) * c + (i == k ? shrinkage : 0)
                } else {
                    r[i * d + k] = i == k ? 1 : 0
                }
            }
        }
        invert(r, into: matrix, d)
    }

    /// Back to the start of learning (`relearnFactor` learning periods in an anomalous state).
    private func relearn() {
        let d = channels
        for p in [base, prev, num, den, phi, smoothed, level, spread, seen, included] { p.update(repeating: 0, count: d) }
        matrix.update(repeating: 0, count: d * d)
        cov.update(repeating: 0, count: d * d)
        rows = 0; firstTs = .min; phase = 0; settle = 0; covRows = 0; limit = 1; active = 0
        anomalous = false; ratio = 0; anomalousRows = 0; adapted = 0
    }

    /// `zᵀ R⁻¹ z / d` over the active channels; the per-channel terms are left in `scratch`.
    @inline(__always)
    private func statistic() -> Double {
        let d = channels
        let z = scratch + d
        for i in 0..<d { z[i] = included[i] > 0 ? smoothed[i] / spread[i] : 0 }
        var total = 0.0
        for i in 0..<d {
            var row = 0.0
            for k in 0..<d { row += matrix[i * d + k] * z[k] }
            scratch[2 * d + i] = row
            scratch[i] = z[i] * row
            total += z[i] * row
        }
        return total / Double(max(1, active))
    }

    /// Gauss–Jordan on a symmetric positive definite matrix (no pivoting needed); `a` is destroyed.
    private func invert(_ a: UnsafeMutablePointer<Double>, into out: UnsafeMutablePointer<Double>, _ d: Int) {
        for i in 0..<d { for k in 0..<d { out[i * d + k] = i == k ? 1 : 0 } }
        for c in 0..<d {
            let p = a[c * d + c]
            for k in 0..<d { a[c * d + k] /= p; out[c * d + k] /= p }
            for i in 0..<d where i != c {
                let f = a[i * d + c]
                guard f != 0 else { continue }
                for k in 0..<d { a[i * d + k] -= f * a[c * d + k]; out[i * d + k] -= f * out[c * d + k] }
            }
        }
    }

    /// The `p = 0.999` quantile of `χ²` with `k` degrees of freedom (Wilson–Hilferty; within 1%
    /// for k ≥ 2).
    static func chiSquareQuantile(degrees k: Double) -> Double {
        let z = 3.090232306
        let t = 1 - 2 / (9 * k) + z * (2 / (9 * k)).squareRoot()
        return k * t * t * t
    }

    /// Whether learning is over.
    public var isScoring: Bool { phase == 2 }

    /// Channels left out of the statistic (no samples or no variation while learning).
    public var excludedChannels: [Int] { phase == 2 ? (0..<channels).filter { included[$0] == 0 } : [] }

    /// One channel's part in the last statistic, as a share of the limit (the parts sum to
    /// `ratio`), its smoothed value, and what was expected of it, in the channel's unit: its own
    /// prediction, moved by what the other channels' departures imply for it through the learned
    /// correlation (the conditional mean `zᵢ − (R⁻¹z)ᵢ / (R⁻¹)ᵢᵢ`).
    public struct Contribution: Sendable, Equatable {
        public var channel: Int
        public var share: Double
        public var value: Double
        public var expected: Double
    }

    /// The channels that contribute most to the last row's statistic, largest first: those with
    /// at least 15% of the total, at most `limit` of them (at least one).
    public func contributions(limit count: Int = 3) -> [Contribution] {
        guard phase == 2 else { return [] }
        let scale = 1 / (Double(max(1, active)) * limit)
        var all: [Contribution] = []
        for j in 0..<channels where included[j] > 0 {
            let d = channels
            let implied = scratch[d + j] - scratch[2 * d + j] / matrix[j * d + j]
            all.append(Contribution(channel: j, share: scratch[j] * scale, value: level[j],
                                    expected: level[j] - smoothed[j] + implied * spread[j]))
        }
        all.sort { $0.share > $1.share }
        let total = max(1e-12, ratio)
        var out = Array(all.prefix(count).filter { $0.share >= 0.15 * total })
        if out.isEmpty, let first = all.first { out = [first] }
        return out
    }

    /// The last value seen for channel `j` (NaN before its first sample).
    public func lastValue(_ j: Int) -> Double { last[j] }
}

extension DeviceDetector: Checkpointable {
    public func save(to w: inout StateWriter) {
        let d = channels
        w.write(UInt32(d))
        for p in [base, prev, num, den, phi, smoothed, level, spread, seen, last, included] { for j in 0..<d { w.write(p[j]) } }
        for i in 0..<d * d { w.write(matrix[i]); w.write(cov[i]) }
        w.write(rows); w.write(firstTs); w.write(phase); w.write(settle); w.write(covRows); w.write(limit); w.write(active)
        w.write(anomalous); w.write(ratio); w.write(anomalousRows); w.write(adapted); w.write(relearned)
    }

    public func restore(from r: inout StateReader) throws(StateCodingError) {
        let d = channels
        guard Int(try r.read(UInt32.self)) == d else { throw StateCodingError("a device detector of another channel count") }
        for p in [base, prev, num, den, phi, smoothed, level, spread, seen, last, included] { for j in 0..<d { p[j] = try r.read(Double.self) } }
        for i in 0..<d * d { matrix[i] = try r.read(Double.self); cov[i] = try r.read(Double.self) }
        rows = try restoredValue(r.read(Int.self), in: 0...Int.max, "a device detector's rows")
        firstTs = try r.read(Int64.self)
        phase = try restoredValue(r.read(Int.self), in: 0...2, "a device detector's phase")
        settle = try restoredValue(r.read(Int.self), in: 0...Int.max, "a device detector's rows")
        covRows = try r.read(Double.self)
        limit = try r.read(Double.self)
        active = try restoredValue(r.read(Int.self), in: 0...d, "a device detector's channel count")
        anomalous = try r.read(Bool.self)
        ratio = try r.read(Double.self)
        anomalousRows = try restoredValue(r.read(Int.self), in: 0...Int.max, "a device detector's rows")
        adapted = try restoredValue(r.read(Int.self), in: 0...Int.max, "a device detector's rows")
        relearned = try restoredValue(r.read(Int.self), in: 0...Int.max, "a device detector's relearning count")
        guard limit > 0 && limit.isFinite else { throw StateCodingError("a device detector's limit is \(limit)") }
    }
}

/// The messages of a device detector's alerts.
public enum DeviceAlertText {
    /// `pump-1: flow and current depart from how they moved together (3.2× the learned limit):
    /// flow 27.1 L/min (expected 32), current 5.2 A (expected 4.1)`; or, when cleared,
    /// `pump-1: flow, pressure, current, vibration move together as learned again`.
    public static func message(device: String, detector: DeviceDetector, raised: Bool, names: [String], units: [String]) -> String {
        guard raised else {
            return "\(device): \(names.joined(separator: ", ")) move together as learned again (\(readable(detector.ratio))× the learned limit)"
        }
        let parts = detector.contributions()
        let which = parts.map { names[$0.channel] }
        let what = which.count == 1 ? "\(which[0]) departs" : "\(which.dropLast().joined(separator: ", ")) and \(which.last!) depart"
        let detail = parts.map { p in
            let u = units[p.channel].isEmpty ? "" : " \(units[p.channel])"
            return "\(names[p.channel]) \(readable(p.value))\(u) (expected \(readable(p.expected))\(u))"
        }
        return "\(device): \(what) from how the channels moved together (\(readable(detector.ratio))× the learned limit): \(detail.joined(separator: ", "))"
    }

    /// Four significant digits, as people read them (`27.13`, `0.0412`, `1250`).
    public static func readable(_ x: Double) -> String {
        guard x.isFinite, x != 0 else { return x.isFinite ? "0" : String(x) }
        let digits = 4 - Int((log10(abs(x))).rounded(.down)) - 1
        let scale = pow(10.0, Double(max(-12, min(12, digits))))
        return numberText((x * scale).rounded() / scale)
    }
}
