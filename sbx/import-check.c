// SPDX-License-Identifier: MIT
/*
 * The walk over a result's objects before it is published (what it refuses
 * and why: sbx/import-check.h and docs/design.md "What crosses the boundary").
 */
#include "sbx/import-check.h"
#include "sbx/repo.h"
#include "util/checked.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What a tree holds, independent of where it is mounted. */
struct sbx_import_tree {
	git_oid id;
	unsigned height;	/* 1 + its deepest subtree's height */
	unsigned climb;		/* directories above its own that a symlink below reaches */
	char *climb_path;	/* that symlink, relative to the tree */
	char *gitlink_path;	/* a gitlink to a commit the repository lacks, relative */
	git_oid base;		/* the base's tree at the path where it was examined (new trees), or zero */
	bool has_gitmodules;
};

bool sbx_import_bad_name(const char *name, size_t n)
{
	if (!n || (n == 1 && name[0] == '.') || (n == 2 && !memcmp(name, "..", 2)) ||
	    memchr(name, '/', n) || memchr(name, '\0', n))
		return true;
	if (n == 5 && !strncasecmp(name, "git~1", 5))
		return true;
	if (n >= 4 && !strncasecmp(name, ".git", 4)) {
		size_t i = 4;

		while (i < n && (name[i] == '.' || name[i] == ' '))
			i++;
		return i == n;
	}
	return false;
}

int sbx_import_symlink_climb(const char *t, size_t len)
{
	size_t i = 0;
	int climb = 0;
	bool down = false;

	if (!len || t[0] == '/' || memchr(t, '\0', len))
		return -1;
	while (i < len) {
		size_t j = i;

		while (j < len && t[j] != '/')
			j++;
		if (j == i || (j - i == 1 && t[i] == '.')) {
			/* "//" or "." */
		} else if (j - i == 2 && !memcmp(t + i, "..", 2)) {
			/* Only leading "..": after a real component it may cross a symlink. */
			if (down || climb == SBX_IMPORT_MAX_TREE_DEPTH + 1)
				return -1;
			climb++;
		} else if (sbx_import_bad_name(t + i, j - i)) {
			return -1;	/* ".git" and friends */
		} else {
			down = true;
		}
		i = j + 1;
	}
	return climb;
}

/* ---- the memo: tree id -> what it holds ---- */

static size_t slot_of(const struct sbx_import_walk *w, const git_oid *id)
{
	size_t h;

	memcpy(&h, id->id, sizeof(h));
	return h & (w->cap - 1);
}

/*
 * Keyed by the tree and, for a new tree, the base's tree at the same path:
 * what is skipped as the base's own depends on both.
 */
static struct sbx_import_tree *memo_get(struct sbx_import_walk *w, const git_oid *id,
					const git_oid *base)
{
	size_t j;

	if (!w->cap)
		return NULL;
	for (j = slot_of(w, id); w->trees[j]; j = (j + 1) & (w->cap - 1))
		if (git_oid_equal(&w->trees[j]->id, id) && git_oid_equal(&w->trees[j]->base, base))
			return w->trees[j];
	return NULL;
}

static int memo_put(struct sbx_import_walk *w, struct sbx_import_tree *t)
{
	size_t j;

	if ((w->ntrees + 1) * 2 > w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 256, i;
		struct sbx_import_tree **nt = calloc(ncap, sizeof(*nt));
		struct sbx_import_walk tmp = *w;

		if (!nt)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		tmp.trees = nt;
		tmp.cap = ncap;
		for (i = 0; i < w->cap; i++) {
			if (!w->trees[i])
				continue;
			for (j = slot_of(&tmp, &w->trees[i]->id); nt[j]; j = (j + 1) & (ncap - 1))
				;
			nt[j] = w->trees[i];
		}
		free(w->trees);
		w->trees = nt;
		w->cap = ncap;
	}
	for (j = slot_of(w, &t->id); w->trees[j]; j = (j + 1) & (w->cap - 1))
		;
	w->trees[j] = t;
	w->ntrees++;
	return 0;
}

static void tree_free(struct sbx_import_tree *t)
{
	if (!t)
		return;
	free(t->climb_path);
	free(t->gitlink_path);
	free(t);
}

void sbx_import_walk_clear(struct sbx_import_walk *w)
{
	size_t i;

	for (i = 0; i < w->cap; i++)
		tree_free(w->trees[i]);
	free(w->trees);
	w->trees = NULL;
	w->ntrees = w->cap = 0;
	sbx_oidset_clear(&w->visited);
}

