// SPDX-License-Identifier: MIT
/* Unit tests for sbx/policy.c: rules, presets, decisions and address checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/policy.h"
#include "util/error.h"

static struct sbx_policy *policy(const char *const *rules)
{
	struct sbx_policy *p = NULL;

	assert_int_equal(sbx_policy_new(&p), 0);
	for (; rules && *rules; rules++)
		if (sbx_policy_add_rule(p, *rules, "test"))
			fail_msg("rule '%s': %s", *rules, sbx_error());
	return p;
}

static bool allows(struct sbx_policy *p, const char *host, uint16_t port, const char *method,
		   const char *path)
{
	struct sbx_policy_query q = { host, port, method, path };
	struct sbx_policy_verdict v;

	sbx_policy_check(p, &q, &v);
	return v.allowed;
}

static void test_rule_syntax(void **state)
{
	static const char *const bad[] = {
		"", "*", "*.", "*.1.2.3.4", "a.com:", "a.com:0", "a.com:65536", "a.com:x",
		"get a.com", " a.com", "GET  a.com", "a.com/x*y", "2001:db8::1", "[a.com]",
		"[::1", "a com", "a.com:443:1", "127.1", "a..com", "a.com/\x01", NULL };
	struct sbx_policy *p = policy(NULL);
	size_t i;

	(void)state;
	for (i = 0; bad[i]; i++)
		if (sbx_policy_add_rule(p, bad[i], "test") != SBX_EINVAL)
			fail_msg("rule '%s' was accepted", bad[i]);
	assert_int_equal(sbx_policy_rule_count(p), 0);
	assert_int_equal(sbx_policy_add_rule(p, "POST [2001:DB8::1]:8443/v1/*", "t"), 0);
	assert_int_equal(sbx_policy_add_rule(p, "*.Example.org:*", "t"), 0);
	assert_int_equal(sbx_policy_rule_count(p), 2);
	sbx_policy_free(p);
	sbx_policy_free(NULL);
}

static void test_matching(void **state)
{
	static const char *const rules[] = {
		"api.example.com", "*.cdn.example.net", "alt.example.com:8443",
		"any.example.com:*", "192.0.2.10:9000", "[2001:db8::5]",
		"GET deb.example.org/debian/*", "POST api2.example.com/v1/messages", NULL };
	struct sbx_policy *p = policy(rules);

	(void)state;
	/* exact names, both default ports, case and trailing dot */
	assert_true(allows(p, "api.example.com", 443, NULL, NULL));
	assert_true(allows(p, "API.example.com.", 80, "GET", "/"));
	assert_false(allows(p, "api.example.com", 8443, NULL, NULL));
	assert_false(allows(p, "xapi.example.com", 443, NULL, NULL));
	assert_false(allows(p, "sub.api.example.com", 443, NULL, NULL));
	/* wildcards: subdomains at any depth, not the suffix itself, not a lookalike */
	assert_true(allows(p, "a.cdn.example.net", 443, NULL, NULL));
	assert_true(allows(p, "a.b.cdn.example.net", 443, NULL, NULL));
	assert_false(allows(p, "cdn.example.net", 443, NULL, NULL));
	assert_false(allows(p, "evilcdn.example.net", 443, NULL, NULL));
	/* ports */
	assert_true(allows(p, "alt.example.com", 8443, NULL, NULL));
	assert_false(allows(p, "alt.example.com", 443, NULL, NULL));
	assert_true(allows(p, "any.example.com", 22, NULL, NULL));
	/* addresses */
	assert_true(allows(p, "192.0.2.10", 9000, NULL, NULL));
	assert_false(allows(p, "192.0.2.10", 9001, NULL, NULL));
	assert_true(allows(p, "2001:db8:0::5", 443, NULL, NULL));
	/* method and path: only where seen; never a tunnel */
	assert_true(allows(p, "deb.example.org", 80, "GET", "/debian/dists/x?y"));
	assert_false(allows(p, "deb.example.org", 80, "HEAD", "/debian/dists/x"));
	assert_false(allows(p, "deb.example.org", 80, "GET", "/debia"));
	assert_false(allows(p, "deb.example.org", 80, "GET", "/debian/../etc"));
	assert_false(allows(p, "deb.example.org", 80, "GET", "/debian/%2e%2e/etc"));
	assert_false(allows(p, "deb.example.org", 80, "GET", "/debian/..%2Fetc"));
	assert_false(allows(p, "deb.example.org", 80, "GET", "/debian/.."));
	assert_false(allows(p, "deb.example.org", 80, "GET", "/debian\\..\\etc"));
	assert_true(allows(p, "deb.example.org", 80, "GET", "/debian/..data/x"));
	assert_false(allows(p, "deb.example.org", 443, NULL, NULL));
	assert_true(allows(p, "api2.example.com", 443, "POST", "/v1/messages?beta=1"));
	assert_false(allows(p, "api2.example.com", 443, "POST", "/v1/messages/x"));
	sbx_policy_free(p);
}

