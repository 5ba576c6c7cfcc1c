// SPDX-License-Identifier: MIT
/*
 * git sbx diff ID [<git diff options>]: what the task changed, base..sbx/<id>,
 * shown by git itself so the pager, colours and options are git's.
 */
#include "cmd/builtin.h"
#include "cmd/task-print.h"
#include "sbx/task.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const diff_usage[] = {
	"git sbx diff <id> [<git diff options>...] [-- <path>...]",
	NULL,
};

int cmd_diff(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_task_summary s;
	struct sbx_task *t;
	char base[GIT_OID_HEXSZ + 1], tip[GIT_OID_HEXSZ + 1];
	const char **args;
	int n, i, k = 0;
	const struct option opts[] = {
		OPT_END(),
	};

	n = parse_options(argc, argv, opts, diff_usage, PARSE_OPT_STOP_AT_NON_OPTION);
	if (n < 1)
		usage_with_options(diff_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	if (sbx_task_summarize(&s, ctx->repo, t, false))
		die_sbx("cannot read the task's branch");
	git_oid_tostr(base, sizeof(base), &t->base);
	git_oid_tostr(tip, sizeof(tip), &s.tip);
	args = calloc((size_t)n + 8, sizeof(*args));
	if (!args)
		die("out of memory");
	args[k++] = "git";
	args[k++] = "diff";
	/* options first, then the two commits, then paths after "--" */
	for (i = 1; i < n && strcmp(argv[i], "--"); i++)
		args[k++] = argv[i];
	args[k++] = base;
	args[k++] = tip;
	for (; i < n; i++)
		args[k++] = argv[i];
	args[k] = NULL;
	fflush(stdout);
	execvp("git", (char *const *)args);
	die("cannot run git: %s", strerror(errno));
}
