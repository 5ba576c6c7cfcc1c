/* SPDX-License-Identifier: MIT */
/* git sbx run --staged / --rev, shared with the pre-commit hook (cmd/hooks.c). */
#ifndef SBX_CMD_RUN_CMD_H
#define SBX_CMD_RUN_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "sbx/sandbox.h"

struct cmd_ctx;

struct run_tree_opts {
	bool staged;		/* the index's tree, HEAD as its parent */
	const char *rev;	/* or this commit's */
	const char *image;
	unsigned cpus;
	uint64_t memory, timeout_ms;
	enum sbx_backend backend;
	bool verbose, quiet;
};

/*
 * Boot a throwaway VM, check the tree out in /workspace (HEAD at its
 * parent for --staged, so `git diff --cached` there shows what is staged)
 * and run argv as the agent user; its output to ours.  Returns its exit
 * code, or 128 when the VM failed.  Dies outside a repository.
 */
int run_on_tree(struct cmd_ctx *ctx, const struct run_tree_opts *ro, const char *const *argv);

#endif
