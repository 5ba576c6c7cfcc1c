/* SPDX-License-Identifier: MIT */
/*
 * Rewind (docs/design.md, "Checkpoints"): move a task back to one of its
 * checkpoints.  sbx/<id> goes to the checkpoint's commit (the reflog says
 * "sbx: rewind to checkpoint N"), the worktree follows (a safe checkout:
 * sbx_task_update_worktree), and the checkpoint becomes the task's current
 * state, which `git sbx continue` restores (its disk layer and memory).
 * Later checkpoints stay until gc: a rewind can be undone by another.
 */
#ifndef SBX_SBX_REWIND_H
#define SBX_SBX_REWIND_H

#include <git2.h>
#include <stdbool.h>

struct sbx_repo;
struct sbx_task;

struct sbx_rewind_result {
	git_oid from, to;	/* where sbx/<id> was and is */
	unsigned from_ckpt;	/* the checkpoint that was current; 0 none */
	bool worktree_kept;	/* the user's changes were in the way: see sbx_task_update_worktree */
};

/*
 * SBX_ELOCKED while the task runs; SBX_ENOTFOUND for a checkpoint the task
 * does not have; SBX_ENOTFOUND too when the checkpoint's commit is not in
 * the repository (the agent replaced it before the import: amend, rebase).
 */
int sbx_task_rewind(struct sbx_rewind_result *res, struct sbx_repo *repo, struct sbx_task *t,
		    unsigned ckpt);

#endif
