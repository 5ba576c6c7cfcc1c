/* SPDX-License-Identifier: MIT */
/* What `git sbx task` and `git sbx demo` share: create a task, run it, print the summary. */
#ifndef SBX_CMD_TASK_CMD_H
#define SBX_CMD_TASK_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "sbx/sandbox.h"

struct cmd_ctx;

struct task_cmd_args {
	const char *prompt;
	const char *agent, *agent_cmd;	/* at most one */
	const char *base;		/* NULL: HEAD */
	const char *image;		/* NULL: the default image */
	unsigned cpus;			/* 0: default */
	uint64_t memory;		/* 0: default */
	uint64_t timeout_ms;		/* 0: none */
	enum sbx_backend backend;
	bool detach;
	bool raw;			/* the agent's output unescaped to a non-terminal */
	const char *const *allow;	/* --allow HOST[:PORT], repeated */
	size_t nallow;
	const char *const *allow_presets; /* --allow-preset NAME, repeated */
	size_t nallow_presets;
	unsigned attempts;		/* --attempts; 0 or 1: one session, as always */
	const char *attempt_prompt;	/* retry -m: the new attempts' prompt; NULL: the task's */
	const char *continue_prompt;	/* continue: restore the current checkpoint, this prompt */
};

/* --memory, --timeout, --backend and --cpus into `a`; SBX_EINVAL with a message. */
int parse_task_common(struct task_cmd_args *a, const char *memory, const char *timeout,
		      const char *backend, int cpus);
struct sbx_agent;
struct sbx_task;
/* sbx.timeout (or its default) into a->timeout_ms, for when --timeout is not given. */
void task_cmd_default_timeout(struct cmd_ctx *ctx, struct task_cmd_args *a);
/* The prompt from the command line's words, joined by spaces (malloc'd; dies when out of memory). */
char *join_prompt_args(int argc, const char **argv);
/* The prompt from a file ("-": standard input); dies on failure. */
char *read_prompt_file(const char *path);
/* The task's own agent (its label or kept command line), or the one given; dies when none. */
void task_cmd_resolve_agent(struct sbx_agent *agent, struct cmd_ctx *ctx, const struct sbx_task *t,
			    const char *spec, const char *command);
/* Create and run the task in ctx->repo; returns the exit code (0, 1 or 128). */
int task_cmd_run(struct cmd_ctx *ctx, const struct task_cmd_args *a);
/*
 * Run a created task (one session, or a->attempts side by side), or add
 * attempts to one that ran (git sbx retry): --detach, the output, Ctrl-C,
 * the summary.  Returns the exit code.
 */
int task_cmd_session(struct cmd_ctx *ctx, struct sbx_task *t, const struct sbx_agent *agent,
		     const struct task_cmd_args *a);

#endif
