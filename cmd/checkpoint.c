// SPDX-License-Identifier: MIT
/*
 * A task's checkpoints (docs/design.md, "Checkpoints"):
 *   git sbx checkpoints ID [--json]   list them
 *   git sbx checkpoint ID             ask the running task for one now
 *   git sbx rewind ID --to CP         move the task back to one
 */
#include "cmd/builtin.h"
#include "cmd/pager.h"
#include "cmd/task-print.h"
#include "sbx/checkpoint.h"
#include "sbx/repo.h"
#include "sbx/rewind.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const checkpoints_usage[] = {
	"git sbx checkpoints [--json] <id>",
	NULL,
};

static const char *const checkpoint_usage[] = {
	"git sbx checkpoint [--wait] <id>",
	NULL,
};

static const char *const rewind_usage[] = {
	"git sbx rewind <id> --to <checkpoint>",
	NULL,
};

static void format_bytes(char *buf, size_t n, uint64_t b)
{
	if (b < 10 * 1024)
		snprintf(buf, n, "%llu B", (unsigned long long)b);
	else if (b < 10 * 1024 * 1024)
		snprintf(buf, n, "%.1f KiB", b / 1024.0);
	else if (b < 10ull * 1024 * 1024 * 1024)
		snprintf(buf, n, "%.1f MiB", b / 1048576.0);
	else
		snprintf(buf, n, "%.1f GiB", b / 1073741824.0);
}

/* Is the checkpoint's commit in the repository (imported)? */
static bool have_commit(struct cmd_ctx *ctx, const char *hex)
{
	git_commit *c = NULL;
	git_oid id;
	bool ok = !git_oid_fromstr(&id, hex) && !git_commit_lookup(&c, ctx->repo->git, &id);

	git_commit_free(c);
	return ok;
}

static json_t *ckpt_json(struct cmd_ctx *ctx, const struct sbx_ckpt *c, bool current)
{
	json_t *o = json_object();

	if (!o || sbx_json_set(o, "id", json_integer(c->id)) ||
	    sbx_json_set(o, "reason", json_string(sbx_ckpt_reason_name(c->reason))) ||
	    sbx_json_set(o, "commit", json_string(c->head)) ||
	    sbx_json_set(o, "imported", json_boolean(have_commit(ctx, c->head))) ||
	    sbx_json_set(o, "time_ms", json_integer(c->time_ms)) ||
	    sbx_json_set(o, "parent", c->parent ? json_integer(c->parent) : json_null()) ||
	    sbx_json_set(o, "disk_bytes", json_integer((json_int_t)c->disk_bytes)) ||
	    sbx_json_set(o, "memory_bytes", json_integer((json_int_t)c->memory_bytes)) ||
	    sbx_json_set(o, "pause_us", json_integer((json_int_t)c->pause_us)) ||
	    sbx_json_set(o, "current", json_boolean(current)))
		die("out of memory");
	return o;
}

int cmd_checkpoints(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_ckpt *cs = NULL;
	struct sbx_task *t;
	unsigned cur = 0;
	size_t n = 0, i;
	bool json = false;
	uint64_t disk = 0, mem = 0;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print the checkpoints as a JSON array"),
		OPT_END(),
	};
	int err;

	if (parse_options(argc, argv, opts, checkpoints_usage, 0) != 1)
		usage_with_options(checkpoints_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	if (sbx_ckpt_list(&cs, &n, t->dir))
		die_sbx("cannot read the task's checkpoints");
	err = sbx_ckpt_current(&cur, t->dir);
	if (err && err != SBX_ENOTFOUND)
		die_sbx("cannot read the task's current checkpoint");
	setup_pager();
	if (json) {
		json_t *a = json_array();

		for (i = 0; a && i < n; i++)
			if (json_array_append_new(a, ckpt_json(ctx, &cs[i], cs[i].id == cur)))
				die("out of memory");
		if (!a)
			die("out of memory");
		print_json_value(stdout, a);
		putchar('\n');
		goto out;
	}
	if (!n) {
		printf("task %u has no checkpoints\n", t->id);
		goto out;
	}
	printf("  %-4s %-7s %-13s %-9s %-10s %-10s %s\n", "ID", "REASON", "COMMIT", "AGE", "DISK",
	       "MEMORY", "PAUSE");
	for (i = 0; i < n; i++) {
		char age[32], d[32], m[32], p[32];

		format_age(age, sizeof(age), cs[i].time_ms);
		format_bytes(d, sizeof(d), cs[i].disk_bytes);
		format_bytes(m, sizeof(m), cs[i].memory_bytes);
		format_ms(p, sizeof(p), cs[i].pause_us / 1000);
		printf("%s %-4u %-7s %s%.12s%s%s %-9s %-10s %-10s %s\n", cs[i].id == cur ? "*" : " ",
		       cs[i].id, sbx_ckpt_reason_name(cs[i].reason), color(COLOR_YELLOW), cs[i].head,
		       color(COLOR_RESET), have_commit(ctx, cs[i].head) ? " " : "?", age, d, m, p);
		disk += cs[i].disk_bytes;
		mem += cs[i].memory_bytes;
	}
	{
		char d[32], m[32];

		format_bytes(d, sizeof(d), disk);
		format_bytes(m, sizeof(m), mem);
		printf("%zu checkpoint%s, %s of disk layers and %s of memory; * is the current one\n",
		       n, n == 1 ? "" : "s", d, m);
	}
	for (i = 0; i < n; i++)
		if (!have_commit(ctx, cs[i].head)) {
			printf("?: the commit is not in this repository (the agent replaced it before "
			       "the import); rewind cannot go there\n");
			break;
		}
out:
	free(cs);
	sbx_task_free(t);
	return 0;
}

