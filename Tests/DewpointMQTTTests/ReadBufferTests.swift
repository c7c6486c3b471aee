import DewpointTestSupport
import CMosquittoShim
import DewpointCore
import DewpointMQTT
import Foundation
import Testing

/// The read buffer under libmosquitto (`CMosquittoShim`). The buffer is per thread, and these
/// tests are synchronous, so each runs on one thread from attach to release.
@Suite struct ReadBufferTests {
    /// A connected, non-blocking stream socket pair: (reader, writer).
    private func pair() -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        return (fds[0], fds[1])
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) {
        #expect(bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count)
    }

    private func read(_ fd: Int32, _ count: Int) -> (Int, [UInt8]) {
        var buf = [UInt8](repeating: 0, count: count)
        let n = buf.withUnsafeMutableBytes { dp_buffered_read(fd, $0.baseAddress, count) }
        return (n, Array(buf.prefix(max(0, n))))
    }

    @Test func smallReadsAreServedFromOneReadOfTheSocket() {
        let (r, w) = pair()
        defer { close(r); close(w); dp_read_buffer_release() }
        #expect(dp_read_buffer_attach(r) == 0)
        send(w, Array("0123456789".utf8))
        #expect(read(r, 1) == (1, Array("0".utf8)))
        #expect(dp_read_buffer_pending() == 9)  // the first call read all ten bytes
        send(w, Array("abc".utf8))  // behind the buffered bytes, in the socket
        #expect(read(r, 3) == (3, Array("123".utf8)))
        // a request larger than what is buffered gets what is buffered, like a short read(2)
        #expect(read(r, 20) == (6, Array("456789".utf8)))
        #expect(dp_read_buffer_pending() == 0)
        #expect(read(r, 20) == (3, Array("abc".utf8)))
        // drained: read(2)'s EAGAIN comes through, with errno
        let (n, _) = read(r, 4)
        let e = errno
        #expect(n == -1 && (e == EAGAIN || e == EWOULDBLOCK))
        close(w)
        #expect(read(r, 4).0 == 0)  // end of stream comes through as 0
    }

    @Test func otherDescriptorsAndOtherThreadsPassThrough() {
        let (r, w) = pair()
        let (r2, w2) = pair()
        defer { close(r); close(w); close(r2); close(w2); dp_read_buffer_release() }
        #expect(dp_read_buffer_attach(r) == 0)
        send(w2, Array("xyz".utf8))
        #expect(read(r2, 1) == (1, Array("x".utf8)))
        #expect(dp_read_buffer_pending() == 0)  // nothing of r2 was buffered
        #expect(read(r2, 2) == (2, Array("yz".utf8)))
        send(w, Array("hello".utf8))
        let other = OSThread(name: "no-buffer") {
            // no buffer on this thread: one byte, straight from the socket
            var b: UInt8 = 0
            _ = dp_buffered_read(r, &b, 1)
            #expect(b == UInt8(ascii: "h") && dp_read_buffer_pending() == 0 && dp_read_buffer_fd() == -1)
        }
        other.start()
        other.join()
        #expect(read(r, 10) == (4, Array("ello".utf8)))
    }

    @Test func attachingAgainDiscardsBytesOfTheOldConnection() {
        let (r, w) = pair()
        defer { close(r); close(w); dp_read_buffer_release() }
        #expect(dp_read_buffer_attach(r) == 0)
        send(w, Array("old bytes".utf8))
        #expect(read(r, 4) == (4, Array("old ".utf8)))
        #expect(dp_read_buffer_attach(-1) == 0)  // connection closed
        #expect(dp_read_buffer_fd() == -1 && dp_read_buffer_pending() == 0)
        #expect(dp_read_buffer_attach(r) == 0)  // a new connection that got the same fd
        send(w, Array("new".utf8))
        #expect(read(r, 8) == (3, Array("new".utf8)))
    }

    @Test func aLargeReadGoesStraightToItsDestination() {
        let (r, w) = pair()
        defer { close(r); close(w); dp_read_buffer_release() }
        var size: Int32 = 1 << 20
        _ = setsockopt(w, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        #expect(dp_read_buffer_attach(r) == 0)
        let body = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        send(w, body)
        var got: [UInt8] = []
        while got.count < body.count {
            let (n, bytes) = read(r, body.count - got.count)
            #expect(dp_read_buffer_pending() == 0)
            if n <= 0 { break }
            got += bytes
        }
        #expect(got == body)
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { dp_coalesced_write(fd, $0.baseAddress, $0.count) }
    }

    private func drain(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return out }
            out += buf.prefix(n)
        }
    }

    @Test func writesBetweenBeginAndEndGoOutTogetherInOrder() {
        let (a, b) = pair()  // the agent's end (attached) and the broker's end
        _ = fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK)
        let (o, p) = pair()
        defer { close(a); close(b); close(o); close(p); dp_read_buffer_release() }
        #expect(dp_read_buffer_attach(a) == 0)
        #expect(write(a, [1]) == 1)  // not coalescing: straight out
        #expect(drain(b) == [1])
        dp_write_coalesce_begin()
        #expect(write(a, [0x40, 2, 0, 1]) == 4)
        #expect(write(a, [0x40, 2, 0, 2]) == 4)
        #expect(write(p, [9]) == 1)  // another fd passes through at once
        #expect(drain(o) == [9])
        #expect(drain(b).isEmpty)  // held back until the end of the pass
        #expect(write(a, [0x40, 2, 0, 3]) == 4)
        #expect(dp_write_coalesce_end() == 0)
        #expect(drain(b) == [0x40, 2, 0, 1, 0x40, 2, 0, 2, 0x40, 2, 0, 3])
        // a packet larger than half the buffer flushes what is held, then goes out itself
        dp_write_coalesce_begin()
        #expect(write(a, [7, 7]) == 2)
        let big = [UInt8](repeating: 5, count: 6000)
        #expect(write(a, big) == big.count)
        #expect(write(a, [8]) == 1)
        #expect(dp_write_coalesce_end() == 0)
        #expect(drain(b) == [7, 7] + big + [8])
    }

    /// The socket is full when the pass ends: the flush waits for the peer to take bytes, then
    /// completes, in order.
    @Test func aFlushWaitsForRoomInTheSocket() {
        let (a, b) = pair()
        defer { close(a); close(b); dp_read_buffer_release() }
        _ = fcntl(a, F_SETFL, fcntl(a, F_GETFL) | O_NONBLOCK)
        #expect(dp_read_buffer_attach(a) == 0)
        var filler: [UInt8] = []
        let chunk = [UInt8](repeating: 0xEE, count: 4096)
        while chunk.withUnsafeBytes({ Glibc.write(a, $0.baseAddress, $0.count) }) > 0 { filler += chunk }
        #expect(errno == EAGAIN || errno == EWOULDBLOCK)
        dp_write_coalesce_begin()
        #expect(write(a, [0x40, 2, 0, 9]) == 4)
        let filled = filler.count
        let reader = OSThread(name: "peer") {
            usleep(100_000)
            var got: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65536)
            while got.count < filled + 4 {
                let n = buf.withUnsafeMutableBytes { Glibc.read(b, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                got += buf.prefix(n)
            }
            #expect(got.count == filled + 4 && Array(got.suffix(4)) == [0x40, 2, 0, 9])
        }
        reader.start()
        #expect(dp_write_coalesce_end() == 0)
        reader.join()
    }

    @Test func aFlushThatFailsShutsTheSocketDown() {
        signal(SIGPIPE, SIG_IGN)  // the agent ignores it too; EPIPE comes back instead
        let (a, b) = pair()
        defer { close(a); dp_read_buffer_release() }
        #expect(dp_read_buffer_attach(a) == 0)
        dp_write_coalesce_begin()
        #expect(write(a, [0x40, 2, 0, 1]) == 4)
        close(b)  // the peer is gone before the flush
        #expect(dp_write_coalesce_end() == -1)
        let e = errno
        #expect(e == EPIPE || e == ECONNRESET)
        var byte: UInt8 = 0
        #expect(Glibc.read(a, &byte, 1) == 0)  // shut down: libmosquitto sees the connection end
    }

    /// Builds a small shared library that calls read(2) and write(2), linked as a hardened
    /// distribution links libraries: full RELRO (the GOT read-only after loading), and once
    /// without a PLT (GLOB_DAT slots). The redirection must find and rewrite its slots too.
    @Test(arguments: [("plt", ""), ("noplt", "-fno-plt")])
    func importsAreRedirectedInAFullRELROLibrary(name: String, flag: String) throws {
        let dir = scratchDir("relro-\(name)")
        let source = dir + "/io.c", library = dir + "/libdptestio\(name).so"
        try """
        #include <unistd.h>
        ssize_t dptest_read(int fd, void *b, size_t n) { return read(fd, b, n); }
        ssize_t dptest_write(int fd, const void *b, size_t n) { return write(fd, b, n); }
        """.write(toFile: source, atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["clang", "-shared", "-fPIC", "-O1"] + (flag.isEmpty ? [] : [flag]) + ["-Wl,-z,relro,-z,now", "-o", library, source]
        try cc.run()
        cc.waitUntilExit()
        try #require(cc.terminationStatus == 0, "clang (from the Swift toolchain) could not build the test library")
        let handle = try #require(dlopen(library, RTLD_NOW))
        typealias IO = @convention(c) (Int32, UnsafeMutableRawPointer?, Int) -> Int
        let readFn = unsafeBitCast(try #require(dlsym(handle, "dptest_read")), to: IO.self)
        #expect(dp_redirect_io_imports("libdptestio\(name).so") == 0)

        let (r, w) = pair()
        defer { close(r); close(w); dp_read_buffer_release() }
        #expect(dp_read_buffer_attach(r) == 0)
        send(w, Array("redirected".utf8))
        var byte: UInt8 = 0
        #expect(readFn(r, &byte, 1) == 1 && byte == UInt8(ascii: "r"))
        #expect(dp_read_buffer_pending() == 9)  // the library's read went through the buffer
        // the RELRO page (the library's only read-only mapping: its code is r-x) is read-only again
        let maps = procFile("/proc/self/maps")
        let lines = maps.split(separator: "\n").filter { $0.hasSuffix("libdptestio\(name).so") }
        #expect(lines.contains { $0.split(separator: " ")[1].hasPrefix("r--") }, "\(lines)")
    }

    @Test func libmosquittoReadsAreRedirected() {
        #if arch(x86_64) || arch(arm64)
        #expect(dp_mosquitto_read_hook_install() == 0)
        #expect(dp_mosquitto_read_hook_install() == 0)  // idempotent (and write was found too: both or neither)
        #endif
    }
}

/// A /proc file, read to its end (its size shows as 0, so Foundation's readers give nothing).
func procFile(_ path: String) -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += buf.prefix(n)
    }
    return String(decoding: out, as: UTF8.self)
}

