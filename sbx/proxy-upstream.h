/* SPDX-License-Identifier: MIT */
/*
 * A proxy the host itself must use (a company's): the task's proxy reaches
 * every upstream through it with CONNECT, as curl does with https_proxy.
 *
 * Taken from the host's environment: https_proxy, then HTTPS_PROXY,
 * http_proxy (all_proxy is not used: it may be SOCKS), as
 * "http://[user:password@]host[:port][/]" (port 1080 when absent, as curl);
 * no_proxy / NO_PROXY lists names (a leading dot or none: the name and its
 * subdomains), "*" for all.  A name the task resolves itself (sbx.resolve)
 * never goes through it.
 *
 * Through it the upstream proxy resolves names, so the proxy's own address
 * checks apply only to IP literals and to connections that go direct.
 */
#ifndef SBX_SBX_PROXY_UPSTREAM_H
#define SBX_SBX_PROXY_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

struct sbx_proxy_upstream {
	char host[256];
	uint16_t port;
	char auth[512];		/* "Basic <base64>" or "" */
	char no_proxy[1024];	/* as given, comma or space separated */
};

/*
 * Parse a proxy URL into *u (no_proxy left as is).  SBX_EINVAL with a
 * message for what is not "http://[user:pass@]host[:port][/]".
 */
int sbx_proxy_upstream_parse(struct sbx_proxy_upstream *u, const char *url);
/*
 * From the environment: 1 with *u filled, 0 when no proxy is set, or
 * SBX_EINVAL for a variable that does not parse (naming it).
 */
int sbx_proxy_upstream_from_env(struct sbx_proxy_upstream *u);
/* Does host bypass the upstream proxy by no_proxy? */
bool sbx_proxy_upstream_bypass(const struct sbx_proxy_upstream *u, const char *host);

#endif
