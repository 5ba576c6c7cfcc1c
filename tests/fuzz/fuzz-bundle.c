// SPDX-License-Identifier: MIT
/*
 * Fuzz the import of a result bundle from the guest, the whole way a task
 * takes it: the header parser fed in pieces of varying size, then (when the
 * header parses) sbx_task_import_begin/_write/_finish on a real task --
 * pack header checks, the scanner, `git index-pack --stdin --fix-thin
 * --strict` in the quarantine, the tip, ancestry, reachability and tree
 * checks (sbx/import-check.c), the branch update, the checkout into the
 * task's worktree and the record.  The repository and its task (sbx/1 at
 * main) are made once per process with the git CLI and sbx_task_create, and
 * put back after every input: branch, worktree, objects/pack.
 *
 * Two kinds of input, by the first byte:
 *   < 0x80   a bundle as it comes from the guest; the byte picks the write
 *            size.  Seeds from tests/fuzz/bundle-corpus.sh (same recipe as
 *            FUZZ_REPO_RECIPE, so their prerequisites exist).
 *   >= 0x80  a tree to build: the rest describes entries (below); we write
 *            them as objects, a commit on the base, and pack them with
 *            libgit2's packbuilder, so the pack's checksums are right and the fuzzer
 *            reaches git's fsck, our tree checks and the checkout with
 *            hostile names, modes and symlinks.  Bits of the first byte:
 *            0x01 name the ref refs/heads/sbx/1 (else HEAD), 0x02 keep the
 *            entries in input order (else git's order), 0x04 a commit
 *            without the base as parent, 0x08 an extra blob the tip does
 *            not reach, 0x10 the tree named as the tip, 0x20 a second
 *            prerequisite nobody has, 0x40 a second ref.
 *   Entries: kind (u8), then name (u8 length, bytes), then by kind & 7:
 *     0 file 100644, 1 file 100755: content (u8 length, bytes)
 *     2 symlink 120000: target (u8 length, bytes)
 *     3 gitlink 160000: 20 bytes of commit id
 *     4 directory: its entries follow until a kind 5
 *     5 end of the current directory (no name)
 *     6 a file with a mode given as text: mode (u8 length, bytes), content
 *     7 the base's own tree id under this name, mode 40000
 *
 * Oracles: a failed import leaves the branch, objects/pack and the
 * quarantines as they were; an accepted one moved the branch to its tip and
 * wrote nothing outside the worktree: no ".git" below its top, no symlink
 * that resolves outside it, nothing new beside the repository.
 */
#include "sbx/bundle.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "util/error.h"

#include <dirent.h>
#include <git2/sys/mempack.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Must match tests/fuzz/bundle-corpus.sh (whose sbx/1 branch the task makes here). */
#define FUZZ_REPO_RECIPE \
	"git init -q -b main repo && cd repo && git config user.name F && " \
	"git config user.email f@example.com && echo base >f.txt && mkdir d && echo x >d/x && " \
	"git add -A && GIT_AUTHOR_DATE='1700000000 +0000' GIT_COMMITTER_DATE='1700000000 +0000' " \
	"git commit -qm base && git branch sbx/1"
/* Small limits, through the config the task reads (sbx_bundle_config_import). */
#define FUZZ_REPO_CONFIG \
	"git branch -D sbx/1 && git config sbx.maxResultSize 1048576 && " \
	"git config sbx.maxObjectSize 1048576 && git config sbx.maxInflatedSize 16777216"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sbx_repo *repo;
static struct sbx_task *task;
static git_oid base, base_tree;
static char dir[256], packdir[300], objdir[300];
/* The tree builder's own object store. */
static git_odb_backend *mem;
static git_odb *memodb;
static git_repository *memrepo;

static void cleanup(void)
{
	sbx_task_free(task);
	sbx_repo_free(repo);
	git_repository_free(memrepo);
	git_odb_free(memodb);
	sbx_rmtree(dir);
}

