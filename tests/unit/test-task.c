// SPDX-License-Identifier: MIT
/*
 * Unit tests for sbx/task.c: records (format, checksum, hostile records),
 * ids, branches, worktrees, result import into the worktree, removal, gc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "sbx/fsutil.h"
#include "tests/unit/git-fixture.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "util/error.h"

static char tmp[256], cwd0[4096];
static struct sbx_repo *repo;

static void sh(const char *fmt, ...) SBX_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	char *cmd = NULL, *full = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	assert_true(asprintf(&full, "cd '%s' && { %s ; } >>'%s/sh.log' 2>&1", tmp, cmd, tmp) >= 0);
	rc = system(full);
	if (rc)
		fprintf(stderr, "# command failed (%d): %s\n", rc, cmd);
	assert_int_equal(rc, 0);
	free(cmd);
	free(full);
}

static char *capture(const char *fmt, ...) SBX_PRINTF(1, 2);
static char *capture(const char *fmt, ...)
{
	char *cmd = NULL, *full = NULL, *buf = malloc(1 << 16);
	size_t n;
	va_list ap;
	FILE *p;

	assert_non_null(buf);
	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	assert_true(asprintf(&full, "cd '%s' && { %s ; }", tmp, cmd) >= 0);
	p = popen(full, "r");
	assert_non_null(p);
	n = fread(buf, 1, (1 << 16) - 1, p);
	pclose(p);
	buf[n] = '\0';
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	free(cmd);
	free(full);
	return buf;
}

static void assert_capture(const char *want, const char *cmd)
{
	char *got = capture("%s", cmd);

	if (strcmp(got, want))
		fprintf(stderr, "# %s: got '%s'\n", cmd, got);
	assert_string_equal(got, want);
	free(got);
}

static int setup(void **state)
{
	char *r;

	(void)state;
	assert_non_null(getcwd(cwd0, sizeof(cwd0)));
	snprintf(tmp, sizeof(tmp), "%s/sbx-test-task.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	fixture_git_env(tmp);
	sh("git config --global init.defaultBranch main && git config --global user.name T && "
	   "git config --global user.email t@example.com");
	sh("git init -q r && cd r && echo a >a.txt && mkdir d && echo b >d/b.txt && git add -A && "
	   "git commit -qm one && echo a2 >>a.txt && git commit -qam two");
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
	if (getenv("SBX_KEEP_TMP"))
		fprintf(stderr, "# kept %s\n", tmp);
	else
		sbx_rmtree(tmp);
	return 0;
}

static struct sbx_task *new_task(const char *prompt)
{
	struct sbx_task_create_opts opts = SBX_TASK_CREATE_OPTS_INIT;
	struct sbx_task *t = NULL;

	opts.prompt = prompt;
	opts.agent = "script:fix.sh";
	if (sbx_task_create(&t, repo, &opts))
		fprintf(stderr, "# create: %s\n", sbx_error());
	assert_non_null(t);
	return t;
}

/* ---- records ---- */

