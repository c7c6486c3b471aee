import CSerialShim
import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

public struct SerialError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// One open serial device: locked for this process, raw mode, the binding's settings verified by
/// reading them back, and the original settings restored on close.
public final class SerialPort {
    public let path: String
    public let fd: Int32
    private let original: termios
    private var closed = false

    static let standardRates: [Int: speed_t] = [
        50: speed_t(B50), 75: speed_t(B75), 110: speed_t(B110), 134: speed_t(B134), 150: speed_t(B150), 200: speed_t(B200),
        300: speed_t(B300), 600: speed_t(B600), 1200: speed_t(B1200), 1800: speed_t(B1800), 2400: speed_t(B2400),
        4800: speed_t(B4800), 9600: speed_t(B9600), 19200: speed_t(B19200), 38400: speed_t(B38400), 57600: speed_t(B57600),
        115_200: speed_t(B115200), 230_400: speed_t(B230400), 460_800: speed_t(B460800), 500_000: speed_t(B500000),
        576_000: speed_t(B576000), 921_600: speed_t(B921600), 1_000_000: speed_t(B1000000), 1_152_000: speed_t(B1152000),
        1_500_000: speed_t(B1500000), 2_000_000: speed_t(B2000000), 2_500_000: speed_t(B2500000), 3_000_000: speed_t(B3000000),
        3_500_000: speed_t(B3500000), 4_000_000: speed_t(B4000000),
    ]

    public init(_ spec: SerialSpec) throws(SerialError) {
        path = spec.port
        let fd: Int32
        do { fd = try Sys.open(spec.port) } catch { throw SerialError(description: error.message) }
        do {
            try Sys.lockExclusive(fd)
        } catch {
            Sys.close(fd)
            let busy = error.errno == EWOULDBLOCK || error.errno == EBUSY
            throw SerialError(description: busy ? "\(spec.port) is in use by another process (\(error.message))" : error.message)
        }
        self.fd = fd
        do throws(Sys.Failure) {
            original = try Sys.getAttr(fd)
            try SerialPort.configure(fd, spec, from: original)
            let got = try SerialPort.readBack(fd)
            guard got.matches(spec) else {
                throw Sys.Failure(call: "verify settings: asked for \(SerialSettings(spec)), the device reports \(got)", errno: 0)
            }
        } catch {
            Sys.unlock(fd)
            Sys.close(fd)
            throw SerialError(description: "\(spec.port): \(error.errno == 0 ? error.call : error.message)")
        }
    }

