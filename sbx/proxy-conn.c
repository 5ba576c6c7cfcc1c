// SPDX-License-Identifier: MIT
/*
 * One proxy connection: read the head, decide, resolve, connect, then a
 * CONNECT tunnel (after the ClientHello checks) or one plain HTTP request
 * rewritten to origin form.  See proxy.h and docs/design.md.
 */
#include "sbx/proxy-int.h"
#include "sbx/proxy-upstream.h"
#include "sbx/tls-hello.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define REPLY_MS 2000		/* to write a refusal to the client */
#define IP_FIRST_BYTE_MS 1000
#define LINGER_MS 1000		/* after a refusal, drop what the client still sends this long */
#define LINGER_MAX (1 << 20)	/* ... or this many bytes */	/* a tunnel to an IP literal waits this long for a ClientHello */

/*
 * Before closing after a refusal: end our side and read (and drop) what the
 * client still sends for a moment, so that the kernel does not answer
 * unread bytes with a reset that would destroy the refusal in flight.
 */
static void linger_close(struct proxy_conn *c)
{
	int64_t deadline = proxy_now_ms() + LINGER_MS;
	size_t dropped = 0;

	shutdown(c->client, SHUT_WR);
	while (dropped < LINGER_MAX && proxy_wait(c, c->client, POLLIN, deadline) == 1) {
		ssize_t n = recv(c->client, c->buf_down, PROXY_BUF, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		dropped += (size_t)n;
	}
}

static void respond(struct proxy_conn *c, const char *status, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, strlen(body));
	int64_t deadline = proxy_now_ms() + REPLY_MS;

	if (!proxy_send_all(c, c->client, head, (size_t)n, deadline))
		proxy_send_all(c, c->client, body, strlen(body), deadline);
	linger_close(c);
}

