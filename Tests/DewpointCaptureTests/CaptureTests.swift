import DewpointCore
import DewpointDecode
import DewpointPipeline
import Foundation
import Testing
import DewpointTestSupport
@testable import DewpointCapture

/// Packet builders, written here from the header layouts (not from the parser).
enum Build {
    static func be16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func udp(_ payload: [UInt8], src: Int = 40000, dst: Int = 5005, lengthOverride: Int? = nil) -> [UInt8] {
        be16(src) + be16(dst) + be16(lengthOverride ?? 8 + payload.count) + [0, 0] + payload
    }

    static func ipv4(_ l4: [UInt8], proto: UInt8 = 17, src: [UInt8] = [127, 0, 0, 1], dst: [UInt8] = [127, 0, 0, 1],
                     flags: Int = 0x4000, ihl: Int = 5, totalOverride: Int? = nil) -> [UInt8] {
        // built in steps: one long concatenation is slow to type-check (too slow under emulation)
        var h: [UInt8] = [UInt8(0x40 | ihl), 0]
        h += be16(totalOverride ?? ihl * 4 + l4.count)
        h += [0, 1]
        h += be16(flags)
        h += [64, proto, 0, 0]
        h += src
        h += dst
        h += [UInt8](repeating: 1, count: max(0, ihl * 4 - 20))  // options
        return h + l4
    }

    static func ipv6(_ l4: [UInt8], next: UInt8 = 17, ext: [(UInt8, [UInt8])] = []) -> [UInt8] {
        // ext: (header type, its bytes after next/len) chained before the transport header
        var chain: [UInt8] = []
        let kinds = ext.map(\.0) + [next]
        for (k, e) in ext.enumerated() {
            let body = e.1
            chain += [kinds[k + 1]] + body
        }
        let first = ext.first?.0 ?? next
        let src = [UInt8](repeating: 0, count: 15) + [1]
        var packet: [UInt8] = [0x60, 0, 0, 0]
        packet += be16(chain.count + l4.count)
        packet += [first, 64]
        packet += src
        packet += src
        packet += chain
        packet += l4
        return packet
    }

    static func ethernet(_ l3: [UInt8], type: Int = 0x0800, tags: [Int] = []) -> [UInt8] {
        var f: [UInt8] = [UInt8](repeating: 0xAA, count: 6) + [UInt8](repeating: 0xBB, count: 6)
        for t in tags { f += be16(t) + be16(42) }
        return f + be16(type) + l3
    }

    static func sll(_ l3: [UInt8], type: Int = 0x0800) -> [UInt8] { [0, 0, 0, 1, 0, 6] + [UInt8](repeating: 0, count: 8) + be16(type) + l3 }
    static func sll2(_ l3: [UInt8], type: Int = 0x0800) -> [UInt8] { be16(type) + [0, 0, 0, 0, 0, 1, 0, 1, 0, 6] + [UInt8](repeating: 0, count: 8) + l3 }
}

func scratch(_ name: String) -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("dewpoint-capture-\(getpid())")
    try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d.appendingPathComponent(name).path
}

@Suite struct PacketParserTests {
    let payload: [UInt8] = Array("{\"v\":21.5}".utf8)

