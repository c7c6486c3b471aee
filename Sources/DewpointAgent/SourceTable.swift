import DewpointCapture
import DewpointConfig
import DewpointCore
import DewpointMQTT
import DewpointPipeline
import DewpointSerial
import DewpointSocket
import Logging

/// What a factory of live sources gets.
public struct LiveSourceContext {
    public var config: LoadedConfig
    /// The bindings of this transport kind, with their index among all bindings.
    public var bindings: [(index: Int, spec: BindingSpec)]
    /// Runs the pipeline on the calling thread, under the agent's lock (the broker holds the backlog).
    public var inline: any FrameInlet & Sendable
    /// Copies frames into the agent's bounded queue (sources fed by a small kernel buffer).
    public var queued: any FrameInlet & Sendable
    /// Commits what the pipeline produced, for inputs that acknowledge after commit.
    public var durability: (any DurabilityGate)? = nil
    public var logger: Logger
}

/// What a factory of recording readers gets (`dewpoint replay`).
public struct RecordingContext {
    public var path: String
    /// Every binding, in the agent's order (the pipeline's binding indices).
    public var bindings: [BindingSpec]
    /// `--device`: the devices named on the command line.
    public var devices: [String]
    public var pipeline: Pipeline
    public var reader: ReplayReader
    public init(path: String, bindings: [BindingSpec], devices: [String], pipeline: Pipeline, reader: ReplayReader) {
        self.path = path; self.bindings = bindings; self.devices = devices; self.pipeline = pipeline; self.reader = reader
    }
}

/// One row per transport kind: how `check` describes a binding of it, and how `run` makes its
/// live sources. Adding an input is a row here and a folder under `Sources/sources/`.
public struct SourceKind: Sendable {
    public var transport: String
    public var describe: @Sendable (BindingSpec) -> String
    /// The live sources for every binding of this kind; none for kinds that only replay.
    public var makeLive: @Sendable (LiveSourceContext) throws -> [any Source & Sendable]
}

/// One row per recording format: the file names it takes and its reader.
public struct RecordingKind: Sendable {
    public var suffixes: [String]
    public var describe: String
    public var make: @Sendable (RecordingContext) throws(RecordingError) -> RecordingSource
}

public struct RecordingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// A recording read through the pipeline on the calling thread: `start()` reads it to the end.
public final class RecordingSource: Source {
    public let name: String
    private let read: () throws -> String?
    /// The reader's own counters line (router, framer), once read.
    public private(set) var summary: String?

    public init(name: String, read: @escaping () throws -> String?) {
        self.name = name
        self.read = read
    }

    public func start() throws { summary = try read() }
    public func stop() {}
    public var counters: SourceCounters { SourceCounters() }
}

public enum SourceTable {
    public static let kinds: [SourceKind] = [
        SourceKind(transport: "mqtt", describe: { b in
            guard case .mqtt(let m) = b.transport else { return "mqtt" }
            return "mqtt \(m.topic) qos \(m.qos)"
        }, makeLive: { ctx in
            let subs = ctx.bindings.compactMap { b -> (filter: String, qos: Int)? in
                if case .mqtt(let m) = b.spec.transport { return (m.topic.mqttFilter, m.qos) } else { return nil }
            }
            guard !subs.isEmpty else { return [] }
            let a = ctx.config.agent
            var o = try Agent.options(a.input, clientId: "dewpoint-\(a.agentId)-in", cleanSession: false)
            // the largest payload a binding takes, plus room for the topic and the header
            let largest = ctx.bindings.map(\.spec.limits.maxPayload).max() ?? LimitsSpec.defaultMaxPayload
            o.maximumPacketSize = UInt32(clamping: largest + 65_536)
            var logger = ctx.logger
            logger[metadataKey: "source"] = "input"
            if o.protocolVersion != 5 {
                logger.warning("input uses MQTT 3.1.1: the size of incoming messages is bounded only by the broker's max_packet_size (set it, or use mqtt_version: 5)")
            }
            o.ackAfterCommit = a.input.ack == .afterCommit && ctx.durability != nil
            o.ackIntervalNs = UInt64(Clock.ns(ms: a.spool.commitIntervalMs))
            return [try MQTTInput(options: o, subscriptions: subs, inlet: ctx.inline, durability: ctx.durability, logger: logger)]
        }),
        SourceKind(transport: "serial", describe: { b in
            guard case .serial(let s) = b.transport else { return "serial" }
            return "serial \(s.port) \(s.baud) \(s.dataBits)\(s.parity.rawValue.prefix(1).uppercased())\(s.stopBits)"
        }, makeLive: { ctx in
            ctx.bindings.compactMap { (i, b) -> (any Source & Sendable)? in
                guard case .serial(let s) = b.transport else { return nil }
                let inlet = ctx.queued
                return SerialLink(spec: s, framing: b.framing, logger: ctx.logger.with("binding", b.name)) { frame, now in
                    inlet.frame(binding: i, payload: frame, arrivalNs: now)
                }
            }
        }),
        SourceKind(transport: "capture", describe: { b in
            guard case .capture(let c) = b.transport else { return "capture" }
            return "capture \(c.interface ?? c.file ?? "")\(c.bpf.map { " '\($0)'" } ?? "")"
        }, makeLive: { ctx in
            // one capture per interface, shared by the bindings that name it
            var byInterface: [String: [(Int, CaptureSpec)]] = [:]
            for (i, b) in ctx.bindings {
                guard case .capture(let c) = b.transport else { continue }
                guard let iface = c.interface else {
                    ctx.logger.warning("device \(b.name): capture from a file only runs in replay; skipped")
                    continue
                }
                byInterface[iface, default: []].append((i, c))
            }
            var out: [any Source & Sendable] = []
            let inlet = ctx.queued
            for (iface, list) in byInterface.sorted(by: { $0.key < $1.key }) {
                let onFrame: @Sendable (Int, UnsafeRawBufferPointer, Int64) -> Void = { b, payload, ns in
                    inlet.frame(binding: b, payload: payload, arrivalNs: ns)
                }
                let logger = ctx.logger.with("interface", iface)
                let buffer = Int32(list.map(\.1.bufferBytes).max() ?? CaptureSpec.defaultBufferBytes)
                do {
                    out.append(try CaptureSource(interface: iface, bindings: list, onFrame: onFrame, logger: logger, bufferBytes: buffer))
                } catch {
                    // an interface that is not up yet (USB, wlan, VPN) is opened when it appears
                    logger.warning("capture: \(error); opening it when it appears")
                    out.append(CaptureSource.waiting(interface: iface, bindings: list, onFrame: onFrame, logger: logger, bufferBytes: buffer))
                }
            }
            return out
        }),
        SourceKind(transport: "file", describe: { _ in "file" }, makeLive: { ctx in
            for (_, b) in ctx.bindings { ctx.logger.warning("device \(b.name): transport file only runs in replay; skipped") }
            return []
        }),
        SourceKind(transport: "udp", describe: { b in
            guard case .udp(let l) = b.transport else { return "udp" }
            return "udp \(l.host):\(l.port)"
        }, makeLive: { ctx in
            try ctx.bindings.compactMap { (i, b) -> (any Source & Sendable)? in
                guard case .udp(let l) = b.transport else { return nil }
                let inlet = ctx.queued
                do {
                    return try UDPListener(spec: l, logger: ctx.logger.with("binding", b.name)) { frame, now in
                        inlet.frame(binding: i, payload: frame, arrivalNs: now)
                    }
                } catch { throw AgentError("device \(b.name): udp \(error)") }
            }
        }),
        SourceKind(transport: "tcp", describe: { b in
            guard case .tcp(let l) = b.transport else { return "tcp" }
            return "tcp \(l.host):\(l.port) max \(l.maxConnections) connections"
        }, makeLive: { ctx in
            try ctx.bindings.compactMap { (i, b) -> (any Source & Sendable)? in
                guard case .tcp(let l) = b.transport else { return nil }
                let inlet = ctx.queued
                do {
                    return try TCPListener(spec: l, framing: b.framing, logger: ctx.logger.with("binding", b.name)) { frame, now in
                        inlet.frame(binding: i, payload: frame, arrivalNs: now)
                    }
                } catch { throw AgentError("device \(b.name): tcp \(error)") }
            }
        }),
    ]

