// SPDX-License-Identifier: MIT
/*
 * Task ids, records on disk, branches, worktrees, running and results.
 * Layout and rules in sbx/task.h; the record format is sbx/task-record.c,
 * removal and gc sbx/task-gc.c.
 */
#include "sbx/task.h"
#include "sbx/task-int.h"
#include "sbx/bundle.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "util/error.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t task_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *task_sbx_dir(struct sbx_repo *repo, const char *sub)
{
	char *s;

	if (asprintf(&s, "%s/sbx%s%s", repo->commondir, sub ? "/" : "", sub ? sub : "") < 0)
		return NULL;
	return s;
}

char *task_dir(struct sbx_repo *repo, unsigned id)
{
	char *s;

	if (asprintf(&s, "%s/sbx/tasks/%u", repo->commondir, id) < 0)
		return NULL;
	return s;
}

char *task_file(const struct sbx_task *t, const char *name)
{
	return sbx_path_join(t->dir, name);
}

char *sbx_task_log_path(const struct sbx_task *task)
{
	return task_file(task, "log");
}

int sbx_task_save(struct sbx_task *t)
{
	char *buf = NULL, *path = task_file(t, "record");
	size_t len;
	int err;

	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_task_record_format(&buf, &len, t);
	if (!err)
		err = sbx_write_atomic(path, buf, len);
	free(buf);
	free(path);
	return err;
}

