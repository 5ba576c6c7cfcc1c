/* SPDX-License-Identifier: MIT */
/*
 * Tasks: an id, a record, a branch and a host worktree.
 *
 * Layout under the repository's common dir (.git for a plain repository):
 *
 *   sbx/lock                 flock()ed while ids are handed out, records
 *                            created or removed, and by gc
 *   sbx/next-id              the next id, decimal ("4\n"); ids only grow
 *   sbx/tasks/<id>/record    the task record (docs/formats.md "Task record")
 *   sbx/tasks/<id>/lock      flock()ed by the process running the task
 *   sbx/tasks/<id>/log       the agent's output (written by the session)
 *   sbx/tasks/<id>/audit.jsonl  the audit trail (sbx/audit.h)
 *   sbx/worktrees/<id>/      the host worktree, on branch sbx/<id>;
 *                            git's admin dir for it is worktrees/sbx-<id>
 *
 * Locks are flock()s: the kernel drops them when a process dies, so a crash
 * leaves a file behind but never a stale lock.  A record says "running" only
 * while its lock is held; `gc` marks the others failed.
 */
#ifndef SBX_SBX_TASK_H
#define SBX_SBX_TASK_H

#include <git2.h>
#include <stdbool.h>
#include <stdint.h>

struct sbx_repo;
struct sbx_bundle_import;

/* Version 2: one `step` line per session step, attempts (docs/formats.md); 1 still reads. */
#define SBX_TASK_RECORD_VERSION 2
#define SBX_TASK_RECORD_MAX (1u << 20)
#define SBX_TASK_PROMPT_MAX (512u << 10)
#define SBX_TASK_ID_MAX 999999999u
#define SBX_TASK_ATTEMPTS_MAX 64u

enum sbx_task_state {
	SBX_TASK_CREATED,	/* record, branch and worktree made; no VM yet */
	SBX_TASK_RUNNING,	/* a session holds the task's lock */
	SBX_TASK_DONE,		/* the agent exited and its result was imported */
	SBX_TASK_FAILED,	/* see `error` */
	SBX_TASK_CANCELLED,	/* stopped by the user */
	SBX_TASK_REMOVING,	/* `rm` started; gc finishes it */
	SBX_TASK_ACCEPTED,	/* `git sbx accept` took it into a branch (sbx/accept.h) */
	SBX_TASK_REJECTED,	/* `git sbx reject` */
	SBX_TASK_CHECKS_FAILED,	/* sbx.gate=block and a check failed: the branch did not move */
};

/*
 * The steps of a session (sbx/task-run.c), in the order they run, each
 * timed once.  Record names in sbx_task_step_name().
 */
enum sbx_task_step {
	SBX_STEP_START,		/* boot, or the restore of a warm base */
	SBX_STEP_TRANSFER_IN,	/* the CA, the base (or the commits since the warm base), sbx.setup */
	SBX_STEP_AGENT,
	SBX_STEP_TRANSFER_OUT,	/* the sweep, "sbx: uncommitted work", the result bundle */
	SBX_STEP_CHECKPOINT,	/* every checkpoint of the run (start, commits, exit): their time */
	SBX_STEP_STOP,		/* the VM powered off */
	SBX_STEP_IMPORT,	/* the result's objects verified and stored */
	SBX_STEP_GATE,		/* the checks in a fresh VM (sbx/gate.h) */
	SBX_STEP_PUBLISH,	/* the ref, the worktree, the record */
	SBX_STEP_COUNT
};
/* "start", "transfer-in", "agent", "checkpoint", "transfer-out", "stop", "import", "gate", "publish" */
const char *sbx_task_step_name(enum sbx_task_step s);
int sbx_task_step_parse(enum sbx_task_step *out, const char *name);

/*
 * One attempt of a task with several (sbx/attempt.h): what the task
 * record keeps of it.  Its result is refs/sbx/<id>/<n>; its files are
 * under <task dir>/attempts/<n>/ (an attempt 1 made from a task that ran
 * before it had attempts keeps the task's own).
 */
