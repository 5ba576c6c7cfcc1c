// SPDX-License-Identifier: MIT
/*
 * Unit tests for sbx/audit.c and sbx/audit-read.c: records from many
 * threads read back whole, a cut last line, a malformed or oversized line,
 * redaction of secret values, the summary, and the git note; and
 * util/json.c's terminal-safe output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sbx/audit.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/json.h"
#include "tests/unit/git-fixture.h"

static char tmp[256], path[300];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/sbx-test-audit.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	snprintf(path, sizeof(path), "%s/audit.jsonl", tmp);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(sbx_rmtree(tmp), 0);
	return 0;
}

static void write_file(const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char *read_all(void)
{
	char *buf = NULL;
	size_t len;

	assert_int_equal(sbx_read_file(&buf, &len, path, 64u << 20), 0);
	return buf;
}

/* ---- many threads ---- */

#define THREADS 8
#define PER_THREAD 500

static struct sbx_audit *shared;

static void *writer(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg, i;
	char host[64], pathbuf[64];

	for (i = 0; i < PER_THREAD; i++) {
		struct sbx_net_event ev = { 0 };

		snprintf(host, sizeof(host), "h%u.example", t);
		snprintf(pathbuf, sizeof(pathbuf), "/%u/%u", t, i);
		ev.host = host;
		ev.port = 443;
		ev.method = "GET";
		ev.path = pathbuf;
		ev.allowed = i % 5 != 0;
		ev.rule = ev.allowed ? "h*.example" : NULL;
		ev.reason = ev.allowed ? NULL : "no rule for this host";
		ev.bytes_up = 10;
		ev.bytes_down = 100;
		ev.duration_ms = i;
		if (sbx_audit_conn(shared, &ev))
			return (void *)1;
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t th[THREADS];
	struct sbx_audit_summary s = SBX_AUDIT_SUMMARY_INIT;
	unsigned i;

	(void)state;
	assert_int_equal(sbx_audit_open(&shared, path), 0);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)(uintptr_t)i), 0);
	for (i = 0; i < THREADS; i++) {
		void *ret;

		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	sbx_audit_close(shared);
	shared = NULL;
	/* Every line whole and parsed back: no interleaving. */
	assert_int_equal(sbx_audit_summarize(&s, path), 0);
	assert_int_equal(s.records, THREADS * PER_THREAD);
	assert_int_equal(s.conns_denied, THREADS * PER_THREAD / 5);
	assert_int_equal(s.conns_allowed, THREADS * PER_THREAD * 4 / 5);
	assert_int_equal(s.bytes_up, 10 * THREADS * PER_THREAD);
	assert_int_equal(s.bytes_down, 100 * THREADS * PER_THREAD);
	assert_int_equal(s.nhosts, THREADS);
	for (i = 0; i < s.nhosts; i++) {
		assert_int_equal(s.hosts[i].allowed, PER_THREAD * 4 / 5);
		assert_int_equal(s.hosts[i].denied, PER_THREAD / 5);
		assert_int_equal(s.hosts[i].port, 443);
	}
	assert_false(s.torn);
	sbx_audit_summary_clear(&s);
}

/* ---- every kind, read back field by field ---- */

