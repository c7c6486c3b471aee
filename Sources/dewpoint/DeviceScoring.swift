import ArgumentParser
import DewpointCore
import DewpointDecode
import DewpointPipeline
import DewpointSignal
import FoundationEssentials

/// The `device` detector's parameters on the command line (`score` and `evaluate`).
struct DeviceDetectorOptions: ParsableArguments {
    @Option(help: "device: rows learned before scoring.") var learn = 400
    @Option(help: "device: rows over which each channel's level adapts.") var baseline = 300
    @Option(help: "device: rows over which departures are smoothed.") var smoothing = 10
    @Option(help: "device: multiple of the learned limit that scores 0.5.") var margin = 1.5

    var config: DeviceDetector.Config {
        DeviceDetector.Config(learnRows: learn, baselineRows: Double(baseline), smoothingRows: Double(smoothing), margin: margin)
    }

    func validate() throws {
        guard learn >= 20, Double(learn) >= 4 * Double(smoothing) else { throw ValidationError("--learn must be at least 20 rows and at least 4 × --smoothing") }
        guard baseline >= 2, smoothing >= 1, margin > 0 else { throw ValidationError("--baseline must be 2 or more, --smoothing 1 or more, --margin above 0") }
    }
}

/// A series of several columns: a timestamp, then values, separated by `,` or `;` (SKAB), with a
/// header. Columns named `anomaly` and `changepoint` are labels (SKAB), not values.
struct Table {
    var names: [String] = []
    var times: [Int64] = []
    var timeText: [String] = []
    /// Row-major: row `i`'s values at `i * names.count ..< (i + 1) * names.count`.
    var values: [Float] = []
    var anomaly: [Bool]? = nil
    var changepoint: [Bool]? = nil
    var rows: Int { times.count }

    static func read(_ path: String) throws -> Table {
        var t = Table()
        let reader = try LineReader(path: path)
        var problem: String? = nil
        var separator: UInt8 = 0x2C
        var valueColumns: [Int] = []
        var anomalyColumn: Int? = nil, changepointColumn: Int? = nil
        var header = true
        func fields(_ line: UnsafeRawBufferPointer) -> [UnsafeRawBufferPointer] {
            var out: [UnsafeRawBufferPointer] = []
            var start = 0
            for i in 0...line.count where i == line.count || line[i] == separator {
                var end = i
                if end > start && line[end - 1] == 0x0D { end -= 1 }
                out.append(UnsafeRawBufferPointer(rebasing: line[start..<end]))
                start = i + 1
            }
            return out
        }
        try reader.forEachLine { line in
            if problem != nil || line.isEmpty { return }
            if header {
                header = false
                if !line.contains(0x2C) && line.contains(0x3B) { separator = 0x3B }
                let names = fields(line).map { String(decoding: $0, as: UTF8.self) }
                guard names.count >= 2 else { problem = "\(path):1: expected a header of timestamp,value[,value…]"; return }
                for (i, n) in names.enumerated().dropFirst() {
                    switch n {
                    case "anomaly": anomalyColumn = i
                    case "changepoint": changepointColumn = i
                    default: valueColumns.append(i); t.names.append(n)
                    }
                }
                if valueColumns.isEmpty { problem = "\(path):1: no value column" }
                if valueColumns.count > DeviceDetectorSpec.maxChannels && problem == nil {
                    problem = "\(path):1: \(valueColumns.count) value columns; a device detector takes at most \(DeviceDetectorSpec.maxChannels)"
                }
                if anomalyColumn != nil { t.anomaly = [] }
                if changepointColumn != nil { t.changepoint = [] }
                return
            }
            let f = fields(line)
            guard f.count == t.names.count + 1 + (anomalyColumn == nil ? 0 : 1) + (changepointColumn == nil ? 0 : 1) else {
                problem = "\(path):\(reader.lineNumber): expected \(t.names.count + 1) or more fields as in the header, found \(f.count)"; return
            }
            guard let ns = TimeParser.parseISO8601OrEpochMs(f[0]) else {
                problem = "\(path):\(reader.lineNumber): timestamp is neither ISO-8601 nor epoch ms"; return
            }
            t.times.append(ns)
            t.timeText.append(String(decoding: f[0], as: UTF8.self))
            for c in valueColumns {
                // an empty field is a channel without a sample in this row
                if f[c].isEmpty { t.values.append(.nan); continue }
                guard let x = NumberParser.parseDouble(f[c]), x.isFinite else {
                    problem = "\(path):\(reader.lineNumber): column \(c + 1) is not a number"; return
                }
                t.values.append(Float(x))
            }
            for (col, isAnomaly) in [(anomalyColumn, true), (changepointColumn, false)] {
                guard let col else { continue }
                guard let x = NumberParser.parseDouble(f[col]) else { problem = "\(path):\(reader.lineNumber): column \(col + 1) is not 0 or 1"; return }
                if isAnomaly { t.anomaly!.append(x != 0) } else { t.changepoint!.append(x != 0) }
            }
        }
        if let problem { throw ValidationError(problem) }
        if reader.overlongLines > 0 { throw ValidationError("\(path): \(reader.overlongLines) lines longer than 1 MiB") }
        return t
    }

