// SPDX-License-Identifier: MIT
/* One task's session: boot, transfer in, agent, transfer out, import (sbx/task-run.h). */
#include "sbx/task-run.h"
#include "sbx/agent.h"
#include "sbx/audit.h"
#include "sbx/bundle.h"
#include "sbx/checkpoint.h"
#include "sbx/config.h"
#include "sbx/fsutil.h"
#include "sbx/gate.h"
#include "sbx/repo.h"
#include "sbx/sandbox.h"
#include "sbx/settings.h"
#include "sbx/task.h"
#include "sbx/task-env.h"
#include "sbx/task-net.h"
#include "sbx/task-scripts.h"
#include "sbx/task-run-int.h"
#include "sbx/warm.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The agent's output: to the caller and the log, both bounded. */
static int agent_sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct run *r = opaque;
	bool shown = !r->res->log_truncated;

	run_write_log(r, data, len);
	if (shown && r->o->output) {
		size_t n = len;

		/* Past the cap the caller gets what the log got, then the note. */
		if (r->res->log_truncated && r->log_bytes == r->log_max)
			n = 0;
		if (n)
			return r->o->output(r->o->output_opaque, fd, data, n);
	}
	return 0;
}

static void ckpt_warn(void *opaque, const char *msg)
{
	struct run *r = opaque;
	char line[1100];
	int n = snprintf(line, sizeof(line), "[git-sbx: %s]\n", msg);

	pr_warn("%s", msg);
	if (n > 0)
		run_write_log(r, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* The log says each checkpoint, as the progress lines do. */
static void ckpt_said(struct run *r)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "[git-sbx: checkpoint %u at %.12s, the guest paused %llu ms]\n",
			 r->ck.parent, r->ck.head, (unsigned long long)(r->ck.last_pause_us / 1000));

	if (n > 0)
		run_write_log(r, line, (size_t)n);
}

/*
 * Checkpoints for this run: our VMM, sbx.checkpoints, not an attempt (whose
 * runs share a start).  The VM's disk top is the task disk; its memory
 * chain starts at the warm base it restored (or the checkpoint `continue`
 * restored), or nowhere after a cold boot (the first one is then full).
 */
void run_ckpt_begin(struct run *r, const char *head, unsigned parent, const char *parent_mem,
		    unsigned chain)
{
	const char *top = r->disk + strlen(r->task->dir) + 1;

	if (!r->set.checkpoints || r->task->attempt || !r->sb ||
	    strcmp(sbx_sandbox_backend_name(r->sb), "kvm"))
		return;
	if (task_ckpt_init(&r->ck, r->sb, r->s, r->task->dir, top, head, parent, parent_mem, chain,
			   r->set.checkpoint_interval_ms, (unsigned)r->set.max_checkpoints)) {
		pr_warn("no checkpoints in this run: %s", sbx_error());
		return;
	}
	r->ck.cpus = r->vm_cpus;
	r->ck.memory = r->vm_memory;
	r->ck.warn = ckpt_warn;
	r->ck.warn_opaque = r;
}

static int ckpt_take(struct run *r, enum sbx_ckpt_reason why, const char *head)
{
	uint64_t t = run_mono_ms();
	unsigned taken = r->ck.taken;
	int err;

	if (!r->ck.on)
		return 0;
	err = task_ckpt_take(&r->ck, why, head);
	sbx_task_step_add(r->task, SBX_STEP_CHECKPOINT, run_mono_ms() - t);
	if (r->ck.taken != taken)
		ckpt_said(r);
	return err;
}

/* While the agent runs: its commits and `git sbx checkpoint` become checkpoints. */
static int agent_between(void *opaque, struct sbx_session *s)
{
	struct run *r = opaque;
	uint64_t t = run_mono_ms();
	unsigned taken = r->ck.taken;
	int err = task_ckpt_between(&r->ck, s);

	if (r->ck.taken != taken) {
		sbx_task_step_add(r->task, SBX_STEP_CHECKPOINT, run_mono_ms() - t);
		ckpt_said(r);
	}
	return err;
}