static void test_kinds(void **state)
{
	struct sbx_audit *a;
	struct sbx_audit_reader *r;
	const char *argv[] = { "sh", "-c", "echo hi", NULL };
	struct sbx_audit_exec ex = { 0 };
	struct sbx_audit_import imp = { 0 };
	struct sbx_audit_stats st = { 1500, 1u << 30, 5u << 20, 7, 9 };
	struct sbx_net_event ev = { 0 };
	static const char *const kinds[] = { "start", "conn", "exec", "stats", "import", "end" };
	const char *note;
	json_t *rec;
	git_oid tip;
	size_t i;

	(void)state;
	assert_int_equal(sbx_audit_open(&a, path), 0);
	assert_int_equal(sbx_audit_start(a, 7, "claude", "default"), 0);
	ev.time_ms = 1700000000123;
	ev.host = "api.example.com";
	ev.port = 443;
	ev.method = "CONNECT";
	ev.allowed = true;
	ev.rule = "api.example.com:443";
	ev.bytes_up = 1;
	ev.bytes_down = 2;
	ev.duration_ms = 3;
	assert_int_equal(sbx_audit_conn(a, &ev), 0);
	ex.argv = argv;
	ex.exit_code = 3;
	ex.duration_ms = 42;
	assert_int_equal(sbx_audit_exec(a, &ex), 0);
	assert_int_equal(sbx_audit_stats(a, &st), 0);
	memset(&tip, 0xab, sizeof(tip));
	imp.accepted = false;
	imp.commits = 2;
	imp.tip = &tip;
	imp.reason = "too big";
	assert_int_equal(sbx_audit_import(a, &imp), 0);
	assert_int_equal(sbx_audit_end(a, "failed", -1, "rejected"), 0);
	sbx_audit_close(a);

	assert_int_equal(sbx_audit_reader_open(&r, path), 0);
	for (i = 0; i < 6; i++) {
		assert_int_equal(sbx_audit_reader_next(&rec, r), 1);
		assert_string_equal(sbx_audit_get_str(rec, "kind"), kinds[i]);
		assert_int_equal(sbx_audit_get_int(rec, "v", 0), 1);
		assert_true(sbx_audit_get_int(rec, "time_ms", 0) > 0);
		if (i == 1) {
			assert_int_equal(sbx_audit_get_int(rec, "time_ms", 0), 1700000000123);
			assert_string_equal(sbx_audit_get_str(rec, "host"), "api.example.com");
			assert_string_equal(sbx_audit_get_str(rec, "decision"), "allow");
			assert_null(json_object_get(rec, "path"));	/* not seen: absent */
			assert_int_equal(sbx_audit_get_int(rec, "duration_ms", 0), 3);
		} else if (i == 2) {
			assert_int_equal(json_array_size(json_object_get(rec, "argv")), 3);
			assert_int_equal(sbx_audit_get_int(rec, "exit_code", 0), 3);
			assert_false(sbx_audit_get_bool(rec, "timed_out"));
		} else if (i == 3) {
			assert_int_equal(sbx_audit_get_int(rec, "mem_bytes", 0), 1 << 30);
		} else if (i == 4) {
			assert_string_equal(sbx_audit_get_str(rec, "verdict"), "rejected");
			assert_string_equal(sbx_audit_get_str(rec, "tip"), "abababababababababababababababababababab");
		} else if (i == 5) {
			assert_true(json_is_null(json_object_get(rec, "exit_status")));
		}
		json_decref(rec);
	}
	assert_int_equal(sbx_audit_reader_next(&rec, r), 0);
	assert_int_equal(sbx_audit_reader_finish(&note, r), 0);
	sbx_audit_reader_free(r);
}

/* ---- damage ---- */

#define GOOD "{\"v\":1,\"kind\":\"exec\",\"time_ms\":1,\"argv\":[\"ls\"]}\n"

static void test_torn_last_line(void **state)
{
	static const char text[] = GOOD GOOD "{\"v\":1,\"kind\":\"co";
	struct sbx_audit_summary s = SBX_AUDIT_SUMMARY_INIT;
	struct sbx_audit_reader *r;
	struct sbx_audit *a;
	const char *note;
	json_t *rec;
	char *all;

	(void)state;
	write_file(text, sizeof(text) - 1);
	assert_int_equal(sbx_audit_reader_open(&r, path), 0);
	assert_int_equal(sbx_audit_reader_next(&rec, r), 1);
	json_decref(rec);
	assert_int_equal(sbx_audit_reader_next(&rec, r), 1);
	json_decref(rec);
	/* A writer may still be appending: no whole line yet, not an error. */
	assert_int_equal(sbx_audit_reader_next(&rec, r), 0);
	assert_int_equal(sbx_audit_reader_finish(&note, r), 1);
	assert_non_null(strstr(note, "line 3 is cut short"));
	sbx_audit_reader_free(r);
	assert_int_equal(sbx_audit_summarize(&s, path), 0);
	assert_int_equal(s.execs, 2);
	assert_true(s.torn);
	sbx_audit_summary_clear(&s);

	/* A session that appends after a crash cuts the torn line off first. */
	assert_int_equal(sbx_audit_open(&a, path), 0);
	assert_int_equal(sbx_audit_end(a, "failed", -1, NULL), 0);
	sbx_audit_close(a);
	all = read_all();
	assert_int_equal(strncmp(all, GOOD GOOD "{\"v\":1,\"kind\":\"end\"", strlen(GOOD GOOD) + 19), 0);
	free(all);
	assert_int_equal(sbx_audit_summarize(&s, path), 0);
	assert_int_equal(s.records, 3);
	assert_false(s.torn);
	sbx_audit_summary_clear(&s);
}

