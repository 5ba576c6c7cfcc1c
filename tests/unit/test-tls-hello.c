// SPDX-License-Identifier: MIT
/* Unit tests for sbx/tls-hello.c: ClientHellos built by hand, whole and broken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/tls-hello.h"
#include "util/error.h"

struct buf {
	uint8_t d[200000];
	size_t n;
};

static void put8(struct buf *b, unsigned v)
{
	b->d[b->n++] = (uint8_t)v;
}

static void put16(struct buf *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v & 0xff);
}

static void put(struct buf *b, const void *p, size_t n)
{
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

/* Patch a 16-bit length at `at` to cover everything written after it. */
static void close16(struct buf *b, size_t at)
{
	size_t n = b->n - at - 2;

	b->d[at] = (uint8_t)(n >> 8);
	b->d[at + 1] = (uint8_t)n;
}

struct hello_opts {
	const char *sni;	/* NULL: no server_name */
	const char *const *alpn;
	bool ech;
	bool dup_sni_ext;
	size_t pad;		/* a padding extension of this many bytes */
};

/* A ClientHello handshake message (header included). */
static void build_hello(struct buf *m, const struct hello_opts *o)
{
	size_t body, exts, at;
	uint8_t random[32] = { 1, 2, 3 };
	int i;

	m->n = 0;
	put8(m, 1);
	put8(m, 0);
	body = m->n;
	put16(m, 0);		/* 24-bit length patched below */
	put16(m, 0x0303);
	put(m, random, 32);
	put8(m, 32);
	put(m, random, 32);	/* session id */
	put16(m, 4);
	put16(m, 0x1301);
	put16(m, 0x1302);
	put8(m, 1);
	put8(m, 0);
	exts = m->n;
	put16(m, 0);
	for (i = 0; i < (o->dup_sni_ext ? 2 : 1) && o->sni; i++) {
		put16(m, 0);
		at = m->n;
		put16(m, 0);
		put16(m, (unsigned)strlen(o->sni) + 3);
		put8(m, 0);
		put16(m, (unsigned)strlen(o->sni));
		put(m, o->sni, strlen(o->sni));
		close16(m, at);
	}
	if (o->alpn) {
		size_t list;

		put16(m, 16);
		at = m->n;
		put16(m, 0);
		list = m->n;
		put16(m, 0);
		for (i = 0; o->alpn[i]; i++) {
			put8(m, (unsigned)strlen(o->alpn[i]));
			put(m, o->alpn[i], strlen(o->alpn[i]));
		}
		close16(m, list);
		close16(m, at);
	}
	/* supported_versions: TLS 1.3 */
	put16(m, 43);
	put16(m, 3);
	put8(m, 2);
	put16(m, 0x0304);
	if (o->ech) {
		put16(m, 0xfe0d);
		put16(m, 4);
		put16(m, 0);
		put16(m, 1);
	}
	if (o->pad) {
		put16(m, 21);
		put16(m, (unsigned)o->pad);
		memset(m->d + m->n, 0, o->pad);
		m->n += o->pad;
	}
	close16(m, exts);
	m->d[body - 1] = (uint8_t)((m->n - body - 2) >> 16);
	m->d[body] = (uint8_t)((m->n - body - 2) >> 8);
	m->d[body + 1] = (uint8_t)(m->n - body - 2);
}

/* Wrap a handshake message in records of at most `frag` bytes. */
static void records(struct buf *r, const struct buf *m, size_t frag)
{
	size_t off;

	r->n = 0;
	for (off = 0; off < m->n; off += frag) {
		size_t n = m->n - off < frag ? m->n - off : frag;

		put8(r, 0x16);
		put16(r, off ? 0x0303 : 0x0301);
		put16(r, (unsigned)n);
		put(r, m->d + off, n);
	}
}

static struct buf m, r;

static void test_sni_alpn(void **state)
{
	static const char *const alpn[] = { "h2", "http/1.1", NULL };
	struct hello_opts o = { .sni = "API.Example.com", .alpn = alpn };
	struct sbx_tls_hello h;

	(void)state;
	build_hello(&m, &o);
	records(&r, &m, 16384);
	assert_int_equal(sbx_tls_hello_parse(&h, r.d, r.n), 0);
	assert_true(h.has_sni);
	assert_string_equal(h.sni, "api.example.com");
	assert_false(h.ech);
	assert_int_equal(h.alpn_count, 2);
	assert_string_equal(h.alpn, "h2,http/1.1");
	assert_int_equal(h.legacy_version, 0x0303);
	assert_int_equal(h.records_len, r.n);
	/* bytes after the ClientHello (early data, the next flight) are left alone */
	r.d[r.n] = 0x17;
	assert_int_equal(sbx_tls_hello_parse(&h, r.d, r.n + 1), 0);
	assert_int_equal(h.records_len, r.n);
}

