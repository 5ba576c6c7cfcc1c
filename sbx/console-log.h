/* SPDX-License-Identifier: MIT */
/*
 * The guest kernel's serial console, kept in a file with a cap.  The agent
 * is root in the VM and can write to /dev/ttyS0 without end; the console
 * goes through a pipe or socket that a thread here drains into the file,
 * keeping at most `max` bytes (the note that says so included) and reading
 * and dropping the rest, so the guest is never blocked on us and the host
 * file never grows past the cap.  Both backends use it: our VMM's 8250
 * writes to a pipe, QEMU's serial chardev connects to a Unix socket.
 */
#ifndef SBX_SBX_CONSOLE_LOG_H
#define SBX_SBX_CONSOLE_LOG_H

#include <stdbool.h>
#include <stdint.h>

struct sbx_console_log;

struct sbx_console_log_stats {
	uint64_t read;		/* bytes the guest sent */
	uint64_t written;	/* bytes in the file, the note included */
	bool truncated;		/* the cap was reached */
};

/*
 * Drain `fd` (taken, closed by sbx_console_log_stop()) into `path`,
 * created or truncated (mode 0644); NULL keeps nothing.  `max` 0: no cap.
 * On failure `fd` is closed too.
 */
int sbx_console_log_start(struct sbx_console_log **out, int fd, const char *path, uint64_t max);
/*
 * Read what the writer left (it should have closed its end), stop the
 * thread and free everything.  `st` may be NULL.  NULL `cl` is a no-op.
 */
void sbx_console_log_stop(struct sbx_console_log *cl, struct sbx_console_log_stats *st);

#endif
