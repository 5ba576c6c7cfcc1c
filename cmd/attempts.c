// SPDX-License-Identifier: MIT
/*
 * git sbx attempts ID [--json]: a task's attempts side by side (state, exit
 * status, commits, diffstat, time, which files they agree on);
 * git sbx pick ID N: sbx/<id> and its worktree to attempt N's result.
 */
#include "cmd/builtin.h"
#include "cmd/pager.h"
#include "cmd/task-print.h"
#include "sbx/attempt.h"
#include "sbx/fsutil.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/json.h"
#include "util/quote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const attempts_usage[] = {
	"git sbx attempts [--json] <id>",
	NULL,
};

static const char *const pick_usage[] = {
	"git sbx pick [--force] <id> <attempt>",
	NULL,
};

const char *attempt_state_label(const struct sbx_task *t, const struct sbx_task_attempt *a)
{
	if (a->state == SBX_TASK_RUNNING) {
		char *lock = sbx_attempt_file(t, a->n, "lock");
		bool held = lock && sbx_lock_held(lock);

		free(lock);
		if (!held)
			return "interrupted";
	}
	return sbx_task_state_name(a->state);
}

static const char *attempt_color(const char *label)
{
	if (!strcmp(label, "done"))
		return COLOR_GREEN;
	if (!strcmp(label, "running") || !strcmp(label, "created"))
		return COLOR_YELLOW;
	return COLOR_RED;
}

static uint64_t attempt_time(const struct sbx_task_attempt *a)
{
	return a->started_ms && a->finished_ms > a->started_ms ? (uint64_t)(a->finished_ms - a->started_ms) : 0;
}

/* One column per attempt: A, B, ... per distinct content, "." unchanged, "-" no result. */
static void print_file(const struct sbx_attempts_file *f, size_t nrows, int width)
{
	size_t i;

	printf("  %s%-7s%s", color(f->agree ? COLOR_GREEN : COLOR_YELLOW), f->agree ? "agree" : "differ",
	       color(COLOR_RESET));
	for (i = 0; i < nrows; i++) {
		int g = f->group[i];

		if (g < 0)
			printf(" %*s", width, "-");
		else if (g == 0)
			printf(" %*s", width, ".");
		else if (g <= 26)
			printf(" %*c", width, 'A' + g - 1);
		else
			printf(" %*d", width, g);
	}
	fputs("  ", stdout);
	sbx_quote_fputs(f->path, stdout);
	putchar('\n');
}

