// SPDX-License-Identifier: MIT
/*
 * git sbx hooks install|uninstall|status: host hooks that run sbx.check on
 * the staged tree in a throwaway VM and refuse pushes of sbx/<id> branches
 * that were not accepted (sbx/hooks.h).  `git sbx hooks run <hook>` is what
 * the installed hooks call.
 */
#include "cmd/builtin.h"
#include "cmd/run-cmd.h"
#include "sbx/config.h"
#include "sbx/hooks.h"
#include "sbx/repo.h"
#include "sbx/settings.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const install_usage[] = { "git sbx hooks install", NULL };
static const char *const uninstall_usage[] = { "git sbx hooks uninstall", NULL };
static const char *const status_usage[] = { "git sbx hooks status", NULL };
static const char *const run_usage[] = { "git sbx hooks run (pre-commit | pre-push <remote> <url>)", NULL };

static int hooks_install(int argc, const char **argv, struct cmd_ctx *ctx)
{
	char *dir = NULL;
	const struct option opts[] = { OPT_END() };

	if (parse_options(argc, argv, opts, install_usage, 0))
		usage_with_options(install_usage, opts);
	if (sbx_hooks_dir(&dir, ctx->repo))
		die_sbx("cannot find the hooks directory");
	if (sbx_hooks_install(ctx->repo))
		die_sbx("cannot install the hooks");
	printf("installed pre-commit and pre-push in %s\n", dir);
	printf("  pre-commit: runs git config sbx.check on the staged tree in a throwaway VM "
	       "(git commit --no-verify skips it)\n");
	printf("  pre-push: refuses sbx/<id> branches not accepted (SBX_ALLOW_PUSH=1 or "
	       "git push --no-verify overrides)\n");
	printf("  the hooks that were there still run first; git sbx hooks uninstall puts them back\n");
	free(dir);
	return 0;
}

static int hooks_uninstall(int argc, const char **argv, struct cmd_ctx *ctx)
{
	const struct option opts[] = { OPT_END() };
	unsigned kept = 0;
	int err;

	if (parse_options(argc, argv, opts, uninstall_usage, 0))
		usage_with_options(uninstall_usage, opts);
	err = sbx_hooks_uninstall(&kept, ctx->repo);
	if (err == SBX_ENOTFOUND) {
		fprintf(stderr, "git-sbx hooks are not installed\n");
		return 1;
	}
	if (err)
		die_sbx("cannot uninstall the hooks");
	if (kept)
		warning_msg("%u hook%s replaced since install: left as %s", kept, kept == 1 ? " was" : "s were",
			    kept == 1 ? "it is" : "they are");
	printf("uninstalled: the hooks are as they were before git sbx hooks install\n");
	return 0;
}

static int hooks_status(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_hooks_state st;
	const struct option opts[] = { OPT_END() };
	size_t i;

	if (parse_options(argc, argv, opts, status_usage, 0))
		usage_with_options(status_usage, opts);
	if (sbx_hooks_status(&st, ctx->repo))
		die_sbx("cannot read the hooks");
	printf("hooks directory: %s\n", st.dir);
	printf("installed: %s\n", st.installed ? "yes" : "no");
	for (i = 0; i < SBX_HOOKS_COUNT; i++)
		printf("  %-10s %s%s\n", sbx_hook_names[i],
		       st.ours[i] ? "git-sbx" : st.installed ? "replaced since install" : "not git-sbx's",
		       st.ours[i] && st.chained[i] ? ", then the hook that was there" : "");
	sbx_hooks_state_clear(&st);
	return 0;
}

/* The checks, one after another, in one VM: each named, every one run. */
static const char checks_script[] =
	"status=0\n"
	"for c in \"$@\"; do\n"
	"  printf 'sbx.check: %s\\n' \"$c\" >&2\n"
	"  if sh -c \"$c\"; then printf 'sbx.check: %s: passed\\n' \"$c\" >&2\n"
	"  else printf 'sbx.check: %s: FAILED\\n' \"$c\" >&2; status=1; fi\n"
	"done\n"
	"exit $status\n";

