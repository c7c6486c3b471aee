import Foundation
import Testing
@testable import DewpointConfig
@testable import DewpointCore

let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
let repoRoot = testsDir.deletingLastPathComponent().deletingLastPathComponent()

private func diagnostics(_ name: String) -> [ConfigDiagnostic] {
    let file = testsDir.appendingPathComponent("broken/\(name)/dewpoint.yaml").path
    do {
        _ = try ConfigLoader.load(agentFile: file)
        Issue.record("\(name) was accepted")
        return []
    } catch {
        return error.diagnostics
    }
}

private func expectOne(_ d: [ConfigDiagnostic], file: String, line: Int, column: Int, key: String, contains text: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
    let hit = d.first { $0.file.hasSuffix(file) && $0.line == line && $0.column == column && $0.key == key && $0.message.contains(text) }
    #expect(hit != nil, "no diagnostic \(file):\(line):\(column) \(key) ~ '\(text)' in:\n\(d.map(\.description).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
}

@Suite struct ConfigLoaderTests {
    @Test func shippedExamplesAreValid() throws {
        let cfg = try ConfigLoader.load(agentFile: repoRoot.appendingPathComponent("dewpoint.yaml").path)
        #expect(cfg.agent.agentId == "gw-01")
        #expect(Set(cfg.bindings.map(\.name)) == ["boiler-room", "weather-mast", "pump-7", "chiller-1", "pump-skid-1"])
        let env = try #require(cfg.bindings.first { $0.name == "boiler-room" })
        #expect(env.channels.map(\.name) == ["temp", "humidity", "pressure", "battery"])
        #expect(env.channels[3].scale == 0.001)
        #expect(env.window == WindowSpec(lengthMs: 10_000, latenessMs: 2_000))
        let pump = try #require(cfg.bindings.first { $0.name == "pump-7" })
        guard case .binary(let f) = pump.channels[1].locator else { Issue.record("accel is not binary"); return }
        #expect(f.count == 256 && f.sampleRateHz == 3200 && f.kind == .i16)
    }

    @Test func typoKeySuggestsTheRightOne() {
        let d = diagnostics("typo-key")
        expectOne(d, file: "typo-key/devices/env.yaml", line: 9, column: 5, key: "channels[0].pointr", contains: "did you mean 'pointer'?")
    }

    /// Broken configs with exactly one problem, each reported at its position: a wrong type says
    /// what was expected and found, a missing key points at its parent, a bad JSON pointer, and
    /// overlapping topic filters.
    @Test(arguments: [
        ("wrong-type", "env.yaml", 5, 8, "mqtt.qos", "expected an integer, found 'high'"),
        ("missing-field", "env.yaml", 4, 3, "mqtt.topic", "missing required key"),
        ("bad-pointer", "env.yaml", 10, 14, "channels[1].pointer", "expected a JSON pointer"),
        ("overlap", "b.yaml", 4, 10, "mqtt.topic", "overlaps 'sensors/+/env' of device 'env-a'"),
    ])
    func oneProblemAtItsPosition(_ dir: String, _ file: String, _ line: Int, _ column: Int, _ key: String, _ text: String) {
        let d = diagnostics(dir)
        #expect(d.count == 1)
        expectOne(d, file: "\(dir)/devices/\(file)", line: line, column: column, key: key, contains: text)
    }

    @Test func duplicateDeviceNamesBothFiles() {
        let d = diagnostics("duplicate-device")
        #expect(d.count == 1)
        expectOne(d, file: "duplicate-device/devices/b.yaml", line: 2, column: 9, key: "device", contains: "duplicate device 'env-1', already defined in")
        #expect(d.first?.message.hasSuffix("duplicate-device/devices/a.yaml") == true)
    }

