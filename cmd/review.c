// SPDX-License-Identifier: MIT
/*
 * git sbx review ID: one task as a pull request's page (sbx/review.h),
 * through git's pager with git's colours; --json; --format=markdown.
 */
#include "cmd/builtin.h"
#include "cmd/pager.h"
#include "cmd/task-print.h"
#include "sbx/review.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/json.h"
#include "util/quote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const review_usage[] = {
	"git sbx review [--json | --format=<text|markdown>] <id>",
	NULL,
};

/* `len` bytes of guest text, escaped, in colour, without its newline; then one. */
static void put_line(const char *col, const char *s, size_t len)
{
	struct sbx_quote q = SBX_QUOTE_INIT;
	char *esc;
	size_t n;

	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	esc = malloc(SBX_QUOTE_MAX(len));
	if (!esc)
		die("out of memory");
	n = sbx_quote_mem(&q, esc, s, len);
	n += sbx_quote_end(&q, esc + n);
	fputs(color(col), stdout);
	fwrite(esc, 1, n, stdout);
	if (*col)
		fputs(color(COLOR_RESET), stdout);
	putchar('\n');
	free(esc);
}

/* The diffstat, escaped, with git's green pluses and red minuses after the last '|'. */
static void print_stat(const char *stat)
{
	char *q = sbx_quote_str(stat), *line, *save = NULL;

	if (!q)
		die("out of memory");
	for (line = strtok_r(q, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *bar = strrchr(line, '|'), *p;
		size_t sp, dg;

		if (!bar) {
			printf("%s\n", line);
			continue;
		}
		fwrite(line, 1, (size_t)(bar - line + 1), stdout);
		p = bar + 1;
		/* " 12 ++++--": the count, then the bar; "Bin 0 -> 12 bytes" stays plain */
		sp = strspn(p, " ");
		dg = strspn(p + sp, "0123456789");
		if (!dg || p[sp + dg] != ' ') {
			printf("%s\n", p);
			continue;
		}
		fwrite(p, 1, sp + dg + 1, stdout);
		p += sp + dg + 1;
		/* the pluses */
		while (*p == '+' || *p == '-') {
			size_t run = strspn(p, *p == '+' ? "+" : "-");

			fputs(color(*p == '+' ? COLOR_GREEN : COLOR_RED), stdout);
			fwrite(p, 1, run, stdout);
			fputs(color(COLOR_RESET), stdout);
			p += run;
		}
		printf("%s\n", p);
	}
	free(q);
}

static int diff_line(const git_diff_delta *d, const git_diff_hunk *h, const git_diff_line *l, void *payload)
{
	(void)d;
	(void)h;
	(void)payload;
	switch (l->origin) {
	case GIT_DIFF_LINE_FILE_HDR: {
		const char *p = l->content, *end = l->content + l->content_len;

		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p + 1) : (size_t)(end - p);

			put_line(COLOR_BOLD, p, len);
			p += len;
		}
		break;
	}
	case GIT_DIFF_LINE_HUNK_HDR: {
		/* "@@ -1,2 +1,3 @@" in cyan, the function context after it plain */
		const char *at = l->content_len > 2 ? memmem(l->content + 2, l->content_len - 2, "@@", 2) : NULL;
		size_t head = at ? (size_t)(at - l->content) + 2 : l->content_len;

		fputs(color(COLOR_CYAN), stdout);
		fwrite(l->content, 1, head, stdout);	/* our own digits and @@ (libgit2's) */
		fputs(color(COLOR_RESET), stdout);
		put_line("", l->content + head, l->content_len - head);
		break;
	}
	case GIT_DIFF_LINE_ADDITION:
	case GIT_DIFF_LINE_DELETION:
	case GIT_DIFF_LINE_CONTEXT: {
		char *buf = malloc(l->content_len + 1);

		if (!buf)
			die("out of memory");
		buf[0] = l->origin;
		memcpy(buf + 1, l->content, l->content_len);
		put_line(l->origin == '+' ? COLOR_GREEN : l->origin == '-' ? COLOR_RED : "", buf,
			 l->content_len + 1);
		free(buf);
		break;
	}
	default:
		/* "\ No newline at end of file", "Binary files ... differ" */
		put_line("", l->content, l->content_len);
		break;
	}
	return 0;
}

