/* SPDX-License-Identifier: MIT */
/* Small file-system helpers for sbx/: durable writes, directory removal, locks. */
#ifndef SBX_SBX_FSUTIL_H
#define SBX_SBX_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* mkdir -p (mode 0777 & ~umask); existing directories are fine. */
int sbx_mkdirs(const char *path);
/* fsync a directory (after a rename or unlink in it). */
int sbx_fsync_dir(const char *path);
/*
 * Replace `path` atomically with `len` bytes: write "<path>.tmp.<pid>",
 * fsync, rename, fsync the directory.  Readers see the old or the new file.
 */
int sbx_write_atomic(const char *path, const void *data, size_t len);
/* Read a whole regular file of at most `max` bytes (NUL-terminated copy). */
int sbx_read_file(char **out, size_t *len, const char *path, size_t max);
/* rm -rf without following symlinks; a missing path is fine. */
int sbx_rmtree(const char *path);
/* "<a>/<b>", malloc'd; NULL when out of memory. */
char *sbx_path_join(const char *a, const char *b);
/* Is a process with this pid alive (or not ours to signal)? */
bool sbx_pid_alive(long pid);
/* How many entries (not "." or "..") a directory holds, e.g. /proc/self/task; -1 on error. */
int sbx_count_dir(const char *path);

/*
 * An advisory lock (flock) on a lock file: released by the kernel when the
 * process dies, so a crash never leaves a stale lock behind, only the file.
 * Returns SBX_ELOCKED when held elsewhere and `wait` is false.
 */
int sbx_lock(int *fd, const char *path, bool exclusive, bool wait);
void sbx_unlock(int fd);
/* Is the lock held by anyone (including this process through another fd)? */
bool sbx_lock_held(const char *path);

#endif
