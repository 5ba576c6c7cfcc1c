// SPDX-License-Identifier: MIT
/*
 * The guest's request stream towards a secret's host: heads rewritten
 * (sbx_secret_rewrite_head), bodies passed by their framing and scanned.
 */
#include "sbx/req-stream.h"
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_LINE_MAX 1024
#define TRAILER_MAX SBX_HTTP_HEAD_MAX

static int fail(struct sbx_req_stream *r, int code, bool exfil, const char *fmt, ...) SBX_PRINTF(4, 5);

static int fail(struct sbx_req_stream *r, int code, bool exfil, const char *fmt, ...)
{
	va_list ap;

	if (r->err)
		return r->err;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	r->exfil |= exfil;
	r->err = sbx_error_set(code, "%s", r->reason);
	return r->err;
}

static int out_put(struct sbx_req_stream *r, const void *d, size_t n)
{
	if (r->out_n + n > r->out_cap) {
		size_t cap = (r->out_n + n) * 2;
		char *np = malloc(cap);

		if (!np)
			return fail(r, SBX_ENOMEM, false, "out of memory");
		if (r->out_n)
			memcpy(np, r->out, r->out_n);
		if (r->out)
			explicit_bzero(r->out, r->out_cap);
		free(r->out);
		r->out = np;
		r->out_cap = cap;
	}
	memcpy(r->out + r->out_n, d, n);
	r->out_n += n;
	return 0;
}

static void in_consume(struct sbx_req_stream *r, size_t n)
{
	memmove(r->in, r->in + n, r->in_n - n);
	r->in_n -= n;
}

/* Pass n body bytes from the input, scanned for sentinels. */
static int pass_body(struct sbx_req_stream *r, size_t n)
{
	const struct sbx_secret *hit = sbx_sentinel_scan_feed(&r->scan, r->in, n);

	if (hit)
		return fail(r, SBX_EINVAL, true, "sentinel of secret '%s' in a request body to %s",
			    hit->name, r->host);
	if (out_put(r, r->in, n))
		return r->err;
	in_consume(r, n);
	return 0;
}

static int on_head(struct sbx_req_stream *r, size_t hlen)
{
	struct sbx_secret_verdict v;
	char *out = NULL;
	size_t olen = 0;
	int err;

	r->later = r->requests > 0;
	err = sbx_secret_rewrite_head(&out, &olen, &v, r->in, hlen, r->host, r->port, r->tls,
				      r->secrets, r->nsecrets);
	if (err)
		return fail(r, err, false, "%s", sbx_error());
	if (r->requests == 0) {
		snprintf(r->method, sizeof(r->method), "%s", v.method);
		snprintf(r->path, sizeof(r->path), "%s", v.path);
	}
	if (!v.blocked && v.upgrade)
		snprintf(v.reason, sizeof(v.reason), "protocol upgrade refused on a secret's host"), v.blocked = true;
	if (!v.blocked && !strcmp(v.method, "CONNECT"))
		snprintf(v.reason, sizeof(v.reason), "CONNECT inside an intercepted connection"), v.blocked = true;
	if (v.blocked) {
		if (out)
			explicit_bzero(out, olen);
		free(out);
		return fail(r, SBX_EINVAL, v.exfil, "%s", v.reason);
	}
	err = out_put(r, out, olen);
	explicit_bzero(out, olen);
	free(out);
	if (err)
		return err;
	in_consume(r, hlen);
	r->requests++;
	sbx_sentinel_scan_init(&r->scan, (const struct sbx_secret *const *)r->foreign, r->nforeign);
	if (v.body == SBX_BODY_LENGTH) {
		r->left = v.length;
		r->st = v.length ? R_BODY : R_HEAD;
	} else if (v.body == SBX_BODY_CHUNKED) {
		r->st = R_CHUNK_LINE;
	} else {
		r->st = R_HEAD;
	}
	return 0;
}

