// SPDX-License-Identifier: MIT
/* Removing tasks, and cleaning up after crashes (git sbx rm, git sbx gc). */
#include "sbx/task.h"
#include "sbx/task-int.h"
#include "sbx/bundle.h"
#include "sbx/checkpoint.h"
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

/* ---- removing ---- */

static int worktree_dirty(bool *dirty, const char *path)
{
	git_status_options sopts;
	git_status_list *st = NULL;
	git_repository *w = NULL;

	*dirty = false;
	if (!task_path_exists(path))
		return 0;
	if (git_repository_open(&w, path) < 0)
		return 0;	/* not a worktree any more: nothing of the user's to lose */
	git_status_options_init(&sopts, GIT_STATUS_OPTIONS_VERSION);
	sopts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
	if (git_status_list_new(&st, w, &sopts) < 0) {
		git_repository_free(w);
		return sbx_git_error(SBX_ERROR, "cannot read the worktree's status");
	}
	*dirty = git_status_list_entrycount(st) > 0;
	git_status_list_free(st);
	git_repository_free(w);
	return 0;
}

/* refs/sbx/<id>/...: the attempts' results and rejected ones. */
static int delete_task_refs(struct sbx_repo *repo, unsigned id)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	char glob[64];
	int err = 0, rc;

	snprintf(glob, sizeof(glob), "refs/sbx/%u/*", id);
	if (git_reference_iterator_glob_new(&it, repo->git, glob) < 0)
		return sbx_git_error(SBX_ERROR, "cannot list the task's refs");
	while (!err && (rc = git_reference_next(&ref, it)) == 0) {
		if (git_reference_delete(ref) < 0)
			err = sbx_git_error(SBX_ERROR, "cannot delete the task's refs");
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	return err;
}

static int remove_locked(bool *branch_kept, struct sbx_repo *repo, struct sbx_task *t,
			 unsigned flags)
{
	int err;

	*branch_kept = (flags & SBX_TASK_RM_KEEP_BRANCH) != 0;
	if (t->state != SBX_TASK_REMOVING) {
		t->state = SBX_TASK_REMOVING;
		if ((err = sbx_task_save(t)))
			return err;
	}
	if ((err = task_prune_worktree(repo, t->id, t->worktree)))
		return sbx_error_prefix(err, "cannot remove task %u's worktree", t->id);
	if (!(flags & SBX_TASK_RM_KEEP_BRANCH) && (err = task_delete_branch(branch_kept, repo, t->branch)))
		return err;
	if (!(flags & SBX_TASK_RM_KEEP_BRANCH) && (err = delete_task_refs(repo, t->id)))
		return err;
	return sbx_rmtree(t->dir);
}

int sbx_task_remove(bool *branch_kept, struct sbx_repo *repo, unsigned id, unsigned flags)
{
	struct sbx_task *t = NULL;
	int lock = -1, err;
	bool dirty;

	*branch_kept = false;
	if ((err = task_lock_repo(&lock, repo)))
		return err;
	err = sbx_task_open(&t, repo, id);
	if (err && err != SBX_ENOTFOUND && (flags & SBX_TASK_RM_FORCE)) {
		/* An unreadable record: remove what a task with this id must have. */
		pr_warn("%s; removing it by name", sbx_error());
		t = calloc(1, sizeof(*t));
		if (!t || asprintf(&t->branch, "sbx/%u", id) < 0 || !(t->dir = task_dir(repo, id)) ||
		    (!git_repository_is_bare(repo->git) &&
		     asprintf(&t->worktree, "%s/sbx/worktrees/%u", repo->commondir, id) < 0)) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		t->id = id;
		t->state = SBX_TASK_REMOVING;	/* nothing to save: the record goes */
		err = 0;
	}
	if (err)
		goto out;
	if (!(flags & SBX_TASK_RM_FORCE)) {
		if (sbx_task_running(t)) {
			err = sbx_error_set(SBX_ELOCKED, "task %u is running", id);
			goto out;
		}
		if ((err = worktree_dirty(&dirty, t->worktree)))
			goto out;
		if (dirty) {
			err = sbx_error_set(SBX_EEXISTS, "task %u's worktree '%s' has local changes",
					    id, t->worktree);
			goto out;
		}
	}
	err = remove_locked(branch_kept, repo, t, flags);
out:
	sbx_task_free(t);
	sbx_unlock(lock);
	return err;
}

/* ---- gc ---- */

static bool dead_temp(const char *name)
{
	const char *p = strstr(name, ".tmp.");
	char *end;
	long pid;

	if (!p)
		return false;
	pid = strtol(p + 5, &end, 10);
	return !*end && !sbx_pid_alive(pid);
}

static int gc_temp_files(struct sbx_task_gc_stats *st, const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char *p;

		if (!dead_temp(e->d_name) || !(p = sbx_path_join(dir, e->d_name)))
			continue;
		if (!unlink(p))
			st->temp_files++;
		free(p);
	}
	closedir(d);
	return 0;
}

/* The same in each attempt's directory. */
static void gc_attempt_temp_files(struct sbx_task_gc_stats *st, const char *task_dir)
{
	char *adir = sbx_path_join(task_dir, "attempts");
	struct dirent *e;
	DIR *d = adir ? opendir(adir) : NULL;

	while (d && (e = readdir(d))) {
		char *p;

		if (e->d_name[0] == '.' || !(p = sbx_path_join(adir, e->d_name)))
			continue;
		gc_temp_files(st, p);
		free(p);
	}
	if (d)
		closedir(d);
	free(adir);
}

