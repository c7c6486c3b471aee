#define _GNU_SOURCE
#include "mosquitto_read_buffer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { DP_READ_BUFFER_SIZE = 32768 };

struct dp_read_buffer {
    int fd;
    size_t start, end;
    unsigned char data[DP_READ_BUFFER_SIZE];
};

// One per MQTT network thread; NULL on every other thread, whose reads pass through.
static __thread struct dp_read_buffer *current;
static unsigned long long requests, syscalls;

int dp_read_buffer_attach(int fd) {
    if (current == NULL) {
        current = malloc(sizeof *current);
        if (current == NULL) return -1;
    }
    current->fd = fd;
    current->start = current->end = 0;
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
    if (b == NULL || fd < 0 || fd != b->fd) return read(fd, buf, count);
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

unsigned long long dp_read_buffer_requests(void) { return __atomic_load_n(&requests, __ATOMIC_RELAXED); }
unsigned long long dp_read_buffer_syscalls(void) { return __atomic_load_n(&syscalls, __ATOMIC_RELAXED); }
