// SPDX-License-Identifier: MIT
#include "sbx/mitm.h"
#include "sbx/mitm-int.h"
#include "sbx/req-stream.h"
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

#define DBUF_CAP 16384

/* ---- the relay's state ---- */

struct relay {
	const struct sbx_mitm_config *cfg;
	struct sbx_mitm_result *res;
	SSL *c, *u;
	int cfd, ufd;
	struct sbx_req_stream req;	/* guest -> upstream */
	/* upstream -> guest */
	char *dbuf;			/* DBUF_CAP bytes; off the stack of a proxy thread */
	size_t dn, doff;
	bool c_eof, u_eof, u_clean;
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

/*
 * Loading the host's trust store costs tens of milliseconds (OpenSSL parses
 * the whole bundle), so the upstream context is made once per extra CA
 * file and shared: an SSL_CTX is safe to use from many threads once set up.
 */
static pthread_mutex_t cctx_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *cctx_cached;
static char *cctx_extra;

static bool same_file(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int client_ctx(SSL_CTX **out, struct relay *r)
{
	const char *extra = r->cfg->extra_ca_file;
	SSL_CTX *ctx = NULL;
	char *dup = NULL;
	int err = 0;

	*out = NULL;
	pthread_mutex_lock(&cctx_lock);
	if (cctx_cached && same_file(cctx_extra, extra) && SSL_CTX_up_ref(cctx_cached)) {
		*out = cctx_cached;
		goto out;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || (extra && !(dup = strdup(extra)))) {
		err = fail(r, SBX_ENOMEM, false, "cannot make a TLS context");
		goto out;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (!SSL_CTX_set_default_verify_paths(ctx) ||
	    (extra && !SSL_CTX_load_verify_locations(ctx, extra, NULL))) {
		sbx_tls_error(SBX_ERROR, "cannot load the upstream trust store");
		err = fail(r, SBX_ERROR, false, "%s", sbx_error());
		goto out;
	}
	if (SSL_CTX_up_ref(ctx)) {
		SSL_CTX_free(cctx_cached);
		free(cctx_extra);
		cctx_cached = ctx;
		cctx_extra = dup;
		dup = NULL;
	}
	*out = ctx;
	ctx = NULL;
out:
	pthread_mutex_unlock(&cctx_lock);
	SSL_CTX_free(ctx);
	free(dup);
	return err;
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

/* The request stream refused: its reason becomes the relay's. */
static int from_stream(struct relay *r)
{
	r->res->exfil_blocked |= r->req.exfil;
	return fail(r, r->req.err, false, "%s", r->req.reason);
}

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
	size_t n, space;
	char *buf;
	int ret, st;
	short ev;
	bool clean;

	/* guest's rewritten requests -> upstream */
	if (r->req.out_off < r->req.out_n) {
		ret = SSL_write_ex(r->u, r->req.out + r->req.out_off, r->req.out_n - r->req.out_off, &n);
		if (ret == 1) {
			sbx_req_stream_sent(&r->req, n);
			r->res->bytes_up += n;
			*progress = true;
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
	space = 0;
	buf = sbx_req_stream_space(&r->req, &space);
	if (!r->c_eof && r->req.out_n == 0 && space) {
		ret = SSL_read_ex(r->c, buf, space, &n);
		if (ret == 1) {
			*progress = true;
			if (sbx_req_stream_push(&r->req, n))
				return from_stream(r);
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
		ret = SSL_read_ex(r->u, r->dbuf, DBUF_CAP, &n);
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
		if (r->c_eof && r->req.out_n == 0) {
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
	r.dbuf = malloc(DBUF_CAP);
	if (!r.dbuf || sbx_req_stream_init(&r.req, cfg->host, cfg->port, true, cfg->secrets, cfg->nsecrets)) {
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
	if ((err == SBX_EINVAL || err == SBX_ELIMIT) && !r.req.later && res->bytes_down == 0 && r.dn == 0)
		answer(&r, "403 Forbidden");
out:
	SSL_free(r.c);
	SSL_free(r.u);
	BIO_free(cb);
	BIO_free(ub);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	res->requests = r.req.requests;
	memcpy(res->method, r.req.method, sizeof(res->method));
	memcpy(res->path, r.req.path, sizeof(res->path));
	sbx_req_stream_clear(&r.req);
	free(r.dbuf);
	ERR_clear_error();
	err = r.err;
	explicit_bzero(&r, sizeof(r));
	if (err)
		sbx_error_set(err, "%s", res->reason);
	return err;
}
