// SPDX-License-Identifier: MIT
/*
 * Unit tests for sbx/secret.c and sbx/secret-http.c: secrets from git config
 * (a fixture repository), values from the environment and from commands
 * (deadline, size cap), the missing-value message, agent presets, sentinels,
 * and the plain-HTTP head rewrite and sentinel scans.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sbx/config.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/secret.h"
#include "util/error.h"
#include "tests/unit/git-fixture.h"

static char tmp[256], cwd0[1024];
static struct sbx_repo *repo;
static struct sbx_config *cfg;

static void sh(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd '%s/r' && { %s ; } >/dev/null 2>&1", tmp, cmd);
	if (system(full))
		fail_msg("'%s' failed", cmd);
}

static int setup(void **state)
{
	char *r;

	(void)state;
	assert_non_null(getcwd(cwd0, sizeof(cwd0)));
	snprintf(tmp, sizeof(tmp), "%s/sbx-test-secret.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	fixture_git_env(tmp);
	unsetenv("ANTHROPIC_API_KEY");
	unsetenv("OPENAI_API_KEY");
	unsetenv("GEMINI_API_KEY");
	r = sbx_path_join(tmp, "r");
	assert_int_equal(system(NULL) != 0, 1);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "git init -q '%s'", r);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(chdir(r), 0);
	free(r);
	assert_int_equal(sbx_repo_open(&repo), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	(void)state;
	sbx_config_free(cfg);
	cfg = NULL;
	sbx_repo_free(repo);
	repo = NULL;
	assert_int_equal(chdir(cwd0), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void reload(void)
{
	sbx_config_free(cfg);
	cfg = NULL;
	assert_int_equal(sbx_config_open(&cfg, repo), 0);
}

static void assert_sentinel(const struct sbx_secret *s)
{
	char re_s[128];
	regex_t re;

	snprintf(re_s, sizeof(re_s), "^sbx-sentinel-%s-[0-9a-f]{32}$", s->name);
	assert_int_equal(regcomp(&re, re_s, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, s->sentinel, 0, NULL, 0))
		fail_msg("bad sentinel '%s'", s->sentinel);
	regfree(&re);
	assert_int_equal(strlen(s->sentinel), s->sentinel_len);
}

static void test_config(void **state)
{
	struct sbx_secrets ss = SBX_SECRETS_INIT;
	struct sbx_secret *s;

	(void)state;
	sh("git config sbx-secret.mykey.host API.Example.com:8443 && "
	   "git config sbx-secret.mykey.header 'Authorization: Bearer' && "
	   "git config sbx-secret.mykey.env MY_KEY && git config sbx-secret.mykey.fromEnv HOST_VAR && "
	   "git config sbx-secret.local.host 127.0.0.1 && git config sbx-secret.local.header x-token && "
	   "git config sbx-secret.local.env LOCAL_TOKEN && git config sbx-secret.local.allowHttp true && "
	   "git config sbx.allow api.example.com");
	setenv("HOST_VAR", "value-from-env", 1);
	setenv("LOCAL_TOKEN", "local-value", 1);
	reload();
	assert_int_equal(sbx_secrets_load(&ss, cfg, NULL), 0);
	assert_int_equal(ss.n, 2);
	s = ss.v[0];
	assert_string_equal(s->name, "mykey");
	assert_string_equal(s->host, "api.example.com");
	assert_int_equal(s->port, 8443);
	assert_string_equal(s->header, "Authorization");
	assert_string_equal(s->prefix, "Bearer ");
	assert_string_equal(s->env, "MY_KEY");
	assert_false(s->allow_http);
	assert_int_equal(s->value_len, strlen("value-from-env"));
	assert_memory_equal(s->value, "value-from-env", s->value_len);
	assert_sentinel(s);
	assert_true(sbx_secret_for_host(s, "api.EXAMPLE.com", 8443));
	assert_false(sbx_secret_for_host(s, "api.example.com", 443));
	assert_false(sbx_secret_for_host(s, "evil.com", 8443));
	s = ss.v[1];
	assert_string_equal(s->name, "local");
	assert_string_equal(s->header, "x-token");
	assert_string_equal(s->prefix, "");
	assert_true(s->allow_http);
	assert_int_equal(s->port, 0);
	assert_true(sbx_secret_for_host(s, "127.0.0.1", 80));
	/* Two loads, two sentinels. */
	{
		struct sbx_secrets again = SBX_SECRETS_INIT;

		assert_int_equal(sbx_secrets_load(&again, cfg, NULL), 0);
		assert_string_not_equal(again.v[0]->sentinel, ss.v[0]->sentinel);
		sbx_secrets_clear(&again);
	}
	sbx_secrets_clear(&ss);
	sbx_secrets_clear(&ss);

	/* The value missing: the message users see. */
	unsetenv("HOST_VAR");
	assert_int_equal(sbx_secrets_load(&ss, cfg, NULL), SBX_ENOTFOUND);
	assert_string_equal(sbx_error(), "secret 'mykey': $HOST_VAR is not set on the host");
	assert_int_equal(ss.n, 0);
	/* Without fromEnv, the .env name is read on the host. */
	sh("git config --unset sbx-secret.mykey.fromEnv");
	reload();
	assert_int_equal(sbx_secrets_load(&ss, cfg, NULL), SBX_ENOTFOUND);
	assert_string_equal(sbx_error(), "secret 'mykey': $MY_KEY is not set on the host");
	setenv("MY_KEY", "bad\nvalue", 1);
	assert_int_equal(sbx_secrets_load(&ss, cfg, NULL), SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "control character"));
	unsetenv("MY_KEY");
	/* An incomplete secret. */
	sh("git config --unset sbx-secret.local.header");
	setenv("MY_KEY", "k", 1);
	reload();
	assert_int_equal(sbx_secrets_load(&ss, cfg, NULL), SBX_EINVAL);
	assert_string_equal(sbx_error(), "secret 'local': sbx-secret.local.header is not set");
	unsetenv("MY_KEY");
	unsetenv("LOCAL_TOKEN");
}