/* ---- the walk ---- */

static bool in_repo(struct sbx_import_walk *w, const git_oid *id)
{
	return git_odb_exists_ext(w->repo_odb, id, GIT_ODB_LOOKUP_NO_REFRESH) == 1;
}

static bool in_pack(struct sbx_import_walk *w, const git_oid *id)
{
	return w->pack_odb && git_odb_exists_ext(w->pack_odb, id, GIT_ODB_LOOKUP_NO_REFRESH) == 1;
}

static char *join(const char *dir, const char *name)
{
	char *s;

	if (asprintf(&s, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
		return NULL;
	return s;
}

static int missing(const git_oid *id, const char *path)
{
	return SBX_CORRUPT("object %s, reachable from the tip (at '%s'), is in neither the bundle nor the repository",
			   git_oid_tostr_s(id), path);
}

/* A symlink entry of a new tree: its target must stay inside the worktree. */
static int check_symlink(struct sbx_import_walk *w, const git_oid *id, const char *path, int *climb)
{
	git_odb_object *o = NULL;
	const char *t;
	size_t len;
	int err = 0;

	if (git_odb_read(&o, w->pack_odb && in_pack(w, id) ? w->pack_odb : w->repo_odb, id) < 0)
		return missing(id, path);
	len = git_odb_object_size(o);
	t = git_odb_object_data(o);
	if (git_odb_object_type(o) != GIT_OBJECT_BLOB)
		err = SBX_CORRUPT("symlink '%s' is not a blob", path);
	else if (len > SBX_IMPORT_MAX_SYMLINK)
		err = SBX_CORRUPT("symlink '%s' has a target of %zu bytes, more than %d",
				  path, len, SBX_IMPORT_MAX_SYMLINK);
	else if ((*climb = sbx_import_symlink_climb(t, len)) < 0)
		err = SBX_CORRUPT("symlink '%s' points to '%.*s': absolute, through .git or back up after going down; refused",
				  path, (int)(len > 200 ? 200 : len), t);
	git_odb_object_free(o);
	return err;
}

/* Paths and targets in our messages come from the guest: no control bytes reach a terminal. */
static int sanitized(int err)
{
	char *m, *p;

	if (!err || !(m = strdup(sbx_error())))
		return err;
	for (p = m; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	sbx_error_set(err, "%s", m);
	free(m);
	return err;
}

static bool name_is(const char *a, const char *b)
{
	return !strcasecmp(a, b);
}

static int tree_info(struct sbx_import_walk *w, const git_oid *id, const git_tree *base,
		     const char *path, unsigned depth, struct sbx_import_tree **out);

static int position_ok(struct sbx_import_walk *w, const struct sbx_import_tree *t,
		       const char *path, unsigned depth)
{
	unsigned deep;

	/* Directories below the root: this tree's own depth, then its subtrees'. */
	if (chk_add(depth - 1, t->height - 1, &deep) || deep > w->max_tree_depth)
		return sbx_error_set(SBX_ELIMIT,
				     "the result's trees at '%s' are nested more than %u directories deep (sbx.maxTreeDepth)",
				     *path ? path : "/", w->max_tree_depth);
	if (t->climb > depth - 1)
		return SBX_CORRUPT("symlink '%s%s%s' points outside the worktree", path, *path ? "/" : "",
				   t->climb_path);
	return 0;
}

/* The facts of a subtree `c` (named `name`) into its parent's `ti`. */
static int add_subtree(struct sbx_import_tree *ti, const struct sbx_import_tree *c, const char *name)
{
	if (c->height + 1 > ti->height)
		ti->height = c->height + 1;
	if (c->climb > ti->climb + 1) {
		ti->climb = c->climb - 1;
		free(ti->climb_path);
		if (!(ti->climb_path = join(name, c->climb_path)))
			return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	if (c->gitlink_path && !ti->gitlink_path && !(ti->gitlink_path = join(name, c->gitlink_path)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	return 0;
}

/*
 * A subtree of a new tree that the base has, unchanged, at the same path is
 * the host's own where the host had it: nothing to check, and skipping it
 * keeps the walk proportional to what changed.  Otherwise the base's tree at
 * that path (if any) goes down with the walk.
 */
static bool same_as_base(struct sbx_import_walk *w, const git_tree *base, const char *name,
			 const git_oid *id, git_tree **base_sub)
{
	const git_tree_entry *be = base ? git_tree_entry_byname(base, name) : NULL;

	*base_sub = NULL;
	if (!be || git_tree_entry_filemode(be) != GIT_FILEMODE_TREE)
		return false;
	if (git_oid_equal(git_tree_entry_id(be), id))
		return true;
	if (git_tree_lookup(base_sub, w->qrepo, git_tree_entry_id(be)) < 0)
		*base_sub = NULL;
	return false;
}

/* The base has this very entry (name, mode, object) at this path: the host's own, as it was. */
static bool base_has_entry(const git_tree *base, const char *name, const git_oid *id,
			   git_filemode_t mode)
{
	const git_tree_entry *be = base ? git_tree_entry_byname(base, name) : NULL;

	return be && git_tree_entry_filemode(be) == mode && git_oid_equal(git_tree_entry_id(be), id);
}

static int scan_entries(struct sbx_import_walk *w, struct sbx_import_tree *ti, const git_tree *tree,
			bool fresh, const git_tree *base, const char *path, unsigned depth)
{
	bool head = false, repoish = false;
	size_t i, n = git_tree_entrycount(tree);
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		const git_oid *eid = git_tree_entry_id(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		char *sub = join(path, name);

		if (!sub)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		if (fresh && sbx_import_bad_name(name, strlen(name))) {
			err = SBX_CORRUPT("tree %s has an entry named '%s', which no checkout may write",
					  git_oid_tostr_s(&ti->id), name);
		} else if (mode == GIT_FILEMODE_TREE) {
			struct sbx_import_tree *c = NULL;
			git_tree *base_sub = NULL;

			if (fresh && (name_is(name, "objects") || name_is(name, "refs")))
				repoish = true;
			if (!fresh || !same_as_base(w, base, name, eid, &base_sub)) {
				err = tree_info(w, eid, base_sub, sub, depth + 1, &c);
				if (!err)
					err = add_subtree(ti, c, name);
			}
			git_tree_free(base_sub);
		} else if (mode == GIT_FILEMODE_COMMIT) {
			/* A submodule: its commit lives elsewhere; without .gitmodules it is a stray clone. */
			if (fresh && !in_repo(w, eid) && !ti->gitlink_path &&
			    !(ti->gitlink_path = strdup(name)))
				err = sbx_error_set(SBX_ENOMEM, "out of memory");
		} else {
			bool new_blob = in_pack(w, eid);
			int climb = 0;

			if (fresh) {
				if (name_is(name, "HEAD"))
					head = true;
				if (name_is(name, "commondir"))
					repoish = true;
				if (!strcmp(name, ".gitmodules"))
					ti->has_gitmodules = true;
				if (!new_blob && !in_repo(w, eid))
					err = missing(eid, sub);
				else if (new_blob && (err = sbx_oidset_add(&w->visited, eid)) > 0)
					err = 0;
			}
			/*
			 * Relative symlinks of old trees too: a new tree may move them
			 * up.  A link the base has, unchanged, at this very path is the
			 * repository's own (an absolute link committed by its users
			 * must not refuse every result that touches its directory).
			 */
			if (!err && mode == GIT_FILEMODE_LINK &&
			    !(fresh && base_has_entry(base, name, eid, mode))) {
				err = check_symlink(w, eid, sub, &climb);
				if (!fresh && err == SBX_ECORRUPT) {
					err = 0;	/* absolute in a tree the host already had */
					climb = 0;
				}
				if (!err && (unsigned)climb > ti->climb) {
					ti->climb = (unsigned)climb;
					free(ti->climb_path);
					if (!(ti->climb_path = strdup(name)))
						err = sbx_error_set(SBX_ENOMEM, "out of memory");
				}
			}
		}
		free(sub);
	}
	if (!err && head && repoish && !w->allow_embedded_repos)
		err = sbx_error_set(SBX_ECORRUPT,
				    "'%s' looks like a git repository (HEAD beside objects, refs or commondir): "
				    "git run there would obey its config; set sbx.allowEmbeddedRepositories to accept it",
				    *path ? path : "/");
	return err;
}

/*
 * What tree `id` holds, checked at `path` (`depth` 1 for the root).  `base`:
 * the base commit's tree at the same path, or NULL.  *out stays in the memo.
 */
static int tree_info(struct sbx_import_walk *w, const git_oid *id, const git_tree *base,
		     const char *path, unsigned depth, struct sbx_import_tree **out)
{
	static const git_oid none;
	struct sbx_import_tree *ti;
	git_tree *tree = NULL;
	bool fresh = in_pack(w, id);
	const git_oid *key = fresh && base ? git_tree_id(base) : &none;
	int err;

	if ((ti = memo_get(w, id, key)))
		goto placed;
	if (depth - 1 > w->max_tree_depth)
		return sbx_error_set(SBX_ELIMIT,
				     "the result's trees at '%s' are nested more than %u directories deep (sbx.maxTreeDepth)",
				     path, w->max_tree_depth);
	if (!fresh && !in_repo(w, id))
		return missing(id, *path ? path : "/");
	if (fresh && (err = sbx_oidset_add(&w->visited, id)) < 0)
		return err;
	if (git_tree_lookup(&tree, w->qrepo, id) < 0)
		return sbx_git_error(SBX_ECORRUPT, "cannot parse an object of the bundle");
	ti = calloc(1, sizeof(*ti));
	if (!ti) {
		git_tree_free(tree);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	git_oid_cpy(&ti->id, id);
	git_oid_cpy(&ti->base, key);
	ti->height = 1;
	err = scan_entries(w, ti, tree, fresh, fresh ? base : NULL, path, depth);
	git_tree_free(tree);
	if (!err)
		err = memo_put(w, ti);
	if (err) {
		tree_free(ti);
		return err;
	}
placed:
	*out = ti;
	return position_ok(w, ti, path, depth);
}

static int check_root(struct sbx_import_walk *w, const git_oid *commit, const git_oid *tree)
{
	struct sbx_import_tree *t = NULL;
	git_tree *base = NULL;
	int err;

	if (w->has_base_tree && git_oid_equal(tree, &w->base_tree))
		return 0;	/* the base's own tree */
	if (w->has_base_tree && git_tree_lookup(&base, w->qrepo, &w->base_tree) < 0)
		base = NULL;
	err = tree_info(w, tree, base, "", 1, &t);
	git_tree_free(base);
	if (!err && t->gitlink_path && !t->has_gitmodules)
		err = SBX_CORRUPT("commit %s has a gitlink '%s' to a commit the repository does not have, "
				  "and no .gitmodules (an embedded clone?)",
				  git_oid_tostr_s(commit), t->gitlink_path);
	return err;
}

/*
 * Everything reachable from the tip must be in the pack or already in the
 * repository.  Commits are followed only while they are in the pack: what
 * the repository already had is trusted as git trusts its own store.
 */
int sbx_import_walk(struct sbx_import_walk *w, const git_oid *tip)
{
	struct sbx_oidvec stack = { 0 };
	int err = sbx_oidvec_push(&stack, tip);

	if (!w->max_tree_depth || w->max_tree_depth > SBX_IMPORT_MAX_TREE_DEPTH)
		w->max_tree_depth = SBX_IMPORT_MAX_TREE_DEPTH;
	while (!err && stack.n) {
		git_oid id = stack.v[--stack.n];
		git_object *obj = NULL;

		if (sbx_oidset_has(&w->visited, &id))
			continue;
		if (!in_pack(w, &id)) {
			if (in_repo(w, &id))
				continue;
			err = SBX_CORRUPT("object %s, reachable from the tip, is in neither the bundle nor the repository",
					  git_oid_tostr_s(&id));
			break;
		}
		if ((err = sbx_oidset_add(&w->visited, &id)) < 0)
			break;
		err = 0;
		if (git_object_lookup(&obj, w->qrepo, &id, GIT_OBJECT_ANY) < 0) {
			err = sbx_git_error(SBX_ECORRUPT, "cannot parse an object of the bundle");
			break;
		}
		if (git_object_type(obj) == GIT_OBJECT_COMMIT) {
			const git_commit *c = (const git_commit *)obj;
			unsigned i, np = git_commit_parentcount(c);

			err = check_root(w, &id, git_commit_tree_id(c));
			for (i = 0; i < np && !err; i++)
				err = sbx_oidvec_push(&stack, git_commit_parent_id(c, i));
		} else {
			err = SBX_CORRUPT("%s object %s reachable from the tip where a commit belongs",
					  git_object_type2string(git_object_type(obj)), git_oid_tostr_s(&id));
		}
		git_object_free(obj);
	}
	sbx_oidvec_clear(&stack);
	return sanitized(err);
}
