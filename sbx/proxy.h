/* SPDX-License-Identifier: MIT */
/*
 * A task's egress proxy: each client connection (from the guest, through
 * the channel, or from a host TCP port for `git sbx proxy`) speaks the
 * HTTP proxy protocol: CONNECT host:port, or an absolute-form plain HTTP
 * request.  The proxy parses the head (sbx/http-req.h), decides with the
 * task's policy (sbx/policy.h), resolves and checks addresses itself,
 * connects to the address it checked, and for CONNECT reads the TLS
 * ClientHello (sbx/tls-hello.h) before any byte goes upstream.
 *
 * One thread per connection, at most max_conns at once (more are answered
 * 503 and closed), bounded memory per connection (~200 KiB), a deadline on
 * every wait.  Every connection ends with exactly one event.
 */
#ifndef SBX_PROXY_H
#define SBX_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "sbx/net-event.h"

struct sbx_policy;
struct sbx_tls_hello;
struct sbx_proxy;
struct sbx_proxy_upstream;

/*
 * Each connection or refused request is reported when it ends with a
 * struct sbx_net_event (sbx/net-event.h).  From the proxy its strings are
 * never NULL ("" when unknown: a malformed request has no host) and live
 * only for the call; `rule` is "" for the default deny or a malformed
 * request.  The callback is called from any proxy thread (or from
 * sbx_proxy_accept's caller for a 503).
 */

/*
 * The TLS-terminating path for hosts that carry a secret.  The proxy has
 * checked the policy, the addresses and the ClientHello (SNI = host, no
 * ECH) and connected upstream; `first` holds the ClientHello bytes already
 * read from the client (not sent upstream).  The callback serves the
 * connection to its end, fills bytes_up/bytes_down and a reason, and
 * returns 0 or a negative code; it does not close the fds.
 */
struct sbx_proxy_mitm {
	int client_fd, upstream_fd;	/* non-blocking sockets */
	const char *host;
	uint16_t port;
	const uint8_t *first;
	size_t nfirst;
	const struct sbx_tls_hello *hello;
	int wake_fd;			/* readable when the proxy is being freed: stop */
	uint64_t bytes_up, bytes_down;	/* out */
	char reason[256];		/* out, optional */
};

struct sbx_proxy_config {
	struct sbx_policy *policy;	/* borrowed; outlives the proxy; resolve overrides live here */
	unsigned max_conns;		/* connections at once */
	uint64_t max_bytes;		/* total payload bytes, both ways, all connections; 0 = no cap */
	unsigned idle_ms;		/* a connection with no byte either way for this long ends */
	unsigned connect_ms;		/* to connect upstream (all addresses) */
	unsigned head_ms;		/* for the request head, and for the ClientHello after 200 */
	sbx_net_event_fn event;
	void *opaque;
	/* Should CONNECT host:port be terminated (it carries a secret)?  NULL: never. */
	bool (*intercept)(void *opaque, const char *host, uint16_t port);
	int (*mitm)(void *opaque, struct sbx_proxy_mitm *m);
	/*
	 * The task's secrets (sbx/secret.h), borrowed.  Plain HTTP: a head goes
	 * through sbx_secret_rewrite_head() (a secret's key added only with
	 * allowHttp; a sentinel out of place refuses the request) and the body
	 * is scanned for other hosts' sentinels; CONNECT: a sentinel in the
	 * request or in the ClientHello (the SNI) refuses the tunnel.
	 */
	const struct sbx_secret *const *secrets;
	size_t nsecrets;
	/* The host's own proxy (sbx/proxy-upstream.h), borrowed; NULL: connect directly. */
	const struct sbx_proxy_upstream *upstream;
};

#define SBX_PROXY_CONFIG_INIT { \
	.policy = NULL, .max_conns = 128, .max_bytes = 0, .idle_ms = 5 * 60 * 1000, \
	.connect_ms = 10 * 1000, .head_ms = 30 * 1000, .event = NULL, .opaque = NULL, \
	.intercept = NULL, .mitm = NULL, .secrets = NULL, .nsecrets = 0, .upstream = NULL }

int sbx_proxy_new(struct sbx_proxy **out, const struct sbx_proxy_config *cfg);
/*
 * Take ownership of fd, one client connection, and serve it in a thread
 * of its own.  Over max_conns it is answered 503 and closed here (with an
 * event), and 0 is returned.  Errors only when the proxy is being freed or
 * out of memory (fd is closed then too).
 */
int sbx_proxy_accept(struct sbx_proxy *p, int fd);
/* Bytes relayed so far (both ways, all connections). */
uint64_t sbx_proxy_bytes(const struct sbx_proxy *p);
/* The same, each way, as relayed so far (an intercepted connection counts when it ends). */
void sbx_proxy_bytes_split(const struct sbx_proxy *p, uint64_t *up, uint64_t *down);
/* End every connection, join every thread.  NULL is a no-op. */
void sbx_proxy_free(struct sbx_proxy *p);

#endif