static void print_review_checks(const struct sbx_review *r)
{
	size_t i;

	if (!r->nchecks)
		return;
	printf("\nchecks: %s%s%s", color(r->checks_failed ? COLOR_RED : COLOR_GREEN),
	       r->checks_failed ? "failed" : "passed", color(COLOR_RESET));
	if (r->checks_failed)
		printf(" (%zu of %zu)", r->checks_failed, r->nchecks);
	putchar('\n');
	for (i = 0; i < r->nchecks; i++) {
		const struct sbx_check *c = &r->checks[i];
		char took[16];

		format_ms(took, sizeof(took), c->duration_ms);
		printf("    %s%-6s%s ", color(!strcmp(c->status, "pass") ? COLOR_GREEN :
					      !strcmp(c->status, "skip") ? COLOR_FAINT : COLOR_RED),
		       c->status, color(COLOR_RESET));
		sbx_quote_fputs(c->name, stdout);
		printf(" (%s)\n", took);
		if (c->log_tail && strcmp(c->status, "pass")) {
			const char *p = c->log_tail;

			if (c->tail_cut)
				printf("        %s...%s\n", color(COLOR_FAINT), color(COLOR_RESET));
			while (*p) {
				size_t len = strcspn(p, "\n");

				fputs("        | ", stdout);
				put_line("", p, len);
				p += len + (p[len] == '\n');
			}
		}
	}
}

static void print_text(struct cmd_ctx *ctx, const struct sbx_review *r)
{
	const struct sbx_task *t = r->task;
	char hex[GIT_OID_HEXSZ + 1];
	size_t i;

	printf("%stask %u%s: %s", color(COLOR_YELLOW), t->id, color(COLOR_RESET), color(COLOR_BOLD));
	sbx_quote_fputs(r->title, stdout);
	printf("%s\n", color(COLOR_RESET));
	printf("%-10s%s%s%s", "state:", color(task_state_color(t)), task_state_label(t), color(COLOR_RESET));
	if (t->exit_status >= 0)
		printf(" (agent exit status %d)", t->exit_status);
	putchar('\n');
	if (t->error)
		print_task_field("error:", t->error);
	print_task_review(t);
	printf("%-10s%s ", "base:", git_oid_tostr(hex, sizeof(hex), &t->base));
	sbx_quote_fputs(r->summary.base_subject ? r->summary.base_subject : "(missing)", stdout);
	printf("\n%-10s", "branch:");
	sbx_quote_fputs(t->branch, stdout);
	if (r->summary.branch_exists)
		printf(" at %.12s", git_oid_tostr(hex, sizeof(hex), &r->summary.tip));
	else
		printf(" (deleted)");
	printf(", %zu commit%s\n", r->summary.ncommits, r->summary.ncommits == 1 ? "" : "s");
	if (t->agent)
		print_task_field("agent:", t->agent);
	print_task_time("created:", t->created_ms);
	print_task_time("finished:", t->finished_ms);
	/* Attempts, when there are several: each, and which one sbx/<id> is. */
	if (r->attempts > 1) {
		printf("%-10s%u", "attempts:", r->attempts);
		if (t->chosen)
			printf(" (%s is attempt %u%s)", t->branch, t->chosen, t->picked ? ", picked" : "");
		putchar('\n');
		print_attempts(ctx, t, "    ", false);
	}
	print_task_prompt(t->prompt);
	if (r->summary.ncommits_listed) {
		printf("\ncommits:\n");
		for (i = 0; i < r->summary.ncommits_listed; i++) {
			const char *c = r->summary.commits[i], *sp = strchr(c, ' ');
			size_t hl = sp ? (size_t)(sp - c) : strlen(c);

			printf("    %s%.*s%s ", color(COLOR_YELLOW), (int)hl, c, color(COLOR_RESET));
			sbx_quote_fputs(sp ? sp + 1 : "", stdout);
			putchar('\n');
		}
		if (r->summary.ncommits > r->summary.ncommits_listed)
			printf("    ... and %zu more\n", r->summary.ncommits - r->summary.ncommits_listed);
	}
	if (r->diffstat && *r->diffstat) {
		printf("\nchanges:\n");
		print_stat(r->diffstat);
	}
	print_review_checks(r);
	if (r->has_audit) {
		char *text = sbx_audit_summary_text(&r->audit), *p;

		if (!text)
			die("out of memory");
		printf("\naudit:\n");
		for (p = text; *p;) {
			size_t len = strcspn(p, "\n");

			printf("    %.*s\n", (int)len, p);	/* escaped by sbx_audit_summary_text */
			p += len + (p[len] == '\n');
		}
		free(text);
	}
	if (git_diff_num_deltas(r->diff)) {
		putchar('\n');
		if (git_diff_print(r->diff, GIT_DIFF_FORMAT_PATCH, diff_line, NULL) < 0)
			die("cannot print the diff");
	}
}

