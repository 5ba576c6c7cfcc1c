// SPDX-License-Identifier: MIT
/*
 * The review's pieces that need no repository: the record's review lines,
 * the check results reader (docs/formats.md "Check results") and the
 * accept modes.  The repository side is in tests/t/t7000-t7020.
 */
#include "sbx/accept.h"
#include "sbx/review.h"
#include "sbx/task.h"
#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

static void test_record_review_roundtrip(void **state)
{
	struct sbx_task t = { 0 }, *back = NULL;
	char *buf = NULL;
	size_t len;

	(void)state;
	t.id = 7;
	t.state = SBX_TASK_ACCEPTED;
	t.prompt = "p";
	t.branch = "sbx/7";
	t.created_ms = 1;
	t.exit_status = -1;
	t.reviewer = "A \\ Person <a@example.com>";
	t.reviewed_ms = 1700000000000;
	t.accept_mode = "rebase";
	t.accept_into = "refs/heads/main";
	t.has_accept_commit = true;
	git_oid_fromstr(&t.accept_commit, "89abcdef0123456789abcdef0123456789abcdef");
	assert_int_equal(sbx_task_record_format(&buf, &len, &t), 0);
	assert_non_null(strstr(buf, "state accepted\n"));
	assert_non_null(strstr(buf, "reviewer A \\\\ Person <a@example.com>\n"));
	assert_int_equal(sbx_task_record_parse(&back, buf, len), 0);
	assert_int_equal(back->state, SBX_TASK_ACCEPTED);
	assert_string_equal(back->reviewer, t.reviewer);
	assert_true(back->reviewed_ms == t.reviewed_ms);
	assert_string_equal(back->accept_mode, "rebase");
	assert_string_equal(back->accept_into, "refs/heads/main");
	assert_true(back->has_accept_commit && git_oid_equal(&back->accept_commit, &t.accept_commit));
	sbx_task_free(back);
	free(buf);

	/* rejected, and a record without the review lines (an older one) */
	t.state = SBX_TASK_REJECTED;
	t.accept_mode = t.accept_into = NULL;
	t.has_accept_commit = false;
	assert_int_equal(sbx_task_record_format(&buf, &len, &t), 0);
	assert_int_equal(sbx_task_record_parse(&back, buf, len), 0);
	assert_int_equal(back->state, SBX_TASK_REJECTED);
	assert_null(back->accept_mode);
	sbx_task_free(back);
	free(buf);
	t.state = SBX_TASK_DONE;
	t.reviewer = NULL;
	t.reviewed_ms = 0;
	assert_int_equal(sbx_task_record_format(&buf, &len, &t), 0);
	assert_null(strstr(buf, "review"));
	assert_int_equal(sbx_task_record_parse(&back, buf, len), 0);
	assert_null(back->reviewer);
	assert_true(back->reviewed_ms == 0);
	sbx_task_free(back);
	free(buf);
}

/* A valid record with the lines `extra` added before its checksum. */
static int parse_with(const char *extra)
{
	struct sbx_task *back = NULL;
	char rec[1024];
	size_t len;
	int err;

	len = (size_t)snprintf(rec, sizeof(rec),
			       "sbx-task-record 1\nid 1\nstate done\nbase %s\nbranch sbx/1\ncreated 1\n%s",
			       "0123456789abcdef0123456789abcdef01234567", extra);
	len += (size_t)snprintf(rec + len, sizeof(rec) - len, "checksum %08lx\n",
				crc32(0, (const Bytef *)rec, (uInt)len));
	err = sbx_task_record_parse(&back, rec, len);
	sbx_task_free(back);
	return err;
}

