import DewpointCore
import DewpointSignal

/// One row of a checkpoint: a key and the state's bytes, or nil to delete the key (an evicted
/// device, or one whose saved state no longer fits its binding).
public struct StateRow: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]?
    public init(key: String, value: [UInt8]?) { self.key = key; self.value = value }
}

/// What `restore` did, for the log.
public struct RestoreReport: Sendable, Equatable {
    public var devices = 0
    public var openWindows = 0
    /// Keys whose state was not used, and why.
    public var discarded: [(key: String, reason: String)] = []
    /// Why the whole checkpoint was not used (another version), if it was not.
    public var refused: String? = nil
    public init() {}
    public static func == (a: RestoreReport, b: RestoreReport) -> Bool {
        a.devices == b.devices && a.openWindows == b.openWindows && a.refused == b.refused
            && a.discarded.map(\.key) == b.discarded.map(\.key) && a.discarded.map(\.reason) == b.discarded.map(\.reason)
    }
}

/// Checkpoints: the pipeline's state in rows, written by the sink in the same transaction as the
/// records that state produced, and read back before any source starts.
///
/// Rows:
/// - `pipeline`: the format, the agent's version, and both clocks (watermark, newest event).
/// - `input/mqtt`: the `AckLedger` (processed messages whose acknowledgements were not written).
/// - `device/<binding>/<device>`: a fingerprint of the binding's windows and channels, then the
///   device's state (`DeviceState.save`). Only devices that changed since the last checkpoint
///   are written, so a checkpoint costs in proportion to the devices that were active.
///
/// A checkpoint of another format or agent version is not used at all; a device row whose binding
/// is gone, whose windows or channels changed, or whose bytes do not fit is discarded for that
/// device alone. Each is logged by the caller from the `RestoreReport`, and never traps.
extension Pipeline {
    /// The layout of the rows. The agent's version is checked too, since the state of a kernel may
    /// change layout between versions without this changing.
    public static let checkpointFormat: UInt16 = 1

    static let metaKey = "pipeline"
    static let ledgerKey = "input/mqtt"

    func checkpointKey(_ d: DeviceState) -> String { "device/\(bindings[d.binding].name)/\(d.name)" }

    /// What a device's saved state depends on in its binding: the windows and the channels (their
    /// ranges, filters and detectors). A change elsewhere (transport, limits) keeps the state.
    /// Whether a device's saved state carries over from binding `a` to binding `b`.
    public static func stateCarriesOver(from a: BindingSpec, to b: BindingSpec) -> Bool { fingerprint(a) == fingerprint(b) }

