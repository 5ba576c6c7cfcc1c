// SPDX-License-Identifier: MIT
/* git sbx show ID: one task in full, or JSON. */
#include "cmd/builtin.h"
#include "cmd/pager.h"
#include "cmd/task-print.h"
#include "sbx/audit.h"
#include "sbx/task.h"
#include "util/json.h"
#include "util/error.h"
#include "util/quote.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const show_usage[] = {
	"git sbx show [--json] <id>",
	NULL,
};

/*
 * The audit trail's counts, when the task has one: 1 with *a filled, 0
 * when there is none, -1 when it cannot be read (a warning says why).
 */
static int read_audit(struct sbx_audit_summary *a, const struct sbx_task *t)
{
	char *path = sbx_audit_path(t);
	int err;

	if (!path)
		die("out of memory");
	err = sbx_audit_summarize(a, path);
	free(path);
	if (err == SBX_ENOTFOUND)
		return 0;
	if (err) {
		error_msg("cannot read the audit trail (%s)", sbx_error());
		return -1;
	}
	return 1;
}

int cmd_show(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_audit_summary audit = SBX_AUDIT_SUMMARY_INIT;
	struct sbx_task_summary s;
	struct sbx_task *t;
	int has_audit;
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
	setup_pager();
	if (sbx_task_summarize(&s, ctx->repo, t, true))
		die_sbx("cannot read the task's branch");
	has_audit = read_audit(&audit, t);
	if (json) {
		json_t *o = task_json(t, &s);

		/* "audit" only when the task has an audit trail. */
		if (has_audit > 0 && sbx_json_set(o, "audit", task_audit_json(&audit)))
			die("out of memory");
		print_json_value(stdout, o);
		putchar('\n');
		goto out;
	}
	printf("%stask %u%s\n", color(COLOR_YELLOW), t->id, color(COLOR_RESET));
	printf("%-10s%s%s%s", "state:", color(task_state_color(t)), task_state_label(t), color(COLOR_RESET));
	if (t->exit_status >= 0)
		printf(" (agent exit status %d)", t->exit_status);
	putchar('\n');
	if (t->error)
		print_task_field("error:", t->error);
	print_task_review(t);
	printf("%-10s%s ", "base:", git_oid_tostr(hex, sizeof(hex), &t->base));
	sbx_quote_fputs(s.base_subject ? s.base_subject : "(missing)", stdout);
	putchar('\n');
	printf("%-10s", "branch:");
	sbx_quote_fputs(t->branch, stdout);
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
		print_task_field("worktree:", t->worktree);
	if (t->agent)
		print_task_field("agent:", t->agent);
	if (t->image)
		print_task_field("image:", t->image);
	print_task_time("created:", t->created_ms);
	print_task_time("started:", t->started_ms);
	print_task_time("finished:", t->finished_ms);
	if (t->started_ms) {
		char start[1400];

		format_phases(phases, sizeof(phases), t);
		printf("%-10s%s\n", "time:", phases);
		format_start(start, sizeof(start), t);
		if (start[0])
			print_task_field("start:", start);
	}
	if (t->nattempts > 1) {
		printf("%-10s%zu; ", "attempts:", t->nattempts);
		if (t->chosen)
			printf("%s is attempt %u (%s)", t->branch, t->chosen,
			       t->picked ? "picked" : "the first that succeeded");
		else
			printf("none chosen");
		printf("; git sbx attempts %u\n", t->id);
	}
	if (has_audit > 0)
		printf("%-10sallowed %zu, denied %zu connection%s; %zu command%s run\n", "network:",
		       audit.conns_allowed, audit.conns_denied,
		       audit.conns_allowed + audit.conns_denied == 1 ? "" : "s",
		       audit.execs, audit.execs == 1 ? "" : "s");
	if (t->checks_run) {
		char ms[32];

		format_ms(ms, sizeof(ms), t->checks_ms);
		printf("%-10s%s (run %u, %s, in a fresh VM)\n", "checks:", sbx_check_status_name(t->checks_status),
		       t->checks_run, ms);
		print_checks(stdout, t, "    ", 1500);
	}
	print_task_prompt(t->prompt);
	if (s.ncommits_listed) {
		printf("commits:\n");
		for (i = 0; i < s.ncommits_listed; i++) {
			fputs("    ", stdout);
			sbx_quote_fputs(s.commits[i], stdout);
			putchar('\n');
		}
		if (s.ncommits > s.ncommits_listed)
			printf("    ... and %zu more\n", s.ncommits - s.ncommits_listed);
	}
out:
	sbx_audit_summary_clear(&audit);
	sbx_task_summary_clear(&s);
	sbx_task_free(t);
	return 0;
}
