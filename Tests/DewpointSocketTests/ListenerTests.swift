import DewpointCore
import DewpointSocket
import DewpointTestSupport
import Foundation
import Synchronization
import Testing

/// Frames a listener delivered, in order.
final class Frames: Sendable {
    private let store = Mutex<[String]>([])
    func add(_ f: UnsafeRawBufferPointer) { let s = String(decoding: f, as: UTF8.self); store.withLock { $0.append(s) } }
    var all: [String] { store.withLock { $0 } }
}

func clientSocket(_ type: Int32, port: Int, v6: Bool = false) -> Int32 { loopbackSocket(type, port: port, v6: v6) }

func send(_ fd: Int32, _ s: String) {
    _ = s.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
}

/// Whether the peer closed `fd` (a read returns 0 or an error) within `seconds`.
func closedByPeer(_ fd: Int32, within seconds: Double) -> Bool {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&p, 1, Int32(seconds * 1000)) > 0 else { return false }
    var b = [UInt8](repeating: 0, count: 16)
    return recv(fd, &b, 16, Int32(MSG_DONTWAIT)) <= 0
}

@Suite struct UDPListenerTests {
    @Test func everyDatagramIsOneFrame() throws {
        let got = Frames()
        let l = try UDPListener(spec: ListenSpec(host: "127.0.0.1", port: 0)) { f, _ in got.add(f) }
        #expect(l.port > 0)
        l.start()
        let fd = clientSocket(Int32(SOCK_DGRAM.rawValue), port: l.port)
        defer { close(fd) }
        let sent = (0..<100).map { #"{"seq":\#($0),"v":\#(Double($0) / 4)}"# }
        for m in sent { send(fd, m); usleep(200) }
        // a datagram with a newline inside stays one frame
        send(fd, "a\nb")
        #expect(waitUntil(5) { got.all.count == 101 })
        l.stop()
        #expect(got.all == sent + ["a\nb"])
        #expect(l.counters["datagrams"] == 101 && l.counters["truncated"] == 0)
    }

    @Test func ipv6Loopback() throws {
        let got = Frames()
        let l = try UDPListener(spec: ListenSpec(host: "::1", port: 0)) { f, _ in got.add(f) }
        l.start()
        let fd = clientSocket(Int32(SOCK_DGRAM.rawValue), port: l.port, v6: true)
        defer { close(fd) }
        send(fd, "hello")
        #expect(waitUntil(5) { got.all == ["hello"] })
        l.stop()
    }

    @Test func aPortInUseIsAClearError() throws {
        let a = try UDPListener(spec: ListenSpec(host: "127.0.0.1", port: 0)) { _, _ in }
        #expect(throws: SocketError.self) { try UDPListener(spec: ListenSpec(host: "127.0.0.1", port: a.port)) { _, _ in } }
        do { _ = try UDPListener(spec: ListenSpec(host: "127.0.0.1", port: a.port)) { _, _ in } } catch {
            #expect(error.description.contains("127.0.0.1:\(a.port): bind: Address already in use"), "\(error)")
        }
        #expect(throws: SocketError.self) { try UDPListener(spec: ListenSpec(host: "no-such-host.invalid", port: 0)) { _, _ in } }
    }
}

@Suite struct TCPListenerTests {
    @Test func eachConnectionIsAStreamThroughTheFramer() throws {
        let got = Frames()
        let l = try TCPListener(spec: ListenSpec(host: "127.0.0.1", port: 0), framing: .line(maxLength: 64)) { f, _ in got.add(f) }
        l.start()
        let a = clientSocket(Int32(SOCK_STREAM.rawValue), port: l.port)
        let b = clientSocket(Int32(SOCK_STREAM.rawValue), port: l.port)
        // a line split across writes, and two lines in one write
        send(a, "temp=2")
        usleep(50_000)
        send(a, "1.5\r\nhum=40\n")
        send(b, "from-b\n")
        #expect(waitUntil(5) { got.all.count == 3 })
        #expect(Set(got.all) == ["temp=21.5", "hum=40", "from-b"])
        #expect(got.all.firstIndex(of: "temp=21.5")! < got.all.firstIndex(of: "hum=40")!)
        // a partial line dies with its connection, counted
        send(a, "half")
        usleep(50_000)
        close(a); close(b)
        #expect(waitUntil(5) { l.counters["closed"] == 2 })
        l.stop()
        let c = l.counters
        #expect(c["accepted"] == 2 && c["frames"] == 3 && c["incomplete"] == 1 && c["garbage_closed"] == 0, "\(c)")
    }

