// SPDX-License-Identifier: MIT
/*
 * Unit tests for attempts (sbx/attempt.h) and the task record's version 2
 * (sbx/task-record.c): steps, machine, attempt lines and the chosen one,
 * their refusals, version 1 records; an attempt's view; sbx.parallel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "sbx/agent.h"
#include "sbx/attempt.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "tests/unit/git-fixture.h"
#include "util/error.h"

static const char base_rec[] = "sbx-task-record 2\nid 3\nstate done\n"
			       "base 0123456789abcdef0123456789abcdef01234567\nbranch sbx/3\ncreated 5\n";
static const char tip1[] = "89abcdef0123456789abcdef0123456789abcdef";
static const char warm[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/* A record with a correct checksum over chosen text. */
static int parse_text(const char *body, struct sbx_task **out)
{
	char *full = NULL;
	unsigned long crc = crc32(0, (const Bytef *)body, (uInt)strlen(body));
	int err;

	assert_true(asprintf(&full, "%schecksum %08lx\n", body, crc) > 0);
	*out = NULL;
	err = sbx_task_record_parse(out, full, strlen(full));
	free(full);
	return err;
}

static int parse_more(const char *lines, struct sbx_task **out)
{
	char *s = NULL;
	int err;

	assert_true(asprintf(&s, "%s%s", base_rec, lines) > 0);
	err = parse_text(s, out);
	free(s);
	return err;
}