    @Test func unitAndRangeNonsense() {
        let d = diagnostics("range-nonsense")
        #expect(d.count == 3)
        expectOne(d, file: "range-nonsense/devices/env.yaml", line: 10, column: 12, key: "channels[0].range", contains: "outside what degC can measure")
        expectOne(d, file: "range-nonsense/devices/env.yaml", line: 14, column: 12, key: "channels[1].range", contains: "min below max")
        expectOne(d, file: "range-nonsense/devices/env.yaml", line: 16, column: 11, key: "channels[2].unit", contains: "did you mean 'hPa'?")
    }

    @Test func agentFileProblemsAreAllReported() {
        let d = diagnostics("bad-agent")
        #expect(d.count == 7)
        expectOne(d, file: "bad-agent/dewpoint.yaml", line: 14, column: 14, key: "input.batch_min", contains: "0")
        expectOne(d, file: "bad-agent/dewpoint.yaml", line: 13, column: 15, key: "input.batch_wait", contains: "expected 0ms to 100ms, found 2000ms")
        expectOne(d, file: "bad-agent/dewpoint.yaml", line: 11, column: 13, key: "defaults.lateness", contains: "at most 100 years")
        expectOne(d, file: "bad-agent/dewpoint.yaml", line: 3, column: 14, key: "spool.max_bytes", contains: "found 'lots'")
        expectOne(d, file: "bad-agent/dewpoint.yaml", line: 6, column: 3, key: "upstream.password", contains: "never read from the YAML")
        expectOne(d, file: "bad-agent/dewpoint.yaml", line: 8, column: 13, key: "queue.overflow", contains: "did you mean 'drop_oldest'?")
        expectOne(d, file: "bad-agent/dewpoint.yaml", line: 10, column: 11, key: "defaults.window", contains: "expected a duration")
    }

    @Test func invalidYAMLIsLocated() {
        let d = diagnostics("bad-yaml")
        #expect(d.count == 1)
        #expect(d[0].file.hasSuffix("bad-yaml/devices/env.yaml"))
        #expect(d[0].message.hasPrefix("invalid YAML"))
        #expect(d[0].line >= 4)
    }

    @Test func suggestionsUseEditDistance() {
        #expect(Suggest.closest(to: "chanels", in: BindingLoader.topKeys) == "channels")
        #expect(Suggest.closest(to: "transprot", in: BindingLoader.topKeys) == "transport")
        #expect(Suggest.closest(to: "zzz", in: BindingLoader.topKeys) == nil)
    }
}

@Suite struct TopicFilterTests {
    private func match(_ f: String, _ t: String) -> Bool {
        let filter = try! TopicFilter(f)
        return Array(t.utf8).withUnsafeBytes { filter.matches($0) }
    }

    @Test func matchesPerMQTT() {
        #expect(match("a/b", "a/b"))
        #expect(!match("a/b", "a/bc"))
        #expect(match("a/+/c", "a/x/c"))
        #expect(!match("a/+/c", "a/x/y/c"))
        #expect(match("a/#", "a"))
        #expect(match("a/#", "a/b/c"))
        #expect(match("+/+", "/x"))
        #expect(!match("#", "$SYS/x"))
        #expect(match("sensors/+device/env", "sensors/boiler/env"))
    }

    @Test func capturesNamedLevels() throws {
        let f = try TopicFilter("sensors/+device/+channel")
        #expect(f.mqttFilter == "sensors/+/+")
        var caps: [Range<Int>]? = Array(repeating: 0..<0, count: 3)
        let topic = Array("sensors/pump-3/temp".utf8)
        #expect(topic.withUnsafeBytes { f.matches($0, captures: &caps) })
        #expect(String(decoding: topic[caps![1]], as: UTF8.self) == "pump-3")
        #expect(String(decoding: topic[caps![2]], as: UTF8.self) == "temp")
    }

    @Test func overlap() throws {
        func o(_ a: String, _ b: String) -> Bool { try! TopicFilter(a).overlaps(TopicFilter(b)) }
        #expect(o("a/+/c", "a/b/#"))
        #expect(o("a/#", "a"))
        #expect(!o("a/b", "a/c"))
        #expect(!o("a/+", "a/b/c"))
        #expect(o("+/x", "y/+"))
        #expect(throws: TopicFilter.ParseError.misplacedMulti) { try TopicFilter("a/#/b") }
        #expect(throws: TopicFilter.ParseError.wildcardInsideLevel("x+")) { try TopicFilter("a/x+") }
    }
}