static void init_once(void)
{
	struct sbx_task_create_opts to = SBX_TASK_CREATE_OPTS_INIT;
	char cwd[PATH_MAX], path[300], cmd[2048];
	git_commit *c = NULL;

	if (repo)
		return;
	snprintf(dir, sizeof(dir), "%s/sbx-fuzz-bundle.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir) || !getcwd(cwd, sizeof(cwd)))
		abort();
	snprintf(cmd, sizeof(cmd), "cd '%s' && HOME='%s' GIT_CONFIG_NOSYSTEM=1 sh -c \"%s\" >/dev/null 2>&1",
		 dir, dir, FUZZ_REPO_RECIPE " && " FUZZ_REPO_CONFIG);
	if (system(cmd))
		abort();
	snprintf(path, sizeof(path), "%s/repo", dir);
	snprintf(packdir, sizeof(packdir), "%s/repo/.git/objects/pack", dir);
	snprintf(objdir, sizeof(objdir), "%s/repo/.git/objects", dir);
	if (sbx_lib_init() || chdir(path) || sbx_repo_open(&repo) || chdir(cwd))
		abort();
	to.prompt = "fuzz";
	if (sbx_task_create(&task, repo, &to) || strcmp(task->branch, "sbx/1"))
		abort();
	base = task->base;
	if (git_commit_lookup(&c, repo->git, &base) < 0)
		abort();
	base_tree = *git_commit_tree_id(c);
	git_commit_free(c);
	/* The builder's objects in memory, the base's (for kind 7) read from the repository. */
	if (git_mempack_new(&mem) || git_odb_new(&memodb) || git_odb_add_backend(memodb, mem, 2) ||
	    git_odb_add_disk_alternate(memodb, objdir) || git_repository_wrap_odb(&memrepo, memodb))
		abort();
	atexit(cleanup);
}

/* ---- the tree builder (inputs >= 0x80) ---- */

/* What the builder wrote, to pack (git_mempack_dump leaks in libgit2 1.5's insert_commit). */
#define MAX_OBJECTS 4096
static git_oid written[MAX_OBJECTS];
static size_t nwritten;

static int put(git_oid *id, const void *data, size_t len, git_object_t type)
{
	int err = git_odb_write(id, memodb, data, len, type);

	if (!err && nwritten < MAX_OBJECTS)
		written[nwritten++] = *id;
	return err;
}

struct in {
	const uint8_t *p, *end;
};

static size_t take(struct in *in, const uint8_t **out)
{
	size_t n = in->p < in->end ? *in->p++ : 0;

	if (n > (size_t)(in->end - in->p))
		n = (size_t)(in->end - in->p);
	*out = in->p;
	in->p += n;
	return n;
}

struct ent {
	char mode[16];
	char name[256];
	size_t nlen;
	git_oid id;
};

/* git's tree order: a directory sorts as if its name ended in '/'. */
static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
	int c = memcmp(x->name, y->name, n);
	unsigned cx, cy;

	if (c)
		return c;
	cx = x->nlen > n ? (uint8_t)x->name[n] : (strcmp(x->mode, "40000") ? 0 : '/');
	cy = y->nlen > n ? (uint8_t)y->name[n] : (strcmp(y->mode, "40000") ? 0 : '/');
	return (int)cx - (int)cy;
}

#define MAX_ENTS 64
#define MAX_DEPTH 70	/* past sbx.maxTreeDepth's 64 */

/* Write the tree whose entries come next (to a kind 5 or the end) into the builder's store. */
static int build_tree(git_oid *out, struct in *in, bool sorted, unsigned depth)
{
	struct ent *e = calloc(MAX_ENTS, sizeof(*e));
	size_t n = 0, i, len;
	const uint8_t *v;
	char *tree = NULL;
	int err = -1;

	if (!e)
		abort();
	while (in->p < in->end) {
		unsigned kind = *in->p++ & 7;
		struct ent *x = &e[n < MAX_ENTS ? n : MAX_ENTS - 1];

		if (kind == 5)
			break;
		memset(x, 0, sizeof(*x));
		x->nlen = take(in, &v);
		memcpy(x->name, v, x->nlen);
		switch (kind) {
		case 0:
		case 1:
		case 6:
			if (kind == 6) {
				len = take(in, &v);
				snprintf(x->mode, sizeof(x->mode), "%.*s", (int)(len < 15 ? len : 15), (const char *)v);
			} else {
				strcpy(x->mode, kind ? "100755" : "100644");
			}
			len = take(in, &v);
			if (put(&x->id, v, len, GIT_OBJECT_BLOB))
				goto out;
			break;
		case 2:
			strcpy(x->mode, "120000");
			len = take(in, &v);
			if (put(&x->id, v, len, GIT_OBJECT_BLOB))
				goto out;
			break;
		case 3:
			strcpy(x->mode, "160000");
			for (i = 0; i < GIT_OID_RAWSZ; i++)
				x->id.id[i] = in->p < in->end ? *in->p++ : 0;
			break;
		case 4:
			strcpy(x->mode, "40000");
			if (depth >= MAX_DEPTH || build_tree(&x->id, in, sorted, depth + 1))
				goto out;
			break;
		default:
			strcpy(x->mode, "40000");
			x->id = base_tree;
			break;
		}
		if (n < MAX_ENTS)
			n++;
	}
	if (sorted)
		qsort(e, n, sizeof(*e), ent_cmp);
	tree = malloc(n * (16 + 1 + 256 + 1 + GIT_OID_RAWSZ) + 1);
	if (!tree)
		abort();
	for (len = 0, i = 0; i < n; i++) {
		len += (size_t)sprintf(tree + len, "%s ", e[i].mode);
		memcpy(tree + len, e[i].name, e[i].nlen);
		len += e[i].nlen;
		tree[len++] = 0;
		memcpy(tree + len, e[i].id.id, GIT_OID_RAWSZ);
		len += GIT_OID_RAWSZ;
	}
	err = put(out, tree, len, GIT_OBJECT_TREE);
out:
	free(tree);
	free(e);
	return err;
}

