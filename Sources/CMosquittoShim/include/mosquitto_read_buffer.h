#ifndef DEWPOINT_MOSQUITTO_READ_BUFFER_H
#define DEWPOINT_MOSQUITTO_READ_BUFFER_H

#include <stddef.h>
#include <sys/types.h>

/// A read buffer under libmosquitto's plain-TCP socket.
///
/// libmosquitto 2.0 reads every packet with separate read(2) calls: the command byte, each byte
/// of the remaining length, then the body. For a 100-byte sensor message that is three system
/// calls, about 60 % of the input thread's CPU time at 40,000 msg/s (perf). The library has no
/// I/O hook, so `dp_mosquitto_read_hook_install` points libmosquitto's own imports of `read` and
/// `write` (their GOT slots: no other library, and no other function, is touched) at
/// `dp_buffered_read`, which serves those small reads from one large read of the socket, and
/// `dp_coalesced_write` (below).
///
/// Writes: after a pass of reads, libmosquitto writes each queued packet with its own write(2),
/// one PUBACK (4 bytes) per QoS 1 message. Between `dp_write_coalesce_begin` and
/// `dp_write_coalesce_end` (around `mosquitto_loop_write` on the network thread) its writes to
/// the attached socket are gathered and go out in one write(2). libmosquitto then counts those
/// bytes as sent, so the flush waits for room in the socket (up to 10 s) and, if it cannot
/// finish, shuts the socket down: the connection is lost and made again, and the broker sends
/// unacknowledged messages again. Meant for a connection to a nearby broker (the input).
///
/// The buffer belongs to the calling thread (an MQTT client's network thread), holds bytes of one
/// socket only (`dp_read_buffer_attach`), and every other read passes straight through. TLS
/// connections read through OpenSSL, whose reads are not redirected.

/// Redirects libmosquitto's `read` and `write` imports (both or neither). Idempotent and thread-safe. Returns 0, or a negative
/// code: -1 libmosquitto's ELF image not found, -2 no `read` relocation in it, -3 mprotect failed,
/// -4 unsupported architecture, -5 a GOT page could not be made read-only again (every slot was
/// put back: the hook is off).
int dp_mosquitto_read_hook_install(void);

/// The same for any loaded library whose file name starts with `library_prefix` (the tests use
/// it on a library of their own, linked with full RELRO). Not idempotent: call it once a library.
int dp_redirect_io_imports(const char *library_prefix);

/// Buffers reads of `fd` on this thread, discarding any bytes buffered before. `fd < 0` stops
/// buffering (call it whenever the connection closes, so that a reused fd never sees old bytes).
/// Returns 0, or -1 if the buffer could not be allocated (reads then pass through).
int dp_read_buffer_attach(int fd);

/// Frees this thread's buffer (at the end of the network thread).
void dp_read_buffer_release(void);

/// The fd this thread buffers, or -1.
int dp_read_buffer_fd(void);

/// Bytes read from the socket but not yet handed to libmosquitto, on this thread. While this is
/// not 0, `select` on the socket may block although a packet is waiting.
size_t dp_read_buffer_pending(void);

/// `read(2)` with this thread's buffer in front of the attached fd. errno is that of the read
/// that failed; nothing is retried (libmosquitto handles EAGAIN and EINTR).
ssize_t dp_buffered_read(int fd, void *buf, size_t count);

/// Gathers this thread's writes to the attached socket until `dp_write_coalesce_end`.
void dp_write_coalesce_begin(void);

/// Writes what was gathered; 0, or -1 with errno (the socket has then been shut down).
int dp_write_coalesce_end(void);

/// `write(2)`, or gathered (see above).
ssize_t dp_coalesced_write(int fd, const void *buf, size_t count);

/// Process-wide: writes gathered, and the write(2) calls made for gathered and large writes.
unsigned long long dp_writes_coalesced(void);
unsigned long long dp_write_syscalls(void);

/// Process-wide totals: reads asked for on buffered fds, and the read(2) calls that served them.
unsigned long long dp_read_buffer_requests(void);
unsigned long long dp_read_buffer_syscalls(void);

#endif
