/* SPDX-License-Identifier: MIT */
/* Parsing of user-supplied sizes and durations ("512M", "1.5G", "90s", "10m"). */
#ifndef SBX_UTIL_PARSE_H
#define SBX_UTIL_PARSE_H

#include <stdint.h>

/*
 * A size with an optional binary suffix k/K, m/M, g/G, t/T (optionally
 * followed by "iB" or "B").  A bare number is multiplied by `unit` (1 for
 * bytes, 1 << 20 when a bare number means MiB, as QEMU's -m does).
 * Returns 0 or SBX_EINVAL with a message.
 */
int parse_size(const char *s, uint64_t unit, uint64_t *out);
/* A duration: a number with an optional suffix ms, s, m, h; bare = seconds. */
int parse_duration_ms(const char *s, uint64_t *out_ms);
/* A whole number in [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