/* A bundle of base..commit(tree built from the input), malloc'd into *out. */
static size_t build_bundle(uint8_t **out, const uint8_t *data, size_t size, uint8_t flags)
{
	struct in in = { data, data + size };
	char hex[GIT_OID_HEXSZ + 1], bhex[GIT_OID_HEXSZ + 1], commit[512], *hdr;
	git_oid tree, cid, stray;
	git_buf pack = { 0 };
	git_packbuilder *pb = NULL;
	size_t n = 0, i;
	int len;

	nwritten = 0;
	git_oid_tostr(bhex, sizeof(bhex), &base);
	if (build_tree(&tree, &in, !(flags & 2), 0))
		goto out;
	git_oid_tostr(hex, sizeof(hex), &tree);
	len = snprintf(commit, sizeof(commit),
		       "tree %s\n%s%s%sauthor A <a@example.com> 1700000200 +0000\n"
		       "committer A <a@example.com> 1700000200 +0000\n\nfuzz\n",
		       hex, flags & 4 ? "" : "parent ", flags & 4 ? "" : bhex, flags & 4 ? "" : "\n");
	if (put(&cid, commit, (size_t)len, GIT_OBJECT_COMMIT) ||
	    ((flags & 8) && put(&stray, "stray\n", 6, GIT_OBJECT_BLOB)) ||
	    git_packbuilder_new(&pb, memrepo))
		goto out;
	for (i = 0; i < nwritten; i++)
		if (git_packbuilder_insert(pb, &written[i], NULL))
			goto out;
	if (git_packbuilder_write_buf(&pack, pb))
		goto out;
	git_oid_tostr(hex, sizeof(hex), flags & 0x10 ? &tree : &cid);
	hdr = malloc(512 + pack.size);
	if (!hdr)
		abort();
	len = sprintf(hdr, "# v2 git bundle\n-%s base\n%s%s %s\n%s%s%s\n", bhex,
		      flags & 0x20 ? "-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee gone\n" : "", hex,
		      flags & 1 ? "refs/heads/sbx/1" : "HEAD", flags & 0x40 ? hex : "",
		      flags & 0x40 ? " refs/heads/other" : "", flags & 0x40 ? "\n" : "");
	memcpy(hdr + len, pack.ptr, pack.size);
	*out = (uint8_t *)hdr;
	n = (size_t)len + pack.size;
out:
	if (!n && getenv("SBX_FUZZ_VERBOSE"))
		fprintf(stderr, "build: %s\n", git_error_last() ? git_error_last()->message : "?");
	git_packbuilder_free(pb);
	git_buf_dispose(&pack);
	git_mempack_reset(mem);
	return n;
}

/* ---- oracles and putting the repository back ---- */

/* How many names in `path` start with `prefix` (NULL: any). */
static size_t count_dir(const char *path, const char *prefix)
{
	DIR *d = opendir(path);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    (!prefix || !strncmp(e->d_name, prefix, strlen(prefix))))
			n++;
	closedir(d);
	return n;
}

static void check_worktree(const char *root, const char *path, size_t rootlen)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[PATH_MAX], real[PATH_MAX];
	struct stat st;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (strlen(path) == rootlen && !strcmp(e->d_name, ".git"))
			continue;	/* the worktree's own */
		if (!strcasecmp(e->d_name, ".git"))
			abort();	/* an embedded repository was checked out */
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &st))
			abort();
		if (S_ISLNK(st.st_mode) && realpath(sub, real) &&
		    (strncmp(real, root, strlen(root)) || (real[strlen(root)] && real[strlen(root)] != '/')))
			abort();	/* a symlink that leads out of the worktree */
		if (S_ISDIR(st.st_mode))
			check_worktree(root, sub, rootlen);
	}
	closedir(d);
}