static void test_record_roundtrip(void **state)
{
	struct sbx_task t = { 0 }, *back = NULL;
	char *buf = NULL;
	size_t len;

	(void)state;
	t.id = 42;
	t.state = SBX_TASK_DONE;
	t.prompt = "fix the bug\nin two lines \\ with a tab\t and \x01 and \"quotes\" and ünïcode";
	git_oid_fromstr(&t.base, "0123456789abcdef0123456789abcdef01234567");
	t.branch = "sbx/42";
	t.worktree = "/x/y z/42";
	t.agent = "claude";
	t.created_ms = 1700000000123;
	t.started_ms = 1700000001000;
	t.finished_ms = 1700000009000;
	sbx_task_step_set(&t, SBX_STEP_START, 120);
	sbx_task_step_set(&t, SBX_STEP_AGENT, 7000);
	sbx_task_step_set(&t, SBX_STEP_PUBLISH, 0);
	t.exit_status = 3;
	t.has_result = true;
	git_oid_fromstr(&t.result, "89abcdef0123456789abcdef0123456789abcdef");
	t.error = "agent exited with status 3";
	assert_int_equal(sbx_task_record_format(&buf, &len, &t), 0);
	assert_non_null(strstr(buf, "sbx-task-record 2\n"));
	assert_non_null(strstr(buf, "step start 120\nstep agent 7000\nstep publish 0\n"));
	assert_null(strstr(buf, "timing"));
	assert_non_null(strstr(buf, "prompt fix the bug\\nin two lines \\\\ with a tab\\x09"));
	assert_int_equal(sbx_task_record_parse(&back, buf, len), 0);
	assert_int_equal(back->id, 42);
	assert_int_equal(back->state, SBX_TASK_DONE);
	assert_string_equal(back->prompt, t.prompt);
	assert_string_equal(back->worktree, t.worktree);
	assert_string_equal(back->agent, "claude");
	assert_null(back->image);
	assert_true(back->created_ms == t.created_ms && back->finished_ms == t.finished_ms);
	assert_true(back->step_ms[SBX_STEP_START] == 120 && back->step_ms[SBX_STEP_AGENT] == 7000);
	/* a step that ran in 0 ms ran; one that did not run did not */
	assert_true(sbx_task_step_ran(back, SBX_STEP_PUBLISH) && !sbx_task_step_ran(back, SBX_STEP_IMPORT));
	assert_int_equal(back->steps_ran, t.steps_ran);
	assert_int_equal(back->nattempts, 0);
	assert_int_equal(back->chosen, 0);
	assert_int_equal(back->exit_status, 3);
	assert_true(back->has_result && git_oid_equal(&back->result, &t.result));
	assert_true(git_oid_equal(&back->base, &t.base));
	assert_string_equal(back->error, t.error);
	sbx_task_free(back);

	/* Every single flipped byte is caught (by the checksum or the parser). */
	for (size_t i = 0; i < len; i++) {
		char save = buf[i];

		buf[i] ^= 0x01;
		back = NULL;
		assert_true(sbx_task_record_parse(&back, buf, len) < 0);
		assert_null(back);
		buf[i] = save;
	}
	/* Truncated at every length. */
	for (size_t i = 0; i < len; i++)
		assert_true(sbx_task_record_parse(&back, buf, i) < 0);
	free(buf);
}

/* A record with a correct checksum over chosen text. */
static int parse_text(const char *body, struct sbx_task **out)
{
	char *full = NULL;
	int err;
	unsigned long crc;

	/* the writer's rule: crc32 of everything before the checksum line */
	crc = crc32(0, (const Bytef *)body, (uInt)strlen(body));
	assert_true(asprintf(&full, "%schecksum %08lx\n", body, crc) > 0);
	err = sbx_task_record_parse(out, full, strlen(full));
	free(full);
	return err;
}

static void test_record_hostile(void **state)
{
	struct sbx_task *t = NULL;
	const char *base = "sbx-task-record 1\nid 3\nstate done\n"
			   "base 0123456789abcdef0123456789abcdef01234567\nbranch sbx/3\ncreated 5\n";
	char *s;

	(void)state;
	assert_int_equal(parse_text(base, &t), 0);
	assert_string_equal(t->prompt, "");
	sbx_task_free(t);
	assert_int_equal(parse_text("sbx-task-record 3\nid 3\n", &t), SBX_EUNSUPPORTED);
	assert_int_equal(parse_text("sbx-task-record 0\nid 3\n", &t), SBX_EUNSUPPORTED);
	assert_int_equal(parse_text("sbx-task-record 1\nid 3\nstate done\n", &t), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "lacks a required field"));
	assert_true(asprintf(&s, "%sid 4\n", base) > 0);
	assert_int_equal(parse_text(s, &t), SBX_ECORRUPT);
	free(s);
	assert_true(asprintf(&s, "%sprompt a\nprompt b\n", base) > 0);
	assert_int_equal(parse_text(s, &t), SBX_ECORRUPT);
	free(s);
	assert_true(asprintf(&s, "%sprompt bad \\q escape\n", base) > 0);
	assert_int_equal(parse_text(s, &t), SBX_ECORRUPT);
	free(s);
	assert_true(asprintf(&s, "%sexit 256\n", base) > 0);
	assert_int_equal(parse_text(s, &t), SBX_ECORRUPT);
	free(s);
	assert_true(asprintf(&s, "%stiming 1 2 3\n", base) > 0);
	assert_int_equal(parse_text(s, &t), SBX_ECORRUPT);
	free(s);
	assert_int_equal(parse_text("sbx-task-record 1\nid 0\nstate done\n", &t), SBX_ECORRUPT);
	assert_int_equal(parse_text("sbx-task-record 1\nid 99999999999999999999\n", &t), SBX_ECORRUPT);
	assert_int_equal(parse_text("sbx-task-record 1\nid 3\nstate exploded\n", &t), SBX_ECORRUPT);
	/* Unknown keys (later additions) are skipped. */
	assert_true(asprintf(&s, "%sfuture-field whatever\n", base) > 0);
	assert_int_equal(parse_text(s, &t), 0);
	sbx_task_free(t);
	free(s);
	assert_int_equal(sbx_task_record_parse(&t, "", 0), SBX_ECORRUPT);
}

