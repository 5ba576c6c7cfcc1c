/* SPDX-License-Identifier: MIT */
/*
 * The subcommands of git-sbx.  Each lives in cmd/<name>.c, parses its
 * options with parse-options, calls into sbx/ and prints.  Exit codes are
 * git's: 0 success, 1 a plain "no", 128 fatal, 129 usage.
 */
#ifndef SBX_CMD_BUILTIN_H
#define SBX_CMD_BUILTIN_H

#include "cmd/parse-options.h"

struct sbx_repo;

enum cmd_flags {
	NEED_REPO = 1 << 0,	/* open the repository first; fail outside one */
	NEED_KVM = 1 << 1,	/* fail early when /dev/kvm does not work */
	TRY_REPO = 1 << 2,	/* open the repository when there is one */
	HIDDEN = 1 << 3,	/* not listed by `git sbx -h` (tools for debugging) */
};

struct cmd_ctx {
	struct sbx_repo *repo;	/* with NEED_REPO or TRY_REPO (may be NULL with TRY_REPO) */
	const char *prefix;	/* the command name for messages, e.g. "disk create" */
};

typedef int (*cmd_fn)(int argc, const char **argv, struct cmd_ctx *ctx);

struct cmd_struct {
	const char *name;
	cmd_fn fn;
	int flags;
	const char *summary;	/* one line for `git sbx -h` */
};

/* Print "fatal: <msg>" and exit 128. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* "error: <msg>" / "warning: <msg>" on stderr.  These and die() escape control bytes (util/quote.h). */
void error_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "fatal: <what> (<sbx_error()>)", exit 128. */
void die_sbx(const char *what) __attribute__((noreturn));
/* Print "error: <what> (<sbx_error()>)" and return 128 (for `return error_sbx(...)`). */
int error_sbx(const char *what);
/* Dispatch "<group> <sub> ..." to a table of subcommands (for disk, vm, image). */
int run_subcommand(const char *group, const struct cmd_struct *subs,
		   int argc, const char **argv, struct cmd_ctx *ctx);

int cmd_disk(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_image(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_run(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_vm(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_version(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_help(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_list(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_show(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_diff(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_logs(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_rm(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_gc(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_task(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_proxy(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_demo(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_audit(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_review(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_accept(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_reject(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_apply(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_pr(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_warm(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_hooks(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_checkpoint(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_checkpoints(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_rewind(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_continue(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_attempts(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_pick(int argc, const char **argv, struct cmd_ctx *ctx);
int cmd_retry(int argc, const char **argv, struct cmd_ctx *ctx);

#endif