static void test_record_attempts_roundtrip(void **state)
{
	struct sbx_task t = { 0 }, *back = NULL;
	struct sbx_task_attempt *a;
	char *buf = NULL;
	size_t len, i;

	(void)state;
	t.id = 7;
	t.state = SBX_TASK_DONE;
	t.prompt = "roll the dice";
	git_oid_fromstr(&t.base, "0123456789abcdef0123456789abcdef01234567");
	t.branch = "sbx/7";
	t.created_ms = 1700000000000;
	t.exit_status = 0;
	t.cpus = 4;
	t.memory = 2ULL << 30;
	t.agent = "cmd";
	t.agent_command = "echo hi; exit 0";
	assert_int_equal(sbx_task_attempt_add(&a, &t, NULL), 0);
	assert_int_equal(a->n, 1);
	a->state = SBX_TASK_DONE;
	a->exit_status = 0;
	a->has_tip = true;
	git_oid_fromstr(&a->tip, tip1);
	a->started_ms = 1700000001000;
	a->finished_ms = 1700000005000;
	a->agent_ms = 2500;
	memcpy(a->warm, warm, 65);
	assert_int_equal(sbx_task_attempt_add(&a, &t, "try\nagain \\ with a tab\t"), 0);
	a->state = SBX_TASK_CHECKS_FAILED;
	a->error = strdup("the checks failed\nbadly");
	assert_int_equal(sbx_task_attempt_add(&a, &t, NULL), 0);
	a->state = SBX_TASK_RUNNING;
	t.chosen = 1;
	t.picked = true;
	assert_int_equal(sbx_task_record_format(&buf, &len, &t), 0);
	assert_non_null(strstr(buf, "machine 4 2147483648\n"));
	assert_non_null(strstr(buf, "agent-command echo hi; exit 0\n"));
	assert_non_null(strstr(buf, "attempt 1 1700000001000 1700000005000 2500 0 89abcdef0123456789abcdef0123456789abcdef "
				    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff done\n"));
	assert_non_null(strstr(buf, "attempt 2 0 0 0 - - - checks failed\nattempt-prompt 2 try\\nagain \\\\ with a tab\\x09\n"
				    "attempt-error 2 the checks failed\\nbadly\n"));
	assert_non_null(strstr(buf, "attempt 3 0 0 0 - - - running\n"));
	assert_non_null(strstr(buf, "chosen 1 picked\n"));
	assert_int_equal(sbx_task_record_parse(&back, buf, len), 0);
	assert_int_equal(back->nattempts, 3);
	assert_int_equal(back->chosen, 1);
	assert_true(back->picked);
	assert_int_equal(back->cpus, 4);
	assert_true(back->memory == 2ULL << 30);
	assert_string_equal(back->agent_command, "echo hi; exit 0");
	for (i = 0; i < 3; i++) {
		assert_int_equal(back->attempts[i].n, i + 1);
		assert_int_equal(back->attempts[i].state, t.attempts[i].state);
		assert_int_equal(back->attempts[i].exit_status, t.attempts[i].exit_status);
		assert_int_equal(back->attempts[i].has_tip, t.attempts[i].has_tip);
		assert_true(back->attempts[i].started_ms == t.attempts[i].started_ms);
		assert_true(back->attempts[i].agent_ms == t.attempts[i].agent_ms);
		assert_string_equal(back->attempts[i].warm, t.attempts[i].warm);
	}
	assert_true(git_oid_equal(&back->attempts[0].tip, &t.attempts[0].tip));
	assert_null(back->attempts[0].prompt);
	assert_string_equal(back->attempts[1].prompt, "try\nagain \\ with a tab\t");
	assert_string_equal(back->attempts[1].error, "the checks failed\nbadly");
	assert_ptr_equal(sbx_task_attempt_get(back, 2), &back->attempts[1]);
	assert_null(sbx_task_attempt_get(back, 0));
	assert_null(sbx_task_attempt_get(back, 4));
	sbx_task_free(back);
	/* Every flipped byte is caught. */
	for (i = 0; i < len; i++) {
		buf[i] ^= 0x01;
		back = NULL;
		assert_true(sbx_task_record_parse(&back, buf, len) < 0);
		assert_null(back);
		buf[i] ^= 0x01;
	}
	free(buf);
	for (i = 0; i < t.nattempts; i++) {
		free(t.attempts[i].prompt);
		free(t.attempts[i].error);
	}
	free(t.attempts);
}

static void test_record_attempts_hostile(void **state)
{
	static const char *const bad[] = {
		"attempt 2 0 0 0 - - - done\n",				/* not the next one */
		"attempt 1 0 0 0 - - - done\nattempt 1 0 0 0 - - - done\n",
		"attempt 0 0 0 0 - - - done\n",
		"attempt 1 0 0 0 - - -\n",					/* no state */
		"attempt 1 0 0 0 - - - exploded\n",
		"attempt 1 0 0 0 256 - - done\n",
		"attempt 1 0 0 0 - 89ABCDEF0123456789abcdef0123456789abcdef - done\n",
		"attempt 1 0 0 0 - 89abcdef - done\n",
		"attempt 1 0 0 0 - - 0011 done\n",
		"attempt 1 -1 0 0 - - - done\n",
		"attempt 1 0 0 x - - - done\n",
		"attempt 1 00 0 0 - - - done\n",
		"attempt 65 0 0 0 - - - done\n",
		"attempt-prompt 1 before its attempt\n",
		"attempt 1 0 0 0 - - - done\nattempt-prompt 1 a\nattempt-prompt 1 b\n",
		"attempt 1 0 0 0 - - - done\nattempt-error 2 none\n",
		"attempt 1 0 0 0 - - - done\nattempt-error 1\n",
		"chosen 1 auto\n",						/* no attempt 1 */
		"attempt 1 0 0 0 - - - done\nchosen 1 maybe\n",
		"attempt 1 0 0 0 - - - done\nchosen 0 auto\n",
		"attempt 1 0 0 0 - - - done\nchosen 1 auto\nchosen 1 auto\n",
		"step start 5\nstep start 6\n",
		"step agent\n",
		"step agent -3\n",
		"timing 1 2 3 4 5\n",						/* version 1's, in a version 2 record */
		"machine 0 0\n",
		"machine 2\n",
		"machine 2 1024\nmachine 2 1024\n",
		"machine 2000 1024\n",
	};
	struct sbx_task *t = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = parse_more(bad[i], &t);

		if (err != SBX_ECORRUPT)
			fprintf(stderr, "# accepted: %s", bad[i]);
		assert_int_equal(err, SBX_ECORRUPT);
		assert_null(t);
	}
	/* A step this version does not know is a later addition: skipped. */
	assert_int_equal(parse_more("step teleport 5\nstep agent 0\n", &t), 0);
	assert_int_equal(t->steps_ran, 1u << SBX_STEP_AGENT);
	sbx_task_free(t);
}

static void test_record_version1(void **state)
{
	struct sbx_task *t = NULL;

	(void)state;
	assert_int_equal(parse_text("sbx-task-record 1\nid 3\nstate done\n"
				    "base 0123456789abcdef0123456789abcdef01234567\nbranch sbx/3\ncreated 5\n"
				    "timing 1234 56 0 12 3\nexit 0\n", &t), 0);
	assert_true(t->step_ms[SBX_STEP_START] == 1234 && t->step_ms[SBX_STEP_TRANSFER_IN] == 56 &&
		    t->step_ms[SBX_STEP_TRANSFER_OUT] == 12 && t->step_ms[SBX_STEP_IMPORT] == 3);
	/* version 1 did not say which ran: those at 0 did not */
	assert_false(sbx_task_step_ran(t, SBX_STEP_AGENT));
	assert_true(sbx_task_step_ran(t, SBX_STEP_IMPORT));
	assert_int_equal(t->nattempts, 0);
	sbx_task_free(t);
	/* version 1 has no step lines */
	assert_int_equal(parse_text("sbx-task-record 1\nid 3\nstate done\n"
				    "base 0123456789abcdef0123456789abcdef01234567\nbranch sbx/3\ncreated 5\n"
				    "step agent 5\n", &t), SBX_ECORRUPT);
	/* written again, it is version 2 */
	{
		char *buf = NULL;
		size_t len;

		assert_int_equal(parse_text("sbx-task-record 1\nid 3\nstate done\n"
					    "base 0123456789abcdef0123456789abcdef01234567\nbranch sbx/3\n"
					    "created 5\ntiming 7 0 9 0 0\n", &t), 0);
		assert_int_equal(sbx_task_record_format(&buf, &len, t), 0);
		assert_non_null(strstr(buf, "sbx-task-record 2\n"));
		assert_non_null(strstr(buf, "step start 7\nstep agent 9\n"));
		free(buf);
		sbx_task_free(t);
	}
}

static void test_step_names(void **state)
{
	enum sbx_task_step s;
	unsigned i;

	(void)state;
	for (i = 0; i < SBX_STEP_COUNT; i++) {
		assert_int_equal(sbx_task_step_parse(&s, sbx_task_step_name((enum sbx_task_step)i)), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(sbx_task_step_name(SBX_STEP_CHECKPOINT), "checkpoint");
	assert_string_equal(sbx_task_step_name(SBX_STEP_COUNT), "unknown");
	assert_int_equal(sbx_task_step_parse(&s, "boot"), -1);
}

/* ---- with a repository ---- */

static char tmp[256], cwd0[4096];
static struct sbx_repo *repo;

static void sh(const char *cmd)
{
	char *full = NULL;

	assert_true(asprintf(&full, "cd '%s' && { %s ; } >>'%s/sh.log' 2>&1", tmp, cmd, tmp) >= 0);
	assert_int_equal(system(full), 0);
	free(full);
}

static int setup(void **state)
{
	char *r;

	(void)state;
	assert_non_null(getcwd(cwd0, sizeof(cwd0)));
	snprintf(tmp, sizeof(tmp), "%s/sbx-test-attempt.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	fixture_git_env(tmp);
	sh("git config --global init.defaultBranch main && git config --global user.name T && "
	   "git config --global user.email t@example.com");
	sh("git init -q r && cd r && echo a >a.txt && git add -A && git commit -qm one");
	r = sbx_path_join(tmp, "r");
	assert_int_equal(chdir(r), 0);
	free(r);
	assert_int_equal(sbx_repo_open(&repo), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sbx_repo_free(repo);
	repo = NULL;
	assert_int_equal(chdir(cwd0), 0);
	sbx_rmtree(tmp);
	return 0;
}

static void test_view(void **state)
{
	struct sbx_task_create_opts co = SBX_TASK_CREATE_OPTS_INIT;
	struct sbx_task *t = NULL, *v = NULL;
	struct sbx_task_attempt *a;
	char ref[64], *p;

	(void)state;
	co.prompt = "the task's prompt";
	co.agent = "script:roll.sh";
	co.image = "default";
	assert_int_equal(sbx_task_create(&t, repo, &co), 0);
	t->cpus = 2;
	assert_int_equal(sbx_attempt_view(&v, t, 1), SBX_ENOTFOUND);
	assert_int_equal(sbx_task_attempt_add(&a, t, NULL), 0);
	assert_int_equal(sbx_task_attempt_add(&a, t, "its own"), 0);
	assert_int_equal(sbx_attempt_view(&v, t, 2), 0);
	assert_int_equal(v->id, t->id);
	assert_int_equal(v->attempt, 2);
	assert_int_equal(v->state, SBX_TASK_CREATED);
	assert_string_equal(v->prompt, "its own");
	assert_string_equal(v->branch, "sbx/1");
	assert_string_equal(v->agent, "script:roll.sh");
	assert_string_equal(v->image, "default");
	assert_int_equal(v->cpus, 2);
	assert_null(v->worktree);
	assert_string_equal(v->result_ref, "refs/sbx/1/2");
	assert_true(strstr(v->dir, "/sbx/tasks/1/attempts/2") != NULL);
	assert_int_equal(v->nattempts, 0);
	sbx_task_free(v);
	assert_int_equal(sbx_attempt_view(&v, t, 1), 0);
	assert_string_equal(v->prompt, "the task's prompt");
	sbx_task_free(v);
	sbx_attempt_ref(ref, sizeof(ref), 12, 3);
	assert_string_equal(ref, "refs/sbx/12/3");
	/* attempt 1 without a directory of its own: the task's (a task that ran once) */
	p = sbx_attempt_file(t, 1, "log");
	assert_true(strstr(p, "/sbx/tasks/1/log") != NULL);
	free(p);
	p = sbx_attempt_file(t, 2, "log");
	assert_true(strstr(p, "/sbx/tasks/1/attempts/2/log") != NULL);
	free(p);
	sbx_task_free(t);
}

static void test_parallel(void **state)
{
	char why[256];
	unsigned p;

	(void)state;
	assert_int_equal(sbx_attempts_parallel(&p, why, sizeof(why), repo, 1ULL << 30, 8), 0);
	assert_true(p >= 1 && p <= 8);
	assert_non_null(strstr(why, "sbx.parallel unset: "));
	assert_int_equal(sbx_attempts_parallel(&p, why, sizeof(why), repo, 1ULL << 50, 8), 0);
	assert_int_equal(p, 1);		/* no host has that much memory */
	sh("git -C r config sbx.parallel 3");
	assert_int_equal(sbx_attempts_parallel(&p, why, sizeof(why), repo, 1ULL << 50, 8), 0);
	assert_int_equal(p, 3);
	assert_string_equal(why, "sbx.parallel");
	assert_int_equal(sbx_attempts_parallel(&p, why, sizeof(why), repo, 1ULL << 30, 2), 0);
	assert_int_equal(p, 2);		/* never more than the attempts */
	sh("git -C r config sbx.parallel 0");
	assert_int_equal(sbx_attempts_parallel(&p, why, sizeof(why), repo, 1ULL << 30, 2), SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "sbx.parallel"));
	sh("git -C r config sbx.parallel lots");
	assert_int_equal(sbx_attempts_parallel(&p, why, sizeof(why), repo, 1ULL << 30, 2), SBX_EINVAL);
}

static void test_run_refusals(void **state)
{
	struct sbx_task_create_opts co = SBX_TASK_CREATE_OPTS_INIT;
	struct sbx_attempts_opts ao = SBX_ATTEMPTS_OPTS_INIT;
	struct sbx_task_run_opts ro = SBX_TASK_RUN_OPTS_INIT;
	struct sbx_attempts_result res;
	struct sbx_agent agent = { 0 };
	struct sbx_task *t = NULL;

	(void)state;
	co.prompt = "p";
	assert_int_equal(sbx_task_create(&t, repo, &co), 0);
	assert_int_equal(sbx_task_run_attempts(&res, repo, t, &ao), SBX_EINVAL);	/* no run options */
	ao.run = &ro;
	assert_int_equal(sbx_task_run_attempts(&res, repo, t, &ao), SBX_EINVAL);	/* no agent */
	agent.label = "true";
	agent.command = "true";
	ro.agent = &agent;
	ao.count = 0;
	assert_int_equal(sbx_task_run_attempts(&res, repo, t, &ao), SBX_EINVAL);
	ao.count = SBX_TASK_ATTEMPTS_MAX + 1;
	assert_int_equal(sbx_task_run_attempts(&res, repo, t, &ao), SBX_ELIMIT);
	ao.count = 2;
	t->state = SBX_TASK_ACCEPTED;
	assert_int_equal(sbx_task_run_attempts(&res, repo, t, &ao), SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "task 1 is accepted"));
	/* nothing changed: no attempts, the task not locked */
	assert_int_equal(t->nattempts, 0);
	assert_false(sbx_task_running(t));
	sbx_task_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_attempts_roundtrip),
		cmocka_unit_test(test_record_attempts_hostile),
		cmocka_unit_test(test_record_version1),
		cmocka_unit_test(test_step_names),
		cmocka_unit_test_setup_teardown(test_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_refusals, setup, teardown),
	};

	if (sbx_lib_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
