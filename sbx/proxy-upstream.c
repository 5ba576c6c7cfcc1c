// SPDX-License-Identifier: MIT
/* The host's own proxy, upstream of a task's (sbx/proxy-upstream.h). */
#include "sbx/proxy-upstream.h"
#include "sbx/proxy-int.h"
#include "util/error.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define REPLY_MAX 8192

int sbx_proxy_upstream_parse(struct sbx_proxy_upstream *u, const char *url)
{
	const char *p = url, *at, *end, *colon;
	char userinfo[256];
	unsigned char b64[((sizeof(userinfo) + 2) / 3) * 4 + 1];
	size_t hl;

	memset(u, 0, sizeof(*u));
	if (!strncasecmp(p, "http://", 7))
		p += 7;
	else if (strstr(p, "://"))
		return sbx_error_set(SBX_EINVAL, "proxy '%s': only http:// proxies are supported", url);
	end = p + strcspn(p, "/");
	if (*end && strcmp(end, "/"))
		return sbx_error_set(SBX_EINVAL, "proxy '%s' has a path", url);
	at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		if ((size_t)(at - p) >= sizeof(userinfo))
			return sbx_error_set(SBX_EINVAL, "proxy '%s': user and password too long", url);
		/* user:password, percent-decoded as curl does */
		for (hl = 0; p < at; hl++) {
			if (*p == '%' && at - p >= 3 && isxdigit((unsigned char)p[1]) &&
			    isxdigit((unsigned char)p[2])) {
				char hex[3] = { p[1], p[2], 0 };

				userinfo[hl] = (char)strtoul(hex, NULL, 16);
				p += 3;
			} else {
				userinfo[hl] = *p++;
			}
		}
		userinfo[hl] = 0;
		EVP_EncodeBlock(b64, (const unsigned char *)userinfo, (int)hl);
		snprintf(u->auth, sizeof(u->auth), "Basic %s", b64);
		explicit_bzero(userinfo, sizeof(userinfo));
		p = at + 1;
	}
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return sbx_error_set(SBX_EINVAL, "proxy '%s': bad IPv6 address", url);
		hl = (size_t)(close - p - 1);
		if (!hl || hl >= sizeof(u->host))
			return sbx_error_set(SBX_EINVAL, "proxy '%s': bad host", url);
		memcpy(u->host, p + 1, hl);
		colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
		if (!colon && close + 1 != end)
			return sbx_error_set(SBX_EINVAL, "proxy '%s': bad host", url);
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		hl = (size_t)((colon ? colon : end) - p);
		if (!hl || hl >= sizeof(u->host))
			return sbx_error_set(SBX_EINVAL, "proxy '%s': bad host", url);
		memcpy(u->host, p, hl);
	}
	u->port = 1080;
	if (colon) {
		char *e;
		unsigned long port;

		errno = 0;
		port = strtoul(colon + 1, &e, 10);
		if (e != end || e == colon + 1 || errno || !port || port > 65535)
			return sbx_error_set(SBX_EINVAL, "proxy '%s': bad port", url);
		u->port = (uint16_t)port;
	}
	return 0;
}

int sbx_proxy_upstream_from_env(struct sbx_proxy_upstream *u)
{
	static const char *const vars[] = { "https_proxy", "HTTPS_PROXY", "http_proxy", NULL };
	const char *v = NULL, *name = NULL, *np;
	size_t i;
	int err;

	for (i = 0; vars[i] && !v; i++) {
		v = getenv(vars[i]);
		name = vars[i];
		if (v && !*v)
			v = NULL;
	}
	if (!v)
		return 0;
	if ((err = sbx_proxy_upstream_parse(u, v)))
		return sbx_error_prefix(err, "$%s", name);
	np = getenv("no_proxy");
	if (!np || !*np)
		np = getenv("NO_PROXY");
	if (np && strlen(np) >= sizeof(u->no_proxy))
		return sbx_error_set(SBX_EINVAL, "$no_proxy is too long");
	snprintf(u->no_proxy, sizeof(u->no_proxy), "%s", np ? np : "");
	return 1;
}