static void test_verdict_text(void **state)
{
	static const char *const rules[] = { "api.example.com", "GET pkg.example.com/a/*", NULL };
	struct sbx_policy *p = policy(rules);
	struct sbx_policy_query q = { "api.example.com", 443, NULL, NULL };
	struct sbx_policy_verdict v;

	(void)state;
	sbx_policy_check(p, &q, &v);
	assert_true(v.allowed);
	assert_string_equal(v.rule, "api.example.com");
	assert_string_equal(v.reason, "allowed by test rule 'api.example.com'");
	q.host = "api.evil.com";
	sbx_policy_check(p, &q, &v);
	assert_false(v.allowed);
	assert_string_equal(v.rule, "");
	assert_string_equal(v.reason, "api.evil.com:443 is not allowed by this task's policy");
	assert_string_equal(v.hint, "api.evil.com");
	q.port = 8080;
	sbx_policy_check(p, &q, &v);
	assert_string_equal(v.hint, "api.evil.com:8080");
	q.host = "pkg.example.com";
	q.port = 443;
	sbx_policy_check(p, &q, &v);
	assert_false(v.allowed);
	assert_non_null(strstr(v.reason, "CONNECT tunnel"));
	q.method = "POST";
	q.path = "/a/b";
	sbx_policy_check(p, &q, &v);
	assert_false(v.allowed);
	assert_non_null(strstr(v.reason, "POST /a/b"));
	assert_string_equal(v.hint, "'POST pkg.example.com/a/b'");
	q.host = "bad host";
	sbx_policy_check(p, &q, &v);
	assert_false(v.allowed);
	sbx_policy_free(p);
}

static void test_presets(void **state)
{
	const char *const *names = sbx_policy_preset_names();
	struct sbx_policy *p = policy(NULL);
	size_t n = 0;

	(void)state;
	for (; *names; names++, n++)
		assert_int_equal(sbx_policy_add_preset(p, *names), 0);
	assert_int_equal(n, 7);
	assert_true(allows(p, "api.anthropic.com", 443, NULL, NULL));
	assert_true(allows(p, "api.openai.com", 443, NULL, NULL));
	assert_true(allows(p, "generativelanguage.googleapis.com", 443, NULL, NULL));
	assert_true(allows(p, "github.com", 443, NULL, NULL));
	assert_true(allows(p, "registry.npmjs.org", 443, NULL, NULL));
	assert_true(allows(p, "files.pythonhosted.org", 443, NULL, NULL));
	assert_true(allows(p, "deb.debian.org", 80, "GET", "/debian/"));
	assert_false(allows(p, "anthropic.com", 443, NULL, NULL));
	assert_false(allows(p, "evil.googleapis.com", 443, NULL, NULL));
	assert_int_equal(sbx_policy_add_preset(p, "nope"), SBX_ENOTFOUND);
	assert_null(sbx_policy_preset_rules("nope"));
	sbx_policy_free(p);
}

static const char *special(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		fail_msg("bad test address %s", ip);
	return sbx_policy_addr_special((struct sockaddr *)&ss);
}

static void test_special_addresses(void **state)
{
	static const char *const refused[] = {
		"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1",
		"172.31.255.255", "192.168.1.1", "169.254.169.254", "169.254.0.1", "100.64.0.1",
		"224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1",
		"198.18.0.1", "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "64:ff9b::a00:1",
		"::127.0.0.1", "2001:db8::1", "fec0::1", NULL };
	static const char *const public[] = {
		"1.1.1.1", "8.8.8.8", "172.15.255.255", "172.32.0.1", "100.128.0.1",
		"169.253.0.1", "2606:4700::1111", "2a00:1450::1", "::ffff:8.8.8.8", NULL };
	size_t i;

	(void)state;
	for (i = 0; refused[i]; i++)
		if (!special(refused[i]))
			fail_msg("%s is not refused", refused[i]);
	for (i = 0; public[i]; i++)
		if (special(public[i]))
			fail_msg("%s is refused: %s", public[i], special(public[i]));
	assert_string_equal(special("169.254.169.254"), "the cloud metadata service");
	assert_string_equal(special("127.0.0.1"), "loopback");
}

