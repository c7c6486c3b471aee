import ArgumentParser
import DewpointConfig
import DewpointCore
import DewpointDecode
import DewpointPipeline
import DewpointSignal
import FoundationEssentials

/// Detector selection shared by `score` and `evaluate`.
struct DetectorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("One of \(DetectorOptions.names.joined(separator: ", ")), or device (all columns together); novelty is the default learned detector."))
    var detector = "novelty"
    @Option(help: "Window (samples) of zscore and mad.") var window = ScoreOptions.defaults.window
    @Option(help: "Smoothing factor of ewma; per-bin smoothing of seasonal.") var alpha = ScoreOptions.defaults.alpha
    @Option(help: "Allowance k (σ) of cusum.") var k = ScoreOptions.defaults.k
    @Option(help: "Decision sum h (σ) of cusum.") var h = ScoreOptions.defaults.h

    @Option(help: ArgumentHelp("Score with a binding's detectors instead (the highest score of a channel's detectors).", valueName: "file"))
    var binding: String?
    @Option(help: "The binding's channel (default: its first channel with detectors).") var channel: String?

    /// The detectors that score (the ones whose descriptor takes these options), and
    /// `windowed-gaussian`, NAB's name for zscore.
    static let names = DetectorDescriptors.all.filter { $0.fromOptions != nil }.map(\.kind) + ["windowed-gaussian"]

    /// The detectors of the binding's channel. In a live pipeline they see samples after the
    /// channel's scale, offset and filters; here the series values are taken as already in the
    /// channel's unit.
    func bindingDetectors(_ binding: String) throws -> [ChannelDetector] {
        let spec: BindingSpec
        do { spec = try ConfigLoader.loadBinding(file: binding).0 } catch { throw ValidationError("\(error)") }
        let chosen = channel.map { name in spec.channels.first { $0.name == name } } ?? spec.channels.first { !$0.detectors.isEmpty }
        guard let ch = chosen else {
            throw ValidationError(channel.map { "\(binding): no channel '\($0)' (channels: \(spec.channels.map(\.name).joined(separator: ", ")))" }
                                  ?? "\(binding): no channel has detectors")
        }
        guard !ch.detectors.isEmpty else { throw ValidationError("\(binding): channel '\(ch.name)' has no detectors") }
        return ch.detectors.map(ChannelDetector.init)
    }

    /// The named scorer, built from its spec as a binding's detector is (without the binding's
    /// ranges: the command line takes any window).
    func make() throws -> AnomalyScorer {
        let name = detector == "windowed-gaussian" ? "zscore" : detector
        guard let kind = DetectorDescriptors.named(name)?.fromOptions?(ScoreOptions(window: window, alpha: alpha, k: k, h: h)),
              let scorer = AnomalyScorer(kind) else {
            throw ValidationError("unknown detector '\(detector)'; expected one of \(Self.names.joined(separator: ", "))")
        }
        return scorer
    }
}

/// A NAB-style series: `timestamp,value` with a header.
struct Series {
    var times: [Int64] = []
    var timeText: [String] = []
    var valueText: [String] = []
    var values: [Double] = []

    static func read(_ path: String) throws -> Series {
        var s = Series()
        var splitter = CSVSplitter()
        var header = true
        let reader = try LineReader(path: path)
        var problem: String? = nil
        try reader.forEachLine { line in
            if problem != nil || line.isEmpty { return }
            do { try splitter.split(line) } catch { problem = "\(path):\(reader.lineNumber): \(error)"; return }
            if header { header = false; return }
            guard splitter.fields.count >= 2 else { problem = "\(path):\(reader.lineNumber): expected timestamp,value"; return }
            let t = UnsafeRawBufferPointer(rebasing: line[splitter.fields[0]])
            let v = UnsafeRawBufferPointer(rebasing: line[splitter.fields[1]])
            guard let ns = TimeParser.parseISO8601OrEpochMs(t) else {
                problem = "\(path):\(reader.lineNumber): timestamp is neither ISO-8601 nor epoch ms"; return
            }
            guard let x = NumberParser.parseDouble(v) else { problem = "\(path):\(reader.lineNumber): value is not a number"; return }
            s.times.append(ns)
            s.timeText.append(String(decoding: t, as: UTF8.self))
            s.valueText.append(String(decoding: v, as: UTF8.self))
            s.values.append(x)
        }
        if let problem { throw ValidationError(problem) }
        if reader.overlongLines > 0 { throw ValidationError("\(path): \(reader.overlongLines) lines longer than 1 MiB") }
        return s
    }

    /// NAB's results format (`timestamp,value,anomaly_score`, input order) to `path`, or stdout.
    func writeScores(_ scores: [Double], to path: String?) throws {
        var out = "timestamp,value,anomaly_score\n"
        for i in 0..<scores.count { out += "\(timeText[i]),\(valueText[i]),\(scores[i])\n" }
        guard let path else { print(out, terminator: ""); return }
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(out.utf8).write(to: url, options: .atomic)
    }

