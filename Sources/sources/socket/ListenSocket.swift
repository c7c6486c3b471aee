import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

public struct SocketError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ what: String, errno e: Int32) { description = "\(what): \(String(cString: strerror(e)))" }
    public init(_ description: String) { self.description = description }
}

/// A bound listening socket, owned: closed once, when the last reference goes.
public final class BoundSocket: Sendable {
    public let fd: Int32
    /// The bound port (the configured one, or the one the kernel chose for port 0).
    public let port: Int

    public init(_ spec: ListenSpec, type: Int32) throws(SocketError) {
        fd = try ListenSocket.bind(spec, type: type)
        port = ListenSocket.port(fd)
    }

    deinit { close(fd) }
}

/// The socket calls of the listeners: resolve the configured address, bind, listen, and read
/// the bound port back (port 0 picks a free one).
enum ListenSocket {
    /// A bound, non-blocking, close-on-exec socket of `type` (SOCK_DGRAM or SOCK_STREAM).
    static func bind(_ spec: ListenSpec, type: Int32) throws(SocketError) -> Int32 {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = type
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(spec.host, String(spec.port), &hints, &res)
        guard rc == 0, let first = res else {
            throw SocketError("\(spec.host):\(spec.port): cannot resolve: \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(res) }
        let ai = first.pointee
        let fd = socket(ai.ai_family, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("\(spec.host):\(spec.port): socket", errno: errno) }
        var one: Int32 = 1
        if type == Int32(SOCK_STREAM.rawValue) {
            // a restarted agent can bind again while old connections are in TIME_WAIT
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        if let size = spec.receiveBufferBytes {
            var v = Int32(clamping: size)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, socklen_t(MemoryLayout<Int32>.size))
        }
        guard Glibc.bind(fd, ai.ai_addr, ai.ai_addrlen) == 0 else {
            let e = errno
            close(fd)
            throw SocketError("\(spec.host):\(spec.port): bind", errno: e)
        }
        if type == Int32(SOCK_STREAM.rawValue) {
            guard listen(fd, 64) == 0 else {
                let e = errno
                close(fd)
                throw SocketError("\(spec.host):\(spec.port): listen", errno: e)
            }
        }
        return fd
    }

    /// The port `fd` is bound to.
    static func port(_ fd: Int32) -> Int {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return peer(ss).port
    }

    /// Address and port of a peer, for logs.
    static func peer(_ ss: sockaddr_storage) -> (text: String, port: Int) {
        var s = ss
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var serv = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let len = socklen_t(ss.ss_family == sa_family_t(AF_INET6) ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafePointer(to: &s) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, len, &host, socklen_t(host.count), &serv, socklen_t(serv.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard rc == 0 else { return ("?", 0) }
        let h = cText(host), p = Int(cText(serv)) ?? 0
        return (h.contains(":") ? "[\(h)]:\(p)" : "\(h):\(p)", p)
    }
}

/// A NUL-terminated C buffer as text.
private func cText(_ b: [CChar]) -> String {
    String(decoding: b.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
