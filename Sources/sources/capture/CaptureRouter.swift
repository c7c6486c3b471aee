import DewpointCore
import DewpointDecode
#if canImport(Glibc)
import Glibc
#endif

/// Picks, for each captured packet, the capture binding it belongs to: the binding's BPF
/// expression plus its src/dst address and port match. Unparseable packets are counted by reason;
/// packets no binding takes are counted as unmatched.
public final class CaptureRouter {
    struct Route {
        var binding: Int
        var filter: PacketFilter?
        var src: (UInt64, UInt64)?
        var dst: (UInt64, UInt64)?
        var srcPort: UInt16?
        var dstPort: UInt16?
        var ethertype: UInt16?
    }
    private var routes: [Route] = []
    public private(set) var drops: [PacketParser.DropReason: Int] = [:]
    public private(set) var unmatched = 0
    /// Matched packets without payload (TCP SYN/ACK/FIN), not passed to the decoder.
    public private(set) var emptyPayloads = 0
    public private(set) var packets = 0
    public let linkType: Int32

    /// `bindings`: (binding index, its capture settings).
    /// `kernelFiltered`: the handle already applies the one binding's BPF filter (live capture
    /// with one binding), so it is not run again here for every packet.
    public init(bindings: [(Int, CaptureSpec)], linkType: Int32, kernelFiltered: Bool = false) throws(CaptureError) {
        self.linkType = linkType
        for (i, c) in bindings {
            var r = Route(binding: i)
            if let bpf = c.bpf, !bpf.isEmpty, !kernelFiltered { r.filter = try PacketFilter(bpf, linkType: linkType) }
            r.src = try c.srcHost.map { h throws(CaptureError) in try CaptureRouter.address(h) }
            r.dst = try c.dstHost.map { h throws(CaptureError) in try CaptureRouter.address(h) }
            r.srcPort = c.srcPort.map { UInt16($0) }
            r.dstPort = c.dstPort.map { UInt16($0) }
            r.ethertype = c.ethertype.map { UInt16($0) }
            routes.append(r)
        }
    }

    static func address(_ text: String) throws(CaptureError) -> (UInt64, UInt64) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { PacketParser.address($0, 0, 4) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { PacketParser.address($0, 0, 16) }
        }
        throw CaptureError(description: "'\(text)' is not an IPv4 or IPv6 address")
    }

    /// Routes one packet; `emit(binding, payload)` for the binding that takes it.
    public func route(_ bytes: UnsafeRawBufferPointer, wireLength: Int, _ emit: (Int, UnsafeRawBufferPointer) -> Void) {
        packets += 1
        switch PacketParser.parse(bytes, linkType: linkType) {
        case .failure(let reason):
            drops[reason, default: 0] += 1
        case .success(let p):
            for r in routes {
                if let f = r.filter, !f.matches(bytes, wireLength: wireLength) { continue }
                if let s = r.src, s != p.src { continue }
                if let d = r.dst, d != p.dst { continue }
                if let sp = r.srcPort, sp != p.srcPort { continue }
                if let dp = r.dstPort, dp != p.dstPort { continue }
                if let et = r.ethertype, et != p.ethertype { continue }
                // TCP segments with no data (SYN, ACK, FIN) carry nothing to decode
                if p.payload.isEmpty { emptyPayloads += 1; return }
                emit(r.binding, UnsafeRawBufferPointer(rebasing: bytes[p.payload]))
                return
            }
            unmatched += 1
        }
    }

    public var summary: String { SourceCounters(counterValues).description }

    /// Packets, unmatched, empty payloads and drops by reason.
    public var counterValues: [(name: String, value: Int)] {
        [("packets", packets), ("unmatched", unmatched), ("empty", emptyPayloads)]
            + PacketParser.DropReason.allCases.map { ($0.rawValue, drops[$0] ?? 0) }
    }
}
