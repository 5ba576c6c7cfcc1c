/* SPDX-License-Identifier: MIT */
/*
 * Inside a task's session (sbx/task-run.c, sbx/task-step.c,
 * sbx/task-transfer.c, sbx/task-warm.c, sbx/task-resume.c): the session's
 * state and the helpers its files share.
 */
#ifndef SBX_SBX_TASK_RUN_INT_H
#define SBX_SBX_TASK_RUN_INT_H

#include "sbx/channel.h"
#include "sbx/settings.h"
#include "sbx/task-ckpt.h"
#include "sbx/task-env.h"
#include "sbx/task-run.h"
#include "util/error.h"

#include <git2.h>
#include <stdbool.h>
#include <stdint.h>

struct sbx_bundle_import;
struct sbx_task_net;
struct sbx_warm;

#define AGENT_UID 1000
#define TAIL_MAX 2048

/*
 * Deadlines (docs/design.md, "Deadlines"): every command we run in the
 * guest must show a sign of life within START_TIMEOUT_MS, the sweep must
 * end within SWEEP_TIMEOUT_MS, the other steps within the transfer
 * timeout, each plus the host's 30 s; the VM itself gets a limit that
 * covers all of them (VM_SLACK_MS for the stop), so a guest that stops
 * responding ends the task, whatever it does.
 */
#define START_TIMEOUT_MS (30 * 1000)
#define SWEEP_TIMEOUT_MS (60 * 1000)
#define HOST_GRACE_MS (30 * 1000)
#define VM_SLACK_MS (60 * 1000)

struct run {
	struct sbx_task_run_result *res;
	const struct sbx_task_run_opts *o;
	struct sbx_repo *repo;
	struct sbx_task *task;
	struct sbx_sandbox *sb;
	struct sbx_session *s;
	int log_fd;
	uint64_t log_bytes, log_max;
	uint64_t console_max;		/* sbx.maxConsoleLogSize */
	uint64_t disk_limit;
	uint64_t boot_timeout_ms;	/* 0: the sandbox's default */
	unsigned depth;
	char *user_name, *user_email;
	char base_hex[GIT_OID_HEXSZ + 1];
	char id[16];
	char *shallow;			/* space-separated hex */
	/* the import while the bundle streams */
	struct sbx_bundle_import *imp;
	git_oid old_tip;
	int imp_err;
	char imp_msg[512];
	/* stderr of a step, its last bytes */
	char tail[TAIL_MAX + 1];
	size_t tail_len;
	/* The guest did not end the agent by the host's deadline: why. */
	char agent_lost[512];
	/* The policy proxy, the secrets and the audit file (sbx/task-net.h). */
	struct sbx_task_net *net;
	/* git config sbx.setup (NULL: none), its time limit; sbx.warm */
	char *setup;
	uint64_t setup_timeout_ms;
	bool warm_on;
	/* the warm base restored (sbx/task-warm.c), or NULL; its snapshot as
	 * this task's checkpoints' root (task_ckpt_adopt_root), or NULL */
	struct sbx_warm *warm;
	char *warm_root;
	/* git config, resolved once (the fields above are copied from it) */
	struct sbx_settings set;
	/* what the start step needs: the image, the task disk and console paths, the backend */
	struct sbx_image img;
	char *disk, *console;
	enum sbx_backend backend;
	char qemu_why[512];
	/* the first error of the steps (sbx/task-run.c); the stop step may reword it */
	int err;
	bool import_tried;		/* the import step ran: the audit trail gets its verdict */
	/* Checkpoints of this run (sbx/task-ckpt.h); ck.on while they are taken. */
	struct task_ckpt ck;
	/*
	 * `git sbx continue` (sbx/task-resume.c): the checkpoint restored instead
	 * of a boot or warm base, and the new prompt; 0/NULL for a new task.
	 */
	unsigned resume;
	unsigned vm_cpus;		/* the VM's, as started (for checkpoints' snapshots) */
	uint64_t vm_memory;
	const char *resume_prompt;
};

