import CPcap
import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

public struct CaptureError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// The thin wrapper around libpcap: every libpcap call of the capture adapter is in this file.
///
/// Not `Sendable`: a handle is used by the one thread that owns it (the capture thread, or the
/// replay's caller).
public final class PcapHandle {
    let handle: OpaquePointer
    public let linkType: Int32

    private init(_ h: OpaquePointer) {
        handle = h
        linkType = pcap_datalink(h)
    }

    deinit { pcap_close(handle) }

    /// A pcap or pcapng file, with nanosecond timestamps.
    public static func openOffline(_ path: String) throws(CaptureError) -> PcapHandle {
        var err = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let h = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &err) else {
            throw CaptureError(description: "\(path): \(errorText(err))")
        }
        return PcapHandle(h)
    }

    /// Live capture: create, snap length, buffer, immediate mode, activate. Errors (negative) throw
    /// with the fix to apply; warnings (positive) are returned.
    public static func openLive(interface: String, snaplen: Int32 = 65535, bufferBytes: Int32 = 4 << 20,
                                warning: (String) -> Void) throws(CaptureError) -> PcapHandle {
        var err = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let h = pcap_create(interface, &err) else { throw CaptureError(description: "\(interface): \(errorText(err))") }
        pcap_set_snaplen(h, snaplen)
        pcap_set_buffer_size(h, bufferBytes)
        pcap_set_immediate_mode(h, 1)
        pcap_set_timeout(h, 100)
        pcap_set_tstamp_precision(h, PCAP_TSTAMP_PRECISION_NANO)
        let rc = pcap_activate(h)
        if rc < 0 {
            let detail = String(cString: pcap_geterr(h))
            pcap_close(h)
            if rc == PCAP_ERROR_PERM_DENIED || rc == PCAP_ERROR_PROMISC_PERM_DENIED {
                throw CaptureError(description: "\(interface): no permission to capture (\(detail)). Give the agent CAP_NET_RAW: `setcap cap_net_raw+ep /usr/local/bin/dewpoint`, or AmbientCapabilities=CAP_NET_RAW in its systemd unit")
            }
            if rc == PCAP_ERROR_NO_SUCH_DEVICE { throw CaptureError(description: "\(interface): no such interface (\(detail))") }
            throw CaptureError(description: "\(interface): cannot start capture: \(detail)")
        }
        if rc > 0 { warning("\(interface): \(String(cString: pcap_statustostr(rc))): \(String(cString: pcap_geterr(h)))") }
        return PcapHandle(h)
    }

    /// Applies a BPF filter to this handle (kernel side for live capture).
    public func setFilter(_ expression: String) throws(CaptureError) {
        var prog = bpf_program()
        guard pcap_compile(handle, &prog, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw CaptureError(description: "BPF '\(expression)': \(String(cString: pcap_geterr(handle)))")
        }
        defer { pcap_freecode(&prog) }
        guard pcap_setfilter(handle, &prog) == 0 else { throw CaptureError(description: "BPF '\(expression)': \(String(cString: pcap_geterr(handle)))") }
    }

    /// Handles up to `count` packets (-1: a buffer's worth); `body` gets the captured bytes, the
    /// wire length and the time in ns. Returns the number handled, 0 on timeout, -2 after
    /// `breakLoop`, -1 on error, and on end of file for offline handles `pcap_dispatch` returns 0.
    public func dispatch(count: Int32 = -1, _ body: (UnsafeRawBufferPointer, Int, Int64) -> Void) -> Int32 {
        withoutActuallyEscaping(body) { b in
            var box = b
            return withUnsafeMutablePointer(to: &box) { ptr in
                pcap_dispatch(handle, count, { user, header, data in
                    guard let user, let header, let data else { return }
                    let h = header.pointee
                    // the timestamp precision is nanoseconds (set at open), so tv_usec holds ns
                    let ns = Int64(h.ts.tv_sec) * 1_000_000_000 + Int64(h.ts.tv_usec)
                    let f = user.withMemoryRebound(to: ((UnsafeRawBufferPointer, Int, Int64) -> Void).self, capacity: 1) { $0.pointee }
                    f(UnsafeRawBufferPointer(start: data, count: Int(h.caplen)), Int(h.len), ns)
                }, UnsafeMutableRawPointer(ptr).assumingMemoryBound(to: UInt8.self))
            }
        }
    }

    public var lastError: String { String(cString: pcap_geterr(handle)) }

    /// What another thread may use to make a running `dispatch` return.
    public var breaker: PcapBreaker { PcapBreaker(self) }

    /// What the kernel counted since this handle was opened: packets that passed the filter,
    /// packets dropped because the capture buffer was full, and packets the interface dropped
    /// (`pcap_stats`; nil if it failed). Call it on the capture thread only: on Linux libpcap
    /// accumulates the kernel's counters into the handle.
    public func stats() -> (received: UInt64, dropped: UInt64, interfaceDropped: UInt64)? {
        var st = pcap_stat()
        guard pcap_stats(handle, &st) == 0 else { return nil }
        return (UInt64(st.ps_recv), UInt64(st.ps_drop), UInt64(st.ps_ifdrop))
    }

}