@Suite struct DecoderConfigTests {
    private func load(_ yaml: String) -> Result<BindingSpec, ConfigErrors> {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dewpoint-config-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let f = dir.appendingPathComponent("b-\(UUID().uuidString.prefix(6)).yaml").path
        try! yaml.write(toFile: f, atomically: true, encoding: .utf8)
        do { return .success(try ConfigLoader.loadBinding(file: f).0) } catch { return .failure(error) }
    }

    @Test func csvHeaderNamesResolveToColumns() throws {
        let b = try load("""
        device: wx
        transport: file
        decoder: {kind: csv, separator: ";", header: [time, wind, temp]}
        timestamp: {column: time, format: "%d/%m/%Y %H:%M:%S", max_skew: 10m}
        channels:
          - {name: w, column: wind}
          - {name: t, column: 2}
        """).get()
        #expect(b.channels.map(\.locator) == [.csvColumn(1), .csvColumn(2)])
        #expect(b.timestamp.source == .csvColumn(0))
        #expect(b.timestamp.pattern == "%d/%m/%Y %H:%M:%S")
        #expect(b.timestamp.maxSkewNs == 600_000_000_000)
    }

    @Test func dedupNeedsAPayloadTime() throws {
        let b = try load("device: a\ntransport: file\ndecoder: json\ntimestamp: {pointer: /ts}\nchannels: [{name: v, pointer: /v}]\ndedup: {by: timestamp, memory: 64}").get()
        #expect(b.dedupMemory == 64)
        let d = try load("device: a\ntransport: file\ndecoder: json\ntimestamp: {pointer: /ts}\nchannels: [{name: v, pointer: /v}]\ndedup: {by: timestamp}").get()
        #expect(d.dedupMemory == 1024)
        guard case .failure(let e) = load("device: a\ntransport: file\ndecoder: json\nchannels: [{name: v, pointer: /v}]\ndedup: {by: timestamp}") else {
            Issue.record("dedup without a payload time loaded"); return
        }
        #expect(e.description.contains("dedup") && e.description.contains("needs a payload time"), "\(e)")
        guard case .failure(let f) = load("device: a\ntransport: file\ndecoder: json\ntimestamp: {pointer: /ts}\nchannels: [{name: v, pointer: /v}]\ndedup: {by: seq}") else {
            Issue.record("dedup by an unknown key loaded"); return
        }
        #expect(f.description.contains("dedup.by"), "\(f)")
    }

    @Test func everyDecoderKindLoadsAndMisplacedKeysAreNamed() throws {
        let lp = try load("device: a\ntransport: file\ndecoder: {kind: lineprotocol, precision: epoch_ms}\nchannels: [{name: v, field: value}]").get()
        #expect(lp.decoder == .lineProtocol(precision: .epochMs))
        let kv = try load("device: a\ntransport: file\ndecoder: {kind: keyvalue, pair_separator: ';', kv_separator: ':'}\nchannels: [{name: v, key: t}]").get()
        #expect(kv.channels[0].locator == .key("t"))
        let nmea = try load("device: a\ntransport: file\ndecoder: {kind: nmea, sentence: GGA}\nchannels: [{name: v, field: altitude}, {name: w, field: 7}]").get()
        #expect(nmea.channels.map(\.locator) == [.nmea(.altitude), .nmea(.index(7))])
        let arr = try load("device: a\ntransport: file\ndecoder: {kind: json, array: /r}\nchannels: [{name: v, pointer: /v}]").get()
        #expect(arr.decoder == .jsonArray(pointer: "/r", maxItems: 256))

        guard case .failure(let e) = load("device: a\ntransport: file\ndecoder: {kind: nmea, precision: epoch_s}\nchannels: [{name: v, field: altitud, pointer: /x}]") else {
            Issue.record("accepted"); return
        }
        let text = e.description
        #expect(text.contains("decoder.precision: only the lineprotocol decoder takes 'precision'"))
        #expect(text.contains("did you mean 'altitude'?"))
        #expect(text.contains("channels[0].pointer: 'pointer' does not apply to the nmea decoder"))
    }
}