static int run_agent(struct run *r)
{
	const char *argv[] = { "sh", "-c", sbx_task_agent_wrapper, "sbx-agent", r->o->agent->command, NULL };
	struct sbx_exec_opts eo = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	struct envb env;
	uint64_t t0;
	size_t i;
	int err;

	if ((err = run_env_init(&env, r)))
		return err;
	for (i = 0; i < r->o->agent->nenv && !err; i++)
		err = env_add_entry(&env, r->o->agent->env[i]);
	if (!err && r->net)
		err = sbx_task_net_env(r->net, env_add_cb, &env);
	if (err) {
		env_free(&env);
		return err;
	}
	eo.argv = argv;
	eo.env = (const char *const *)env.v;
	eo.cwd = "/workspace";
	eo.set_user = true;
	eo.uid = eo.gid = AGENT_UID;
	eo.timeout_ms = r->o->timeout_ms;
	eo.start_timeout_ms = START_TIMEOUT_MS;
	eo.sink = agent_sink;
	eo.opaque = r;
	eo.interrupt = r->o->interrupt;
	if (r->ck.on)
		eo.between = agent_between;
	t0 = run_mono_ms();
	err = sbx_session_exec(r->s, &eo, &res);
	env_free(&env);
	if (r->net) {
		struct sbx_audit_exec ae = { 0 };

		const char *shown[] = { "sh", "-c", r->o->agent->command, NULL };

		ae.argv = shown;
		ae.exit_code = err ? -1 : res.code;
		ae.duration_ms = run_mono_ms() - t0;
		ae.timed_out = err == SBX_ETIMEDOUT || (res.flags & PROTO_EXIT_TIMEOUT);
		sbx_audit_exec(sbx_task_net_audit(r->net), &ae);
	}
	if (err == SBX_ETIMEDOUT && res.answered) {
		/*
		 * The agent started, but the guest did not end it in time.
		 * sbx-init may still answer (the agent stuck in the kernel, say):
		 * the transfer out finds out, within its own deadlines, and
		 * brings back what it can.
		 */
		snprintf(r->agent_lost, sizeof(r->agent_lost),
			 "the agent timed out and the guest did not stop it within the host's %llu s",
			 (unsigned long long)(r->o->timeout_ms + HOST_GRACE_MS) / 1000);
		r->res->timed_out = true;
		return 0;
	}
	if (err == SBX_ETIMEDOUT) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", sbx_error());
		return sbx_error_set(err, "%s (while starting the agent)", msg);
	}
	if (err)
		return sbx_error_prefix(err, "the sandbox failed while the agent ran");
	r->res->agent_status = res.code;
	r->res->timed_out = (res.flags & PROTO_EXIT_TIMEOUT) != 0;
	r->res->interrupted = r->o->interrupt && *r->o->interrupt;
	if (res.flags & PROTO_EXIT_SPAWN_FAILED)
		return sbx_error_set(SBX_ERROR, "the guest could not start the agent (status %d)", res.code);
	return 0;
}


int run_read_config(struct run *r)
{
	struct sbx_config *cfg = NULL;
	int err;

	if ((err = sbx_bundle_config_depth(r->repo->git, &r->depth)) ||
	    (err = sbx_config_open(&cfg, r->repo)))
		return err;
	err = sbx_settings_read(&r->set, cfg);
	sbx_config_free(cfg);
	if (err)
		return err;
	r->log_max = r->set.log_max;
	r->console_max = r->set.console_max;
	r->disk_limit = r->set.disk_limit;
	r->boot_timeout_ms = r->set.boot_timeout_ms;
	r->setup_timeout_ms = r->set.setup_timeout_ms;
	r->warm_on = r->set.warm;
	/* The session owns these from here. */
	r->setup = r->set.setup;
	r->user_name = r->set.user_name;
	r->user_email = r->set.user_email;
	r->set.setup = r->set.user_name = r->set.user_email = NULL;
	return 0;
}

