// SPDX-License-Identifier: MIT
/* git sbx list: every task, one line each, or JSON. */
#include "cmd/builtin.h"
#include "cmd/pager.h"
#include "cmd/task-print.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/quote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const list_usage[] = {
	"git sbx list [--json]",
	NULL,
};

/*
 * The prompt's first line, escaped (util/quote.h; tabs as spaces), cut to
 * `width` bytes at a character (good enough for a table).
 */
static void print_prompt(const char *p, size_t width)
{
	size_t len = strcspn(p, "\n");
	char *line = strndup(p, len), *all, *q, out[256];

	if (!line || !(all = sbx_quote_str(line)))
		die("out of memory");
	for (q = all; *q; q++)
		if (*q == '\t')
			*q = ' ';
	sbx_quote_buf(out, width + 1 < sizeof(out) ? width + 1 : sizeof(out), all);
	fputs(out, stdout);
	if (strlen(out) < strlen(all) || (p[len] && p[len + 1]))
		fputs("...", stdout);
	free(all);
	free(line);
}

int cmd_list(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_task **tasks = NULL;
	size_t n = 0, bad = 0, i;
	bool json = false;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print the tasks as a JSON array"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, list_usage, 0) > 0)
		usage_with_options(list_usage, opts);
	if (sbx_task_list(&tasks, &n, &bad, ctx->repo))
		die_sbx("cannot list the tasks");
	setup_pager();
	if (json)
		fputs("[", stdout);
	else if (n)
		printf("%-4s %-13s %-9s %-7s %-14s %-6s %s\n", "ID", "STATE", "CREATED", "COMMITS", "CHANGES",
		       "CHECKS", "PROMPT");
	for (i = 0; i < n; i++) {
		struct sbx_task_summary s;
		char age[32], changes[48];

		if (sbx_task_summarize(&s, ctx->repo, tasks[i], true))
			memset(&s, 0, sizeof(s));
		if (json) {
			fputs(i ? ",\n " : "\n ", stdout);
			print_task_json(stdout, tasks[i], &s);
		} else {
			format_age(age, sizeof(age), tasks[i]->created_ms);
			if (s.files_changed)
				snprintf(changes, sizeof(changes), "%zuf +%zu -%zu",
					 s.files_changed, s.insertions, s.deletions);
			else
				snprintf(changes, sizeof(changes), "-");
			printf("%-4u %s%-13s%s %-9s %-7zu %-14s %-6s ", tasks[i]->id,
			       color(task_state_color(tasks[i])), task_state_label(tasks[i]),
			       color(COLOR_RESET), age, s.ncommits, changes, checks_label(tasks[i]));
			print_prompt(tasks[i]->prompt, 50);
			putchar('\n');
		}
		sbx_task_summary_clear(&s);
	}
	if (json)
		fputs(n ? "\n]\n" : "]\n", stdout);
	if (bad)
		fprintf(stderr, "warning: %zu task record%s could not be read; see 'git sbx gc'\n",
			bad, bad == 1 ? "" : "s");
	sbx_task_list_free(tasks, n);
	return 0;
}
