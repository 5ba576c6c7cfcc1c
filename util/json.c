// SPDX-License-Identifier: MIT
#include "util/json.h"
#include "util/error.h"
#include "util/quote.h"

#include <stdlib.h>
#include <string.h>

json_t *sbx_json_strn(const char *s, size_t len)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = len, used = 0;
	json_t *v;
	char *buf;

	if (!s)
		return json_null();
	/* Each byte becomes at most three (U+FFFD). */
	buf = malloc(3 * len + 1);
	if (!buf)
		return NULL;
	while (n) {
		uint32_t cp;
		int l = p[0] ? sbx_utf8_char(p, n, &cp) : -1;

		if (l <= 0) {
			/* Not UTF-8 (or a NUL, which jansson's strings may not hold). */
			memcpy(buf + used, fffd, 3);
			used += 3;
			p++;
			n--;
			continue;
		}
		memcpy(buf + used, p, (size_t)l);
		used += (size_t)l;
		p += l;
		n -= (size_t)l;
	}
	v = json_stringn_nocheck(buf, used);
	free(buf);
	return v;
}

json_t *sbx_json_str(const char *s)
{
	return sbx_json_strn(s, s ? strlen(s) : 0);
}

int sbx_json_set(json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v))
		return sbx_error_set(SBX_ENOMEM, "out of memory building JSON");
	return 0;
}

/*
 * jansson's text is valid UTF-8 in which a backslash only starts an escape
 * inside a string, DEL (0x7f) occurs only inside strings and 0xc2 only
 * starts U+0080..U+00BF: so escaping them here is exact.
 */
char *sbx_json_dumps(const json_t *v, size_t flags)
{
	static const char hex[] = "0123456789abcdef";
	char *raw = json_dumps(v, flags | JSON_ENCODE_ANY), *out, *o;
	const unsigned char *p;

	if (!raw)
		return NULL;
	/* At most 6 bytes for each input byte (DEL -> \u007f). */
	out = malloc(6 * strlen(raw) + 1);
	if (!out) {
		free(raw);
		return NULL;
	}
	for (p = (const unsigned char *)raw, o = out; *p;) {
		if (p[0] == '\\' && p[1] == 'u') {
			int i;

			*o++ = '\\';
			*o++ = 'u';
			p += 2;
			for (i = 0; i < 4 && *p; i++, p++)
				*o++ = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
		} else if (p[0] == '\\' && p[1]) {
			*o++ = (char)*p++;
			*o++ = (char)*p++;
		} else if (p[0] == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
			unsigned c = p[0] == 0x7f ? 0x7f : p[1];

			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
			p += p[0] == 0x7f ? 1 : 2;
		} else {
			*o++ = (char)*p++;
		}
	}
	*o = 0;
	free(raw);
	return out;
}

int sbx_json_print(FILE *f, const json_t *v, size_t flags)
{
	char *s = sbx_json_dumps(v, flags);
	int err = 0;

	if (!s)
		return sbx_error_set(SBX_ENOMEM, "cannot serialise JSON (out of memory)");
	if (fputs(s, f) == EOF)
		err = sbx_error_errno(SBX_EIO, "cannot write JSON");
	free(s);
	return err;
}
