#if canImport(Glibc)
import Glibc
#endif

/// The NAB scoring method (Lavin & Ahmad, 2015), as `dewpoint evaluate` applies it to a corpus.
///
/// - A detection inside a labeled window earns a scaled sigmoid of its position (earlier is
///   better); only the earliest detection of each window counts.
/// - A window with no detection costs `fnWeight`.
/// - A detection outside every window costs `fpWeight` times the sigmoid of its distance past the
///   previous window (-1 before the first window).
/// - The first 15% of each file (at most 750 rows) is probationary and not scored.
/// - One threshold is chosen for the whole corpus, maximising the raw score; the result is
///   normalised so that the null detector scores 0 and the perfect one 100.
public enum NABScore {
    public struct Profile: Sendable, Equatable {
        public var name: String
        public var tpWeight: Double
        public var fnWeight: Double
        public var fpWeight: Double
        public init(name: String, tpWeight: Double, fnWeight: Double, fpWeight: Double) {
            self.name = name; self.tpWeight = tpWeight; self.fnWeight = fnWeight; self.fpWeight = fpWeight
        }
        public static let standard = Profile(name: "standard", tpWeight: 1, fnWeight: 1, fpWeight: 0.11)
        public static let rewardLowFP = Profile(name: "reward_low_FP_rate", tpWeight: 1, fnWeight: 1, fpWeight: 0.22)
        public static let rewardLowFN = Profile(name: "reward_low_FN_rate", tpWeight: 1, fnWeight: 2, fpWeight: 0.11)
    }

    /// One scored file: anomaly scores per row and labeled windows as inclusive row ranges.
    public struct File: Sendable {
        public var name: String
        public var scores: [Double]
        public var windows: [ClosedRange<Int>]
        public init(name: String, scores: [Double], windows: [ClosedRange<Int>]) {
            self.name = name; self.scores = scores; self.windows = windows.sorted { $0.lowerBound < $1.lowerBound }
        }
    }

    public struct Result: Sendable, Equatable {
        public var normalised: Double
        public var raw: Double
        public var threshold: Double
    }

    /// The scaled sigmoid of a relative position.
    @inline(__always)
    static func sigmoid(_ x: Double) -> Double { x > 3 ? -1 : 2 / (1 + exp(5 * x)) - 1 }

    struct Row { var score: Double; var weight: Double; var window: Int }  // window -1: outside

    static func collect(_ f: File, _ p: Profile, windowBase: Int, scores: [Double]? = nil, into out: inout [Row]) {
        let s = scores ?? f.scores
        let n = s.count
        let probation = min(Int((0.15 * Double(n)).rounded(.down)), 750)
        let maxTP = sigmoid(-1)
        var k = 0
        var cur: ClosedRange<Int>? = nil
        var curId = -1
        var prevRight: Int? = nil
        var prevWidth = 0
        for i in 0..<n {
            if cur == nil, k < f.windows.count, f.windows[k].lowerBound == i {
                cur = f.windows[k]; curId = windowBase + k; k += 1
            }
            let w: Double
            let id: Int
            if let c = cur {
                let width = Double(c.upperBound - c.lowerBound + 1)
                w = sigmoid(-Double(c.upperBound - i + 1) / width) * p.tpWeight / maxTP
                id = curId
            } else {
                if let pr = prevRight { w = sigmoid(Double(abs(pr - i)) / Double(prevWidth - 1)) * p.fpWeight } else { w = -p.fpWeight }
                id = -1
            }
            if i >= probation { out.append(Row(score: s[i], weight: w, window: id)) }
            if let c = cur, i == c.upperBound {
                prevRight = i; prevWidth = c.upperBound - c.lowerBound + 1; cur = nil
            }
        }
    }

    /// Sweeps thresholds from high to low; returns the best raw score and its threshold.
    static func best(_ rows: [Row], windows: Int, fnWeight: Double) -> (Double, Double) {
        let sorted = rows.sorted { $0.score > $1.score }
        var parts = [Double](repeating: .nan, count: windows)
        for r in sorted where r.window >= 0 { parts[r.window] = -fnWeight }
        var windowTotal = parts.reduce(0) { $0 + ($1.isNaN ? 0 : $1) }
        var fp = 0.0
        var best = (fp + windowTotal, 1.1)
        var i = 0
        while i < sorted.count {
            let thr = sorted[i].score
            while i < sorted.count && sorted[i].score == thr {
                let r = sorted[i]
                if r.window < 0 {
                    fp += r.weight
                } else if r.weight > parts[r.window] {
                    windowTotal += r.weight - parts[r.window]
                    parts[r.window] = r.weight
                }
                i += 1
            }
            if fp + windowTotal > best.0 { best = (fp + windowTotal, thr) }
        }
        return best
    }

    /// The raw score of detecting at `threshold` (a score at or above it is a detection).
    static func raw(_ rows: [Row], windows: Int, fnWeight: Double, threshold: Double) -> Double {
        var parts = [Double](repeating: -fnWeight, count: windows)
        var fp = 0.0
        for r in rows where r.score >= threshold {
            if r.window < 0 { fp += r.weight } else if r.weight > parts[r.window] { parts[r.window] = r.weight }
        }
        return fp + parts.reduce(0, +)
    }

    /// `files` scored at a threshold chosen elsewhere (cross-validation: on other files),
    /// normalised over these files as NAB does.
    public static func score(_ files: [File], profile p: Profile, threshold: Double) -> Result {
        score(files, p) { rows, windows in (raw(rows, windows: windows, fnWeight: p.fnWeight, threshold: threshold), threshold) }
    }

    /// `files` at the threshold that scores best over them.
    public static func score(_ files: [File], profile p: Profile) -> Result {
        score(files, p) { rows, windows in best(rows, windows: windows, fnWeight: p.fnWeight) }
    }

    /// The rows of `files` and of the null detector, the raw score and threshold `detect` gives,
    /// normalised between the null detector (0) and the perfect one (100).
    private static func score(_ files: [File], _ p: Profile, _ detect: ([Row], Int) -> (Double, Double)) -> Result {
        var rows: [Row] = [], nullRows: [Row] = []
        var base = 0
        for f in files {
            collect(f, p, windowBase: base, into: &rows)
            collect(f, p, windowBase: base, scores: [Double](repeating: 0, count: f.scores.count), into: &nullRows)
            base += f.windows.count
        }
        let (raw, thr) = detect(rows, base)
        let (null, _) = best(nullRows, windows: base, fnWeight: p.fnWeight)
        let perfect = Double(base) * p.tpWeight
        return Result(normalised: perfect == null ? 0 : 100 * (raw - null) / (perfect - null), raw: raw, threshold: thr)
    }
}
