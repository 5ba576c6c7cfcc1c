// SPDX-License-Identifier: MIT
/* The "key value" text records' buffer and escaping (sbx/textrec.h). */
#include "sbx/textrec.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void textrec_add(struct textrec_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (n > SIZE_MAX / 4 - b->len) {
		b->oom = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 512;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void textrec_printf(struct textrec_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->oom = true;
		return;
	}
	textrec_add(b, tmp, (size_t)n);
}

void textrec_put_escaped(struct textrec_buf *b, const char *v)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s;

	for (s = (const unsigned char *)v; *s; s++) {
		if (*s == '\\') {
			textrec_add(b, "\\\\", 2);
		} else if (*s == '\n') {
			textrec_add(b, "\\n", 2);
		} else if (*s < 0x20 || *s == 0x7f) {
			char e[4] = { '\\', 'x', hex[*s >> 4], hex[*s & 15] };

			textrec_add(b, e, 4);
		} else {
			textrec_add(b, (const char *)s, 1);
		}
	}
}

void textrec_put_str(struct textrec_buf *b, const char *key, const char *v)
{
	if (!v)
		return;
	textrec_add(b, key, strlen(key));
	textrec_add(b, " ", 1);
	textrec_put_escaped(b, v);
	textrec_add(b, "\n", 1);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The byte a \x escape's two characters stand for, or -1. */
static int hex_byte(const char *h2, enum textrec_hex how)
{
	if (how == TEXTREC_HEX_STRTOL) {
		char h[3] = { h2[0], h2[1], 0 }, *end;
		long v = strtol(h, &end, 16);

		return *end || v <= 0 ? -1 : (int)v;
	} else {
		int hi = hexval(h2[0]), lo = hexval(h2[1]);

		return hi < 0 || lo < 0 || !(hi || lo) ? -1 : hi << 4 | lo;
	}
}

int textrec_unescape(char **out, const char *s, size_t n, enum textrec_hex hex,
		     const char *what)
{
	char *d = malloc(n + 1), *p = d;
	size_t i;
	int v;

	if (!d)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (s[i] != '\\') {
			*p++ = s[i];
		} else if (i + 1 < n && s[i + 1] == '\\') {
			*p++ = '\\';
			i++;
		} else if (i + 1 < n && s[i + 1] == 'n') {
			*p++ = '\n';
			i++;
		} else if (i + 3 < n && s[i + 1] == 'x' && (v = hex_byte(s + i + 2, hex)) > 0) {
			*p++ = (char)v;
			i += 3;
		} else {
			free(d);
			return SBX_CORRUPT("bad escape in %s", what);
		}
	}
	*p = '\0';
	*out = d;
	return 0;
}