static void put_back(bool imported)
{
	git_checkout_options co;
	git_repository *wt = NULL;
	git_commit *c = NULL;
	git_reference *ref = NULL;
	git_oid now;
	char path[300];
	DIR *d;
	struct dirent *e;

	if (count_dir(objdir, "sbx-incoming-"))
		abort();	/* a quarantine outlived its import */
	if (git_reference_name_to_id(&now, repo->git, "refs/heads/sbx/1") < 0)
		abort();
	if (!imported && (git_oid_cmp(&now, &base) || count_dir(packdir, NULL)))
		abort();	/* a refused result changed the repository */
	if (!imported)
		return;
	if (git_reference_create(&ref, repo->git, "refs/heads/sbx/1", &base, 1, "fuzz: put back") < 0)
		abort();
	git_reference_free(ref);
	if (git_repository_open(&wt, task->worktree) < 0 || git_commit_lookup(&c, wt, &base) < 0)
		abort();
	/*
	 * Empty the worktree (all but its .git file) and check the base out
	 * afresh: libgit2's FORCE checkout cannot turn a dangling symlink back
	 * into a directory ("failed to make directory").
	 */
	d = opendir(task->worktree);
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, ".git")) {
			snprintf(path, sizeof(path), "%s/%s", task->worktree, e->d_name);
			if (sbx_rmtree(path))
				abort();
		}
	if (d)
		closedir(d);
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED;
	if (git_checkout_tree(wt, (git_object *)c, &co) < 0 ||
	    git_repository_set_head(wt, "refs/heads/sbx/1") < 0) {
		fprintf(stderr, "fuzz-bundle: cannot put the worktree back: %s\n", git_error_last()->message);
		abort();
	}
	git_commit_free(c);
	git_repository_free(wt);
	/* The result's pack, and the repository handle that has it open. */
	d = opendir(packdir);
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", packdir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	git_repository_free(repo->git);
	snprintf(path, sizeof(path), "%s/repo", dir);
	if (git_repository_open(&repo->git, path) < 0)
		abort();
	task->has_result = false;
}

static void import(const uint8_t *data, size_t size, uint8_t step)
{
	struct sbx_bundle_import *imp = NULL;
	git_oid old, tip, now;
	size_t off, chunk;
	bool kept, ok = false;
	int err = 0;

	if (sbx_task_import_begin(&imp, &old, repo, task))
		abort();	/* our own set-up failed: not the input's fault */
	for (off = 0; off < size && !err; off += chunk) {
		chunk = step ? (size_t)(step % 61) + 1 : size;
		if (chunk > size - off)
			chunk = size - off;
		err = sbx_bundle_import_write(imp, data + off, chunk);
	}
	if (!err)
		err = sbx_task_import_finish(&tip, &kept, imp, &old, task);
	else
		sbx_bundle_import_free(imp);
	if (getenv("SBX_FUZZ_VERBOSE"))
		fprintf(stderr, "import: %d %s\n", err, err ? sbx_error() : git_oid_tostr_s(&tip));
	if (!err) {
		ok = true;
		if (git_reference_name_to_id(&now, repo->git, "refs/heads/sbx/1") < 0 ||
		    git_oid_cmp(&now, &tip) || kept)
			abort();
		check_worktree(task->worktree, task->worktree, strlen(task->worktree));
		if (count_dir(dir, NULL) != 1)
			abort();	/* something was written beside the repository */
	} else {
		/* Refused, or accepted and then the checkout failed: the branch says which. */
		if (git_reference_name_to_id(&now, repo->git, "refs/heads/sbx/1") < 0)
			abort();
		ok = git_oid_cmp(&now, &base) != 0;
	}
	put_back(ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbx_bundle_parser p;
	size_t off = 0, chunk;
	uint8_t step, *built = NULL;

	if (!size)
		return 0;
	if (data[0] >= 0x80) {
		init_once();
		size = build_bundle(&built, data + 1, size - 1, data[0]);
		if (size)
			import(built, size, 0);
		free(built);
		return 0;
	}
	/* The first byte picks how the stream is cut into writes. */
	step = data[0];
	data++;
	size--;

	sbx_bundle_parser_init(&p);
	while (off < size && p.state != SBX_BUNDLE_PARSE_PACK) {
		long n;

		chunk = step ? (size_t)(step % 61) + 1 : size;
		if (chunk > size - off)
			chunk = size - off;
		n = sbx_bundle_parser_feed(&p, data + off, chunk);
		if (n < 0)
			return 0;
		if ((size_t)n > chunk)
			abort();	/* consumed more than it was given */
		off += (size_t)n;
		if (p.state != SBX_BUNDLE_PARSE_PACK && (size_t)n != chunk)
			abort();	/* stopped early without reaching the pack */
	}
	if (p.state != SBX_BUNDLE_PARSE_PACK)
		return 0;
	if (p.hdr.nrefs > SBX_BUNDLE_MAX_REFS || p.hdr.nprereqs > SBX_BUNDLE_MAX_PREREQS)
		abort();

	/* The header parses: the whole import, as a task does it. */
	init_once();
	import(data, size, step);
	return 0;
}