static int gc_tasks(struct sbx_task_gc_stats *st, struct sbx_repo *repo)
{
	char *tasks = task_sbx_dir(repo, "tasks");
	struct dirent *e;
	DIR *d;
	int err = 0;

	if (!tasks)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	d = opendir(tasks);
	while (!err && d && (e = readdir(d))) {
		struct sbx_task *t = NULL;
		char *dir, *rec;
		unsigned id;
		bool kept;

		if (!task_id_name(e->d_name, &id) || !(dir = sbx_path_join(tasks, e->d_name)))
			continue;
		gc_temp_files(st, dir);
		rec = sbx_path_join(dir, "record");
		if (rec && !task_path_exists(rec)) {
			/* A create that died before its record: nothing refers to it. */
			if (!sbx_rmtree(dir))
				st->stray_dirs++;
		} else if (sbx_task_open(&t, repo, id) == 0) {
			if (t->state == SBX_TASK_REMOVING) {
				/* The branch stays: we no longer know if the user asked to keep it. */
				if (!remove_locked(&kept, repo, t, SBX_TASK_RM_KEEP_BRANCH))
					st->finished_removals++;
			} else if (t->state == SBX_TASK_RUNNING && !sbx_task_running(t)) {
				size_t i;

				t->state = SBX_TASK_FAILED;
				free(t->error);
				t->error = strdup("interrupted: the process running the task died");
				if (!t->finished_ms)
					t->finished_ms = task_now_ms();
				/* its attempts that were running or waiting died with it */
				for (i = 0; i < t->nattempts; i++) {
					struct sbx_task_attempt *a = &t->attempts[i];

					if (a->state != SBX_TASK_RUNNING && a->state != SBX_TASK_CREATED)
						continue;
					a->state = SBX_TASK_FAILED;
					free(a->error);
					a->error = strdup("interrupted: the process running the task died");
				}
				if (!(err = sbx_task_save(t)))
					st->interrupted++;
			}
			gc_attempt_temp_files(st, dir);
			/* What a checkpoint cut off, or rewinds and drops left, when the task is idle. */
			if (!sbx_task_running(t)) {
				struct sbx_ckpt_gc_result cr;

				if (sbx_ckpt_gc(&cr, dir, NULL))
					pr_warn("task %u's checkpoints: %s", id, sbx_error());
				else
					st->checkpoint_files += cr.temp_removed + cr.layers_removed +
								cr.memory_removed;
			}
		} else {
			pr_warn("%s", sbx_error());
		}
		sbx_task_free(t);
		free(rec);
		free(dir);
	}
	if (d)
		closedir(d);
	free(tasks);
	return err;
}

static int gc_worktrees(struct sbx_task_gc_stats *st, struct sbx_repo *repo)
{
	git_strarray names = { 0 };
	char *wtdir = task_sbx_dir(repo, "worktrees");
	struct dirent *e;
	size_t i;
	DIR *d;

	if (!wtdir)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	/* git's admin dirs for our worktrees whose task is gone, or whose files are. */
	if (git_worktree_list(&names, repo->git) == 0) {
		for (i = 0; i < names.count; i++) {
			git_worktree *wt = NULL;
			struct sbx_task *t = NULL;
			unsigned id;

			if (strncmp(names.strings[i], "sbx-", 4) || !task_id_name(names.strings[i] + 4, &id))
				continue;
			if (sbx_task_open(&t, repo, id) == SBX_ENOTFOUND) {
				char *path;

				if (asprintf(&path, "%s/%u", wtdir, id) < 0)
					path = NULL;
				task_prune_worktree(repo, id, path);
				free(path);
				st->pruned_worktrees++;
			} else if (git_worktree_lookup(&wt, repo->git, names.strings[i]) == 0 &&
				   git_worktree_validate(wt) < 0) {
				git_worktree_prune_options popts;

				git_worktree_prune_options_init(&popts, GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
				if (git_worktree_prune(wt, &popts) == 0)
					st->pruned_worktrees++;
			}
			git_worktree_free(wt);
			sbx_task_free(t);
		}
		git_strarray_dispose(&names);
	}
	/* Worktree directories no task owns. */
	d = opendir(wtdir);
	while (d && (e = readdir(d))) {
		struct sbx_task *t = NULL;
		unsigned id;
		char *p;

		if (!task_id_name(e->d_name, &id))
			continue;
		if (sbx_task_open(&t, repo, id) == SBX_ENOTFOUND && (p = sbx_path_join(wtdir, e->d_name))) {
			if (!sbx_rmtree(p))
				st->stray_dirs++;
			free(p);
		}
		sbx_task_free(t);
	}
	if (d)
		closedir(d);
	free(wtdir);
	return 0;
}

int sbx_task_gc(struct sbx_task_gc_stats *st, struct sbx_repo *repo)
{
	char *sbx = task_sbx_dir(repo, NULL);
	unsigned q = 0;
	int lock = -1, err;

	memset(st, 0, sizeof(*st));
	if (!sbx)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if ((err = task_lock_repo(&lock, repo)))
		goto out;
	gc_temp_files(st, sbx);
	if ((err = gc_tasks(st, repo)) || (err = gc_worktrees(st, repo)))
		goto out;
	if ((err = sbx_bundle_gc(repo->git, &q)))
		goto out;
	st->temp_files += q;
out:
	sbx_unlock(lock);
	free(sbx);
	return err;
}
