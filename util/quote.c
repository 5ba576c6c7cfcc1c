// SPDX-License-Identifier: MIT
/* Guest text made safe for a terminal: see util/quote.h. */
#include "util/quote.h"

#include <stdlib.h>
#include <string.h>

static const char hex[] = "0123456789abcdef";

int sbx_utf8_char(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* past U+10FFFF */
	} else {
		return -1;		/* a continuation byte, C0/C1 (overlong), F5..FF */
	}
	for (i = 1; i < need; i++) {
		if (i >= n)
			return 0;
		if (p[i] < lo || p[i] > hi)
			return -1;
		lo = 0x80;
		hi = 0xbf;
		v = (v << 6) | (p[i] & 0x3f);
	}
	*cp = v;
	return (int)need;
}

static size_t escape_byte(char *out, unsigned char c)
{
	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 15];
	return 4;
}

/*
 * One unit of input at `p` (`n` bytes; `end`: nothing follows them) into
 * `out` (at least 6 bytes).  Returns the bytes written and sets *used;
 * *used = 0 when the bytes start a character the next chunk may complete.
 */
static size_t quote_unit(char *out, const unsigned char *p, size_t n, bool end, size_t *used)
{
	uint32_t cp;
	int len = sbx_utf8_char(p, n, &cp);

	if (len == 0 && !end) {
		*used = 0;
		return 0;
	}
	if (len <= 0) {
		*used = 1;
		return escape_byte(out, p[0]);
	}
	*used = (size_t)len;
	if ((cp < 0x20 && cp != '\t' && cp != '\n') || cp == 0x7f) {
		out[0] = '^';
		out[1] = (char)(cp ^ 0x40);
		return 2;
	}
	if (cp >= 0x80 && cp <= 0x9f) {
		memcpy(out, "\\u00", 4);
		out[4] = hex[cp >> 4];
		out[5] = hex[cp & 15];
		return 6;
	}
	memcpy(out, p, (size_t)len);
	return (size_t)len;
}

size_t sbx_quote_mem(struct sbx_quote *q, char *out, const void *in, size_t len)
{
	const unsigned char *p = in;
	size_t o = 0, i = 0, used;

	/* First the character the last chunk cut, completed from this one. */
	while (q->npend) {
		unsigned char buf[8];
		size_t k = len - i < 4 ? len - i : 4, nb;

		memcpy(buf, q->pend, q->npend);
		memcpy(buf + q->npend, p + i, k);
		nb = q->npend + k;
		o += quote_unit(out + o, buf, nb, false, &used);
		if (!used) {		/* still cut: all of this chunk is in it */
			memcpy(q->pend, buf, nb);
			q->npend = (unsigned)nb;
			return o;
		}
		if (used >= q->npend) {
			i += used - q->npend;
			q->npend = 0;
		} else {		/* an invalid byte: look again at the rest */
			memmove(q->pend, q->pend + used, q->npend - used);
			q->npend -= (unsigned)used;
		}
	}
	while (i < len) {
		o += quote_unit(out + o, p + i, len - i, false, &used);
		if (!used) {
			memcpy(q->pend, p + i, len - i);
			q->npend = (unsigned)(len - i);
			break;
		}
		i += used;
	}
	return o;
}

size_t sbx_quote_end(struct sbx_quote *q, char *out)
{
	size_t o = 0, i;

	for (i = 0; i < q->npend; i++)
		o += escape_byte(out + o, q->pend[i]);
	q->npend = 0;
	return o;
}

char *sbx_quote_str(const char *s)
{
	struct sbx_quote q = SBX_QUOTE_INIT;
	size_t len = strlen(s), o;
	char *out = malloc(SBX_QUOTE_MAX(len) + 1);

	if (!out)
		return NULL;
	o = sbx_quote_mem(&q, out, s, len);
	o += sbx_quote_end(&q, out + o);
	out[o] = 0;
	return out;
}

size_t sbx_quote_buf(char *out, size_t size, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, n = strlen(s), used;
	char unit[8];

	if (!size)
		return 0;
	while (n) {
		size_t k = quote_unit(unit, p, n, true, &used);

		if (o + k >= size)
			break;
		memcpy(out + o, unit, k);
		o += k;
		p += used;
		n -= used;
	}
	out[o] = 0;
	return o;
}

int sbx_quote_fputs(const char *s, FILE *f)
{
	char *q = sbx_quote_str(s);
	int rc;

	if (!q) {		/* out of memory: say so rather than print raw */
		return fputs("(out of memory)", f);
	}
	rc = fputs(q, f);
	free(q);
	return rc;
}

void sbx_tail_add(char *tail, size_t *tail_len, size_t max, const void *data, size_t len)
{
	const char *d = data;

	if (len >= max) {
		memcpy(tail, d + len - max, max);
		*tail_len = max;
	} else {
		if (*tail_len + len > max) {
			size_t drop = *tail_len + len - max;

			memmove(tail, tail + drop, *tail_len - drop);
			*tail_len -= drop;
		}
		memcpy(tail + *tail_len, d, len);
		*tail_len += len;
	}
	tail[*tail_len] = 0;
}

const char *sbx_tail_last_line(char *tail, size_t tail_len)
{
	char *end, *start;
	size_t i;

	for (i = 0; i < tail_len; i++)
		if (((unsigned char)tail[i] < 0x20 && tail[i] != '\n') ||
		    (unsigned char)tail[i] >= 0x7f)
			tail[i] = '?';
	tail[tail_len] = 0;
	end = tail + tail_len;
	while (end > tail && end[-1] == '\n')
		*--end = 0;
	start = strrchr(tail, '\n');
	start = start ? start + 1 : tail;
	return *start ? start : "no message";
}