int cmd_checkpoint(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_ckpt *cs = NULL;
	struct sbx_task *t;
	unsigned before = 0, after = 0;
	size_t n = 0;
	bool wait = false;
	int i;
	const struct option opts[] = {
		OPT_BOOL(0, "wait", &wait, "wait (up to a minute) until the checkpoint is taken"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, checkpoint_usage, 0) != 1)
		usage_with_options(checkpoint_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	if (!sbx_task_running(t))
		die("task %u is not running: a checkpoint is taken of a running task "
		    "(its last one is `git sbx checkpoints %u`)", t->id, t->id);
	if (!sbx_ckpt_list(&cs, &n, t->dir) && n)
		before = cs[n - 1].id;
	free(cs);
	if (sbx_ckpt_request(t->dir))
		die_sbx("cannot ask the task for a checkpoint");
	if (!wait) {
		printf("asked task %u for a checkpoint (`git sbx checkpoints %u` lists it when taken)\n",
		       t->id, t->id);
		goto out;
	}
	for (i = 0; i < 600 && sbx_task_running(t); i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		cs = NULL;
		n = 0;
		if (!sbx_ckpt_list(&cs, &n, t->dir) && n)
			after = cs[n - 1].id;
		free(cs);
		if (after > before)
			break;
		nanosleep(&ts, NULL);
	}
	if (after <= before)
		die("task %u took no checkpoint (it ended, or its checkpoints are off: see its log)",
		    t->id);
	printf("task %u: checkpoint %u\n", t->id, after);
out:
	sbx_task_free(t);
	return 0;
}

int cmd_rewind(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_rewind_result res;
	struct sbx_task *t;
	const char *to = NULL;
	char from[GIT_OID_HEXSZ + 1], dest[GIT_OID_HEXSZ + 1];
	unsigned cp;
	const struct option opts[] = {
		OPT_STRING(0, "to", &to, "checkpoint", "the checkpoint to go back to (its id)"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, rewind_usage, 0) != 1 || !to)
		usage_with_options(rewind_usage, opts);
	if (sbx_task_parse_id(&cp, to))
		die("--to: '%s' is not a checkpoint id (`git sbx checkpoints %s` lists them)", to,
		    argv[0]);
	t = open_task_or_die(ctx, argv[0]);
	if (sbx_task_rewind(&res, ctx->repo, t, cp))
		die_sbx("cannot rewind the task");
	git_oid_tostr(from, sizeof(from), &res.from);
	git_oid_tostr(dest, sizeof(dest), &res.to);
	printf("task %u: rewound to checkpoint %u; %s %.12s -> %.12s", t->id, cp, t->branch, from, dest);
	if (res.from_ckpt)
		printf(" (from checkpoint %u: `git sbx rewind %u --to %u` goes back)", res.from_ckpt,
		       t->id, res.from_ckpt);
	putchar('\n');
	if (res.worktree_kept)
		printf("warning: the worktree has changes of yours in the way: it was left at %.12s "
		       "(detached); the branch moved\n", from);
	sbx_task_free(t);
	return 0;
}
