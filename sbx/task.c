// SPDX-License-Identifier: MIT
/*
 * Task ids, records on disk, creating a task, its run lock and its states.
 * Layout and rules in sbx/task.h; the record format is sbx/task-record.c,
 * the worktree sbx/task-worktree.c, the import of results
 * sbx/task-import.c, summaries sbx/task-summary.c, removal and gc
 * sbx/task-gc.c.
 */
#include "sbx/task.h"
#include "sbx/task-int.h"
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

int task_open_dir(struct sbx_task **out, const char *dir, unsigned id)
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
	err = task_open_dir(out, dir, id);
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
		if ((err = task_add_worktree(repo, t)))
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
