#if canImport(Glibc)
import Glibc
#endif

/// The scores of the Skoltech Anomaly Benchmark (SKAB): row-wise outlier detection and NAB-style
/// changepoint detection, pooled over all files.
///
/// - Rows: the confusion counts of every file are added up, then `F1 = TP / (TP + (FP + FN) / 2)`,
///   false-alarm rate `FP / (FP + TN)` and missed-alarm rate `FN / (FN + TP)` (as SKAB's
///   `evaluating(metric='binary')`).
/// - Changepoints: every switch of the predicted state (0→1 or 1→0) is a detected changepoint, as
///   in SKAB's notebooks. Each labeled changepoint opens a window of `windowNs` after it. Only the
///   earliest detection in a window counts: it earns `A_fp + (A_tp − A_fp)(1 − tanh(x)/tanh(π/2))/2`
///   with `x` running from −π/2 at the window's start to π/2 at its end (SKAB's `my_scale`). A
///   window without a detection costs `A_fn`; every detection outside the windows costs `A_fp`.
///   The total is normalised to 0 for no detections and 100 for a detection at every changepoint.
public enum SKABScore {
    public struct Rows: Sendable, Equatable {
        public var tp = 0, fp = 0, tn = 0, fn = 0
        public init() {}
        public var f1: Double { tp == 0 ? 0 : Double(tp) / (Double(tp) + Double(fp + fn) / 2) }
        public var falseAlarmRate: Double { fp + tn == 0 ? 0 : Double(fp) / Double(fp + tn) }
        public var missedAlarmRate: Double { fn + tp == 0 ? 0 : Double(fn) / Double(fn + tp) }

        /// Adds rows `from...` of one file.
        public mutating func add(truth: [Bool], predicted: [Bool], from start: Int = 0) {
            for i in max(0, start)..<min(truth.count, predicted.count) {
                switch (truth[i], predicted[i]) {
                case (true, true): tp += 1
                case (false, true): fp += 1
                case (false, false): tn += 1
                case (true, false): fn += 1
                }
            }
        }
    }

    /// One file for the changepoint score: row times, labeled changepoint rows, predicted state.
    public struct File: Sendable {
        public var timesNs: [Int64]
        public var changepoints: [Int]
        public var predicted: [Bool]
        public init(timesNs: [Int64], changepoints: [Int], predicted: [Bool]) {
            self.timesNs = timesNs; self.changepoints = changepoints; self.predicted = predicted
        }
    }

    /// The NAB changepoint score (0–100) of `files` under `profile` (its tp, fp and fn weights).
    public static func changepoints(_ files: [File], windowNs: Int64, profile: NABScore.Profile) -> Double {
        let aTP = profile.tpWeight, aFP = -profile.fpWeight, aFN = -profile.fnWeight
        var total = 0.0, windows = 0
        for f in files {
            var detections: [Int64] = []
            for i in f.predicted.indices where f.predicted[i] != (i == 0 ? false : f.predicted[i - 1]) { detections.append(f.timesNs[i]) }
            let bounds = f.changepoints.sorted().map { (f.timesNs[$0], f.timesNs[$0] &+ windowNs) }
            windows += bounds.count
            var used = Array(repeating: false, count: detections.count)
            for (start, end) in bounds {
                // the earliest detection inside the window
                if let k = detections.indices.first(where: { !used[$0] && detections[$0] >= start && detections[$0] <= end }) {
                    let x = -Double.pi / 2 + Double.pi * Double(detections[k] - start) / Double(max(1, end - start))
                    total += aFP + (aTP - aFP) * (1 - tanh(x) / tanh(Double.pi / 2)) / 2
                    // the window's later detections count for nothing
                    for j in detections.indices where detections[j] >= start && detections[j] <= end { used[j] = true }
                } else {
                    total += aFN
                }
            }
            for j in detections.indices where !used[j] { total += aFP }
        }
        let null = Double(windows) * aFN, perfect = Double(windows) * aTP
        return perfect == null ? 0 : 100 * (total - null) / (perfect - null)
    }
}
