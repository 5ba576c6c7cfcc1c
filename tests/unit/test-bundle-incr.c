// SPDX-License-Identifier: MIT
/*
 * Incremental bundles (sbx/bundle.c, opts.have) against the real git CLI:
 * a guest cloned from a whole bundle of an older commit (a warm base's)
 * fetches only what it lacks, with prerequisites it has; what it cannot
 * take that way (a root it lacks, more than max_new commits) is
 * SBX_ELIMIT, and a base it has already writes nothing.
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

#include "sbx/bundle.h"
#include "sbx/fsutil.h"
#include "util/error.h"
#include "tests/unit/git-fixture.h"

static char tmp[256];

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
	assert_int_equal(pclose(p), 0);
	buf[n] = 0;
	while (n && buf[n - 1] == '\n')
		buf[--n] = 0;
	free(cmd);
	free(full);
	return buf;
}

static git_oid rev(const char *spec)
{
	char *hex = capture("git -C r rev-parse --verify '%s'", spec);
	git_oid id;

	assert_int_equal(git_oid_fromstr(&id, hex), 0);
	free(hex);
	return id;
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/sbx-test-incr.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	fixture_git_env(tmp);
	sh("git config --global init.defaultBranch main && git config --global advice.detachedHead false");
	/* r: ten commits, a big file; tag "warm" at the fifth. */
	sh("git init -q r && cd r && mkdir -p src && seq 1 3000 >big.txt && "
	   "for i in 1 2 3 4 5 6 7 8 9 10; do echo $i >>src/log.txt && echo $i >f$i.txt && "
	   "git add -A && git commit -qm \"commit $i\" && [ $i != 5 ] || git tag warm; done");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (getenv("SBX_KEEP_TMP"))
		fprintf(stderr, "# kept %s\n", tmp);
	else
		sbx_rmtree(tmp);
	return 0;
}

