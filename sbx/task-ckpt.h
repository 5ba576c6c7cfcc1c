/* SPDX-License-Identifier: MIT */
/*
 * Checkpoints of a task's running VM (docs/design.md, "Checkpoints"): the
 * session's part.  A checkpoint quiesces the channel (sbx/channel.h), has
 * the VMM save the memory (a diff over the VM's chain) and switch the task
 * disk to a new overlay in one pause (sbx_sandbox_checkpoint), resumes, and
 * files the result in the task's store (sbx/checkpoint.h): the frozen layer,
 * the memory snapshot directory and a record naming the guest's HEAD.
 *
 * Taken at the start, on the agent's commits (NOTE frames, at most one per
 * sbx.checkpointInterval; a commit inside the interval is taken when it
 * ends), on request (`git sbx checkpoint`, a request file polled while the
 * agent runs) and when the agent exits.  A checkpoint that fails turns
 * checkpoints off for the rest of the session with a warning; only a
 * channel that stopped answering fails the task.
 */
#ifndef SBX_SBX_TASK_CKPT_H
#define SBX_SBX_TASK_CKPT_H

#include "sbx/checkpoint.h"

#include <stdbool.h>
#include <stdint.h>

struct sbx_sandbox;
struct sbx_session;

struct task_ckpt {
	struct sbx_sandbox *sb;
	struct sbx_session *s;
	const char *task_dir;
	unsigned cpus;			/* the VM's, for the snapshot's `machine` (set by the caller) */
	uint64_t memory;
	char *top;			/* the running disk's top, relative to task_dir */
	char *parent_mem;		/* the snapshot directory the VM's memory chain ends in */
	unsigned parent;		/* the last checkpoint taken or restored in this VM; 0 none */
	unsigned chain;			/* memory files a restore of the VM's state maps now */
	uint64_t interval_ms;		/* sbx.checkpointInterval */
	unsigned max;			/* sbx.maxCheckpoints */
	uint64_t last_ms;		/* monotonic ms of the last one; 0 none */
	uint64_t polled_ms;		/* when the request file was last looked for */
	bool on;			/* taking them (the VMM runs the VM; none failed) */
	bool pending;			/* a commit came inside the interval */
	char head[41];			/* the HEAD to record: the last commit the guest named */
	unsigned taken;
	uint64_t pause_us_total;
	uint64_t last_pause_us;		/* the last one's */
	void (*warn)(void *opaque, const char *msg);
	void *warn_opaque;
};

/*
 * Set up for a session whose VM runs with `top` (relative to task_dir) as
 * its task disk's writable top and `head` as the guest's HEAD; `parent`
 * and `parent_mem` when it restored checkpoint `parent` (whose snapshot
 * directory is parent_mem) or a warm base (parent 0: the directory
 * task_ckpt_adopt_root gave).
 */
int task_ckpt_init(struct task_ckpt *c, struct sbx_sandbox *sb, struct sbx_session *s,
		   const char *task_dir, const char *top, const char *head, unsigned parent,
		   const char *parent_mem, unsigned chain, uint64_t interval_ms, unsigned max);
void task_ckpt_clear(struct task_ckpt *c);

/*
 * The chain's root in the task's own directory: the warm base's snapshot
 * (directory `dir`) linked into task_dir's checkpoints/memory/warm, so that
 * gc, a rebuild or a failed restore's removal of the warm base cannot take
 * a checkpoint's memory away (as warm-layer.qcow2 does for the disk).
 * Called while the warm base's shared lock is held.  Where links fail, a
 * copy of `dir`'s path; NULL when out of memory.
 */
char *task_ckpt_adopt_root(const char *task_dir, const char *dir);
/* Undo it (the task fell back to a cold boot): the links go, never the base; frees `root`. */
void task_ckpt_drop_root(const char *task_dir, char *root);

/*
 * Take one now (the channel quiesced for it whether or not an exec runs).
 * `head` NULL: the last one known.  0 also when checkpoints are off or
 * this one failed (then they are off, with a warning); SBX_ETIMEDOUT or
 * another channel error when the session is unusable.
 */
int task_ckpt_take(struct task_ckpt *c, enum sbx_ckpt_reason why, const char *head);

/* The agent exec's sbx_exec_opts.between: notes, the interval, requests. */
int task_ckpt_between(void *opaque, struct sbx_session *s);

#endif
