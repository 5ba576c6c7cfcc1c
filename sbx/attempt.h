/* SPDX-License-Identifier: MIT */
/*
 * Attempts: several sessions of one task from one start (its base commit
 * and, on our VMM, one warm base), compared side by side, one of them
 * chosen.  docs/design.md "Attempts".
 *
 *   refs/sbx/<id>/<n>            attempt n's result (never a branch); it
 *                                starts at the base
 *   refs/heads/sbx/<id>          the chosen attempt's result: the first
 *                                that succeeded, until `git sbx pick`
 *   <task dir>/attempts/<n>/     attempt n's own session: record (a task
 *                                record of the attempt's view), lock, log,
 *                                console.log, disk.qcow2, audit.jsonl,
 *                                checks/
 *
 * The task record keeps one `attempt` line per attempt and the chosen one
 * (sbx/task.h struct sbx_task_attempt).  An attempt 1 made of a task that
 * ran before it had attempts (`git sbx retry` of it) keeps the task's own
 * files in the task's directory.
 *
 * Each attempt runs in a process of its own, forked by the one that holds
 * the task's lock: a session (sbx/task-run.h) on the attempt's view of the
 * task, whose import moves refs/sbx/<id>/<n> instead of the branch.  Up to
 * `sbx.parallel` run at once (default: what the host's CPUs and available
 * memory allow for the task's VM size); the rest start as the first ones
 * end, each with a new restore of the same warm base.
 */
#ifndef SBX_SBX_ATTEMPT_H
#define SBX_SBX_ATTEMPT_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/task-run.h"

struct sbx_repo;
struct sbx_task;

/* "refs/sbx/<id>/<n>" into buf. */
void sbx_attempt_ref(char *buf, size_t len, unsigned id, unsigned n);
/*
 * Where attempt n keeps a file of its own ("log", "console.log", ...):
 * <task dir>/attempts/<n>/<name>, or the task's own for an attempt 1 that
 * was the task's single run.  malloc'd; NULL when out of memory.
 */
char *sbx_attempt_file(const struct sbx_task *task, unsigned n, const char *name);
/*
 * The task as attempt n's session sees it: same id, base, branch name (in
 * the guest), agent and image; the attempt's prompt; its own directory
 * and no worktree; result_ref refs/sbx/<id>/<n>; state created.
 */
int sbx_attempt_view(struct sbx_task **out, const struct sbx_task *task, unsigned n);

/*
 * How many attempts run at once: git config sbx.parallel (>= 1), else the
 * host's online CPUs and MemAvailable over the VM's memory (at least 1),
 * never more than `count`.  `why` says which, for the output.
 */
int sbx_attempts_parallel(unsigned *out, char *why, size_t whylen, struct sbx_repo *repo,
			  uint64_t vm_memory, unsigned count);

struct sbx_attempts_opts {
	/*
	 * As for one session (agent, image, machine, timeout, backend, rules,
	 * interrupt); its output and progress callbacks are not used: these
	 * are.
	 */
	const struct sbx_task_run_opts *run;
	unsigned count;			/* attempts to add, >= 1 */
	const char *prompt;		/* theirs; NULL: the task's */
	unsigned parallel;		/* 0: sbx_attempts_parallel() */
	/* A progress line of attempt n (0: of the task, e.g. "3 attempts, 2 at a time"). */
	void (*progress)(void *opaque, unsigned n, const char *what);
	/*
	 * The agent's output of attempt n on fd 1 or 2, a line at a time
	 * (ending in a newline; a line over 4 KiB comes in pieces that do).
	 * Called from attempt n's own process.
	 */
	int (*output)(void *opaque, unsigned n, int fd, const uint8_t *line, size_t len);
	void *opaque;
};
#define SBX_ATTEMPTS_OPTS_INIT { NULL, 1, NULL, 0, NULL, NULL, NULL }