bool sbx_proxy_upstream_bypass(const struct sbx_proxy_upstream *u, const char *host)
{
	const char *t = u->no_proxy;
	size_t hl = strlen(host);

	while (*t) {
		size_t n;

		t += strspn(t, " ,");
		n = strcspn(t, " ,");
		if (n == 1 && *t == '*')
			return true;
		if (n && *t == '.') {
			t++;
			n--;
		}
		if (n && (hl == n || (hl > n && host[hl - n - 1] == '.')) &&
		    !strncasecmp(host + hl - n, t, n))
			return true;
		t += n;
	}
	return false;
}

/* Read the upstream proxy's answer to CONNECT: 0 on a 2xx, -1 with c->reason. */
static int read_reply(struct proxy_conn *c, int64_t deadline)
{
	char buf[REPLY_MAX + 1];
	size_t len = 0;
	int code;

	while (len < REPLY_MAX) {
		ssize_t n;
		int r = proxy_wait(c, c->upstream, POLLIN, deadline);

		if (r <= 0) {
			snprintf(c->reason, sizeof(c->reason), "the host's proxy did not answer CONNECT");
			return -1;
		}
		/* One byte at a time: nothing past the head may be taken from the tunnel. */
		n = recv(c->upstream, buf + len, 1, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			snprintf(c->reason, sizeof(c->reason), "the host's proxy closed on CONNECT");
			return -1;
		}
		len++;
		if (len >= 4 && !memcmp(buf + len - 4, "\r\n\r\n", 4))
			break;
	}
	buf[len] = 0;
	if (len >= REPLY_MAX) {
		snprintf(c->reason, sizeof(c->reason), "the host's proxy answered CONNECT with a huge head");
		return -1;
	}
	if (sscanf(buf, "HTTP/1.%*1[01] %3d", &code) != 1) {
		snprintf(c->reason, sizeof(c->reason), "the host's proxy answered CONNECT with no status");
		return -1;
	}
	if (code < 200 || code > 299) {
		buf[strcspn(buf, "\r\n")] = 0;
		snprintf(c->reason, sizeof(c->reason), "the host's proxy refused CONNECT %s:%u: %.100s",
			 c->host, c->port, buf);
		return -1;
	}
	return 0;
}

int proxy_upstream_connect(struct proxy_conn *c, const struct sbx_proxy_upstream *u)
{
	struct sbx_policy_addr addrs[SBX_POLICY_ADDRS_MAX];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	char port[8], req[2048];
	int64_t deadline = proxy_now_ms() + c->p->cfg.connect_ms;
	size_t n = 0;
	int len, err;

	snprintf(port, sizeof(port), "%u", u->port);
	err = getaddrinfo(u->host, port, &hints, &res);
	if (err) {
		snprintf(c->reason, sizeof(c->reason), "the host's proxy %s: %s", u->host,
			 gai_strerror(err));
		return -1;
	}
	for (ai = res; ai && n < SBX_POLICY_ADDRS_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(addrs[n].ss))
			continue;
		memset(&addrs[n], 0, sizeof(addrs[n]));
		memcpy(&addrs[n].ss, ai->ai_addr, ai->ai_addrlen);
		addrs[n].len = ai->ai_addrlen;
		snprintf(addrs[n].text, sizeof(addrs[n].text), "the host's proxy %s", u->host);
		n++;
	}
	freeaddrinfo(res);
	if (proxy_connect(c, addrs, n) < 0)
		return -1;
	len = snprintf(req, sizeof(req), "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n%s%s%s\r\n",
		       strchr(c->host, ':') ? "[" : "", c->host, strchr(c->host, ':') ? "]" : "",
		       c->port, strchr(c->host, ':') ? "[" : "", c->host,
		       strchr(c->host, ':') ? "]" : "", c->port,
		       u->auth[0] ? "Proxy-Authorization: " : "", u->auth, u->auth[0] ? "\r\n" : "");
	if (len < 0 || (size_t)len >= sizeof(req) ||
	    proxy_send_all(c, c->upstream, req, (size_t)len, deadline)) {
		explicit_bzero(req, sizeof(req));
		snprintf(c->reason, sizeof(c->reason), "could not send CONNECT to the host's proxy");
		return -1;
	}
	explicit_bzero(req, sizeof(req));
	return read_reply(c, deadline);
}
