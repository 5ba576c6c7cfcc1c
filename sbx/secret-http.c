// SPDX-License-Identifier: MIT
/*
 * The HTTP side of secrets: finding and rewriting a request head (RFC 9112
 * section 2-6, strictly: CRLF line ends, no obs-fold, no space before a
 * colon, token names), and looking for sentinels in bytes.
 */
#include "sbx/secret.h"
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int sbx_http_head_len(size_t *out, const char *buf, size_t len, size_t max)
{
	const char *p = len >= 4 ? memmem(buf, len, "\r\n\r\n", 4) : NULL;

	*out = 0;
	if (p && (size_t)(p - buf) + 4 <= max) {
		*out = (size_t)(p - buf) + 4;
		return 0;
	}
	if (p || len >= max)
		return sbx_error_set(SBX_ELIMIT, "request head over %zu bytes", max);
	return 0;
}

const struct sbx_secret *sbx_secret_find_sentinel(const char *buf, size_t len,
						  const struct sbx_secret *const *secrets,
						  size_t nsecrets)
{
	size_t i;

	for (i = 0; i < nsecrets; i++)
		if (secrets[i]->sentinel_len && len >= secrets[i]->sentinel_len &&
		    memmem(buf, len, secrets[i]->sentinel, secrets[i]->sentinel_len))
			return secrets[i];
	return NULL;
}

void sbx_sentinel_scan_init(struct sbx_sentinel_scan *s, const struct sbx_secret *const *secrets,
			    size_t nsecrets)
{
	s->secrets = secrets;
	s->nsecrets = nsecrets;
	s->ntail = 0;
}

const struct sbx_secret *sbx_sentinel_scan_feed(struct sbx_sentinel_scan *s, const void *data,
						size_t len)
{
	const char *d = data;
	char joint[2 * SBX_SENTINEL_MAX];
	const struct sbx_secret *hit;
	size_t keep = SBX_SENTINEL_MAX - 1, take, n;

	/* A sentinel split across calls lies within the old tail and the first bytes. */
	take = len < keep ? len : keep;
	memcpy(joint, s->tail, s->ntail);
	memcpy(joint + s->ntail, d, take);
	if ((hit = sbx_secret_find_sentinel(joint, s->ntail + take, s->secrets, s->nsecrets)))
		return hit;
	if ((hit = sbx_secret_find_sentinel(d, len, s->secrets, s->nsecrets)))
		return hit;
	/* The new tail: the last `keep` bytes of tail + data. */
	n = s->ntail + take;
	if (len > take) {
		memcpy(s->tail, d + len - keep, keep);
		s->ntail = keep;
	} else if (n > keep) {
		memcpy(s->tail, joint + n - keep, keep);
		s->ntail = keep;
	} else {
		memcpy(s->tail, joint, n);
		s->ntail = n;
	}
	return NULL;
}

static int block(struct sbx_secret_verdict *v, bool exfil, const char *fmt, ...) SBX_PRINTF(3, 4);

