// SPDX-License-Identifier: MIT
/*
 * `git sbx pick ID N` (sbx/attempt.h): sbx/<id> and its worktree to attempt
 * n's result, worked out before anything moves.
 */
#include "sbx/attempt.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "sbx/task-int.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Paths a safe checkout would not write, collected for the message. */
struct in_the_way {
	char names[512];
	size_t len, count;
};

static int note_conflict(git_checkout_notify_t why, const char *path, const git_diff_file *baseline,
			 const git_diff_file *target, const git_diff_file *workdir, void *payload)
{
	struct in_the_way *w = payload;

	(void)why;
	(void)baseline;
	(void)target;
	(void)workdir;
	if (w->count++ < 3 && w->len < sizeof(w->names))
		w->len += (size_t)snprintf(w->names + w->len, sizeof(w->names) - w->len, "%s'%s'",
					   w->len ? ", " : "", path);
	return 0;
}

/* Tracked files changed in the worktree (staged or not): their names. */
static int local_changes(struct in_the_way *w, git_repository *wrepo)
{
	git_status_options so;
	git_status_list *list = NULL;
	size_t i;

	git_status_options_init(&so, GIT_STATUS_OPTIONS_VERSION);
	so.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	so.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	if (git_status_list_new(&list, wrepo, &so) < 0)
		return sbx_git_error(SBX_ERROR, "cannot read the worktree's status");
	for (i = 0; i < git_status_list_entrycount(list); i++) {
		const git_status_entry *e = git_status_byindex(list, i);
		const git_diff_delta *d = e->head_to_index ? e->head_to_index : e->index_to_workdir;

		if (e->status == GIT_STATUS_CURRENT || !d)
			continue;
		note_conflict(GIT_CHECKOUT_NOTIFY_DIRTY, d->new_file.path ? d->new_file.path : d->old_file.path,
			      NULL, NULL, NULL, w);
	}
	git_status_list_free(list);
	return 0;
}

/*
 * The worktree must be on the branch with no changes to tracked files, and
 * a checkout from `from` to `to` must write nothing over an untracked file.
 */
static int check_worktree(git_repository *wrepo, const struct sbx_task *t, const git_oid *from,
			  const git_oid *to)
{
	struct in_the_way w = { .len = 0 };
	git_checkout_options co;
	git_reference *head = NULL;
	git_commit *fc = NULL, *tc = NULL;
	git_tree *ft = NULL;
	char name[64];
	int err = 0, rc;

	snprintf(name, sizeof(name), "refs/heads/%s", t->branch);
	if (git_repository_head(&head, wrepo) < 0 || git_reference_type(head) != GIT_REFERENCE_DIRECT ||
	    strcmp(git_reference_name(head), name)) {
		git_reference_free(head);
		return sbx_error_set(SBX_EEXISTS, "the task's worktree '%s' is not on %s (git switch %s there first)",
				     t->worktree, t->branch, t->branch);
	}
	git_reference_free(head);
	if ((err = local_changes(&w, wrepo)))
		return err;
	if (w.count)
		return sbx_error_set(SBX_EEXISTS, "the task's worktree has uncommitted changes (%s%s): "
				     "commit or discard them first", w.names, w.count > 3 ? ", ..." : "");
	if (git_commit_lookup(&fc, wrepo, from) < 0 || git_commit_lookup(&tc, wrepo, to) < 0 ||
	    git_commit_tree(&ft, fc) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot read the attempt's result");
		goto out;
	}
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_SAFE | GIT_CHECKOUT_DRY_RUN;
	co.baseline = ft;
	co.notify_flags = GIT_CHECKOUT_NOTIFY_CONFLICT;
	co.notify_cb = note_conflict;
	co.notify_payload = &w;
	rc = git_checkout_tree(wrepo, (const git_object *)tc, &co);
	if (rc == GIT_ECONFLICT || w.count)
		err = sbx_error_set(SBX_EEXISTS, "files in the task's worktree are in the way (%s%s): "
				    "move them away first", w.names, w.count > 3 ? ", ..." : "");
	else if (rc < 0)
		err = sbx_git_error(SBX_ERROR, "cannot check the task's worktree");
out:
	git_tree_free(ft);
	git_commit_free(fc);
	git_commit_free(tc);
	return err;
}