struct sbx_task_attempt {
	unsigned n;			/* 1.. */
	enum sbx_task_state state;	/* created, running, done, failed, cancelled, checks failed */
	int exit_status;		/* the agent's; -1: none */
	bool has_tip;
	git_oid tip;			/* its result (refs/sbx/<id>/<n>) */
	int64_t started_ms, finished_ms;	/* 0: not yet */
	uint64_t agent_ms;
	char warm[65];			/* the warm base it restored; "": it booted */
	char *prompt;			/* NULL: the task's */
	char *error;			/* why it failed; may be NULL */
};

/* The outcome of a run of the checks (sbx/gate.h), and of one check. */
enum sbx_check_status {
	SBX_CHECK_NONE,		/* no checks ran */
	SBX_CHECK_PASS,
	SBX_CHECK_FAIL,		/* a check exited non-zero */
	SBX_CHECK_ERROR,	/* a check could not run or finish (the VM, a timeout) */
};
const char *sbx_check_status_name(enum sbx_check_status s);
int sbx_check_status_parse(enum sbx_check_status *out, const char *s);

struct sbx_task {
	unsigned id;
	enum sbx_task_state state;
	char *prompt;
	git_oid base;
	char *branch;		/* "sbx/<id>" */
	char *worktree;		/* absolute path, or NULL (bare repository) */
	char *agent;		/* may be NULL */
	char *image;		/* may be NULL */
	int64_t created_ms, started_ms, finished_ms;	/* Unix time in ms; 0 = not yet */
	/*
	 * Time spent in each step of the session, ms, and which steps ran
	 * (bit 1 << step).  With `warm` set the start is the restore of that
	 * warm base.  A version 1 record's "timing" (boot, transfer in, agent,
	 * transfer out, import) reads as those five, each ran when not 0.
	 */
	uint64_t step_ms[SBX_STEP_COUNT];
	uint32_t steps_ran;
	unsigned cpus;		/* the VM's vCPUs and memory as asked (0: the defaults) */
	uint64_t memory;
	char *agent_command;	/* an --agent-cmd agent's command line (agent is "cmd"); else NULL */
	char *warm;		/* the warm base it restored (64 hex, sbx/warm.h); NULL: it booted */
	int64_t warm_created_ms;	/* when that warm base was built */
	uint64_t warm_build_ms;	/* this task built it first, taking this long; 0: it did not */
	char *start_note;	/* why it booted instead (QEMU, a failed restore); may be NULL */
	int exit_status;	/* the agent's; -1 = none yet */
	bool has_result;
	git_oid result;		/* the imported tip */
	char *error;		/* why it failed; may be NULL */
	/* `git sbx accept` / `reject` (sbx/accept.h); all unset before either */
	char *reviewer;		/* "Name <email>" of who accepted or rejected it */
	int64_t reviewed_ms;	/* when; 0 = not reviewed */
	char *accept_mode;	/* "merge", "squash", "rebase", "ff-only" */
	char *accept_into;	/* the ref it went into, "refs/heads/main" */
	bool has_accept_commit;
	git_oid accept_commit;	/* where that ref moved to */
	/*
	 * The last run of the checks (sbx/gate.h): its number n (0: none;
	 * <dir>/checks/<n>.result and .log), outcome and time.  A blocked
	 * result is refs/sbx/<id>/rejected-<n>.
	 */
	unsigned checks_run;
	enum sbx_check_status checks_status;
	uint64_t checks_ms;
	/*
	 * Attempts (sbx/attempt.h): none for a task run once.  `chosen` is the
	 * attempt sbx/<id> points at (0: none yet), `picked` when a user chose
	 * it (git sbx pick) rather than the first that succeeded.
	 */
	struct sbx_task_attempt *attempts;	/* attempts[i].n == i + 1 */
	size_t nattempts;
	unsigned chosen;
	bool picked;