/*
 * The VMM ends the VM after this, whatever the session does: the boot,
 * the transfers both ways, the agent and the host's grace after each, and
 * the stop.  Without an agent timeout there is no limit.
 */
uint64_t run_vm_time_limit(const struct run *r)
{
	uint64_t boot = r->boot_timeout_ms ? r->boot_timeout_ms : 600000;

	if (!r->o->timeout_ms)
		return 0;
	return boot + r->o->timeout_ms + HOST_GRACE_MS +
	       2 * (SBX_TASK_TRANSFER_TIMEOUT_MS + HOST_GRACE_MS) + VM_SLACK_MS +
	       (r->setup ? r->setup_timeout_ms + HOST_GRACE_MS : 0);
}

/* The policy, the proxy, the secrets (their values read now) and the audit file. */
static int open_net(struct run *r)
{
	struct sbx_task_net_opts no = SBX_TASK_NET_OPTS_INIT;
	struct sbx_config *cfg = NULL;
	int err;

	if ((err = sbx_config_open(&cfg, r->repo)))
		return err;
	no.allow = r->o->allow;
	no.nallow = r->o->nallow;
	no.presets = r->o->allow_presets;
	no.npresets = r->o->nallow_presets;
	no.agent = r->o->agent->label;
	err = sbx_task_net_open(&r->net, cfg, r->task, &no);
	sbx_config_free(cfg);
	if (err)
		return sbx_error_prefix(err, "the task's network");
	sbx_audit_start(sbx_task_net_audit(r->net), r->task->id, r->o->agent->label,
			r->o->image ? r->o->image : SBX_IMAGE_DEFAULT_NAME);
	return 0;
}


/* stdout of a one-line answer into r->tail. */
static int head_sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct run *r = opaque;

	if (fd == 1 && r->tail_len + len < TAIL_MAX) {
		memcpy(r->tail + r->tail_len, data, len);
		r->tail_len += len;
		r->tail[r->tail_len] = 0;
	}
	return 0;
}

/* ---- the steps of a session ---- */

/* A step's answer besides 0 and an error: it did not apply, and is not timed. */
#define STEP_NOT_RUN 1

static int step_agent(struct run *r)
{
	int err;

	if (!r->resume) {
		/* The start: the base checked out, before the agent (a cold boot's is full). */
		run_ckpt_begin(r, r->base_hex, 0, r->warm_root, r->warm_root ? 1 : 0);
		if ((err = ckpt_take(r, SBX_CKPT_START, r->base_hex)))
			return err;
	}
	run_progress(r, "running the agent (%s)", r->o->agent->label);
	return run_agent(r);
}

/*
 * The exit checkpoint, after the transfer out: the agent's work committed
 * (the sweep's commit too), so its commit is the result's tip and a
 * `continue` from it needs no rewind.  The guest says its HEAD.
 */
static int step_checkpoint_exit(struct run *r)
{
	const char *argv[] = { "git", "-C", "/workspace", "rev-parse", "-q", "--verify", "HEAD", NULL };
	struct sbx_exec_result res;
	uint64_t t = run_mono_ms();
	char head[41] = "";
	int err;

	if (!r->ck.on)
		return STEP_NOT_RUN;
	r->tail_len = 0;
	err = run_exec_step_timeout(r, "asking the guest for its HEAD", argv, NULL, true, NULL, 0, -1,
				    head_sink, &res, SBX_TASK_TRANSFER_TIMEOUT_MS);
	if (!err && !res.code)
		snprintf(head, sizeof(head), "%.40s", r->tail);
	sbx_task_step_add(r->task, SBX_STEP_CHECKPOINT, run_mono_ms() - t);
	if (err)
		return err;
	err = ckpt_take(r, SBX_CKPT_EXIT, strlen(head) == 40 ? head : NULL);
	return err ? err : STEP_NOT_RUN;	/* timed by ckpt_take */
}