/// Messages through a real broker with libmosquitto reading through the buffer: every byte
/// arrives, in order, across packets that straddle the buffer's end, bodies of more than 127
/// bytes (two-byte remaining length) and a body larger than the buffer.
@Suite(.serialized) struct BufferedMQTTTests {
    @Test func messagesArriveWholeAndInOrder() throws {
        #expect(dp_mosquitto_read_hook_install() == 0)
        let broker = Broker(extra: "max_queued_messages 0\n")
        broker.start()
        defer { broker.stop() }
        let sizes = (0..<3_000).map { i in i == 1_500 ? 70_000 : [5, 90, 130, 600, 2_000][i % 5] }
        func body(_ i: Int) -> [UInt8] {
            var b = [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: sizes[i])
            withUnsafeBytes(of: UInt32(i).bigEndian) { b.replaceSubrange(0..<min(4, b.count), with: $0.prefix(min(4, b.count))) }
            return b
        }
        let received = NSLock()
        nonisolated(unsafe) var got: [[UInt8]] = []
        func subscriber() throws -> MQTTClient {
            var o = MQTTClient.Options(host: "127.0.0.1", port: broker.port, clientId: "buffered-sub-\(getpid())",
                                       cleanSession: false, batchWaitNs: 2_000_000)
            o.coalesceWrites = true
            o.readBuffer = true
            let sub = try MQTTClient(o, handlers: .init(message: { _, p in received.withLock { got.append(Array(p)) } },
                                                        connected: { sub in try? sub.subscribe("buffered/#", qos: 1) }))
            sub.start()
            #expect(waitUntil(5) { sub.isConnected })
            usleep(200_000)
            return sub
        }
        // the session's subscription is made, then the messages queue in the broker while the
        // subscriber is away, so that they arrive back to back when it returns
        try subscriber().stop()
        let acked = NSLock()
        nonisolated(unsafe) var acks = 0
        let pub = try MQTTClient(.init(host: "127.0.0.1", port: broker.port, clientId: "buffered-pub-\(getpid())"),
                                 handlers: .init(published: { _ in acked.withLock { acks += 1 } }))
        pub.start()
        #expect(waitUntil(5) { pub.isConnected })
        for i in sizes.indices {
            _ = try body(i).withUnsafeBytes { try pub.publish(topic: "buffered/\(i % 7)", payload: $0, qos: 1, retain: false) }
        }
        #expect(waitUntil(20) { acked.withLock { acks } == sizes.count })
        pub.stop()
        let before = MQTTClient.readBufferTotals
        let coalescedBefore = dp_writes_coalesced(), writesBefore = dp_write_syscalls()
        let sub = try subscriber()
        #expect(waitUntil(20) { received.withLock { got.count } >= sizes.count })
        usleep(200_000)
        sub.stop()
        // the PUBACKs went out gathered, and reached the broker: a new connection to the session
        // gets nothing again
        let coalesced = dp_writes_coalesced() - coalescedBefore, writes = dp_write_syscalls() - writesBefore
        // a libmosquitto the read buffer was not tested with (sid's 2.1 in the aarch64 chroot)
        // reads unbuffered: everything must still arrive, and nothing goes through the buffer
        let unbuffered = MQTTClient.readBufferUnavailable
        if unbuffered == nil {
            #expect(coalesced >= UInt64(sizes.count / 2) && writes * 4 < coalesced, "\(writes) write(2) calls for \(coalesced) packets")
        } else {
            #expect(coalesced == 0, "\(coalesced) writes coalesced although \(unbuffered!)")
        }
        let again = try subscriber()
        usleep(500_000)
        again.stop()
        let all = received.withLock { got }
        #expect(all.count == sizes.count)
        for (i, m) in all.enumerated() where i < sizes.count && m != body(i) {
            Issue.record("message \(i): \(m.count) bytes, expected \(sizes[i]) bytes of its own")
            break
        }
        // each message is at least three reads for libmosquitto; far fewer reached the kernel
        let after = MQTTClient.readBufferTotals
        let requests = after.requests - before.requests, syscalls = after.syscalls - before.syscalls
        if unbuffered == nil {
            #expect(requests >= UInt64(3 * sizes.count))
            #expect(syscalls * 4 < requests, "\(syscalls) read(2) calls for \(requests) reads")
        } else {
            #expect(requests == 0)
        }
    }
}
