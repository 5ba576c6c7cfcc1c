// SPDX-License-Identifier: MIT
/* git sbx gc: clean up after crashes (records, worktrees, temp files). */
#include "cmd/builtin.h"
#include "sbx/task.h"
#include "util/error.h"

#include <stdio.h>

static const char *const gc_usage[] = {
	"git sbx gc [-q | --quiet]",
	NULL,
};

static void say(unsigned n, const char *one, const char *many)
{
	if (n)
		printf("%u %s\n", n, n == 1 ? one : many);
}

int cmd_gc(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_task_gc_stats st;
	bool quiet = false;
	const struct option opts[] = {
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, gc_usage, 0) > 0)
		usage_with_options(gc_usage, opts);
	if (sbx_task_gc(&st, ctx->repo))
		die_sbx("gc failed");
	if (quiet)
		return 0;
	say(st.finished_removals, "interrupted removal finished", "interrupted removals finished");
	say(st.interrupted, "task whose process died marked failed",
	    "tasks whose process died marked failed");
	say(st.stray_dirs, "stray directory removed", "stray directories removed");
	say(st.pruned_worktrees, "worktree pruned", "worktrees pruned");
	say(st.temp_files, "temporary file removed", "temporary files removed");
	return 0;
}