static void test_command(void **state)
{
	struct sbx_secrets ss = SBX_SECRETS_INIT;
	struct timespec t0, t1;
	double secs;

	(void)state;
	sh("git config sbx-secret.c.host h.example && git config sbx-secret.c.header x-key && "
	   "git config sbx-secret.c.env C_KEY && git config sbx-secret.c.command 'printf \"from cmd\\n\"'");
	reload();
	assert_int_equal(sbx_secrets_load(&ss, cfg, NULL), 0);
	assert_int_equal(ss.n, 1);
	assert_int_equal(ss.v[0]->value_len, 8);
	assert_memory_equal(ss.v[0]->value, "from cmd", 8);
	sbx_secrets_clear(&ss);

	/* A deadline, even with a child keeping stdout open. */
	sh("git config sbx-secret.c.command 'sleep 30 & sleep 30' && git config sbx-secret.c.timeout 300ms");
	reload();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(sbx_secrets_load(&ss, cfg, NULL), SBX_ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 3.0);
	assert_string_equal(sbx_error(), "secret 'c': command took over 300 ms");

	/* A size cap. */
	sh("git config sbx-secret.c.command 'head -c 70000 /dev/zero | tr \"\\\\0\" a' && "
	   "git config sbx-secret.c.timeout 5s");
	reload();
	assert_int_equal(sbx_secrets_load(&ss, cfg, NULL), SBX_ELIMIT);
	assert_non_null(strstr(sbx_error(), "over 65536 bytes"));

	sh("git config sbx-secret.c.command 'echo oops; exit 3'");
	reload();
	assert_int_equal(sbx_secrets_load(&ss, cfg, NULL), SBX_ERROR);
	assert_string_equal(sbx_error(), "secret 'c': command failed (exit status 3)");
	assert_null(strstr(sbx_error(), "oops"));

	sh("git config sbx-secret.c.command true");
	reload();
	assert_int_equal(sbx_secrets_load(&ss, cfg, NULL), SBX_ENOTFOUND);
	assert_string_equal(sbx_error(), "secret 'c': its command printed nothing");

	sh("git config sbx-secret.c.fromEnv X");
	reload();
	assert_int_equal(sbx_secrets_load(&ss, cfg, NULL), SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "both fromEnv and command"));
}