int sbx_attempt_pick(bool *moved, struct sbx_repo *repo, struct sbx_task *t, unsigned n, bool force)
{
	const struct sbx_task_attempt *a = sbx_task_attempt_get(t, n);
	git_repository *wrepo = NULL;
	git_reference *ref = NULL;
	char name[64], msg[64], *lockp = task_file(t, "lock");
	git_oid old;
	bool kept = false;
	int lock = -1, err;

	*moved = false;
	if (!lockp)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_lock(&lock, lockp, true, false);
	free(lockp);
	if (err == SBX_ELOCKED)
		return sbx_error_set(SBX_ELOCKED, "task %u is running; pick when it has ended", t->id);
	if (err)
		return err;
	if (!t->nattempts) {
		err = sbx_error_set(SBX_ENOTFOUND, "task %u has no attempts (git sbx retry %u adds some)",
				    t->id, t->id);
		goto out;
	}
	if (!a) {
		err = sbx_error_set(SBX_ENOTFOUND, "task %u has no attempt %u (it has 1 to %zu)", t->id, n,
				    t->nattempts);
		goto out;
	}
	if (!a->has_tip) {
		err = sbx_error_set(SBX_ENOTFOUND, "attempt %u of task %u has no result (it %s)", n, t->id,
				    sbx_task_state_name(a->state));
		goto out;
	}
	if (t->state == SBX_TASK_ACCEPTED || t->state == SBX_TASK_REJECTED || t->state == SBX_TASK_REMOVING) {
		err = sbx_error_set(SBX_EINVAL, "task %u is %s", t->id, sbx_task_state_name(t->state));
		goto out;
	}
	snprintf(name, sizeof(name), "refs/heads/%s", t->branch);
	if (git_reference_name_to_id(&old, repo->git, name) < 0) {
		err = sbx_error_set(SBX_ENOTFOUND, "task %u's branch '%s' is gone", t->id, t->branch);
		goto out;
	}
	if (!force && !sbx_attempt_known_tip(t, &old)) {
		err = sbx_error_set(SBX_EEXISTS, "%s is at %.12s, which no attempt made (commits of yours?); "
				    "keep them on another branch first, then pick with --force",
				    t->branch, git_oid_tostr_s(&old));
		goto out;
	}
	if (git_oid_cmp(&old, &a->tip)) {
		if (t->worktree) {
			if (git_repository_open(&wrepo, t->worktree) < 0) {
				err = sbx_git_error(SBX_ERROR, "cannot open the task's worktree");
				goto out;
			}
			if ((err = check_worktree(wrepo, t, &old, &a->tip)))
				goto out;
		}
		snprintf(msg, sizeof(msg), "sbx pick %u: attempt %u", t->id, n);
		if (git_reference_create_matching(&ref, repo->git, name, &a->tip, 1, &old, msg) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot move the task's branch");
			goto out;
		}
		git_reference_free(ref);
		*moved = true;
		if ((err = sbx_task_update_worktree(&kept, t, &old, &a->tip)))
			goto out;
		if (kept) {
			err = sbx_error_set(SBX_EEXISTS, "the worktree changed while it was checked; %s moved, "
					    "the worktree is detached at the old result", t->branch);
			goto out;
		}
	}
	t->chosen = n;
	t->picked = true;
	t->has_result = true;
	t->result = a->tip;
	sbx_attempt_copy_session(t, n);
	err = sbx_task_save(t);
out:
	git_repository_free(wrepo);
	sbx_unlock(lock);
	return err;
}