/* ---- create, open, list ---- */

static void test_create_ids_branch_worktree(void **state)
{
	struct sbx_task *t1 = new_task("first"), *t2 = new_task("second"), *again = NULL;
	struct sbx_task **list = NULL;
	size_t n, bad;
	char *s;

	(void)state;
	assert_int_equal(t1->id, 1);
	assert_int_equal(t2->id, 2);
	assert_string_equal(t2->branch, "sbx/2");
	assert_capture("sbx/2", "git -C r rev-parse --abbrev-ref sbx/2 && true");
	s = capture("test $(git -C r rev-parse sbx/2) = $(git -C r rev-parse HEAD) && echo at-head");
	assert_string_equal(s, "at-head");
	free(s);
	/* the worktree: on the branch, files checked out, clean */
	assert_non_null(strstr(t2->worktree, "/.git/sbx/worktrees/2"));
	assert_capture("refs/heads/sbx/2", "git -C r/.git/sbx/worktrees/2 symbolic-ref HEAD");
	assert_capture("", "git -C r/.git/sbx/worktrees/2 status --porcelain");
	assert_capture("b", "cat r/.git/sbx/worktrees/2/d/b.txt");
	assert_capture("2", "git -C r worktree list | grep -c sbx/worktrees");
	/* the main worktree does not see ours */
	assert_capture("", "git -C r status --porcelain");
	/* the record reads back */
	assert_int_equal(sbx_task_open(&again, repo, 2), 0);
	assert_string_equal(again->prompt, "second");
	assert_string_equal(again->agent, "script:fix.sh");
	assert_int_equal(again->state, SBX_TASK_CREATED);
	assert_true(git_oid_equal(&again->base, &t2->base));
	sbx_task_free(again);
	assert_int_equal(sbx_task_open(&again, repo, 7), SBX_ENOTFOUND);
	assert_int_equal(sbx_task_list(&list, &n, &bad, repo), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bad, 0);
	assert_int_equal(list[0]->id, 1);
	assert_int_equal(list[1]->id, 2);
	sbx_task_list_free(list, n);
	sbx_task_free(t1);
	sbx_task_free(t2);
}

static void test_ids_never_reused(void **state)
{
	struct sbx_task *t;
	bool kept;

	(void)state;
	sbx_task_free(new_task("1"));
	sbx_task_free(new_task("2"));
	sbx_task_free(new_task("3"));
	assert_int_equal(sbx_task_remove(&kept, repo, 3, 0), 0);
	assert_false(kept);
	t = new_task("4");
	assert_int_equal(t->id, 4);
	sbx_task_free(t);
	/* next-id lost: still no reuse of a record's id */
	sh("rm r/.git/sbx/next-id");
	t = new_task("5");
	assert_int_equal(t->id, 5);
	sbx_task_free(t);
	/* a kept branch keeps its id taken */
	assert_int_equal(sbx_task_remove(&kept, repo, 5, SBX_TASK_RM_KEEP_BRANCH), 0);
	assert_true(kept);
	sh("rm r/.git/sbx/next-id");
	t = new_task("6");
	assert_int_equal(t->id, 6);
	sbx_task_free(t);
	/* a bad base is refused and leaves nothing */
	{
		struct sbx_task_create_opts opts = SBX_TASK_CREATE_OPTS_INIT;
		git_oid nothing;

		git_oid_fromstr(&nothing, "0123456789abcdef0123456789abcdef01234567");
		opts.prompt = "x";
		opts.base = &nothing;
		t = NULL;
		assert_int_equal(sbx_task_create(&t, repo, &opts), SBX_EINVAL);
		assert_null(t);
	}
	assert_capture("", "ls r/.git/sbx/tasks | grep -v '^[1246]$' || true");
}