static int open_dir(struct sbx_task **out, const char *dir, unsigned id)
{
	char *path = sbx_path_join(dir, "record"), *buf = NULL;
	size_t len;
	int err;

	*out = NULL;
	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_read_file(&buf, &len, path, SBX_TASK_RECORD_MAX);
	free(path);
	if (err == SBX_ENOTFOUND)
		return sbx_error_set(SBX_ENOTFOUND, "no task %u", id);
	if (!err)
		err = sbx_task_record_parse(out, buf, len);
	free(buf);
	if (err)
		return sbx_error_prefix(err, "task %u", id);
	if ((*out)->id != id) {
		unsigned says = (*out)->id;

		sbx_task_free(*out);
		*out = NULL;
		return SBX_CORRUPT("task %u: the record says it is task %u", id, says);
	}
	(*out)->dir = strdup(dir);
	if (!(*out)->dir) {
		sbx_task_free(*out);
		*out = NULL;
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	return 0;
}

int sbx_task_open(struct sbx_task **out, struct sbx_repo *repo, unsigned id)
{
	char *dir = task_dir(repo, id);
	int err;

	if (!dir)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = open_dir(out, dir, id);
	free(dir);
	return err;
}

static int cmp_task(const void *a, const void *b)
{
	const struct sbx_task *x = *(struct sbx_task *const *)a, *y = *(struct sbx_task *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Names in sbx/tasks/ that are task ids. */
bool task_id_name(const char *name, unsigned *id)
{
	uint64_t v;

	if (task_parse_uint_str(name, SBX_TASK_ID_MAX, &v) || !v)
		return false;
	*id = (unsigned)v;
	return true;
}

int sbx_task_list(struct sbx_task ***out, size_t *n, size_t *nbad, struct sbx_repo *repo)
{
	struct sbx_task **v = NULL;
	size_t alloc = 0;
	char *dir = task_sbx_dir(repo, "tasks");
	struct dirent *e;
	DIR *d;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (nbad)
		*nbad = 0;
	if (!dir)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	d = opendir(dir);
	if (!d) {
		free(dir);
		return errno == ENOENT ? 0 : sbx_error_errno(SBX_EIO, "cannot read the task list");
	}
	while (!err && (e = readdir(d))) {
		struct sbx_task *t = NULL;
		unsigned id;

		if (!task_id_name(e->d_name, &id))
			continue;
		if (sbx_task_open(&t, repo, id)) {
			if (nbad)
				(*nbad)++;
			continue;
		}
		if (*n == alloc) {
			size_t na = alloc ? alloc * 2 : 16;
			struct sbx_task **nv = realloc(v, na * sizeof(*nv));

			if (!nv) {
				sbx_task_free(t);
				err = sbx_error_set(SBX_ENOMEM, "out of memory");
				break;
			}
			v = nv;
			alloc = na;
		}
		v[(*n)++] = t;
	}
	closedir(d);
	free(dir);
	if (err) {
		sbx_task_list_free(v, *n);
		*n = 0;
		return err;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_task);
	*out = v;
	return 0;
}

/* ---- creating ---- */

static bool branch_exists(git_repository *git, unsigned id)
{
	char name[64];
	git_reference *ref = NULL;

	snprintf(name, sizeof(name), "refs/heads/sbx/%u", id);
	if (git_reference_lookup(&ref, git, name))
		return false;
	git_reference_free(ref);
	return true;
}

bool task_path_exists(const char *p)
{
	struct stat st;

	return p && lstat(p, &st) == 0;
}

/* Under sbx/lock: the next id no task, branch or directory uses. */
static int next_id(unsigned *out, struct sbx_repo *repo)
{
	char *path = task_sbx_dir(repo, "next-id"), *buf = NULL, *tasks = task_sbx_dir(repo, "tasks");
	uint64_t v = 1;
	unsigned id;
	struct dirent *e;
	DIR *d;
	int err = 0;

	if (!path || !tasks) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	err = sbx_read_file(&buf, NULL, path, 64);
	if (!err) {
		char *nl = strchr(buf, '\n');

		if (nl)
			*nl = '\0';
		if (task_parse_uint_str(buf, SBX_TASK_ID_MAX, &v) || !v) {
			pr_warn("ignoring a bad '%s'", path);
			v = 1;
		}
	} else if (err != SBX_ENOTFOUND) {
		goto out;
	}
	err = 0;
	/* Never reuse an id a record still has, even if next-id was lost. */
	d = opendir(tasks);
	while (d && (e = readdir(d)))
		if (task_id_name(e->d_name, &id) && id >= v)
			v = (uint64_t)id + 1;
	if (d)
		closedir(d);
	for (;; v++) {
		char *dir, *wt;
		bool used;

		if (v > SBX_TASK_ID_MAX) {
			err = sbx_error_set(SBX_ELIMIT, "no task ids left");
			goto out;
		}
		dir = task_dir(repo, (unsigned)v);
		if (asprintf(&wt, "%s/sbx/worktrees/%u", repo->commondir, (unsigned)v) < 0)
			wt = NULL;
		used = task_path_exists(dir) || task_path_exists(wt) || branch_exists(repo->git, (unsigned)v);
		free(dir);
		free(wt);
		if (!used)
			break;
	}
	*out = (unsigned)v;
	{
		char num[32];

		snprintf(num, sizeof(num), "%u\n", *out + 1);
		err = sbx_write_atomic(path, num, strlen(num));
	}
out:
	free(path);
	free(tasks);
	free(buf);
	return err;
}

int task_lock_repo(int *fd, struct sbx_repo *repo)
{
	char *dir = task_sbx_dir(repo, NULL), *path = task_sbx_dir(repo, "lock");
	int err;

	if (!dir || !path)
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
	else if (!(err = sbx_mkdirs(dir)))
		err = sbx_lock(fd, path, true, true);
	free(dir);
	free(path);
	return err;
}

static int add_worktree(struct sbx_repo *repo, struct sbx_task *t)
{
	git_worktree_add_options opts;
	git_reference *ref = NULL;
	git_worktree *wt = NULL;
	char name[32], *parent = task_sbx_dir(repo, "worktrees");
	int err = 0;

	if (!parent)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if ((err = sbx_mkdirs(parent)))
		goto out;
	snprintf(name, sizeof(name), "sbx-%u", t->id);
	{
		char refname[64];

		snprintf(refname, sizeof(refname), "refs/heads/%s", t->branch);
		if (git_reference_lookup(&ref, repo->git, refname) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot find the task's branch");
			goto out;
		}
	}
	git_worktree_add_options_init(&opts, GIT_WORKTREE_ADD_OPTIONS_VERSION);
	opts.ref = ref;
	/* A new, empty directory: write every file. */
	opts.checkout_options.checkout_strategy = GIT_CHECKOUT_FORCE;
	if (git_worktree_add(&wt, repo->git, name, t->worktree, &opts) < 0)
		err = sbx_git_error(SBX_ERROR, "cannot create the task's worktree");
out:
	git_worktree_free(wt);
	git_reference_free(ref);
	free(parent);
	return err;
}

int task_prune_worktree(struct sbx_repo *repo, unsigned id, const char *path)
{
	git_worktree_prune_options popts;
	git_worktree *wt = NULL;
	char name[32];

	snprintf(name, sizeof(name), "sbx-%u", id);
	if (git_worktree_lookup(&wt, repo->git, name) == 0) {
		git_worktree_prune_options_init(&popts, GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
		popts.flags = GIT_WORKTREE_PRUNE_VALID | GIT_WORKTREE_PRUNE_LOCKED |
			      GIT_WORKTREE_PRUNE_WORKING_TREE;
		if (git_worktree_prune(wt, &popts) < 0)
			pr_warn("cannot prune worktree '%s': %s", name,
				git_error_last() ? git_error_last()->message : "unknown error");
		git_worktree_free(wt);
	}
	/* Whatever libgit2 left (it gives up on some trees) must go, or we say so. */
	return path ? sbx_rmtree(path) : 0;
}

int task_delete_branch(bool *kept, struct sbx_repo *repo, const char *branch)
{
	git_reference *ref = NULL;
	int err;

	*kept = false;
	err = git_branch_lookup(&ref, repo->git, branch, GIT_BRANCH_LOCAL);
	if (err == GIT_ENOTFOUND)
		return 0;
	if (err < 0)
		return sbx_git_error(SBX_ERROR, "cannot read the task's branch");
	if (git_branch_is_checked_out(ref) == 1) {
		pr_warn("branch '%s' is checked out; keeping it", branch);
		*kept = true;
		git_reference_free(ref);
		return 0;
	}
	err = git_branch_delete(ref);
	git_reference_free(ref);
	if (err < 0)
		return sbx_git_error(SBX_ERROR, "cannot delete the task's branch");
	return 0;
}

int sbx_task_create(struct sbx_task **out, struct sbx_repo *repo,
		    const struct sbx_task_create_opts *opts)
{
	struct sbx_task *t = NULL;
	git_commit *base = NULL;
	git_reference *branch = NULL;
	int lock = -1, err;
	bool made_dir = false, made_branch = false, made_wt = false;

	*out = NULL;
	if (!opts->prompt)
		return sbx_error_set(SBX_EINVAL, "a task needs a prompt");
	if (strlen(opts->prompt) > SBX_TASK_PROMPT_MAX)
		return sbx_error_set(SBX_ELIMIT, "the prompt is longer than %u bytes", SBX_TASK_PROMPT_MAX);
	t = calloc(1, sizeof(*t));
	if (!t)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	t->exit_status = -1;
	t->state = SBX_TASK_CREATED;
	t->created_ms = task_now_ms();
	if (opts->base) {
		git_oid_cpy(&t->base, opts->base);
	} else if (git_reference_name_to_id(&t->base, repo->git, "HEAD") < 0) {
		err = sbx_git_error(SBX_EINVAL, "HEAD does not name a commit");
		goto fail;
	}
	if (git_commit_lookup(&base, repo->git, &t->base) < 0) {
		err = sbx_git_error(SBX_EINVAL, "the base is not a commit");
		goto fail;
	}
	t->prompt = strdup(opts->prompt);
	t->agent = opts->agent ? strdup(opts->agent) : NULL;
	t->image = opts->image ? strdup(opts->image) : NULL;
	if (!t->prompt || (opts->agent && !t->agent) || (opts->image && !t->image)) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}

	if ((err = task_lock_repo(&lock, repo)) || (err = next_id(&t->id, repo)))
		goto fail;
	if (asprintf(&t->branch, "sbx/%u", t->id) < 0 || !(t->dir = task_dir(repo, t->id))) {
		t->branch = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	if (!opts->no_worktree && !git_repository_is_bare(repo->git) &&
	    asprintf(&t->worktree, "%s/sbx/worktrees/%u", repo->commondir, t->id) < 0) {
		t->worktree = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = sbx_mkdirs(t->dir)))
		goto fail;
	made_dir = true;
	if ((err = sbx_task_save(t)))
		goto fail;
	if (git_branch_create(&branch, repo->git, t->branch, base, 0) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot create the task's branch");
		goto fail;
	}
	made_branch = true;
	if (t->worktree) {
		made_wt = true;
		if ((err = add_worktree(repo, t)))
			goto fail;
	}
	git_reference_free(branch);
	git_commit_free(base);
	sbx_unlock(lock);
	*out = t;
	return 0;
fail:
	if (made_wt)
		task_prune_worktree(repo, t->id, t->worktree);
	if (made_branch) {
		bool kept;

		git_reference_free(branch);
		branch = NULL;
		task_delete_branch(&kept, repo, t->branch);
	}
	if (made_dir)
		sbx_rmtree(t->dir);
	git_reference_free(branch);
	git_commit_free(base);
	sbx_unlock(lock);
	sbx_task_free(t);
	return err;
}

/* ---- running ---- */

bool sbx_task_running(const struct sbx_task *t)
{
	char *path = task_file(t, "lock");
	bool held = path && sbx_lock_held(path);

	free(path);
	return held;
}

int sbx_task_start(int *lock_fd, struct sbx_task *t)
{
	char *path = task_file(t, "lock");
	int err;

	*lock_fd = -1;
	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_lock(lock_fd, path, true, false);
	free(path);
	if (err == SBX_ELOCKED)
		return sbx_error_set(SBX_ELOCKED, "task %u is already running", t->id);
	if (err)
		return err;
	t->state = SBX_TASK_RUNNING;
	t->started_ms = task_now_ms();
	t->finished_ms = 0;
	err = sbx_task_save(t);
	if (err) {
		sbx_unlock(*lock_fd);
		*lock_fd = -1;
	}
	return err;
}

int sbx_task_finish(int lock_fd, struct sbx_task *t, enum sbx_task_state state,
		    int exit_status, const char *error)
{
	int err;

	t->state = state;
	t->exit_status = exit_status;
	t->finished_ms = task_now_ms();
	free(t->error);
	t->error = error ? strdup(error) : NULL;
	err = sbx_task_save(t);
	sbx_unlock(lock_fd);
	return err;
}

/* ---- results ---- */

int sbx_task_update_worktree(bool *kept, const struct sbx_task *t,
			     const git_oid *old_tip, const git_oid *new_tip)
{
	git_checkout_options copts;
	git_repository *wrepo = NULL;
	git_commit *oldc = NULL, *newc = NULL;
	git_tree *oldt = NULL;
	int err = 0, rc;

	*kept = false;
	if (!t->worktree)
		return 0;
	if (git_repository_open(&wrepo, t->worktree) < 0)
		return sbx_git_error(SBX_ERROR, "cannot open the task's worktree");
	if (git_commit_lookup(&oldc, wrepo, old_tip) < 0 || git_commit_lookup(&newc, wrepo, new_tip) < 0 ||
	    git_commit_tree(&oldt, oldc) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot read the result");
		goto out;
	}
	git_checkout_options_init(&copts, GIT_CHECKOUT_OPTIONS_VERSION);
	/* From the old tip's tree to the new one; never over the user's changes. */
	copts.checkout_strategy = GIT_CHECKOUT_SAFE;
	copts.baseline = oldt;
	rc = git_checkout_tree(wrepo, (const git_object *)newc, &copts);
	if (rc == GIT_ECONFLICT) {
		/* Nothing was written.  Keep HEAD where the files are. */
		if (git_repository_set_head_detached(wrepo, old_tip) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot detach the task's worktree");
			goto out;
		}
		*kept = true;
	} else if (rc < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot update the task's worktree");
	}
out:
	git_tree_free(oldt);
	git_commit_free(oldc);
	git_commit_free(newc);
	git_repository_free(wrepo);
	return err;
}

int sbx_task_import_begin(struct sbx_bundle_import **imp, git_oid *old_tip,
			  struct sbx_repo *repo, const struct sbx_task *t)
{
	return sbx_task_import_begin_ext(imp, old_tip, repo, t, false);
}

int sbx_task_import_begin_ext(struct sbx_bundle_import **imp, git_oid *old_tip,
			      struct sbx_repo *repo, const struct sbx_task *t, bool objects_only)
{
	struct sbx_bundle_import_opts opts = SBX_BUNDLE_IMPORT_OPTS_INIT;
	char refname[64];
	int err;

	*imp = NULL;
	snprintf(refname, sizeof(refname), "refs/heads/%s", t->branch);
	if (git_reference_name_to_id(old_tip, repo->git, refname) < 0)
		return sbx_error_set(SBX_ENOTFOUND, "task %u's branch '%s' is gone", t->id, t->branch);
	if ((err = sbx_bundle_config_import(repo->git, &opts)))
		return err;
	opts.branch = t->branch;
	opts.base = t->base;
	opts.expected_old = old_tip;
	opts.objects_only = objects_only;
	return sbx_bundle_import_begin(imp, repo->git, &opts);
}

int sbx_task_import_objects(git_oid *tip, struct sbx_bundle_import *imp)
{
	int err = sbx_bundle_import_finish(imp, tip);

	sbx_bundle_import_free(imp);
	return err;
}

int sbx_task_import_publish(bool *worktree_kept, struct sbx_repo *repo, struct sbx_task *t,
			    const git_oid *old_tip, const git_oid *tip)
{
	git_reference *ref = NULL;
	char refname[64];
	int err = 0;

	*worktree_kept = false;
	snprintf(refname, sizeof(refname), "refs/heads/%s", t->branch);
	if (git_oid_cmp(old_tip, tip)) {
		int rc = git_reference_create_matching(&ref, repo->git, refname, tip, 1, old_tip,
						       "sbx: import result");

		git_reference_free(ref);
		if (rc == GIT_EMODIFIED)
			return sbx_error_set(SBX_ELOCKED, "branch '%s' moved during the task", t->branch);
		if (rc < 0)
			return sbx_git_error(SBX_ERROR, "cannot move the task's branch");
	}
	t->has_result = true;
	t->result = *tip;
	if (git_oid_cmp(old_tip, tip))
		err = sbx_task_update_worktree(worktree_kept, t, old_tip, tip);
	if (!err)
		err = sbx_task_save(t);
	return err;
}

int sbx_task_import_finish(git_oid *tip, bool *worktree_kept, struct sbx_bundle_import *imp,
			   const git_oid *old_tip, struct sbx_task *t)
{
	int err = sbx_bundle_import_finish(imp, tip);

	sbx_bundle_import_free(imp);
	*worktree_kept = false;
	if (err)
		return err;
	t->has_result = true;
	t->result = *tip;
	if (git_oid_cmp(old_tip, tip))
		err = sbx_task_update_worktree(worktree_kept, t, old_tip, tip);
	if (!err)
		err = sbx_task_save(t);
	return err;
}

int sbx_task_import_fd(git_oid *tip, bool *worktree_kept, struct sbx_repo *repo,
		       struct sbx_task *t, int fd)
{
	struct sbx_bundle_import *imp = NULL;
	char *buf;
	git_oid old;
	int err;

	*worktree_kept = false;
	if ((err = sbx_task_import_begin(&imp, &old, repo, t)))
		return err;
	buf = malloc(1 << 16);
	if (!buf) {
		sbx_bundle_import_free(imp);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 16);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = sbx_error_errno(SBX_EIO, "cannot read the bundle");
		else if (n > 0 && (err = sbx_bundle_import_write(imp, buf, (size_t)n)))
			sbx_error_prefix(err, "rejected the result bundle");
		if (n <= 0 || err)
			break;
	}
	free(buf);
	if (err) {
		sbx_bundle_import_free(imp);
		return err;
	}
	return sbx_task_import_finish(tip, worktree_kept, imp, &old, t);
}

/* ---- summaries ---- */

void sbx_task_summary_clear(struct sbx_task_summary *s)
{
	size_t i;

	for (i = 0; i < s->ncommits_listed; i++)
		free(s->commits[i]);
	free(s->commits);
	free(s->base_subject);
	memset(s, 0, sizeof(*s));
}

static char *oneline(git_commit *c)
{
	char hex[8], *s;
	const char *subj = git_commit_summary(c);

	git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
	if (asprintf(&s, "%s %s", hex, subj ? subj : "") < 0)
		return NULL;
	return s;
}

static int diffstat(struct sbx_task_summary *s, git_repository *git, const git_oid *a, const git_oid *b)
{
	git_commit *ca = NULL, *cb = NULL;
	git_tree *ta = NULL, *tb = NULL;
	git_diff *diff = NULL;
	git_diff_stats *stats = NULL;
	git_diff_options dopts;
	git_diff_find_options fopts;
	int err = 0;

	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	git_diff_find_options_init(&fopts, GIT_DIFF_FIND_OPTIONS_VERSION);
	if (git_commit_lookup(&ca, git, a) < 0 || git_commit_lookup(&cb, git, b) < 0 ||
	    git_commit_tree(&ta, ca) < 0 || git_commit_tree(&tb, cb) < 0 ||
	    git_diff_tree_to_tree(&diff, git, ta, tb, &dopts) < 0 ||
	    git_diff_find_similar(diff, &fopts) < 0 || git_diff_get_stats(&stats, diff) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot compute the diffstat");
		goto out;
	}
	s->files_changed = git_diff_stats_files_changed(stats);
	s->insertions = git_diff_stats_insertions(stats);
	s->deletions = git_diff_stats_deletions(stats);
out:
	git_diff_stats_free(stats);
	git_diff_free(diff);
	git_tree_free(ta);
	git_tree_free(tb);
	git_commit_free(ca);
	git_commit_free(cb);
	return err;
}

int sbx_task_summarize(struct sbx_task_summary *s, struct sbx_repo *repo,
		       const struct sbx_task *t, bool with_diffstat)
{
	git_revwalk *walk = NULL;
	git_commit *base = NULL;
	char refname[64];
	git_oid id;
	int err = 0;

	memset(s, 0, sizeof(*s));
	snprintf(refname, sizeof(refname), "refs/heads/%s", t->branch);
	if (git_reference_name_to_id(&s->tip, repo->git, refname) == 0)
		s->branch_exists = true;
	else if (t->has_result)
		s->tip = t->result;
	else
		s->tip = t->base;
	if (git_commit_lookup(&base, repo->git, &t->base) == 0) {
		s->base_subject = strdup(git_commit_summary(base) ? git_commit_summary(base) : "");
		git_commit_free(base);
	}
	s->commits = calloc(SBX_TASK_SUMMARY_MAX_COMMITS, sizeof(*s->commits));
	if (!s->commits)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (git_revwalk_new(&walk, repo->git) < 0 || git_revwalk_push(walk, &s->tip) < 0 ||
	    git_revwalk_hide(walk, &t->base) < 0) {
		/* a tip or base that is gone: nothing to count */
		git_revwalk_free(walk);
		return 0;
	}
	while (git_revwalk_next(&id, walk) == 0) {
		s->ncommits++;
		if (s->ncommits_listed < SBX_TASK_SUMMARY_MAX_COMMITS) {
			git_commit *c = NULL;

			if (git_commit_lookup(&c, repo->git, &id) == 0) {
				s->commits[s->ncommits_listed] = oneline(c);
				if (s->commits[s->ncommits_listed])
					s->ncommits_listed++;
				git_commit_free(c);
			}
		}
	}
	git_revwalk_free(walk);
	if (with_diffstat && git_oid_cmp(&s->tip, &t->base))
		err = diffstat(s, repo->git, &t->base, &s->tip);
	return err;
}

