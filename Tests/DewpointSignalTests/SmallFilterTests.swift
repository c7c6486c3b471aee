import Testing
@testable import DewpointSignal

extension Golden {
    static let more = load("more.txt")
}

/// Runs a chain stage over `x` in blocks of the given sizes; returns the samples left and the
/// input index each came from.
func runStage(_ f: inout ChannelFilter, _ x: [Float], blocks: [Int]) -> (values: [Float], rows: [Int]) {
    var values: [Float] = [], rows: [Int] = []
    var i = 0, b = 0
    while i < x.count {
        let n = min(blocks[b % blocks.count], x.count - i)
        var block = Array(x[i..<(i + n)])
        var pos = (i..<(i + n)).map { Int32($0) }
        let left = block.withUnsafeMutableBufferPointer { v in pos.withUnsafeMutableBufferPointer { f.process(v, positions: $0) } }
        values += block[0..<left]
        rows += pos[0..<left].map(Int.init)
        i += n; b += 1
    }
    return (values, rows)
}

@Suite struct SmallFilterGoldenTests {
    static let blockings: [[Int]] = [[600], [1], [7, 64, 3, 200], [13]]

    /// Every stage matches its scipy reference within `tol` (relative to the signal's scale), and
    /// every blocking gives bit-identical output.
    func check(_ make: () -> ChannelFilter, golden name: String, input: String, tol: Double) throws {
        let x = try #require(Golden.fir["in_\(input)"]).map(Float.init)
        let want = try #require(Golden.more[name], "missing golden \(name)")
        let scale = max(1, want.map(abs).max()!)
        var outputs: [[Float]] = []
        for blocks in Self.blockings {
            var f = make()
            outputs.append(runStage(&f, x, blocks: blocks).values)
        }
        #expect(outputs.allSatisfy { $0 == outputs[0] }, "\(name): block sizes changed the output")
        let y = outputs[0]
        try #require(y.count == want.count, "\(name): \(y.count) outputs, want \(want.count)")
        var worst = 0.0
        // tol 0: the output must be the Float of the reference exactly (medians pick samples)
        for i in 0..<y.count { worst = max(worst, abs(Double(y[i]) - (tol == 0 ? Double(Float(want[i])) : want[i])) / scale) }
        #expect(worst <= tol, "\(name): max relative error \(worst)")
    }

    @Test(arguments: Golden.inputs) func movingAverageMatchesLfilter(_ input: String) throws {
        for n in [5, 16] { try check({ .movingAverage(MovingAverage(length: n)) }, golden: "ma\(n)_\(input)", input: input, tol: 1e-6) }
    }

    @Test(arguments: Golden.inputs) func emaMatchesLfilter(_ input: String) throws {
        try check({ .ema(alpha: 0.2, state: nil) }, golden: "ema_\(input)", input: input, tol: 1e-6)
    }

    @Test(arguments: Golden.inputs) func medianMatchesMedfilt(_ input: String) throws {
        for n in [3, 7, 15] { try check({ .median(MedianFilter(length: n)) }, golden: "median\(n)_\(input)", input: input, tol: 0) }
        try check({ .median(MedianFilter(length: 7, threshold: 0.5)) }, golden: "despike7_\(input)", input: input, tol: 0)
    }

    @Test(arguments: Golden.inputs) func decimateMatchesScipyDecimate(_ input: String) throws {
        for q in [2, 5] { try check({ .decimate(Decimator(factor: q)) }, golden: "decimate\(q)_\(input)", input: input, tol: 1e-5) }
    }

    /// The despiker removes the injected spikes and leaves the rest (delayed by two samples).
    @Test func despikeRemovesSpikes() throws {
        let x = try #require(Golden.more["in_spiky"]).map(Float.init)
        let want = try #require(Golden.more["despike5_spiky"])
        var f = ChannelFilter.median(MedianFilter(length: 5, threshold: 1))
        let y = runStage(&f, x, blocks: [9]).values
        for i in 0..<y.count { #expect(y[i] == Float(want[i]), "[\(i)]") }
        #expect(y.allSatisfy { abs($0) < 1 }, "a spike got through")
        #expect(y[100] == x[98], "ordinary samples pass unchanged, two samples late")
    }

    /// The decimator's SIMD dot products agree with the scalar reference.
    @Test func decimatorMatchesItsScalarReference() throws {
        let x = try #require(Golden.fir["in_chirp"]).map(Float.init)
        var f = ChannelFilter.decimate(Decimator(factor: 3))
        let (y, rows) = runStage(&f, x, blocks: [17])
        let ref = Decimator.reference(x, factor: 3)
        #expect(y.count == ref.count)
        for i in 0..<ref.count { #expect(abs(y[i] - ref[i]) <= 1e-5) }
        #expect(rows == Array(stride(from: 0, to: x.count, by: 3)), "kept rows are 0, q, 2q, …")
    }
}

@Suite struct ReportByExceptionTests {
    @Test func rateLimitFollowsASlewOf2PerSample() {
        let x: [Float] = [0, 10, 10, 10, 10, 10, 10, 3, -1]
        for blocks in [[9], [1], [2, 3]] {
            var f = ChannelFilter.rateLimit(RateLimiter(maxStep: 2))
            #expect(runStage(&f, x, blocks: blocks).values == [0, 2, 4, 6, 8, 10, 10, 8, 6])
        }
    }

    @Test func deadbandPassesOnlyChanges() {
        let x: [Float] = [1.0, 1.2, 1.4, 1.6, 1.5, 0.9, 0.95, 2.0, 2.0]
        for blocks in [[9], [1], [4, 2]] {
            var f = ChannelFilter.deadband(Deadband(band: 0.5))
            let (v, rows) = runStage(&f, x, blocks: blocks)
            #expect(v == [1.0, 1.6, 0.9, 2.0])
            #expect(rows == [0, 3, 5, 7])
        }
    }
}