static void expect_corrupt(const char *text, int code, const char *msg)
{
	struct sbx_audit_summary s = SBX_AUDIT_SUMMARY_INIT;

	write_file(text, strlen(text));
	assert_int_equal(sbx_audit_summarize(&s, path), code);
	if (!strstr(sbx_error(), msg))
		fail_msg("'%s' does not say '%s'", sbx_error(), msg);
	sbx_audit_summary_clear(&s);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_corrupt(GOOD "{\"v\":1,\"kind\":\"exec\" garbage\n" GOOD, SBX_ECORRUPT,
		       "line 2 is not JSON");
	expect_corrupt(GOOD GOOD "[1,2]\n", SBX_ECORRUPT, "line 3 is not an audit record");
	expect_corrupt(GOOD "{\"kind\":\"exec\"}\n", SBX_ECORRUPT, "line 2 is not an audit record");
	expect_corrupt("\n", SBX_ECORRUPT, "line 1 is not JSON");
	expect_corrupt(GOOD "{\"v\":2,\"kind\":\"exec\"}\n", SBX_EUNSUPPORTED, "line 2 has record version 2");
	expect_corrupt("{\"v\":1,\"v\":1,\"kind\":\"x\"}\n", SBX_ECORRUPT, "line 1 is not JSON");
	/* Binary garbage, NUL bytes included: an error, never a crash. */
	write_file(GOOD "\x00\xff\x01{\n", strlen(GOOD) + 5);
	{
		struct sbx_audit_summary s = SBX_AUDIT_SUMMARY_INIT;

		assert_int_equal(sbx_audit_summarize(&s, path), SBX_ECORRUPT);
		assert_non_null(strstr(sbx_error(), "line 2"));
		sbx_audit_summary_clear(&s);
	}
	/* Fields of the wrong type are ignored by the summary, not trusted. */
	{
		static const char odd[] =
			"{\"v\":1,\"kind\":\"conn\",\"host\":5,\"port\":\"x\",\"bytes_up\":-4,\"argv\":7}\n"
			"{\"v\":1,\"kind\":\"exec\",\"argv\":{\"a\":1}}\n";

		write_file(odd, sizeof(odd) - 1);
	}
	{
		struct sbx_audit_summary s = SBX_AUDIT_SUMMARY_INIT;

		assert_int_equal(sbx_audit_summarize(&s, path), 0);
		assert_int_equal(s.conns_denied, 1);
		assert_int_equal(s.bytes_up, 0);
		assert_string_equal(s.hosts[0].host, "?");
		assert_int_equal(s.execs, 1);
		sbx_audit_summary_clear(&s);
	}
}

static void test_oversized(void **state)
{
	static char big[SBX_AUDIT_LINE_MAX + 100 + sizeof(GOOD)];
	const size_t n = SBX_AUDIT_LINE_MAX + 100, good = sizeof(GOOD) - 1;
	struct sbx_audit *a;
	struct sbx_net_event ev = { 0 };
	json_t *rec;
	struct sbx_audit_reader *r;

	(void)state;
	memcpy(big, GOOD, good);
	memset(big + good, 'x', n);
	big[good + n] = 0;
	expect_corrupt(big, SBX_ECORRUPT, "line 2 is longer than 65536 bytes");

	/* The writer cuts long fields, so its lines stay readable. */
	assert_int_equal(unlink(path), 0);
	memset(big, 'p', n);
	big[0] = '/';
	big[n] = 0;
	ev.host = big + 1;
	ev.path = big;
	ev.method = big;
	ev.reason = big;
	assert_int_equal(sbx_audit_open(&a, path), 0);
	assert_int_equal(sbx_audit_conn(a, &ev), 0);
	sbx_audit_close(a);
	assert_int_equal(sbx_audit_reader_open(&r, path), 0);
	assert_int_equal(sbx_audit_reader_next(&rec, r), 1);
	assert_int_equal(strlen(sbx_audit_get_str(rec, "path")), SBX_AUDIT_FIELD_MAX);
	assert_string_equal(sbx_audit_get_str(rec, "path") + SBX_AUDIT_FIELD_MAX - 3, "...");
	json_decref(rec);
	sbx_audit_reader_free(r);
}

/* ---- secrets ---- */