void print_attempts(struct cmd_ctx *ctx, const struct sbx_task *t, const char *indent, bool files)
{
	struct sbx_attempts_cmp c;
	size_t i, nfiles_shown = 0;
	int width;

	if (sbx_attempts_compare(&c, ctx->repo, t)) {
		printf("%s(the attempts' results cannot be compared: ", indent);
		sbx_quote_fputs(sbx_error(), stdout);
		printf(")\n");
		return;
	}
	printf("%s  %-3s %-13s %-4s %-7s %-18s %-7s %-7s %s\n", indent, "#", "STATE", "EXIT", "COMMITS",
	       "CHANGES", "AGENT", "TIME", "RESULT");
	for (i = 0; i < t->nattempts; i++) {
		const struct sbx_task_attempt *a = &t->attempts[i];
		const struct sbx_attempts_row *r = &c.rows[i];
		const char *label = attempt_state_label(t, a);
		char changes[48], agent[16], took[16], exit_s[8], tip[16];

		if (r->has_tip && r->files_changed)
			snprintf(changes, sizeof(changes), "%zuf +%zu -%zu", r->files_changed, r->insertions,
				 r->deletions);
		else
			snprintf(changes, sizeof(changes), "%s", r->has_tip ? "none" : "-");
		format_ms(agent, sizeof(agent), a->agent_ms);
		format_ms(took, sizeof(took), attempt_time(a));
		snprintf(exit_s, sizeof(exit_s), "%d", a->exit_status);
		snprintf(tip, sizeof(tip), "%.12s", r->has_tip ? git_oid_tostr_s(&r->tip) : "-");
		printf("%s%c %-3u %s%-13s%s %-4s %-7zu %-18s %-7s %-7s %s%s%s\n", indent,
		       t->chosen == a->n ? '*' : ' ', a->n, color(attempt_color(label)), label,
		       color(COLOR_RESET), a->exit_status >= 0 ? exit_s : "-", r->commits, changes,
		       a->agent_ms ? agent : "-", attempt_time(a) ? took : "-", color(COLOR_YELLOW), tip,
		       color(COLOR_RESET));
		if (a->prompt) {
			char *q = sbx_quote_str(a->prompt), *nl;

			if (!q)
				die("out of memory");
			nl = strchr(q, '\n');
			if (nl)
				strcpy(nl, "...");
			printf("%s      prompt: %s\n", indent, q);
			free(q);
		}
		if (a->error && a->state != SBX_TASK_DONE) {
			printf("%s      ", indent);
			sbx_quote_fputs(a->error, stdout);
			putchar('\n');
		}
	}
	if (files && c.nfiles) {
		width = t->nattempts >= 10 ? 2 : 1;
		printf("%sfiles (A, B, ...: the same letter is the same content; '.' as at the base, '-' no result):\n",
		       indent);
		printf("%s  %-7s", indent, "");
		for (i = 0; i < t->nattempts; i++)
			printf(" %*u", width, t->attempts[i].n);
		putchar('\n');
		for (i = 0; i < c.nfiles; i++, nfiles_shown++) {
			fputs(indent, stdout);
			print_file(&c.files[i], c.nrows, width);
		}
		if (c.files_truncated)
			printf("%s  ... and more (over %u files)\n", indent, SBX_ATTEMPTS_MAX_FILES);
	}
	sbx_attempts_cmp_clear(&c);
}

static json_t *attempts_json(struct cmd_ctx *ctx, const struct sbx_task *t)
{
	struct sbx_attempts_cmp c;
	json_t *o = json_object(), *arr = json_array(), *files = json_array();
	size_t i, j;
	char ref[64];
	int err = !o || !arr || !files;

	if (sbx_attempts_compare(&c, ctx->repo, t))
		die_sbx("cannot compare the attempts");
	for (i = 0; i < t->nattempts && !err; i++) {
		const struct sbx_task_attempt *a = &t->attempts[i];
		const struct sbx_attempts_row *r = &c.rows[i];
		json_t *x = json_object();

		sbx_attempt_ref(ref, sizeof(ref), t->id, a->n);
		err = !x;
		err = err ?: sbx_json_set(x, "n", json_integer(a->n));
		err = err ?: sbx_json_set(x, "state", sbx_json_str(attempt_state_label(t, a)));
		err = err ?: sbx_json_set(x, "chosen", json_boolean(t->chosen == a->n));
		err = err ?: sbx_json_set(x, "ref", sbx_json_str(ref));
		err = err ?: sbx_json_set(x, "exit_status", a->exit_status >= 0 ? json_integer(a->exit_status)
										  : json_null());
		err = err ?: sbx_json_set(x, "result", r->has_tip ? json_string(git_oid_tostr_s(&r->tip))
								  : json_null());
		err = err ?: sbx_json_set(x, "commits", json_integer((json_int_t)r->commits));
		err = err ?: sbx_json_set(x, "files_changed", json_integer((json_int_t)r->files_changed));
		err = err ?: sbx_json_set(x, "insertions", json_integer((json_int_t)r->insertions));
		err = err ?: sbx_json_set(x, "deletions", json_integer((json_int_t)r->deletions));
		err = err ?: sbx_json_set(x, "agent_ms", json_integer((json_int_t)a->agent_ms));
		err = err ?: sbx_json_set(x, "time_ms", json_integer((json_int_t)attempt_time(a)));
		err = err ?: sbx_json_set(x, "started_ms", json_integer(a->started_ms));
		err = err ?: sbx_json_set(x, "finished_ms", json_integer(a->finished_ms));
		err = err ?: sbx_json_set(x, "warm", a->warm[0] ? json_string(a->warm) : json_null());
		err = err ?: sbx_json_set(x, "prompt", a->prompt ? sbx_json_str(a->prompt) : json_null());
		err = err ?: sbx_json_set(x, "error", sbx_json_str(a->error));
		err = err ?: json_array_append_new(arr, x);
	}
	for (i = 0; i < c.nfiles && !err; i++) {
		json_t *f = json_object(), *g = json_array();

		err = !f || !g;
		for (j = 0; j < c.nrows && !err; j++)
			err = json_array_append_new(g, c.files[i].group[j] < 0 ? json_null()
							 : json_integer(c.files[i].group[j]));
		err = err ?: sbx_json_set(f, "path", sbx_json_str(c.files[i].path));
		err = err ?: sbx_json_set(f, "agree", json_boolean(c.files[i].agree));
		err = err ?: sbx_json_set(f, "content", g);
		err = err ?: json_array_append_new(files, f);
	}
	err = err ?: sbx_json_set(o, "id", json_integer(t->id));
	err = err ?: sbx_json_set(o, "base", json_string(git_oid_tostr_s(&t->base)));
	err = err ?: sbx_json_set(o, "branch", sbx_json_str(t->branch));
	err = err ?: sbx_json_set(o, "chosen", t->chosen ? json_integer(t->chosen) : json_null());
	err = err ?: sbx_json_set(o, "picked", json_boolean(t->picked));
	err = err ?: sbx_json_set(o, "attempts", arr);
	err = err ?: sbx_json_set(o, "files", files);
	err = err ?: sbx_json_set(o, "files_truncated", json_boolean(c.files_truncated));
	sbx_attempts_cmp_clear(&c);
	if (err)
		die("out of memory");
	return o;
}