    /// Every link layer and header case in one pcap per link type; each packet either decodes to
    /// the payload or is counted under the right reason.
    @Test func everyLinkLayerAndHeaderCaseThroughPcapFiles() throws {
        let p = payload
        let ethCases: [([UInt8], PacketParser.DropReason?)] = [
            (Build.ethernet(Build.ipv4(Build.udp(p))), nil),
            (Build.ethernet(Build.ipv4(Build.udp(p)), tags: [0x8100]), nil),                 // VLAN
            (Build.ethernet(Build.ipv4(Build.udp(p)), tags: [0x88A8, 0x8100]), nil),         // QinQ
            (Build.ethernet(Build.ipv4(Build.udp(p), ihl: 6)), nil),                         // IP options
            (Build.ethernet(Build.ipv6(Build.udp(p)), type: 0x86DD), nil),
            (Build.ethernet(Build.ipv6(Build.udp(p), ext: [(0, [0, 0, 0, 0, 0, 0, 0]), (60, [1, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8))]), type: 0x86DD), nil),
            (Build.ethernet(Build.ipv6(Build.udp(p), ext: [(44, [0, 0, 0x08, 0, 0, 0, 1])]), type: 0x86DD), .fragment),  // offset 1
            (Build.ethernet(Build.ipv4(Build.udp(p), flags: 0x2000)), .fragment),            // more fragments
            (Build.ethernet(Build.ipv4(Build.udp(p), flags: 0x0010)), .fragment),            // non-zero offset
            (Array(Build.ethernet(Build.ipv4(Build.udp(p))).prefix(30)), .truncated),
            (Build.ethernet(Build.ipv4(Build.udp(p), ihl: 4)), .badIPHeader),
            (Build.ethernet(Build.ipv4(Build.udp(p), totalOverride: 10)), .badIPLength),
            (Build.ethernet(Build.ipv4(Build.udp(p, lengthOverride: 200))), .badUDPLength),
            (Build.ethernet(Build.ipv4(Build.udp(p, lengthOverride: 4))), .badUDPLength),
            (Build.ethernet(Build.ipv4([1, 2, 3, 4], proto: 1)), .unsupportedProtocol),
        ]
        let path = scratch("eth.pcap")
        let w = try PcapWriter(path: path, linkType: 1)
        for (i, c) in ethCases.enumerated() { w.write(c.0, tsNs: 1_764_000_000_000_000_000 + Int64(i) * 1_000_000) }
        // a packet cut by the snap length: 20 bytes captured of 60 on the wire
        w.write(Array(Build.ethernet(Build.ipv4(Build.udp(p))).prefix(20)), tsNs: 1_764_000_001_000_000_000, wireLength: 60)
        w.close()

        let h = try PcapHandle.openOffline(path)
        #expect(h.linkType == 1)
        var results: [Result<PacketParser.Packet, PacketParser.DropReason>] = []
        var times: [Int64] = []
        while h.dispatch({ b, _, ns in results.append(PacketParser.parse(b, linkType: h.linkType)); times.append(ns) }) > 0 {}
        #expect(results.count == ethCases.count + 1)
        #expect(times[1] == 1_764_000_000_001_000_000)  // nanosecond timestamps survive the file
        for (k, c) in ethCases.enumerated() {
            switch (results[k], c.1) {
            case (.success(let pk), nil):
                #expect(pk.dstPort == 5005 && pk.srcPort == 40000, "case \(k)")
            case (.failure(let r), let want?):
                #expect(r == want, "case \(k)")
            default:
                Issue.record("case \(k): got \(results[k]), expected \(String(describing: c.1))")
            }
        }
        if case .failure(let r) = results.last! { #expect(r == .truncated) } else { Issue.record("snap-cut packet parsed") }
    }

    @Test func cookedAndRawLinkTypes() throws {
        for (link, frame) in [(Int32(113), Build.sll(Build.ipv4(Build.udp(payload)))), (276, Build.sll2(Build.ipv4(Build.udp(payload)))),
                              (12, Build.ipv4(Build.udp(payload))), (12, Build.ipv6(Build.udp(payload)))] {
            let path = scratch("link-\(link)-\(frame.count).pcap")
            let w = try PcapWriter(path: path, linkType: link)
            w.write(frame, tsNs: 1)
            w.close()
            let h = try PcapHandle.openOffline(path)
            var got: [UInt8] = []
            _ = h.dispatch { b, _, _ in
                if case .success(let pk) = PacketParser.parse(b, linkType: h.linkType) { got = Array(b[pk.payload]) }
            }
            #expect(got == payload, "link type \(link)")
        }
    }

    @Test func tcpSegmentsAndNonIPFrames() {
        let tcp = Build.be16(502) + Build.be16(40001) + [0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0, 0, 0, 0, 0, 0] + [9, 9, 9]
        let r = Build.ethernet(Build.ipv4(tcp, proto: 6)).withUnsafeBytes { PacketParser.parse($0, linkType: 1) }
        if case .success(let p) = r { #expect(p.srcPort == 502 && p.payload.count == 3) } else { Issue.record("\(r)") }
        let raw = Build.ethernet([1, 2, 3], type: 0x88B5).withUnsafeBytes { PacketParser.parse($0, linkType: 1) }
        if case .success(let p) = raw { #expect(p.ethertype == 0x88B5 && p.payload.count == 3) } else { Issue.record("\(raw)") }
    }
}

@Suite struct CaptureReplayTests {
    /// A pcap through the capture binding (BPF + address/port match) into the pipeline.
    @Test func replayRoutesByFilterAndDecodes() throws {
        let path = scratch("sensor.pcap")
        let w = try PcapWriter(path: path, linkType: 1)
        for i in 0..<100 {
            let dst = i % 4 == 3 ? 6006 : 5005  // another port: unmatched
            w.write(Build.ethernet(Build.ipv4(Build.udp(Array("{\"v\":\(i)}".utf8), dst: dst), src: [10, 0, 0, 17])),
                    tsNs: 1_764_000_000_000_000_000 + Int64(i) * 100_000_000)
        }
        w.write(Build.ethernet(Build.ipv4(Build.udp([1], dst: 5005), flags: 0x0010)), tsNs: 1_764_000_010_000_000_000)  // a fragment
        w.close()
        let spec = CaptureSpec(file: path, bpf: "udp dst port 5005", srcHost: "10.0.0.17", dstPort: 5005)
        let binding = BindingSpec(name: "vib", transport: .capture(spec), decoder: .json,
                                  channels: [ChannelSpec(name: "v", locator: .jsonPointer("/v"))], window: WindowSpec(lengthMs: 60_000, latenessMs: 0))
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [binding], sink: sink, seq: CountingSeq())
        let summary = try ReplayReader().replayCapture(path: path, bindings: [(0, spec)], into: p)
        p.finish()
        #expect(summary.contains("packets=101 unmatched=25") && summary.contains("fragment=1"), "\(summary)")
        let rec = try JSONSerialization.jsonObject(with: Data(sink.lines[0].utf8)) as! [String: Any]
        let v = (rec["channels"] as! [String: [String: Any]])["v"]!
        #expect(v["n"] as! Int == 75)
        #expect(rec["start_ms"] as! Int == 1_764_000_000_000)
    }
}

@Suite struct EthertypeSelectionTests {
    @Test func rawEthernetFramesAreSelectedByEthertype() throws {
        let path = scratch("raw-eth.pcap")
        let w = try PcapWriter(path: path, linkType: 1)
        w.write(Build.ethernet(Array("{\"v\":1}".utf8), type: 0x88B5), tsNs: 1_000_000_000)
        w.write(Build.ethernet(Array("{\"v\":2}".utf8), type: 0x88B5, tags: [0x8100]), tsNs: 2_000_000_000)
        w.write(Build.ethernet(Array("{\"v\":9}".utf8), type: 0x88B6), tsNs: 3_000_000_000)
        w.write(Build.ethernet(Build.ipv4(Build.udp([1]))), tsNs: 4_000_000_000)
        w.close()
        let spec = CaptureSpec(file: path, ethertype: 0x88B5)
        let b = BindingSpec(name: "e", transport: .capture(spec), decoder: .json, channels: [ChannelSpec(name: "v", locator: .jsonPointer("/v"))],
                            window: WindowSpec(lengthMs: 60_000, latenessMs: 0))
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        let summary = try ReplayReader().replayCapture(path: path, bindings: [(0, spec)], into: p)
        p.finish()
        #expect(summary.contains("packets=4 unmatched=2"))
        #expect(sink.lines.count == 1 && sink.lines[0].contains(#""n":2,"min":1,"max":2"#))
    }
}

@Suite(.serialized) struct LiveCaptureTests {
    static var isRoot: Bool { geteuid() == 0 }

    /// Captures on loopback while sending UDP sensor datagrams to 127.0.0.1; every sample arrives.
    @Test(.enabled(if: isRoot, "live capture needs CAP_NET_RAW (run as root, as CI does)"))
    func loopbackUDP() throws {
        let port = 30000 + Int(getpid() % 20000)
        let spec = CaptureSpec(interface: "lo", bpf: "udp dst port \(port)", dstPort: port)
        let lock = NSLock()
        nonisolated(unsafe) var got: [String] = []
        nonisolated(unsafe) var frames: [([UInt8], Int64)] = []
        let binding = BindingSpec(name: "udp", transport: .capture(spec), decoder: .json,
                                  channels: [ChannelSpec(name: "v", locator: .jsonPointer("/v")), ChannelSpec(name: "seq", locator: .jsonPointer("/seq"))],
                                  window: WindowSpec(lengthMs: 100, latenessMs: 0))
        // record the same traffic to a file while capturing live (the link type of lo is Ethernet)
        let path = scratch("live.pcap")
        nonisolated(unsafe) let writer = try PcapWriter(path: path, linkType: 1)
        let src = try CaptureSource(interface: "lo", bindings: [(0, spec)], onFrame: { _, payload, ns in
            let s = String(decoding: payload, as: UTF8.self)
            lock.lock(); got.append(s); frames.append((Array(payload), ns)); lock.unlock()
        }, onPacket: { bytes, wire, ns in writer.write(Array(bytes), tsNs: ns, wireLength: wire) })
        #expect(src.linkType == 1)
        src.start()
        usleep(300_000)
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var sent: [String] = []
        for i in 0..<200 {
            let msg = "{\"seq\":\(i),\"v\":\(Double(i) / 4)}"
            sent.append(msg)
            _ = msg.withCString { c in
                withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, c, strlen(c), 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            }
            usleep(1000)
        }
        close(fd)
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline { lock.lock(); let n = got.count; lock.unlock(); if n >= 200 { break }; usleep(20_000) }
        src.stop()
        writer.close()
        lock.lock(); let all = got; let live = frames; lock.unlock()
        #expect(all == sent, "\(src.summary)")

        // the live frames and a replay of the recorded file give byte-identical records
        let liveSink = MemorySink(), replaySink = MemorySink()
        let p1 = try Pipeline(agentId: "gw", bindings: [binding], sink: liveSink, seq: CountingSeq())
        for (f, ns) in live { f.withUnsafeBytes { p1.ingest(binding: 0, payload: $0, arrivalNs: ns) } }
        p1.finish()
        let p2 = try Pipeline(agentId: "gw", bindings: [binding], sink: replaySink, seq: CountingSeq())
        _ = try ReplayReader().replayCapture(path: path, bindings: [(0, spec)], into: p2)
        p2.finish()
        #expect(!liveSink.lines.isEmpty)
        #expect(liveSink.lines == replaySink.lines)
    }
}

/// A Linux tap interface owned by the test: it exists while `fd` is open. Frames written to
/// `fd` arrive on the interface as if received from a wire.
final class TapDevice {
    let name: String
    private(set) var fd: Int32 = -1

    /// nil when this machine cannot make one (no /dev/net/tun, or no CAP_NET_ADMIN).
    init?(name: String) {
        self.name = name
        fd = open("/dev/net/tun", O_RDWR)
        guard fd >= 0 else { return nil }
        var req = ifreq()
        withUnsafeMutableBytes(of: &req.ifr_ifrn.ifrn_name) { b in
            for (i, c) in name.utf8.prefix(15).enumerated() { b[i] = c }
        }
        req.ifr_ifru.ifru_flags = Int16(0x0002 | 0x1000)  // IFF_TAP | IFF_NO_PI
        let TUNSETIFF: UInt = 0x4004_54CA
        guard withUnsafeMutablePointer(to: &req, { ioctl(fd, TUNSETIFF, $0) }) == 0 else { close(fd); fd = -1; return nil }
        let up = Process()
        up.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        up.arguments = ["link", "set", "dev", name, "up"]
        guard (try? up.run()) != nil else { close(fd); fd = -1; return nil }
        up.waitUntilExit()
        guard up.terminationStatus == 0 else { close(fd); fd = -1; return nil }
    }

    func send(_ frame: [UInt8]) { _ = frame.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }

    /// Closing the last fd removes the interface.
    func remove() { if fd >= 0 { close(fd); fd = -1 } }
    deinit { remove() }
}

@Suite(.serialized) struct CaptureReopenTests {
    static var canMakeTap: Bool {
        guard geteuid() == 0, let t = TapDevice(name: "dpprobe\(getpid() % 10000)") else { return false }
        t.remove()
        return true
    }

    static func frame(_ text: String) -> [UInt8] {
        Build.ethernet(Build.ipv4(Build.udp(Array(text.utf8), dst: 5005), src: [10, 9, 0, 2], dst: [10, 9, 0, 1]))
    }

    /// The interface disappears under a running capture (an unplugged USB adapter) and comes back:
    /// the source opens it again and goes on delivering.
    @Test(.enabled(if: canMakeTap, "needs root and /dev/net/tun to make a tap interface"))
    func captureReopensWhenTheInterfaceReturns() throws {
        let name = "dpcap\(getpid() % 10000)"
        var tap = TapDevice(name: name)
        try #require(tap != nil, "the tap interface could not be made")
        let lock = NSLock()
        nonisolated(unsafe) var got: [String] = []
        let captured = CapturedLog()
        let spec = CaptureSpec(interface: name, bpf: "udp dst port 5005", dstPort: 5005)
        let src = try CaptureSource(interface: name, bindings: [(0, spec)], onFrame: { _, payload, _ in
            lock.lock(); got.append(String(decoding: payload, as: UTF8.self)); lock.unlock()
        }, logger: captured.logger, backoff: ExponentialBackoff(initialNs: 50_000_000, maxNs: 200_000_000, jitter: false))
        src.start()
        usleep(200_000)
        tap?.send(CaptureReopenTests.frame("before"))
        #expect(waitFor { lock.lock(); defer { lock.unlock() }; return got == ["before"] })

        tap?.remove()
        #expect(waitFor { return captured.lines.contains { $0.contains("failed") } })
        usleep(300_000)  // a few failed attempts: the interface is gone
        #expect(src.reopens == 0)
        tap = TapDevice(name: name)
        #expect(waitFor { src.reopens == 1 })
        usleep(100_000)
        tap?.send(CaptureReopenTests.frame("after"))
        #expect(waitFor { lock.lock(); defer { lock.unlock() }; return got == ["before", "after"] })
        src.stop()
        tap?.remove()
        let all = captured.lines
        #expect(all.contains { $0.contains("reopened") }, "\(all)")
        // the failed attempts are logged once per distinct error, not once per attempt
        #expect(all.filter { $0.contains("retrying") }.count <= 2, "\(all)")
        #expect(src.summary.contains("reopens=1") && src.summary.contains("kernel_dropped=0"), "\(src.summary)")
    }

    /// The capture thread stalls while frames pour in, so that the kernel's buffer overflows: the
    /// drops are counted and logged, not lost silently.
    /// An interface that is missing when the agent starts (a USB adapter plugged in later) is
    /// opened when it appears, and capture starts then.
    @Test(.enabled(if: canMakeTap, "needs root and /dev/net/tun to make a tap interface"))
    func anInterfaceMissingAtStartIsOpenedWhenItAppears() throws {
        let name = "dplate\(getpid() % 10000)"
        let lock = NSLock()
        nonisolated(unsafe) var got: [String] = []
        let captured = CapturedLog()
        let spec = CaptureSpec(interface: name, bpf: "udp dst port 5005", dstPort: 5005)
        #expect(throws: CaptureError.self) { try CaptureSource(interface: name, bindings: [(0, spec)], onFrame: { _, _, _ in }) }
        let src = CaptureSource.waiting(interface: name, bindings: [(0, spec)], onFrame: { _, payload, _ in
            lock.lock(); got.append(String(decoding: payload, as: UTF8.self)); lock.unlock()
        }, logger: captured.logger, backoff: ExponentialBackoff(initialNs: 50_000_000, maxNs: 200_000_000, jitter: false))
        src.start()
        usleep(400_000)
        // absent for a while: one line for the error, however many attempts
        #expect(captured.lines.filter { $0.contains("retrying") }.count == 1, "\(captured.lines)")
        let tap = TapDevice(name: name)
        try #require(tap != nil, "the tap interface could not be made")
        #expect(waitFor { captured.lines.contains { $0.contains("capture on \(name): open") } }, "\(captured.lines)")
        usleep(200_000)
        tap?.send(CaptureReopenTests.frame("late"))
        #expect(waitFor { lock.lock(); defer { lock.unlock() }; return got == ["late"] }, "\(captured.lines)")
        src.stop()
        #expect(src.linkType == 1)
    }

    @Test(.enabled(if: canMakeTap, "needs root and /dev/net/tun to make a tap interface"))
    func kernelDropsAreCountedAndLogged() throws {
        let name = "dpdrop\(getpid() % 10000)"
        let tap = TapDevice(name: name)
        try #require(tap != nil, "the tap interface could not be made")
        let lock = NSLock()
        nonisolated(unsafe) var got = 0
        let captured = CapturedLog()
        let stall = DispatchSemaphore(value: 0)
        let spec = CaptureSpec(interface: name, bpf: "udp dst port 5005", dstPort: 5005)
        let src = try CaptureSource(interface: name, bindings: [(0, spec)], onFrame: { _, _, _ in
            lock.lock(); got += 1; let first = got == 1; lock.unlock()
            if first { stall.wait() }
        }, logger: captured.logger, bufferBytes: 64 << 10)
        src.start()
        usleep(200_000)
        let frame = CaptureReopenTests.frame(String(repeating: "x", count: 1000))
        tap?.send(frame)
        #expect(waitFor { lock.lock(); defer { lock.unlock() }; return got == 1 })
        for _ in 0..<20_000 { tap?.send(frame) }  // 20 MB into a 64 KiB buffer
        stall.signal()
        // the counters are read between dispatches, at most once a second: keep a trickle going
        var sent = 20_001
        #expect(waitFor {
            tap?.send(frame); sent += 1
            usleep(80_000)
            return src.kernelDropped > 0
        })
        #expect(waitFor { return captured.lines.contains { $0.contains("the kernel dropped") } }, "\(captured.lines)")
        // a last frame after a quiet second, so that the counters are read after every send
        usleep(1_100_000)
        let before = src.kernelDropped
        lock.lock(); let deliveredBefore = got; lock.unlock()
        tap?.send(frame); sent += 1
        #expect(waitFor { lock.lock(); defer { lock.unlock() }; return got == deliveredBefore + 1 })
        usleep(50_000)
        src.stop()
        lock.lock(); let delivered = got; lock.unlock()
        #expect(src.kernelDropped == before)
        // everything sent was either delivered or counted as dropped by the kernel
        #expect(UInt64(delivered) + src.kernelDropped == UInt64(sent), "delivered \(delivered) of \(sent), \(src.summary)")
        #expect(src.summary.contains("kernel_dropped=\(src.kernelDropped)"))
    }