static void test_redact(void **state)
{
	static const char secret[] = "sk-ant-SECRET-0123456789";
	struct sbx_audit *a;
	struct sbx_net_event ev = { 0 };
	struct sbx_audit_exec ex = { 0 };
	struct sbx_audit_import imp = { 0 };
	const char *argv[] = { "curl", "-H", "x-api-key: sk-ant-SECRET-0123456789",
			       "sk-ant-SECRET-0123456789sk-ant-SECRET-0123456789", NULL };
	char *all;

	(void)state;
	assert_int_equal(sbx_audit_open(&a, path), 0);
	assert_int_equal(sbx_audit_redact(a, "abc"), SBX_EINVAL);
	assert_int_equal(sbx_audit_redact(a, ""), SBX_EINVAL);
	assert_int_equal(sbx_audit_redact(a, secret), 0);
	assert_int_equal(sbx_audit_redact(a, secret), 0);	/* twice is fine */
	ev.host = "evil.example";
	ev.port = 80;
	ev.method = "GET";
	ev.path = "/steal?k=sk-ant-SECRET-0123456789&again=sk-ant-SECRET-0123456789";
	ev.reason = "sentinel sk-ant-SECRET-0123456789 sent to another host";
	assert_int_equal(sbx_audit_conn(a, &ev), 0);
	ex.argv = argv;
	assert_int_equal(sbx_audit_exec(a, &ex), 0);
	imp.reason = secret;
	assert_int_equal(sbx_audit_import(a, &imp), 0);
	assert_int_equal(sbx_audit_start(a, 1, secret, secret), 0);
	assert_int_equal(sbx_audit_end(a, "failed", 1, secret), 0);
	sbx_audit_close(a);
	all = read_all();
	assert_null(strstr(all, "SECRET"));
	assert_non_null(strstr(all, "\"path\":\"/steal?k=[redacted]&again=[redacted]\""));
	assert_non_null(strstr(all, "\"x-api-key: [redacted]\",\"[redacted][redacted]\""));
	assert_non_null(strstr(all, "\"reason\":\"sentinel [redacted] sent to another host\""));
	free(all);
}

/* ---- summary text and the note ---- */

static void test_summary_note(void **state)
{
	static const char text[] =
		"{\"v\":1,\"kind\":\"conn\",\"time_ms\":1,\"host\":\"api.example.com\",\"port\":443,"
		"\"decision\":\"allow\",\"bytes_up\":100,\"bytes_down\":2000}\n"
		"{\"v\":1,\"kind\":\"conn\",\"time_ms\":2,\"host\":\"api.example.com\",\"port\":443,"
		"\"decision\":\"allow\",\"bytes_up\":1,\"bytes_down\":2}\n"
		"{\"v\":1,\"kind\":\"conn\",\"time_ms\":3,\"host\":\"evil\\u001b[2J.example\",\"port\":443,"
		"\"decision\":\"deny\",\"reason\":\"no rule\"}\n"
		"{\"v\":1,\"kind\":\"exec\",\"time_ms\":4,\"argv\":[\"claude\",\"-p\",\"fix it\"],\"exit_code\":0}\n"
		"{\"v\":1,\"kind\":\"import\",\"time_ms\":5,\"verdict\":\"accepted\",\"commits\":2}\n"
		"{\"v\":1,\"kind\":\"future\",\"time_ms\":6}\n";
	struct sbx_audit_summary s = SBX_AUDIT_SUMMARY_INIT;
	char cmd[1024], *t, *r;
	struct sbx_repo *repo;
	git_oid head;
	git_note *note = NULL;

	(void)state;
	write_file(text, sizeof(text) - 1);
	assert_int_equal(sbx_audit_summarize(&s, path), 0);
	assert_int_equal(s.records, 6);
	assert_int_equal(s.conns_allowed, 2);
	assert_int_equal(s.conns_denied, 1);
	assert_int_equal(s.bytes_up, 101);
	assert_int_equal(s.bytes_down, 2002);
	assert_int_equal(s.nhosts, 2);
	assert_string_equal(s.hosts[0].host, "api.example.com");
	assert_int_equal(s.hosts[0].allowed, 2);
	assert_int_equal(s.hosts[1].denied, 1);
	assert_int_equal(s.execs, 1);
	assert_string_equal(s.commands[0], "claude -p fix it");
	assert_true(s.has_import && s.import_accepted);
	t = sbx_audit_summary_text(&s);
	assert_non_null(t);
	assert_non_null(strstr(t, "network: 2 connections allowed, 1 denied; 101 bytes up, 2002 bytes down\n"));
	assert_non_null(strstr(t, "allowed:\n  api.example.com:443  2 connections, 101 bytes up, 2002 down\n"));
	/* Guest text in a note is escaped: git log shows notes raw. */
	assert_non_null(strstr(t, "denied:\n  evil^[[2J.example:443  1 connection\n"));
	assert_non_null(strstr(t, "commands: 1\n  claude -p fix it\n"));
	assert_non_null(strstr(t, "import: accepted\n"));
	assert_null(strchr(t, '\033'));

	/* The note on a fixture repository's commit. */
	fixture_git_env(tmp);
	snprintf(cmd, sizeof(cmd), "cd '%s' && git init -q r && cd r && git config user.name \"Note Writer\" && "
		 "git config user.email nw@example.com && git commit -q --allow-empty -m base",
		 tmp);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/r", tmp);
	r = strdup(cmd);
	assert_int_equal(chdir(r), 0);
	assert_int_equal(sbx_repo_open(&repo), 0);
	assert_int_equal(git_reference_name_to_id(&head, repo->git, "HEAD"), 0);
	assert_int_equal(sbx_audit_note(repo->git, &head, &s), 0);
	/* Again: it replaces the note. */
	assert_int_equal(sbx_audit_note(repo->git, &head, &s), 0);
	assert_int_equal(git_note_read(&note, repo->git, SBX_AUDIT_NOTES_REF, &head), 0);
	assert_string_equal(git_note_message(note), t);
	/* The repository's identity (libgit2's default signature) signs it. */
	assert_string_equal(git_note_author(note)->name, "Note Writer");
	git_note_free(note);
	snprintf(cmd, sizeof(cmd), "git notes --ref=sbx show HEAD | grep -q '^network: 2 connections allowed'");
	assert_int_equal(system(cmd), 0);

	/* For the session: from the task's directory; none without an audit file. */
	{
		struct sbx_task task = { 0 };

		assert_int_equal(system("git notes --ref=sbx remove HEAD 2>/dev/null"), 0);
		task.dir = tmp;
		assert_int_equal(sbx_audit_note_task(repo->git, &task, &head), 0);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(system("git notes --ref=sbx remove HEAD 2>/dev/null"), 0);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(sbx_audit_note_task(repo->git, &task, &head), 0);
		assert_int_equal(system("test -z \"$(git notes --ref=sbx list)\""), 0);
	}
	sbx_repo_free(repo);
	assert_int_equal(chdir("/"), 0);
	free(r);
	free(t);
	sbx_audit_summary_clear(&s);
}

