// SPDX-License-Identifier: MIT
/*
 * git sbx pr ID [--remote NAME] [--open]: push sbx/<id> and print the pull
 * request's body (sbx/review.h); with --open and gh on PATH, open it there.
 * The push is git's own (`git push`), so credentials, hooks and the remote's
 * URL work as they do for the user.
 */
#include "cmd/builtin.h"
#include "cmd/task-print.h"
#include "sbx/repo.h"
#include "sbx/review.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/quote.h"
#include "util/spawn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const pr_usage[] = {
	"git sbx pr [--remote <name>] [--open] <id>",
	NULL,
};

/* The current branch's upstream remote, else "origin"; malloc'd. */
static char *default_remote(struct sbx_repo *repo, char **branch)
{
	git_reference *head = NULL;
	git_buf buf = { 0 };
	char *name = NULL;

	*branch = NULL;
	if (git_repository_head(&head, repo->git) == 0 && git_reference_is_branch(head)) {
		*branch = strdup(git_reference_shorthand(head));
		if (git_branch_upstream_remote(&buf, repo->git, git_reference_name(head)) == 0)
			name = strdup(buf.ptr);
	}
	git_buf_dispose(&buf);
	git_reference_free(head);
	return name ? name : strdup("origin");
}

static bool on_path(const char *prog)
{
	const char *path = getenv("PATH"), *p;
	char full[4096];

	for (p = path; p && *p;) {
		size_t len = strcspn(p, ":");

		snprintf(full, sizeof(full), "%.*s/%s", (int)len, len ? p : ".", prog);
		if (access(full, X_OK) == 0)
			return true;
		p += len + (p[len] == ':');
	}
	return false;
}

/* "https://github.com/o/r/compare/base...sbx/3?expand=1" for a GitHub remote, else NULL. */
static char *compare_url(struct sbx_repo *repo, const char *remote, const char *base, unsigned id)
{
	git_remote *r = NULL;
	const char *url, *at;
	char *out = NULL;
	size_t len;

	if (git_remote_lookup(&r, repo->git, remote) < 0 || !(url = git_remote_url(r)) ||
	    !(at = strstr(url, "github.com")) || (at[10] != '/' && at[10] != ':')) {
		git_remote_free(r);
		return NULL;
	}
	at += 11;
	len = strlen(at);
	if (len > 4 && !strcmp(at + len - 4, ".git"))
		len -= 4;
	if (asprintf(&out, "https://github.com/%.*s/compare/%s...sbx/%u?expand=1", (int)len, at,
		     base ? base : "main", id) < 0)
		out = NULL;
	git_remote_free(r);
	return out;
}

int cmd_pr(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_review *r = NULL;
	struct sbx_task *t;
	const char *remote_opt = NULL;
	char *remote, *branch = NULL, *md = NULL, refspec[96], idbuf[16], *body_path = NULL;
	FILE *bf;
	git_remote *rem = NULL;
	bool open_pr = false;
	int ret = 0;
	const struct option opts[] = {
		OPT_STRING(0, "remote", &remote_opt, "name", "push here (default: the current branch's upstream remote, else origin)"),
		OPT_BOOL(0, "open", &open_pr, "then open the pull request with gh (GitHub's CLI) when it is installed"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, pr_usage, 0) != 1)
		usage_with_options(pr_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	remote = default_remote(ctx->repo, &branch);
	if (remote_opt) {
		free(remote);
		remote = strdup(remote_opt);
	}
	if (!remote)
		die("out of memory");
	if (git_remote_lookup(&rem, ctx->repo->git, remote) < 0)
		die("no remote '%s': add one (git remote add) or name it with --remote", remote);
	git_remote_free(rem);
	if (sbx_task_running(t))
		die("task %u is still running", t->id);
	if (sbx_review_open(&r, ctx->repo, t))
		die_sbx("cannot read the task");
	if (!r->summary.branch_exists || !r->summary.ncommits)
		die("task %u has no commits on %s to push", t->id, t->branch);
	if (sbx_review_markdown(&md, r, false))
		die_sbx("cannot write the pull request's body");

	/* git push, as the user would: credentials, hooks, URL rewrites */
	snprintf(refspec, sizeof(refspec), "refs/heads/%s:refs/heads/%s", t->branch, t->branch);
	snprintf(idbuf, sizeof(idbuf), "%u", t->id);
	/* says to our own pre-push hook (git sbx hooks) that this push of an sbx/ branch is asked for */
	setenv("GIT_SBX_PR", idbuf, 1);
	{
		const char *push[] = { "git", "push", remote, refspec, NULL };

		fflush(stdout);
		if (spawn_wait(push, 0, 2, 0)) {
			error_msg("cannot push %s to '%s' (%s)", t->branch, remote, sbx_error());
			ret = 1;
			goto out;
		}
	}
	fputs(md, stdout);
	fflush(stdout);

	/* kept beside the record (git sbx rm removes it), for gh now or later */
	if (asprintf(&body_path, "%s/pr-body.md", t->dir) < 0)
		die("out of memory");
	bf = fopen(body_path, "w");
	if (!bf || fputs(md, bf) == EOF || fclose(bf))
		die("cannot write '%s'", body_path);
	if (open_pr && on_path("gh")) {
		const char *gh[12];
		int k = 0;

		gh[k++] = "gh";
		gh[k++] = "pr";
		gh[k++] = "create";
		gh[k++] = "--head";
		gh[k++] = t->branch;
		gh[k++] = "--title";
		gh[k++] = r->title;
		gh[k++] = "--body-file";
		gh[k++] = body_path;
		if (branch) {
			gh[k++] = "--base";
			gh[k++] = branch;
		}
		gh[k] = NULL;
		if (spawn_wait(gh, 0, -1, 0)) {
			error_msg("gh could not open the pull request (%s)", sbx_error());
			fprintf(stderr, "hint: the body is in %s\n", body_path);
			ret = 1;
			goto out;
		}
	} else {
		char *url = compare_url(ctx->repo, remote, branch, t->id);

		fprintf(stderr, "\nPushed %s to %s. To open the pull request:\n", t->branch, remote);
		if (url)
			fprintf(stderr, "  open %s and paste the body above, or\n", url);
		fprintf(stderr, "  gh pr create --head %s --title '", t->branch);
		sbx_quote_fputs(r->title, stderr);
		fprintf(stderr, "' --body-file %s\n", body_path);
		if (open_pr)
			fprintf(stderr, "hint: --open needs gh (GitHub's CLI) on PATH\n");
		free(url);
	}
out:
	free(body_path);
	free(md);
	free(branch);
	free(remote);
	sbx_review_free(r);
	sbx_task_free(t);
	return ret;
}