    static func configure(_ fd: Int32, _ s: SerialSpec, from original: termios) throws(Sys.Failure) {
        var t = original
        cfmakeraw(&t)
        t.c_cflag &= ~(tcflag_t(CSIZE) | tcflag_t(PARENB) | tcflag_t(PARODD) | tcflag_t(CSTOPB) | tcflag_t(CRTSCTS))
        t.c_cflag |= (tcflag_t(CLOCAL) | tcflag_t(CREAD))
        switch s.dataBits {
        case 5: t.c_cflag |= tcflag_t(CS5)
        case 6: t.c_cflag |= tcflag_t(CS6)
        case 7: t.c_cflag |= tcflag_t(CS7)
        default: t.c_cflag |= tcflag_t(CS8)
        }
        switch s.parity {
        case .none: break
        case .even: t.c_cflag |= tcflag_t(PARENB); t.c_iflag |= tcflag_t(INPCK)
        case .odd: t.c_cflag |= (tcflag_t(PARENB) | tcflag_t(PARODD)); t.c_iflag |= tcflag_t(INPCK)
        }
        if s.stopBits == 2 { t.c_cflag |= tcflag_t(CSTOPB) }
        t.c_iflag &= ~(tcflag_t(IXON) | tcflag_t(IXOFF) | tcflag_t(IXANY))
        switch s.flow {
        case .none: break
        case .rtscts: t.c_cflag |= tcflag_t(CRTSCTS)
        case .xonxoff: t.c_iflag |= tcflag_t(IXON | IXOFF)
        }
        // VMIN=1, VTIME=0 with O_NONBLOCK: poll() says when bytes are there, EAGAIN means none
        withUnsafeMutableBytes(of: &t.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        if let speed = standardRates[s.baud] {
            // over termios2 state left by an earlier custom rate, the standard call below resets CBAUD
            cfsetispeed(&t, speed)
            cfsetospeed(&t, speed)
            try Sys.setAttr(fd, t)
        } else {
            // termios cannot express the rate: set a standard placeholder (the settings may still
            // carry BOTHER from an earlier custom rate, which tcsetattr rejects), then termios2
            cfsetispeed(&t, speed_t(B38400))
            cfsetospeed(&t, speed_t(B38400))
            try Sys.setAttr(fd, t)
            try Sys.setCustomBaud(fd, s.baud)
        }
    }

    static func readBack(_ fd: Int32) throws(Sys.Failure) -> SerialSettings {
        let t = try Sys.getAttr(fd)
        let size = t.c_cflag & tcflag_t(CSIZE)
        let bits = size == tcflag_t(CS5) ? 5 : size == tcflag_t(CS6) ? 6 : size == tcflag_t(CS7) ? 7 : 8
        let parity: SerialSpec.Parity = t.c_cflag & tcflag_t(PARENB) == 0 ? .none : (t.c_cflag & tcflag_t(PARODD) != 0 ? .odd : .even)
        let flow: SerialSpec.Flow = t.c_cflag & tcflag_t(CRTSCTS) != 0 ? .rtscts : (t.c_iflag & tcflag_t(IXON) != 0 ? .xonxoff : .none)
        return SerialSettings(baud: try Sys.baud(fd), dataBits: bits, parity: parity, stopBits: t.c_cflag & tcflag_t(CSTOPB) != 0 ? 2 : 1, flow: flow)
    }

    /// The settings the device reports now.
    public func settings() throws(SerialError) -> SerialSettings {
        do { return try SerialPort.readBack(fd) } catch { throw SerialError(description: error.message) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(SerialError) {
        do { try Sys.write(fd, bytes) } catch { throw SerialError(description: "\(path): \(error.message)") }
    }

    /// Restores the original settings (best effort: the device may be gone), unlocks, closes.
    public func close() {
        guard !closed else { return }
        closed = true
        try? Sys.setAttr(fd, original)
        Sys.unlock(fd)
        Sys.close(fd)
    }

    deinit { close() }
}

public struct SerialSettings: Sendable, Equatable, CustomStringConvertible {
    public var baud: Int
    public var dataBits: Int
    public var parity: SerialSpec.Parity
    public var stopBits: Int
    public var flow: SerialSpec.Flow

    public init(baud: Int, dataBits: Int, parity: SerialSpec.Parity, stopBits: Int, flow: SerialSpec.Flow) {
        self.baud = baud; self.dataBits = dataBits; self.parity = parity; self.stopBits = stopBits; self.flow = flow
    }

    public init(_ s: SerialSpec) { self.init(baud: s.baud, dataBits: s.dataBits, parity: s.parity, stopBits: s.stopBits, flow: s.flow) }

    public func matches(_ s: SerialSpec) -> Bool { self == SerialSettings(s) }

    public var description: String {
        "\(baud) \(dataBits)\(parity.rawValue.prefix(1).uppercased())\(stopBits) flow \(flow.rawValue)"
    }
}

/// A pseudo-terminal pair for tests and simulators: write to `master`, open `slavePath` as a port.
public final class PseudoTerminal {
    public let master: Int32
    public let slavePath: String

    public init() throws(SerialError) {
        var name = [CChar](repeating: 0, count: 128)
        let fd = dp_open_pty(&name, 128)
        guard fd >= 0 else { throw SerialError(description: "cannot open a pseudo-terminal: \(String(cString: strerror(errno)))") }
        master = fd
        slavePath = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(SerialError) {
        do { try Sys.write(master, bytes) } catch { throw SerialError(description: error.message) }
    }

    public func close() { Sys.close(master) }
}