struct sbx_attempts_result {
	unsigned first, last;		/* the attempts this run added */
	unsigned parallel;
	unsigned succeeded;		/* of those: done, the agent exited 0 */
	unsigned chosen;		/* the task's chosen attempt after the run; 0: none */
	bool worktree_kept;		/* the worktree had changes in the way of the chosen one */
};

/*
 * Add o->count attempts to a task and run them: a new task (state
 * created; its branch is at the base) or one that ran (a retry: done,
 * failed, cancelled or checks failed; one that ran without attempts
 * becomes attempt 1 first).  Holds the task's lock throughout.  The first
 * attempt that succeeds (done, agent exit status 0) becomes the chosen
 * one unless one is chosen already: sbx/<id> and the worktree move to it;
 * when none succeeds, the first whose result came back.  The task ends
 * done when one is chosen, else failed (or cancelled after an interrupt).
 * Returns 0 when the attempts ran (whatever their outcome), or an error
 * that kept them from running.
 */
int sbx_task_run_attempts(struct sbx_attempts_result *res, struct sbx_repo *repo,
			  struct sbx_task *task, const struct sbx_attempts_opts *o);

/*
 * `git sbx pick`: move sbx/<id> (and the worktree) to attempt n's result
 * and record it as picked.  Refused while the task runs (SBX_ELOCKED),
 * when attempt n has no result (SBX_ENOTFOUND), and when the worktree has
 * uncommitted changes to tracked files or files in the way or is not on
 * sbx/<id>, and, unless `force`, when sbx/<id> is at a commit that is
 * neither the base nor any attempt's (commits of the user's own)
 * (SBX_EEXISTS); nothing moves then.  *moved is false when sbx/<id> was
 * there already.
 */
int sbx_attempt_pick(bool *moved, struct sbx_repo *repo, struct sbx_task *task, unsigned n,
		     bool force);
/*
 * What the attempts' process does when one succeeds: sbx/<id> from where
 * it is (refused, SBX_EEXISTS, when that is neither the base nor an
 * attempt's result: commits of the user's) to attempt n's result, and the
 * worktree after it (a safe checkout:
 * the user's edits in the way keep it as it was, *worktree_kept, as after
 * an import); the record says n is chosen (not picked).  The caller holds
 * the task's lock and saves the record.
 */
int sbx_attempt_choose(bool *worktree_kept, struct sbx_repo *repo, struct sbx_task *task, unsigned n);
/* Is `id` the task's base or an attempt's result (moving sbx/<id> from it loses nothing)? */
bool sbx_attempt_known_tip(const struct sbx_task *task, const git_oid *id);
/* The task's step times, start note and warm base from attempt n's session (for show). */
void sbx_attempt_copy_session(struct sbx_task *task, unsigned n);

/* ---- comparing (sbx/attempt-cmp.c) ---- */

/* One file that an attempt changed (base..its result). */
struct sbx_attempts_file {
	char *path;
	/*
	 * For each attempt (index n - 1): a group number, attempts with the
	 * same content at this path having the same one; 0 = as at the base
	 * (unchanged); -1 = no result to compare.
	 */
	int *group;
	unsigned ngroups;		/* distinct changed contents */
	bool agree;			/* every attempt with a result has the same content */
};

struct sbx_attempts_row {
	unsigned n;
	bool has_tip;
	git_oid tip;
	size_t commits, files_changed, insertions, deletions;
};

struct sbx_attempts_cmp {
	struct sbx_attempts_row *rows;	/* one per attempt */
	size_t nrows;
	struct sbx_attempts_file *files;	/* sorted by path */
	size_t nfiles;
	bool files_truncated;		/* more than SBX_ATTEMPTS_MAX_FILES paths */
};
#define SBX_ATTEMPTS_MAX_FILES 10000

/* The attempts side by side: commits and diffstat of each, and the files. */
int sbx_attempts_compare(struct sbx_attempts_cmp *out, struct sbx_repo *repo,
			 const struct sbx_task *task);
void sbx_attempts_cmp_clear(struct sbx_attempts_cmp *c);

#endif