int cmd_attempts(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_task *t;
	bool json = false;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print the attempts as JSON"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, attempts_usage, 0) != 1)
		usage_with_options(attempts_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	if (!t->nattempts) {
		error_msg("task %u has no attempts (git sbx retry %u adds some)", t->id, t->id);
		sbx_task_free(t);
		return 1;
	}
	setup_pager();
	if (json) {
		print_json_value(stdout, attempts_json(ctx, t));
		putchar('\n');
	} else {
		printf("%stask %u%s: %zu attempts from %.12s", color(COLOR_YELLOW), t->id, color(COLOR_RESET),
		       t->nattempts, git_oid_tostr_s(&t->base));
		if (t->chosen)
			printf("; %s is attempt %u (%s)\n", t->branch, t->chosen,
			       t->picked ? "picked" : "the first that succeeded");
		else
			printf("; none chosen, %s is at the base\n", t->branch);
		print_attempts(ctx, t, "", true);
		printf("compare: git sbx diff %u --attempt N [--against M]    choose: git sbx pick %u N\n",
		       t->id, t->id);
	}
	sbx_task_free(t);
	return 0;
}

int cmd_pick(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_task *t;
	unsigned n;
	bool force = false, moved;
	int err;
	const struct option opts[] = {
		OPT_BOOL(0, "force", &force, "move sbx/<id> even from commits no attempt made"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, pick_usage, 0) != 2)
		usage_with_options(pick_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	if (sbx_task_parse_id(&n, argv[1]))
		usage_msg_opt("the attempt is a number (git sbx attempts <id> lists them)", pick_usage, opts);
	err = sbx_attempt_pick(&moved, ctx->repo, t, n, force);
	if (err) {
		error_msg("cannot pick attempt %u of task %u: %s", n, t->id, sbx_error());
		sbx_task_free(t);
		return err == SBX_EEXISTS || err == SBX_ELOCKED ? 1 : 128;
	}
	if (moved)
		printf("%s is attempt %u's result %.12s%s%s\n", t->branch, n, git_oid_tostr_s(&t->result),
		       t->worktree ? "; worktree updated: " : "", t->worktree ? t->worktree : "");
	else
		printf("%s is already at attempt %u's result %.12s (now picked)\n", t->branch, n,
		       git_oid_tostr_s(&t->result));
	sbx_task_free(t);
	return 0;
}
