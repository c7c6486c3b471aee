#ifndef DEWPOINT_SERIAL_SHIM_H
#define DEWPOINT_SERIAL_SHIM_H

/// Linux termios2 (custom baud rates through BOTHER). <asm/termbits.h> clashes with <termios.h>,
/// so it lives in its own translation unit. Both return 0 or -1 with errno set.
int dp_set_custom_baud(int fd, unsigned int baud);
int dp_get_baud(int fd, unsigned int *ispeed, unsigned int *ospeed);

/// Opens a pseudo-terminal master and writes its slave's path to `name` (tests, simulators).
/// Returns the master fd, or -1 with errno set.
int dp_open_pty(char *name, unsigned long len);

#endif
