// SPDX-License-Identifier: MIT
/* git sbx rm ID...: remove tasks with their worktree, branch, disk and log. */
#include "cmd/builtin.h"
#include "sbx/task.h"
#include "util/error.h"

#include <stdio.h>

static const char *const rm_usage[] = {
	"git sbx rm [--keep-branch] [-f | --force] <id>...",
	NULL,
};

int cmd_rm(int argc, const char **argv, struct cmd_ctx *ctx)
{
	bool keep_branch = false, force = false;
	int n, i, ret = 0;
	const struct option opts[] = {
		OPT_BOOL(0, "keep-branch", &keep_branch, "keep the task's branch sbx/<id>"),
		OPT_BOOL('f', "force", &force, "remove even a running task or a worktree with local changes"),
		OPT_END(),
	};

	n = parse_options(argc, argv, opts, rm_usage, 0);
	if (n < 1)
		usage_with_options(rm_usage, opts);
	for (i = 0; i < n; i++) {
		unsigned id, flags = 0;
		bool kept;
		int err;

		if (sbx_task_parse_id(&id, argv[i])) {
			ret = error_sbx("cannot remove");
			continue;
		}
		if (keep_branch)
			flags |= SBX_TASK_RM_KEEP_BRANCH;
		if (force)
			flags |= SBX_TASK_RM_FORCE;
		err = sbx_task_remove(&kept, ctx->repo, id, flags);
		if (err) {
			fflush(stdout);
			error_msg("cannot remove task %u (%s)", id, sbx_error());
			if (err == SBX_ELOCKED || err == SBX_EEXISTS)
				fprintf(stderr, "hint: use 'git sbx rm --force %u' to remove it anyway\n", id);
			ret = 1;
			continue;
		}
		printf("Removed task %u (branch sbx/%u %s).\n", id, id, kept ? "kept" : "deleted");
	}
	return ret;
}