static int step_transfer_out(struct run *r)
{
	int err;

	run_progress(r, "bringing the result back");
	err = run_transfer_out(r);
	if (err == SBX_ETIMEDOUT && r->agent_lost[0]) {
		static const char same[] = "the guest stopped responding: ";
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", sbx_error());
		sbx_error_set(err, "%s%s; then %s", same, r->agent_lost,
			      strncmp(msg, same, strlen(same)) ? msg : msg + strlen(same));
	}
	return err;
}

/*
 * Power off (after any failure too) and say how the VM ended when the
 * channel failed.  Returns the session's error so far, reworded.
 */
static int step_stop(struct run *r)
{
	struct sbx_sandbox_end end;
	char msg[1024];
	int err = r->err, stop_err;
	/* The session is unusable after a channel error. */
	bool session_ok = !(err && (err == SBX_ECORRUPT || err == SBX_ETIMEDOUT || err == SBX_EIO ||
				    r->imp_err));

	snprintf(msg, sizeof(msg), "%s", err ? sbx_error() : "");
	/* The sampler first: a thread of ours still running at the stop is a leak to it. */
	sbx_task_net_sample_stop(r->net);
	stop_err = sbx_sandbox_stop(r->sb, session_ok, &end);
	r->sb = NULL;
	r->s = NULL;
	if (stop_err)
		pr_warn("the sandbox: %s", sbx_error());
	r->res->disk_full = end.disk_full;
	/* After a channel failure, how the VM ended says why. */
	if (err && !session_ok)
		sbx_error_set(err, "%s (the VM: %s)", msg, end.message);
	else if (err)
		sbx_error_set(err, "%s", msg);
	if (err && end.disk_full)
		sbx_error_prefix(err, "the task disk reached sbx.diskLimit (%llu bytes)",
				 (unsigned long long)r->disk_limit);
	return err;
}

/* Attempts side by side write to one repository: one import (and note) at a time. */
static int lock_import(struct run *r)
{
	int fd = -1;

	if (r->o->import_lock && sbx_lock(&fd, r->o->import_lock, true, true)) {
		pr_warn("%s", sbx_error());
		fd = -1;
	}
	return fd;
}

static int step_import(struct run *r)
{
	int err, lock;

	run_progress(r, "importing the result");
	r->import_tried = true;
	lock = lock_import(r);
	err = sbx_task_import_objects(&r->res->tip, r->imp);
	sbx_unlock(lock);
	r->imp = NULL;
	return err;
}

/*
 * The hook gate: with checks to run and sbx.gate not off, the checks run
 * in a fresh VM on the imported result.  Blocked: the result is kept as
 * refs/sbx/<id>/rejected-<n> and the branch stays (an attempt's result
 * still goes to its own ref, refs/sbx/<id>/<n>, which is never a branch).
 */
static int step_gate(struct run *r)
{
	struct sbx_gate_opts go = SBX_GATE_OPTS_INIT;
	int err;

	if (!sbx_gate_wanted(r->repo, &r->set, &r->res->tip))
		return STEP_NOT_RUN;
	run_progress(r, "running the checks in a fresh VM (sbx.gate=%s)", sbx_gate_mode_name(r->set.gate));
	go.set = &r->set;
	go.image = r->o->image;
	go.backend = r->o->backend;
	go.cpus = r->o->cpus;
	go.memory = r->o->memory;
	go.quiet = true;
	go.progress = r->o->progress;
	go.progress_opaque = r->o->progress_opaque;
	go.interrupt = r->o->interrupt;
	if ((err = sbx_gate_run(r->repo, r->task, &r->res->tip, &go)))
		return sbx_error_prefix(err, "the checks");
	r->res->checks = r->task->checks_status;
	if (r->res->checks == SBX_CHECK_PASS || r->set.gate != SBX_GATE_BLOCK)
		return sbx_task_save(r->task);
	r->res->blocked = true;
	if (r->task->attempt)
		return sbx_task_save(r->task);
	return sbx_gate_keep_rejected(r->res->rejected_ref, sizeof(r->res->rejected_ref), r->repo,
				      r->task, &r->res->tip);
}

