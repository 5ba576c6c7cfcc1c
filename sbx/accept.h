/* SPDX-License-Identifier: MIT */
/*
 * The end of a review: accept a task's branch into the current branch,
 * reject it, or apply its changes to the working tree uncommitted.
 *
 * Nothing is half-done.  Accept works in memory first (libgit2's merge,
 * cherry-pick and tree writes only add objects): a dirty working tree, a
 * conflict, or an untracked file in the way is refused before the index,
 * the working tree or any ref is touched.  Then the commits are written,
 * the branch moves with a reflog entry ("sbx accept <id> (<mode>)"), only
 * if it still points where it did, and the working tree and index follow
 * with a safe checkout (the branch moves back if that fails).  Last, the
 * record says who accepted it, when, how and where it went.
 */
#ifndef SBX_SBX_ACCEPT_H
#define SBX_SBX_ACCEPT_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>

struct sbx_repo;
struct sbx_task;

enum sbx_accept_mode {
	SBX_ACCEPT_MERGE,	/* a merge commit, always (a pull request's merge button) */
	SBX_ACCEPT_SQUASH,	/* one new commit holding the task's changes */
	SBX_ACCEPT_REBASE,	/* the task's commits replayed on the branch (no merges), then a fast-forward */
	SBX_ACCEPT_FF_ONLY,	/* only when the branch is an ancestor of sbx/<id> */
};

const char *sbx_accept_mode_name(enum sbx_accept_mode m);
/* "merge", "squash", "rebase", "ff-only"; SBX_EINVAL otherwise. */
int sbx_accept_mode_parse(enum sbx_accept_mode *out, const char *s);
/* git config sbx.acceptMode, default merge; SBX_EINVAL for a bad value. */
int sbx_accept_mode_config(enum sbx_accept_mode *out, struct sbx_repo *repo);

struct sbx_accept_result {
	char into[256];		/* the branch, "refs/heads/main" */
	git_oid old_head, new_head;
	size_t ncommits;	/* commits written: 1 for merge and squash, those replayed by rebase */
	bool fast_forward;	/* the branch moved to sbx/<id> itself */
	bool up_to_date;	/* the branch held the task's commits already; nothing moved */
};

/*
 * Accept `task` into the branch HEAD is on (see above).  SBX_EEXISTS for
 * local changes, an untracked file in the way or a conflict (the message
 * names the paths); SBX_EINVAL for a detached HEAD, a task without commits
 * or a fast-forward that is not possible; SBX_ELOCKED while it runs.
 */
int sbx_task_accept(struct sbx_accept_result *res, struct sbx_repo *repo,
		    struct sbx_task *task, enum sbx_accept_mode mode);
/* State "rejected", with who and when.  The branch stays (cmd/accept.c's --rm removes it). */
int sbx_task_reject(struct sbx_repo *repo, struct sbx_task *task);
/*
 * The task's changes (base..sbx/<id>) into the working tree, not the
 * index, like `git apply`: refused before anything is written when a path
 * it touches has local changes, a file it adds exists, or the patch does
 * not apply.  *nfiles: the paths it changed.
 */
int sbx_task_apply(size_t *nfiles, struct sbx_repo *repo, const struct sbx_task *task);

/*
 * "Name <email>" and the time of the person running us, as git makes a
 * committer: GIT_COMMITTER_NAME/EMAIL/DATE over user.name/email and now
 * (DATE as "<seconds> <+hhmm>" or "@<seconds> <+hhmm>").
 */
int sbx_committer(git_signature **out, struct sbx_repo *repo);

#endif