    @Test func connectionsBeyondTheLimitAreRefusedAndCounted() throws {
        let got = Frames()
        let l = try TCPListener(spec: ListenSpec(host: "127.0.0.1", port: 0, maxConnections: 2), framing: .line(maxLength: 64)) { f, _ in got.add(f) }
        l.start()
        let a = clientSocket(Int32(SOCK_STREAM.rawValue), port: l.port)
        let b = clientSocket(Int32(SOCK_STREAM.rawValue), port: l.port)
        #expect(waitUntil(5) { l.open == 2 })
        let c = clientSocket(Int32(SOCK_STREAM.rawValue), port: l.port)
        #expect(closedByPeer(c, within: 5))
        #expect(l.counters["refused"] == 1)
        // the two accepted still work
        send(a, "a\n"); send(b, "b\n")
        #expect(waitUntil(5) { Set(got.all) == ["a", "b"] })
        // once one leaves, a new connection is accepted
        close(a)
        #expect(waitUntil(5) { l.open == 1 })
        let d = clientSocket(Int32(SOCK_STREAM.rawValue), port: l.port)
        send(d, "d\n")
        #expect(waitUntil(5) { got.all.contains("d") })
        l.stop()
        for fd in [b, c, d] { close(fd) }
    }

    @Test func aConnectionSendingGarbageIsClosedNotTheListener() throws {
        let got = Frames()
        let log = CapturedLog()
        let l = try TCPListener(spec: ListenSpec(host: "127.0.0.1", port: 0), framing: .line(maxLength: 32), logger: log.logger) { f, _ in got.add(f) }
        l.start()
        let good = clientSocket(Int32(SOCK_STREAM.rawValue), port: l.port)
        let bad = clientSocket(Int32(SOCK_STREAM.rawValue), port: l.port)
        send(good, "ok-1\n")
        #expect(waitUntil(5) { got.all == ["ok-1"] })
        send(bad, String(repeating: "x", count: 5000))
        #expect(closedByPeer(bad, within: 5))
        #expect(l.counters["garbage_closed"] == 1)
        #expect(log.lines.contains { $0.contains("closed 127.0.0.1:") && $0.contains("over the 32 byte limit") }, "\(log.lines)")
        send(good, "ok-2\n")
        #expect(waitUntil(5) { got.all == ["ok-1", "ok-2"] })
        // checksum failures close too: a frame that fails its check
        let l2 = try TCPListener(spec: ListenSpec(host: "127.0.0.1", port: 0), framing: .line(maxLength: 80, start: UInt8(ascii: "$"), checksum: .nmea)) { f, _ in got.add(f) }
        l2.start()
        let nmea = clientSocket(Int32(SOCK_STREAM.rawValue), port: l2.port)
        send(nmea, "$GPGGA,1*00\n")
        #expect(closedByPeer(nmea, within: 5))
        #expect(l2.counters["garbage_closed"] == 1)
        l.stop(); l2.stop()
        for fd in [good, bad, nmea] { close(fd) }
    }

    @Test func anIdleConnectionIsClosed() throws {
        let l = try TCPListener(spec: ListenSpec(host: "127.0.0.1", port: 0, idleTimeoutMs: 200), framing: .line(maxLength: 64)) { _, _ in }
        l.start()
        let a = clientSocket(Int32(SOCK_STREAM.rawValue), port: l.port)
        #expect(closedByPeer(a, within: 5))
        #expect(l.counters["idle_closed"] == 1)
        l.stop()
        close(a)
    }

    @Test func stopClosesOpenConnections() throws {
        let l = try TCPListener(spec: ListenSpec(host: "::1", port: 0), framing: .line(maxLength: 64)) { _, _ in }
        l.start()
        let a = clientSocket(Int32(SOCK_STREAM.rawValue), port: l.port, v6: true)
        #expect(waitUntil(5) { l.open == 1 })
        let t0 = Date()
        l.stop()
        #expect(Date().timeIntervalSince(t0) < 1)
        #expect(closedByPeer(a, within: 2))
        close(a)
    }
}
