// SPDX-License-Identifier: MIT
/*
 * A task's host worktree (sbx/task.h): made with the task, brought from one
 * tip to the next after an import or a pick, pruned with the task; and the
 * branch's deletion.
 */
#include "sbx/task.h"
#include "sbx/task-int.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "util/error.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>

int task_add_worktree(struct sbx_repo *repo, struct sbx_task *t)
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