    private func waitFor(_ cond: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(5)
        while Date() < end { if cond() { return true }; usleep(20_000) }
        return cond()
    }
}

@Suite struct ModbusTCPTests {
    static func tcp(_ payload: [UInt8], src: Int, dst: Int) -> [UInt8] {
        Build.be16(src) + Build.be16(dst) + [0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0x20, 0, 0, 0, 0, 0] + payload
    }
    static func request(tid: Int, unit: UInt8, fc: UInt8, address: Int, count: Int) -> [UInt8] {
        Build.be16(tid) + [0, 0, 0, 6, unit, fc] + Build.be16(address) + Build.be16(count)
    }
    static func response(tid: Int, unit: UInt8, fc: UInt8, registers: [Int]) -> [UInt8] {
        let data = registers.flatMap { Build.be16($0) }
        return Build.be16(tid) + [0, 0] + Build.be16(3 + data.count) + [unit, fc, UInt8(data.count)] + data
    }

    /// Several ADUs in one TCP segment (pipelined requests, responses back to back): every
    /// response is decoded; a bad ADU after good ones keeps the good rows and counts one error.
    @Test func severalADUsInOneSegment() throws {
        let b = BindingSpec(name: "plc", transport: .capture(CaptureSpec(file: "-", bpf: "tcp port 502")),
                            decoder: .modbusTCP(unit: 1, function: 3, address: 100),
                            channels: [ChannelSpec(name: "v", locator: .binary(BinaryField(offset: 0, kind: .u16)))],
                            window: WindowSpec(lengthMs: 60_000, latenessMs: 0))
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        var t: Int64 = 1_764_000_000_000_000_000
        func segment(_ adus: [[UInt8]]) {
            Array(adus.joined()).withUnsafeBytes { p.ingest(binding: 0, payload: $0, arrivalNs: t) }
            p.flush()  // counters are updated when the batch is processed
            t += 1_000_000
        }
        func req(_ tid: Int) -> [UInt8] { Self.request(tid: tid, unit: 1, fc: 3, address: 100, count: 1) }
        func resp(_ tid: Int, _ v: Int) -> [UInt8] { Self.response(tid: tid, unit: 1, fc: 3, registers: [v]) }
        segment([req(1), req(2), req(3)])  // pipelined: all three remembered
        segment([resp(1, 10), resp(2, 20), resp(3, 30)])  // three rows
        #expect(p.counters.samples == 3 && p.counters.decodeErrors == 0 && p.counters.ignoredFrames == 1)
        // an exception between two responses: both rows, one error
        segment([req(4), req(5), req(6)])
        segment([resp(4, 40), Build.be16(5) + [0, 0, 0, 3, 1, 0x83, 2], resp(6, 60)])
        #expect(p.counters.samples == 5 && p.counters.decodeErrors == 1)
        // a response, then the start of an ADU whose rest is in the next segment (not reassembled)
        segment([req(7), req(8)])
        let next = resp(8, 80)
        segment([resp(7, 70), Array(next.prefix(5))])
        segment([Array(next.dropFirst(5))])
        #expect(p.counters.samples == 6 && p.counters.decodeErrors == 3)
        // more responses than one segment may carry: the first 16 rows, and one error
        segment((10..<27).map(req))
        segment((10..<27).map { resp($0, $0) })
        #expect(p.counters.samples == 22 && p.counters.decodeErrors == 4)
        p.finish()
        let rec = try JSONSerialization.jsonObject(with: Data(sink.lines[0].utf8)) as! [String: Any]
        let v = (rec["channels"] as! [String: [String: Any]])["v"]!
        #expect(v["n"] as! Int == 22 && v["min"] as! Double == 10 && v["max"] as! Double == 70)  // 80 was split
    }