static int block(struct sbx_secret_verdict *v, bool exfil, const char *fmt, ...)
{
	va_list ap;

	v->blocked = true;
	v->exfil = exfil;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
	return 0;
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Output assembly: pieces of the input with replaced values in between. */
struct obuf {
	char *p;
	size_t n, cap;
	int err;
};

static void oput(struct obuf *o, const void *d, size_t n)
{
	if (o->err)
		return;
	if (o->n + n > o->cap) {
		size_t cap = (o->n + n) * 2;
		char *np = malloc(cap);

		if (!np) {
			o->err = sbx_error_set(SBX_ENOMEM, "out of memory");
			return;
		}
		/* Never realloc: the old buffer may hold a real value and is cleared first. */
		if (o->n)
			memcpy(np, o->p, o->n);
		if (o->p)
			explicit_bzero(o->p, o->cap);
		free(o->p);
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->n, d, n);
	o->n += n;
}

static void odrop(struct obuf *o)
{
	if (o->p)
		explicit_bzero(o->p, o->cap);
	free(o->p);
	o->p = NULL;
}

static void trim_ows(const char **b, const char **e)
{
	while (*b < *e && (**b == ' ' || **b == '\t'))
		(*b)++;
	while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

static bool name_is(const char *n, size_t nlen, const char *want)
{
	return strlen(want) == nlen && !strncasecmp(n, want, nlen);
}

/* Whether [b, e) is exactly s's prefix (case-insensitive scheme) and sentinel. */
static bool is_placeholder(const struct sbx_secret *s, const char *b, const char *e)
{
	size_t pl = strlen(s->prefix), len = (size_t)(e - b);

	return len == pl + s->sentinel_len && !strncasecmp(b, s->prefix, pl) &&
	       !memcmp(b + pl, s->sentinel, s->sentinel_len);
}

static int header(struct sbx_secret_verdict *v, struct obuf *o, const char *line, const char *eol,
		  const char *host, uint16_t port, bool tls, const struct sbx_secret *const *secrets,
		  size_t n)
{
	const char *colon = memchr(line, ':', (size_t)(eol - line)), *vb, *ve, *p;
	const struct sbx_secret *hit;
	size_t nlen, i;

	if (!colon || colon == line)
		return block(v, false, "malformed header line");
	nlen = (size_t)(colon - line);
	for (p = line; p < colon; p++)
		if (!is_tchar((unsigned char)*p))
			return block(v, false, "malformed header name");
	vb = colon + 1;
	ve = eol;
	for (p = vb; p < ve; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return block(v, false, "control character in a header value");
	trim_ows(&vb, &ve);
	for (i = 0; i < n; i++) {
		const struct sbx_secret *s = secrets[i];

		if (!name_is(line, nlen, s->header) || !is_placeholder(s, vb, ve))
			continue;
		if (!sbx_secret_for_host(s, host, port))
			return block(v, true, "sentinel of secret '%s' sent to %s (its host is %s)",
				     s->name, host, s->host);
		if (!tls && !s->allow_http)
			return block(v, true, "secret '%s' is not sent over plain HTTP (set sbx-secret.%s.allowHttp)",
				     s->name, s->name);
		oput(o, line, (size_t)(vb - line));
		oput(o, s->prefix, strlen(s->prefix));
		oput(o, s->value, s->value_len);
		oput(o, ve, (size_t)(eol - ve));
		oput(o, "\r\n", 2);
		v->substituted++;
		return 0;
	}
	if ((hit = sbx_secret_find_sentinel(line, (size_t)(eol - line), secrets, n)))
		return block(v, true, "sentinel of secret '%s' in header '%.*s' to %s", hit->name,
			     (int)(nlen > 64 ? 64 : nlen), line, host);
	if (name_is(line, nlen, "content-length")) {
		uint64_t x = 0;

		if (v->body != SBX_BODY_NONE || vb == ve)
			return block(v, false, "repeated or conflicting message framing");
		for (p = vb; p < ve; p++) {
			if (*p < '0' || *p > '9' || x > (UINT64_MAX - 9) / 10)
				return block(v, false, "bad Content-Length");
			x = x * 10 + (uint64_t)(*p - '0');
		}
		v->body = SBX_BODY_LENGTH;
		v->length = x;
	} else if (name_is(line, nlen, "transfer-encoding")) {
		size_t l = (size_t)(ve - vb);

		/* Only "chunked" alone: a coding list is legal but nothing we relay needs it. */
		if (v->body != SBX_BODY_NONE || l != 7 || strncasecmp(vb, "chunked", 7))
			return block(v, false, "unsupported or conflicting Transfer-Encoding");
		v->body = SBX_BODY_CHUNKED;
	} else if (name_is(line, nlen, "upgrade")) {
		v->upgrade = true;
	}
	oput(o, line, (size_t)(eol - line));
	oput(o, "\r\n", 2);
	return 0;
}

int sbx_secret_rewrite_head(char **out, size_t *out_len, struct sbx_secret_verdict *v,
			    const char *head, size_t len, const char *host, uint16_t port, bool tls,
			    const struct sbx_secret *const *secrets, size_t nsecrets)
{
	struct obuf o = { NULL, 0, 0, 0 };
	const char *end = head + len, *line, *eol, *sp1, *sp2;
	const struct sbx_secret *hit;
	unsigned nh = 0;
	int err = 0;

	*out = NULL;
	*out_len = 0;
	memset(v, 0, sizeof(*v));
	if (len < 4 || memcmp(end - 4, "\r\n\r\n", 4) || memmem(head, len, "\r\n\r\n", 4) != end - 4)
		return sbx_error_set(SBX_EINVAL, "not one request head");
	if (memchr(head, '\0', len))
		return block(v, false, "NUL byte in the request head");
	/* The request line: method SP target SP version. */
	eol = memmem(head, len, "\r\n", 2);
	sp1 = memchr(head, ' ', (size_t)(eol - head));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 == head || sp2 == sp1 + 1 || (size_t)(sp1 - head) >= sizeof(v->method))
		return block(v, false, "malformed request line");
	for (line = head; line < sp1; line++)
		if (!is_tchar((unsigned char)*line))
			return block(v, false, "malformed request method");
	for (line = sp1 + 1; line < sp2; line++)
		if ((unsigned char)*line <= 0x20 || *line == 0x7f)
			return block(v, false, "malformed request target");
	if ((size_t)(eol - sp2 - 1) != 8 || (memcmp(sp2 + 1, "HTTP/1.1", 8) && memcmp(sp2 + 1, "HTTP/1.0", 8)))
		return block(v, false, "not an HTTP/1.x request");
	memcpy(v->method, head, (size_t)(sp1 - head));
	v->method[sp1 - head] = '\0';
	snprintf(v->path, sizeof(v->path), "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
	if ((hit = sbx_secret_find_sentinel(head, (size_t)(eol - head), secrets, nsecrets)))
		return block(v, true, "sentinel of secret '%s' in the request line to %s", hit->name, host);
	oput(&o, head, (size_t)(eol - head) + 2);
	for (line = eol + 2; line < end - 2; line = eol + 2) {
		eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (memchr(line, '\n', (size_t)(eol - line)) || memchr(line, '\r', (size_t)(eol - line))) {
			block(v, false, "bare CR or LF in the request head");
			goto out;
		}
		if (*line == ' ' || *line == '\t') {
			block(v, false, "obsolete line folding in the request head");
			goto out;
		}
		if (++nh > SBX_HTTP_HEADERS_MAX) {
			block(v, false, "more than %u request headers", SBX_HTTP_HEADERS_MAX);
			goto out;
		}
		if ((err = header(v, &o, line, eol, host, port, tls, secrets, nsecrets)) || v->blocked)
			goto out;
	}
	oput(&o, "\r\n", 2);
	if ((err = o.err))
		goto out;
	*out = o.p;
	*out_len = o.n;
	o.p = NULL;
out:
	odrop(&o);
	return err;
}
