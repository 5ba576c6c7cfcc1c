// SPDX-License-Identifier: MIT
/* Rewind a task to a checkpoint (sbx/rewind.h). */
#include "sbx/rewind.h"
#include "sbx/checkpoint.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sbx_task_rewind(struct sbx_rewind_result *res, struct sbx_repo *repo, struct sbx_task *t,
		    unsigned ckpt)
{
	struct sbx_ckpt c;
	git_reference *ref = NULL, *moved = NULL;
	git_commit *commit = NULL;
	char refname[64], msg[128], *lock_path = sbx_path_join(t->dir, "lock");
	int lock = -1, err, rc;

	memset(res, 0, sizeof(*res));
	if (!lock_path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_lock(&lock, lock_path, true, false);
	free(lock_path);
	if (err == SBX_ELOCKED)
		return sbx_error_set(err, "task %u is running: rewind it when it has stopped", t->id);
	if (err)
		return err;
	if ((err = sbx_ckpt_read(&c, t->dir, ckpt))) {
		if (err == SBX_ENOTFOUND)
			sbx_error_set(err, "task %u has no checkpoint %u (`git sbx checkpoints %u` "
				      "lists them)", t->id, ckpt, t->id);
		goto out;
	}
	err = sbx_ckpt_current(&res->from_ckpt, t->dir);
	if (err == SBX_ENOTFOUND)
		err = 0;
	if (err)
		goto out;
	if (git_oid_fromstr(&res->to, c.head) < 0 ||
	    git_commit_lookup(&commit, repo->git, &res->to) < 0) {
		err = sbx_error_set(SBX_ENOTFOUND, "checkpoint %u's commit %.12s is not in this "
				    "repository (the agent replaced it before its work was imported)",
				    ckpt, c.head);
		goto out;
	}
	snprintf(refname, sizeof(refname), "refs/heads/%s", t->branch);
	if (git_reference_lookup(&ref, repo->git, refname) < 0 || !git_reference_target(ref)) {
		err = sbx_error_set(SBX_ENOTFOUND, "the task's branch '%s' is gone", t->branch);
		goto out;
	}
	res->from = *git_reference_target(ref);
	snprintf(msg, sizeof(msg), "sbx: rewind to checkpoint %u", ckpt);
	if (git_oid_cmp(&res->from, &res->to)) {
		rc = git_reference_create_matching(&moved, repo->git, refname, &res->to, 1,
						   &res->from, msg);
		if (rc == GIT_EMODIFIED) {
			err = sbx_error_set(SBX_ELOCKED, "branch '%s' moved meanwhile", t->branch);
			goto out;
		}
		if (rc < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot move the task's branch");
			goto out;
		}
		if ((err = sbx_task_update_worktree(&res->worktree_kept, t, &res->from, &res->to)))
			goto out;
	}
	{
		/* Tests: a window between the branch and the current checkpoint (kill -9 lands in it). */
		const char *d = getenv("SBX_TEST_REWIND_DELAY_MS");

		if (d)
			usleep((useconds_t)strtoul(d, NULL, 10) * 1000);
	}
	t->has_result = true;
	t->result = res->to;
	if (!(err = sbx_task_save(t)))
		err = sbx_ckpt_set_current(t->dir, ckpt);
out:
	git_commit_free(commit);
	git_reference_free(ref);
	git_reference_free(moved);
	sbx_unlock(lock);
	return err;
}