/* ---- results and the worktree ---- */

static int import_bundle(struct sbx_task *t, const char *file, bool *kept, git_oid *tip)
{
	char *p = sbx_path_join(tmp, file);
	int fd = open(p, O_RDONLY), err;

	assert_true(fd >= 0);
	err = sbx_task_import_fd(tip, kept, repo, t, fd);
	close(fd);
	free(p);
	return err;
}

static void test_import_updates_worktree(void **state)
{
	struct sbx_task *t = new_task("work"), *back = NULL;
	bool kept;
	git_oid tip;

	(void)state;
	sh("git clone -q r g && cd g && echo guest >>a.txt && echo new >n.txt && git rm -q d/b.txt && "
	   "git add -A && git commit -qm guest && git bundle create -q ../res.bundle origin/main..HEAD");
	/* the user has an unrelated edit and an untracked file in the worktree */
	sh("cd r/.git/sbx/worktrees/1 && echo mine >untracked.txt");
	assert_int_equal(import_bundle(t, "res.bundle", &kept, &tip), 0);
	assert_false(kept);
	assert_capture("a\na2\nguest", "cat r/.git/sbx/worktrees/1/a.txt");
	assert_capture("new", "cat r/.git/sbx/worktrees/1/n.txt");
	assert_capture("gone", "test -e r/.git/sbx/worktrees/1/d/b.txt || echo gone");
	assert_capture("mine", "cat r/.git/sbx/worktrees/1/untracked.txt");
	assert_capture("?? untracked.txt", "git -C r/.git/sbx/worktrees/1 status --porcelain");
	assert_int_equal(sbx_task_open(&back, repo, 1), 0);
	assert_true(back->has_result && git_oid_equal(&back->result, &tip));
	sbx_task_free(back);
	sbx_task_free(t);
}

static void test_import_keeps_conflicting_edits(void **state)
{
	struct sbx_task *t = new_task("work");
	bool kept;
	git_oid tip;
	char *base = capture("git -C r rev-parse HEAD");

	(void)state;
	sh("git clone -q r g && cd g && echo guest >>a.txt && git commit -qam guest && "
	   "git bundle create -q ../res.bundle origin/main..HEAD");
	sh("cd r/.git/sbx/worktrees/1 && echo my-edit >>a.txt");
	assert_int_equal(import_bundle(t, "res.bundle", &kept, &tip), 0);
	assert_true(kept);
	/* the user's edit is intact, HEAD detached at the old tip, the result on the branch */
	assert_capture("a\na2\nmy-edit", "cat r/.git/sbx/worktrees/1/a.txt");
	assert_capture(base, "git -C r/.git/sbx/worktrees/1 rev-parse HEAD");
	assert_capture(" M a.txt", "git -C r/.git/sbx/worktrees/1 status --porcelain");
	assert_capture("guest", "git -C r log -1 --format=%s sbx/1");
	free(base);
	sbx_task_free(t);
}

/* ---- removal ---- */

static void test_remove(void **state)
{
	struct sbx_task *t = new_task("rm me");
	int lock;
	bool kept;

	(void)state;
	/* local changes in the worktree: refused without force */
	sh("echo scratch >r/.git/sbx/worktrees/1/scratch.txt");
	assert_int_equal(sbx_task_remove(&kept, repo, 1, 0), SBX_EEXISTS);
	assert_non_null(strstr(sbx_error(), "has local changes"));
	assert_capture("1", "ls r/.git/sbx/tasks");
	/* running: refused without force */
	sh("rm r/.git/sbx/worktrees/1/scratch.txt");
	assert_int_equal(sbx_task_start(&lock, t), 0);
	assert_true(sbx_task_running(t));
	assert_int_equal(sbx_task_remove(&kept, repo, 1, 0), SBX_ELOCKED);
	assert_int_equal(sbx_task_finish(lock, t, SBX_TASK_DONE, 0, NULL), 0);
	assert_false(sbx_task_running(t));
	/* now it goes, leaving nothing */
	assert_int_equal(sbx_task_remove(&kept, repo, 1, 0), 0);
	assert_false(kept);
	assert_capture("", "ls r/.git/sbx/tasks r/.git/sbx/worktrees | grep -v : || true");
	assert_capture("", "git -C r worktree list --porcelain | grep sbx/worktrees || true");
	assert_capture("", "ls r/.git/worktrees 2>/dev/null || true");
	assert_capture("", "git -C r branch --list 'sbx/*'");
	assert_int_equal(sbx_task_remove(&kept, repo, 1, 0), SBX_ENOTFOUND);
	sbx_task_free(t);
}

