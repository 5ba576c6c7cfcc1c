// SPDX-License-Identifier: MIT
/*
 * Unit tests for sbx/bundle.c against the real git CLI: our bundles clone
 * and fetch with git; git's bundles import with us; hostile bundles are
 * rejected and leave the repository's refs and objects exactly as they were.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbx/bundle.h"
#include "sbx/fsutil.h"
#include "sbx/import-check.h"
#include "sbx/repo.h"
#include "util/checked.h"
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

/* Run a command in tmp and return its stdout (trailing newline removed). */
static char *capture(const char *fmt, ...) SBX_PRINTF(1, 2);
static char *capture(const char *fmt, ...)
{
	char *cmd = NULL, *full = NULL, *buf = malloc(1 << 20);
	size_t n = 0;
	va_list ap;
	FILE *p;

	assert_non_null(buf);
	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	assert_true(asprintf(&full, "cd '%s' && { %s ; }", tmp, cmd) >= 0);
	p = popen(full, "r");
	assert_non_null(p);
	n = fread(buf, 1, (1 << 20) - 1, p);
	assert_int_equal(pclose(p), 0);
	buf[n] = '\0';
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	free(cmd);
	free(full);
	return buf;
}

static char *path_in_tmp(const char *name)
{
	char *p = sbx_path_join(tmp, name);

	assert_non_null(p);
	return p;
}

static git_repository *open_repo(const char *name)
{
	git_repository *repo = NULL;
	char *p = path_in_tmp(name);

	assert_int_equal(git_repository_open(&repo, p), 0);
	free(p);
	return repo;
}

static git_oid rev(const char *repo, const char *spec)
{
	char *hex = capture("git -C %s rev-parse --verify '%s'", repo, spec);
	git_oid id;

	assert_int_equal(git_oid_fromstr(&id, hex), 0);
	free(hex);
	return id;
}

