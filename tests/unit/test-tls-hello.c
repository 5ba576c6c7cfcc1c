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
#include "tests/unit/tls-hello-build.h"
#include "util/error.h"

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
