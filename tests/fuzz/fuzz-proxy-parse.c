// SPDX-License-Identifier: MIT
/*
 * The egress proxy's parsers, fed what a hostile guest may send: the
 * first byte picks the request-head parser (sbx/http-req.c, fed in the
 * splits the rest of that byte gives), the ClientHello parser
 * (sbx/tls-hello.c), or a policy rule and a query (sbx/policy.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/http-req.h"
#include "sbx/policy.h"
#include "sbx/tls-hello.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_host(const char *h)
{
	char again[SBX_HTTP_HOST_MAX];

	/* a normalised host normalises to itself */
	if (sbx_http_host_normalize(again, h, strlen(h)) < 0 || strcmp(again, h))
		__builtin_trap();
}

static void fuzz_head(const uint8_t *data, size_t size, unsigned step)
{
	struct sbx_http_scan scan = SBX_HTTP_SCAN_INIT;
	struct sbx_http_req *r = NULL;
	size_t have = 0, i;
	long end = 0;

	while (have < size && end == 0) {
		have += step < size - have ? step : size - have;
		end = sbx_http_head_end(&scan, data, have);
	}
	if (end <= 0)
		return;
	if ((size_t)end > have || end > SBX_HTTP_HEAD_MAX)
		__builtin_trap();
	if (sbx_http_req_parse(&r, data, (size_t)end) < 0)
		return;
	if (r->chunked) {
		/* the rest is the body, fed in the same steps */
		struct sbx_http_chunked st = SBX_HTTP_CHUNKED_INIT;
		size_t off = (size_t)end;

		while (off < size && !st.done) {
			size_t n = step < size - off ? step : size - off;
			long used = sbx_http_chunked_scan(&st, data + off, n);

			if (used < 0)
				break;
			if ((size_t)used > n || (!st.done && (size_t)used != n))
				__builtin_trap();
			off += (size_t)used;
		}
	}
	check_host(r->host);
	if (!r->port || r->nfields > SBX_HTTP_FIELDS_MAX || (r->form == SBX_HTTP_ABSOLUTE) != !!r->path)
		__builtin_trap();
	if (r->path && r->path[0] != '/')
		__builtin_trap();
	for (i = 0; i < r->nfields; i++)
		if (!r->fields[i].name[0] || strchr(r->fields[i].value, '\n'))
			__builtin_trap();
	(void)sbx_http_req_field(r, "Host");
	sbx_http_req_free(r);
}

static void fuzz_hello(const uint8_t *data, size_t size)
{
	struct sbx_tls_hello h;
	int ret = sbx_tls_hello_parse(&h, data, size);

	if (ret == 0) {
		if (h.records_len > size || (h.has_sni && !h.sni[0]))
			__builtin_trap();
		if (h.has_sni)
			check_host(h.sni);
		if (strlen(h.alpn) >= SBX_TLS_ALPN_MAX)
			__builtin_trap();
	}
}

/* "RULE\nHOST[/PATH]": a rule, then a query against it (with GET when there is a path). */
static void fuzz_policy(const uint8_t *data, size_t size)
{
	struct sbx_policy *p = NULL;
	struct sbx_policy_verdict v;
	const char *text = (const char *)data, *nl = memchr(text, '\n', size), *slash;
	char *rule = NULL, *host = NULL, *path = NULL;

	if (!nl || memchr(text, 0, size) || sbx_policy_new(&p))
		return;
	slash = memchr(nl + 1, '/', size - (size_t)(nl + 1 - text));
	rule = strndup(text, (size_t)(nl - text));
	host = strndup(nl + 1, (size_t)((slash ? slash : text + size) - nl - 1));
	if (slash)
		path = strndup(slash, (size_t)(text + size - slash));
	if (rule && host && (!slash || path)) {
		struct sbx_policy_query q = { host, 443, path ? "GET" : NULL, path };

		(void)sbx_policy_add_rule(p, rule, "fuzz");
		sbx_policy_check(p, &q, &v);
		if (v.allowed && !v.rule[0])
			__builtin_trap();
	}
	free(rule);
	free(host);
	free(path);
	sbx_policy_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
	case 1:
		fuzz_head(data + 1, size - 1, 1u + (data[0] >> 2) * 97u);
		break;
	case 2:
		fuzz_hello(data + 1, size - 1);
		break;
	default:
		fuzz_policy(data + 1, size - 1);
		break;
	}
	sbx_error_clear();
	return 0;
}
