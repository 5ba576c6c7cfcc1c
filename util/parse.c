// SPDX-License-Identifier: MIT
#include "util/parse.h"
#include "util/error.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int number(const char *s, double *out, const char **end)
{
	char *e;

	if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	*out = strtod(s, &e);
	if (e == s || errno || !isfinite(*out) || *out < 0)
		return -1;
	*end = e;
	return 0;
}

int parse_size(const char *s, uint64_t unit, uint64_t *out)
{
	const char *end;
	double v, mul;

	if (number(s, &v, &end))
		return sbx_error_set(SBX_EINVAL, "'%s' is not a size", s ? s : "");
	switch (*end) {
	case '\0': mul = (double)unit; break;
	case 'b': case 'B': mul = 1; end++; break;
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	case 't': case 'T': mul = 1ULL << 40; end++; break;
	default: return sbx_error_set(SBX_EINVAL, "'%s' is not a size (use a suffix K, M, G or T)", s);
	}
	if (mul != 1 && *end && strcasecmp(end, "iB") && strcasecmp(end, "B"))
		return sbx_error_set(SBX_EINVAL, "'%s' is not a size (use a suffix K, M, G or T)", s);
	if (mul == 1 && *end)
		return sbx_error_set(SBX_EINVAL, "'%s' is not a size", s);
	v *= mul;
	if (v >= 18446744073709551616.0)
		return sbx_error_set(SBX_EINVAL, "size '%s' is too large", s);
	if (v != floor(v))
		return sbx_error_set(SBX_EINVAL, "size '%s' is not a whole number of bytes", s);
	*out = (uint64_t)v;
	return 0;
}

int parse_duration_ms(const char *s, uint64_t *out_ms)
{
	const char *end;
	double v, mul;

	if (number(s, &v, &end))
		return sbx_error_set(SBX_EINVAL, "'%s' is not a duration", s ? s : "");
	if (!*end || !strcmp(end, "s"))
		mul = 1000;
	else if (!strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "m") || !strcmp(end, "min"))
		mul = 60000;
	else if (!strcmp(end, "h"))
		mul = 3600000;
	else
		return sbx_error_set(SBX_EINVAL, "'%s' is not a duration (use a suffix ms, s, m or h)", s);
	v *= mul;
	if (v >= 9.2e18)
		return sbx_error_set(SBX_EINVAL, "duration '%s' is too long", s);
	*out_ms = (uint64_t)v;
	return 0;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *e;

	if (!s || !isdigit((unsigned char)*s))
		return sbx_error_set(SBX_EINVAL, "'%s' is not a whole number", s ? s : "");
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno || *e)
		return sbx_error_set(SBX_EINVAL, "'%s' is not a whole number", s);
	if (v < min || v > max)
		return sbx_error_set(SBX_EINVAL, "%s is out of range (%llu..%llu)", s,
				     (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}
