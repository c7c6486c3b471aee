// Checks the glibc stand-ins of arm64-glibc-compat.c (run by scripts/arm64.sh build-bookworm, on
// this machine and under emulation in the bookworm tree): cc this file arm64-glibc-compat.c && ./a.out
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
long __isoc23_strtol(const char *, char **, int);
long long __isoc23_strtoll(const char *, char **, int);
int __isoc23_sscanf(const char *, const char *, ...);
size_t strlcpy(char *, const char *, size_t);
int main(void) {
  char *e; int bad = 0; char buf[4];
#define CHECK(c) do { if (!(c)) { printf("FAIL: %s\n", #c); bad = 1; } } while (0)
  CHECK(__isoc23_strtol("42", &e, 10) == 42 && *e == 0);
  CHECK(__isoc23_strtol("  -0x1f z", &e, 0) == -31 && *e == ' ');
  CHECK(__isoc23_strtol("0b101", &e, 0) == 5 && *e == 0);
  CHECK(__isoc23_strtol("-0b11", &e, 2) == -3);
  CHECK(__isoc23_strtol("0b2", &e, 0) == 0 && *e == 'b');
  CHECK(__isoc23_strtoll("0b" "1111111111111111111111111111111111111111111111111111111111111111", &e, 0) == LLONG_MAX && errno == ERANGE);
  errno = 0;
  CHECK(__isoc23_strtoll("9223372036854775807", &e, 10) == LLONG_MAX && errno == 0);
  int a = 0, b = 0; CHECK(__isoc23_sscanf("12 34", "%d %d", &a, &b) == 2 && a == 12 && b == 34);
  CHECK(strlcpy(buf, "hello", sizeof buf) == 5 && strcmp(buf, "hel") == 0);
  CHECK(strlcpy(buf, "hi", sizeof buf) == 2 && strcmp(buf, "hi") == 0);
  CHECK(strlcpy(buf, "x", 0) == 1 && strcmp(buf, "hi") == 0);
  if (!bad) printf("glibc stand-ins: 11 checks passed\n");
  return bad;
}
