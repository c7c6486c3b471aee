import ArgumentParser
import DewpointAgent
import DewpointCore
import DewpointPipeline
import DewpointSerial
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record raw bytes from a serial port, with timestamps, for `dewpoint replay`.",
        discussion: """
        Writes the DPSR format (see docs/recordings.md): every read from the port with its wall time. \
        Stops after --seconds or on SIGINT/SIGTERM. Replay it with `dewpoint replay --input FILE \
        --device NAME`, which runs the bytes through that device's framer and decoder.
        """)

    @Option(name: .long, help: ArgumentHelp("The serial port.", valueName: "path")) var serial: String
    @Option(name: .long, help: ArgumentHelp("The file to write.", valueName: "file")) var output: String
    @Option(name: .long) var baud = 9600
    @Option(name: .long) var dataBits = 8
    @Option(name: .long, help: "none, even or odd") var parity = "none"
    @Option(name: .long) var stopBits = 1
    @Option(name: .long, help: "Stop after this many seconds (0: until a signal).") var seconds: Double = 0

    func run() throws {
        guard let p = SerialSpec.Parity(rawValue: parity) else { throw ValidationError("--parity must be none, even or odd") }
        let spec = SerialSpec(port: serial, baud: baud, dataBits: dataBits, parity: p, stopBits: stopBits)
        let stopped = Atomic<Bool>(false)
        SignalWatcher.install { _ in stopped.store(true, ordering: .relaxed) }
        let fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot create \(output)") }
        // the writer and its counts belong to the serial thread while it runs; the lock hands them back
        struct Out { var w: FDWriter; var line: [UInt8] = []; var records = 0; var bytes = 0 }
        let out = Mutex(Out(w: FDWriter(fd: fd)))
        out.withLock { o in SerialRecording.magic.withUnsafeBytes { o.w.write($0) } }
        let link = SerialLink(spec: spec, framing: .none, logger: commandLogger("record")) { chunk, ts in
            out.withLock { o in
                o.line.removeAll(keepingCapacity: true)
                SerialRecording.appendRecord(chunk, tsNs: ts, to: &o.line)
                o.line.withUnsafeBytes { o.w.write($0) }
                o.records += 1
                o.bytes += chunk.count
            }
        }
        link.start()
        let end = seconds > 0 ? Clock.monotonicNs() + UInt64(seconds * 1e9) : .max
        while !stopped.load(ordering: .relaxed) && Clock.monotonicNs() < end { Clock.sleep(ns: 50_000_000) }
        link.stop()
        let (records, bytes) = out.withLock { o in o.w.flush(); return (o.records, o.bytes) }
        close(fd)
        printError("record: \(records) reads, \(bytes) bytes written to \(output)")
    }
}
