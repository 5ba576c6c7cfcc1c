// SPDX-License-Identifier: MIT
#include "sbx/mitm.h"
#include "sbx/mitm-int.h"
#include "sbx/secret.h"
#include "sbx/tls-ca.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CIN_CAP (SBX_HTTP_HEAD_MAX + 16384)
#define DBUF_CAP 16384
#define CHUNK_LINE_MAX 1024
#define TRAILER_MAX SBX_HTTP_HEAD_MAX

/* ---- the relay's state ---- */

enum req_state { R_HEAD, R_BODY, R_CHUNK_LINE, R_CHUNK_DATA, R_CHUNK_CRLF, R_TRAILER };

struct relay {
	const struct sbx_mitm_config *cfg;
	struct sbx_mitm_result *res;
	SSL *c, *u;
	int cfd, ufd;
	/* guest -> upstream: plaintext in, rewritten out */
	char *cin;
	size_t cn;
	char *uout;
	size_t un, uoff, ucap;
	enum req_state st;
	uint64_t left;			/* body or chunk bytes still to pass */
	size_t trailer_bytes;
	struct sbx_sentinel_scan scan;
	/* upstream -> guest */
	char dbuf[DBUF_CAP];
	size_t dn, doff;
	bool c_eof, u_eof, u_clean;
	bool later;			/* past the connection's first request */
	int err;
};

static int fail(struct relay *r, int code, bool exfil, const char *fmt, ...) SBX_PRINTF(4, 5);

static int fail(struct relay *r, int code, bool exfil, const char *fmt, ...)
{
	va_list ap;

	if (r->err)
		return r->err;
	va_start(ap, fmt);
	vsnprintf(r->res->reason, sizeof(r->res->reason), fmt, ap);
	va_end(ap);
	r->res->exfil_blocked |= exfil;
	r->err = sbx_error_set(code, "%s", r->res->reason);
	return r->err;
}

static int uout_put(struct relay *r, const void *d, size_t n)
{
	if (r->un + n > r->ucap) {
		size_t cap = (r->un + n) * 2;
		char *np = malloc(cap);

		if (!np)
			return fail(r, SBX_ENOMEM, false, "out of memory");
		if (r->un)
			memcpy(np, r->uout, r->un);
		if (r->uout)
			explicit_bzero(r->uout, r->ucap);
		free(r->uout);
		r->uout = np;
		r->ucap = cap;
	}
	memcpy(r->uout + r->un, d, n);
	r->un += n;
	return 0;
}

static void cin_consume(struct relay *r, size_t n)
{
	memmove(r->cin, r->cin + n, r->cn - n);
	r->cn -= n;
}

/* Pass n body bytes from cin, scanned for sentinels. */
static int pass_body(struct relay *r, size_t n)
{
	const struct sbx_secret *hit = sbx_sentinel_scan_feed(&r->scan, r->cin, n);

	if (hit)
		return fail(r, SBX_EINVAL, true, "sentinel of secret '%s' in a request body to %s",
			    hit->name, r->cfg->host);
	if (uout_put(r, r->cin, n))
		return r->err;
	cin_consume(r, n);
	return 0;
}

