/// Parses captured packets down to their UDP/TCP payload, reading only within the captured
/// bytes: every field read is checked against `caplen`. No allocation per packet.
///
/// Link layers: Ethernet (with 802.1Q and QinQ tags), Linux cooked SLL and SLL2, raw IP.
/// IPv4 (IHL and total length checked; fragments counted, not reassembled), IPv6 (extension
/// header chain walked), UDP (length checked) and TCP (payload of each segment).
public enum PacketParser {
    /// libpcap link types handled.
    public enum LinkType: Int32, Sendable {
        case ethernet = 1, raw = 101, rawAlt = 12, linuxSLL = 113, linuxSLL2 = 276, ipv4 = 228, ipv6 = 229
    }

    public enum DropReason: String, Error, Sendable, CaseIterable {
        case truncated, unsupportedLink = "unsupported_link", notIP = "not_ip", badIPHeader = "bad_ip_header",
             badIPLength = "bad_ip_length", fragment, badUDPLength = "bad_udp_length", badTCPHeader = "bad_tcp_header",
             unsupportedProtocol = "unsupported_protocol"
    }

    public struct Packet: Sendable, Equatable {
        public var ethertype: UInt16 = 0
        /// 4 bytes for IPv4, 16 for IPv6, in the first `addressLength` bytes.
        public var src: (UInt64, UInt64) = (0, 0)
        public var dst: (UInt64, UInt64) = (0, 0)
        public var addressLength = 0
        public var proto: UInt8 = 0
        public var srcPort: UInt16 = 0
        public var dstPort: UInt16 = 0
        /// The transport payload (or, for non-IP frames, everything after the link header).
        public var payload: Range<Int> = 0..<0

        public static func == (a: Packet, b: Packet) -> Bool {
            a.ethertype == b.ethertype && a.src == b.src && a.dst == b.dst && a.addressLength == b.addressLength
                && a.proto == b.proto && a.srcPort == b.srcPort && a.dstPort == b.dstPort && a.payload == b.payload
        }
    }

    @inline(__always)
    static func u16(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt16 { UInt16(b[i]) << 8 | UInt16(b[i + 1]) }

    /// Packs up to 16 address bytes into two integers (big-endian order) for cheap comparison.
    @inline(__always)
    public static func address(_ b: UnsafeRawBufferPointer, _ at: Int, _ n: Int) -> (UInt64, UInt64) {
        var hi: UInt64 = 0, lo: UInt64 = 0
        for k in 0..<n {
            if k < 8 { hi = hi << 8 | UInt64(b[at + k]) } else { lo = lo << 8 | UInt64(b[at + k]) }
        }
        return (hi, lo)
    }

    public static func parse(_ b: UnsafeRawBufferPointer, linkType: Int32) -> Result<Packet, DropReason> {
        var p = Packet()
        var i: Int
        let n = b.count
        switch LinkType(rawValue: linkType) {
        case .ethernet:
            guard n >= 14 else { return .failure(.truncated) }
            var type = u16(b, 12)
            i = 14
            // 802.1Q (0x8100) and QinQ (0x88A8, 0x9100) tags, up to two
            var tags = 0
            while (type == 0x8100 || type == 0x88A8 || type == 0x9100) && tags < 2 {
                guard n >= i + 4 else { return .failure(.truncated) }
                type = u16(b, i + 2)
                i += 4
                tags += 1
            }
            p.ethertype = type
        case .linuxSLL:
            guard n >= 16 else { return .failure(.truncated) }
            p.ethertype = u16(b, 14)
            i = 16
        case .linuxSLL2:
            guard n >= 20 else { return .failure(.truncated) }
            p.ethertype = u16(b, 0)
            i = 20
        case .raw, .rawAlt, .ipv4, .ipv6:
            guard n >= 1 else { return .failure(.truncated) }
            p.ethertype = b[0] >> 4 == 6 ? 0x86DD : 0x0800
            i = 0
        case nil:
            return .failure(.unsupportedLink)
        }
        var end = n  // end of the IP packet within the capture
        switch p.ethertype {
        case 0x0800:
            guard n >= i + 20 else { return .failure(.truncated) }
            guard b[i] >> 4 == 4 else { return .failure(.badIPHeader) }
            let ihl = Int(b[i] & 0x0F) * 4
            guard ihl >= 20 else { return .failure(.badIPHeader) }
            guard n >= i + ihl else { return .failure(.truncated) }
            let total = Int(u16(b, i + 2))
            guard total >= ihl else { return .failure(.badIPLength) }
            if i + total > n { return .failure(.truncated) }  // cut by the snap length
            end = i + total
            let flags = u16(b, i + 6)
            if flags & 0x1FFF != 0 || flags & 0x2000 != 0 { return .failure(.fragment) }
            p.proto = b[i + 9]
            p.src = address(b, i + 12, 4)
            p.dst = address(b, i + 16, 4)
            p.addressLength = 4
            i += ihl
        case 0x86DD:
            guard n >= i + 40 else { return .failure(.truncated) }
            guard b[i] >> 4 == 6 else { return .failure(.badIPHeader) }
            let payloadLength = Int(u16(b, i + 4))
            if i + 40 + payloadLength > n { return .failure(.truncated) }
            end = i + 40 + payloadLength
            var next = b[i + 6]
            p.src = address(b, i + 8, 16)
            p.dst = address(b, i + 24, 16)
            p.addressLength = 16
            i += 40
            // extension headers: hop-by-hop, routing, fragment, destination options, AH
            var hops = 0
            while hops < 8 {
                switch next {
                case 0, 43, 60:
                    guard end >= i + 8 else { return .failure(.truncated) }
                    let len = (Int(b[i + 1]) + 1) * 8
                    guard end >= i + len else { return .failure(.badIPLength) }
                    next = b[i]
                    i += len
                case 44:
                    guard end >= i + 8 else { return .failure(.truncated) }
                    let off = u16(b, i + 2)
                    if off & 0xFFF8 != 0 || off & 1 != 0 { return .failure(.fragment) }
                    next = b[i]
                    i += 8
                case 51:
                    guard end >= i + 8 else { return .failure(.truncated) }
                    let len = (Int(b[i + 1]) + 2) * 4
                    guard end >= i + len else { return .failure(.badIPLength) }
                    next = b[i]
                    i += len
                default:
                    hops = 8
                    continue
                }
                hops += 1
            }
            p.proto = next
        default:
            // not IP: the frame after the link header (sensor protocols on raw Ethernet)
            p.payload = i..<n
            return .success(p)
        }
        switch p.proto {
        case 17:
            guard end >= i + 8 else { return .failure(.truncated) }
            let len = Int(u16(b, i + 4))
            guard len >= 8, i + len <= end else { return .failure(.badUDPLength) }
            p.srcPort = u16(b, i)
            p.dstPort = u16(b, i + 2)
            p.payload = (i + 8)..<(i + len)
        case 6:
            guard end >= i + 20 else { return .failure(.truncated) }
            let off = Int(b[i + 12] >> 4) * 4
            guard off >= 20, i + off <= end else { return .failure(.badTCPHeader) }
            p.srcPort = u16(b, i)
            p.dstPort = u16(b, i + 2)
            p.payload = (i + off)..<end
        default:
            return .failure(.unsupportedProtocol)
        }
        return .success(p)
    }
}