static json_t *checks_json(const struct sbx_review *r)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < r->nchecks; i++) {
		json_t *o = json_object();
		const struct sbx_check *c = &r->checks[i];
		int err = !o;

		err = err ?: sbx_json_set(o, "name", sbx_json_str(c->name));
		err = err ?: sbx_json_set(o, "status", sbx_json_str(c->status));
		err = err ?: sbx_json_set(o, "duration_ms", json_integer((json_int_t)c->duration_ms));
		err = err ?: sbx_json_set(o, "log_tail", sbx_json_str(c->log_tail));
		err = err ?: sbx_json_set(o, "log_tail_cut", json_boolean(c->tail_cut));
		if (err || json_array_append_new(a, o))
			die("out of memory");
	}
	if (!a)
		die("out of memory");
	return a;
}

int cmd_review(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_review *r = NULL;
	struct sbx_task *t;
	bool json = false;
	const char *format = "text";
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print the review as JSON (the task, checks, audit, diffstat, diff)"),
		OPT_STRING(0, "format", &format, "text|markdown", "markdown: a pull request's body"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, review_usage, 0) != 1)
		usage_with_options(review_usage, opts);
	if (strcmp(format, "text") && strcmp(format, "markdown"))
		usage_msg_opt("--format is text or markdown", review_usage, opts);
	if (json && strcmp(format, "text"))
		usage_msg_opt("--json and --format=markdown cannot go together", review_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	if (sbx_review_open(&r, ctx->repo, t))
		die_sbx("cannot review the task");
	setup_pager();
	if (json) {
		json_t *o = task_json(t, &r->summary);
		int err;

		if (sbx_review_load_patch(r))
			die_sbx("cannot review the task");
		err = sbx_json_set(o, "title", sbx_json_str(r->title));

		err = err ?: sbx_json_set(o, "attempts", json_integer(r->attempts));
		err = err ?: sbx_json_set(o, "checks", checks_json(r));
		err = err ?: sbx_json_set(o, "audit", r->has_audit ? task_audit_json(&r->audit) : json_null());
		err = err ?: sbx_json_set(o, "diffstat", sbx_json_str(r->diffstat));
		err = err ?: sbx_json_set(o, "diff", sbx_json_str(r->patch));
		if (err)
			die("out of memory");
		print_json_value(stdout, o);
		putchar('\n');
	} else if (!strcmp(format, "markdown")) {
		char *md = NULL;

		if (sbx_review_markdown(&md, r, true))
			die_sbx("cannot write the review");
		fputs(md, stdout);
		free(md);
	} else {
		print_text(ctx, r);
	}
	sbx_review_free(r);
	sbx_task_free(t);
	return 0;
}