    /// Each row's score from a device detector over all value columns, and whether an alert with
    /// the binding defaults (raise at 0.5, clear below 0.4) is raised after the row.
    func deviceScores(_ config: DeviceDetector.Config) -> (scores: [Double], raised: [Bool]) {
        let d = names.count
        let detector = DeviceDetector(channels: d, config: config)
        var machine = AlertStateMachine(raiseAt: 0.5, clearBelow: 0.4)
        var scores: [Double] = [], raised: [Bool] = []
        scores.reserveCapacity(rows); raised.reserveCapacity(rows)
        values.withUnsafeBufferPointer { v in
            for i in 0..<rows {
                let s = detector.observe(v.baseAddress! + i * d, stride: 1, ts: times[i])
                _ = machine.observe(score: s, ts: times[i])
                scores.append(s)
                raised.append(machine.isRaised)
            }
        }
        return (scores, raised)
    }

    /// Each row's highest score over the columns, each scored alone by `make()`'s detector.
    func columnScores(_ make: () throws -> AnomalyScorer) throws -> [Double] {
        var best = Array(repeating: 0.0, count: rows)
        for c in 0..<names.count {
            var scorer = try make()
            for i in 0..<rows {
                let x = values[i * names.count + c]
                if x.isNaN { continue }
                best[i] = max(best[i], scorer.score(Double(x), tsNs: times[i]))
            }
        }
        return best
    }
}

/// `dewpoint evaluate --format skab`: SKAB's protocol over every CSV under a folder.
enum SKABEvaluation {
    static func run(data: String, learnRows: Int, device: DeviceDetectorOptions, results: String?) throws {
        guard let all = try? FileManager.default.subpathsOfDirectory(atPath: data) else { throw ValidationError("cannot read the folder \(data)") }
        // numbered experiments in number order (2.csv before 10.csv)
        func key(_ path: String) -> [String] {
            path.split(separator: "/").map { part -> String in
                let stem = part.hasSuffix(".csv") ? part.dropLast(4) : part[...]
                guard let n = Int(stem) else { return String(part) }
                let digits = String(n)
                return String(repeating: "0", count: max(0, 12 - digits.count)) + digits
            }
        }
        let files = all.filter { $0.hasSuffix(".csv") }.sorted { key($0).lexicographicallyPrecedes(key($1)) }
        guard !files.isEmpty else { throw ValidationError("\(data): no .csv files") }
        var afterLearning = SKABScore.Rows(), allRows = SKABScore.Rows()
        var cpFiles: [SKABScore.File] = []
        var rows = 0, unlabeled: [String] = []
        for rel in files {
            let t = try Table.read(data + "/" + rel)
            // a file without labels (SKAB's anomaly-free run) is normal throughout
            if t.anomaly == nil { unlabeled.append(rel) }
            let truth = t.anomaly ?? Array(repeating: false, count: t.rows)
            let (scores, raised) = t.deviceScores(device.config)
            afterLearning.add(truth: truth, predicted: raised, from: learnRows)
            allRows.add(truth: truth, predicted: raised)
            rows += t.rows
            if let cp = t.changepoint {
                cpFiles.append(SKABScore.File(timesNs: t.times, changepoints: cp.indices.filter { cp[$0] }, predicted: raised))
            }
            if let results {
                var out = "datetime,anomaly_score,anomaly\n"
                for i in 0..<t.rows { out += "\(t.timeText[i]),\(scores[i]),\(raised[i] ? 1 : 0)\n" }
                let url = URL(fileURLWithPath: results + "/" + rel)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(out.utf8).write(to: url, options: .atomic)
            }
        }
        print("files \(files.count), rows \(rows); device detector: learn \(device.learn), baseline \(device.baseline), smoothing \(device.smoothing), margin \(device.margin)")
        if !unlabeled.isEmpty { print("no anomaly column, every row counted as normal: \(unlabeled.joined(separator: ", "))") }
        func line(_ r: SKABScore.Rows) -> String {
            "F1 \(fixed(r.f1, 3))  false alarms \(fixed(100 * r.falseAlarmRate, 2))%  missed alarms \(fixed(100 * r.missedAlarmRate, 2))%  (TP \(r.tp), FP \(r.fp), TN \(r.tn), FN \(r.fn))"
        }
        print("rows after the first \(learnRows) of each file: \(line(afterLearning))")
        print("all rows (as SKAB's leaderboard):          \(line(allRows))")
        if !cpFiles.isEmpty {
            let window: Int64 = 60_000_000_000
            let parts = [NABScore.Profile.standard, .rewardLowFP, .rewardLowFN].map { p in
                "\(p.name) \(fixed(SKABScore.changepoints(cpFiles, windowNs: window, profile: p), 2))"
            }
            print("changepoints (NAB, a 60 s window after each): \(parts.joined(separator: ", "))")
        }
    }
}
