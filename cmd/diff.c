// SPDX-License-Identifier: MIT
/*
 * git sbx diff ID [<git diff options>]: what the task changed, base..sbx/<id>,
 * shown by git itself so the colours and options are git's; the pager is
 * ours (pager.sbx, cmd/pager.h), git diff writes into it.
 */
#include "cmd/builtin.h"
#include "cmd/pager.h"
#include "cmd/task-print.h"
#include "sbx/attempt.h"
#include "sbx/task.h"
#include "sbx/repo.h"
#include "util/error.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

static const char *const diff_usage[] = {
	"git sbx diff <id> [<git diff options>...] [-- <path>...]",
	"git sbx diff <id> --attempt <n> [--against <m>] [<git diff options>...] [-- <path>...]",
	NULL,
};

/*
 * --attempt N and --against M (anywhere before "--", "=" or a separate
 * value) are ours; everything else is git diff's.  Removes them from argv.
 */
static int take_attempt_opts(int argc, const char **argv, int *attempt, int *against)
{
	int i, k = 0;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		int *slot = NULL;
		const char *v = NULL;

		if (!strcmp(a, "--")) {
			while (i < argc)
				argv[k++] = argv[i++];
			break;
		}
		if (!strcmp(a, "--attempt") || !strcmp(a, "--against")) {
			slot = a[4] == 't' ? attempt : against;
			if (i + 1 >= argc)
				die("%s needs a number", a);
			v = argv[++i];
		} else if (!strncmp(a, "--attempt=", 10) || !strncmp(a, "--against=", 10)) {
			slot = a[4] == 't' ? attempt : against;
			v = a + 10;
		}
		if (!slot) {
			argv[k++] = a;
			continue;
		}
		{
			unsigned n;

			if (sbx_task_parse_id(&n, v))
				die("'%s' is not an attempt number", v);
			*slot = (int)n;
		}
	}
	argv[k] = NULL;
	return k;
}

/* Attempt n's result, or die saying why there is none. */
static void attempt_tip(char *hex, const struct sbx_task *t, int n)
{
	const struct sbx_task_attempt *a = sbx_task_attempt_get(t, (unsigned)n);

	if (!t->nattempts)
		die("task %u has no attempts", t->id);
	if (!a)
		die("task %u has no attempt %d (it has 1 to %zu)", t->id, n, t->nattempts);
	if (!a->has_tip)
		die("attempt %d of task %u has no result (it %s)", n, t->id, sbx_task_state_name(a->state));
	git_oid_tostr(hex, GIT_OID_HEXSZ + 1, &a->tip);
}

int cmd_diff(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_task_summary s;
	struct sbx_task *t;
	char base[GIT_OID_HEXSZ + 1], tip[GIT_OID_HEXSZ + 1];
	const char **args;
	int n, i, k = 0, rc, status = 0, attempt = 0, against = 0;
	pid_t pid;
	const struct option opts[] = {
		OPT_END(),
	};

	argc = take_attempt_opts(argc, argv, &attempt, &against);
	n = parse_options(argc, argv, opts, diff_usage, PARSE_OPT_STOP_AT_NON_OPTION);
	if (n < 1)
		usage_with_options(diff_usage, opts);
	if (against && !attempt)
		usage_msg_opt("--against needs --attempt", diff_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	if (sbx_task_summarize(&s, ctx->repo, t, false))
		die_sbx("cannot read the task's branch");
	git_oid_tostr(base, sizeof(base), &t->base);
	git_oid_tostr(tip, sizeof(tip), &s.tip);
	/* attempt n against the base, or against attempt m */
	if (attempt)
		attempt_tip(tip, t, attempt);
	if (against)
		attempt_tip(base, t, against);
	args = calloc((size_t)n + 8, sizeof(*args));
	if (!args)
		die("out of memory");
	args[k++] = "git";
	args[k++] = "--no-pager";
	args[k++] = "diff";
	/* options first, then the two commits, then paths after "--" */
	for (i = 1; i < n && strcmp(argv[i], "--"); i++)
		args[k++] = argv[i];
	args[k++] = base;
	args[k++] = tip;
	for (; i < n; i++)
		args[k++] = argv[i];
	args[k] = NULL;
	/* git diff sees GIT_PAGER_IN_USE and colours for the terminal behind our pager */
	setup_pager();
	fflush(stdout);
	rc = posix_spawnp(&pid, "git", NULL, NULL, (char *const *)args, environ);
	if (rc)
		die("cannot run git: %s", strerror(rc));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("cannot wait for git: %s", strerror(errno));
	free(args);
	sbx_task_summary_clear(&s);
	sbx_task_free(t);
	/* git's status (--exit-code), and what it said on stderr */
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}
