// SPDX-License-Identifier: MIT
/*
 * The relay's request stream (sbx/req-stream.c: heads, Content-Length and
 * chunked bodies, trailers, sentinel scans) fed arbitrary guest bytes in
 * arbitrary splits.  The key property: a real value goes only to its own
 * host.  Sentinels are fixed so the corpus can hold them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/req-stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sbx_secret *sec[2];
static char *sent;
static size_t nsent, capsent;
/* What the guest sent (data less the split bytes). */
static char guest[1 << 20];
static size_t nguest;

static void fix(struct sbx_secret *s, const char *sentinel)
{
	strcpy(s->sentinel, sentinel);
	s->sentinel_len = strlen(sentinel);
}

static void init(void)
{
	if (sec[0])
		return;
	if (sbx_secret_new(&sec[0], "a", "a.example", "x-api-key", "A", "REAL-A", 6) ||
	    sbx_secret_new(&sec[1], "b", "b.example", "Authorization: Bearer", "B", "REAL-B", 6))
		abort();
	fix(sec[0], "sbx-sentinel-a-00000000000000000000000000000000");
	fix(sec[1], "sbx-sentinel-b-11111111111111111111111111111111");
	sec[1]->allow_http = true;
}

static void drain(struct sbx_req_stream *r)
{
	size_t n = r->out_n - r->out_off;

	if (nsent + n > capsent) {
		capsent = (nsent + n) * 2;
		sent = realloc(sent, capsent);
		if (!sent)
			abort();
	}
	memcpy(sent + nsent, r->out + r->out_off, n);
	nsent += n;
	sbx_req_stream_sent(r, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hosts[] = { "a.example", "b.example", "c.example" };
	struct sbx_req_stream r;
	size_t off = 1, space;
	const char *host;
	char *buf;

	init();
	if (size < 1)
		return 0;
	host = hosts[data[0] % 3];
	if (sbx_req_stream_init(&r, host, 443, data[0] & 4, (const struct sbx_secret *const *)sec, 2))
		abort();
	nsent = 0;
	nguest = 0;
	while (off < size) {
		size_t step = 1 + data[off] % 211u;

		off++;
		if (step > size - off)
			step = size - off;
		buf = sbx_req_stream_space(&r, &space);
		if (!space)
			break;
		if (step > space)
			step = space;
		memcpy(buf, data + off, step);
		if (nguest + step <= sizeof(guest)) {
			memcpy(guest + nguest, data + off, step);
			nguest += step;
		}
		off += step;
		if (sbx_req_stream_push(&r, step))
			break;
		drain(&r);
		if (r.in_n > SBX_REQ_STREAM_IN_CAP)
			__builtin_trap();
	}
	if (r.err && !r.reason[0])
		__builtin_trap();
	/* A real value never goes to another host (unless the guest itself sent it). */
	if (!memmem(guest, nguest, "REAL-", 5) &&
	    ((strcmp(host, "a.example") && memmem(sent, nsent, "REAL-A", 6)) ||
	     (strcmp(host, "b.example") && memmem(sent, nsent, "REAL-B", 6))))
		__builtin_trap();
	sbx_req_stream_clear(&r);
	return 0;
}