static int step_publish(struct run *r)
{
	int err;

	if (r->res->blocked && !r->task->attempt)
		return STEP_NOT_RUN;
	err = sbx_task_import_publish(&r->res->worktree_kept, r->repo, r->task, &r->old_tip,
				      &r->res->tip);
	if (!err)
		r->res->imported = true;
	return err;
}

/* The import's verdict into the audit trail, and the summary as a note on the result. */
static void audit_import(struct run *r)
{
	struct sbx_audit_import ai = { 0 };
	int err = r->err;
	char why[1024];

	if (err)
		snprintf(why, sizeof(why), "%s", sbx_error());
	else if (r->res->blocked)
		snprintf(why, sizeof(why), "the checks %s (sbx.gate=block); kept as %s",
			 r->res->checks == SBX_CHECK_FAIL ? "failed" : "could not run",
			 r->task->attempt ? r->task->result_ref : r->res->rejected_ref);
	else
		why[0] = 0;
	if (r->res->blocked && !err) {
		ai.accepted = false;
		ai.reason = why;
		sbx_audit_import(sbx_task_net_audit(r->net), &ai);
		return;
	}
	ai.accepted = !err;
	ai.tip = err ? NULL : &r->res->tip;
	if (!err) {
		size_t ahead = 0, behind = 0;

		if (!git_graph_ahead_behind(&ahead, &behind, r->repo->git, &r->res->tip, &r->task->base))
			ai.commits = ahead;
	}
	ai.reason = err ? why : NULL;
	sbx_audit_import(sbx_task_net_audit(r->net), &ai);
	if (!err) {
		int lock = lock_import(r);

		if (sbx_audit_note_task(r->repo->git, r->task, &r->res->tip))
			pr_warn("cannot attach the audit summary to the result: %s", sbx_error());
		sbx_unlock(lock);
	}
	if (err)
		sbx_error_set(err, "%s", why);
}

/* What a step needs before it runs. */
#define STEP_VM		1u	/* the VM: skipped when it never started or is gone */
#define STEP_ALWAYS	2u	/* runs after a failure too (the stop) */
#define STEP_RESULT	4u	/* a result: skipped when the guest's HEAD was still the base */
#define STEP_OWN_TIME	8u	/* times itself (the start and the transfer in: see task-warm.c) */

/*
 * The session, one row per step, in order; each step that ran is timed
 * once into the record (sbx_task_step_set).  A step that fails ends the
 * session but for the rows marked STEP_ALWAYS.  A row without a function
 * is a slot that is not built yet: it is skipped and not timed.
 */
static const struct run_step {
	enum sbx_task_step id;
	int (*run)(struct run *r);
	unsigned flags;
} steps[] = {
	{ SBX_STEP_START, run_start_vm, STEP_OWN_TIME },
	{ SBX_STEP_TRANSFER_IN, run_transfer_in_step, STEP_VM | STEP_OWN_TIME },
	{ SBX_STEP_AGENT, step_agent, STEP_VM },
	{ SBX_STEP_TRANSFER_OUT, step_transfer_out, STEP_VM },
	/* The exit checkpoint; the others are taken in the agent step (sbx/task-ckpt.h). */
	{ SBX_STEP_CHECKPOINT, step_checkpoint_exit, STEP_VM },
	{ SBX_STEP_STOP, step_stop, STEP_VM | STEP_ALWAYS },
	{ SBX_STEP_IMPORT, step_import, STEP_RESULT },
	{ SBX_STEP_GATE, step_gate, STEP_RESULT },
	{ SBX_STEP_PUBLISH, step_publish, STEP_RESULT },
};