/* ---- gc after crashes ---- */

static void test_gc(void **state)
{
	struct sbx_task *t1 = new_task("one"), *t2 = new_task("two"), *t3 = new_task("three"), *back;
	struct sbx_task_gc_stats st;

	(void)state;
	/* 1: a crash in the middle of rm; 2: "running" but no process; 3: fine */
	t1->state = SBX_TASK_REMOVING;
	assert_int_equal(sbx_task_save(t1), 0);
	t2->state = SBX_TASK_RUNNING;
	assert_int_equal(sbx_task_save(t2), 0);
	/* leftovers of dead processes: temp records, quarantine, stray dirs */
	sh("cd r/.git && echo x >sbx/tasks/3/record.tmp.999999999 && echo y >sbx/next-id.tmp.999999999 && "
	   "mkdir objects/sbx-incoming-999999999-abcdef && echo z >objects/sbx-incoming-999999999-abcdef/tmp && "
	   "mkdir -p sbx/tasks/9 sbx/worktrees/8 && echo w >sbx/worktrees/8/f");
	/* a worktree whose files the user deleted by hand */
	sh("rm -rf r/.git/sbx/worktrees/3 && mkdir r/.git/sbx/worktrees/3");
	assert_int_equal(sbx_task_gc(&st, repo), 0);
	assert_int_equal(st.finished_removals, 1);
	assert_int_equal(st.interrupted, 1);
	assert_int_equal(st.temp_files, 3);
	assert_int_equal(st.stray_dirs, 2);
	assert_capture("2\n3", "ls r/.git/sbx/tasks");
	assert_capture("2\n3", "ls r/.git/sbx/worktrees");
	assert_capture("", "ls r/.git/objects | grep sbx-incoming || true");
	assert_capture("", "find r/.git/sbx -name '*.tmp.*'");
	/* rm's branch stays after a crashed rm: gc cannot know the user wanted it gone */
	assert_capture("sbx/1", "git -C r branch --list 'sbx/1' | tr -d ' '");
	assert_int_equal(sbx_task_open(&back, repo, 2), 0);
	assert_int_equal(back->state, SBX_TASK_FAILED);
	assert_non_null(strstr(back->error, "interrupted"));
	sbx_task_free(back);
	/* gc twice changes nothing more */
	assert_int_equal(sbx_task_gc(&st, repo), 0);
	assert_int_equal(st.finished_removals + st.interrupted + st.temp_files + st.stray_dirs, 0);
	sbx_task_free(t1);
	sbx_task_free(t2);
	sbx_task_free(t3);
}

static void test_parse_id(void **state)
{
	unsigned id;

	(void)state;
	assert_int_equal(sbx_task_parse_id(&id, "12"), 0);
	assert_int_equal(id, 12);
	assert_int_equal(sbx_task_parse_id(&id, "0"), SBX_EINVAL);
	assert_int_equal(sbx_task_parse_id(&id, "012"), SBX_EINVAL);
	assert_int_equal(sbx_task_parse_id(&id, "-1"), SBX_EINVAL);
	assert_int_equal(sbx_task_parse_id(&id, "1x"), SBX_EINVAL);
	assert_int_equal(sbx_task_parse_id(&id, "../1"), SBX_EINVAL);
	assert_int_equal(sbx_task_parse_id(&id, "9999999999"), SBX_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_roundtrip),
		cmocka_unit_test(test_record_hostile),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test_setup_teardown(test_create_ids_branch_worktree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_updates_worktree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_keeps_conflicting_edits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
	};
	int ret;

	git_libgit2_init();
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	git_libgit2_shutdown();
	return ret;
}
