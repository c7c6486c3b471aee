import CMosquitto
import CMosquittoShim
import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

/// The thin wrapper around libmosquitto: every C call of the MQTT adapter is in this file.
final class Mosquitto: @unchecked Sendable {
    // @unchecked: the handle is shared by the network thread (loop, connect) and publishers on
    // other threads; libmosquitto guards its own state with its mutexes once `threaded_set` is on,
    // which `init` does before the object can be shared. The two Swift `var`s are written only in
    // `configure`, which `MQTTClient.init` calls before it returns, so every later read sees them
    // settled.
    private let handle: OpaquePointer

    private static let initialised: Bool = {
        mosquitto_lib_init()
        return true
    }()

    /// Whether libmosquitto's reads go through the network thread's buffer (`CMosquittoShim`): a
    /// plain TCP connection whose options ask for it (`input.read_buffer`), with the hook
    /// installed. TLS reads go through OpenSSL instead.
    private(set) var readBuffered = false
    /// The PUBACKs of a pass go out in one write (see `mosquitto_read_buffer.h`); input only.
    private var coalesceWrites = false

    /// The libmosquitto versions the read hook was tested with: it rests on how 2.0 reads and
    /// writes its sockets (every read through its `read` import).
    static let readHookTestedVersions: ClosedRange<Int32> = 2_000...2_000

    /// 0, or why libmosquitto's `read` and `write` were not redirected: -10 for an untested
    /// libmosquitto version, otherwise `dp_mosquitto_read_hook_install`'s codes. Evaluated once,
    /// when the first client that asks for the read buffer is made, which the agent does before
    /// any network thread runs.
    static let readHook: Int32 = {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        _ = mosquitto_lib_version(&major, &minor, &revision)
        guard readHookTestedVersions.contains(major * 1000 + minor) else { return -10 }
        return dp_mosquitto_read_hook_install()
    }()

    static var readHookProblem: String {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        _ = mosquitto_lib_version(&major, &minor, &revision)
        switch readHook {
        case 0: return "none"
        case -10: return "libmosquitto \(major).\(minor).\(revision) is not a version the read buffer was tested with (2.0)"
        case -1: return "libmosquitto's ELF image was not found"
        case -2: return "libmosquitto has no read/write relocations to redirect"
        case -3: return "its GOT could not be made writable (mprotect)"
        case -4: return "this architecture is not supported"
        case -5: return "its GOT could not be made read-only again (mprotect); every change was undone"
        default: return "code \(readHook)"
        }
    }

    init(clientId: String?, cleanSession: Bool) throws(MQTTError) {
        _ = Mosquitto.initialised
        guard let h = mosquitto_new(clientId, cleanSession, nil) else {
            throw MQTTError(operation: "mosquitto_new", code: -1,
                            detail: clientId == nil && !cleanSession ? "a persistent session needs a client id" : "out of memory or invalid client id")
        }
        handle = h
        mosquitto_threaded_set(handle, true)
    }

    deinit { mosquitto_destroy(handle) }

    static func errorString(_ rc: Int32) -> String {
        if rc == MOSQ_ERR_TLS.rawValue { return tlsHint }
        return String(cString: mosquitto_strerror(rc))
    }

    static let tlsHint = "TLS handshake failed: the broker's certificate must verify against tls.ca_file and name the configured host (the libmosquitto line before this one gives the reason)"

    static func connackString(_ rc: Int32) -> String { String(cString: mosquitto_connack_string(rc)) }

