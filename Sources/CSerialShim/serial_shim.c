#define _GNU_SOURCE
#include "serial_shim.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <asm/termbits.h>

int dp_set_custom_baud(int fd, unsigned int baud) {
    struct termios2 t;
    if (ioctl(fd, TCGETS2, &t) < 0) return -1;
    t.c_cflag &= ~CBAUD;
    t.c_cflag |= BOTHER;
    t.c_ispeed = baud;
    t.c_ospeed = baud;
    return ioctl(fd, TCSETS2, &t);
}

int dp_get_baud(int fd, unsigned int *ispeed, unsigned int *ospeed) {
    struct termios2 t;
    if (ioctl(fd, TCGETS2, &t) < 0) return -1;
    *ispeed = t.c_ispeed;
    *ospeed = t.c_ospeed;
    return 0;
}

int dp_open_pty(char *name, unsigned long len) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (grantpt(fd) != 0 || unlockpt(fd) != 0 || ptsname_r(fd, name, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}