static void test_record_review_refusals(void **state)
{
	(void)state;
	assert_int_equal(parse_with("reviewed 5\n"), 0);
	assert_int_equal(parse_with("reviewed 0\n"), SBX_ECORRUPT);
	assert_int_equal(parse_with("reviewed 5\nreviewed 6\n"), SBX_ECORRUPT);
	assert_int_equal(parse_with("accept-commit xyz\n"), SBX_ECORRUPT);
	assert_int_equal(parse_with("accept-mode merge\naccept-mode squash\n"), SBX_ECORRUPT);
	assert_int_equal(parse_with("reviewer x\nreviewer y\n"), SBX_ECORRUPT);
	assert_int_equal(parse_with("some-later-key value\n"), 0);
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_checks_read(void **state)
{
	char dir[] = "/tmp/sbx-test-review-XXXXXX", cmd[600], log[16384], path[600];
	struct sbx_check *c = NULL;
	size_t n, i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* none yet: no checks, no error */
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(sbx_checks_read(&c, &n, path), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sbx_checks_read(&c, &n, dir), 0);
	assert_int_equal(n, 0);

	/* an older run, a leading zero and other files are not the latest run */
	put(dir, "2.result", "old pass 1\n");
	put(dir, "010.result", "leading zero pass 1\n");
	put(dir, "notes.txt", "ignored\n");
	put(dir, "10.result", "lint error 0\nmake test fail 1500\nno-duration pass\npre-commit pass 30\n");
	snprintf(log, sizeof(log), "=== lint\n=== lint: error (0 ms)\n=== make test\n");
	for (i = 1; i <= 400; i++)
		snprintf(log + strlen(log), sizeof(log) - strlen(log), "line %zu\n", i);
	snprintf(log + strlen(log), sizeof(log) - strlen(log),
		 "=== make test: fail (1500 ms)\n=== pre-commit\nok\n=== pre-commit: pass (30 ms)\n");
	put(dir, "10.log", log);
	assert_int_equal(sbx_checks_read(&c, &n, dir), 0);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++)
		assert_int_equal(c[i].n, 10);
	assert_string_equal(c[0].name, "lint");
	assert_string_equal(c[0].status, "error");
	assert_null(c[0].log_tail);	/* nothing between its lines */
	assert_string_equal(c[1].name, "make test");
	assert_string_equal(c[1].status, "fail");
	assert_true(c[1].duration_ms == 1500);
	assert_true(c[1].tail_cut);
	assert_non_null(strstr(c[1].log_tail, "line 400"));
	assert_non_null(strstr(c[1].log_tail, "line 381\n"));
	assert_null(strstr(c[1].log_tail, "line 380\n"));
	assert_string_equal(c[2].status, "unreadable");
	assert_string_equal(c[2].name, "10.result line 3");
	assert_string_equal(c[3].name, "pre-commit");
	assert_string_equal(c[3].log_tail, "ok");
	assert_false(c[3].tail_cut);
	sbx_checks_free(c, n);

	/* a symlinked log is not followed; a result that is not a file is unreadable */
	snprintf(path, sizeof(path), "%s/11.log", dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	put(dir, "11.result", "make test pass 5\n");
	assert_int_equal(sbx_checks_read(&c, &n, dir), 0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].status, "pass");
	assert_null(c[0].log_tail);
	sbx_checks_free(c, n);
	snprintf(path, sizeof(path), "%s/12.result", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(sbx_checks_read(&c, &n, dir), 0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].name, "12.result");
	assert_string_equal(c[0].status, "unreadable");
	sbx_checks_free(c, n);
	sbx_checks_free(NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_accept_modes(void **state)
{
	enum sbx_accept_mode m;

	(void)state;
	assert_int_equal(sbx_accept_mode_parse(&m, "squash"), 0);
	assert_int_equal(m, SBX_ACCEPT_SQUASH);
	assert_int_equal(sbx_accept_mode_parse(&m, "ff-only"), 0);
	assert_int_equal(m, SBX_ACCEPT_FF_ONLY);
	assert_string_equal(sbx_accept_mode_name(SBX_ACCEPT_REBASE), "rebase");
	assert_int_equal(sbx_accept_mode_parse(&m, "octopus"), SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "merge, squash, rebase, ff-only"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_review_roundtrip),
		cmocka_unit_test(test_record_review_refusals),
		cmocka_unit_test(test_checks_read),
		cmocka_unit_test(test_accept_modes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