/// Makes a running `dispatch` of one handle return, from any thread (`stop`).
public final class PcapBreaker: @unchecked Sendable {
    // @unchecked: it only calls `pcap_breakloop`, which libpcap documents as callable from a thread
    // other than the one in the loop (it sets a flag and, since 1.10, writes to an eventfd the
    // loop polls). It holds the handle, so the `pcap_t` outlives every call.
    private let owner: PcapHandle
    fileprivate init(_ h: PcapHandle) { owner = h }
    public func breakLoop() { pcap_breakloop(owner.handle) }
}

/// A compiled BPF program applied to packets in user space (several bindings on one handle).
public final class PacketFilter {
    private var prog = bpf_program()

    public init(_ expression: String, linkType: Int32, snaplen: Int32 = 65535) throws(CaptureError) {
        guard let dead = pcap_open_dead(linkType, snaplen) else { throw CaptureError(description: "pcap_open_dead failed") }
        defer { pcap_close(dead) }
        guard pcap_compile(dead, &prog, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw CaptureError(description: "BPF '\(expression)': \(String(cString: pcap_geterr(dead)))")
        }
    }

    deinit { pcap_freecode(&prog) }

    public func matches(_ packet: UnsafeRawBufferPointer, wireLength: Int) -> Bool {
        var h = pcap_pkthdr()
        h.caplen = UInt32(packet.count)
        h.len = UInt32(wireLength)
        return pcap_offline_filter(&prog, &h, packet.baseAddress?.assumingMemoryBound(to: UInt8.self)) != 0
    }
}

/// Writes pcap files (tests, simulators): `pcap_open_dead` + `pcap_dump`.
public final class PcapWriter {
    private let dead: OpaquePointer
    private let dumper: OpaquePointer

    public init(path: String, linkType: Int32, snaplen: Int32 = 65535) throws(CaptureError) {
        guard let d = pcap_open_dead_with_tstamp_precision(linkType, snaplen, UInt32(PCAP_TSTAMP_PRECISION_NANO)) else {
            throw CaptureError(description: "pcap_open_dead failed")
        }
        guard let du = pcap_dump_open(d, path) else {
            let e = String(cString: pcap_geterr(d))
            pcap_close(d)
            throw CaptureError(description: "\(path): \(e)")
        }
        dead = d
        dumper = du
    }

    /// Writes one packet; `wireLength` larger than the bytes models a snap-length cut.
    public func write(_ bytes: [UInt8], tsNs: Int64, wireLength: Int? = nil) {
        var h = pcap_pkthdr()
        h.ts.tv_sec = Int(tsNs / 1_000_000_000)
        h.ts.tv_usec = Int(tsNs % 1_000_000_000)
        h.caplen = UInt32(bytes.count)
        h.len = UInt32(wireLength ?? bytes.count)
        bytes.withUnsafeBufferPointer { b in
            pcap_dump(UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self), &h, b.baseAddress)
        }
    }

    public func close() {
        pcap_dump_close(dumper)
        pcap_close(dead)
    }
}

func errorText(_ buf: [CChar]) -> String {
    String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
