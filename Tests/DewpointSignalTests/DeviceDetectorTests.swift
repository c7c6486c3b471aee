import DewpointCore
import Foundation
import Testing
@testable import DewpointSignal

/// A pump whose flow, pressure, current and vibration follow its speed; `clogged` lowers the flow
/// to 85% for the same speed (the simulator's fault), while the demand stays above 0.72 so that
/// the flow stays inside its normal range.
private struct Pump {
    var rng = SplitMix64(seed: 7)
    mutating func gauss() -> Double {
        let u = max(rng.unit(), 1e-12), v = rng.unit()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
    mutating func row(clogged: Bool = false) -> [Float] {
        let s = min(1.0, max(clogged ? 0.72 : 0.6, 0.8 + 0.07 * gauss()))
        return [Float(40 * s * (clogged ? 0.85 : 1) + 0.25 * gauss()), Float(3.2 * s * s + 0.02 * gauss()),
                Float(2 + 9 * s * s * s + 0.08 * gauss()), Float(1.1 + 0.6 * s + 0.04 * gauss())]
    }
}

private func feed(_ d: DeviceDetector, _ row: [Float], _ i: Int) -> Double {
    row.withUnsafeBufferPointer { d.observe($0.baseAddress!, stride: 1, ts: Int64(i) * 1_000_000_000) }
}

@Suite struct DeviceDetectorTests {
    /// The fault keeps every channel inside the range it covered while normal; the detector
    /// raises while the relation is broken and returns to normal after.
    @Test func relationBreakInsideTheRangesIsAnAnomalyWhileItLasts() {
        var pump = Pump()
        let d = DeviceDetector(channels: 4, config: .init(learnRows: 400))
        var i = 0
        var lo = [Float](repeating: .infinity, count: 4), hi = [Float](repeating: -.infinity, count: 4)
        for _ in 0..<400 { #expect(feed(d, pump.row(), i) == 0); i += 1 }
        #expect(d.isScoring)
        var normalAlarms = 0
        for _ in 0..<2000 {
            let r = pump.row()
            for c in 0..<4 { lo[c] = min(lo[c], r[c]); hi[c] = max(hi[c], r[c]) }
            _ = feed(d, r, i); i += 1
            if d.anomalous { normalAlarms += 1 }
        }
        #expect(normalAlarms < 40, "false alarms on normal rows: \(normalAlarms) of 2000")
        var faultAlarms = 0, outside = 0
        for k in 0..<300 {
            let r = pump.row(clogged: true)
            for c in 0..<4 where r[c] < lo[c] || r[c] > hi[c] { outside += 1 }
            _ = feed(d, r, i); i += 1
            if d.anomalous && k >= 20 { faultAlarms += 1 }
        }
        #expect(outside < 3, "the fault was meant to stay inside the normal ranges; \(outside) values left them")
        #expect(faultAlarms > 270, "anomalous in \(faultAlarms) of the 280 fault rows after the first 20")
        // the flow is what departs, and it was expected higher than it is
        let top = d.contributions()
        #expect(top.first?.channel == 0)
        if let flow = top.first { #expect(flow.expected > flow.value + 2) }
        var clearedAfter: Int? = nil
        for k in 0..<200 {
            _ = feed(d, pump.row(), i); i += 1
            if !d.anomalous && clearedAfter == nil { clearedAfter = k }
        }
        #expect((clearedAfter ?? 999) < 40)
        #expect(!d.anomalous)
    }

    /// Channels sampled at different instants: each row carries some of them (NaN for the
    /// others). Learning, scoring and the fault all still work, and nothing turns NaN.
    @Test func partialRowsCombineWithoutInventingValues() {
        var pump = Pump()
        let d = DeviceDetector(channels: 4, config: .init(learnRows: 600))
        var alarms = 0
        for i in 0..<3000 {
            var r = pump.row(clogged: i >= 2500)
            // flow and pressure on even rows, current on odd rows, vibration every third row
            if i % 2 == 1 { r[0] = .nan; r[1] = .nan } else { r[2] = .nan }
            if i % 3 != 0 { r[3] = .nan }
            let s = feed(d, r, i)
            #expect(s.isFinite && s >= 0 && s < 1)
            if d.anomalous { alarms += 1 }
            if i == 2499 { #expect(alarms < 40, "false alarms before the fault: \(alarms)") ; alarms = 0 }
        }
        #expect(d.excludedChannels.isEmpty)
        #expect(alarms > 400, "anomalous in \(alarms) of 500 fault rows")
    }

    /// A temperature that drifts smoothly (a random walk) is watched for changes of its trend,
    /// not for its level, so the drift alone never alarms; a jump in its trend does.
    @Test func smoothDriftIsNormalAndAChangeOfTrendIsNot() {
        var rng = SplitMix64(seed: 3)
        let d = DeviceDetector(channels: 2, config: .init(learnRows: 400))
        var temp = 20.0, slope = 0.0
        var alarms = 0
        for i in 0..<6000 {
            slope = 0.98 * slope + 0.002 * (rng.unit() - 0.5)
            temp += slope
            let row: [Float] = [Float(temp + 0.01 * (rng.unit() - 0.5)), Float(5 + rng.unit())]
            _ = feed(d, row, i)
            if d.anomalous { alarms += 1 }
        }
        #expect(alarms < 120, "the drift raised \(alarms) of 5600 rows")
        var raised = false
        for i in 6000..<6100 {
            temp += 0.2  // heating far faster than the drift ever was
            _ = feed(d, [Float(temp), Float(5 + rng.unit())], i)
            raised = raised || d.anomalous
        }
        #expect(raised)
    }

    /// A state that lasts ten learning periods becomes the new normal.
    @Test func aLastingStateIsRelearned() {
        var pump = Pump()
        let d = DeviceDetector(channels: 4, config: .init(learnRows: 200))
        for i in 0..<1000 { _ = feed(d, pump.row(), i) }
        var raisedAt: Int? = nil, relearnedAt: Int? = nil
        for i in 1000..<6000 {
            _ = feed(d, pump.row(clogged: true), i)
            if d.anomalous && raisedAt == nil { raisedAt = i }
            if d.relearned == 1 && relearnedAt == nil { relearnedAt = i }
        }
        let r = try! #require(raisedAt), l = try! #require(relearnedAt)
        #expect(l - r >= 2000 && l - r <= 2100, "relearned \(l - r) rows after raising")
        // after relearning, the clogged pump is normal
        #expect(!d.anomalous)
        #expect(d.relearned == 1)
    }

    /// A checkpoint restores the detector exactly: the restored copy scores the rest of the
    /// stream bit for bit as the original does; a checkpoint of another size is refused.
    @Test func checkpointRestoresExactly() throws {
        var pump = Pump()
        let a = DeviceDetector(channels: 4, config: .init(learnRows: 300))
        var rows: [[Float]] = []
        for i in 0..<1500 { rows.append(pump.row(clogged: i > 1100 && i < 1300)) }
        for i in 0..<700 { _ = feed(a, rows[i], i) }
        var w = StateWriter()
        a.save(to: &w)
        let bytes = w.finish()
        let b = DeviceDetector(channels: 4, config: .init(learnRows: 300))
        var r = StateReader(bytes)
        try b.restore(from: &r)
        let atEnd = r.isAtEnd
        #expect(atEnd)
        for i in 700..<1500 {
            let sa = feed(a, rows[i], i), sb = feed(b, rows[i], i)
            #expect(sa.bitPattern == sb.bitPattern)
        }
        let c = DeviceDetector(channels: 3, config: .init(learnRows: 300))
        var r2 = StateReader(bytes)
        #expect(throws: StateCodingError.self) { try c.restore(from: &r2) }
    }

    /// A channel that never varies while learning is left out, and the others still work.
    @Test func aConstantChannelIsLeftOut() {
        var pump = Pump()
        let d = DeviceDetector(channels: 5, config: .init(learnRows: 400))
        for i in 0..<1500 { _ = feed(d, pump.row(clogged: i >= 1200) + [230], i) }
        #expect(d.excludedChannels == [4])
        #expect(d.anomalous)
    }

    /// Learning by time: `learnNs` keeps it learning after `learnRows` rows.
    @Test func learningLastsAtLeastLearnFor() {
        var pump = Pump()
        let d = DeviceDetector(channels: 4, config: .init(learnRows: 100, learnNs: 600 * 1_000_000_000))
        for i in 0..<599 { _ = feed(d, pump.row(), i) }
        #expect(!d.isScoring)
        for i in 599..<602 { _ = feed(d, pump.row(), i) }
        #expect(d.isScoring)
    }

    @Test func messagesNameTheChannelsInTheirUnits() {
        var pump = Pump()
        let d = DeviceDetector(channels: 4, config: .init(learnRows: 400))
        for i in 0..<800 { _ = feed(d, pump.row(clogged: i >= 700), i) }
        let text = DeviceAlertText.message(device: "pump-1", detector: d, raised: true, names: ["flow", "pressure", "current", "vibration"],
                                           units: ["L/min", "bar", "A", "mm/s"])
        #expect(text.hasPrefix("pump-1: flow"))
        #expect(text.contains("L/min (expected "))
        #expect(text.contains("× the learned limit"))
        #expect(DeviceAlertText.readable(27.1349) == "27.13")
        #expect(DeviceAlertText.readable(0.041249) == "0.04125")
        #expect(DeviceAlertText.readable(1250.4) == "1250")
    }

    /// The limit's χ² quantile against tabulated values (p = 0.999).
    @Test func chiSquareQuantileMatchesTables() {
        for (k, q) in [(2.0, 13.816), (4.0, 18.467), (8.0, 26.124), (16.0, 39.252)] {
            #expect(abs(DeviceDetector.chiSquareQuantile(degrees: k) / q - 1) < 0.03, "k \(k)")
        }
    }
}

@Suite struct SKABScoreTests {
    @Test func rowsArePooledAsSKABDoes() {
        var r = SKABScore.Rows()
        r.add(truth: [false, false, true, true, true], predicted: [true, false, true, true, false], from: 0)
        r.add(truth: [true, false, false], predicted: [true, true, true], from: 1)
        // TP 2+0, FP 1+2, TN 1+0, FN 1+0
        #expect(r == { var x = SKABScore.Rows(); x.tp = 2; x.fp = 3; x.tn = 1; x.fn = 1; return x }())
        #expect(abs(r.f1 - 2 / (2 + 4.0 / 2)) < 1e-12)
        #expect(abs(r.falseAlarmRate - 0.75) < 1e-12)
        #expect(abs(r.missedAlarmRate - 1.0 / 3) < 1e-12)
    }

    /// By hand: one file at 1 s per row, changepoints at rows 10 and 50, windows of 60 s after
    /// each. The predicted state switches at rows 10, 40, 80 and 130.
    @Test func changepointsFollowSKABsScale() {
        let times = (0..<200).map { Int64($0) * 1_000_000_000 }
        var p = [Bool](repeating: false, count: 200)
        for i in 10..<40 { p[i] = true }
        for i in 80..<130 { p[i] = true }
        let f = SKABScore.File(timesNs: times, changepoints: [10, 50], predicted: p)
        let s = SKABScore.changepoints([f], windowNs: 60_000_000_000, profile: .standard)
        // window [10, 70]: the switch at 10 is at its start and earns A_tp = 1; the one at 40 is
        // later in the same window and counts for nothing. Window [50, 110]: the switch at 80 is
        // halfway (x = 0) and earns −0.11 + 1.11 × 0.5 = 0.445. The switch at 130 is outside both
        // and costs 0.11. Total 1.335; the null detector scores −2, the perfect one 2.
        #expect(abs(s - 100 * (1.335 + 2) / 4) < 1e-9)
        let none = SKABScore.File(timesNs: times, changepoints: [10, 50], predicted: [Bool](repeating: false, count: 200))
        #expect(abs(SKABScore.changepoints([none], windowNs: 60_000_000_000, profile: .standard)) < 1e-12)
    }
}
