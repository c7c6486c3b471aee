#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import DewpointCapture
import DewpointCore
import DewpointDecode
import DewpointPipeline

/// Writes a pcap of small UDP sensor datagrams and times replaying it through a capture binding.
struct BenchCapture: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-capture",
        abstract: "Replay throughput of a pcap of small UDP sensor datagrams (packets/s, MB/s).",
        discussion: "With --write it first writes the file (Ethernet, IPv4, UDP to port 5005, a 60-byte JSON payload).")

    @Option(help: ArgumentHelp("The pcap file.", valueName: "file")) var file: String
    @Option(help: "Packets to write with --write.") var packets = 8_000_000
    @Flag(help: "Write the file first.") var write = false

    func run() throws {
        if write {
            let w = try PcapWriter(path: file, linkType: 1)
            var frame: [UInt8] = []
            for i in 0..<packets {
                let payload = Array(#"{"seq":\#(i),"temp":\#(20 + i % 100),"rh":\#(40 + i % 7)}"#.utf8)
                frame.removeAll(keepingCapacity: true)
                frame += [UInt8](repeating: 0xAA, count: 6) + [UInt8](repeating: 0xBB, count: 6) + [0x08, 0x00]
                let total = 20 + 8 + payload.count
                frame += [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 17, 10, 0, 0, 1]
                let ulen = 8 + payload.count
                frame += [0x9C, 0x40, 0x13, 0x8D, UInt8(ulen >> 8), UInt8(ulen & 0xFF), 0, 0] + payload
                w.write(frame, tsNs: 1_764_000_000_000_000_000 + Int64(i) * 1_000_000)
            }
            w.close()
        }
        let spec = CaptureSpec(file: file, bpf: "udp dst port 5005", srcHost: "10.0.0.17", dstPort: 5005)
        let binding = BindingSpec(name: "s", transport: .capture(spec), decoder: .json,
                                  channels: [ChannelSpec(name: "temp", locator: .jsonPointer("/temp")), ChannelSpec(name: "rh", locator: .jsonPointer("/rh"))])
        final class CountingSink: RecordSink {
            var n = 0
            func write(kind: RecordKind, device: String, seq: UInt64, json: UnsafeRawBufferPointer) { n += 1 }
            func flush() {}
        }
        let sink = CountingSink()
        let p = try Pipeline(agentId: "bench", bindings: [binding], sink: sink, seq: CountingSeq())
        let t0 = Clock.monotonicNs()
        let summary = try ReplayReader().replayCapture(path: file, bindings: [(0, spec)], into: p)
        p.finish()
        let secs = Double(Clock.monotonicNs() - t0) / 1e9
        var st = stat()
        stat(file, &st)
        let n = p.counters.frames
        print("\(summary)")
        print("replayed \(n) packets, \(st.st_size / 1_000_000) MB in \(fmt2(secs)) s: \(Int(Double(n) / secs)) packets/s, \(Int(Double(st.st_size) / secs / 1e6)) MB/s; \(p.counters.samples) samples, \(sink.n) summaries")
    }
}
