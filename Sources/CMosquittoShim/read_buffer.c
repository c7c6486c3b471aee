#define _GNU_SOURCE
#include "mosquitto_read_buffer.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

enum { DP_READ_BUFFER_SIZE = 32768, DP_WRITE_BUFFER_SIZE = 8192, DP_FLUSH_TIMEOUT_MS = 10000 };

struct dp_read_buffer {
    int fd;
    size_t start, end;
    int coalescing;
    size_t wlen;
    unsigned char data[DP_READ_BUFFER_SIZE];
    unsigned char wdata[DP_WRITE_BUFFER_SIZE];
};

// One per MQTT network thread; NULL on every other thread, whose reads pass through.
static __thread struct dp_read_buffer *current;
static unsigned long long requests, syscalls, writes_coalesced, write_syscalls;

int dp_read_buffer_attach(int fd) {
    if (current == NULL) {
        current = malloc(sizeof *current);
        if (current == NULL) return -1;
    }
    current->fd = fd;
    current->start = current->end = 0;
    current->coalescing = 0;
    current->wlen = 0;
    return 0;
}

void dp_read_buffer_release(void) {
    free(current);
    current = NULL;
}

int dp_read_buffer_fd(void) { return current ? current->fd : -1; }

size_t dp_read_buffer_pending(void) {
    struct dp_read_buffer *b = current;
    return b && b->fd >= 0 ? b->end - b->start : 0;
}

ssize_t dp_buffered_read(int fd, void *buf, size_t count) {
    struct dp_read_buffer *b = current;
    if (b == NULL || fd < 0 || fd != b->fd || count == 0) return read(fd, buf, count);
    __atomic_fetch_add(&requests, 1, __ATOMIC_RELAXED);
    if (b->start == b->end) {
        __atomic_fetch_add(&syscalls, 1, __ATOMIC_RELAXED);
        // a large body goes straight to its destination; no point copying it twice
        if (count >= DP_READ_BUFFER_SIZE) return read(fd, buf, count);
        ssize_t n = read(fd, b->data, DP_READ_BUFFER_SIZE);
        if (n <= 0) return n;  // errno (EAGAIN, ECONNRESET, …) and EOF as read(2) gave them
        b->start = 0;
        b->end = (size_t)n;
    }
    size_t k = b->end - b->start;
    if (k > count) k = count;
    memcpy(buf, b->data + b->start, k);
    b->start += k;
    return (ssize_t)k;
}

// Writes all of it, waiting for room (the socket is non-blocking); -1 with errno on failure,
// ETIMEDOUT if the peer took no bytes for DP_FLUSH_TIMEOUT_MS.
static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        __atomic_fetch_add(&write_syscalls, 1, __ATOMIC_RELAXED);
        ssize_t w = write(fd, p, n);
        if (w > 0) { p += w; n -= (size_t)w; continue; }
        if (w == 0) { errno = EIO; return -1; }  // a socket does not do this; do not spin on it
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            int r = poll(&pfd, 1, DP_FLUSH_TIMEOUT_MS);
            if (r == 0) { errno = ETIMEDOUT; return -1; }
            if (r < 0 && errno != EINTR) return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

void dp_write_coalesce_begin(void) {
    struct dp_read_buffer *b = current;
    if (b != NULL && b->fd >= 0) b->coalescing = 1;
}

int dp_write_coalesce_end(void) {
    struct dp_read_buffer *b = current;
    if (b == NULL) return 0;
    b->coalescing = 0;
    if (b->wlen == 0) return 0;
    int rc = write_all(b->fd, b->wdata, b->wlen);
    b->wlen = 0;
    if (rc != 0) {
        // libmosquitto counts these bytes as sent: the connection cannot go on
        int e = errno;
        shutdown(b->fd, SHUT_RDWR);
        errno = e;
    }
    return rc;
}

ssize_t dp_coalesced_write(int fd, const void *buf, size_t count) {
    struct dp_read_buffer *b = current;
    if (b == NULL || !b->coalescing || fd < 0 || fd != b->fd) return write(fd, buf, count);
    if (b->wlen + count > DP_WRITE_BUFFER_SIZE) {
        if (b->wlen > 0) {
            int rc = write_all(fd, b->wdata, b->wlen);
            b->wlen = 0;
            if (rc != 0) { int e = errno; shutdown(fd, SHUT_RDWR); errno = e; return -1; }
        }
        // a large packet goes out as libmosquitto wrote it (it handles a partial write itself)
        if (count > DP_WRITE_BUFFER_SIZE / 2) {
            __atomic_fetch_add(&write_syscalls, 1, __ATOMIC_RELAXED);
            return write(fd, buf, count);
        }
    }
    __atomic_fetch_add(&writes_coalesced, 1, __ATOMIC_RELAXED);
    memcpy(b->wdata + b->wlen, buf, count);
    b->wlen += count;
    return (ssize_t)count;
}

unsigned long long dp_writes_coalesced(void) { return __atomic_load_n(&writes_coalesced, __ATOMIC_RELAXED); }
unsigned long long dp_write_syscalls(void) { return __atomic_load_n(&write_syscalls, __ATOMIC_RELAXED); }

unsigned long long dp_read_buffer_requests(void) { return __atomic_load_n(&requests, __ATOMIC_RELAXED); }
unsigned long long dp_read_buffer_syscalls(void) { return __atomic_load_n(&syscalls, __ATOMIC_RELAXED); }
