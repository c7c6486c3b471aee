import DewpointCore
import DewpointPipeline
import Foundation
import Testing

@Suite struct WindowFeatureTests {
    /// Percentiles, the time-weighted mean and vibration features reach the summary as extra keys
    /// of the channel object, with values computed here independently.
    @Test func summaryCarriesPercentilesTimeWeightedMeanAndVibration() throws {
        var window = WindowSpec(lengthMs: 1_000_000, latenessMs: 0)
        window.percentiles = [50, 90, 99.5]
        window.timeWeightedMean = true
        var b = envBinding(topic: "s/env", window: window)
        b.channels[1].vibration = VibrationSpec(fftSize: 256, sampleRateHz: 1000, bands: [[0, 100], [100, 500]])
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        let t0: Int64 = 1_764_000_000_000
        var temps: [Double] = []
        var rhs: [Float] = []
        for i in 0..<1024 {
            // temp steps once: 10 for the first 100 ms, then 20 (ms timestamps, 1 per ms)
            let temp = i < 100 ? 10.0 : 20.0
            let rh = Float(2 * sin(2 * Double.pi * 50 * Double(i) / 1000))
            temps.append(temp); rhs.append(rh)
            feed(p, "s/env", #"{"ts":\#(t0 + Int64(i)),"temp":\#(temp),"rh":\#(rh)}"#)
        }
        p.finish()
        let ch = parseLines(sink.lines)[0]["channels"] as! [String: [String: Any]]
        let temp = ch["temp"]!, rh = ch["rh"]!
        // 1024 samples: past the exact limit, so within the sketch's 1% of the sample at the rank
        for key in ["p50", "p90", "p99.5"] { #expect(abs((temp[key] as! Double) - 20) <= 0.2, "\(key)") }
        // held 10 for 100 ms and 20 for 923 ms of a 1023 ms span
        #expect(abs((temp["twmean"] as! Double) - (10.0 * 100 + 20 * 923) / 1023) < 1e-9)
        #expect(temp["rms"] == nil, "no vibration features unless asked")
        let sorted = rhs.sorted()
        let exact = Double(sorted[511])
        #expect(abs((rh["p50"] as! Double) - exact) <= 0.0101 * abs(exact))
        // 51.2 periods: the partial period moves RMS and crest slightly off their ideal values
        #expect(abs((rh["rms"] as! Double) - 2 / 2.0.squareRoot()) < 3e-3)
        #expect(abs((rh["crest"] as! Double) - 2.0.squareRoot()) < 3e-3)
        #expect(abs((rh["kurtosis"] as! Double) - 1.5) < 1e-2, "a sine has kurtosis 1.5")
        #expect(rh["frames"] as? Int == 4)
        let bands = rh["bands"] as! [String: Double]
        #expect(abs(bands["0-100"]! - 2.0) < 0.01, "a sine of amplitude 2 has mean square 2 in its band")
        #expect(bands["100-500"]! < 1e-3)
    }
}
