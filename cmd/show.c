// SPDX-License-Identifier: MIT
/* git sbx show ID: one task in full, or JSON. */
#include "cmd/builtin.h"
#include "cmd/task-print.h"
#include "sbx/task.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *const show_usage[] = {
	"git sbx show [--json] <id>",
	NULL,
};

static void print_time(const char *label, int64_t ms)
{
	char buf[64], age[32];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms)
		return;
	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %z", &tm);
	format_age(age, sizeof(age), ms);
	printf("%-10s%s (%s)\n", label, buf, age);
}

static void print_prompt(const char *p)
{
	fputs("prompt:\n    ", stdout);
	for (; *p; p++) {
		putchar(*p);
		if (*p == '\n' && p[1])
			fputs("    ", stdout);
	}
	putchar('\n');
}

int cmd_show(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_task_summary s;
	struct sbx_task *t;
	bool json = false;
	char hex[GIT_OID_HEXSZ + 1], phases[160];
	size_t i;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print the task as JSON"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, show_usage, 0) != 1)
		usage_with_options(show_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	if (sbx_task_summarize(&s, ctx->repo, t, true))
		die_sbx("cannot read the task's branch");
	if (json) {
		print_task_json(stdout, t, &s);
		putchar('\n');
		goto out;
	}
	printf("task %u\n", t->id);
	printf("%-10s%s", "state:", task_state_label(t));
	if (t->exit_status >= 0)
		printf(" (agent exit status %d)", t->exit_status);
	putchar('\n');
	if (t->error)
		printf("%-10s%s\n", "error:", t->error);
	printf("%-10s%s %s\n", "base:", git_oid_tostr(hex, sizeof(hex), &t->base),
	       s.base_subject ? s.base_subject : "(missing)");
	printf("%-10s%s", "branch:", t->branch);
	if (s.branch_exists)
		printf(" at %.12s", git_oid_tostr(hex, sizeof(hex), &s.tip));
	else
		printf(" (deleted)");
	printf(", %zu commit%s", s.ncommits, s.ncommits == 1 ? "" : "s");
	if (s.files_changed)
		printf(", %zu file%s changed, %zu insertion%s(+), %zu deletion%s(-)",
		       s.files_changed, s.files_changed == 1 ? "" : "s",
		       s.insertions, s.insertions == 1 ? "" : "s",
		       s.deletions, s.deletions == 1 ? "" : "s");
	putchar('\n');
	if (t->worktree)
		printf("%-10s%s\n", "worktree:", t->worktree);
	if (t->agent)
		printf("%-10s%s\n", "agent:", t->agent);
	if (t->image)
		printf("%-10s%s\n", "image:", t->image);
	print_time("created:", t->created_ms);
	print_time("started:", t->started_ms);
	print_time("finished:", t->finished_ms);
	if (t->started_ms) {
		format_phases(phases, sizeof(phases), t);
		printf("%-10s%s\n", "time:", phases);
	}
	print_prompt(t->prompt);
	if (s.ncommits_listed) {
		printf("commits:\n");
		for (i = 0; i < s.ncommits_listed; i++)
			printf("    %s\n", s.commits[i]);
		if (s.ncommits > s.ncommits_listed)
			printf("    ... and %zu more\n", s.ncommits - s.ncommits_listed);
	}
out:
	sbx_task_summary_clear(&s);
	sbx_task_free(t);
	return 0;
}
