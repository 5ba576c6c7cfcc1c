/* SPDX-License-Identifier: MIT */
/*
 * Size arithmetic on untrusted values (disk images, guest memory, the
 * channel).  Each returns true on overflow, like the builtins they wrap.
 */
#ifndef SBX_UTIL_CHECKED_H
#define SBX_UTIL_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

#define chk_add(a, b, res) __builtin_add_overflow((a), (b), (res))
#define chk_mul(a, b, res) __builtin_mul_overflow((a), (b), (res))
#define chk_sub(a, b, res) __builtin_sub_overflow((a), (b), (res))

/* Is [off, off+len) inside [0, size)?  Never overflows. */
static inline bool range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
