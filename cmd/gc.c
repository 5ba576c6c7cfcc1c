// SPDX-License-Identifier: MIT
/*
 * git sbx gc: clean up after crashes (records, worktrees, temp files), and
 * remove warm bases no task restored for sbx.warmExpiry or whose image is gone.
 */
#include "cmd/builtin.h"
#include "sbx/config.h"
#include "sbx/task.h"
#include "sbx/warm.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>

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
	struct sbx_warm_gc_stats wst;
	struct sbx_config *cfg = NULL;
	uint64_t expiry = SBX_WARM_DEFAULT_EXPIRY_MS;
	bool quiet = false;
	size_t i;
	int err;
	const struct option opts[] = {
		OPT_BOOL('q', "quiet", &quiet, "print nothing"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, gc_usage, 0) > 0)
		usage_with_options(gc_usage, opts);
	if (sbx_task_gc(&st, ctx->repo))
		die_sbx("gc failed");
	if (sbx_config_open(&cfg, ctx->repo))
		die_sbx("cannot read the configuration");
	err = sbx_config_duration_ms(cfg, "sbx.warmExpiry", &expiry);
	sbx_config_free(cfg);
	if (err && err != SBX_ENOTFOUND)
		die_sbx("bad sbx.warmExpiry");
	if (sbx_warm_gc(&wst, ctx->repo, expiry))
		die_sbx("gc of the warm bases failed");
	if (quiet) {
		free(wst.removed);
		return 0;
	}
	say(st.finished_removals, "interrupted removal finished", "interrupted removals finished");
	say(st.interrupted, "task whose process died marked failed",
	    "tasks whose process died marked failed");
	say(st.stray_dirs, "stray directory removed", "stray directories removed");
	say(st.pruned_worktrees, "worktree pruned", "worktrees pruned");
	say(st.temp_files, "temporary file removed", "temporary files removed");
	say(st.checkpoint_files, "checkpoint file nothing needs removed",
	    "checkpoint files nothing needs removed");
	for (i = 0; i < wst.nremoved; i++)
		printf("removed warm base %.12s (%s)\n", wst.removed[i].key, wst.removed[i].why);
	say(wst.builds, "unfinished warm base build removed", "unfinished warm base builds removed");
	say(wst.in_use, "warm base in use kept", "warm bases in use kept");
	free(wst.removed);
	return 0;
}
