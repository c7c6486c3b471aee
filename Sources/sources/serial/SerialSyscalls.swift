import CSerialShim
#if canImport(Glibc)
import Glibc
#endif

/// Every system call of the serial adapter: errno is read at once, EINTR is retried.
enum Sys {
    struct Failure: Error {
        var call: String
        var errno: Int32
        var message: String { "\(call): \(String(cString: strerror(errno)))" }
    }

    static func open(_ path: String) throws(Failure) -> Int32 {
        while true {
            let fd = Glibc.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
            if fd >= 0 { return fd }
            let e = errno
            if e != EINTR { throw Failure(call: "open \(path)", errno: e) }
        }
    }

    /// `flock` (advisory, between agents) and `TIOCEXCL` (kernel: no other open of the tty).
    static func lockExclusive(_ fd: Int32) throws(Failure) {
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e != EINTR { throw Failure(call: "flock", errno: e) }
        }
        if ioctl(fd, UInt(TIOCEXCL)) != 0 { throw Failure(call: "ioctl(TIOCEXCL)", errno: errno) }
    }

    static func unlock(_ fd: Int32) {
        _ = ioctl(fd, UInt(TIOCNXCL))
        _ = flock(fd, LOCK_UN)
    }

    static func getAttr(_ fd: Int32) throws(Failure) -> termios {
        var t = termios()
        while tcgetattr(fd, &t) != 0 {
            let e = errno
            if e != EINTR { throw Failure(call: "tcgetattr", errno: e) }
        }
        return t
    }

    static func setAttr(_ fd: Int32, _ t: termios) throws(Failure) {
        var t = t
        while tcsetattr(fd, TCSANOW, &t) != 0 {
            let e = errno
            if e != EINTR { throw Failure(call: "tcsetattr", errno: e) }
        }
    }

    static func setCustomBaud(_ fd: Int32, _ baud: Int) throws(Failure) {
        if dp_set_custom_baud(fd, UInt32(baud)) != 0 { throw Failure(call: "termios2 BOTHER \(baud)", errno: errno) }
    }

    static func baud(_ fd: Int32) throws(Failure) -> Int {
        var i: UInt32 = 0, o: UInt32 = 0
        if dp_get_baud(fd, &i, &o) != 0 { throw Failure(call: "TCGETS2", errno: errno) }
        return Int(o)
    }

    enum ReadResult { case data(Int), wouldBlock, hangup(Int32) }

    /// `read()==0`, `EIO` and other errors mean the device went away.
    static func read(_ fd: Int32, _ buf: UnsafeMutableRawBufferPointer) -> ReadResult {
        while true {
            let n = Glibc.read(fd, buf.baseAddress, buf.count)
            if n > 0 { return .data(n) }
            if n == 0 { return .hangup(0) }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            return .hangup(e)
        }
    }

    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Failure) {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n >= 0 { off += n; continue }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = Glibc.poll(&p, 1, 100)
                continue
            }
            throw Failure(call: "write", errno: e)
        }
    }

    enum PollResult { case readable, hangup, timeout }

    static func poll(_ fd: Int32, timeoutMs: Int32) -> PollResult {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let rc = Glibc.poll(&p, 1, timeoutMs)
            if rc > 0 {
                // data first: a device may send its last bytes and hang up in the same wakeup
                if p.revents & Int16(POLLIN) != 0 { return .readable }
                return .hangup
            }
            if rc == 0 { return .timeout }
            if errno != EINTR { return .hangup }
        }
    }

    static func close(_ fd: Int32) { _ = Glibc.close(fd) }
}
