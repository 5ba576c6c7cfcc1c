// SPDX-License-Identifier: MIT
/* Unit tests for sbx/http-req.c: the proxy's request-head parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/http-req.h"
#include "util/error.h"

static struct sbx_http_req *parse_ok(const char *head)
{
	struct sbx_http_req *r = NULL;
	int ret = sbx_http_req_parse(&r, head, strlen(head));

	if (ret)
		fail_msg("'%s': %s", head, sbx_error());
	return r;
}

/* Parse must fail with `code` and a message containing `msg`. */
static void parse_bad(const char *head, size_t len, int code, const char *msg)
{
	struct sbx_http_req *r = NULL;
	int ret = sbx_http_req_parse(&r, head, len);

	if (ret != code)
		fail_msg("'%.*s': got %d (%s), want %d", (int)len, head, ret, sbx_error(), code);
	assert_null(r);
	if (!strstr(sbx_error(), msg))
		fail_msg("'%.*s': message '%s' lacks '%s'", (int)len, head, sbx_error(), msg);
}

#define BAD(head, code, msg) parse_bad(head, strlen(head), code, msg)

static void test_connect(void **state)
{
	struct sbx_http_req *r;

	(void)state;
	r = parse_ok("CONNECT Api.Example.COM.:443 HTTP/1.1\r\nHost: api.example.com:443\r\n"
		     "User-Agent: curl/8\r\n\r\n");
	assert_int_equal(r->form, SBX_HTTP_CONNECT);
	assert_string_equal(r->method, "CONNECT");
	assert_string_equal(r->host, "api.example.com");
	assert_int_equal(r->host_type, SBX_HOST_NAME);
	assert_int_equal(r->port, 443);
	assert_null(r->path);
	assert_int_equal(r->nfields, 2);
	assert_string_equal(sbx_http_req_field(r, "user-agent"), "curl/8");
	sbx_http_req_free(r);

	r = parse_ok("CONNECT [2001:DB8::0001]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n");
	assert_string_equal(r->host, "2001:db8::1");
	assert_int_equal(r->host_type, SBX_HOST_IPV6);
	assert_int_equal(r->port, 8443);
	sbx_http_req_free(r);

	/* HTTP/1.0 needs no Host */
	r = parse_ok("CONNECT 192.0.2.7:22 HTTP/1.0\r\n\r\n");
	assert_int_equal(r->host_type, SBX_HOST_IPV4);
	assert_int_equal(r->minor, 0);
	sbx_http_req_free(r);

	BAD("CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", SBX_ECORRUPT, "without a port");
	BAD("CONNECT example.com:0 HTTP/1.1\r\nHost: example.com\r\n\r\n", SBX_ECORRUPT, "port");
	BAD("CONNECT example.com:65536 HTTP/1.1\r\nHost: example.com\r\n\r\n", SBX_ECORRUPT, "port");
	BAD("CONNECT example.com:+443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "port");
	BAD("CONNECT http://example.com:443/ HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "host:port");
	BAD("CONNECT user@example.com:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "host:port");
	BAD("CONNECT 2001:db8::1:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "brackets");
	BAD("CONNECT [fe80::1%25eth0]:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "IPv6");
	BAD("CONNECT [example.com]:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "brackets");
	BAD("CONNECT [::1:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "]");
	BAD("CONNECT 127.1:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "dotted-quad");
	BAD("CONNECT 0x7f.0.0.1:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "dotted-quad");
	BAD("CONNECT 2130706433:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "dotted-quad");
	BAD("CONNECT 127.000.0.1:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "dotted-quad");
	BAD("CONNECT 256.0.0.1:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "dotted-quad");
	BAD("CONNECT a..b:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "label");
	BAD("CONNECT -a.b:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "'-'");
	BAD("CONNECT a%2eb:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "character");
	BAD("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
	    "Content-Length: 5\r\n\r\n", SBX_ECORRUPT, "body");
	BAD("CONNECT example.com:443 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "without a Host");
	BAD("CONNECT example.com:443 HTTP/1.1\r\nHost: other.com:443\r\n\r\n", SBX_ECORRUPT,
	    "does not match");
	BAD("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:8443\r\n\r\n", SBX_ECORRUPT,
	    "does not match");
}

static void test_absolute(void **state)
{
	struct sbx_http_req *r;

	(void)state;
	r = parse_ok("GET http://Example.com/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n"
		     "Accept: */*\r\n\r\n");
	assert_int_equal(r->form, SBX_HTTP_ABSOLUTE);
	assert_string_equal(r->host, "example.com");
	assert_int_equal(r->port, 80);
	assert_string_equal(r->path, "/a/b?c=d");
	assert_int_equal(r->content_length, -1);
	sbx_http_req_free(r);

	r = parse_ok("POST HTTP://127.0.0.1:8080?x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
		     "Content-Length: 12\r\n\r\n");
	assert_int_equal(r->port, 8080);
	assert_string_equal(r->path, "/?x");
	assert_int_equal(r->content_length, 12);
	sbx_http_req_free(r);

	r = parse_ok("PUT http://[::1]:81 HTTP/1.1\r\nHost: [::1]:81\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n");
	assert_string_equal(r->host, "::1");
	assert_string_equal(r->path, "/");
	assert_true(r->chunked);
	sbx_http_req_free(r);

	/* Host without a port means 80 */
	r = parse_ok("GET http://example.com:80/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
	sbx_http_req_free(r);

	BAD("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", SBX_EUNSUPPORTED, "origin-form");
	BAD("OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n", SBX_EUNSUPPORTED, "origin-form");
	BAD("GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", SBX_EUNSUPPORTED,
	    "CONNECT");
	BAD("GET ftp://example.com/ HTTP/1.1\r\n\r\n", SBX_EUNSUPPORTED, "http://");
	BAD("GET http://user:pw@example.com/ HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "userinfo");
	BAD("GET http://example.com/#frag HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "fragment");
	BAD("GET http://example.com:/ HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "port");
	BAD("GET http:///x HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "empty host");
	BAD("GET http://example.com/\xc3\xa9 HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "request target");
	BAD("GET http://example.com:8080/ HTTP/1.1\r\nHost: example.com\r\n\r\n", SBX_ECORRUPT,
	    "does not match");
	BAD("GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\nHost: a.com\r\n\r\n", SBX_ECORRUPT,
	    "more than one Host");
}

static void test_request_line(void **state)
{
	(void)state;
	BAD("GET http://a.com/ HTTP/2.0\r\nHost: a.com\r\n\r\n", SBX_EUNSUPPORTED, "version");
	BAD("GET http://a.com/ HTTP/1.2\r\nHost: a.com\r\n\r\n", SBX_EUNSUPPORTED, "version");
	BAD("GET http://a.com/ HTTP/1\r\nHost: a.com\r\n\r\n", SBX_ECORRUPT, "version");
	BAD("GET http://a.com/ http/1.1\r\nHost: a.com\r\n\r\n", SBX_ECORRUPT, "version");
	BAD("GET  http://a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n", SBX_ECORRUPT, "METHOD TARGET");
	BAD("GET http://a.com/ HTTP/1.1 \r\nHost: a.com\r\n\r\n", SBX_ECORRUPT, "version");
	BAD("GET http://a.com/  HTTP/1.1\r\nHost: a.com\r\n\r\n", SBX_ECORRUPT, "");
	BAD("G(T http://a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n", SBX_ECORRUPT, "method");
	BAD("GET\thttp://a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n", SBX_ECORRUPT, "");
	BAD("GETGETGETGETGETGETGETGETGETGETGETGET http://a.com/ HTTP/1.1\r\n\r\n", SBX_ECORRUPT,
	    "method length");
	BAD("\r\nGET http://a.com/ HTTP/1.1\r\n\r\n", SBX_ECORRUPT, "empty request line");
	BAD("GET http://a.com/ HTTP/1.1\nHost: a.com\r\n\r\n", SBX_ECORRUPT, "bare LF");
	BAD("GET http://a.com/ HTTP/1.1\rHost: a.com\r\n\r\n", SBX_ECORRUPT, "bare CR");
	parse_bad("GET http://a.com/\0 HTTP/1.1\r\n\r\n", 31, SBX_ECORRUPT, "NUL");
}

static void test_fields(void **state)
{
	struct sbx_http_req *r;

	(void)state;
	r = parse_ok("GET http://a.com/ HTTP/1.1\r\nHost:a.com\r\nX-A: \t v a l \t \r\n"
		     "X-Empty:\r\nX-Obs: caf\xc3\xa9\r\n\r\n");
	assert_string_equal(sbx_http_req_field(r, "X-A"), "v a l");
	assert_string_equal(sbx_http_req_field(r, "x-empty"), "");
	assert_null(sbx_http_req_field(r, "X-None"));
	sbx_http_req_free(r);

	BAD("GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\nX-A: b\r\n c\r\n\r\n", SBX_ECORRUPT,
	    "folding");
	BAD("GET http://a.com/ HTTP/1.1\r\nHost : a.com\r\n\r\n", SBX_ECORRUPT, "name");
	BAD("GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\nNoColon\r\n\r\n", SBX_ECORRUPT, "name");
	BAD("GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\n: v\r\n\r\n", SBX_ECORRUPT, "name");
	BAD("GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\nX: a\x01z\r\n\r\n", SBX_ECORRUPT,
	    "control byte");
	BAD("GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\nX: a\x7fz\r\n\r\n", SBX_ECORRUPT,
	    "control byte");
	/* framing: the request-smuggling cases */
	BAD("POST http://a.com/ HTTP/1.1\r\nHost: a.com\r\nContent-Length: 3\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", SBX_ECORRUPT, "smuggling");
	BAD("POST http://a.com/ HTTP/1.1\r\nHost: a.com\r\nContent-Length: 3\r\n"
	    "Content-Length: 3\r\n\r\n", SBX_ECORRUPT, "more than one Content-Length");
	BAD("POST http://a.com/ HTTP/1.1\r\nHost: a.com\r\nContent-Length: 3, 3\r\n\r\n",
	    SBX_ECORRUPT, "Content-Length");
	BAD("POST http://a.com/ HTTP/1.1\r\nHost: a.com\r\nContent-Length: -1\r\n\r\n",
	    SBX_ECORRUPT, "Content-Length");
	BAD("POST http://a.com/ HTTP/1.1\r\nHost: a.com\r\nContent-Length: 99999999999999999\r\n\r\n",
	    SBX_ECORRUPT, "Content-Length");
	BAD("POST http://a.com/ HTTP/1.1\r\nHost: a.com\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	    SBX_EUNSUPPORTED, "chunked");
	BAD("POST http://a.com/ HTTP/1.1\r\nHost: a.com\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", SBX_ECORRUPT, "more than one Transfer-Encoding");
	BAD("POST http://a.com/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", SBX_ECORRUPT,
	    "HTTP/1.0");
}

static char *repeat(const char *prefix, char c, size_t n, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *s = malloc(pl + n + sl + 1);

	assert_non_null(s);
	memcpy(s, prefix, pl);
	memset(s + pl, c, n);
	memcpy(s + pl + n, suffix, sl + 1);
	return s;
}

static void test_limits(void **state)
{
	struct sbx_http_scan scan = SBX_HTTP_SCAN_INIT;
	char *s;
	size_t i;
	long end;

	(void)state;
	/* a request line just over 8 KiB fails as soon as the limit passes */
	s = repeat("GET http://a.com/", 'a', SBX_HTTP_LINE_MAX, " HTTP/1.1\r\n\r\n");
	assert_int_equal(sbx_http_head_end(&scan, s, SBX_HTTP_LINE_MAX + 1), SBX_ELIMIT);
	assert_non_null(strstr(sbx_error(), "request line"));
	free(s);
	/* one header field over 8 KiB */
	s = repeat("GET http://a.com/ HTTP/1.1\r\nX: ", 'a', SBX_HTTP_FIELD_MAX, "\r\n\r\n");
	parse_bad(s, strlen(s), SBX_ELIMIT, "header field longer");
	free(s);
	/* 101 fields */
	{
		char *h = malloc(200 * 20 + 100);
		size_t n = (size_t)sprintf(h, "GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\n");

		for (i = 0; i < 100; i++)
			n += (size_t)sprintf(h + n, "X-%zu: v\r\n", i);
		n += (size_t)sprintf(h + n, "\r\n");
		parse_bad(h, n, SBX_ELIMIT, "more than 100");
		free(h);
	}
	/* a head over 64 KiB in fields that are each within their limit */
	{
		size_t cap = SBX_HTTP_HEAD_MAX + 16384, n;
		char *h = malloc(cap);

		n = (size_t)sprintf(h, "GET http://a.com/ HTTP/1.1\r\nHost: a.com\r\n");
		for (i = 0; i < 9; i++) {
			n += (size_t)sprintf(h + n, "X-%zu: ", i);
			memset(h + n, 'v', 8000);
			n += 8000;
			n += (size_t)sprintf(h + n, "\r\n");
		}
		n += (size_t)sprintf(h + n, "\r\n");
		parse_bad(h, n, SBX_ELIMIT, "longer than 65536");
		free(h);
	}
	/* byte at a time: needs more until the end, then the length */
	s = "CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\n\r\nEXTRA";
	memset(&scan, 0, sizeof(scan));
	for (i = 1; i <= strlen(s); i++) {
		end = sbx_http_head_end(&scan, s, i);
		if (end)
			break;
	}
	assert_int_equal(end, strlen(s) - 5);
	assert_int_equal(i, strlen(s) - 5);
	/* the parser wants exactly the head */
	parse_bad(s, strlen(s), SBX_ECORRUPT, "incomplete");
}

static void test_normalize(void **state)
{
	char out[SBX_HTTP_HOST_MAX];
	char long_label[80];

	(void)state;
	assert_int_equal(sbx_http_host_normalize(out, "WWW.Example.COM.", 16), SBX_HOST_NAME);
	assert_string_equal(out, "www.example.com");
	assert_int_equal(sbx_http_host_normalize(out, "10.0.0.1", 8), SBX_HOST_IPV4);
	assert_int_equal(sbx_http_host_normalize(out, "::ffff:127.0.0.1", 16), SBX_HOST_IPV6);
	assert_string_equal(out, "::ffff:127.0.0.1");
	assert_int_equal(sbx_http_host_normalize(out, "1.2.3.4.5", 9), SBX_ECORRUPT);
	assert_int_equal(sbx_http_host_normalize(out, "0x10", 4), SBX_ECORRUPT);
	assert_int_equal(sbx_http_host_normalize(out, "a.0xyz", 6), SBX_ECORRUPT);
	assert_int_equal(sbx_http_host_normalize(out, "x.123", 5), SBX_ECORRUPT);
	assert_int_equal(sbx_http_host_normalize(out, "123x.com", 8), SBX_HOST_NAME);
	assert_int_equal(sbx_http_host_normalize(out, ".", 1), SBX_ECORRUPT);
	assert_int_equal(sbx_http_host_normalize(out, "a b", 3), SBX_ECORRUPT);
	memset(long_label, 'a', 64);
	memcpy(long_label + 64, ".com", 5);
	assert_int_equal(sbx_http_host_normalize(out, long_label, 68), SBX_ECORRUPT);
	assert_int_equal(sbx_http_host_normalize(out, long_label + 1, 67), SBX_HOST_NAME);
}

/* Feed a chunked body in every split: the end is found at the same byte. */
static void chunked_ok(const char *body, size_t want_end)
{
	size_t len = strlen(body), split;

	for (split = 0; split <= len; split++) {
		struct sbx_http_chunked st = SBX_HTTP_CHUNKED_INIT;
		long a = sbx_http_chunked_scan(&st, body, split), b = 0;

		assert_true(a >= 0);
		if (!st.done) {
			assert_int_equal(a, split);
			b = sbx_http_chunked_scan(&st, body + split, len - split);
			assert_true(b >= 0);
		}
		assert_true(st.done);
		assert_int_equal((size_t)(a + b), want_end);
	}
}

static void chunked_bad(const char *body, int code)
{
	struct sbx_http_chunked st = SBX_HTTP_CHUNKED_INIT;
	long r = sbx_http_chunked_scan(&st, body, strlen(body));

	if (r != code)
		fail_msg("'%s': got %ld, want %d", body, r, code);
}

static void test_chunked(void **state)
{
	static const char one[] = "5\r\nhello\r\n0\r\n\r\n";
	static const char ext[] = "A;name=\"v\"\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
	char *s;

	(void)state;
	chunked_ok(one, sizeof(one) - 1);
	chunked_ok(ext, sizeof(ext) - 1);
	/* a pipelined request after the body is not part of it */
	s = malloc(200);
	assert_non_null(s);
	snprintf(s, 200, "%sGET http://a.com/secret HTTP/1.1\r\n\r\n", one);
	chunked_ok(s, sizeof(one) - 1);
	free(s);
	chunked_bad("\r\n", SBX_ECORRUPT);
	chunked_bad("x\r\n", SBX_ECORRUPT);
	chunked_bad("5 \r\n", SBX_ECORRUPT);
	chunked_bad("5\nhello", SBX_ECORRUPT);
	chunked_bad("5\r\nhello!\r\n", SBX_ECORRUPT);
	chunked_bad("5\r\nhello\n", SBX_ECORRUPT);
	chunked_bad("1000000000000000\r\n", SBX_ECORRUPT);
	chunked_bad("1;\x01\r\n", SBX_ECORRUPT);
	chunked_bad("0\r\n Folded: x\r\n\r\n", SBX_ECORRUPT);
	chunked_bad("0\r\nX: a\rb\r\n\r\n", SBX_ECORRUPT);
	s = repeat("1;", 'a', SBX_HTTP_FIELD_MAX + 1, "\r\n");
	chunked_bad(s, SBX_ELIMIT);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_absolute),
		cmocka_unit_test(test_request_line),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_chunked),
	};

	return cmocka_run_group_tests_name("http-req", tests, NULL, NULL);
}
