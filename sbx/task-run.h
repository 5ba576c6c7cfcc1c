/* SPDX-License-Identifier: MIT */
/*
 * Running a task: the whole session of `git sbx task`.
 *
 *   boot          a sandbox (sbx/sandbox.h) from the image, with the task's
 *                 qcow2 disk <task dir>/disk.qcow2 over the image's empty ext4
 *   transfer in   a bundle of the base (sbx/bundle.h) and the prompt (and a
 *                 script:FILE agent) are staged in the guest's /run/sbx; the
 *                 agent user fetches the bundle into /workspace on sbx/<id>
 *   agent         the agent's command as the agent user (uid 1000) in
 *                 /workspace; its output goes to the caller and the task log
 *   transfer out  the guest commits what is left ("sbx: uncommitted work")
 *                 and writes `git bundle create - BASE..HEAD` to stdout,
 *                 which streams straight into the verifying import
 *   import        verified objects (sbx_task_import_objects())
 *   gate          with checks configured and sbx.gate not off, the checks
 *                 run in a fresh VM on the result (sbx/gate.h); blocked:
 *                 the branch stays, the result is refs/sbx/<id>/rejected-<n>
 *   publish       the one ref, the host worktree, the record
 *                 (sbx_task_import_publish())
 *
 * The guest does its git work with its own git and may do anything there;
 * the host trusts nothing it says beyond bytes it verifies.
 */
#ifndef SBX_SBX_TASK_RUN_H
#define SBX_SBX_TASK_RUN_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/channel.h"
#include "sbx/image.h"
#include "sbx/sandbox.h"
#include "sbx/task.h"

struct sbx_repo;
struct sbx_task;
struct sbx_agent;

#define SBX_TASK_DEFAULT_MAX_LOG (64ull << 20)
#define SBX_TASK_DEFAULT_DISK_LIMIT (8ull << 30)
#define SBX_TASK_TRANSFER_TIMEOUT_MS (10 * 60 * 1000)

struct sbx_task_run_opts {
	const struct sbx_agent *agent;
	const char *image;		/* name or id; NULL: the default image */
	unsigned cpus;			/* 0: 2 */
	uint64_t memory;		/* 0: the sandbox's default (1 GiB) */
	uint64_t timeout_ms;		/* the agent's; 0 = none */
	enum sbx_backend backend;
	/* The agent's output as it arrives (fd 1 or 2); NULL: the log only. */
	sbx_sink_fn output;
	void *output_opaque;
	sbx_progress_fn progress;	/* one line per step; may be NULL */
	void *progress_opaque;
	/* Non-zero: stop the agent (its work so far still comes back). */
	volatile int *interrupt;
	bool quiet;			/* no emulation warning */
	/* Egress rules besides the agent's and git config's (sbx/task-net.h). */
	const char *const *allow;	/* --allow HOST[:PORT] */
	size_t nallow;
	const char *const *allow_presets; /* --allow-preset NAME */
	size_t nallow_presets;
	/*
	 * For attempts side by side (sbx/attempt.h): boot cold with this
	 * note instead of restoring (no warm base could be had for them);
	 * and a file flock()ed around the import and the audit note, which
	 * write to the same repository.
	 */
	const char *cold_note;
	const char *import_lock;
};
#define SBX_TASK_RUN_OPTS_INIT { 0 }

struct sbx_task_run_result {
	int agent_status;		/* -1: the agent did not finish */
	bool timed_out, interrupted, disk_full, log_truncated;
	bool no_changes;		/* the guest's HEAD was still the base */
	bool imported;			/* the branch moved to `tip` */
	bool worktree_kept;		/* the host worktree had changes in the way */
	git_oid tip;
	const char *backend;		/* "kvm" or "qemu" (static) */
	/* The hook gate (sbx/gate.h): the checks' outcome, SBX_CHECK_NONE when none ran. */
	enum sbx_check_status checks;
	bool blocked;			/* sbx.gate=block held the branch: the result is rejected_ref */
	char rejected_ref[64];
};

/*
 * Run a task in state "created".  Returns 0 when the result came back (the
 * task is "done", whatever the agent's exit status, or "failed"/"cancelled"
 * after a timeout or an interrupt with its work so far imported), or an
 * error with the task recorded as failed and the message saying why.
 */
int sbx_task_run(struct sbx_task_run_result *res, struct sbx_repo *repo, struct sbx_task *task,
		 const struct sbx_task_run_opts *o);

/*
 * Before several sessions start from one warm start (sbx/attempt.h): the
 * warm base a session of this task with these options restores, built now
 * when there is none (progress through o->progress).  *key is "" when the
 * sessions boot cold (QEMU, sbx.warm false), with *why saying why when it
 * is a failure worth saying.  An error when the build's sbx.setup failed
 * (every session's would).
 */
int sbx_task_prepare_warm(char key[65], char *why, size_t whylen, struct sbx_repo *repo,
			  struct sbx_task *task, const struct sbx_task_run_opts *o);

/*
 * `git sbx continue`: restore the task's current checkpoint (sbx/checkpoint.h),
 * end the agent left running in it, run the agent on `prompt`, and append its
 * work to sbx/<id>, with new checkpoints.  The task must have run and stopped,
 * and sbx/<id> must be at the checkpoint's commit (rewind moves both).  The
 * task's state, times and result are this run's.
 */
int sbx_task_continue(struct sbx_task_run_result *res, struct sbx_repo *repo, struct sbx_task *task,
		      const struct sbx_task_run_opts *o, const char *prompt);

#endif