static void test_resolve(void **state)
{
	static const char *const rules[] = { "localhost:8080", "127.0.0.1:9090", "[::1]:9091",
					     "api.example.com", "1.1.1.1", NULL };
	struct sbx_policy *p = policy(rules);
	struct sbx_policy_addr a[SBX_POLICY_ADDRS_MAX];
	struct sbx_policy_verdict v;
	size_t n;

	(void)state;
	/* a name that resolves to loopback: refused though the name has a rule */
	assert_int_equal(sbx_policy_resolve(p, "localhost", 8080, a, &n, &v), 0);
	assert_false(v.allowed);
	assert_int_equal(n, 0);
	assert_non_null(strstr(v.reason, "loopback"));
	assert_non_null(strstr(v.hint, ":8080"));
	/* the address itself named by a rule (a test server) */
	assert_int_equal(sbx_policy_resolve(p, "127.0.0.1", 9090, a, &n, &v), 0);
	assert_true(v.allowed);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].text, "127.0.0.1");
	assert_int_equal(ntohs(((struct sockaddr_in *)&a[0].ss)->sin_port), 9090);
	assert_int_equal(sbx_policy_resolve(p, "127.0.0.1", 9091, a, &n, &v), 0);
	assert_false(v.allowed);
	assert_int_equal(sbx_policy_resolve(p, "::1", 9091, a, &n, &v), 0);
	assert_true(v.allowed);
	assert_int_equal(sbx_policy_resolve(p, "169.254.169.254", 80, a, &n, &v), 0);
	assert_false(v.allowed);
	assert_non_null(strstr(v.reason, "metadata"));
	/* a public literal needs no naming rule */
	assert_int_equal(sbx_policy_resolve(p, "1.1.1.1", 443, a, &n, &v), 0);
	assert_true(v.allowed);
	/* overrides: used as given, loopback included */
	assert_int_equal(sbx_policy_add_resolve(p, "API.example.com:443:127.0.0.1"), 0);
	assert_int_equal(sbx_policy_add_resolve(p, "api.example.com:80:[::1]"), 0);
	assert_int_equal(sbx_policy_resolve(p, "api.example.com", 443, a, &n, &v), 0);
	assert_true(v.allowed);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].text, "127.0.0.1");
	assert_int_equal(ntohs(((struct sockaddr_in *)&a[0].ss)->sin_port), 443);
	assert_int_equal(sbx_policy_resolve(p, "api.example.com", 80, a, &n, &v), 0);
	assert_true(v.allowed);
	assert_string_equal(a[0].text, "::1");
	/* ... with a port to connect to instead (a test server for api.example.com:443) */
	assert_int_equal(sbx_policy_add_resolve(p, "api.example.com:8443:127.0.0.1:9443"), 0);
	assert_int_equal(sbx_policy_add_resolve(p, "api.example.com:8080:[::1]:9080"), 0);
	assert_int_equal(sbx_policy_resolve(p, "api.example.com", 8443, a, &n, &v), 0);
	assert_string_equal(a[0].text, "127.0.0.1");
	assert_int_equal(ntohs(((struct sockaddr_in *)&a[0].ss)->sin_port), 9443);
	assert_int_equal(sbx_policy_resolve(p, "api.example.com", 8080, a, &n, &v), 0);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&a[0].ss)->sin6_port), 9080);
	assert_int_equal(sbx_policy_add_resolve(p, "a.com:443:1.2.3.4:x"), SBX_EINVAL);
	assert_int_equal(sbx_policy_add_resolve(p, "a.com:443:[::1]9"), SBX_EINVAL);
	assert_int_equal(sbx_policy_add_resolve(p, "a.com:443:[::1"), SBX_EINVAL);
	assert_int_equal(sbx_policy_add_resolve(p, "a.com:443"), SBX_EINVAL);
	assert_int_equal(sbx_policy_add_resolve(p, "a.com:x:1.2.3.4"), SBX_EINVAL);
	assert_int_equal(sbx_policy_add_resolve(p, "a.com:443:nope"), SBX_EINVAL);
	assert_int_equal(sbx_policy_add_resolve(p, "a.com:*:1.2.3.4"), SBX_EINVAL);
	/* a name that does not resolve */
	assert_int_equal(sbx_policy_resolve(p, "nothing.invalid", 443, a, &n, &v), SBX_ENOTFOUND);
	assert_false(v.allowed);
	sbx_policy_free(p);
}

/* The host's own non-loopback addresses are refused like loopback. */
static void test_own_address(void **state)
{
	struct ifaddrs *ifs = NULL, *i;
	char ip[64] = "";
	struct sbx_policy *p = policy(NULL);
	struct sbx_policy_addr a[SBX_POLICY_ADDRS_MAX];
	struct sbx_policy_verdict v;
	size_t n;

	(void)state;
	assert_int_equal(getifaddrs(&ifs), 0);
	for (i = ifs; i && !ip[0]; i = i->ifa_next) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)i->ifa_addr;

		if (!s4 || s4->sin_family != AF_INET || special(inet_ntoa(s4->sin_addr)))
			continue;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
	}
	freeifaddrs(ifs);
	if (!ip[0]) {
		/* Every interface address here is refused for its range already. */
		print_message("# no public IPv4 address on this host's interfaces; "
			      "the own-address check is not exercised\n");
		sbx_policy_free(p);
		return;
	}
	assert_int_equal(sbx_policy_resolve(p, ip, 443, a, &n, &v), 0);
	assert_false(v.allowed);
	assert_non_null(strstr(v.reason, "own addresses"));
	sbx_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_syntax),
		cmocka_unit_test(test_matching),
		cmocka_unit_test(test_verdict_text),
		cmocka_unit_test(test_presets),
		cmocka_unit_test(test_special_addresses),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_own_address),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