    private func check(_ rc: Int32, _ op: String) throws(MQTTError) {
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(operation: op, code: rc, detail: Mosquitto.errorString(rc))
        }
    }

    func configure(_ o: MQTTClient.Options) throws(MQTTError) {
        let version = o.protocolVersion == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
        try check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, Int32(version)), "protocol version")
        if let user = o.username {
            try check(mosquitto_username_pw_set(handle, user, o.password), "username/password")
        }
        readBuffered = o.readBuffer && o.tls == nil && Mosquitto.readHook == 0
        coalesceWrites = readBuffered && o.coalesceWrites  // the gathering lives in the read buffer
        if let tls = o.tls {
            // libmosquitto says only "invalid function arguments" for a file it cannot read
            for (key, f) in [("ca_file", tls.caFile), ("cert_file", tls.certFile), ("key_file", tls.keyFile)] {
                guard let f, access(f, R_OK) != 0 else { continue }
                throw MQTTError(operation: "TLS", code: MOSQ_ERR_INVAL.rawValue, detail: "cannot read tls.\(key) \(f): \(String(cString: strerror(errno)))")
            }
            try check(mosquitto_tls_set(handle, tls.caFile, nil, tls.certFile, tls.keyFile, nil), "TLS files (\(tls.caFile))")
            // verify the server's certificate (1 = SSL_VERIFY_PEER), TLS 1.2 or newer
            try check(mosquitto_tls_opts_set(handle, 1, "tlsv1.2", nil), "TLS options")
            try check(mosquitto_tls_insecure_set(handle, false), "TLS hostname verification")
        }
        if let w = o.will { try setWill(w) }
    }

    /// The last will of the next CONNECT (libmosquitto copies it; only between connections).
    func setWill(_ w: MQTTClient.Will) throws(MQTTError) {
        let rc = w.payload.withUnsafeBytes { p in
            mosquitto_will_set(handle, w.topic, Int32(p.count), p.baseAddress, Int32(w.qos), w.retain)
        }
        try check(rc, "last will")
    }

    /// Forgets everything libmosquitto holds for the last connection (its queue of unacknowledged
    /// outgoing messages above all, which it would otherwise resend first on the next connect)
    /// and sets the client up again. Only while disconnected, and with publishers held off.
    func reinitialise(clientId: String?, cleanSession: Bool, _ o: MQTTClient.Options, owner: UnsafeMutableRawPointer) throws(MQTTError) {
        try check(mosquitto_reinitialise(handle, clientId, cleanSession, nil), "reinitialise")
        mosquitto_threaded_set(handle, true)
        try configure(o)
        setCallbacks(owner: owner)
    }

    func setCallbacks(owner: UnsafeMutableRawPointer) {
        mosquitto_user_data_set(handle, owner)
        // with the flags: bit 0 is CONNACK's session present
        mosquitto_connect_with_flags_callback_set(handle) { _, obj, rc, flags in
            Unmanaged<MQTTClient>.fromOpaque(obj!).takeUnretainedValue().handleConnack(rc, sessionPresent: flags & 1 != 0)
        }
        mosquitto_message_callback_set(handle) { _, obj, msg in
            guard let obj, let m = msg?.pointee else { return }
            let topicLen = m.topic.map { strlen($0) } ?? 0
            let topic = UnsafeRawBufferPointer(start: m.topic, count: topicLen)
            let payload = UnsafeRawBufferPointer(start: m.payload, count: Int(m.payloadlen))
            Unmanaged<MQTTClient>.fromOpaque(obj).takeUnretainedValue().handleMessage(topic, payload, mid: m.mid, qos: m.qos)
        }
        setLibraryLog(true)
        // MQTT 5: the broker's DISCONNECT carries a reason (0x8E: another client took the session)
        mosquitto_disconnect_v5_callback_set(handle) { _, obj, rc, _ in
            guard let obj else { return }
            Unmanaged<MQTTClient>.fromOpaque(obj).takeUnretainedValue().handleDisconnect(rc)
        }
        mosquitto_publish_callback_set(handle) { _, obj, mid in
            Unmanaged<MQTTClient>.fromOpaque(obj!).takeUnretainedValue().handlePublished(mid)
        }
    }

    /// libmosquitto's own errors (OpenSSL's reason for a refused certificate, for one). On only
    /// while connecting: with a log callback set, libmosquitto formats a log line (malloc and
    /// vsnprintf) for every packet sent and received, whatever its level, which `perf` showed
    /// among the agent's top costs per message.
    func setLibraryLog(_ on: Bool) {
        guard on else { mosquitto_log_callback_set(handle, nil); return }
        mosquitto_log_callback_set(handle) { _, obj, level, text in
            guard let obj, let text, level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING) != 0 else { return }
            Unmanaged<MQTTClient>.fromOpaque(obj).takeUnretainedValue().handleLibraryLog(String(cString: text))
        }
    }

    /// Points this thread's read buffer at the current socket (none while disconnected). Called by
    /// the network thread before each pass: a new connection starts with an empty buffer, so a
    /// reused fd never sees bytes of the old one.
    func syncReadBuffer() {
        guard readBuffered else { return }
        let fd = mosquitto_socket(handle)
        if fd != dp_read_buffer_fd() { _ = dp_read_buffer_attach(fd) }
    }

    /// Drops buffered bytes of a connection that is closing.
    func detachReadBuffer() { if readBuffered { _ = dp_read_buffer_attach(-1) } }

    /// At the end of the network thread.
    func releaseReadBuffer() { dp_read_buffer_release() }

    /// Process-wide: reads libmosquitto asked of buffered sockets, and the read(2) calls that served them.
    static var readBufferTotals: (requests: UInt64, syscalls: UInt64) {
        (UInt64(dp_read_buffer_requests()), UInt64(dp_read_buffer_syscalls()))
    }

    /// Connects. With MQTT 5 the CONNECT carries, when given, a session expiry (a persistent
    /// session that outlives the connection, as clean session off does in 3.1.1) and the largest
    /// packet this client accepts: the broker then never sends a larger one (it discards it
    /// instead), so one oversize message cannot exhaust the agent's memory.
    func connect(host: String, port: Int32, keepalive: Int32, sessionExpiryS: UInt32? = nil, maximumPacketSize: UInt32? = nil,
                 receiveMaximum: UInt16? = nil) throws(MQTTError) {
        var props: OpaquePointer? = nil
        defer { if props != nil { mosquitto_property_free_all(&props) } }
        if let m = receiveMaximum { try check(mosquitto_property_add_int16(&props, Int32(MQTT_PROP_RECEIVE_MAXIMUM.rawValue), m), "receive maximum") }
        if let e = sessionExpiryS { try check(mosquitto_property_add_int32(&props, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), e), "session expiry") }
        if let m = maximumPacketSize { try check(mosquitto_property_add_int32(&props, Int32(MQTT_PROP_MAXIMUM_PACKET_SIZE.rawValue), m), "maximum packet size") }
        let rc = props == nil ? mosquitto_connect(handle, host, port, keepalive)
                              : mosquitto_connect_bind_v5(handle, host, port, keepalive, nil, props)
        let savedErrno = errno  // read at once: the next libc call may overwrite it
        if rc == MOSQ_ERR_ERRNO.rawValue {
            throw MQTTError(operation: "connect", code: rc, detail: String(cString: strerror(savedErrno)))
        }
        if rc == MOSQ_ERR_TLS.rawValue {
            throw MQTTError(operation: "connect", code: rc, detail: Mosquitto.tlsHint)
        }
        try check(rc, "connect")
    }

    /// One iteration of network I/O; returns a libmosquitto error code (0 = success).
    ///
    /// `mosquitto_loop` waits in `pselect` and then reads a single packet (its `max_packets` is
    /// ignored since 2.0), so a busy connection costs one `pselect` per message. After it, this
    /// reads on with `mosquitto_loop_read`, one packet per call, while each call delivers a
    /// message (`delivered` counts them) and at most `maxPackets` in all, then writes what the
    /// reads queued (PUBACKs) in one pass.
    ///
    /// errno cannot tell when the socket is drained: queueing each PUBACK writes a byte to
    /// libmosquitto's internal wake-up socket pair, which fills after a few hundred messages (only
    /// `mosquitto_loop` reads it, a byte per call), and the failed write leaves EAGAIN in errno
    /// although more messages are waiting. Stopping on that capped a QoS 1 input at a few messages
    /// per pass. A call that delivers nothing ends the pass instead (drained, half a packet, or a
    /// packet that is not a message), unless the read buffer still holds bytes.
    func loop(timeoutMs: Int32, maxPackets: Int, delivered: () -> Int) -> Int32 {
        // select cannot see bytes already in the read buffer: do not wait while there are some
        var rc = mosquitto_loop(handle, dp_read_buffer_pending() > 0 ? 0 : timeoutMs, 1)
        guard rc == MOSQ_ERR_SUCCESS.rawValue, maxPackets > 1 else { return rc }
        for _ in 1..<maxPackets {
            let before = delivered()
            rc = mosquitto_loop_read(handle, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue { return rc }
            if delivered() == before && dp_read_buffer_pending() == 0 { break }
        }
        if mosquitto_want_write(handle) {
            guard coalesceWrites else { return mosquitto_loop_write(handle, 1) }
            dp_write_coalesce_begin()
            rc = mosquitto_loop_write(handle, 1)
            if dp_write_coalesce_end() != 0 && rc == MOSQ_ERR_SUCCESS.rawValue { rc = MOSQ_ERR_ERRNO.rawValue }
        }
        return rc
    }

    /// A pass that reads but never writes: for an input holding its acknowledgements until they
    /// are durable (`ack: after_commit`). libmosquitto queues the PUBACK of each message it reads
    /// rather than writing it, once `mosquitto_threaded_set` is on (`packet__queue` in 2.0 writes
    /// at once only for unthreaded clients): `mosquitto_loop` would write the queue after its
    /// read, so this waits with poll(2) itself, reads as `loop` does, and runs the keepalive
    /// check (a PINGREQ joins the queue). Also before the CONNACK: the CONNECT goes out through
    /// `writeQueued`, and `mosquitto_loop_read` carries on a TLS handshake that is waiting to read.
    func loopWithoutWriting(timeoutMs: Int32, maxPackets: Int, delivered: () -> Int) -> Int32 {
        let fd = mosquitto_socket(handle)
        guard fd >= 0 else { return MOSQ_ERR_NO_CONN.rawValue }
        if dp_read_buffer_pending() == 0 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, timeoutMs)
            if n < 0 { return errno == EINTR ? MOSQ_ERR_SUCCESS.rawValue : MOSQ_ERR_ERRNO.rawValue }
            if n == 0 { return mosquitto_loop_misc(handle) }
        }
        for _ in 0..<max(1, maxPackets) {
            let before = delivered()
            let rc = mosquitto_loop_read(handle, 1)
            if rc != MOSQ_ERR_SUCCESS.rawValue { return rc }
            if delivered() == before && dp_read_buffer_pending() == 0 { break }
        }
        // Nothing is written while acknowledgements wait, so the kernel's delayed ACKs are all the
        // broker hears: with Nagle on its socket it then holds each next small PUBLISH until one
        // arrives (measured: alert latency p50 10 ms instead of 1.2 ms at 1,000 messages/s).
        // Acknowledge at TCP level at once (quick-ack mode lapses, so it is set again each pass).
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &one, socklen_t(MemoryLayout<Int32>.size))
        return mosquitto_loop_misc(handle)
    }

    /// Writes what libmosquitto has queued (the held PUBACKs first, in the order of their
    /// messages); returns a libmosquitto error code.
    func writeQueued() -> Int32 {
        guard mosquitto_want_write(handle) else { return MOSQ_ERR_SUCCESS.rawValue }
        guard coalesceWrites else { return mosquitto_loop_write(handle, 1) }
        dp_write_coalesce_begin()
        var rc = mosquitto_loop_write(handle, 1)
        if dp_write_coalesce_end() != 0 && rc == MOSQ_ERR_SUCCESS.rawValue { rc = MOSQ_ERR_ERRNO.rawValue }
        return rc
    }

    /// Whether packets are queued and not yet written.
    var wantsWrite: Bool { mosquitto_want_write(handle) }

    func disconnect() { _ = mosquitto_disconnect(handle) }

    /// Leaves an input connection so that what was written reaches the broker: libmosquitto's
    /// queue is written, then the write side is shut (FIN after the last acknowledgement), and
    /// what the broker still sends is read and discarded until it closes (or `timeoutMs`). A plain
    /// `close` with unread messages in the socket would send a reset, and the broker's kernel
    /// would discard the acknowledgements it had not read yet, so that it sent those messages
    /// again to the next session. The discarded messages were never acknowledged: the broker
    /// sends them again.
    func closeAfterWrites(timeoutMs: Int) {
        _ = writeQueued()
        let fd = mosquitto_socket(handle)
        guard fd >= 0 else { return }
        _ = shutdown(fd, Int32(SHUT_WR))
        let deadline = Clock.monotonicNs() + UInt64(timeoutMs) * 1_000_000
        var scratch = [UInt8](repeating: 0, count: 16_384)
        while Clock.monotonicNs() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32((deadline - Clock.monotonicNs()) / 1_000_000)
            guard poll(&p, 1, max(1, left)) > 0 else { continue }
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { break }
        }
        // the socket is closed when the handle is destroyed or set up again; nothing more is sent
    }

    func subscribe(_ filter: String, qos: Int32) throws(MQTTError) {
        try check(mosquitto_subscribe(handle, nil, filter, qos), "subscribe \(filter)")
    }

    func publish(topic: String, payload: UnsafeRawBufferPointer, qos: Int32, retain: Bool) throws(MQTTError) -> Int32 {
        var mid: Int32 = 0
        try check(mosquitto_publish(handle, &mid, topic, Int32(payload.count), payload.baseAddress, qos, retain), "publish \(topic)")
        return mid
    }
}
