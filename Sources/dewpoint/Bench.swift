import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import DewpointConfig
import DewpointCore
import DewpointPipeline
import DewpointSignal

/// Kernel throughput on this machine, against each kernel's scalar reference, and the channels a
/// binding's per-channel processing can carry.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the signal kernels and detectors on this machine: ns/sample, samples/s, and the ratio to the scalar reference.",
        discussion: """
        --json prints one object with stable keys:
          {"kernels":[{"name","layout","ns_per_sample","samples_per_s","scalar_samples_per_s","ratio","state_bytes","checkpoint_bytes"}],
           "capacity":[{"binding","channel","ns_per_sample","samples_per_s","rate_hz","channels"}],
           "records":[{"name","ns_per_record","records_per_s","bytes","ratio_to_json"}]}
        layout is "time" (blocks of one channel), "channels_8" (one channel per SIMD lane), \
        "scalar", or "rows" (the device detector: its samples are rows of 8 channels, its state \
        is the device's); scalar_samples_per_s and ratio are null for kernels without a scalar reference; \
        state_bytes is the per-channel state of detectors (null otherwise), checkpoint_bytes what \
        that state takes in a checkpoint once the detector has learned. capacity is present \
        with --binding: for each channel of the binding with filters, window statistics or \
        detectors, the samples/s one core carries through that channel's chain (decoding \
        excluded; see bench-decode), and how many such channels fit at --rate Hz. fir_64 runs the \
        best FIR kernel this CPU has (AVX-512, AVX2 or baseline); fir_64_avx2 and fir_64_baseline \
        are the lower ones it also runs. DEWPOINT_SIMD=baseline or avx2 caps the level everywhere. \
        records is what encoding one upstream record costs (a summary of 4 channels with 3 \
        percentiles): json_summary is the JSON the spool holds (the baseline), sparkplug_ddata \
        the Sparkplug B format's send-time path (reading that JSON back, then the DDATA), and \
        sparkplug_ddata_encode_only its protobuf encoding alone.
        """)

    @Flag(help: "Machine-readable output.") var json = false
    @Option(help: "Samples per measurement.") var samples = 4_000_000
    @Option(help: ArgumentHelp("Report the channels one core can carry for this binding.", valueName: "file")) var binding: String?
    @Option(help: "Sample rate per channel (Hz) for the capacity report.") var rate = 100.0

    func validate() throws {
        guard samples >= 65_536 else { throw ValidationError("--samples must be at least 65536 (a shorter run is too short to time)") }
        guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be above 0") }
    }

    struct Row { var name: String; var layout: String; var rate: Double; var scalar: Double?; var stateBytes: Int? = nil; var checkpointBytes: Int? = nil }
    struct Capacity { var channel: String; var rate: Double }

    static func time(_ n: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<3 {
            let t0 = Clock.monotonicNs()
            body()
            best = min(best, Double(Clock.monotonicNs() - t0))
        }
        return Double(n) / (best / 1e9)
    }

    /// Runs `stage` over `x` in blocks of 4096, in place on a copy.
    static func blocks(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, _ rows: UnsafeMutableBufferPointer<Int32>,
                       _ n: Int, _ stage: inout ChannelFilter) {
        var i = 0
        while i < n {
            let m = min(4096, n - i)
            _ = UnsafeMutableBufferPointer(rebasing: y[i..<(i + m)]).initialize(from: x[i..<(i + m)])
            _ = stage.process(UnsafeMutableBufferPointer(rebasing: y[i..<(i + m)]), positions: UnsafeMutableBufferPointer(rebasing: rows[0..<m]))
            i += m
        }
    }

    func run() throws {
        var rng = SplitMix64(seed: 1)
        let x = (0..<samples).map { i in Float(sin(Double(i) / 30)) + Float(rng.unit() - 0.5) }
        var y = [Float](repeating: 0, count: samples)
        var rows = [Int32](repeating: 0, count: 4096)
        var out: [Row] = []
        let n = samples
        x.withUnsafeBufferPointer { xs in
            y.withUnsafeMutableBufferPointer { ys in
                rows.withUnsafeMutableBufferPointer { rs in
                    out = kernels(xs, ys, rs, n)
                }
            }
        }
        let records = Self.records(max(10_000, samples / 100))
        var capacity: [Capacity] = []
        var deviceBytes: Int? = nil
        if let binding {
            capacity = try Self.capacity(binding, x)
            deviceBytes = try Self.bytesPerDevice(binding)
        }
        if json {
            // JSONText escapes names and writes null for a rate that is not finite
            var o: [UInt8] = Array(#"{"kernels":["#.utf8)
            func key(_ k: String, first: Bool = false) { o += Array(((first ? "" : ",") + "\"\(k)\":").utf8) }
            func optional(_ v: Double?) { if let v { JSONText.double(v, into: &o) } else { o += Array("null".utf8) } }
            for (i, r) in out.enumerated() {
                o += Array((i == 0 ? "{" : ",{").utf8)
                key("name", first: true); JSONText.string(r.name, into: &o)
                key("layout"); JSONText.string(r.layout, into: &o)
                key("ns_per_sample"); JSONText.double(1e9 / r.rate, into: &o)
                key("samples_per_s"); JSONText.double(r.rate.rounded(.down), into: &o)
                key("scalar_samples_per_s"); optional(r.scalar.map { $0.rounded(.down) })
                key("ratio"); optional(r.scalar.map { r.rate / $0 })
                key("state_bytes"); optional(r.stateBytes.map(Double.init))
                key("checkpoint_bytes"); optional(r.checkpointBytes.map(Double.init))
                o.append(UInt8(ascii: "}"))
            }
            o += Array(#"],"capacity":["#.utf8)
            for (i, c) in capacity.enumerated() {
                o += Array((i == 0 ? "{" : ",{").utf8)
                key("binding", first: true); JSONText.string(binding ?? "", into: &o)
                key("channel"); JSONText.string(c.channel, into: &o)
                key("ns_per_sample"); JSONText.double(1e9 / c.rate, into: &o)
                key("samples_per_s"); JSONText.double(c.rate.rounded(.down), into: &o)
                key("rate_hz"); JSONText.double(rate, into: &o)
                key("channels"); JSONText.double((c.rate / rate).rounded(.down), into: &o)
                o.append(UInt8(ascii: "}"))
            }
            o += Array(#"],"records":["#.utf8)
            for (i, r) in records.enumerated() {
                o += Array((i == 0 ? "{" : ",{").utf8)
                key("name", first: true); JSONText.string(r.name, into: &o)
                key("ns_per_record"); JSONText.double(1e9 / r.rate, into: &o)
                key("records_per_s"); JSONText.double(r.rate.rounded(.down), into: &o)
                key("bytes"); JSONText.double(Double(r.bytes), into: &o)
                key("ratio_to_json"); JSONText.double(records[0].rate / r.rate, into: &o)
                o.append(UInt8(ascii: "}"))
            }
            o += Array("]".utf8)
            if let deviceBytes { key("device_bytes"); JSONText.double(Double(deviceBytes), into: &o) }
            o += Array("}".utf8)
            print(String(decoding: o, as: UTF8.self))
        } else {
            for r in out {
                let ratio = r.scalar.map { " (scalar \(Int($0))/s, ×\(fmt2(r.rate / $0)))" } ?? ""
                let bytes = (r.stateBytes.map { ", \($0) bytes/channel" } ?? "") + (r.checkpointBytes.map { ", \($0) checkpoint bytes/channel" } ?? "")
                print("\(r.name) [\(r.layout)]: \(fmt2(1e9 / r.rate)) ns/sample, \(Int(r.rate)) samples/s\(ratio)\(bytes)")
            }
            for r in records {
                print("record \(r.name): \(fmt2(1e9 / r.rate)) ns/record, \(Int(r.rate)) records/s, \(r.bytes) bytes (×\(fmt2(records[0].rate / r.rate)) the JSON's cost)")
            }
            for c in capacity {
                print("capacity \(binding ?? "") \(c.channel): \(fmt2(1e9 / c.rate)) ns/sample, \(Int(c.rate)) samples/s per core = \(fixed((c.rate / rate).rounded(.down), 0)) channels at \(fmt2(rate)) Hz")
            }
            if let deviceBytes {
                print("memory per device of \(binding ?? ""): \(deviceBytes) bytes (its filters, detectors and tables, before its first window; resident memory's growth over \(Self.devicesMeasured) devices)")
            }
        }
    }

    func kernels(_ xs: UnsafeBufferPointer<Float>, _ ys: UnsafeMutableBufferPointer<Float>, _ rs: UnsafeMutableBufferPointer<Int32>, _ n: Int) -> [Row] {
        var out: [Row] = []
        let quarter = n / 4
        // FIR 64 taps, across time
        let taps = FIRFilter.design(taps: 64, .lowpass(0.25))
        let fir = Self.time(n) { var f = ChannelFilter.fir(FIRFilter(taps: taps)); Self.blocks(xs, ys, rs, n, &f) }
        let firScalar = Self.time(quarter) {
            var f = FIRFilter(taps: taps)
            var i = 0
            while i < quarter { let m = min(4096, quarter - i); f.processScalar(UnsafeBufferPointer(rebasing: xs[i..<(i + m)]), into: UnsafeMutableBufferPointer(rebasing: ys[i..<(i + m)])); i += m }
        }
        out.append(Row(name: "fir_64", layout: "time", rate: fir, scalar: firScalar))
        // the lower kernels this CPU also runs, for comparison with the one above
        for lower in SIMDLevel.allCases where lower < CPUFeatures.level {
            let r = Self.time(n) {
                var ff = FIRFilter(taps: taps)
                ff.level = lower
                var f = ChannelFilter.fir(ff)
                Self.blocks(xs, ys, rs, n, &f)
            }
            out.append(Row(name: "fir_64_\(lower.name)", layout: "time", rate: r, scalar: firScalar))
        }
        // 4th-order Butterworth: one channel, and 8 channels per SIMD lane
        let sos = SOSCoefficients.butterworth(order: 4, .lowpass(0.1))
        let one = Self.time(n) { var c = BiquadCascade(sos); c.process(xs, into: ys) }
        let frames = n / 8
        var input = [SIMD8<Float>](repeating: .zero, count: frames)
        for i in 0..<frames { for c in 0..<8 { input[i][c] = xs[i * 8 + c] } }
        var framesOut = [SIMD8<Float>](repeating: .zero, count: frames)
        let eight = Self.time(frames * 8) {
            var c = BiquadCascade8(sos)
            input.withUnsafeBufferPointer { i in framesOut.withUnsafeMutableBufferPointer { c.process(i.baseAddress!, into: $0.baseAddress!, count: frames) } }
        }
        out.append(Row(name: "butterworth4", layout: "channels_8", rate: eight, scalar: one))
        // small filters, across time in blocks
        for (name, make) in [("moving_average_16", { ChannelFilter.movingAverage(MovingAverage(length: 16)) }),
                             ("median_7", { ChannelFilter.median(MedianFilter(length: 7)) }),
                             ("decimate_4", { ChannelFilter.decimate(Decimator(factor: 4)) }),
                             ("deadband", { ChannelFilter.deadband(Deadband(band: 0.1)) }),
                             ("rate_limit", { ChannelFilter.rateLimit(RateLimiter(maxStep: 0.05)) })] {
            let r = Self.time(n) { var f = make(); Self.blocks(xs, ys, rs, n, &f) }
            out.append(Row(name: name, layout: "time", rate: r, scalar: nil))
        }
        // window statistics (Welford, Double accumulators)
        let stats = Self.time(n) {
            var s = WindowStats()
            for i in 0..<n { s.add(xs[i], ts: Int64(i)) }
            if s.count < 0 { print(s.mean) }
        }
        let statsBlock = Self.time(n) {
            var s = WindowStats()
            var i = 0
            while i < n { let m = min(4096, n - i); s.add(uniform: xs.baseAddress! + i, count: m, firstTs: Int64(i), stepNs: 1); i += m }
            if s.count < 0 { print(s.mean) }
        }
        out.append(Row(name: "window_stats", layout: "time", rate: statsBlock, scalar: stats))
        let sketch = Self.time(quarter) {
            var s = QuantileSketch()
            for i in 0..<quarter { s.add(xs[i]) }
            if s.count < 0 { print(s.quantile(0.5)) }
        }
        out.append(Row(name: "percentile_sketch", layout: "scalar", rate: sketch, scalar: nil))
        let vib = Self.time(quarter) {
            var v = VibrationAccumulator(.init(fftSize: 1024, sampleRateHz: 25_600, bands: [(10, 1000), (1000, 5000), (5000, 12_800)]))
            v.add(UnsafeBufferPointer(rebasing: xs[0..<quarter]))
            if v.features == nil { print("none") }
        }
        out.append(Row(name: "vibration_fft_1024", layout: "time", rate: vib, scalar: nil))
        // detectors, one channel, Double samples one at a time: every detector that scores, with
        // the parameters `dewpoint score` uses by default
        let ts = 1_764_000_000_000_000_000 as Int64
        for descriptor in DetectorDescriptors.all {
            guard let kind = descriptor.fromOptions?(ScoreOptions.defaults), AnomalyScorer(kind) != nil else { continue }
            let name = descriptor.kind
            var bytes = 0
            var saved = 0
            let r = Self.time(quarter) {
                guard var d = AnomalyScorer(kind) else { return }
                var acc = 0.0
                for i in 0..<quarter { acc += d.score(Double(xs[i]), tsNs: ts &+ Int64(i) &* 60_000_000_000) }
                bytes = d.stateBytes
                var w = StateWriter()
                d.save(to: &w)
                saved = w.finish().count
                if acc < 0 { print(acc) }
            }
            out.append(Row(name: "detector_\(name)", layout: "scalar", rate: r, scalar: nil, stateBytes: bytes, checkpointBytes: saved))
        }
        // the novelty detector as a binding runs it (through ChannelDetector, Float samples)
        let wrapped = Self.time(quarter) {
            var d = ChannelDetector.scored(ScorerBox(.novelty(NoveltyDetector())))
            var acc = 0.0
            for i in 0..<quarter { acc += d.score(xs[i], ts: ts &+ Int64(i) &* 60_000_000_000) }
            if acc < 0 { print(acc) }
        }
        out.append(Row(name: "detector_novelty_in_binding", layout: "scalar", rate: wrapped, scalar: nil, stateBytes: NoveltyDetector.stateBytes))
        // the device detector over 8 channels: the rate counts rows (8 samples each), after the
        // 400 rows it learns
        let rows8 = n / 8
        var deviceSaved = 0
        let device = Self.time(rows8) {
            let d = DeviceDetector(channels: 8, config: DeviceDetector.Config())
            var acc = 0.0
            for i in 0..<rows8 { acc += d.observe(xs.baseAddress! + i * 8, stride: 1, ts: ts &+ Int64(i) &* 1_000_000_000) }
            var w = StateWriter()
            d.save(to: &w)
            deviceSaved = w.finish().count
            if acc < 0 { print(acc) }
        }
        out.append(Row(name: "detector_device_8_channels", layout: "rows", rate: device, scalar: nil,
                       stateBytes: DeviceDetector.stateBytes(channels: 8), checkpointBytes: deviceSaved))
        return out
    }

    /// Samples/s through each channel's chain of `file`: filters, window statistics (with the
    /// binding's percentiles and vibration) and detectors, with the pipeline's own types.
    static let devicesMeasured = 20_000

    /// Resident bytes of this process (`/proc/self/statm`).
    static func residentBytes() -> Int {
        guard let f = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(f) }
        var size = 0, resident = 0
        var buf = [CChar](repeating: 0, count: 128)
        guard fgets(&buf, 128, f) != nil else { return 0 }
        let fields = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: " ")
        if fields.count > 1 { size = Int(fields[0]) ?? 0; resident = Int(fields[1]) ?? 0 }
        _ = size
        return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// What one more device of this binding costs in memory: the growth of resident memory while
    /// a pipeline takes one message each from `devicesMeasured` devices of it, through a
    /// `+device` topic. This is what `limits.max_devices` bounds.
    static func bytesPerDevice(_ file: String) throws -> Int {
        var spec: BindingSpec
        do { spec = try ConfigLoader.loadBinding(file: file).0 } catch { throw ValidationError("\(error)") }
        spec.transport = .mqtt(MQTTSourceSpec(topic: try TopicFilter("bench/+device")))
        spec.limits.maxDevices = devicesMeasured
        final class Discard: RecordSink {
            func write(kind: RecordKind, device: String, seq: UInt64, json: UnsafeRawBufferPointer) {}
            func flush() {}
        }
        let p = try Pipeline(agentId: "bench", bindings: [spec], sink: Discard(), seq: CountingSeq())
        // the devices are made by routing alone (a message that fails to decode still makes its
        // device): no payload for an arbitrary decoder is needed, and no window is opened
        let payload = Array("1".utf8)
        let before = residentBytes()
        for i in 0..<devicesMeasured {
            Array("bench/d\(i)".utf8).withUnsafeBytes { t in payload.withUnsafeBytes { p.ingestMQTT(topic: t, payload: $0, arrivalNs: 1) } }
        }
        p.flush()
        let after = residentBytes()
        withExtendedLifetime(p) {}
        return max(0, after - before) / devicesMeasured
    }

    static func capacity(_ file: String, _ x: [Float]) throws -> [Capacity] {
        let spec: BindingSpec
        do { spec = try ConfigLoader.loadBinding(file: file).0 } catch { throw ValidationError("\(error)") }
        var caps: [Capacity] = []
        let n = min(x.count, 1_000_000)
        for ch in spec.channels {
            let r = time(n) {
                var filters = ch.filters.map(ChannelFilter.init)
                var detectors = ch.detectors.map(ChannelDetector.init)
                var stats = WindowStats()
                var sketch = QuantileSketch()
                var vib = ch.vibration.map { VibrationAccumulator(.init(fftSize: $0.fftSize, sampleRateHz: $0.sampleRateHz, bands: $0.bands.map { ($0[0], $0[1]) })) }
                var block = [Float](repeating: 0, count: 256)
                var rows = [Int32](repeating: 0, count: 256)
                var i = 0
                var acc = 0.0
                while i < n {
                    let m = min(256, n - i)
                    for k in 0..<m { block[k] = x[i + k] }
                    var left = m
                    block.withUnsafeMutableBufferPointer { b in
                        rows.withUnsafeMutableBufferPointer { rw in
                            for f in filters.indices where left > 0 {
                                left = filters[f].process(UnsafeMutableBufferPointer(rebasing: b[0..<left]), positions: UnsafeMutableBufferPointer(rebasing: rw[0..<left]))
                            }
                        }
                    }
                    for k in 0..<left {
                        let v = block[k], t = Int64(i + k) * 10_000_000
                        stats.add(v, ts: t)
                        if !spec.window.percentiles.isEmpty { sketch.add(v) }
                        vib?.add(v)
                        for d in detectors.indices { acc += detectors[d].score(v, ts: t) }
                    }
                    i += m
                }
                if acc < 0 || stats.count < 0 { print(acc) }
            }
            caps.append(Capacity(channel: ch.name, rate: r))
        }
        return caps
    }
}
