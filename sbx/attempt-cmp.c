// SPDX-License-Identifier: MIT
/*
 * Attempts side by side (sbx/attempt.h): each one's commits and diffstat
 * against the base, and for every file any of them changed, which agree.
 */
#include "sbx/attempt.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* One changed path of one attempt: its content there (zero: deleted). */
struct change {
	const char *path;	/* points into `paths` below */
	unsigned idx;		/* the attempt's index */
	git_oid id;
	uint16_t mode;
};

struct collect {
	struct change *v;
	size_t n, alloc;
	char **paths;		/* owned copies */
	size_t npaths, apaths;
	bool truncated;
};

static int add_change(struct collect *c, const char *path, unsigned idx, const git_oid *id, uint16_t mode)
{
	char *p;

	if (c->n >= (size_t)SBX_ATTEMPTS_MAX_FILES * SBX_TASK_ATTEMPTS_MAX) {
		c->truncated = true;
		return 0;
	}
	if (c->n == c->alloc) {
		size_t na = c->alloc ? c->alloc * 2 : 64;
		struct change *nv = realloc(c->v, na * sizeof(*nv));

		if (!nv)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		c->v = nv;
		c->alloc = na;
	}
	if (c->npaths == c->apaths) {
		size_t na = c->apaths ? c->apaths * 2 : 64;
		char **np = realloc(c->paths, na * sizeof(*np));

		if (!np)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		c->paths = np;
		c->apaths = na;
	}
	if (!(p = strdup(path)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	c->paths[c->npaths++] = p;
	c->v[c->n].path = p;
	c->v[c->n].idx = idx;
	c->v[c->n].id = *id;
	c->v[c->n].mode = mode;
	c->n++;
	return 0;
}

static int cmp_change(const void *a, const void *b)
{
	const struct change *x = a, *y = b;
	int d = strcmp(x->path, y->path);

	return d ? d : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Commits base..tip, the diffstat, and each changed path into c. */
static int one(struct sbx_attempts_row *row, struct collect *c, git_repository *git,
	       git_tree *base_tree, const git_oid *base, unsigned idx)
{
	git_diff_options dopts;
	git_revwalk *walk = NULL;
	git_commit *tip = NULL;
	git_tree *tree = NULL;
	git_diff *diff = NULL;
	git_diff_stats *stats = NULL;
	git_oid id;
	size_t i;
	int err = 0;

	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	if (git_revwalk_new(&walk, git) == 0 && git_revwalk_push(walk, &row->tip) == 0 &&
	    git_revwalk_hide(walk, base) == 0)
		while (git_revwalk_next(&id, walk) == 0)
			row->commits++;
	git_revwalk_free(walk);
	if (git_commit_lookup(&tip, git, &row->tip) < 0 || git_commit_tree(&tree, tip) < 0 ||
	    git_diff_tree_to_tree(&diff, git, base_tree, tree, &dopts) < 0 ||
	    git_diff_get_stats(&stats, diff) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot compare an attempt's result with the base");
		goto out;
	}
	row->files_changed = git_diff_stats_files_changed(stats);
	row->insertions = git_diff_stats_insertions(stats);
	row->deletions = git_diff_stats_deletions(stats);
	for (i = 0; i < git_diff_num_deltas(diff) && !err; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		bool gone = d->status == GIT_DELTA_DELETED;
		git_oid zero = { { 0 } };

		err = add_change(c, gone ? d->old_file.path : d->new_file.path, idx,
				 gone ? &zero : &d->new_file.id, gone ? 0 : d->new_file.mode);
	}
out:
	git_diff_stats_free(stats);
	git_diff_free(diff);
	git_tree_free(tree);
	git_commit_free(tip);
	return err;
}

/* Group the sorted changes by path. */
static int group(struct sbx_attempts_cmp *out, struct collect *c, size_t nattempts)
{
	size_t i = 0, k;

	qsort(c->v, c->n, sizeof(*c->v), cmp_change);
	while (i < c->n) {
		struct sbx_attempts_file *f;
		size_t j = i;
		unsigned idx;

		while (j < c->n && !strcmp(c->v[j].path, c->v[i].path))
			j++;
		if (out->nfiles == SBX_ATTEMPTS_MAX_FILES) {
			out->files_truncated = true;
			break;
		}
		f = &out->files[out->nfiles];
		memset(f, 0, sizeof(*f));
		f->path = strdup(c->v[i].path);
		f->group = calloc(nattempts ? nattempts : 1, sizeof(*f->group));
		if (!f->path || !f->group) {
			free(f->path);
			free(f->group);
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		}
		out->nfiles++;
		for (idx = 0; idx < nattempts; idx++)
			f->group[idx] = out->rows[idx].has_tip ? 0 : -1;
		/* each distinct (content, mode) a group number, in attempt order */
		for (k = i; k < j; k++) {
			size_t m;
			int g = 0;

			for (m = i; m < k && !g; m++)
				if (git_oid_equal(&c->v[m].id, &c->v[k].id) && c->v[m].mode == c->v[k].mode)
					g = f->group[c->v[m].idx];
			if (!g)
				g = (int)++f->ngroups;
			f->group[c->v[k].idx] = g;
		}
		f->agree = true;
		for (idx = 0; idx < nattempts; idx++)
			if (f->group[idx] >= 0 && f->group[idx] != 1)
				f->agree = false;
		i = j;
	}
	return 0;
}

int sbx_attempts_compare(struct sbx_attempts_cmp *out, struct sbx_repo *repo,
			 const struct sbx_task *t)
{
	struct collect c = { 0 };
	git_commit *base = NULL;
	git_tree *base_tree = NULL;
	size_t i, distinct;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!t->nattempts)
		return 0;
	out->rows = calloc(t->nattempts, sizeof(*out->rows));
	if (!out->rows)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	out->nrows = t->nattempts;
	if (git_commit_lookup(&base, repo->git, &t->base) < 0 || git_commit_tree(&base_tree, base) < 0) {
		err = sbx_git_error(SBX_ENOTFOUND, "cannot read the task's base");
		goto out;
	}
	for (i = 0; i < t->nattempts && !err; i++) {
		const struct sbx_task_attempt *a = &t->attempts[i];

		out->rows[i].n = a->n;
		out->rows[i].has_tip = a->has_tip;
		out->rows[i].tip = a->tip;
		/* a result whose objects are gone (gc after rm of a ref) is left out, not fatal */
		if (a->has_tip && one(&out->rows[i], &c, repo->git, base_tree, &t->base, (unsigned)i)) {
			out->rows[i].has_tip = false;
			out->rows[i].commits = out->rows[i].files_changed = 0;
		}
	}
	/* at most one file entry per distinct path */
	distinct = c.npaths < SBX_ATTEMPTS_MAX_FILES ? c.npaths : SBX_ATTEMPTS_MAX_FILES;
	out->files = calloc(distinct ? distinct : 1, sizeof(*out->files));
	if (!out->files) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	err = group(out, &c, t->nattempts);
	out->files_truncated |= c.truncated;
out:
	for (i = 0; i < c.npaths; i++)
		free(c.paths[i]);
	free(c.paths);
	free(c.v);
	git_tree_free(base_tree);
	git_commit_free(base);
	if (err)
		sbx_attempts_cmp_clear(out);
	return err;
}

void sbx_attempts_cmp_clear(struct sbx_attempts_cmp *c)
{
	size_t i;

	for (i = 0; i < c->nfiles; i++) {
		free(c->files[i].path);
		free(c->files[i].group);
	}
	free(c->files);
	free(c->rows);
	memset(c, 0, sizeof(*c));
}