@Suite struct FilterConfigTests {
    /// Writes `text` to a file `name` in a new scratch folder (tests run in parallel); returns
    /// its path.
    static func write(_ text: String, as name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dewpoint-config-\(getpid())-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Every one of `messages` appears in the diagnostics `t`.
    static func expect(_ t: String, contains messages: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        for m in messages { #expect(t.contains(m), "missing: \(m)\nin: \(t)", sourceLocation: sourceLocation) }
    }

    /// A JSON binding's first lines, up to its channel `v`'s pointer.
    static let header = "device: a\ntransport: file\ndecoder: json\nchannels:\n  - name: v\n    pointer: /v"

    /// The diagnostics of a binding file that must not load (an issue is recorded if it loads).
    static func errors(of yaml: String) throws -> String {
        let path = try write(yaml, as: "bad.yaml")
        do { _ = try ConfigLoader.loadBinding(file: path) } catch { return error.description }
        Issue.record("\(path) was accepted")
        return ""
    }

    @Test func windowStatisticsAndVibrationLoadAndBadOnesAreLocated() throws {
        let good = try Self.write("""
        device: pump
        transport: file
        decoder: binary
        window: {length: 1s, percentiles: [50, 90, 99], time_weighted_mean: true}
        channels:
          - name: accel
            byte_offset: 0
            type: i16
            count: 512
            sample_rate: 25600
            vibration: {fft_size: 512, bands: [[10, 1000], [1000, 12800]]}
        """, as: "good.yaml")
        let b = try ConfigLoader.loadBinding(file: good).0
        #expect(b.window.percentiles == [50, 90, 99] && b.window.timeWeightedMean)
        #expect(b.channels[0].vibration == VibrationSpec(fftSize: 512, sampleRateHz: 25600, bands: [[10, 1000], [1000, 12800]]))
        // after decimation by 4 the features see 6400 Hz: a band up to 12800 Hz no longer exists
        let decimated = try Self.errors(of: """
        device: pump
        transport: file
        decoder: binary
        channels:
          - name: accel
            byte_offset: 0
            type: i16
            count: 512
            sample_rate: 25600
            filters: [{kind: decimate, factor: 4}]
            vibration: {fft_size: 512, bands: [[10, 1000], [1000, 12800]]}
        """)
        #expect(decimated.contains("channels[0].vibration.bands[1]: expected high at most the Nyquist frequency 3200.0 Hz, found 12800.0"), "\(decimated)")
        let t = try Self.errors(of: """
        device: pump
        transport: file
        decoder: json
        window: {percentiles: [50, 101]}
        channels:
          - name: accel
            pointer: /a
            vibration: {fft_size: 1000, bands: [[10, 1000]]}
          - name: b
            pointer: /b
            vibration: {sample_rate: 100, bands: [[10, 80], [30, 20]]}
        """)
        Self.expect(t, contains: [
            "bad.yaml:4:28: window.percentiles[1]: expected a percentile from 0 to 100, found 101.0",
            "bad.yaml:8:27: channels[0].vibration.fft_size: expected a power of two, found 1000",
            "channels[1].vibration.bands[0]: expected high at most the Nyquist frequency 50.0 Hz, found 80.0",
            "channels[1].vibration.bands[1]: expected 0 <= low < high, found [30.0, 20.0]",
        ])
    }

    @Test func detectorsLoadWithLevelsCooldownAndBadOnesAreLocated() throws {
        let good = try Self.write("""
        \(Self.header)
            detectors:
              - {kind: novelty, severity: critical, cooldown: 10m, hold: 5m}
              - {kind: zscore, window: 100, raise_at: 0.9999, clear_below: 0.99, min_duration: 30s}
              - {kind: ewma}
              - {kind: mad, window: 31}
              - {kind: cusum, k: 1, h: 4}
              - {kind: seasonal, alpha: 0.2}
              - {kind: timestamps}
              - {kind: dropout, intervals: 3}
              - {kind: dropout, after: 30s, intervals: 2.5}
        """, as: "good.yaml")
        let d = try ConfigLoader.loadBinding(file: good).0.channels[0].detectors
        #expect(d.map(\.kind) == [.novelty, .zscore(window: 100), .ewma(alpha: 0.01), .mad(window: 31), .cusum(k: 1, h: 4),
                                   .seasonal(alpha: 0.2), .timestamps, .dropout(afterMs: 0, intervals: 3), .dropout(afterMs: 30_000, intervals: 2.5)])
        #expect(d[0].cooldownMs == 600_000 && d[0].holdMs == 300_000 && d[0].severity == .critical && d[0].raiseAt == 0.57)
        #expect(d[1].raiseAt == 0.9999 && d[1].clearBelow == 0.99 && d[1].minDurationMs == 30_000)
        #expect(d[2].raiseAt == 0.999 && d[2].clearBelow == 0.99)
        let t = try Self.errors(of: """
        \(Self.header)
            detectors:
              - {kind: zscore, raise_at: 1.5}
              - {kind: novelty, raise_at: 0.5, clear_below: 0.7}
              - {kind: cusum, h: 0}
              - {kind: novelti}
              - {kind: dropout}
              - {kind: dropout, intervals: 0.5}
        """)
        Self.expect(t, contains: [
            "bad.yaml:8:34: channels[0].detectors[0].raise_at: expected a score from 0 to 1, found 1.5",
            "channels[0].detectors[1].clear_below: expected clear_below (0.7) at most raise_at (0.5)",
            "channels[0].detectors[2].h: expected a sum above 0",
            "did you mean 'novelty'?",
            "channels[0].detectors[4]: a dropout detector needs 'after', 'intervals' or both",
            "channels[0].detectors[5].intervals: expected 1 or more usual intervals, found 0.5",
        ])
    }

