import DewpointCore
import DewpointSignal

/// Channels of one device filtered together, one channel per lane of `SIMD8<Float>`: the
/// across-channels layout, chosen automatically for slow channels that share a filter.
///
/// The choice, per binding: channels whose whole filter chain is one identical `butterworth` or
/// `ema` stage are grouped, up to 8 per group, when at least 2 share it. Every other chain (and FIR,
/// which is fastest across time in blocks of one channel) runs per channel. Rows where every
/// channel of a group has a sample go through the vector cascade in runs; a row where some lack
/// one steps only the lanes that have it. Each lane computes exactly what the per-channel
/// cascade would, so the layout never changes a result, only the speed.
struct LaneGroup {
    enum Kernel {
        case biquad(BiquadCascade8)
        case ema(EMA8)
    }
    let channels: [Int]
    /// One of the two is set. Optionals rather than an enum payload, so that a step mutates the
    /// state in place instead of copying its arrays.
    var biquad: BiquadCascade8?
    var ema: EMA8?
    /// Rows of the current batch gathered into frames (scratch, `batchCapacity` frames).
    let frames: UnsafeMutablePointer<SIMD8<Float>>

    init(channels: [Int], kernel: Kernel) {
        self.channels = channels
        switch kernel {
        case .biquad(let b): biquad = b
        case .ema(let e): ema = e
        }
        frames = .allocate(capacity: DeviceState.batchCapacity)
    }

    /// The lane groups of `spec`; channels not in one keep their per-channel chain.
    static func plan(_ spec: BindingSpec) -> [LaneGroup] {
        var byFilter: [(FilterSpec, [Int])] = []
        for (c, ch) in spec.channels.enumerated() {
            guard ch.filters.count == 1 else { continue }
            switch ch.filters[0] { case .butterworth, .ema: break; default: continue }
            if let i = byFilter.firstIndex(where: { $0.0 == ch.filters[0] }) { byFilter[i].1.append(c) } else { byFilter.append((ch.filters[0], [c])) }
        }
        var groups: [LaneGroup] = []
        for (f, chans) in byFilter where chans.count >= 2 {
            let make: () -> Kernel
            switch f {
            case .butterworth(let order, let band):
                let sos = SOSCoefficients.butterworth(order: order, PassBand(band))
                make = { .biquad(BiquadCascade8(sos)) }
            case .ema(let alpha):
                make = { .ema(EMA8(alpha: Float(alpha))) }
            default:
                continue
            }
            var i = 0
            while i < chans.count {
                let part = Array(chans[i..<min(i + 8, chans.count)])
                groups.append(LaneGroup(channels: part, kernel: make()))
                i += 8
            }
        }
        return groups
    }

    /// Filters the group's columns of `n` rows in place (NaN: no sample in that row).
    mutating func process(columns: UnsafeMutablePointer<Float>, capacity cap: Int, rows n: Int) {
        let lanes = channels.count
        var r = 0
        while r < n {
            // a run of rows where every lane has a sample
            var end = r
            while end < n && channels.allSatisfy({ !columns[$0 * cap + end].isNaN }) {
                var v = SIMD8<Float>(repeating: 0)
                for l in 0..<lanes { v[l] = columns[channels[l] * cap + end] }
                frames[end - r] = v
                end += 1
            }
            if end > r {
                biquad?.process(frames, into: frames, count: end - r)
                ema?.process(frames, into: frames, count: end - r, lanes: lanes)
                for k in 0..<(end - r) {
                    for l in 0..<lanes { columns[channels[l] * cap + r + k] = frames[k][l] }
                }
                r = end
                continue
            }
            // a row with gaps: only the lanes with a sample advance
            for l in 0..<lanes {
                let i = channels[l] * cap + r
                guard !columns[i].isNaN else { continue }
                if let y = biquad?.step(lane: l, columns[i]) { columns[i] = y }
                if let y = ema?.step(lane: l, columns[i]) { columns[i] = y }
            }
            r += 1
        }
    }
}

extension LaneGroup: Checkpointable {
    /// The channels (a group of other channels would pass the lane count), then whichever
    /// kernel the group has; not the scratch frames.
    func save(to w: inout StateWriter) {
        w.write(channels)
        w.write(biquad != nil)
        biquad?.save(to: &w)
        w.write(ema != nil)
        ema?.save(to: &w)
    }

    mutating func restore(from r: inout StateReader) throws(StateCodingError) {
        let saved = try r.read([Int].self, count: channels.count)
        guard saved == channels else { throw StateCodingError("a lane group of channels \(saved) where the configuration groups \(channels)") }
        guard try r.read(Bool.self) == (biquad != nil) else { throw StateCodingError("a lane group's kernel changed (biquad)") }
        if biquad != nil { try biquad!.restore(from: &r) }
        guard try r.read(Bool.self) == (ema != nil) else { throw StateCodingError("a lane group's kernel changed (ema)") }
        if ema != nil { try ema!.restore(from: &r) }
    }
}
