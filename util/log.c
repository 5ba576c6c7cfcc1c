// SPDX-License-Identifier: MIT
#include "util/log.h"
#include "util/quote.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool quiet;

void sbx_log_vprint(const char *prefix, const char *fmt, va_list ap)
{
	/* Escaping spells a byte in at most 4 ("\\xNN"): room for the worst line. */
	char line[2048], safe[sizeof(line) * 4];

	vsnprintf(line, sizeof(line), fmt, ap);
	/* Messages may quote the guest (util/quote.h): no raw control byte reaches a terminal. */
	sbx_quote_buf(safe, sizeof(safe), line);
	/* What stdout holds goes first; one write per message so threads do not interleave. */
	fflush(stdout);
	fprintf(stderr, "%s%s\n", prefix, safe);
}

void pr_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbx_log_vprint("error: ", fmt, ap);
	va_end(ap);
}

void pr_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbx_log_vprint("warning: ", fmt, ap);
	va_end(ap);
}

void pr_info(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	sbx_log_vprint("", fmt, ap);
	va_end(ap);
}

void sbx_log_set_quiet(bool q)
{
	quiet = q;
}

bool sbx_debug_enabled(void)
{
	static int enabled = -1;

	if (enabled < 0) {
		const char *v = getenv("SBX_DEBUG");

		enabled = v && *v && strcmp(v, "0") != 0;
	}
	return enabled;
}

void sbx_debug_at(const char *file, int line, const char *fmt, ...)
{
	static struct timespec t0;
	struct timespec now;
	char prefix[128];
	const char *base = strrchr(file, '/');
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!t0.tv_sec && !t0.tv_nsec)
		t0 = now;
	snprintf(prefix, sizeof(prefix), "debug: %8.3f %s:%d: ",
		 (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9,
		 base ? base + 1 : file, line);
	va_start(ap, fmt);
	sbx_log_vprint(prefix, fmt, ap);
	va_end(ap);
}