    func scores(_ d: DetectorOptions) throws -> [Double] {
        guard let binding = d.binding else {
            // the named scorer sees the full Double value
            var scorer = try d.make()
            return zip(values, times).map { scorer.score($0, tsNs: $1) }
        }
        // a binding's detectors see the Float samples the pipeline gives them
        var detectors = try d.bindingDetectors(binding)
        return zip(values, times).map { x, t in
            var s = 0.0
            for k in detectors.indices { s = max(s, detectors[k].score(Float(x), ts: t)) }
            return s
        }
    }
}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a CSV time series (timestamp,value[,value…]) and write a score for every row.",
        discussion: """
        One value column: the output is NAB's results format (timestamp,value,anomaly_score), in input order. \
        Several columns (`,` or `;` separated; columns named anomaly and changepoint are labels and not scored): \
        with --detector device the columns are scored together, otherwise each alone and a row scores its \
        highest; the output is timestamp,anomaly_score,anomaly, where anomaly is 1 while an alert with the \
        default levels would be raised (device) or the score is at least 0.5. The same input always gives \
        the same output.
        """)

    @Option(help: ArgumentHelp("The series.", valueName: "file")) var input: String
    @Option(help: ArgumentHelp("Where to write (default: stdout).", valueName: "file")) var output: String?
    @OptionGroup var detector: DetectorOptions
    @OptionGroup var device: DeviceDetectorOptions

    func run() throws {
        let t = try Table.read(input)
        if t.names.count == 1 && detector.detector != "device" {
            let s = try Series.read(input)
            try s.writeScores(try s.scores(detector), to: output)
            return
        }
        var scores: [Double], raised: [Bool]
        if detector.detector == "device" {
            (scores, raised) = t.deviceScores(device.config)
        } else {
            guard detector.binding == nil else { throw ValidationError("--binding scores one column; this file has \(t.names.count)") }
            scores = try t.columnScores { try detector.make() }
            raised = scores.map { $0 >= 0.5 }
        }
        var out = "timestamp,anomaly_score,anomaly\n"
        for i in 0..<t.rows { out += "\(t.timeText[i]),\(scores[i]),\(raised[i] ? 1 : 0)\n" }
        guard let output else { print(out, terminator: ""); return }
        try Data(out.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a folder of labeled series with the NAB method (standard, reward_low_FP_rate, reward_low_FN_rate).",
        discussion: """
        Labels are NAB's format: {"relative/path.csv": [["start", "end"], ...]}. Each detection inside a \
        window earns a scaled sigmoid of its position (only the earliest per window counts), a missed \
        window costs the fn weight, a detection outside windows costs the fp weight scaled by its \
        distance past the previous window; the first 15% of each file (at most 750 rows) is not scored; \
        one threshold is optimised over the corpus; 0 is the null detector, 100 the perfect one. Use it \
        on your own labeled incidents to choose detector parameters for a binding.
        """)

    @Option(help: ArgumentHelp("nab: one series per file and labeled windows; skab: SKAB's files and protocol (the device detector learns the first --learn rows of each file, the rest is scored row by row and by changepoints).", valueName: "format"))
    var format = "nab"
    @Option(help: ArgumentHelp("Folder of series.", valueName: "dir")) var data: String
    @Option(help: ArgumentHelp("Labeled windows (JSON); required with --format nab.", valueName: "file")) var labels: String?
    @Option(help: ArgumentHelp("Cost profiles (NAB's profiles.json); NAB's three by default.", valueName: "file")) var profiles: String?
    @Option(help: ArgumentHelp("Also write each file's scores here, mirroring --data.", valueName: "dir")) var results: String?
    @Flag(help: ArgumentHelp("Also leave one category out: each top-level folder of --data (a folder without labeled windows joins the folder whose name shares the longest prefix with it) is scored at the threshold optimised on the others."))
    var crossValidate = false
    @OptionGroup var detector: DetectorOptions
    @OptionGroup var device: DeviceDetectorOptions

    func run() throws {
        switch format {
        case "skab": return try SKABEvaluation.run(data: data, learnRows: device.learn, device: device, results: results)
        case "nab": break
        default: throw ValidationError("--format is nab or skab, found '\(format)'")
        }
        guard let labels else { throw ValidationError("--labels is required with --format nab") }
        // FoundationEssentials' JSONDecoder: full Foundation (ICU) stays out of the executable.
        // Reading and decoding fail separately, so a missing file is not reported as bad JSON.
        func json<T: Decodable>(_ path: String, _ type: T.Type, expected: String) throws -> T {
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)) else { throw ValidationError("cannot read \(path)") }
            guard let v = try? JSONDecoder().decode(type, from: data) else { throw ValidationError("\(path): expected \(expected)") }
            return v
        }
        let obj = try json(labels, [String: [[String]]].self, expected: #"{"file.csv": [["start", "end"], ...]}"#)
        var profileList: [NABScore.Profile] = [.standard, .rewardLowFP, .rewardLowFN]
        if let profiles {
            struct Profile: Decodable { var CostMatrix: [String: Double] }
            let p = try json(profiles, [String: Profile].self, expected: #"{"name": {"CostMatrix": {"tpWeight": …, "fnWeight": …, "fpWeight": …}}}"#)
            profileList = try p.keys.sorted().map { name in
                let c = p[name]!.CostMatrix
                guard let tp = c["tpWeight"], let fn = c["fnWeight"], let fp = c["fpWeight"] else {
                    throw ValidationError("\(profiles): profile \(name) needs tpWeight, fnWeight and fpWeight")
                }
                return NABScore.Profile(name: name, tpWeight: tp, fnWeight: fn, fpWeight: fp)
            }
            guard !profileList.isEmpty else { throw ValidationError("\(profiles): no profile") }
        }
        var files: [NABScore.File] = []
        for rel in obj.keys.sorted() {
            let s = try Series.read(data + "/" + rel)
            let scores = try s.scores(detector)
            var index: [Int64: Int] = [:]
            for (i, t) in s.times.enumerated() { index[t] = i }
            var windows: [ClosedRange<Int>] = []
            for w in obj[rel]! {
                guard w.count == 2 else { throw ValidationError("\(labels): \(rel): a window is [start, end]") }
                let b = w.map { Array($0.utf8).withUnsafeBytes { TimeParser.parseISO8601($0) } }
                guard let a = b[0], let e = b[1], let ia = index[a], let ie = index[e] else {
                    throw ValidationError("\(labels): \(rel): window \(w) does not start and end on timestamps of the file")
                }
                guard ia <= ie else { throw ValidationError("\(labels): \(rel): window \(w) ends before it starts") }
                windows.append(ia...ie)
            }
            // the scorer walks windows in order and would skip one that overlaps the one before
            windows.sort { $0.lowerBound < $1.lowerBound }
            for (a, b) in zip(windows, windows.dropFirst()) where b.lowerBound <= a.upperBound {
                throw ValidationError("\(labels): \(rel): windows at rows \(a) and \(b) overlap")
            }
            files.append(NABScore.File(name: rel, scores: scores, windows: windows))
            if let results { try s.writeScores(scores, to: results + "/" + rel) }
        }
        let nWindows = files.reduce(0) { $0 + $1.windows.count }
        for p in profileList {
            let r = NABScore.score(files, profile: p)
            print("\(p.name): \(fixed(r.normalised, 2))  (raw \(fixed(r.raw, 3)), threshold \(r.threshold), files \(files.count), windows \(nWindows))")
        }
        if crossValidate { try Self.crossValidate(files, profiles: profileList) }
    }

    /// The categories of `files`: their top-level folder; a folder without labeled windows (it
    /// cannot be normalised alone) joins the one whose name shares the longest prefix with it.
    static func categories(_ files: [NABScore.File]) -> [(name: String, files: [NABScore.File])] {
        var groups: [String: [NABScore.File]] = [:]
        for f in files { groups[String(f.name.split(separator: "/").first ?? ""), default: []].append(f) }
        let labeled = groups.keys.filter { groups[$0]!.contains { !$0.windows.isEmpty } }.sorted()
        var merged: [String: [NABScore.File]] = [:]
        for (name, fs) in groups.sorted(by: { $0.key < $1.key }) {
            guard !labeled.contains(name) else { merged[name, default: []] += fs; continue }
            func common(_ a: String, _ b: String) -> Int { zip(a, b).prefix { $0 == $1 }.count }
            guard let host = labeled.max(by: { common(name, $0) < common(name, $1) || (common(name, $0) == common(name, $1) && $0 > $1) }) else { continue }
            merged[host, default: []] += fs
        }
        return merged.keys.sorted().map { ($0, merged[$0]!) }
    }

    /// Leave one category out: the threshold optimised on the other categories, applied to the
    /// one left out and normalised over it.
    static func crossValidate(_ files: [NABScore.File], profiles: [NABScore.Profile]) throws {
        let cats = categories(files)
        guard cats.count >= 2 else { throw ValidationError("--cross-validate needs at least two top-level folders with labeled windows") }
        print("leave one category out (threshold optimised on the other categories):")
        var means = [Double](repeating: 0, count: profiles.count)
        for c in cats {
            let others = files.filter { f in !c.files.contains { $0.name == f.name } }
            var parts: [String] = []
            for (k, p) in profiles.enumerated() {
                let t = NABScore.score(others, profile: p).threshold
                let r = NABScore.score(c.files, profile: p, threshold: t)
                means[k] += r.normalised / Double(cats.count)
                parts.append("\(p.name) \(fixed(r.normalised, 2)) (threshold \(fixed(t, 4)))")
            }
            print("  \(c.name) (\(c.files.count) files): \(parts.joined(separator: ", "))")
        }
        print("  mean: " + zip(profiles, means).map { "\($0.name) \(fixed($1, 2))" }.joined(separator: ", "))
    }
}

/// `x` with exactly `digits` decimals, rounded half away from zero (as printf's %.Nf for these
/// magnitudes); the one formatter of the command-line output (`fmt2` is 2 decimals). Beyond
/// 1e15 it falls back to `numberText`.
func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite, abs(x) < 1e15 else { return numberText(x) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = Int64((abs(x) * scale).rounded())
    let whole = n / Int64(scale), frac = n % Int64(scale)
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    return (x < 0 && n != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
}
