/* SPDX-License-Identifier: MIT */
/*
 * The guest's HTTP/1.1 request stream towards one host, as the relay
 * (sbx/mitm.c) forwards it: each head rewritten by sbx_secret_rewrite_head()
 * (a secret's placeholder replaced, any other sentinel refused, framing
 * parsed), each body passed by Content-Length or by chunks (sizes parsed,
 * lines without controls, trailers bounded) and scanned with a sliding
 * window, so the next head is found where the server will find it.
 *
 * The caller reads guest bytes into sbx_req_stream_space(), hands them over
 * with sbx_req_stream_push(), sends out[out_off..out_n) upstream and
 * reports it with sbx_req_stream_sent().  The output holds real values:
 * sbx_req_stream_clear() and _sent() clear it.  Errors are sticky.
 */
#ifndef SBX_SBX_REQ_STREAM_H
#define SBX_SBX_REQ_STREAM_H

#include "sbx/secret.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SBX_REQ_STREAM_IN_CAP (SBX_HTTP_HEAD_MAX + 16384)

enum sbx_req_state { R_HEAD, R_BODY, R_CHUNK_LINE, R_CHUNK_DATA, R_CHUNK_CRLF, R_TRAILER };

struct sbx_req_stream {
	const char *host;
	uint16_t port;
	bool tls;			/* false: plain HTTP (secrets only with allowHttp) */
	const struct sbx_secret *const *secrets;
	size_t nsecrets;
	/*
	 * The secrets of other hosts: a body is scanned for their sentinels
	 * only.  Its own host's sentinel in a body is a placeholder the server
	 * sees as it is (an agent quoting its environment to its model): never
	 * replaced, not refused.
	 */
	const struct sbx_secret **foreign;
	size_t nforeign;
	char *in;			/* guest bytes not yet parsed */
	size_t in_n;
	char *out;			/* to send upstream: out[out_off..out_n) */
	size_t out_n, out_off, out_cap;
	enum sbx_req_state st;
	uint64_t left;			/* body or chunk bytes still to pass */
	size_t trailer_bytes;
	struct sbx_sentinel_scan scan;
	/* results */
	unsigned requests;		/* heads forwarded */
	bool later;			/* the current request is not the first */
	bool exfil;			/* refused for a sentinel out of place */
	char reason[256];
	char method[16];		/* the first request's */
	char path[256];
	int err;
};

int sbx_req_stream_init(struct sbx_req_stream *r, const char *host, uint16_t port, bool tls,
			const struct sbx_secret *const *secrets, size_t nsecrets);
void sbx_req_stream_clear(struct sbx_req_stream *r);
/* Where the next guest bytes go, and how many fit (0 after an error or when full). */
char *sbx_req_stream_space(struct sbx_req_stream *r, size_t *space);
/*
 * n bytes were written at the space: parse them.  0, or an error with
 * r->reason (SBX_EINVAL refused, r->exfil for a sentinel; SBX_ELIMIT).
 */
int sbx_req_stream_push(struct sbx_req_stream *r, size_t n);
/* n bytes of the output went upstream. */
void sbx_req_stream_sent(struct sbx_req_stream *r, size_t n);

#endif