    /// `capture.buffer`: the kernel buffer per interface, 512 KiB by default, bounded.
    @Test func captureBufferLoadsAndIsBounded() throws {
        func capture(_ extra: String) -> String {
            "device: a\ntransport: capture\ncapture:\n  interface: eth0\n\(extra)decoder: json\nchannels:\n  - name: v\n    pointer: /v\n"
        }
        let plain = try ConfigLoader.loadBinding(file: try Self.write(capture(""), as: "c.yaml")).0
        guard case .capture(let c) = plain.transport else { Issue.record("not a capture binding"); return }
        #expect(c.bufferBytes == 512 << 10)
        let big = try ConfigLoader.loadBinding(file: try Self.write(capture("  buffer: 8MiB\n"), as: "c.yaml")).0
        guard case .capture(let b) = big.transport else { Issue.record("not a capture binding"); return }
        #expect(b.bufferBytes == 8 << 20)
        let t = try Self.errors(of: capture("  buffer: 1KiB\n"))
        #expect(t.contains("bad.yaml:5:11: capture.buffer: expected a size from 64KiB to 256MiB, found 1024 bytes"), "\(t)")
    }

    @Test func deviceDetectorsLoadAndBadOnesAreLocated() throws {
        let good = try Self.write("""
        \(Self.header)
          - name: w
            pointer: /w
          - name: x
            pointer: /x
        detectors:
          - {kind: device}
          - {kind: device, channels: [x, v], learn: 1000, learn_for: 1h, baseline: 500, smoothing: 20, margin: 3, severity: critical, min_samples: 5, cooldown: 1m, hold: 30s, raise_at: 0.6, clear_below: 0.3}
        """, as: "good.yaml")
        let d = try ConfigLoader.loadBinding(file: good).0.deviceDetectors
        #expect(d.count == 2)
        #expect(d[0] == DeviceDetectorSpec(channels: [0, 1, 2]))
        #expect(d[0].learnRows == 400 && d[0].margin == 1.5 && d[0].raiseAt == 0.5 && d[0].clearBelow == 0.4)
        #expect(d[1].channels == [2, 0] && d[1].learnRows == 1000 && d[1].learnMs == 3_600_000 && d[1].baselineRows == 500)
        #expect(d[1].smoothingRows == 20 && d[1].margin == 3 && d[1].severity == .critical && d[1].minSamples == 5)
        #expect(d[1].cooldownMs == 60_000 && d[1].holdMs == 30_000 && d[1].raiseAt == 0.6 && d[1].clearBelow == 0.3)
        let t = try Self.errors(of: """
        \(Self.header)
        detectors:
          - {kind: device, channels: [v, nope]}
          - {kind: device, learn: 30, smoothing: 10}
          - {kind: devise}
          - {kind: device, channels: [v, v], margin: 0}
          - {kind: device, hysteresis: 1}
          - {kind: device, channels: v}
        """)
        Self.expect(t, contains: [
            "bad.yaml:8:34: detectors[0].channels[1]: no channel 'nope' in this binding; its channels are: v",
            "detectors[1].learn: expected at least 4 × smoothing (40) rows to learn from, found 30",
            "did you mean 'device'?",
            "detectors[3].channels[1]: channel 'v' is listed twice",
            "detectors[3].margin: expected a number above 0, found 0.0",
            "detectors[4]",
            "detectors[5].channels: expected a list of channel names",
        ])
        let notAList = try Self.errors(of: "\(Self.header)\ndetectors: {kind: device}\n")
        #expect(notAList.contains("bad.yaml:7:12: detectors: expected a list of detectors"), "\(notAList)")
    }