/* Write a bundle of `base` for branch sbx/<n> into FILE; returns the error. */
static int bundle(const char *file, const char *base, const char *branch, unsigned depth,
		  const char *have, size_t max_new, struct sbx_bundle_info *info)
{
	struct sbx_bundle_create_opts opts = SBX_BUNDLE_CREATE_OPTS_INIT;
	git_repository *repo = NULL;
	git_oid b = rev(base), h;
	char *path = sbx_path_join(tmp, file), *rp = sbx_path_join(tmp, "r");
	int fd, err;

	assert_int_equal(git_repository_open(&repo, rp), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	opts.branch = branch;
	opts.depth = depth;
	if (have) {
		h = rev(have);
		opts.have = &h;
		opts.max_new = max_new;
	}
	err = sbx_bundle_create_fd(info, repo, &b, &opts, fd);
	close(fd);
	free(path);
	free(rp);
	git_repository_free(repo);
	return err;
}

/* The warm base's guest: the clone script's steps with a depth-3 bundle of "warm". */
static void warm_guest(void)
{
	struct sbx_bundle_info info;
	size_t i;

	assert_int_equal(bundle("warm.bundle", "warm", "sbx/warm", 3, NULL, 0, &info), 0);
	sh("git init -q g && git -C g symbolic-ref HEAD refs/heads/sbx/warm");
	for (i = 0; i < info.nshallow; i++)
		sh("echo %s >>g/.git/shallow", git_oid_tostr_s(&info.shallow[i]));
	sh("cd g && git fetch -q ../warm.bundle '+refs/heads/sbx/warm:refs/remotes/host/sbx/warm' && "
	   "git reset -q --hard refs/remotes/host/sbx/warm && echo ignored >.git/info/exclude && "
	   "mkdir ignored && echo kept >ignored/f");
	sbx_bundle_info_clear(&info);
}

/* The update script's steps: fetch (when sent), then the task's branch at its base. */
static void update(const char *file, const char *branch, const char *base)
{
	char *hex = capture("git -C r rev-parse %s", base);

	if (file)
		sh("cd g && git fetch -q ../%s '+refs/heads/%s:refs/remotes/host/%s'", file, branch, branch);
	sh("cd g && git checkout -q -f -B %s %s", branch, hex);
	free(hex);
}

static void test_incremental_fetch(void **state)
{
	struct sbx_bundle_info info, whole;
	char *s;

	(void)state;
	warm_guest();
	/* Three commits on: the bundle holds them and names "warm" as its prerequisite. */
	assert_int_equal(bundle("incr.bundle", "main~2", "sbx/1", 3, "warm", 3, &info), 0);
	assert_int_equal(info.ncommits, 3);
	assert_int_equal(info.nprereqs, 1);
	assert_int_equal(info.nshallow, 0);
	assert_false(info.up_to_date);
	s = capture("git -C r bundle list-heads ../incr.bundle | wc -l");
	assert_string_equal(s, "2");
	free(s);
	s = capture("grep -a -c \"^-$(git -C r rev-parse warm)\" incr.bundle");
	assert_string_equal(s, "1");
	free(s);
	/* Only the new objects: three commits, their trees, src/, and three new blobs each. */
	assert_int_equal(bundle("whole.bundle", "main~2", "sbx/1", 3, NULL, 0, &whole), 0);
	assert_true(info.nobjects < whole.nobjects);
	assert_true(info.bytes * 4 < whole.bytes);
	sbx_bundle_info_clear(&whole);
	update("incr.bundle", "sbx/1", "main~2");
	sh("git -C g fsck --no-progress");
	s = capture("test $(git -C g rev-parse HEAD^{tree}) = $(git -C r rev-parse main~2^{tree}) && "
		    "git -C g symbolic-ref HEAD && cat g/ignored/f && git -C g log --format=%%s -1");
	assert_string_equal(s, "refs/heads/sbx/1\nkept\ncommit 8");
	free(s);
	/* Git refuses the bundle in a repository without the prerequisite. */
	sh("git init -q empty && ! git -C empty fetch -q ../incr.bundle refs/heads/sbx/1:refs/heads/x");
	sbx_bundle_info_clear(&info);
}

static void test_up_to_date_and_limits(void **state)
{
	struct sbx_bundle_info info;
	char *s;

	(void)state;
	warm_guest();
	/* The guest has the base (or an ancestor within its history): nothing is written. */
	assert_int_equal(bundle("same.bundle", "warm", "sbx/2", 3, "warm", 3, &info), 0);
	assert_true(info.up_to_date);
	assert_int_equal(info.bytes, 0);
	s = capture("wc -c < same.bundle");
	assert_string_equal(s, "0");
	free(s);
	sbx_bundle_info_clear(&info);
	assert_int_equal(bundle("older.bundle", "warm~1", "sbx/2", 3, "warm", 3, &info), 0);
	assert_true(info.up_to_date);
	sbx_bundle_info_clear(&info);
	update(NULL, "sbx/2", "warm~1");
	s = capture("git -C g log --format=%%s -1");
	assert_string_equal(s, "commit 4");
	free(s);
	/* More new commits than max_new: ELIMIT. */
	assert_int_equal(bundle("far.bundle", "main", "sbx/3", 3, "warm", 3, &info), SBX_ELIMIT);
	sbx_bundle_info_clear(&info);
	assert_int_equal(bundle("far.bundle", "main", "sbx/3", 3, "warm", 0, &info), 0);
	assert_int_equal(info.ncommits, 5);
	sbx_bundle_info_clear(&info);
	/* History the guest does not share (an orphan branch): ELIMIT. */
	sh("cd r && git checkout -q --orphan other && git commit -qm orphan && git checkout -q main");
	assert_int_equal(bundle("orphan.bundle", "other", "sbx/4", 3, "warm", 0, &info), SBX_ELIMIT);
	sbx_bundle_info_clear(&info);
	/* Below the guest's shallow boundary: a branch from commit 1 goes down to a root it lacks. */
	sh("cd r && git checkout -q -b old main~9 && echo x >x.txt && git add x.txt && "
	   "git commit -qm old && git checkout -q main");
	assert_int_equal(bundle("old.bundle", "old", "sbx/5", 3, "warm", 0, &info), SBX_ELIMIT);
	sbx_bundle_info_clear(&info);
}

static void test_merge_prerequisites(void **state)
{
	struct sbx_bundle_info info;
	char *s;

	(void)state;
	warm_guest();
	/* A side branch from warm~1 (in the guest's history) merged after warm: two prerequisites. */
	sh("cd r && git checkout -q -b side warm~1 && echo side >side.txt && git add side.txt && "
	   "git commit -qm side && git checkout -q -b merged warm && git merge -q --no-edit side");
	assert_int_equal(bundle("merge.bundle", "merged", "sbx/6", 3, "warm", 3, &info), 0);
	assert_int_equal(info.ncommits, 2);
	assert_int_equal(info.nprereqs, 2);
	update("merge.bundle", "sbx/6", "merged");
	sh("git -C g fsck --no-progress");
	s = capture("test $(git -C g rev-parse HEAD^{tree}) = $(git -C r rev-parse merged^{tree}) && cat g/side.txt");
	assert_string_equal(s, "side");
	free(s);
	sbx_bundle_info_clear(&info);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_incremental_fetch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_up_to_date_and_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_prerequisites, setup, teardown),
	};

	git_libgit2_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