static void test_presets(void **state)
{
	struct sbx_secrets ss = SBX_SECRETS_INIT;
	size_t n;

	(void)state;
	reload();
	assert_non_null(sbx_secret_presets("claude", &n));
	assert_int_equal(n, 1);
	assert_null(sbx_secret_presets("nosuch", &n));
	assert_int_equal(n, 0);
	assert_int_equal(sbx_secrets_load(&ss, cfg, "nosuch"), 0);
	assert_int_equal(ss.n, 0);

	assert_int_equal(sbx_secrets_load(&ss, cfg, "claude"), SBX_ENOTFOUND);
	assert_string_equal(sbx_error(), "secret 'anthropic': $ANTHROPIC_API_KEY is not set on the host");
	setenv("ANTHROPIC_API_KEY", "sk-ant-test", 1);
	assert_int_equal(sbx_secrets_load(&ss, NULL, "claude"), 0);
	assert_int_equal(ss.n, 1);
	assert_string_equal(ss.v[0]->name, "anthropic");
	assert_string_equal(ss.v[0]->host, "api.anthropic.com");
	assert_string_equal(ss.v[0]->header, "x-api-key");
	assert_string_equal(ss.v[0]->env, "ANTHROPIC_API_KEY");
	assert_sentinel(ss.v[0]);
	sbx_secrets_clear(&ss);

	setenv("OPENAI_API_KEY", "sk-oa", 1);
	assert_int_equal(sbx_secrets_load(&ss, cfg, "codex"), 0);
	assert_int_equal(ss.n, 1);
	assert_string_equal(ss.v[0]->host, "api.openai.com");
	assert_string_equal(ss.v[0]->header, "Authorization");
	assert_string_equal(ss.v[0]->prefix, "Bearer ");
	sbx_secrets_clear(&ss);

	setenv("GEMINI_API_KEY", "g", 1);
	assert_int_equal(sbx_secrets_load(&ss, cfg, "gemini"), 0);
	assert_string_equal(ss.v[0]->host, "generativelanguage.googleapis.com");
	assert_string_equal(ss.v[0]->header, "x-goog-api-key");
	sbx_secrets_clear(&ss);

	/* aider: whichever of its keys are set, at least one. */
	unsetenv("ANTHROPIC_API_KEY");
	assert_int_equal(sbx_secrets_load(&ss, cfg, "aider"), 0);
	assert_int_equal(ss.n, 1);
	assert_string_equal(ss.v[0]->name, "openai");
	sbx_secrets_clear(&ss);
	unsetenv("OPENAI_API_KEY");
	assert_int_equal(sbx_secrets_load(&ss, cfg, "aider"), SBX_ENOTFOUND);
	assert_non_null(strstr(sbx_error(), "ANTHROPIC_API_KEY, OPENAI_API_KEY"));

	/* The config naming the preset's secret (or its variable) wins. */
	sh("git config sbx-secret.anthropic.host 127.0.0.1 && git config sbx-secret.anthropic.header x-api-key && "
	   "git config sbx-secret.anthropic.env ANTHROPIC_API_KEY && git config sbx-secret.anthropic.fromEnv MY_ANT");
	setenv("MY_ANT", "from-my-ant", 1);
	reload();
	assert_int_equal(sbx_secrets_load(&ss, cfg, "claude"), 0);
	assert_int_equal(ss.n, 1);
	assert_string_equal(ss.v[0]->host, "127.0.0.1");
	assert_memory_equal(ss.v[0]->value, "from-my-ant", 11);
	sbx_secrets_clear(&ss);
	unsetenv("MY_ANT");
	unsetenv("GEMINI_API_KEY");
}

static void test_names(void **state)
{
	struct sbx_secret *s;

	(void)state;
	assert_int_equal(sbx_secret_new(&s, "bad name", "h", "x", "E", "v", 1), SBX_EINVAL);
	assert_int_equal(sbx_secret_new(&s, "n", "h", "bad header", "E", "v", 1), SBX_EINVAL);
	assert_int_equal(sbx_secret_new(&s, "n", "h", "x", "1E", "v", 1), SBX_EINVAL);
	assert_int_equal(sbx_secret_new(&s, "n", "h/x", "x", "E", "v", 1), SBX_EINVAL);
	assert_int_equal(sbx_secret_new(&s, "n", "h:0", "x", "E", "v", 1), SBX_EINVAL);
	assert_int_equal(sbx_secret_new(&s, "n", "h", "x", "E", "", 0), SBX_EINVAL);
	assert_int_equal(sbx_secret_new(&s, "n", "[::1]:8080", "x", "E", "v", 1), 0);
	assert_string_equal(s->host, "::1");
	assert_int_equal(s->port, 8080);
	assert_true(sbx_secret_for_host(s, "[::1]", 8080));
	sbx_secret_free(s);
	sbx_secret_free(NULL);
}