    public static func kind(of b: BindingSpec) -> SourceKind {
        kinds.first { $0.transport == b.transport.kindName }!
    }

    /// Recording formats for `dewpoint replay`, by file name.
    public static let recordings: [RecordingKind] = [
        RecordingKind(suffixes: [".jsonl", ".json", "-"], describe: ".jsonl (MQTT)", make: { ctx in
            let (path, reader, pipeline) = (ctx.path, ctx.reader, ctx.pipeline)
            return RecordingSource(name: path) { try reader.replayMQTT(path: path, into: pipeline); return nil }
        }),
        RecordingKind(suffixes: [".csv"], describe: ".csv (time series)", make: { ctx throws(RecordingError) in
            let stem = String(ctx.path.split(separator: "/").last!.dropLast(4))
            let target = ctx.devices.first ?? stem
            guard let bi = ctx.bindings.firstIndex(where: { $0.name == target }) else {
                throw RecordingError("\(ctx.path): a CSV time series needs --device NAME (no device is named '\(stem)')")
            }
            let (path, reader, pipeline) = (ctx.path, ctx.reader, ctx.pipeline)
            return RecordingSource(name: path) { try reader.replayCSV(path: path, binding: bi, into: pipeline); return nil }
        }),
        RecordingKind(suffixes: [".dpsr"], describe: ".dpsr (serial or TCP bytes, UDP datagrams)", make: { ctx throws(RecordingError) in
            guard let name = ctx.devices.first, let bi = ctx.bindings.firstIndex(where: { $0.name == name }) else {
                throw RecordingError("\(ctx.path): a serial recording needs --device NAME (the binding whose framer and decoder apply)")
            }
            let (path, reader, pipeline) = (ctx.path, ctx.reader, ctx.pipeline)
            return RecordingSource(name: path) {
                let c = try reader.replaySerial(path: path, binding: bi, into: pipeline)
                return "frames=\(c.frames) corrupt=\(c.corrupt) oversize=\(c.oversize) garbage_bytes=\(c.garbageBytes)"
            }
        }),
        RecordingKind(suffixes: [".pcap", ".pcapng"], describe: ".pcap/.pcapng (capture)", make: { ctx throws(RecordingError) in
            let list = ctx.bindings.enumerated().compactMap { (i, b) -> (Int, CaptureSpec)? in
                if case .capture(let c) = b.transport { return (i, c) } else { return nil }
            }
            guard !list.isEmpty else { throw RecordingError("\(ctx.path): no capture binding to replay it through") }
            let (path, reader, pipeline) = (ctx.path, ctx.reader, ctx.pipeline)
            return RecordingSource(name: path) { try reader.replayCapture(path: path, bindings: list, into: pipeline) }
        }),
    ]

    /// The recording format of a file, by its name.
    public static func recording(for path: String) -> RecordingKind? {
        recordings.first { k in k.suffixes.contains { path == $0 || ($0.hasPrefix(".") && path.hasSuffix($0)) } }
    }
}

extension Logger {
    /// A copy with one more metadata value (the binding, device or interface a line is about).
    func with(_ key: String, _ value: String) -> Logger {
        var l = self
        l[metadataKey: key] = .string(value)
        return l
    }
}