/* Refs, packs and loose objects of a repository, and anything left in objects/. */
static char *repo_state(const char *repo)
{
	return capture("cd %s && git for-each-ref --format='%%(refname) %%(objectname)' && "
		       "ls -l .git/objects/pack | awk '{print $5, $9}' && "
		       "find .git/objects -type f | sort | xargs -r sha1sum && ls .git/objects", repo);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/sbx-test-bundle.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	fixture_git_env(tmp);
	sh("git config --global init.defaultBranch main && git config --global advice.detachedHead false");
	/* r: eight commits with files in a subdirectory, one merge, the base at the top. */
	sh("git init -q r && cd r && mkdir -p src/deep && "
	   "for i in 1 2 3 4 5; do echo line $i >>README && echo $i >src/f$i.c && "
	   "echo deep $i >src/deep/d.txt && git add -A && git commit -qm \"commit $i\"; done && "
	   "git checkout -qb side HEAD~2 && echo side >side.txt && git add side.txt && "
	   "git commit -qm side && git checkout -q main && git merge -q --no-edit side && "
	   "echo 6 >src/f6.c && git add -A && git commit -qm 'commit 6' && "
	   "seq 1 2000 >big.txt && git add big.txt && git commit -qm 'commit 7'");
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

static void make_bundle(const char *file, unsigned depth, struct sbx_bundle_info *info)
{
	struct sbx_bundle_create_opts opts = SBX_BUNDLE_CREATE_OPTS_INIT;
	git_repository *repo = open_repo("r");
	git_oid base = rev("r", "HEAD");
	char *path = path_in_tmp(file);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	opts.branch = "sbx/1";
	opts.depth = depth;
	assert_int_equal(sbx_bundle_create_fd(info, repo, &base, &opts, fd), 0);
	close(fd);
	free(path);
	git_repository_free(repo);
}

/* The guest's side as sbx-init does it: init, write .git/shallow, fetch. */
static void guest_fetch(const char *dir, const char *bundle, const struct sbx_bundle_info *info)
{
	size_t i;

	sh("git init -q -b sbx/1 %s", dir);
	for (i = 0; i < info->nshallow; i++)
		sh("echo %s >>%s/.git/shallow", git_oid_tostr_s(&info->shallow[i]), dir);
	sh("cd %s && git fetch -q ../%s refs/heads/sbx/1:refs/remotes/host/sbx/1 && "
	   "git reset -q --hard host/sbx/1", dir, bundle);
}

static void test_create_shallow_fetch(void **state)
{
	struct sbx_bundle_info info;
	char *s;

	(void)state;
	make_bundle("d3.bundle", 3, &info);
	/* base, commit 6, the merge: the merge's parents are cut */
	assert_int_equal(info.ncommits, 3);
	assert_int_equal(info.nshallow, 1);
	assert_true(info.bytes > 100);
	s = capture("head -c 16 d3.bundle");
	assert_string_equal(s, "# v2 git bundle");
	free(s);
	s = capture("git -C r bundle list-heads ../d3.bundle");
	assert_non_null(strstr(s, "refs/heads/sbx/1"));
	assert_non_null(strstr(s, " HEAD"));
	free(s);
	guest_fetch("g", "d3.bundle", &info);
	s = capture("git -C g log --oneline | wc -l");
	assert_string_equal(s, "3");
	free(s);
	s = capture("git -C g log --format=%%s | tr '\\n' ,");
	assert_string_equal(s, "commit 7,commit 6,Merge branch 'side',");
	free(s);
	sh("git -C g fsck --no-progress");
	/* The guest's tree is the host's. */
	s = capture("test $(git -C g rev-parse HEAD^{tree}) = $(git -C r rev-parse HEAD^{tree}) && echo same");
	assert_string_equal(s, "same");
	free(s);
	sh("cmp g/big.txt r/big.txt && cmp g/src/deep/d.txt r/src/deep/d.txt");
	/* Without .git/shallow git would rightly refuse the cut history. */
	sh("git init -q bare-guest && ! git -C bare-guest fetch -q ../d3.bundle refs/heads/sbx/1:refs/heads/x");
	sbx_bundle_info_clear(&info);
}

static void test_create_full_history_clones(void **state)
{
	struct sbx_bundle_info info;
	char *s;

	(void)state;
	make_bundle("all.bundle", 0, &info);
	assert_int_equal(info.nshallow, 0);
	assert_int_equal(info.ncommits, 9);
	sh("git clone -q -b sbx/1 all.bundle c && git -C c fsck --no-progress");
	s = capture("git -C c rev-list --count HEAD");
	assert_string_equal(s, "9");
	free(s);
	s = capture("git -C c symbolic-ref HEAD");
	assert_string_equal(s, "refs/heads/sbx/1");
	free(s);
	sbx_bundle_info_clear(&info);
	/* A depth larger than the history cuts nothing either. */
	make_bundle("d100.bundle", 100, &info);
	assert_int_equal(info.nshallow, 0);
	assert_int_equal(info.ncommits, 9);
	sbx_bundle_info_clear(&info);
	/* Depth 1: just the base. */
	make_bundle("d1.bundle", 1, &info);
	assert_int_equal(info.ncommits, 1);
	assert_int_equal(info.nshallow, 1);
	guest_fetch("g1", "d1.bundle", &info);
	s = capture("git -C g1 rev-list --count HEAD");
	assert_string_equal(s, "1");
	free(s);
	sbx_bundle_info_clear(&info);
}

static int write_err(const void *data, size_t len, void *payload)
{
	size_t *budget = payload;

	(void)data;
	if (len > *budget)
		return sbx_error_set(SBX_EIO, "peer went away");
	*budget -= len;
	return 0;
}

static void test_create_write_error_stops(void **state)
{
	struct sbx_bundle_create_opts opts = SBX_BUNDLE_CREATE_OPTS_INIT;
	git_repository *repo = open_repo("r");
	git_oid base = rev("r", "HEAD");
	size_t budget = 200;

	(void)state;
	opts.branch = "sbx/1";
	assert_int_equal(sbx_bundle_create(NULL, repo, &base, &opts, write_err, &budget), SBX_EIO);
	assert_non_null(strstr(sbx_error(), "peer went away"));
	opts.branch = "bad..name";
	assert_int_equal(sbx_bundle_create(NULL, repo, &base, &opts, write_err, &budget), SBX_EINVAL);
	git_repository_free(repo);
}

/* ---- import ---- */

static int import_file_from(git_oid *tip, const char *file, const char *base_spec,
			    uint64_t max_size, const char *expected_spec)
{
	struct sbx_bundle_import_opts opts = SBX_BUNDLE_IMPORT_OPTS_INIT;
	git_repository *repo = open_repo("r");
	git_oid old;
	char *path = path_in_tmp(file);
	int fd = open(path, O_RDONLY), err;

	assert_true(fd >= 0);
	opts.branch = "sbx/1";
	opts.base = rev("r", base_spec);
	old = rev("r", expected_spec);
	opts.expected_old = &old;
	if (max_size)
		opts.max_size = max_size;
	err = sbx_bundle_import_fd(tip, repo, &opts, fd);
	close(fd);
	free(path);
	git_repository_free(repo);
	return err;
}

static int import_file(git_oid *tip, const char *file, const char *base_spec, uint64_t max_size)
{
	return import_file_from(tip, file, base_spec, max_size, "refs/heads/sbx/1");
}

/*
 * A guest repository "g" cloned from r at base (main), with work on top:
 * edits, an added file, a deletion, a rename, two commits.
 */
static void make_guest_work(void)
{
	sh("git -C r branch -f sbx/1 main");
	sh("git clone -q r g && cd g && git checkout -qb sbx/1 && "
	   "echo changed >>README && echo new >added.txt && git rm -q src/f1.c && "
	   "git mv src/f2.c src/renamed.c && git add -A && git commit -qm 'agent: work' && "
	   "seq 1 2100 >big.txt && git commit -qam 'sbx: uncommitted work'");
}

static void test_import_git_bundle(void **state)
{
	git_oid tip, want;
	char *s;

	(void)state;
	make_guest_work();
	sh("cd g && git bundle create -q ../res.bundle main..HEAD");
	want = rev("g", "HEAD");
	assert_int_equal(import_file(&tip, "res.bundle", "main", 0), 0);
	assert_true(git_oid_equal(&tip, &want));
	s = capture("git -C r rev-parse sbx/1");
	assert_string_equal(s, git_oid_tostr_s(&want));
	free(s);
	sh("git -C r fsck --no-progress --strict");
	s = capture("git -C r log --format=%%s main..sbx/1 | tr '\\n' ,");
	assert_string_equal(s, "sbx: uncommitted work,agent: work,");
	free(s);
	s = capture("git -C r reflog -1 --format=%%gs sbx/1");
	assert_string_equal(s, "sbx: import result");
	free(s);
	s = capture("git -C r diff --name-status main sbx/1 | sort | tr '\\t\\n' ' ,'");
	assert_string_equal(s, "A added.txt,D src/f1.c,M README,M big.txt,R100 src/f2.c src/renamed.c,");
	free(s);
	/* No quarantine left behind; exactly one new pack. */
	s = capture("ls r/.git/objects | grep -c sbx-incoming || true");
	assert_string_equal(s, "0");
	free(s);
	s = capture("ls r/.git/objects/pack/*.idx | wc -l");
	assert_string_equal(s, "1");
	free(s);
	/* The same bundle again, but the branch is no longer where the caller says. */
	s = repo_state("r");
	assert_int_equal(import_file_from(&tip, "res.bundle", "main", 0, "main"), SBX_ELOCKED);
	assert_non_null(strstr(sbx_error(), "moved during the task"));
	{
		char *after = repo_state("r");

		assert_string_equal(s, after);
		free(after);
	}
	free(s);
	/* Importing what is already there is a no-op that succeeds. */
	assert_int_equal(import_file(&tip, "res.bundle", "main", 0), 0);
	assert_true(git_oid_equal(&tip, &want));
}

/* The whole loop: our bundle -> shallow guest -> git bundle -> our import. */
static void test_roundtrip_through_shallow_guest(void **state)
{
	struct sbx_bundle_info info;
	git_oid tip, want;
	char *s;

	(void)state;
	make_bundle("to-guest.bundle", 2, &info);
	sh("git -C r branch -f sbx/1 main");
	guest_fetch("g", "to-guest.bundle", &info);
	sh("cd g && echo agent >agent.txt && git add agent.txt && git commit -qm agent && "
	   "git bundle create -q --version=3 ../from-guest.bundle host/sbx/1..HEAD");
	s = capture("head -c 16 from-guest.bundle");
	assert_string_equal(s, "# v3 git bundle");
	free(s);
	want = rev("g", "HEAD");
	assert_int_equal(import_file(&tip, "from-guest.bundle", "main", 0), 0);
	assert_true(git_oid_equal(&tip, &want));
	sh("git -C r fsck --no-progress && git -C r cat-file -e sbx/1:agent.txt");
	sbx_bundle_info_clear(&info);
}

/* ---- hostile bundles: each rejected, the repository unchanged ---- */

static char *read_bytes(const char *file, size_t *len)
{
	char *path = path_in_tmp(file), *buf = NULL;

	assert_int_equal(sbx_read_file(&buf, len, path, 64 << 20), 0);
	free(path);
	return buf;
}

static void write_bytes(const char *file, const void *data, size_t len)
{
	char *path = path_in_tmp(file);
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(path);
}

static size_t header_len(const char *b, size_t len)
{
	const char *e = memmem(b, len, "\n\n", 2);

	assert_non_null(e);
	return (size_t)(e - b) + 2;
}

/* Import `file` expecting `code` and a message containing `why`; nothing may change. */
static void expect_rejected(const char *file, int code, const char *why, uint64_t max_size)
{
	char *before = repo_state("r"), *after;
	git_oid tip;
	int err = import_file(&tip, file, "main", max_size);

	fprintf(stderr, "# %s: %d %s\n", file, err, sbx_error());
	assert_int_equal(err, code);
	assert_non_null(strstr(sbx_error(), why));
	after = repo_state("r");
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void test_hostile_corrupt_pack(void **state)
{
	size_t len, h;
	char *b, *sum;

	(void)state;
	make_guest_work();
	sh("cd g && git bundle create -q ../res.bundle main..HEAD");
	b = read_bytes("res.bundle", &len);
	h = header_len(b, len);
	/* A flipped byte inside an object: the trailer no longer matches. */
	b[h + 12 + (len - h - 32) / 2] ^= 0x40;
	write_bytes("flip.bundle", b, len);
	expect_rejected("flip.bundle", SBX_ECORRUPT, "pack", 0);
	/* The same with the trailer recomputed: the object itself is broken. */
	write_bytes("flip-fixed.bundle", b + h, len - h - 20);
	sum = capture("sha1sum flip-fixed.bundle | cut -c1-40");
	{
		git_oid t;

		assert_int_equal(git_oid_fromstr(&t, sum), 0);
		memcpy(b + len - 20, t.id, 20);
	}
	write_bytes("flip-fixed.bundle", b, len);
	expect_rejected("flip-fixed.bundle", SBX_ECORRUPT, "", 0);
	/* A truncated pack. */
	write_bytes("trunc.bundle", b, h + (len - h) / 2);
	expect_rejected("trunc.bundle", SBX_ECORRUPT, "pack", 0);
	/* Header only, no pack at all. */
	write_bytes("nopack.bundle", b, h);
	expect_rejected("nopack.bundle", SBX_ECORRUPT, "missing or truncated", 0);
	free(sum);
	free(b);
}

static void test_hostile_history_rewritten(void **state)
{
	(void)state;
	sh("git -C r branch -f sbx/1 main");
	/* The agent amends the base: the result no longer descends from it. */
	sh("git clone -q r g && cd g && echo evil >>README && git commit -qa --amend -m rewritten && "
	   "git bundle create -q ../rw.bundle main~1..HEAD");
	expect_rejected("rw.bundle", SBX_ECORRUPT, "does not descend from the task's base", 0);
	/* An unrelated root commit. */
	sh("cd g && git checkout -q --orphan other && git commit -qm orphan && "
	   "git bundle create -q ../orphan.bundle HEAD");
	expect_rejected("orphan.bundle", SBX_ECORRUPT, "does not descend from the task's base", 0);
}

static void replace_first(char *buf, size_t len, const char *from, const char *to)
{
	char *p = memmem(buf, len, from, strlen(from));

	assert_non_null(p);
	assert_int_equal(strlen(from), strlen(to));
	memcpy(p, to, strlen(to));
}

static void test_hostile_tip_and_objects(void **state)
{
	size_t len, h;
	char *b, *tiphex, *basehex;

	(void)state;
	make_guest_work();
	sh("cd g && git bundle create -q ../res.bundle main..HEAD");
	tiphex = capture("git -C g rev-parse HEAD");
	basehex = capture("git -C r rev-parse main");
	b = read_bytes("res.bundle", &len);
	h = header_len(b, len);
	/* The header claims a tip the pack does not hold. */
	{
		char *c = malloc(len);

		memcpy(c, b, len);
		replace_first(c, h, tiphex, "0123456789abcdef0123456789abcdef01234567");
		write_bytes("notip.bundle", c, len);
		expect_rejected("notip.bundle", SBX_ECORRUPT, "is in neither the bundle nor the repository", 0);
		/* ... or claims the base: the pack's objects are then unreachable from it. */
		memcpy(c, b, len);
		replace_first(c, h, tiphex, basehex);
		write_bytes("unreach.bundle", c, len);
		expect_rejected("unreach.bundle", SBX_ECORRUPT, "not reachable from its tip", 0);
		free(c);
	}
	/* A tip whose commit is missing: the pack holds only its parent's objects. */
	sh("cd g && git checkout -q HEAD~1 && git bundle create -q ../parent.bundle main..HEAD && "
	   "git checkout -q sbx/1");
	{
		size_t plen;
		char *p = read_bytes("parent.bundle", &plen);
		char *parenthex = capture("git -C g rev-parse HEAD~1");

		replace_first(p, header_len(p, plen), parenthex, tiphex);
		write_bytes("missing.bundle", p, plen);
		expect_rejected("missing.bundle", SBX_ECORRUPT, "is in neither the bundle nor the repository", 0);
		free(p);
		free(parenthex);
	}
	/* A tree entry pointing at a blob nobody sent. */
	sh("cd g && blob=$(echo never-sent | git hash-object --stdin) && "
	   "tree=$(printf '100644 blob %%s\\tghost.txt\\n' $blob | git mktree --missing) && "
	   "c=$(git commit-tree -p main -m hole $tree) && git update-ref refs/heads/hole $c");
	/* Rebuild the pack without the blob: pack-objects from a list. */
	sh("cd g && { git rev-parse hole; git rev-parse hole^{tree}; } | "
	   "git pack-objects -q --stdout >../hole.pack && "
	   "{ printf '# v2 git bundle\\n-%%s x\\n%%s HEAD\\n\\n' $(git rev-parse main) $(git rev-parse hole); "
	   "cat ../hole.pack; } >../hole.bundle");
	/* git index-pack --strict notices first (the tree refers to it); our walk would too. */
	expect_rejected("hole.bundle", SBX_ECORRUPT, "is in neither the bundle nor the repository", 0);
	/* A prerequisite the host does not have. */
	sh("cd g && git bundle create -q ../prereq.bundle HEAD~1..HEAD");
	expect_rejected("prereq.bundle", SBX_ECORRUPT, "which the repository does not have", 0);
	/* Two refs; a ref with another name. */
	sh("cd g && git branch -f extra HEAD && git bundle create -q ../tworefs.bundle main..HEAD main..extra");
	expect_rejected("tworefs.bundle", SBX_ECORRUPT, "expected exactly one", 0);
	sh("cd g && git bundle create -q ../other.bundle main..extra");
	expect_rejected("other.bundle", SBX_ECORRUPT, "expected HEAD or 'refs/heads/sbx/1'", 0);
	free(b);
	free(tiphex);
	free(basehex);
}

static void test_hostile_headers(void **state)
{
	char *buf, *p;
	size_t i;

	(void)state;
	sh("git -C r branch -f sbx/1 main");
	write_bytes("empty.bundle", "", 0);
	expect_rejected("empty.bundle", SBX_ECORRUPT, "the bundle is empty", 0);
	write_bytes("noref.bundle", "# v2 git bundle\n\nPACK", 21);
	expect_rejected("noref.bundle", SBX_ECORRUPT, "carries no ref", 0);
	write_bytes("notbundle.bundle", "#!/bin/sh\nrm -rf /\n", 19);
	expect_rejected("notbundle.bundle", SBX_ECORRUPT, "not a git bundle", 0);
	write_bytes("cut.bundle", "# v2 git bundle\n0123", 20);
	expect_rejected("cut.bundle", SBX_ECORRUPT, "header is truncated", 0);
	/* 10,000 refs */
	buf = malloc(1 << 20);
	p = buf + sprintf(buf, "# v2 git bundle\n");
	for (i = 0; i < 10000; i++)
		p += sprintf(p, "%040zx refs/heads/r%zu\n", i, i);
	write_bytes("refs.bundle", buf, (size_t)(p - buf));
	expect_rejected("refs.bundle", SBX_ELIMIT, "more than 16 refs", 0);
	/* 2,000 prerequisites */
	p = buf + sprintf(buf, "# v2 git bundle\n");
	for (i = 0; i < 2000; i++)
		p += sprintf(p, "-%040zx\n", i);
	write_bytes("prereqs.bundle", buf, (size_t)(p - buf));
	expect_rejected("prereqs.bundle", SBX_ELIMIT, "more than 1024 prerequisites", 0);
	/* An overlong line, a long ref name */
	p = buf + sprintf(buf, "# v2 git bundle\n-%040d ", 0);
	memset(p, 'x', 70000);
	p += 70000;
	*p++ = '\n';
	write_bytes("longline.bundle", buf, (size_t)(p - buf));
	expect_rejected("longline.bundle", SBX_ELIMIT, "line longer than", 0);
	p = buf + sprintf(buf, "# v2 git bundle\n%040d refs/heads/", 0);
	memset(p, 'x', 2000);
	p += 2000;
	*p++ = '\n';
	write_bytes("longref.bundle", buf, (size_t)(p - buf));
	expect_rejected("longref.bundle", SBX_ELIMIT, "ref name in the bundle longer", 0);
	/* v3 capabilities we do not know, or a hash we do not speak */
	write_bytes("cap.bundle", "# v3 git bundle\n@filter=blob:none\n", 34);
	expect_rejected("cap.bundle", SBX_EUNSUPPORTED, "unsupported bundle capability 'filter=blob:none'", 0);
	write_bytes("sha256.bundle", "# v3 git bundle\n@object-format=sha256\n", 38);
	expect_rejected("sha256.bundle", SBX_EUNSUPPORTED, "object-format=sha256", 0);
	/* uppercase hex, control characters, NUL */
	p = buf + sprintf(buf, "# v2 git bundle\n%040d HE\tAD\n\n", 0);
	write_bytes("ctl.bundle", buf, (size_t)(p - buf));
	expect_rejected("ctl.bundle", SBX_ECORRUPT, "control character", 0);
	write_bytes("nul.bundle", "# v2 git bundle\n\0", 17);
	expect_rejected("nul.bundle", SBX_ECORRUPT, "NUL byte", 0);
	p = buf + sprintf(buf, "# v2 git bundle\n%s HEAD\n\n", "ABCDEF0123456789ABCDEF0123456789ABCDEF01");
	write_bytes("upper.bundle", buf, (size_t)(p - buf));
	expect_rejected("upper.bundle", SBX_ECORRUPT, "bad object id", 0);
	/* A pack header claiming four billion objects */
	{
		char *mainhex = capture("git -C r rev-parse main");

		p = buf + sprintf(buf, "# v2 git bundle\n%s HEAD\n\n", mainhex);
		free(mainhex);
	}
	memcpy(p, "PACK\0\0\0\2\xff\xff\xff\xff", 12);
	p += 12;
	write_bytes("count.bundle", buf, (size_t)(p - buf));
	expect_rejected("count.bundle", SBX_ELIMIT, "claims 4294967295 objects", 0);
	memcpy(p - 12, "PACK\0\0\0\7\0\0\0\1", 12);
	write_bytes("pv.bundle", buf, (size_t)(p - buf));
	expect_rejected("pv.bundle", SBX_EUNSUPPORTED, "pack version 7", 0);
	free(buf);
}

static void test_hostile_size_limit(void **state)
{
	git_oid tip;
	size_t len;
	char *b;

	(void)state;
	make_guest_work();
	sh("cd g && seq 1 200000 >huge.txt && git add huge.txt && git commit -qm huge && "
	   "git bundle create -q ../big.bundle main..HEAD");
	b = read_bytes("big.bundle", &len);
	expect_rejected("big.bundle", SBX_ELIMIT, "larger than the limit", len - 1);
	/* sbx.maxResultSize reads as a size in bytes. */
	sh("git -C r config sbx.maxResultSize 1k");
	{
		git_repository *repo = open_repo("r");
		uint64_t max;

		assert_int_equal(sbx_bundle_config_max_size(repo, &max), 0);
		assert_true(max == 1024);
		git_repository_free(repo);
	}
	/* At exactly the limit it goes through. */
	assert_int_equal(import_file(&tip, "big.bundle", "main", len), 0);
	free(b);
}

static void test_parser_chunking(void **state)
{
	static const char hdr[] = "# v3 git bundle\n@object-format=sha1\n"
		"-1111111111111111111111111111111111111111 a subject\n"
		"-2222222222222222222222222222222222222222\n"
		"3333333333333333333333333333333333333333 HEAD\n\nPACKrest";
	struct sbx_bundle_parser p;
	size_t i, used = 0;

	(void)state;
	sbx_bundle_parser_init(&p);
	/* One byte at a time gives the same header. */
	for (i = 0; i < sizeof(hdr) - 1 && p.state != SBX_BUNDLE_PARSE_PACK; i++) {
		long n = sbx_bundle_parser_feed(&p, hdr + i, 1);

		assert_true(n >= 0);
		used += (size_t)n;
	}
	assert_int_equal(p.state, SBX_BUNDLE_PARSE_PACK);
	assert_string_equal(hdr + used, "PACKrest");
	assert_int_equal(p.hdr.version, 3);
	assert_int_equal(p.hdr.nprereqs, 2);
	assert_int_equal(p.hdr.nrefs, 1);
	assert_string_equal(p.hdr.refs[0].name, "HEAD");
	assert_int_equal(p.hdr.refs[0].oid.id[0], 0x33);
}

/* Symlink targets: how far up they climb, or -1 (absolute, through .git, ".." after going down). */
static void test_symlink_climb(void **state)
{
	static const struct {
		const char *target;
		int climb;
	} cases[] = {
		{ "file", 0 }, { "a/b/c", 0 }, { "./a", 0 }, { "a//b/", 0 }, { "..", 1 },
		{ "../x", 1 }, { "../../../hooks", 3 }, { "./../.././x", 2 },
		{ "/etc/passwd", -1 }, { "/", -1 }, { "", -1 }, { "a/../b", -1 }, { "../a/..", -1 },
		{ ".git/hooks", -1 }, { "../.GIT/config", -1 }, { "a/.git./x", -1 }, { "git~1", -1 },
		{ ".github/x", 0 }, { "..a", 0 }, { "...", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int got = sbx_import_symlink_climb(cases[i].target, strlen(cases[i].target));

		if (got != cases[i].climb)
			fprintf(stderr, "# '%s': %d, want %d\n", cases[i].target, got, cases[i].climb);
		assert_int_equal(got, cases[i].climb);
	}
	/* A NUL inside the target (a blob may hold one): refused. */
	assert_int_equal(sbx_import_symlink_climb("a\0b", 3), -1);
	/* Deeper than any tree may be: refused, never an overflow. */
	{
		char *t = malloc(3 * 100 + 1), *p = t;

		for (i = 0; i < 100; i++, p += 3)
			memcpy(p, "../", 3);
		*p = '\0';
		assert_int_equal(sbx_import_symlink_climb(t, strlen(t)), -1);
		free(t);
	}
}

static void test_config_depth(void **state)
{
	git_repository *repo;
	unsigned d;

	(void)state;
	repo = open_repo("r");
	assert_int_equal(sbx_bundle_config_depth(repo, &d), 0);
	assert_int_equal(d, SBX_BUNDLE_DEFAULT_DEPTH);
	git_repository_free(repo);
	sh("git -C r config sbx.historyDepth 7");
	repo = open_repo("r");
	assert_int_equal(sbx_bundle_config_depth(repo, &d), 0);
	assert_int_equal(d, 7);
	git_repository_free(repo);
	sh("git -C r config sbx.historyDepth -3");
	repo = open_repo("r");
	assert_int_equal(sbx_bundle_config_depth(repo, &d), SBX_EINVAL);
	git_repository_free(repo);
}

/* The import's limits: defaults, sizes with suffixes, the depth's range, the bool. */
static void test_config_import(void **state)
{
	struct sbx_bundle_import_opts opts = SBX_BUNDLE_IMPORT_OPTS_INIT;
	git_repository *repo;

	(void)state;
	repo = open_repo("r");
	assert_int_equal(sbx_bundle_config_import(repo, &opts), 0);
	assert_true(opts.max_object_size == 100ull << 20 && opts.max_inflated == 1ull << 30);
	assert_int_equal(opts.max_tree_depth, 48);
	assert_false(opts.allow_embedded_repos);
	git_repository_free(repo);
	sh("git -C r config sbx.maxObjectSize 5m && git -C r config sbx.maxInflatedSize 2g && "
	   "git -C r config sbx.maxTreeDepth 64 && git -C r config sbx.allowEmbeddedRepositories yes");
	repo = open_repo("r");
	assert_int_equal(sbx_bundle_config_import(repo, &opts), 0);
	assert_true(opts.max_object_size == 5ull << 20 && opts.max_inflated == 2ull << 30);
	assert_int_equal(opts.max_tree_depth, 64);
	assert_true(opts.allow_embedded_repos);
	git_repository_free(repo);
	sh("git -C r config sbx.maxTreeDepth 65");
	repo = open_repo("r");
	assert_int_equal(sbx_bundle_config_import(repo, &opts), SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "sbx.maxTreeDepth"));
	git_repository_free(repo);
	sh("git -C r config sbx.maxTreeDepth 8 && git -C r config sbx.maxObjectSize lots");
	repo = open_repo("r");
	assert_int_equal(sbx_bundle_config_import(repo, &opts), SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "sbx.maxObjectSize"));
	git_repository_free(repo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_shallow_fetch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_full_history_clones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_write_error_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_git_bundle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_through_shallow_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_corrupt_pack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_history_rewritten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_tip_and_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_size_limit, setup, teardown),
		cmocka_unit_test(test_parser_chunking),
		cmocka_unit_test_setup_teardown(test_config_depth, setup, teardown),
		cmocka_unit_test(test_symlink_climb),
		cmocka_unit_test_setup_teardown(test_config_import, setup, teardown),
	};
	int ret;

	git_libgit2_init();
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	git_libgit2_shutdown();
	return ret;
}
