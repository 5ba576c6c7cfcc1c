// SPDX-License-Identifier: MIT
/*
 * The request-head rewrite that sbx/mitm.c and the proxy apply to guest
 * requests (sbx/secret-http.c), and the sliding sentinel scan, fed
 * arbitrary bytes: the guest is hostile.  The sentinels are fixed here so
 * the corpus can hold them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sbx_secret *sec[2];

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sbx_secret *const *all = (const struct sbx_secret *const *)sec;
	const char *buf = (const char *)data;
	static const char *const hosts[] = { "a.example", "b.example", "c.example" };
	struct sbx_sentinel_scan scan;
	struct sbx_secret_verdict v;
	const struct sbx_secret *whole, *hit = NULL;
	size_t hlen, off, olen, i;
	char *out;

	init();
	/* The scan over any split agrees with a search of the whole. */
	whole = sbx_secret_find_sentinel(buf, size, all, 2);
	sbx_sentinel_scan_init(&scan, all, 2);
	for (off = 0; off < size && !hit;) {
		size_t step = 1 + (size ? data[off] % 97u : 0);

		if (step > size - off)
			step = size - off;
		hit = sbx_sentinel_scan_feed(&scan, buf + off, step);
		off += step;
	}
	if (!hit != !whole)
		__builtin_trap();

	if (sbx_http_head_len(&hlen, buf, size, SBX_HTTP_HEAD_MAX) || !hlen)
		return 0;
	for (i = 0; i < 6; i++) {
		if (sbx_secret_rewrite_head(&out, &olen, &v, buf, hlen, hosts[i % 3], 443, i < 3, all, 2))
			continue;
		if (v.blocked) {
			if (out)
				__builtin_trap();
			continue;
		}
		/* What goes out holds no sentinel, ends its head, and real values only where counted. */
		if (!out || olen < 4 || memcmp(out + olen - 4, "\r\n\r\n", 4) ||
		    sbx_secret_find_sentinel(out, olen, all, 2) ||
		    (!v.substituted && (memmem(out, olen, "REAL-A", 6) || memmem(out, olen, "REAL-B", 6)) &&
		     !memmem(buf, hlen, "REAL-", 5)))
			__builtin_trap();
		free(out);
	}
	return 0;
}
