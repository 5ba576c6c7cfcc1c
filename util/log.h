/* SPDX-License-Identifier: MIT */
/*
 * Messages on stderr, git-style: "error: ...", "warning: ...".  pr_info goes
 * to stderr without prefix (progress and notes); pr_debug prints only when
 * SBX_DEBUG=1 is in the environment, prefixed with the time since start.
 */
#ifndef SBX_UTIL_LOG_H
#define SBX_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include "util/error.h"

void pr_err(const char *fmt, ...) SBX_PRINTF(1, 2);
/* "<prefix><message>\n" on stderr, escaped, in one write (cmd/'s die() and error() use it). */
void sbx_log_vprint(const char *prefix, const char *fmt, va_list ap) SBX_PRINTF(2, 0);
void pr_warn(const char *fmt, ...) SBX_PRINTF(1, 2);
void pr_info(const char *fmt, ...) SBX_PRINTF(1, 2);
void sbx_debug_at(const char *file, int line, const char *fmt, ...) SBX_PRINTF(3, 4);
bool sbx_debug_enabled(void);
/* Silence pr_info (e.g. --quiet); errors and warnings still print. */
void sbx_log_set_quiet(bool quiet);

#define pr_debug(...)							\
	do {								\
		if (sbx_debug_enabled())				\
			sbx_debug_at(__FILE__, __LINE__, __VA_ARGS__);	\
	} while (0)

#endif