static void refuse(struct proxy_conn *c, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record the reason and answer with it (a status line and "git-sbx: <reason>"). */
static void refuse(struct proxy_conn *c, const char *status, const char *fmt, ...)
{
	char body[SBX_POLICY_TEXT_MAX + 16], reason[sizeof(c->reason)];
	va_list ap;

	/* Through a buffer of its own: callers pass c->reason itself as an argument. */
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	memcpy(c->reason, reason, sizeof(reason));
	snprintf(body, sizeof(body), "git-sbx: %s\n", c->reason);
	if (status)
		respond(c, status, body);
}

static void deny(struct proxy_conn *c, const struct sbx_policy_verdict *v)
{
	char body[4 * SBX_POLICY_TEXT_MAX];

	c->allowed = false;
	snprintf(c->reason, sizeof(c->reason), "%s", v->reason);
	snprintf(c->rule, sizeof(c->rule), "%s", v->rule);
	if (v->hint[0])
		snprintf(body, sizeof(body), "git-sbx: %s; allow it with --allow %s "
			 "or git config --add sbx.allow %s\n", v->reason, v->hint, v->hint);
	else
		snprintf(body, sizeof(body), "git-sbx: %s\n", v->reason);
	respond(c, "403 Forbidden", body);
}

/* Read the request head into buf_up: 0 with *req and *have, or -1 (answered, reason set). */
static int read_head(struct proxy_conn *c, struct sbx_http_req **req, size_t *have)
{
	struct sbx_http_scan scan = SBX_HTTP_SCAN_INIT;
	int64_t deadline = c->start_ms + c->p->cfg.head_ms;
	long end = 0;
	int ret;

	*have = 0;
	while (end == 0) {
		ssize_t n;

		if (*have == PROXY_BUF) {
			refuse(c, "431 Request Header Fields Too Large",
			       "bad request: request head longer than %d bytes", SBX_HTTP_HEAD_MAX);
			return -1;
		}
		ret = proxy_wait(c, c->client, POLLIN, deadline);
		if (ret <= 0) {
			refuse(c, ret == 0 && *have ? "408 Request Timeout" : NULL,
			       ret == 0 ? "no complete request head within %u ms" : "the proxy stopped",
			       c->p->cfg.head_ms);
			return -1;
		}
		n = recv(c->client, c->buf_up + *have, PROXY_BUF - *have, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			refuse(c, NULL, *have ? "the client closed before the end of its request head"
			       : "the client closed without a request");
			return -1;
		}
		*have += (size_t)n;
		end = sbx_http_head_end(&scan, c->buf_up, *have);
	}
	if (end > 0) {
		ret = sbx_http_req_parse(req, c->buf_up, (size_t)end);
		if (ret == 0)
			return 0;
	} else {
		ret = (int)end;
	}
	refuse(c, ret == SBX_ELIMIT ? "431 Request Header Fields Too Large" : "400 Bad Request",
	       "bad request: %s", sbx_error());
	return -1;
}

/* Check the policy, resolve, check addresses, connect: 0, or -1 answered. */
/* Through the host's own proxy: unless there is none, no_proxy names the host, or sbx.resolve does. */
static bool via_upstream(const struct proxy_conn *c)
{
	const struct sbx_proxy_upstream *u = c->p->cfg.upstream;

	return u && !sbx_proxy_upstream_bypass(u, c->host) &&
	       !sbx_policy_has_override(c->p->cfg.policy, c->host, c->port);
}

static int decide_and_connect(struct proxy_conn *c, const char *method, const char *path)
{
	struct sbx_policy_query q = { c->host, c->port, method, path };
	struct sbx_policy_addr addrs[SBX_POLICY_ADDRS_MAX];
	struct sbx_policy_verdict v;
	size_t n;
	int ret;

	sbx_policy_check(c->p->cfg.policy, &q, &v);
	if (!v.allowed) {
		deny(c, &v);
		return -1;
	}
	c->allowed = true;
	snprintf(c->rule, sizeof(c->rule), "%s", v.rule);
	if (via_upstream(c)) {
		unsigned char ip[16];

		/* The host's proxy resolves names; an address asked for is still checked here. */
		if (inet_pton(AF_INET, c->host, ip) == 1 || inet_pton(AF_INET6, c->host, ip) == 1) {
			ret = sbx_policy_resolve(c->p->cfg.policy, c->host, c->port, addrs, &n, &v);
			if (ret < 0 || !v.allowed) {
				deny(c, &v);
				return -1;
			}
		}
		if (proxy_upstream_connect(c, c->p->cfg.upstream) < 0) {
			refuse(c, "502 Bad Gateway", "%s", c->reason);
			return -1;
		}
		return 0;
	}
	ret = sbx_policy_resolve(c->p->cfg.policy, c->host, c->port, addrs, &n, &v);
	if (ret < 0) {
		refuse(c, "502 Bad Gateway", "%s", v.reason);
		return -1;
	}
	if (!v.allowed) {
		deny(c, &v);
		return -1;
	}
	if (proxy_connect(c, addrs, n) < 0) {
		refuse(c, "502 Bad Gateway", "%s", c->reason);
		return -1;
	}
	return 0;
}

/*
 * After "200 Connection established": read the ClientHello into buf_up
 * (which starts with `have` early bytes) and hold it to the CONNECT host.
 * Returns 0 with *hello_ok (false: not TLS, allowed for an IP literal), or -1 (reason set).
 */
static int check_hello(struct proxy_conn *c, bool ip_host, size_t *have,
		       struct sbx_tls_hello *h, bool *hello_ok)
{
	int64_t deadline = proxy_now_ms() + (ip_host ? IP_FIRST_BYTE_MS : c->p->cfg.head_ms);
	int ret = SBX_TLS_HELLO_MORE;

	*hello_ok = false;
	for (;;) {
		ssize_t n;

		if (*have) {
			if (ip_host && !sbx_tls_looks_like_hello(c->buf_up, *have))
				return 0;	/* another protocol to an address a rule names */
			ret = sbx_tls_hello_parse(h, c->buf_up, *have);
			if (ret != SBX_TLS_HELLO_MORE)
				break;
			if (*have == PROXY_BUF) {
				ret = sbx_error_set(SBX_ELIMIT, "ClientHello over %d bytes", PROXY_BUF);
				break;
			}
			deadline = c->start_ms + c->p->cfg.head_ms;
		}
		ret = proxy_wait(c, c->client, POLLIN, deadline);
		if (ret == 0 && ip_host && !*have)
			return 0;	/* a server-speaks-first protocol to an IP literal */
		if (ret <= 0) {
			refuse(c, NULL, ret ? "the proxy stopped" : "no TLS ClientHello in time");
			return -1;
		}
		n = recv(c->client, c->buf_up + *have, PROXY_BUF - *have, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			refuse(c, NULL, "the client closed before its TLS ClientHello");
			return -1;
		}
		*have += (size_t)n;
	}
	if (ret < 0) {
		refuse(c, NULL, "tunnel to %s:%u refused: not a TLS ClientHello (%s)",
		       c->host, c->port, sbx_error());
		return -1;
	}
	if (h->ech) {
		refuse(c, NULL, "tunnel to %s:%u refused: the ClientHello uses encrypted client hello "
		       "(ECH), which hides the real server name", c->host, c->port);
		return -1;
	}
	if (ip_host && h->has_sni) {
		refuse(c, NULL, "tunnel to %s:%u refused: TLS server name '%s' on a tunnel to an address",
		       c->host, c->port, h->sni);
		return -1;
	}
	if (!ip_host && !h->has_sni) {
		refuse(c, NULL, "tunnel to %s:%u refused: the ClientHello has no server name (SNI)",
		       c->host, c->port);
		return -1;
	}
	if (!ip_host && strcmp(h->sni, c->host)) {
		refuse(c, NULL, "tunnel to %s:%u refused: TLS server name '%s' differs from the "
		       "CONNECT host", c->host, c->port, h->sni);
		return -1;
	}
	*hello_ok = true;
	return 0;
}

static void serve_connect(struct proxy_conn *c, struct sbx_http_req *r, size_t have)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	bool ip_host = r->host_type != SBX_HOST_NAME, hello_ok;
	struct sbx_tls_hello hello;
	size_t early = have - r->head_len;

	if (c->p->cfg.nsecrets) {
		const struct sbx_secret *hit = sbx_secret_find_sentinel((const char *)c->buf_up,
									r->head_len, c->p->cfg.secrets,
									c->p->cfg.nsecrets);

		if (hit) {
			c->allowed = false;
			refuse(c, "403 Forbidden", "exfiltration: the sentinel of secret '%s' in a "
			       "CONNECT request", hit->name);
			return;
		}
	}
	if (decide_and_connect(c, NULL, NULL) < 0)
		return;
	if (proxy_send_all(c, c->client, ok, sizeof(ok) - 1, proxy_now_ms() + REPLY_MS)) {
		refuse(c, NULL, "the client went away before the tunnel opened");
		return;
	}
	memmove(c->buf_up, c->buf_up + r->head_len, early);
	have = early;
	if (check_hello(c, ip_host, &have, &hello, &hello_ok) < 0) {
		c->allowed = false;	/* refused by the ClientHello check, not by a rule */
		c->rule[0] = 0;
		return;
	}
	if (c->p->cfg.nsecrets) {
		const struct sbx_secret *hit = sbx_secret_find_sentinel((const char *)c->buf_up, have,
									c->p->cfg.secrets,
									c->p->cfg.nsecrets);

		if (hit) {
			c->allowed = false;
			refuse(c, NULL, "exfiltration: the sentinel of secret '%s' in the TLS "
			       "ClientHello to %s", hit->name, c->host);
			return;
		}
	}
	if (hello_ok && c->p->cfg.intercept && c->p->cfg.mitm &&
	    c->p->cfg.intercept(c->p->cfg.opaque, c->host, c->port)) {
		struct sbx_proxy_mitm m = {
			.client_fd = c->client, .upstream_fd = c->upstream, .host = c->host,
			.port = c->port, .first = c->buf_up, .nfirst = have, .hello = &hello,
			.wake_fd = c->wake,
		};
		int ret = c->p->cfg.mitm(c->p->cfg.opaque, &m);

		c->bytes_up = m.bytes_up;
		c->bytes_down = m.bytes_down;
		proxy_charge(c, m.bytes_up + m.bytes_down);
		__atomic_add_fetch(&c->p->up, m.bytes_up, __ATOMIC_RELAXED);
		__atomic_add_fetch(&c->p->down, m.bytes_down, __ATOMIC_RELAXED);
		snprintf(c->reason, sizeof(c->reason), "%s",
			 m.reason[0] ? m.reason : ret < 0 ? "the TLS interception failed" :
			 "intercepted tunnel closed");
		return;
	}
	c->bytes_up = have;
	if (!proxy_charge(c, have) ||
	    proxy_send_all(c, c->upstream, c->buf_up, have, proxy_now_ms() + c->p->cfg.idle_ms)) {
		refuse(c, NULL, "could not send the ClientHello upstream");
		return;
	}
	if (proxy_relay(c, UINT64_MAX, false, NULL) == 0)
		snprintf(c->reason, sizeof(c->reason), "tunnel closed");
}

