// SPDX-License-Identifier: MIT
/*
 * git sbx accept ID [--merge|--squash|--rebase|--ff-only], git sbx reject
 * ID [--rm], git sbx apply ID: the end of a review (sbx/accept.h).
 */
#include "cmd/builtin.h"
#include "cmd/task-print.h"
#include "sbx/accept.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/quote.h"

#include <stdio.h>
#include <string.h>

static const char *const accept_usage[] = {
	"git sbx accept [--merge | --squash | --rebase | --ff-only] <id>",
	NULL,
};

static const char *const reject_usage[] = {
	"git sbx reject [--rm] <id>",
	NULL,
};

static const char *const apply_usage[] = {
	"git sbx apply <id>",
	NULL,
};

/* A refusal: "error: ..." and a hint, exit 1 (nothing was changed). */
static int refuse(const char *what, unsigned id, int err)
{
	error_msg("cannot %s task %u: %s", what, id, sbx_error());
	if (err == SBX_EEXISTS && strstr(sbx_error(), "conflicts ("))
		fprintf(stderr, "hint: nothing was changed; see 'git sbx review %u', or 'git merge sbx/%u' "
			"to resolve the conflicts yourself\n", id, id);
	else if (err == SBX_EEXISTS || err == SBX_EINVAL || err == SBX_ELOCKED)
		fprintf(stderr, "hint: nothing was changed\n");
	return 1;
}

int cmd_accept(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_accept_result res;
	enum sbx_accept_mode mode;
	struct sbx_task *t;
	bool merge = false, squash = false, rebase = false, ff_only = false;
	char hex[GIT_OID_HEXSZ + 1];
	const char *into;
	int err;
	const struct option opts[] = {
		OPT_BOOL(0, "merge", &merge, "a merge commit (the default, or git config sbx.acceptMode)"),
		OPT_BOOL(0, "squash", &squash, "one new commit with the task's changes"),
		OPT_BOOL(0, "rebase", &rebase, "the task's commits replayed on the current branch"),
		OPT_BOOL(0, "ff-only", &ff_only, "only a fast-forward to sbx/<id>"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, accept_usage, 0) != 1)
		usage_with_options(accept_usage, opts);
	if (merge + squash + rebase + ff_only > 1)
		usage_msg_opt("--merge, --squash, --rebase and --ff-only exclude each other", accept_usage, opts);
	if (merge)
		mode = SBX_ACCEPT_MERGE;
	else if (squash)
		mode = SBX_ACCEPT_SQUASH;
	else if (rebase)
		mode = SBX_ACCEPT_REBASE;
	else if (ff_only)
		mode = SBX_ACCEPT_FF_ONLY;
	else if (sbx_accept_mode_config(&mode, ctx->repo))
		die("%s", sbx_error());
	t = open_task_or_die(ctx, argv[0]);
	err = sbx_task_accept(&res, ctx->repo, t, mode);
	if (err) {
		err = refuse("accept", t->id, err);
		sbx_task_free(t);
		return err;
	}
	into = res.into + strlen("refs/heads/");
	if (res.up_to_date)
		printf("Already up to date: %s holds sbx/%u. ", into, t->id);
	else if (res.fast_forward)
		printf("Fast-forwarded %s to sbx/%u (%.12s). ", into, t->id,
		       git_oid_tostr(hex, sizeof(hex), &res.new_head));
	else
		printf("Accepted task %u into %s with %s: %zu new commit%s, %s now at %.12s. ", t->id, into,
		       sbx_accept_mode_name(mode), res.ncommits, res.ncommits == 1 ? "" : "s", into,
		       git_oid_tostr(hex, sizeof(hex), &res.new_head));
	printf("Task %u is accepted.\n", t->id);
	sbx_task_free(t);
	return 0;
}

int cmd_reject(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_task *t;
	bool rm = false, kept;
	unsigned id;
	int err;
	const struct option opts[] = {
		OPT_BOOL(0, "rm", &rm, "then remove it like git sbx rm (worktree, branch, record)"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, reject_usage, 0) != 1)
		usage_with_options(reject_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	id = t->id;
	err = sbx_task_reject(ctx->repo, t);
	sbx_task_free(t);
	if (err)
		return refuse("reject", id, err);
	if (!rm) {
		printf("Rejected task %u (branch sbx/%u kept; 'git sbx rm %u' removes it).\n", id, id, id);
		return 0;
	}
	if (sbx_task_remove(&kept, ctx->repo, id, 0)) {
		error_msg("rejected task %u, but cannot remove it (%s)", id, sbx_error());
		return 1;
	}
	printf("Rejected and removed task %u (branch sbx/%u %s).\n", id, id, kept ? "kept" : "deleted");
	return 0;
}

int cmd_apply(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_task *t;
	size_t n;
	int err;
	const struct option opts[] = {
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, apply_usage, 0) != 1)
		usage_with_options(apply_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	err = sbx_task_apply(&n, ctx->repo, t);
	if (err) {
		err = refuse("apply", t->id, err);
		sbx_task_free(t);
		return err;
	}
	printf("Applied task %u's changes to %zu file%s in the working tree, not committed "
	       "(git diff shows them; the task stays %s).\n", t->id, n, n == 1 ? "" : "s",
	       task_state_label(t));
	sbx_task_free(t);
	return 0;
}