    /// Requests and responses captured between a SCADA client and a PLC: responses to the
    /// binding's read decode through its binary layout; other traffic is ignored and counted.
    @Test func responsesDecodeThroughTheBindingLayout() throws {
        let path = scratch("modbus.pcap")
        let w = try PcapWriter(path: path, linkType: 1)
        var t: Int64 = 1_764_000_000_000_000_000
        func send(_ p: [UInt8], toServer: Bool) {
            w.write(Build.ethernet(Build.ipv4(Self.tcp(p, src: toServer ? 40001 : 502, dst: toServer ? 502 : 40001), proto: 6)), tsNs: t)
            t += 1_000_000
        }
        for i in 0..<10 {
            send(Self.request(tid: i, unit: 1, fc: 3, address: 100, count: 3), toServer: true)
            send(Self.response(tid: i, unit: 1, fc: 3, registers: [200 + i, 0x0001, 0x86A0]), toServer: false)  // 20.0+, 100000
        }
        send(Self.request(tid: 99, unit: 1, fc: 3, address: 500, count: 1), toServer: true)  // another read
        send(Self.response(tid: 99, unit: 1, fc: 3, registers: [7]), toServer: false)
        send(Self.response(tid: 77, unit: 1, fc: 3, registers: [7, 7, 7]), toServer: false)  // no request seen
        for _ in 0..<3 { send([], toServer: true) }  // pure ACKs: no payload, nothing to decode
        w.close()
        let spec = CaptureSpec(file: path, bpf: "tcp port 502")
        let b = BindingSpec(name: "plc", transport: .capture(spec), decoder: .modbusTCP(unit: 1, function: 3, address: 100), channels: [
            ChannelSpec(name: "temp", unit: "degC", locator: .binary(BinaryField(offset: 0, kind: .i16)), scale: 0.1),
            ChannelSpec(name: "energy", unit: "Wh", locator: .binary(BinaryField(offset: 2, kind: .u32))),
        ], window: WindowSpec(lengthMs: 60_000, latenessMs: 0))
        let sink = MemorySink()
        let p = try Pipeline(agentId: "gw", bindings: [b], sink: sink, seq: CountingSeq())
        let summary = try ReplayReader().replayCapture(path: path, bindings: [(0, spec)], into: p)
        p.finish()
        #expect(p.counters.ignoredFrames == 13)  // 11 requests, 2 responses to other reads
        #expect(p.counters.decodeErrors == 0)
        #expect(summary.contains("empty=3"), "\(summary)")
        let rec = try JSONSerialization.jsonObject(with: Data(sink.lines[0].utf8)) as! [String: Any]
        let ch = rec["channels"] as! [String: [String: Any]]
        #expect(ch["temp"]!["n"] as! Int == 10 && ch["temp"]!["min"] as! Double == 20 && ch["temp"]!["max"] as! Double == 20.9)
        #expect(ch["energy"]!["mean"] as! Double == 100_000)
    }
}