static int on_head(struct relay *r, size_t hlen)
{
	struct sbx_secret_verdict v;
	char *out = NULL;
	size_t olen = 0;
	int err;

	r->later = r->res->requests > 0;
	err = sbx_secret_rewrite_head(&out, &olen, &v, r->cin, hlen, r->cfg->host, r->cfg->port, true,
				      r->cfg->secrets, r->cfg->nsecrets);
	if (err)
		return fail(r, err, false, "%s", sbx_error());
	if (r->res->requests == 0) {
		snprintf(r->res->method, sizeof(r->res->method), "%s", v.method);
		snprintf(r->res->path, sizeof(r->res->path), "%s", v.path);
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
	err = uout_put(r, out, olen);
	explicit_bzero(out, olen);
	free(out);
	if (err)
		return err;
	cin_consume(r, hlen);
	r->res->requests++;
	sbx_sentinel_scan_init(&r->scan, r->cfg->secrets, r->cfg->nsecrets);
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
static int on_chunk_line(struct relay *r, size_t llen)
{
	uint64_t size = 0;
	size_t i;
	int digits = 0;

	if (!clean_line(r->cin, llen - 2))
		return fail(r, SBX_EINVAL, false, "control character in a chunk line to %s", r->cfg->host);
	for (i = 0; i < llen - 2; i++) {
		char c = r->cin[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			break;
		if (++digits > 10)
			return fail(r, SBX_EINVAL, false, "chunk size too large in a request to %s", r->cfg->host);
		size = size * 16 + (uint64_t)d;
	}
	if (!digits || (i < llen - 2 && r->cin[i] != ';' && r->cin[i] != ' ' && r->cin[i] != '\t'))
		return fail(r, SBX_EINVAL, false, "malformed chunk size in a request to %s", r->cfg->host);
	if (sbx_secret_find_sentinel(r->cin, llen, r->cfg->secrets, r->cfg->nsecrets))
		return fail(r, SBX_EINVAL, true, "sentinel in a chunk extension to %s", r->cfg->host);
	if (uout_put(r, r->cin, llen))
		return r->err;
	cin_consume(r, llen);
	r->left = size;
	r->st = size ? R_CHUNK_DATA : R_TRAILER;
	r->trailer_bytes = 0;
	return 0;
}

/* Parse what cin holds; returns with cin holding an incomplete piece only. */
static int process(struct relay *r)
{
	for (;;) {
		const char *eol;
		size_t n;

		if (r->err)
			return r->err;
		if (!r->cn)
			return 0;
		switch (r->st) {
		case R_HEAD:
			if (sbx_http_head_len(&n, r->cin, r->cn, SBX_HTTP_HEAD_MAX))
				return fail(r, SBX_ELIMIT, false, "request head over %u bytes to %s",
					    SBX_HTTP_HEAD_MAX, r->cfg->host);
			if (!n)
				return 0;
			if (on_head(r, n))
				return r->err;
			break;
		case R_BODY:
		case R_CHUNK_DATA:
			n = r->cn < r->left ? r->cn : (size_t)r->left;
			if (pass_body(r, n))
				return r->err;
			r->left -= n;
			if (!r->left)
				r->st = r->st == R_BODY ? R_HEAD : R_CHUNK_CRLF;
			break;
		case R_CHUNK_CRLF:
			if (r->cn < 2)
				return 0;
			if (r->cin[0] != '\r' || r->cin[1] != '\n')
				return fail(r, SBX_EINVAL, false, "malformed chunk in a request to %s", r->cfg->host);
			if (uout_put(r, "\r\n", 2))
				return r->err;
			cin_consume(r, 2);
			r->st = R_CHUNK_LINE;
			break;
		case R_CHUNK_LINE:
			eol = memmem(r->cin, r->cn < CHUNK_LINE_MAX ? r->cn : CHUNK_LINE_MAX, "\r\n", 2);
			if (!eol && r->cn >= CHUNK_LINE_MAX)
				return fail(r, SBX_ELIMIT, false, "chunk line too long to %s", r->cfg->host);
			if (!eol)
				return 0;
			if (on_chunk_line(r, (size_t)(eol - r->cin) + 2))
				return r->err;
			break;
		case R_TRAILER:
			/* A trailer line, or the blank line that ends the message. */
			eol = memmem(r->cin, r->cn, "\r\n", 2);
			if (!eol && r->cn >= TRAILER_MAX)
				return fail(r, SBX_ELIMIT, false, "trailer too long to %s", r->cfg->host);
			if (!eol)
				return 0;
			n = (size_t)(eol - r->cin) + 2;
			r->trailer_bytes += n;
			if (r->trailer_bytes > TRAILER_MAX)
				return fail(r, SBX_ELIMIT, false, "trailers over %u bytes to %s", TRAILER_MAX,
					    r->cfg->host);
			if (!clean_line(r->cin, n - 2) || r->cin[0] == ' ' || r->cin[0] == '\t')
				return fail(r, SBX_EINVAL, false, "malformed trailer in a request to %s", r->cfg->host);
			if (sbx_secret_find_sentinel(r->cin, n, r->cfg->secrets, r->cfg->nsecrets))
				return fail(r, SBX_EINVAL, true, "sentinel in a request trailer to %s", r->cfg->host);
			if (uout_put(r, r->cin, n))
				return r->err;
			cin_consume(r, n);
			if (n == 2)
				r->st = R_HEAD;
			break;
		}
	}
}

/* ---- TLS ---- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int i = 0;

	/* http/1.1 or nothing: the relay parses HTTP/1.1 only. */
	while (i < inlen) {
		unsigned int l = in[i];

		if (i + 1 + l > inlen)
			break;
		if (l == 8 && !memcmp(in + i + 1, "http/1.1", 8)) {
			*out = in + i + 1;
			*outlen = 8;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static int server_ctx(SSL_CTX **out, struct relay *r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int err = 0;

	*out = NULL;
	if (!ctx)
		return fail(r, SBX_ENOMEM, false, "cannot make a TLS context");
	if ((err = sbx_tls_ca_leaf(&cert, &key, r->cfg->ca, r->cfg->host))) {
		err = fail(r, err, false, "cannot make a certificate for %s: %s", r->cfg->host, sbx_error());
		goto out;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (!SSL_CTX_use_certificate(ctx, cert) || !SSL_CTX_use_PrivateKey(ctx, key) ||
	    !SSL_CTX_add1_chain_cert(ctx, sbx_tls_ca_cert(r->cfg->ca))) {
		sbx_tls_error(SBX_ERROR, "cannot use the task certificate");
		err = fail(r, SBX_ERROR, false, "%s", sbx_error());
		goto out;
	}
	*out = ctx;
	ctx = NULL;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return err;
}

static int client_ctx(SSL_CTX **out, struct relay *r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	*out = NULL;
	if (!ctx)
		return fail(r, SBX_ENOMEM, false, "cannot make a TLS context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (!SSL_CTX_set_default_verify_paths(ctx) ||
	    (r->cfg->extra_ca_file && !SSL_CTX_load_verify_locations(ctx, r->cfg->extra_ca_file, NULL))) {
		sbx_tls_error(SBX_ERROR, "cannot load the upstream trust store");
		SSL_CTX_free(ctx);
		return fail(r, SBX_ERROR, false, "%s", sbx_error());
	}
	*out = ctx;
	return 0;
}

/* The host without IPv6 brackets into name[]; true when it is an IP literal. */
static bool bare_host(char *name, size_t size, const char *h)
{
	unsigned char buf[16];
	size_t l = strlen(h);

	if (l >= 2 && h[0] == '[' && h[l - 1] == ']')
		snprintf(name, size, "%.*s", (int)(l - 2), h + 1);
	else
		snprintf(name, size, "%s", h);
	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* After an SSL call returned `ret`: 1 retry (*ev set), 0 EOF (*clean set), <0 error. */
static int ssl_status(SSL *ssl, int ret, short *ev, bool *clean)
{
	int e = SSL_get_error(ssl, ret);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*ev = POLLIN;
		return 1;
	case SSL_ERROR_WANT_WRITE:
		*ev = POLLOUT;
		return 1;
	case SSL_ERROR_ZERO_RETURN:
		*clean = true;
		return 0;
	case SSL_ERROR_SYSCALL:
		if (!ERR_peek_error()) {
			*clean = false;
			return 0;
		}
		return -1;
	case SSL_ERROR_SSL:
		if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			*clean = false;
			return 0;
		}
		return -1;
	default:
		return -1;
	}
}

static const char *ssl_reason(void)
{
	static __thread char buf[160];
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (!e)
		return "connection closed";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/* Drive a handshake with a deadline of idle_ms per wait. */
static int handshake(struct relay *r, SSL *ssl, int fd, bool upstream)
{
	unsigned idle = r->cfg->idle_ms ? r->cfg->idle_ms : SBX_MITM_IDLE_MS;

	for (;;) {
		int ret = SSL_do_handshake(ssl), st, pr;
		short ev = 0;
		bool clean = false;
		struct pollfd pfd;

		if (ret == 1)
			return 0;
		st = ssl_status(ssl, ret, &ev, &clean);
		if (st <= 0) {
			long vr = upstream ? SSL_get_verify_result(ssl) : X509_V_OK;

			if (upstream && vr != X509_V_OK)
				return fail(r, SBX_EIO, false, "upstream %s: certificate verify failed: %s",
					    r->cfg->host, X509_verify_cert_error_string(vr));
			return fail(r, SBX_EIO, false, "%s %s: TLS handshake failed: %s",
				    upstream ? "upstream" : "guest's connection to", r->cfg->host,
				    st == 0 ? "connection closed" : ssl_reason());
		}
		pfd.fd = fd;
		pfd.events = ev;
		pfd.revents = 0;
		do
			pr = poll(&pfd, 1, (int)idle);
		while (pr < 0 && errno == EINTR);
		if (pr == 0)
			return fail(r, SBX_ETIMEDOUT, false, "%s %s: TLS handshake idle for %u ms",
				    upstream ? "upstream" : "guest's connection to", r->cfg->host, idle);
		if (pr < 0)
			return fail(r, SBX_EIO, false, "poll: %s", strerror(errno));
	}
}

/* Write a short response to the guest (403, 502) and flush it, best effort. */
static void answer(struct relay *r, const char *status)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nConnection: close\r\n"
			 "Content-Length: %zu\r\n\r\ngit-sbx: %s\n",
			 status, strlen(r->res->reason) + 10, r->res->reason);
	size_t off = 0, w;
	uint64_t deadline = now_ms() + 2000;

	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	while (off < (size_t)n && now_ms() < deadline) {
		int ret = SSL_write_ex(r->c, msg + off, (size_t)n - off, &w);
		short ev = 0;
		bool clean;
		struct pollfd pfd;

		if (ret == 1) {
			off += w;
			continue;
		}
		if (ssl_status(r->c, ret, &ev, &clean) <= 0)
			break;
		pfd.fd = r->cfd;
		pfd.events = ev;
		poll(&pfd, 1, 100);
	}
	if (off == (size_t)n)
		SSL_shutdown(r->c);
	ERR_clear_error();
}

/* ---- the relay loop ---- */

static int over_limit(struct relay *r)
{
	uint64_t max = r->cfg->max_bytes;

	if (max && r->res->bytes_up + r->res->bytes_down > max)
		return fail(r, SBX_ELIMIT, false, "connection to %s over its %llu-byte limit", r->cfg->host,
			    (unsigned long long)max);
	return 0;
}

/*
 * One pass over the four directions; *progress when anything moved.
 * cev/uev: what each fd waits for.
 */
static int step(struct relay *r, bool *progress, short *cev, short *uev)
{
	size_t n;
	int ret, st;
	short ev;
	bool clean;

	/* guest's rewritten requests -> upstream */
	if (r->uoff < r->un) {
		ret = SSL_write_ex(r->u, r->uout + r->uoff, r->un - r->uoff, &n);
		if (ret == 1) {
			r->uoff += n;
			r->res->bytes_up += n;
			*progress = true;
			if (r->uoff == r->un) {
				explicit_bzero(r->uout, r->un);
				r->uoff = r->un = 0;
			}
			if (over_limit(r))
				return r->err;
		} else if ((st = ssl_status(r->u, ret, &ev, &clean)) > 0) {
			*uev |= ev;
		} else {
			return fail(r, SBX_EIO, false, "upstream %s: %s", r->cfg->host,
				    st == 0 ? "closed while sending" : ssl_reason());
		}
	}
	/* guest -> parser, only once its output has gone (back-pressure) */
	if (!r->c_eof && r->un == 0 && r->cn < CIN_CAP) {
		ret = SSL_read_ex(r->c, r->cin + r->cn, CIN_CAP - r->cn, &n);
		if (ret == 1) {
			r->cn += n;
			*progress = true;
			if (process(r))
				return r->err;
		} else if ((st = ssl_status(r->c, ret, &ev, &clean)) > 0) {
			*cev |= ev;
		} else if (st == 0) {
			r->c_eof = true;
			*progress = true;
		} else {
			return fail(r, SBX_EIO, false, "guest's connection to %s: %s", r->cfg->host, ssl_reason());
		}
	}
	/* upstream's responses -> guest, as bytes */
	if (r->doff < r->dn) {
		ret = SSL_write_ex(r->c, r->dbuf + r->doff, r->dn - r->doff, &n);
		if (ret == 1) {
			r->doff += n;
			r->res->bytes_down += n;
			*progress = true;
			if (r->doff == r->dn)
				r->doff = r->dn = 0;
			if (over_limit(r))
				return r->err;
		} else if ((st = ssl_status(r->c, ret, &ev, &clean)) > 0) {
			*cev |= ev;
		} else {
			/* The guest went away: nothing more to do for it. */
			r->c_eof = true;
			r->u_eof = true;
			r->dn = r->doff = 0;
			*progress = true;
			ERR_clear_error();
		}
	}
	if (!r->u_eof && r->dn == 0) {
		ret = SSL_read_ex(r->u, r->dbuf, sizeof(r->dbuf), &n);
		if (ret == 1) {
			r->dn = n;
			*progress = true;
		} else if ((st = ssl_status(r->u, ret, &ev, &clean)) > 0) {
			*uev |= ev;
		} else if (st == 0) {
			r->u_eof = true;
			r->u_clean = clean;
			*progress = true;
		} else {
			return fail(r, SBX_EIO, false, "upstream %s: %s", r->cfg->host, ssl_reason());
		}
	}
	return 0;
}

static int loop(struct relay *r)
{
	unsigned idle = r->cfg->idle_ms ? r->cfg->idle_ms : SBX_MITM_IDLE_MS;

	for (;;) {
		struct pollfd pfd[2];
		bool progress = false;
		short cev = 0, uev = 0;
		int pr;

		if (step(r, &progress, &cev, &uev))
			return r->err;
		/* The guest closed and its last request went out: done. */
		if (r->c_eof && r->un == 0) {
			SSL_shutdown(r->u);
			return 0;
		}
		/* Upstream closed and the guest has everything: pass the close on as it came. */
		if (r->u_eof && r->dn == 0) {
			if (r->u_clean)
				SSL_shutdown(r->c);
			return 0;
		}
		if (progress)
			continue;
		/* An fd nobody waits on is left out: a hung-up socket would wake us forever. */
		pfd[0].fd = cev ? r->cfd : -1;
		pfd[0].events = cev;
		pfd[1].fd = uev ? r->ufd : -1;
		pfd[1].events = uev;
		pfd[0].revents = pfd[1].revents = 0;
		do
			pr = poll(pfd, 2, (int)idle);
		while (pr < 0 && errno == EINTR);
		if (pr == 0)
			return fail(r, SBX_ETIMEDOUT, false, "connection to %s idle for %u ms", r->cfg->host, idle);
		if (pr < 0)
			return fail(r, SBX_EIO, false, "poll: %s", strerror(errno));
	}
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

int sbx_mitm_relay(int client_fd, int upstream_fd, const uint8_t *prefix, size_t prefix_len,
		   const struct sbx_mitm_config *cfg, struct sbx_mitm_result *res)
{
	struct relay r;
	SSL_CTX *sctx = NULL, *cctx = NULL;
	BIO *cb = NULL, *ub = NULL;
	char name[256];
	bool ip;
	int err;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.res = res;
	r.cfd = client_fd;
	r.ufd = upstream_fd;
	if (!cfg->ca || !cfg->host) {
		fail(&r, SBX_EINVAL, false, "relay without a CA or a host");
		goto out;
	}
	if (set_nonblock(client_fd) || set_nonblock(upstream_fd)) {
		fail(&r, SBX_EIO, false, "fcntl: %s", strerror(errno));
		goto out;
	}
	r.cin = malloc(CIN_CAP);
	if (!r.cin) {
		fail(&r, SBX_ENOMEM, false, "out of memory");
		goto out;
	}
	if (server_ctx(&sctx, &r) || client_ctx(&cctx, &r))
		goto out;
	r.c = SSL_new(sctx);
	r.u = SSL_new(cctx);
	cb = sbx_fdbio_new(client_fd, prefix, prefix_len);
	ub = sbx_fdbio_new(upstream_fd, NULL, 0);
	if (!r.c || !r.u || !cb || !ub) {
		fail(&r, SBX_ENOMEM, false, "cannot make a TLS connection");
		goto out;
	}
	SSL_set_bio(r.c, cb, cb);
	SSL_set_bio(r.u, ub, ub);
	cb = ub = NULL;
	SSL_set_accept_state(r.c);
	SSL_set_connect_state(r.u);
	ip = bare_host(name, sizeof(name), cfg->host);
	/* SSL_set1_host takes an IP literal too (then it checks iPAddress SANs). */
	if (!SSL_set1_host(r.u, name) || (!ip && !SSL_set_tlsext_host_name(r.u, name)) ||
	    SSL_set_alpn_protos(r.u, (const unsigned char *)"\x08http/1.1", 9)) {
		fail(&r, SBX_ERROR, false, "cannot set up TLS to %s", cfg->host);
		goto out;
	}
	/* Upstream first: when it fails, the guest still gets a 502 saying why. */
	if (handshake(&r, r.u, upstream_fd, true)) {
		char why[sizeof(res->reason)];
		int uerr = r.err;

		memcpy(why, res->reason, sizeof(why));
		r.err = 0;
		if (!handshake(&r, r.c, client_fd, false))
			answer(&r, "502 Bad Gateway");
		memcpy(res->reason, why, sizeof(why));
		r.err = uerr;
		goto out;
	}
	if (handshake(&r, r.c, client_fd, false))
		goto out;
	err = loop(&r);
	/* The first request refused and nothing sent back yet: its answer says why. */
	if ((err == SBX_EINVAL || err == SBX_ELIMIT) && !r.later && res->bytes_down == 0 && r.dn == 0)
		answer(&r, "403 Forbidden");
out:
	SSL_free(r.c);
	SSL_free(r.u);
	BIO_free(cb);
	BIO_free(ub);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	free(r.cin);
	if (r.uout)
		explicit_bzero(r.uout, r.ucap);
	free(r.uout);
	ERR_clear_error();
	err = r.err;
	explicit_bzero(&r, sizeof(r));
	if (err)
		sbx_error_set(err, "%s", res->reason);
	return err;
}