static int session(struct run *r)
{
	char *logp = NULL;
	size_t i;
	int err;

	if ((err = run_read_config(r)))
		return err;
	if ((err = sbx_image_resolve(&r->img, r->o->image)))
		return sbx_error_prefix(err, "no image to run the task in");
	if ((err = open_net(r)))
		return err;
	r->disk = sbx_path_join(r->task->dir, "disk.qcow2");
	r->console = sbx_path_join(r->task->dir, "console.log");
	logp = sbx_task_log_path(r->task);
	if (!r->disk || !r->console || !logp) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	r->log_fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (r->log_fd < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot open the task log '%s'", logp);
		goto out;
	}
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct run_step *st = &steps[i];
		uint64_t t;
		int e;

		if (!st->run || (r->err && !(st->flags & STEP_ALWAYS)) || ((st->flags & STEP_VM) && !r->sb) ||
		    ((st->flags & STEP_RESULT) && r->res->no_changes))
			continue;
		t = run_mono_ms();
		e = st->run(r);
		if (e == STEP_NOT_RUN)
			continue;
		if (!(st->flags & STEP_OWN_TIME))
			sbx_task_step_set(r->task, st->id, run_mono_ms() - t);
		if (st->flags & STEP_ALWAYS)
			r->err = e;
		else if (e)
			r->err = e;
	}
	if (r->import_tried)
		audit_import(r);
	err = r->err;
out:
	if (r->sb) {
		/* only when a step left it running by mistake: never leave a VM behind */
		struct sbx_sandbox_end end;

		sbx_task_net_sample_stop(r->net);
		sbx_sandbox_stop(r->sb, false, &end);
		r->sb = NULL;
	}
	task_ckpt_clear(&r->ck);
	sbx_bundle_import_free(r->imp);
	r->imp = NULL;
	if (r->log_fd >= 0)
		close(r->log_fd);
	r->log_fd = -1;
	free(r->disk);
	free(r->console);
	r->disk = r->console = NULL;
	free(logp);
	return err;
}

static int run_task(struct sbx_task_run_result *res, struct sbx_repo *repo, struct sbx_task *task,
		    const struct sbx_task_run_opts *o, unsigned resume, const char *prompt)
{
	struct run r;
	enum sbx_task_state state;
	char msg[1200];
	int lock = -1, err, ferr;

	memset(res, 0, sizeof(*res));
	res->agent_status = -1;
	if (!o->agent || !o->agent->command)
		return sbx_error_set(SBX_EINVAL, "no agent to run");
	if ((err = sbx_task_start(&lock, task)))
		return err;
	memset(&r, 0, sizeof(r));
	r.res = res;
	r.o = o;
	r.repo = repo;
	r.task = task;
	r.log_fd = -1;
	r.resume = resume;
	r.resume_prompt = prompt;
	/* A continue's times are its own. */
	memset(task->step_ms, 0, sizeof(task->step_ms));
	task->steps_ran = 0;
	git_oid_tostr(r.base_hex, sizeof(r.base_hex), &task->base);
	snprintf(r.id, sizeof(r.id), "%u", task->id);

	err = session(&r);
	free(r.shallow);
	free(r.setup);
	sbx_warm_free(r.warm);
	free(r.warm_root);
	free(r.user_name);
	free(r.user_email);
	sbx_settings_clear(&r.set);

	msg[0] = 0;
	if (err) {
		state = SBX_TASK_FAILED;
		snprintf(msg, sizeof(msg), "%s", sbx_error());
	} else if (res->blocked) {
		state = SBX_TASK_CHECKS_FAILED;
		if (task->attempt)
			snprintf(msg, sizeof(msg), "the checks %s in a fresh VM (sbx.gate=block): the result "
				 "is %s, which %s does not take", res->checks == SBX_CHECK_FAIL ? "failed" : "could not run",
				 task->result_ref, task->branch);
		else
			snprintf(msg, sizeof(msg), "the checks %s in a fresh VM (sbx.gate=block): %s did not move; "
				 "the result is kept as %s",
				 res->checks == SBX_CHECK_FAIL ? "failed" : "could not run", task->branch,
				 res->rejected_ref);
	} else if (res->interrupted) {
		state = SBX_TASK_CANCELLED;
		snprintf(msg, sizeof(msg), "stopped by the user; the agent's work so far was imported");
	} else if (res->timed_out && r.agent_lost[0]) {
		state = SBX_TASK_FAILED;
		snprintf(msg, sizeof(msg), "the agent timed out and the guest did not stop it; "
			 "its work so far was imported");
	} else if (res->timed_out) {
		state = SBX_TASK_FAILED;
		snprintf(msg, sizeof(msg), "the agent timed out; its work so far was imported");
	} else {
		state = SBX_TASK_DONE;
	}
	if (r.net) {
		sbx_audit_end(sbx_task_net_audit(r.net), sbx_task_state_name(state),
			      res->agent_status, msg[0] ? msg : NULL);
		sbx_task_net_free(r.net);
		r.net = NULL;
	}
	ferr = sbx_task_finish(lock, task, state, res->agent_status < 0 ? -1 : res->agent_status & 255,
			       msg[0] ? msg : NULL);
	if (err)
		return sbx_error_set(err, "%s", msg);
	return ferr;
}