	char *dir;		/* <commondir>/sbx/tasks/<id>; not stored */
	/*
	 * Not stored either: set on the view of one attempt that its session
	 * runs on (sbx_attempt_view()): the ref its import moves instead of
	 * refs/heads/<branch>, and its number.
	 */
	char *result_ref;
	unsigned attempt;
};

/* Record a step's time (and that it ran); `add` adds to what it has. */
void sbx_task_step_set(struct sbx_task *task, enum sbx_task_step s, uint64_t ms);
void sbx_task_step_add(struct sbx_task *task, enum sbx_task_step s, uint64_t ms);
static inline bool sbx_task_step_ran(const struct sbx_task *task, enum sbx_task_step s)
{
	return (task->steps_ran >> s) & 1;
}
/* Attempt n (1..nattempts) or NULL. */
struct sbx_task_attempt *sbx_task_attempt_get(const struct sbx_task *task, unsigned n);
/* Add attempt nattempts + 1 (state created; prompt NULL: the task's). */
int sbx_task_attempt_add(struct sbx_task_attempt **out, struct sbx_task *task, const char *prompt);

struct sbx_task_create_opts {
	const char *prompt;
	const git_oid *base;	/* NULL: HEAD */
	const char *agent;
	const char *image;
	bool no_worktree;	/* forced on in a bare repository */
};
#define SBX_TASK_CREATE_OPTS_INIT { NULL, NULL, NULL, NULL, false }

const char *sbx_task_state_name(enum sbx_task_state s);
/* "3" -> 3; SBX_EINVAL (with a message) for anything else. */
int sbx_task_parse_id(unsigned *out, const char *s);

/*
 * Allocate the next id and create the record (state created), branch
 * sbx/<id> at the base and the worktree.  On failure nothing is left.
 */
int sbx_task_create(struct sbx_task **out, struct sbx_repo *repo,
		    const struct sbx_task_create_opts *opts);
/* Read a task's record.  SBX_ENOTFOUND: no such task; SBX_ECORRUPT: a bad record. */
int sbx_task_open(struct sbx_task **out, struct sbx_repo *repo, unsigned id);
/* Write the record back (atomically: temp file, fsync, rename, fsync dir). */
int sbx_task_save(struct sbx_task *task);
void sbx_task_free(struct sbx_task *task);

/* Every task with a readable record, by id.  *nbad counts unreadable ones. */
int sbx_task_list(struct sbx_task ***out, size_t *n, size_t *nbad, struct sbx_repo *repo);
void sbx_task_list_free(struct sbx_task **tasks, size_t n);

/* "<dir>/log", malloc'd. */
char *sbx_task_log_path(const struct sbx_task *task);

/*
 * The task's run lock: a session holds it while the VM runs.  Start sets
 * state running and started_ms; finish sets state, exit status, error and
 * finished_ms, saves and releases the lock.
 */
int sbx_task_start(int *lock_fd, struct sbx_task *task);
int sbx_task_finish(int lock_fd, struct sbx_task *task, enum sbx_task_state state,
		    int exit_status, const char *error);
/* Is a process running the task (holding its lock)? */
bool sbx_task_running(const struct sbx_task *task);

/*
 * Import the guest's result bundle (sbx/bundle.h) from `fd` onto sbx/<id>,
 * then update the worktree and the record.  sbx.maxResultSize applies.
 * *worktree_kept is set when the worktree had local changes in the way; see
 * sbx_task_update_worktree().
 */
int sbx_task_import_fd(git_oid *tip, bool *worktree_kept, struct sbx_repo *repo,
		       struct sbx_task *task, int fd);
/*
 * The same in pieces, for a bundle arriving over the channel: begin (fills
 * *old_tip with where the branch is now), sbx_bundle_import_write() as bytes
 * arrive, then finish (verifies, moves the branch, updates the worktree and
 * the record; frees imp in every case).
 */