    @Test func filtersLoadAndBadOnesAreLocated() throws {
        let good = try Self.write("""
        \(Self.header)
            filters:
              - {kind: butterworth, order: 4, band: lowpass, cutoff: 0.1}
              - {kind: fir, taps: 33, band: bandpass, cutoff: [0.1, 0.3]}
              - {kind: ema, alpha: 0.2}
              - {kind: clamp, min: 0, max: 10}
              - {kind: moving_average, length: 8}
              - {kind: rate_limit, max_step: 0.5}
              - {kind: median, length: 5, threshold: 2}
              - {kind: median}
              - {kind: deadband, delta: 0.1}
              - {kind: decimate, factor: 4}
        """, as: "good.yaml")
        let b = try ConfigLoader.loadBinding(file: good).0
        #expect(b.channels[0].filters == [.butterworth(order: 4, band: .lowpass(0.1)), .fir(taps: 33, band: .bandpass(0.1, 0.3)),
                                          .ema(alpha: 0.2), .clamp(min: 0, max: 10), .movingAverage(length: 8),
                                          .rateLimit(maxStep: 0.5), .median(length: 5, threshold: 2), .median(length: 5, threshold: nil),
                                          .deadband(band: 0.1), .decimate(factor: 4)])
        let t = try Self.errors(of: """
        \(Self.header)
            filters:
              - {kind: fir, taps: 32, band: highpass, cutoff: 0.3}
              - {kind: butterworth, cutoff: 1.5}
              - {kind: emma, alpha: 0.2}
              - {kind: median, length: 4}
              - {kind: decimate, factor: 1}
              - {kind: deadband}
        """)
        #expect(t.contains("bad.yaml:8:27: channels[0].filters[0].taps: a high-pass FIR needs an odd number of taps, found 32"), "\(t)")
        #expect(t.contains("channels[0].filters[1].cutoff: expected a cutoff between 0 and 1"))
        #expect(t.contains("did you mean 'ema'?"))
        Self.expect(t, contains: [
            "bad.yaml:11:32: channels[0].filters[3].length: expected an odd window length, found 4",
            "bad.yaml:12:34: channels[0].filters[4].factor: expected an integer from 2 to 64",
        ])
        #expect(t.contains("channels[0].filters[5]") && t.contains("delta"), "\(t)")
    }
}
