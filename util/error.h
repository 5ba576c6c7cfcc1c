/* SPDX-License-Identifier: MIT */
/*
 * Error conventions shared by every layer (util/ is the bottom layer: cmd/,
 * sbx/, vmm/ and snapshot/ may all use it; it uses none of them).
 *
 * Library functions return 0 on success or one of the negative codes below
 * and leave a human-readable message in a thread-local buffer that
 * sbx_error() returns.  Callers pass codes up unchanged; only cmd/ prints
 * and exits.
 */
#ifndef SBX_UTIL_ERROR_H
#define SBX_UTIL_ERROR_H

#include <stdarg.h>

enum sbx_error_code {
	SBX_OK = 0,
	SBX_ERROR = -1,		/* generic failure */
	SBX_ENOTFOUND = -2,	/* a named thing does not exist */
	SBX_EEXISTS = -3,	/* a thing to be created already exists */
	SBX_ELOCKED = -4,	/* somebody else holds the lock */
	SBX_ECORRUPT = -5,	/* data from a file or the guest is malformed */
	SBX_EUNSUPPORTED = -6,	/* valid, but a feature we do not implement */
	SBX_ENOKVM = -7,	/* /dev/kvm missing or unusable */
	SBX_EINVAL = -8,	/* bad argument from our caller or the user */
	SBX_ENOMEM = -9,	/* out of memory */
	SBX_EIO = -10,		/* an I/O error from the host */
	SBX_ETIMEDOUT = -11,	/* a deadline passed */
	SBX_ELIMIT = -12,	/* a size or count limit was exceeded */
};

#if defined(__GNUC__)
#define SBX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SBX_PRINTF(a, b)
#endif

/* Set the message for this thread and return `code` (for `return sbx_error_set(...)`). */
int sbx_error_set(int code, const char *fmt, ...) SBX_PRINTF(2, 3);
int sbx_error_vset(int code, const char *fmt, va_list ap) SBX_PRINTF(2, 0);
/* Like sbx_error_set, with ": strerror(errno)" appended (errno read on entry). */
int sbx_error_errno(int code, const char *fmt, ...) SBX_PRINTF(2, 3);
/* Prefix the current message with "<fmt>: " and return `code`. */
int sbx_error_prefix(int code, const char *fmt, ...) SBX_PRINTF(2, 3);
/* The last message set on this thread; never NULL. */
const char *sbx_error(void);
void sbx_error_clear(void);
/* A short name for a code, e.g. "corrupt". */
const char *sbx_error_name(int code);

/*
 * Data from a disk image, a guest or the channel is never assert()ed: the
 * code that notices says where it noticed (SQLite's SQLITE_CORRUPT_BKPT).
 */
#define SBX_CORRUPT(...) sbx_error_corrupt_at(__FILE__, __LINE__, __VA_ARGS__)
int sbx_error_corrupt_at(const char *file, int line, const char *fmt, ...) SBX_PRINTF(3, 4);

#endif
