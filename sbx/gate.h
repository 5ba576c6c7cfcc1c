/* SPDX-License-Identifier: MIT */
/*
 * The hook gate: the checks that decide whether a task's result moves its
 * branch, run in a FRESH VM (a new sandbox from the image; never the VM the
 * agent ran in, where it was root and could have faked a pass), on the
 * result's tree.  docs/design.md, "The hook gate".
 *
 * The checks, in this order:
 *   pre-commit                  the host repository's own pre-commit hook
 *                               (core.hooksPath honoured; behind an
 *                               installed git-sbx hook, the one it chains
 *                               to), copied in as /run/sbx/pre-commit and
 *                               run there, never on the host
 *   <command>                   each sbx.check value, by `sh -c`
 *   pre-commit run --all-files  when the tree has .pre-commit-config.yaml
 *                               and the image has the pre-commit tool
 *
 * Each runs as the agent user in /workspace, a clone of the result whose
 * HEAD is the task's base (git reset --soft) when the history sent holds
 * it, so the index holds the agent's change as a commit would stage it.
 * The VM has no network.
 *
 * Results: <task dir>/checks/<n>.result and <n>.log (docs/formats.md,
 * "Check results"), n = the run's number (1 today: one per task).
 */
#ifndef SBX_SBX_GATE_H
#define SBX_SBX_GATE_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/channel.h"
#include "sbx/image.h"
#include "sbx/sandbox.h"
#include "sbx/settings.h"
#include "sbx/task.h"

struct sbx_repo;

/* ---- the check VM: a fresh sandbox with one commit checked out ---- */

struct sbx_check_vm_opts {
	const char *image;		/* NULL: the default image */
	enum sbx_backend backend;
	unsigned cpus;			/* 0: 2 */
	uint64_t memory;		/* 0: the sandbox's default */
	uint64_t boot_timeout_ms;	/* 0: the sandbox's default */
	uint64_t vm_timeout_ms;		/* the VM's whole life; 0: none */
	bool quiet;			/* no emulation warning */
	const char *dir;		/* its task disk and staging files go here (the caller's) */
	const char *console_log;	/* NULL: discarded */
	/*
	 * HEAD is reset (--soft) to this commit after the checkout when the
	 * history sent holds it: the index then holds the change since.
	 * NULL: HEAD is the commit.
	 */
	const git_oid *base;
	const char *hook;		/* a host file staged as /run/sbx/pre-commit (0755); NULL: none */
	const char *user_name, *user_email;	/* the guest clone's git identity */
	sbx_progress_fn progress;	/* may be NULL */
	void *progress_opaque;
};
#define SBX_CHECK_VM_OPTS_INIT { 0 }

struct sbx_check_vm;

/* Boot, send `commit` (with its history down to opts->base), check it out in /workspace. */
int sbx_check_vm_start(struct sbx_check_vm **out, struct sbx_repo *repo, const git_oid *commit,
		       const struct sbx_check_vm_opts *o);
/* One command as the agent user in /workspace; res->flags says a timeout. */
int sbx_check_vm_exec(struct sbx_check_vm *vm, const char *const *argv, uint64_t timeout_ms,
		      sbx_sink_fn sink, void *opaque, volatile int *interrupt,
		      struct sbx_exec_result *res);
const char *sbx_check_vm_backend(const struct sbx_check_vm *vm);
uint64_t sbx_check_vm_boot_ms(const struct sbx_check_vm *vm);
/* Power off and free; NULL is a no-op. */
void sbx_check_vm_stop(struct sbx_check_vm *vm);

/*
 * The commit `git sbx run --staged` sends: the index's tree (GIT_INDEX_FILE
 * honoured) with HEAD as its parent (none on an unborn branch); *parent
 * gets HEAD, *has_parent whether there is one.  Written to the object
 * database and referenced by nothing.
 */
int sbx_gate_staged_commit(git_oid *out, git_oid *parent, bool *has_parent,
			   struct sbx_repo *repo);

/* ---- results ---- */

#define SBX_CHECK_NAME_MAX 1024

struct sbx_check_result {
	char *name;			/* "pre-commit", the command, "pre-commit run --all-files" */
	enum sbx_check_status status;
	uint64_t duration_ms;
};

/* "<name> <status> <duration_ms>\n" per check; names are escaped as in task records. */
int sbx_check_results_format(char **out, size_t *len, const struct sbx_check_result *r, size_t n);
int sbx_check_results_parse(struct sbx_check_result **out, size_t *n, const char *buf, size_t len);
void sbx_check_results_free(struct sbx_check_result *r, size_t n);
/* <task dir>/checks/<run>.result, read back; SBX_ENOTFOUND when there is none. */
int sbx_check_results_read(struct sbx_check_result **out, size_t *n, const struct sbx_task *t,
			   unsigned run);
/* <task dir>/checks/<run>.<ext> ("result", "log"), malloc'd. */
char *sbx_checks_path(const struct sbx_task *t, unsigned run, const char *ext);
/* The last `max` bytes of the run's log, cut at a line start when it can be. */
int sbx_checks_log_tail(char **out, size_t *len, const struct sbx_task *t, unsigned run,
			size_t max);

/* ---- the gate ---- */

/*
 * The host's pre-commit hook as the gate runs it: core.hooksPath's or
 * .git/hooks' pre-commit when executable; when that is a git-sbx hook
 * (sbx/hooks.h), the user's hook it chains to.  *out NULL: none.
 */
int sbx_gate_host_hook(char **out, struct sbx_repo *repo);

struct sbx_gate_opts {
	const struct sbx_settings *set;	/* sbx.check, sbx.checkTimeout, sizes */
	const char *image;
	enum sbx_backend backend;
	unsigned cpus;
	uint64_t memory;
	bool quiet;
	sbx_progress_fn progress;	/* one line per check; may be NULL */
	void *progress_opaque;
	volatile int *interrupt;
};
#define SBX_GATE_OPTS_INIT { 0 }

/*
 * Does the gate run for this repository: sbx.gate not off, and a check
 * to run (sbx.check, the host's pre-commit hook, or a tree with
 * .pre-commit-config.yaml)?
 */
bool sbx_gate_wanted(struct sbx_repo *repo, const struct sbx_settings *set, const git_oid *commit);

/*
 * Run the checks on `commit` (the imported result of `task`, whose base is
 * task->base) in a fresh VM; write checks/<n>.result and .log with n =
 * task->checks_run + 1, and set task->checks_run, checks_status and
 * checks_ms (the caller saves the record).  A VM that cannot start or
 * dies makes the remaining checks "error", not a failure of this call;
 * an error return means nothing could be recorded.
 */
int sbx_gate_run(struct sbx_repo *repo, struct sbx_task *task, const git_oid *commit,
		 const struct sbx_gate_opts *o);

/* refs/sbx/<id>/rejected-<n>: the blocked result, kept (never a branch). */
int sbx_gate_keep_rejected(char *refname, size_t refname_len, struct sbx_repo *repo,
			   const struct sbx_task *task, const git_oid *commit);

#endif
