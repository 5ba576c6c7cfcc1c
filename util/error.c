// SPDX-License-Identifier: MIT
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char msg[1024];

int sbx_error_vset(int code, const char *fmt, va_list ap)
{
	vsnprintf(msg, sizeof(msg), fmt, ap);
	return code;
}

int sbx_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbx_error_vset(code, fmt, ap);
	va_end(ap);
	return code;
}

int sbx_error_errno(int code, const char *fmt, ...)
{
	int saved = errno;
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = strlen(msg);
	snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(saved));
	errno = saved;
	return code;
}

int sbx_error_prefix(int code, const char *fmt, ...)
{
	char old[sizeof(msg)];
	size_t len;
	va_list ap;

	memcpy(old, msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = strlen(msg);
	if (old[0])
		snprintf(msg + len, sizeof(msg) - len, ": %s", old);
	return code;
}

int sbx_error_corrupt_at(const char *file, int line, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s (noticed at %s:%d)", what, file, line);
	return SBX_ECORRUPT;
}

const char *sbx_error(void)
{
	return msg[0] ? msg : "unknown error";
}

void sbx_error_clear(void)
{
	msg[0] = '\0';
}

const char *sbx_error_name(int code)
{
	switch (code) {
	case SBX_OK: return "ok";
	case SBX_ENOTFOUND: return "not found";
	case SBX_EEXISTS: return "exists";
	case SBX_ELOCKED: return "locked";
	case SBX_ECORRUPT: return "corrupt";
	case SBX_EUNSUPPORTED: return "unsupported";
	case SBX_ENOKVM: return "no kvm";
	case SBX_EINVAL: return "invalid argument";
	case SBX_ENOMEM: return "out of memory";
	case SBX_EIO: return "i/o error";
	case SBX_ETIMEDOUT: return "timed out";
	case SBX_ELIMIT: return "limit exceeded";
	default: return "error";
	}
}