/* ---- stats samples ---- */

static void test_sample(void **state)
{
	struct sbx_audit_stats st = { 0 };
	volatile unsigned long spin = 0;
	char disk[320];
	FILE *f;
	int i;

	(void)state;
	/* Some CPU time of our own to see. */
	while (clock() < CLOCKS_PER_SEC / 20)
		spin++;
	snprintf(disk, sizeof(disk), "%s/disk", tmp);
	f = fopen(disk, "w");
	assert_non_null(f);
	for (i = 0; i < 64; i++)
		assert_int_equal(fwrite(disk, 1, 1024, f), 1024);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(sbx_audit_sample(&st, getpid(), disk), 0);
	assert_true(st.cpu_ms > 0);
	assert_true(st.mem_bytes > 1u << 20);
	assert_true(st.disk_bytes >= 64 * 1024);
	assert_int_equal(sbx_audit_sample(&st, 0, NULL), 0);
	assert_int_equal(st.cpu_ms + st.mem_bytes + st.disk_bytes, 0);
	assert_int_equal(sbx_audit_sample(&st, getpid(), "/nonexistent/disk"), SBX_EIO);
}

/* ---- util/json.c ---- */

static void test_json_terminal_safe(void **state)
{
	json_t *o = json_object();
	char *s;

	(void)state;
	assert_int_equal(sbx_json_set(o, "a", sbx_json_str("x\033[2J\x7f\xc2\x9b\xc3\xa9\xff\"\\\n")), 0);
	assert_int_equal(sbx_json_set(o, "b", sbx_json_str(NULL)), 0);
	s = sbx_json_dumps(o, JSON_COMPACT);
	assert_string_equal(s, "{\"a\":\"x\\u001b[2J\\u007f\\u009b\xc3\xa9\xef\xbf\xbd\\\"\\\\\\n\",\"b\":null}");
	free(s);
	json_decref(o);
	o = json_object();
	assert_int_equal(sbx_json_set(o, "x", NULL), SBX_ENOMEM);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_last_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_summary_note, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sample, setup, teardown),
		cmocka_unit_test(test_json_terminal_safe),
	};

	sbx_lib_init();
	return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
