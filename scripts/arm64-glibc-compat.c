// Stand-ins for the four glibc 2.38 functions that Debian's prebuilt static Swift runtime calls,
// linked only into the aarch64 build for Debian 12 / Raspberry Pi OS bookworm (glibc 2.36), by
// `scripts/arm64.sh build-bookworm`. Nothing else in the binary needs a glibc newer than 2.35.
//
// - `__isoc23_strtol`, `__isoc23_strtoll`, `__isoc23_sscanf` are the C23 versions that glibc
//   2.38's headers select: they differ from the classic ones only in also reading a `0b`/`0B`
//   binary prefix for base 0 or 2 (and `%b` in scanf). The runtime uses them on environment
//   variables (SWIFT_DEBUG_*, SWIFT_BACKTRACE) and /proc files, where no binary literal occurs;
//   the stand-ins add the `0b` prefix for strtol/strtoll all the same.
// - `strlcpy` is BSD's, added to glibc in 2.38; this is its documented behaviour.
//
// Hidden visibility: the definitions serve the executable's own references and are not exported,
// so no library loaded into the process can bind to them instead of its glibc's.
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIDDEN __attribute__((visibility("hidden")))

// The part of s strtol would read, with a 0b prefix handled (base 0 or 2): NULL if there is none.
static const char *binaryDigits(const char *s, int *base, int *negative) {
    const char *p = s;
    while (isspace((unsigned char)*p)) p++;
    *negative = 0;
    if (*p == '+' || *p == '-') { *negative = (*p == '-'); p++; }
    if ((*base == 0 || *base == 2) && p[0] == '0' && (p[1] == 'b' || p[1] == 'B') && (p[2] == '0' || p[2] == '1')) {
        *base = 2;
        return p + 2;
    }
    return NULL;
}

HIDDEN long long __isoc23_strtoll(const char *restrict s, char **restrict end, int base) {
    int negative;
    const char *digits = binaryDigits(s, &base, &negative);
    if (!digits) return strtoll(s, end, base);
    int saved = errno;
    errno = 0;
    unsigned long long v = strtoull(digits, end, 2);
    if (errno == ERANGE || v > (unsigned long long)LLONG_MAX + (unsigned long long)negative) {
        errno = ERANGE;
        return negative ? LLONG_MIN : LLONG_MAX;
    }
    errno = saved;
    return negative ? (long long)(0 - v) : (long long)v;
}

HIDDEN long __isoc23_strtol(const char *restrict s, char **restrict end, int base) {
    long long v = __isoc23_strtoll(s, end, base);
    if (v > LONG_MAX) { errno = ERANGE; return LONG_MAX; }
    if (v < LONG_MIN) { errno = ERANGE; return LONG_MIN; }
    return (long)v;
}

HIDDEN int __isoc23_sscanf(const char *restrict s, const char *restrict format, ...) {
    va_list ap;
    va_start(ap, format);
    int n = vsscanf(s, format, ap);
    va_end(ap);
    return n;
}

HIDDEN size_t strlcpy(char *restrict dst, const char *restrict src, size_t size) {
    size_t n = strlen(src);
    if (size > 0) {
        size_t m = n < size - 1 ? n : size - 1;
        memcpy(dst, src, m);
        dst[m] = '\0';
    }
    return n;
}