    static func fingerprint(_ b: BindingSpec) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(b.window)|\(b.channels)|\(b.dedupMemory)".utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h
    }

    /// The state changed since the last call, as rows (processes pending batches first). Called
    /// under the lock that guards the pipeline, together with taking the records it produced,
    /// so that the two are committed together.
    public func checkpoint(version: String, into rows: inout [StateRow]) {
        flush()
        var meta = StateWriter()
        meta.write(Pipeline.checkpointFormat)
        meta.write(version)
        for i in 0..<2 { meta.write(clocks[i].watermarkNs); meta.write(clocks[i].maxEventNs) }
        rows.append(StateRow(key: Pipeline.metaKey, value: meta.finish()))
        var l = StateWriter()
        ledger.save(to: &l)
        rows.append(StateRow(key: Pipeline.ledgerKey, value: l.finish()))
        for d in changed {
            d.changed = false
            var w = StateWriter()
            w.write(stateFingerprints[d.binding])
            d.save(to: &w)
            rows.append(StateRow(key: checkpointKey(d), value: w.finish()))
        }
        changed.removeAll(keepingCapacity: true)
        for k in evictedKeys { rows.append(StateRow(key: k, value: nil)) }
        evictedKeys.removeAll()
    }

    /// Puts saved state back. Call before any frame arrives.
    public func restore(_ rows: [StateRow], version: String) -> RestoreReport {
        var report = RestoreReport()
        guard let metaRow = rows.first(where: { $0.key == Pipeline.metaKey }), let metaBytes = metaRow.value else {
            if !rows.isEmpty {
                report.refused = "it has no pipeline row"
                evictedKeys = rows.map(\.key)
            }
            return report
        }
        var meta = StateReader(metaBytes)
        do throws(StateCodingError) {
            let format = try meta.read(UInt16.self)
            let saved = try meta.read(String.self)
            guard format == Pipeline.checkpointFormat, saved == version else {
                report.refused = "it was written by version \(saved) (format \(format)), this is \(version) (format \(Pipeline.checkpointFormat))"
                evictedKeys = rows.filter { $0.key.hasPrefix("device/") }.map(\.key)
                return report
            }
            for i in 0..<2 {
                clocks[i].watermarkNs = try meta.read(Int64.self)
                clocks[i].maxEventNs = try meta.read(Int64.self)
            }
        } catch {
            report.refused = "its pipeline row is damaged (\(error))"
            evictedKeys = rows.filter { $0.key.hasPrefix("device/") }.map(\.key)
            return report
        }
        if let bytes = rows.first(where: { $0.key == Pipeline.ledgerKey })?.value {
            var r = StateReader(bytes)
            var l = AckLedger()
            do throws(StateCodingError) {
                try l.restore(from: &r)
                ledger = l
                ledger.restored()
            } catch {
                report.discarded.append((Pipeline.ledgerKey, "\(error)"))
            }
        }
        for row in rows where row.key.hasPrefix("device/") {
            guard let bytes = row.value else { continue }
            if let why = restoreDevice(key: row.key, bytes) {
                report.discarded.append((row.key, why))
                evictedKeys.append(row.key)
            } else {
                report.devices += 1
            }
        }
        report.openWindows = openWindows
        recomputeNextClose()
        return report
    }

    /// Restores one device; nil on success, otherwise why not.
    private func restoreDevice(key: String, _ bytes: [UInt8]) -> String? {
        let rest = key.dropFirst("device/".count)
        guard let slash = rest.firstIndex(of: "/") else { return "the key names no device" }
        let bindingName = String(rest[..<slash]), name = String(rest[rest.index(after: slash)...])
        guard let b = bindings.firstIndex(where: { $0.name == bindingName }) else { return "binding \(bindingName) is no longer configured" }
        var r = StateReader(bytes)
        do throws(StateCodingError) {
            guard try r.read(UInt64.self) == stateFingerprints[b] else {
                return "binding \(bindingName) changed its windows or channels since the state was saved"
            }
            let fresh = DeviceState(name: name, binding: b, spec: bindings[b], defaultMaxSkewNs: defaultMaxSkewNs, clock: clock(of: bindings[b]))
            if let fixed = fixedDevice[b] {
                guard fixed.name == name else { return "binding \(bindingName) names device \(fixed.name), not \(name)" }
                try fresh.restore(from: &r)
                fixedDevice[b] = fresh
                if let i = devices.firstIndex(where: { $0 === fixed }) { devices[i] = fresh }
            } else {
                let limits = bindings[b].limits
                guard Array(name.utf8).withUnsafeBytes({ limits.accepts(name: $0) }) else { return "device name \(logExcerpt(name)) is not valid" }
                guard byName[b][name] == nil else { return "the device appears twice" }
                guard byName[b].count < limits.maxDevices else { return "binding \(bindingName) tracks limits.max_devices devices already" }
                try fresh.restore(from: &r)
                byName[b][name] = fresh
                devices.append(fresh)
                hot.pointee.devicesByName += 1
            }
            return nil
        } catch {
            return "its state does not fit binding \(bindingName): \(error)"
        }
    }

    // MARK: The MQTT input's deliveries

    /// An MQTT message with its packet id (QoS 1 and 2): a redelivery of a message already
    /// processed is counted (`redelivered`) and skipped; see `AckLedger`.
    public func ingestMQTT(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, arrivalNs: Int64, deliveryId: UInt16) {
        let entry = AckLedger.Entry(id: deliveryId, hash: AckLedger.hash(topic: topic, payload: payload))
        if ledger.deliver(entry) {
            hot.pointee.counters.redelivered += 1
            clocks[1].lastFrameNs = arrivalNs
            return
        }
        ingestMQTT(topic: topic, payload: payload, arrivalNs: arrivalNs)
    }

    /// The acknowledgements of every message delivered so far have been written.
    public func inputAcknowledged() { ledger.acknowledged() }

    /// The MQTT input connected (`sessionPresent`: the broker kept the session, and will resend
    /// what was not acknowledged). Its devices' clock runs again, on event time, until it is idle.
    public func inputConnected(sessionPresent: Bool, nowNs: Int64) {
        ledger.connected(sessionPresent: sessionPresent)
        inputOnline = true
        clocks[1].lastFrameNs = nowNs
    }

    /// The MQTT input lost its connection: its devices' clock stands still until it is back.
    public func inputDisconnected() { inputOnline = false }

    /// Acknowledgements held for messages already processed (to be written after a commit).
    public var heldAcknowledgements: Int { ledger.held.count }
}

extension Pipeline {
    /// Windows open now, over every device.
    public var openWindows: Int { devices.reduce(0) { $0 + $1.open.count } }
}

/// One device as the metrics and `/healthz` see it.
public struct DeviceSnapshot: Sendable, Equatable {
    public var binding: String
    public var device: String
    public var samples: Int
    public var decodeErrors: Int
    /// When it was last heard from (arrival time, ns since the epoch), or nil.
    public var lastSeenNs: Int64?
    public var openWindows: Int
    public var raisedAlerts: Int
    /// The alerts raised now, as `channel/detector`.
    public var raised: [String] = []
}

extension Pipeline {
    /// Every tracked device (read under the pipeline's lock, once per metrics interval).
    public func deviceSnapshot() -> [DeviceSnapshot] {
        devices.map { d in
            let raised = raisedAlerts(d)
            return DeviceSnapshot(binding: bindings[d.binding].name, device: d.name, samples: d.samplesTotal, decodeErrors: d.decodeErrors,
                                  lastSeenNs: d.lastSeenNs == .min ? nil : d.lastSeenNs, openWindows: d.open.count, raisedAlerts: raised.count,
                                  raised: raised)
        }
    }
}

extension Pipeline {
    /// The arrival times of the frames behind the alerts emitted since the last call.
    public func takeAlertArrivals() -> [Int64] {
        defer { alertArrivals.removeAll(keepingCapacity: true) }
        return alertArrivals
    }
}