/* No bare CR or LF (or other controls but HTAB) in a line: no second opinion on where it ends. */
static bool clean_line(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (((unsigned char)p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return false;
	return true;
}

/* "<hex>[;ext]\r\n": sizes up to 2^40. */
static int on_chunk_line(struct sbx_req_stream *r, size_t llen)
{
	uint64_t size = 0;
	size_t i;
	int digits = 0;

	if (!clean_line(r->in, llen - 2))
		return fail(r, SBX_EINVAL, false, "control character in a chunk line to %s", r->host);
	for (i = 0; i < llen - 2; i++) {
		char c = r->in[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			break;
		if (++digits > 10)
			return fail(r, SBX_EINVAL, false, "chunk size too large in a request to %s", r->host);
		size = size * 16 + (uint64_t)d;
	}
	if (!digits || (i < llen - 2 && r->in[i] != ';' && r->in[i] != ' ' && r->in[i] != '\t'))
		return fail(r, SBX_EINVAL, false, "malformed chunk size in a request to %s", r->host);
	if (sbx_secret_find_sentinel(r->in, llen, r->secrets, r->nsecrets))
		return fail(r, SBX_EINVAL, true, "sentinel in a chunk extension to %s", r->host);
	if (out_put(r, r->in, llen))
		return r->err;
	in_consume(r, llen);
	r->left = size;
	r->st = size ? R_CHUNK_DATA : R_TRAILER;
	r->trailer_bytes = 0;
	return 0;
}

/* Parse what cin holds; returns with cin holding an incomplete piece only. */
static int process(struct sbx_req_stream *r)
{
	for (;;) {
		const char *eol;
		size_t n;

		if (r->err)
			return r->err;
		if (!r->in_n)
			return 0;
		switch (r->st) {
		case R_HEAD:
			if (sbx_http_head_len(&n, r->in, r->in_n, SBX_HTTP_HEAD_MAX))
				return fail(r, SBX_ELIMIT, false, "request head over %u bytes to %s",
					    SBX_HTTP_HEAD_MAX, r->host);
			if (!n)
				return 0;
			if (on_head(r, n))
				return r->err;
			break;
		case R_BODY:
		case R_CHUNK_DATA:
			n = r->in_n < r->left ? r->in_n : (size_t)r->left;
			if (pass_body(r, n))
				return r->err;
			r->left -= n;
			if (!r->left)
				r->st = r->st == R_BODY ? R_HEAD : R_CHUNK_CRLF;
			break;
		case R_CHUNK_CRLF:
			if (r->in_n < 2)
				return 0;
			if (r->in[0] != '\r' || r->in[1] != '\n')
				return fail(r, SBX_EINVAL, false, "malformed chunk in a request to %s", r->host);
			if (out_put(r, "\r\n", 2))
				return r->err;
			in_consume(r, 2);
			r->st = R_CHUNK_LINE;
			break;
		case R_CHUNK_LINE:
			eol = memmem(r->in, r->in_n < CHUNK_LINE_MAX ? r->in_n : CHUNK_LINE_MAX, "\r\n", 2);
			if (!eol && r->in_n >= CHUNK_LINE_MAX)
				return fail(r, SBX_ELIMIT, false, "chunk line too long to %s", r->host);
			if (!eol)
				return 0;
			if (on_chunk_line(r, (size_t)(eol - r->in) + 2))
				return r->err;
			break;
		case R_TRAILER:
			/* A trailer line, or the blank line that ends the message. */
			eol = memmem(r->in, r->in_n, "\r\n", 2);
			if (!eol && r->in_n >= TRAILER_MAX)
				return fail(r, SBX_ELIMIT, false, "trailer too long to %s", r->host);
			if (!eol)
				return 0;
			n = (size_t)(eol - r->in) + 2;
			r->trailer_bytes += n;
			if (r->trailer_bytes > TRAILER_MAX)
				return fail(r, SBX_ELIMIT, false, "trailers over %u bytes to %s", TRAILER_MAX,
					    r->host);
			if (!clean_line(r->in, n - 2) || r->in[0] == ' ' || r->in[0] == '\t')
				return fail(r, SBX_EINVAL, false, "malformed trailer in a request to %s", r->host);
			if (sbx_secret_find_sentinel(r->in, n, r->secrets, r->nsecrets))
				return fail(r, SBX_EINVAL, true, "sentinel in a request trailer to %s", r->host);
			if (out_put(r, r->in, n))
				return r->err;
			in_consume(r, n);
			if (n == 2)
				r->st = R_HEAD;
			break;
		}
	}
}

int sbx_req_stream_init(struct sbx_req_stream *r, const char *host, uint16_t port, bool tls,
			const struct sbx_secret *const *secrets, size_t nsecrets)
{
	memset(r, 0, sizeof(*r));
	r->host = host;
	r->port = port;
	r->tls = tls;
	r->secrets = secrets;
	r->nsecrets = nsecrets;
	r->in = malloc(SBX_REQ_STREAM_IN_CAP);
	r->foreign = calloc(nsecrets ? nsecrets : 1, sizeof(*r->foreign));
	if (!r->in || !r->foreign) {
		sbx_req_stream_clear(r);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < nsecrets; i++)
		if (!sbx_secret_for_host(secrets[i], host, port))
			r->foreign[r->nforeign++] = secrets[i];
	return 0;
}

void sbx_req_stream_clear(struct sbx_req_stream *r)
{
	free(r->foreign);
	r->foreign = NULL;
	r->nforeign = 0;
	free(r->in);
	if (r->out)
		explicit_bzero(r->out, r->out_cap);
	free(r->out);
	r->in = r->out = NULL;
	r->in_n = r->out_n = r->out_off = r->out_cap = 0;
}

char *sbx_req_stream_space(struct sbx_req_stream *r, size_t *space)
{
	*space = r->err ? 0 : SBX_REQ_STREAM_IN_CAP - r->in_n;
	return r->in + r->in_n;
}

int sbx_req_stream_push(struct sbx_req_stream *r, size_t n)
{
	if (r->err)
		return r->err;
	if (n > SBX_REQ_STREAM_IN_CAP - r->in_n)
		return sbx_error_set(SBX_EINVAL, "pushed past the stream's space");
	r->in_n += n;
	return process(r);
}

void sbx_req_stream_sent(struct sbx_req_stream *r, size_t n)
{
	r->out_off += n;
	if (r->out_off >= r->out_n) {
		if (r->out)
			explicit_bzero(r->out, r->out_n);
		r->out_off = r->out_n = 0;
	}
}