/* sbx/task-step.c: the clock, progress, the log and its tail, one step's command. */
uint64_t run_mono_ms(void);
void run_progress(struct run *r, const char *fmt, ...) SBX_PRINTF(2, 3);
/* The task log, bounded by sbx.maxLogSize. */
void run_write_log(struct run *r, const void *data, size_t len);
/* The last line of a step's stderr, printable, for an error message. */
const char *run_tail_line(struct run *r);
/* A step's output: stderr into the log and the tail; stdout discarded. */
int run_step_sink(void *opaque, int fd, const uint8_t *data, size_t len);
/* The environment every step of the agent user gets (SBX_TASK_ID, SBX_BASE, ...). */
int run_env_init(struct envb *e, struct run *r);
/* One command in the guest with the task's deadlines; a sink NULL is run_step_sink. */
int run_exec_step_timeout(struct run *r, const char *what, const char *const *argv,
			  const char *const *env, bool as_agent, const uint8_t *in,
			  size_t in_len, int in_fd, sbx_sink_fn sink,
			  struct sbx_exec_result *res, uint64_t timeout_ms);
int run_exec_step(struct run *r, const char *what, const char *const *argv,
		  const char *const *env, bool as_agent, const uint8_t *in, size_t in_len,
		  int in_fd, sbx_sink_fn sink, struct sbx_exec_result *res);

/* The VM's whole life: the VMM ends it after this (0: no limit). */
uint64_t run_vm_time_limit(const struct run *r);

/*
 * sbx/task-warm.c, the session's first two steps.  The start: a warm base
 * is restored when the backend is our VMM and sbx.warm is not false (built
 * first when there is none; its build is not the start's time); a restore
 * that fails is said, its warm base removed, and the VM booted cold.  Sets
 * r->sb and r->s when the VM started, the start step's time and the task's
 * warm/start-note fields.  The transfer in: the CA, then the base, the
 * prompt and the setup (cold) or the commits since the warm base; when a
 * restored guest cannot take them, the same fall back to a cold boot.
 * Both time themselves.
 */
int run_start_vm(struct run *r);
int run_transfer_in_step(struct run *r);
/* The sandbox's options for this task (sbx/task-warm.c), and what follows its start. */
struct sbx_sandbox_opts;
void run_sandbox_opts(struct run *r, struct sbx_sandbox_opts *so, const struct sbx_image *img,
		      const char *disk, const char *console);
void run_started(struct run *r, const char *disk);
/*
 * sbx/task-resume.c, `git sbx continue`: the start restores checkpoint
 * r->resume (its memory chain, a new disk top over its frozen layer) and
 * the transfer in stages only the new prompt (and a script agent).
 */
int run_start_resume(struct run *r);
/*
 * Checkpoints from here on in this run (sbx/task-run.c; our VMM, sbx.checkpoints,
 * not an attempt): the guest's HEAD, and the checkpoint and memory snapshot
 * directory the VM's state came from (0, NULL after a cold boot; 0 and the
 * warm base's after its restore) with its chain's length.
 */
void run_ckpt_begin(struct run *r, const char *head, unsigned parent, const char *parent_mem,
		    unsigned chain);
int run_transfer_in_resume(struct run *r);
/* The settings of git config into r (sbx/task-run.c). */
int run_read_config(struct run *r);

/* sbx/task-transfer.c */
/* A file into the guest's /run/sbx (as root), from bytes or an fd. */
int run_stage(struct run *r, const char *name, const char *mode, const uint8_t *buf,
	      size_t len, int fd);
/* Cold: the base's bundle, the prompt and a script agent; the clone; the setup. */
int run_transfer_in(struct run *r);
/* After a restore: only the commits since the warm base, then the update script. */
int run_transfer_in_warm(struct run *r);
/* sbx.setup in /workspace as the agent user, when there is one (a cold boot). */
int run_setup(struct run *r);
/* The task CA into the guest's trust store, when a secret needs one. */
int run_install_ca(struct run *r);
/* The sweep, then the result bundle into the import. */
int run_transfer_out(struct run *r);

#endif