static int run_pre_commit(struct cmd_ctx *ctx)
{
	struct run_tree_opts ro = { 0 };
	struct sbx_settings set;
	struct sbx_config *cfg = NULL;
	const char **argv;
	size_t i;
	int err, ret;

	if (sbx_config_open(&cfg, ctx->repo))
		die_sbx("cannot read git config");
	err = sbx_settings_read(&set, cfg);
	sbx_config_free(cfg);
	if (err)
		die_sbx("bad git config");
	if (!set.nchecks) {
		sbx_settings_clear(&set);
		return 0;
	}
	argv = calloc(set.nchecks + 5, sizeof(*argv));
	if (!argv)
		die("out of memory");
	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = checks_script;
	argv[3] = "sbx-checks";
	for (i = 0; i < set.nchecks; i++)
		argv[4 + i] = set.checks[i];
	fprintf(stderr, "git-sbx: running sbx.check on the staged tree in a throwaway VM "
		"(nothing runs on this machine)\n");
	ro.staged = true;
	ro.timeout_ms = set.check_timeout_ms;
	ro.quiet = false;
	ret = run_on_tree(ctx, &ro, argv);
	if (ret)
		fprintf(stderr, "error: sbx.check failed on the staged tree; the checks ran in a VM, "
			"not on this machine\nhint: git commit --no-verify commits without them\n");
	else
		fprintf(stderr, "git-sbx: sbx.check passed on the staged tree (in a VM)\n");
	free(argv);
	sbx_settings_clear(&set);
	return ret ? 1 : 0;
}

static void push_msg(void *opaque, const char *line)
{
	(void)opaque;
	fprintf(stderr, "error: refusing to push %s\n", line);
}

static int run_pre_push(struct cmd_ctx *ctx)
{
	const char *allow = getenv("SBX_ALLOW_PUSH");
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	unsigned refused = 0;

	if (!buf)
		die("out of memory");
	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap >= (16u << 20))
				die("the pre-push input is too long");
			cap *= 2;
			if (!(buf = realloc(buf, cap)))
				die("out of memory");
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("cannot read the pre-push input: %s", strerror(errno));
		if (!n)
			break;
		len += (size_t)n;
	}
	/*
	 * `git sbx pr ID` pushes sbx/<ID> for review on purpose (it sets
	 * GIT_SBX_PR): a pull request is how an unaccepted task is reviewed.
	 */
	if ((allow && !strcmp(allow, "1")) || (getenv("GIT_SBX_PR") && *getenv("GIT_SBX_PR"))) {
		free(buf);
		return 0;
	}
	if (sbx_hooks_check_push(&refused, ctx->repo, buf, len, push_msg, NULL))
		die_sbx("cannot check the push");
	free(buf);
	if (!refused)
		return 0;
	fprintf(stderr, "hint: review it (git sbx review <id>) and git sbx accept it first, open a pull request "
		"with git sbx pr <id>, or push anyway "
		"with SBX_ALLOW_PUSH=1 or git push --no-verify\n");
	return 1;
}

static int hooks_run(int argc, const char **argv, struct cmd_ctx *ctx)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: %s\n\nwhat the hooks git sbx hooks install wrote call\n", run_usage[0]);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "pre-commit"))
		return run_pre_commit(ctx);
	if (argc >= 2 && !strcmp(argv[1], "pre-push"))
		return run_pre_push(ctx);
	fprintf(stderr, "usage: %s\n", run_usage[0]);
	return 129;
}

static const struct cmd_struct hooks_commands[] = {
	{ "install", hooks_install, NEED_REPO, "install the pre-commit and pre-push hooks (chained to yours)" },
	{ "uninstall", hooks_uninstall, NEED_REPO, "put back exactly the hooks that were there" },
	{ "status", hooks_status, NEED_REPO, "say whether they are installed, and where" },
	{ "run", hooks_run, NEED_REPO, "what the installed hooks call (pre-commit, pre-push)" },
	{ NULL, NULL, 0, NULL },
};

int cmd_hooks(int argc, const char **argv, struct cmd_ctx *ctx)
{
	return run_subcommand("hooks", hooks_commands, argc, argv, ctx);
}