/* Hop-by-hop fields (RFC 9110 §7.6.1), the proxy's own, and those Connection names. */
static bool drop_field(const char *name, const char *connection)
{
	static const char *const hop[] = {
		"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization",
		"Proxy-Authenticate", "TE", "Trailer", "Upgrade", "Host", NULL };
	size_t i, nl = strlen(name);
	const char *t;

	for (i = 0; hop[i]; i++)
		if (!strcasecmp(name, hop[i]))
			return true;
	for (t = connection; t && *t;) {
		size_t tl;

		t += strspn(t, " \t,");
		tl = strcspn(t, " \t,");
		if (tl == nl && !strncasecmp(t, name, nl))
			return true;
		t += tl;
	}
	return false;
}

/*
 * A plain-HTTP head to send, with the task's secrets: a secret's sentinel
 * in its own header becomes its value only with allowHttp; a sentinel
 * anywhere else refuses the request as an exfiltration attempt.  The body
 * is then scanned for the sentinels of other hosts' secrets (its own
 * host's is a placeholder the server sees as it is).
 */
static int secret_head(struct proxy_conn *c, char **head, size_t *len)
{
	const struct sbx_secret *const *secrets = c->p->cfg.secrets;
	size_t n = c->p->cfg.nsecrets, i;
	struct sbx_secret_verdict v;
	char *out = NULL;
	size_t olen = 0;

	if (sbx_secret_rewrite_head(&out, &olen, &v, *head, *len, c->host, c->port, false, secrets,
				    n)) {
		free(*head);
		*head = NULL;
		refuse(c, "400 Bad Request", "bad request: %s", sbx_error());
		return -1;
	}
	if (v.blocked) {
		if (out)
			explicit_bzero(out, olen);
		free(out);
		free(*head);
		*head = NULL;
		c->allowed = false;
		refuse(c, "403 Forbidden", "%s%s", v.exfil ? "exfiltration: " : "", v.reason);
		return -1;
	}
	free(*head);
	*head = out;
	*len = olen;
	c->foreign = calloc(n, sizeof(*c->foreign));
	if (!c->foreign) {
		explicit_bzero(out, olen);
		free(out);
		*head = NULL;
		refuse(c, "500 Internal Server Error", "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!sbx_secret_for_host(secrets[i], c->host, c->port))
			c->foreign[c->nforeign++] = secrets[i];
	sbx_sentinel_scan_init(&c->scan, (const struct sbx_secret *const *)c->foreign, c->nforeign);
	c->scanning = true;
	return 0;
}

static void serve_http(struct proxy_conn *c, struct sbx_http_req *r, size_t have)
{
	const char *connection = sbx_http_req_field(r, "Connection");
	uint64_t body = r->content_length > 0 ? (uint64_t)r->content_length : 0;
	size_t early = have - r->head_len, cap = r->head_len + 512, len = 0, i;
	struct sbx_http_chunked ck = SBX_HTTP_CHUNKED_INIT;
	char *out = NULL;
	int n;

	if (decide_and_connect(c, r->method, r->path) < 0)
		return;
	out = malloc(cap);
	if (!out) {
		refuse(c, "500 Internal Server Error", "out of memory");
		return;
	}
	n = snprintf(out, cap, "%s %s HTTP/1.%d\r\nHost: %s%s%s", r->method, r->path, r->minor,
		     r->host_type == SBX_HOST_IPV6 ? "[" : "", r->host,
		     r->host_type == SBX_HOST_IPV6 ? "]" : "");
	len = (size_t)n;
	if (r->port != 80)
		len += (size_t)snprintf(out + len, cap - len, ":%u", r->port);
	len += (size_t)snprintf(out + len, cap - len, "\r\n");
	for (i = 0; i < r->nfields; i++) {
		if (drop_field(r->fields[i].name, connection))
			continue;
		len += (size_t)snprintf(out + len, cap - len, "%s: %s\r\n", r->fields[i].name,
					r->fields[i].value);
	}
	len += (size_t)snprintf(out + len, cap - len, "Connection: close\r\n\r\n");
	/* The head is never longer than the client's plus the Host and Connection lines. */
	if (len >= cap) {
		free(out);
		refuse(c, "500 Internal Server Error", "rewritten request head too long");
		return;
	}
	if (c->p->cfg.nsecrets && secret_head(c, &out, &len) < 0)
		return;
	if (r->chunked) {
		long n_body = sbx_http_chunked_scan(&ck, c->buf_up + r->head_len, early);

		if (n_body < 0) {
			free(out);
			refuse(c, "400 Bad Request", "bad request body: %s", sbx_error());
			return;
		}
		early = (size_t)n_body;
		body = ck.done ? early : UINT64_MAX;
	}
	if (early > body)
		early = (size_t)body;	/* bytes after the body are never forwarded */
	if (c->scanning) {
		const struct sbx_secret *hit = sbx_sentinel_scan_feed(&c->scan, c->buf_up + r->head_len,
								       early);

		if (hit) {
			explicit_bzero(out, len);
			free(out);
			c->allowed = false;
			refuse(c, "403 Forbidden", "exfiltration: the sentinel of secret '%s' in a request "
			       "body to %s", hit->name, c->host);
			return;
		}
	}
	c->bytes_up = len + early;
	if (!proxy_charge(c, len + early) ||
	    proxy_send_all(c, c->upstream, out, len, proxy_now_ms() + c->p->cfg.idle_ms) ||
	    proxy_send_all(c, c->upstream, c->buf_up + r->head_len, early,
			   proxy_now_ms() + c->p->cfg.idle_ms)) {
		free(out);
		refuse(c, "502 Bad Gateway", "could not send the request upstream");
		return;
	}
	explicit_bzero(out, len);	/* it may hold a secret's value (allowHttp) */
	free(out);
	if (proxy_relay(c, body == UINT64_MAX ? UINT64_MAX : body - early, true,
			r->chunked ? &ck : NULL) == 0)
		snprintf(c->reason, sizeof(c->reason), "response complete");
}

void proxy_serve(struct proxy_conn *c)
{
	struct sbx_http_req *r = NULL;
	size_t have;

	if (read_head(c, &r, &have) < 0)
		return;
	snprintf(c->host, sizeof(c->host), "%s", r->host);
	c->port = r->port;
	snprintf(c->method, sizeof(c->method), "%s", r->method);
	if (r->path)
		c->path = strdup(r->path);
	if (r->form == SBX_HTTP_CONNECT)
		serve_connect(c, r, have);
	else
		serve_http(c, r, have);
	sbx_http_req_free(r);
}