static void test_http(void **state)
{
	struct sbx_secret *a, *b;
	const struct sbx_secret *all[2];
	struct sbx_secret_verdict v;
	struct sbx_sentinel_scan scan;
	char head[1024], *out;
	size_t len, olen, i;

	(void)state;
	assert_int_equal(sbx_secret_new(&a, "a", "127.0.0.1", "x-token", "A", "REALA", 5), 0);
	assert_int_equal(sbx_secret_new(&b, "b", "b.example", "Authorization: Bearer", "B", "REALB", 5), 0);
	all[0] = a;
	all[1] = b;

	/* Plain HTTP: not added unless allowHttp. */
	len = (size_t)snprintf(head, sizeof(head), "GET http://127.0.0.1/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			       "x-token: %s\r\n\r\n", a->sentinel);
	assert_int_equal(sbx_http_head_len(&olen, head, len, SBX_HTTP_HEAD_MAX), 0);
	assert_int_equal(olen, len);
	assert_int_equal(sbx_http_head_len(&olen, head, len - 1, SBX_HTTP_HEAD_MAX), 0);
	assert_int_equal(olen, 0);
	assert_int_equal(sbx_http_head_len(&olen, head, len - 1, 20), SBX_ELIMIT);
	assert_int_equal(sbx_secret_rewrite_head(&out, &olen, &v, head, len, "127.0.0.1", 80, false, all, 2), 0);
	assert_true(v.blocked);
	assert_true(v.exfil);
	assert_non_null(strstr(v.reason, "not sent over plain HTTP"));
	assert_null(out);
	a->allow_http = true;
	assert_int_equal(sbx_secret_rewrite_head(&out, &olen, &v, head, len, "127.0.0.1", 80, false, all, 2), 0);
	assert_false(v.blocked);
	assert_int_equal(v.substituted, 1);
	assert_string_equal(v.method, "GET");
	assert_string_equal(v.path, "http://127.0.0.1/x");
	assert_int_equal(v.body, SBX_BODY_NONE);
	assert_int_equal(olen, strlen("GET http://127.0.0.1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nx-token: REALA\r\n\r\n"));
	assert_memory_equal(out, "GET http://127.0.0.1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nx-token: REALA\r\n\r\n", olen);
	explicit_bzero(out, olen);
	free(out);
	/* The same to another host: an exfiltration attempt. */
	assert_int_equal(sbx_secret_rewrite_head(&out, &olen, &v, head, len, "evil.example", 80, false, all, 2), 0);
	assert_true(v.blocked && v.exfil);
	assert_non_null(strstr(v.reason, "sentinel of secret 'a' sent to evil.example (its host is 127.0.0.1)"));

	/* Framing. */
	len = (size_t)snprintf(head, sizeof(head), "POST /u HTTP/1.1\r\nContent-Length: 12\r\n\r\n");
	assert_int_equal(sbx_secret_rewrite_head(&out, &olen, &v, head, len, "b.example", 443, true, all, 2), 0);
	assert_false(v.blocked);
	assert_int_equal(v.body, SBX_BODY_LENGTH);
	assert_int_equal(v.length, 12);
	assert_int_equal(v.substituted, 0);
	free(out);
	len = (size_t)snprintf(head, sizeof(head), "POST /u HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n");
	assert_int_equal(sbx_secret_rewrite_head(&out, &olen, &v, head, len, "b.example", 443, true, all, 2), 0);
	assert_int_equal(v.body, SBX_BODY_CHUNKED);
	free(out);
	len = (size_t)snprintf(head, sizeof(head), "POST /u HTTP/1.1\r\nContent-Length: 1x\r\n\r\n");
	assert_int_equal(sbx_secret_rewrite_head(&out, &olen, &v, head, len, "b.example", 443, true, all, 2), 0);
	assert_true(v.blocked);
	assert_false(v.exfil);
	/* Too many headers. */
	len = (size_t)snprintf(head, sizeof(head), "GET / HTTP/1.1\r\n");
	for (i = 0; i < 101; i++)
		len += (size_t)snprintf(head + len, sizeof(head) - len, "a:\r\n");
	len += (size_t)snprintf(head + len, sizeof(head) - len, "\r\n");
	assert_int_equal(sbx_secret_rewrite_head(&out, &olen, &v, head, len, "b.example", 443, true, all, 2), 0);
	assert_true(v.blocked);
	assert_non_null(strstr(v.reason, "more than 100"));

	/* Scans. */
	assert_ptr_equal(sbx_secret_find_sentinel(b->sentinel, b->sentinel_len, all, 2), b);
	assert_null(sbx_secret_find_sentinel(b->sentinel, b->sentinel_len - 1, all, 2));
	for (i = 1; i < b->sentinel_len; i++) {
		sbx_sentinel_scan_init(&scan, all, 2);
		assert_null(sbx_sentinel_scan_feed(&scan, "xxxxxxxxxxxxxxxx", 16));
		assert_null(sbx_sentinel_scan_feed(&scan, b->sentinel, i));
		assert_ptr_equal(sbx_sentinel_scan_feed(&scan, b->sentinel + i, b->sentinel_len - i), b);
	}
	/* One byte at a time. */
	sbx_sentinel_scan_init(&scan, all, 2);
	for (i = 0; i + 1 < a->sentinel_len; i++)
		assert_null(sbx_sentinel_scan_feed(&scan, a->sentinel + i, 1));
	assert_ptr_equal(sbx_sentinel_scan_feed(&scan, a->sentinel + i, 1), a);
	sbx_secret_free(a);
	sbx_secret_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presets, setup, teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_http),
	};

	sbx_lib_init();
	return cmocka_run_group_tests_name("secrets", tests, NULL, NULL);
}