int sbx_task_run(struct sbx_task_run_result *res, struct sbx_repo *repo, struct sbx_task *task,
		 const struct sbx_task_run_opts *o)
{
	if (task->state != SBX_TASK_CREATED)
		return sbx_error_set(SBX_EINVAL, "task %u is %s; only a new task can run", task->id,
				     sbx_task_state_name(task->state));
	return run_task(res, repo, task, o, 0, NULL);
}

int sbx_task_continue(struct sbx_task_run_result *res, struct sbx_repo *repo, struct sbx_task *task,
		      const struct sbx_task_run_opts *o, const char *prompt)
{
	struct sbx_ckpt c;
	git_reference *ref = NULL;
	char refname[64], hex[GIT_OID_HEXSZ + 1] = "";
	unsigned cur;
	int err;

	memset(res, 0, sizeof(*res));
	res->agent_status = -1;
	if (task->state == SBX_TASK_CREATED)
		return sbx_error_set(SBX_EINVAL, "task %u never ran: there is nothing to continue",
				     task->id);
	if (sbx_task_running(task))
		return sbx_error_set(SBX_ELOCKED, "task %u is running", task->id);
	if (!prompt || !*prompt)
		return sbx_error_set(SBX_EINVAL, "no prompt to continue with");
	err = sbx_ckpt_current(&cur, task->dir);
	if (err == SBX_ENOTFOUND)
		return sbx_error_set(err, "task %u has no checkpoint to continue from (checkpoints are "
				     "taken under our VMM on KVM, with sbx.checkpoints on)", task->id);
	if (err || (err = sbx_ckpt_read(&c, task->dir, cur)))
		return err;
	snprintf(refname, sizeof(refname), "refs/heads/%s", task->branch);
	if (git_reference_lookup(&ref, repo->git, refname) < 0 || !git_reference_target(ref)) {
		git_reference_free(ref);
		return sbx_error_set(SBX_ENOTFOUND, "the task's branch '%s' is gone", task->branch);
	}
	git_oid_tostr(hex, sizeof(hex), git_reference_target(ref));
	git_reference_free(ref);
	/* The guest comes back at the checkpoint's commit: the branch must say the same. */
	if (strcmp(hex, c.head))
		return sbx_error_set(SBX_EINVAL, "%s is at %.12s but checkpoint %u (the current one) is "
				     "at %.12s: `git sbx rewind %u --to <checkpoint>` to one at the "
				     "branch's commit first", task->branch, hex, cur, c.head, task->id);
	return run_task(res, repo, task, o, cur, prompt);
}
