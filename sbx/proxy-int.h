/* SPDX-License-Identifier: MIT */
/* Internals shared by proxy.c (object, threads, relay) and proxy-conn.c (one request). */
#ifndef SBX_PROXY_INT_H
#define SBX_PROXY_INT_H

#include "sbx/http-req.h"
#include "sbx/policy.h"
#include "sbx/proxy.h"
#include "sbx/secret.h"

#include <pthread.h>
#include <stddef.h>

#define PROXY_BUF 65536		/* each relay direction's buffer */

struct proxy_conn {
	struct sbx_proxy *p;
	pthread_t thread;
	int client, upstream;	/* closed and set to -1 under p->lock */
	int wake;		/* eventfd: readable when the proxy is freed */
	bool done;		/* the thread has finished (under p->lock) */
	struct proxy_conn *next;
	uint8_t *buf_up, *buf_down;	/* PROXY_BUF each: the head and hello, then the relay */
	int64_t start_ms, start_wall_ms;

	/* What the event reports. */
	char host[SBX_HTTP_HOST_MAX];
	uint16_t port;
	char method[SBX_HTTP_METHOD_MAX];
	char *path;		/* owned; NULL for CONNECT */
	bool allowed;
	char rule[SBX_POLICY_TEXT_MAX];
	char reason[SBX_POLICY_TEXT_MAX];
	char addr[64];		/* the upstream address connected to (or tried) */
	uint64_t bytes_up, bytes_down;
	/* Plain HTTP with secrets: the request body scanned for other hosts' sentinels. */
	struct sbx_sentinel_scan scan;
	const struct sbx_secret **foreign;
	size_t nforeign;
	bool scanning;
};

struct sbx_proxy {
	struct sbx_proxy_config cfg;
	pthread_mutex_t lock;
	struct proxy_conn *conns;
	unsigned nconns;
	bool stopping;
	uint64_t bytes;		/* atomic */
	uint64_t up, down;	/* atomic: relayed so far, guest -> upstream and back */
};

int64_t proxy_now_ms(void);
/* Wait for events on fd until deadline: 1 ready, 0 timed out, -1 the proxy stops or poll failed. */
int proxy_wait(struct proxy_conn *c, int fd, short events, int64_t deadline);
int proxy_send_all(struct proxy_conn *c, int fd, const void *buf, size_t len, int64_t deadline);
void proxy_set_nonblock(int fd);
bool proxy_charge(struct proxy_conn *c, size_t n);
/* Connect to the first address that answers within connect_ms; sets c->upstream. */
int proxy_connect(struct proxy_conn *c, const struct sbx_policy_addr *addrs, size_t n);
void proxy_close_upstream(struct proxy_conn *c);
/*
 * Relay between client and upstream until both sides are done (a tunnel)
 * or the response has ended (http), with at most up_limit bytes from the
 * client (UINT64_MAX: no limit; 0: none) and, with `ck`, only up to the end
 * of a chunked body.  0, or -1 with c->reason.
 */
int proxy_relay(struct proxy_conn *c, uint64_t up_limit, bool http, struct sbx_http_chunked *ck);
/* Serve one connection: read, decide, connect, relay; fills the event fields. */
void proxy_serve(struct proxy_conn *c);
void proxy_event(struct proxy_conn *c);
/* Connect to c->host:c->port through the host's proxy (CONNECT): 0, or -1 with c->reason. */
int proxy_upstream_connect(struct proxy_conn *c, const struct sbx_proxy_upstream *u);

#endif