int sbx_task_import_begin(struct sbx_bundle_import **imp, git_oid *old_tip,
			  struct sbx_repo *repo, const struct sbx_task *task);
int sbx_task_import_finish(git_oid *tip, bool *worktree_kept, struct sbx_bundle_import *imp,
			   const git_oid *old_tip, struct sbx_task *task);
/*
 * The same finish in two steps, for the hook gate (sbx/gate.h): begin with
 * objects_only, then sbx_task_import_objects() verifies the result and
 * stores its objects, leaving the branch where it was (*tip: the result);
 * sbx_task_import_publish() then moves the branch from old_tip to tip
 * (refused if it moved meanwhile) and updates the worktree and the record.
 */
int sbx_task_import_begin_ext(struct sbx_bundle_import **imp, git_oid *old_tip,
			      struct sbx_repo *repo, const struct sbx_task *task, bool objects_only);
int sbx_task_import_objects(git_oid *tip, struct sbx_bundle_import *imp);
int sbx_task_import_publish(bool *worktree_kept, struct sbx_repo *repo, struct sbx_task *task,
			    const git_oid *old_tip, const git_oid *tip);
/*
 * Bring the worktree from `old_tip` to `new_tip` (the branch has moved
 * already).  A safe checkout: files the user changed in the worktree are
 * never overwritten.  When the user's changes are in the way, nothing is
 * written, the worktree's HEAD is detached at old_tip (so `git status`
 * there shows only the user's own changes) and *kept is set; the result is
 * still on the branch.
 */
int sbx_task_update_worktree(bool *kept, const struct sbx_task *task,
			     const git_oid *old_tip, const git_oid *new_tip);

enum sbx_task_rm_flags {
	SBX_TASK_RM_KEEP_BRANCH = 1 << 0,
	SBX_TASK_RM_FORCE = 1 << 1,	/* even if running or the worktree has changes */
};
/*
 * Remove a task: worktree (and git's admin dir for it), branch (unless
 * KEEP_BRANCH), record directory with its disk, log and lock.  With FORCE
 * a task whose record is unreadable is removed by the names it must have.
 * *branch_kept says whether the branch survived (asked, or checked out elsewhere).
 */
int sbx_task_remove(bool *branch_kept, struct sbx_repo *repo, unsigned id, unsigned flags);

struct sbx_task_gc_stats {
	unsigned finished_removals;	/* tasks left "removing" by a crash */
	unsigned interrupted;		/* "running" without a live session -> failed */
	unsigned stray_dirs;		/* task dirs without a record, worktree dirs without a task */
	unsigned pruned_worktrees;	/* git worktree admin dirs of gone tasks */
	unsigned temp_files;		/* *.tmp.<pid> of dead processes, bundle quarantines */
	unsigned checkpoint_files;	/* checkpoint temp dirs, layers and memory nothing needs */
};
int sbx_task_gc(struct sbx_task_gc_stats *stats, struct sbx_repo *repo);

/* What a task's branch holds now, for list and show. */
#define SBX_TASK_SUMMARY_MAX_COMMITS 100
struct sbx_task_summary {
	bool branch_exists;
	git_oid tip;			/* the branch, else the recorded result, else base */
	size_t ncommits;		/* base..tip */
	char **commits;			/* "<abbrev> <subject>", newest first, at most the max */
	size_t ncommits_listed;
	size_t files_changed, insertions, deletions;	/* with a diffstat */
	char *base_subject;
};
int sbx_task_summarize(struct sbx_task_summary *out, struct sbx_repo *repo,
		       const struct sbx_task *task, bool diffstat);
void sbx_task_summary_clear(struct sbx_task_summary *s);

/* Record (de)serialisation, exposed for tests and the fuzzer. */
int sbx_task_record_format(char **out, size_t *len, const struct sbx_task *task);
int sbx_task_record_parse(struct sbx_task **out, const char *buf, size_t len);

#endif