static void test_no_sni_and_ech(void **state)
{
	struct hello_opts o = { 0 };
	struct sbx_tls_hello h;

	(void)state;
	build_hello(&m, &o);
	records(&r, &m, 16384);
	assert_int_equal(sbx_tls_hello_parse(&h, r.d, r.n), 0);
	assert_false(h.has_sni);
	o.sni = "public.example.com";
	o.ech = true;
	build_hello(&m, &o);
	records(&r, &m, 16384);
	assert_int_equal(sbx_tls_hello_parse(&h, r.d, r.n), 0);
	assert_true(h.ech);
	assert_string_equal(h.sni, "public.example.com");
}

static void test_split_records_and_prefixes(void **state)
{
	struct hello_opts o = { .sni = "a.example", .pad = 3000 };
	struct sbx_tls_hello h;
	size_t i, frags[] = { 1, 3, 7, 100, 1000 };

	(void)state;
	build_hello(&m, &o);
	for (i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
		size_t n;

		records(&r, &m, frags[i]);
		if (r.n > SBX_TLS_HELLO_MAX) {
			assert_int_equal(sbx_tls_hello_parse(&h, r.d, r.n), SBX_ELIMIT);
			continue;
		}
		assert_int_equal(sbx_tls_hello_parse(&h, r.d, r.n), 0);
		assert_string_equal(h.sni, "a.example");
		/* every proper prefix asks for more */
		for (n = 0; n < r.n; n += 1 + n / 7)
			assert_int_equal(sbx_tls_hello_parse(&h, r.d, n), SBX_TLS_HELLO_MORE);
	}
}

static void expect_corrupt(const char *what)
{
	struct sbx_tls_hello h;
	int ret = sbx_tls_hello_parse(&h, r.d, r.n);

	if (ret != SBX_ECORRUPT)
		fail_msg("%s: got %d (%s)", what, ret, sbx_error());
}

static void test_malformed(void **state)
{
	struct hello_opts o = { .sni = "a.example" };
	struct sbx_tls_hello h;
	size_t sni_len_at;

	(void)state;
	build_hello(&m, &o);
	records(&r, &m, 16384);
	/* not TLS at all */
	memcpy(r.d, "GET / HTTP/1.1\r\n", 16);
	r.n = 16;
	expect_corrupt("plain HTTP");
	/* an alert record, a bad version, a zero and an oversized record length */
	records(&r, &m, 16384);
	r.d[0] = 0x15;
	expect_corrupt("alert");
	records(&r, &m, 16384);
	r.d[1] = 2;
	expect_corrupt("SSL 2 version");
	records(&r, &m, 16384);
	r.d[3] = 0;
	r.d[4] = 0;
	expect_corrupt("empty record");
	records(&r, &m, 16384);
	r.d[3] = 0x40;
	r.d[4] = 0x01;
	expect_corrupt("record over 2^14");
	/* a ServerHello */
	records(&r, &m, 16384);
	r.d[5] = 2;
	expect_corrupt("not a ClientHello");
	/* a handshake length past the cap */
	records(&r, &m, 16384);
	r.d[6] = 0x01;
	assert_int_equal(sbx_tls_hello_parse(&h, r.d, r.n), SBX_ELIMIT);
	/* handshake length longer than the body: more, then (body shorter) corrupt */
	build_hello(&m, &o);
	m.d[3] += 1;	/* one byte too long: the parser waits for it */
	records(&r, &m, 16384);
	assert_int_equal(sbx_tls_hello_parse(&h, r.d, r.n), SBX_TLS_HELLO_MORE);
	/* an SNI length that runs past its extension */
	build_hello(&m, &o);
	sni_len_at = m.n;
	for (size_t i = 0; i + 9 < m.n; i++)
		if (!memcmp(m.d + i, "a.example", 9)) {
			sni_len_at = i - 2;
			break;
		}
	m.d[sni_len_at + 1] += 10;
	records(&r, &m, 16384);
	expect_corrupt("SNI length");
	/* names that are not host names */
	o.sni = "a.example.";
	build_hello(&m, &o);
	records(&r, &m, 16384);
	expect_corrupt("trailing dot");
	o.sni = "10.0.0.1";
	build_hello(&m, &o);
	records(&r, &m, 16384);
	expect_corrupt("IP address");
	o.sni = "a\x1b[2J.example";
	build_hello(&m, &o);
	records(&r, &m, 16384);
	expect_corrupt("escape sequence");
	o.sni = "a.example";
	o.dup_sni_ext = true;
	build_hello(&m, &o);
	records(&r, &m, 16384);
	expect_corrupt("duplicate extension");
	/* truncated: cut the extensions block's last byte and fix every length but its own */
	o.dup_sni_ext = false;
	build_hello(&m, &o);
	m.n--;
	m.d[3]--;
	records(&r, &m, 16384);
	expect_corrupt("truncated extensions");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sni_alpn),
		cmocka_unit_test(test_no_sni_and_ech),
		cmocka_unit_test(test_split_records_and_prefixes),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests_name("tls-hello", tests, NULL, NULL);
}
