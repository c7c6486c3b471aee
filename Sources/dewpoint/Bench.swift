import ArgumentParser
import DewpointCore
import DewpointSignal

/// Kernel throughput on this machine, against each kernel's scalar reference.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the signal kernels on this machine: ns/sample, samples/s, and the ratio to the scalar reference.",
        discussion: """
        --json prints one object: {"kernels":[{"name","layout","ns_per_sample","samples_per_s",\
        "scalar_samples_per_s","ratio"}]}; keys are stable. Kernels not built yet are not listed.
        """)

    @Flag(help: "Machine-readable output.") var json = false
    @Option(help: "Samples per measurement.") var samples = 4_000_000

    struct Row { var name: String; var layout: String; var rate: Double; var scalar: Double? }

    static func time(_ n: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<3 {
            let t0 = Clock.monotonicNs()
            body()
            best = min(best, Double(Clock.monotonicNs() - t0))
        }
        return Double(n) / (best / 1e9)
    }

    func run() throws {
        var rng = SystemRandomNumberGenerator()
        let x = (0..<samples).map { _ in Float.random(in: -1...1, using: &rng) }
        var y = [Float](repeating: 0, count: samples)
        var rows: [Row] = []
        // FIR 64 taps, across time
        let taps = FIRFilter.design(taps: 64, .lowpass(0.25))
        x.withUnsafeBufferPointer { xs in
            y.withUnsafeMutableBufferPointer { ys in
                let block = 4096
                let simd = Self.time(samples) {
                    var f = FIRFilter(taps: taps)
                    var i = 0
                    while i < samples { let n = min(block, samples - i); f.process(UnsafeBufferPointer(rebasing: xs[i..<(i + n)]), into: UnsafeMutableBufferPointer(rebasing: ys[i..<(i + n)])); i += n }
                }
                let scalar = Self.time(samples / 4) {
                    var f = FIRFilter(taps: taps)
                    var i = 0
                    while i < samples / 4 { let n = min(block, samples / 4 - i); f.processScalar(UnsafeBufferPointer(rebasing: xs[i..<(i + n)]), into: UnsafeMutableBufferPointer(rebasing: ys[i..<(i + n)])); i += n }
                }
                rows.append(Row(name: "fir_64", layout: "time", rate: simd, scalar: scalar))
                // 4th-order Butterworth: one channel, and 8 channels per SIMD lane
                let sos = SOSCoefficients.butterworth(order: 4, .lowpass(0.1))
                let one = Self.time(samples) { var c = BiquadCascade(sos); c.process(xs, into: ys) }
                let frames = samples / 8
                var input = [SIMD8<Float>](repeating: .zero, count: frames)
                for i in 0..<frames { for c in 0..<8 { input[i][c] = xs[i * 8 + c] } }
                var out = [SIMD8<Float>](repeating: .zero, count: frames)
                let eight = Self.time(frames * 8) {
                    var c = BiquadCascade8(sos)
                    input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { c.process(i.baseAddress!, into: $0.baseAddress!, count: frames) } }
                }
                rows.append(Row(name: "butterworth4", layout: "channels_8", rate: eight, scalar: one))
                // window statistics (Welford, Double accumulators)
                let stats = Self.time(samples) {
                    var s = WindowStats()
                    for i in 0..<samples { s.add(xs[i], ts: Int64(i)) }
                    if s.count < 0 { print(s.mean) }
                }
                rows.append(Row(name: "window_stats", layout: "time", rate: stats, scalar: nil))
            }
        }
        if json {
            let items = rows.map { r -> String in
                let ratio = r.scalar.map { String(r.rate / $0) } ?? "null"
                let scalar = r.scalar.map { String(Int($0)) } ?? "null"
                return #"{"name":"\#(r.name)","layout":"\#(r.layout)","ns_per_sample":\#(1e9 / r.rate),"samples_per_s":\#(Int(r.rate)),"scalar_samples_per_s":\#(scalar),"ratio":\#(ratio)}"#
            }
            print(#"{"kernels":[\#(items.joined(separator: ","))]}"#)
        } else {
            for r in rows {
                let ratio = r.scalar.map { " (scalar \(Int($0))/s, ×\(fmt2(r.rate / $0)))" } ?? ""
                print("\(r.name) [\(r.layout)]: \(fmt2(1e9 / r.rate)) ns/sample, \(Int(r.rate)) samples/s\(ratio)")
            }
        }
    }
}
