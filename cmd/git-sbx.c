// SPDX-License-Identifier: MIT
/*
 * git-sbx: run coding agents in microVMs, results as git branches.
 * git runs us as `git sbx ...` when git-sbx is on PATH or in git's exec path.
 */
#include "cmd/builtin.h"
#include "cmd/pager.h"
#include "sbx/repo.h"
#include "sbx/sysinfo.h"
#include "sbx/vmm-proc.h"
#include "util/error.h"
#include "util/log.h"
#include "util/quote.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cmd_struct commands[] = {
	{ "accept", cmd_accept, NEED_REPO, "take a task's branch into the current branch (merge, squash, rebase, ff-only)" },
	{ "apply", cmd_apply, NEED_REPO, "put a task's changes in the working tree, uncommitted" },
	{ "attempts", cmd_attempts, NEED_REPO, "a task's attempts side by side: state, exit, commits, changes, time, files" },
	{ "audit", cmd_audit, NEED_REPO, "print a task's audit trail: connections, commands, import (-f follows it)" },
	{ "checkpoint", cmd_checkpoint, NEED_REPO, "ask a running task for a checkpoint now (disk, memory, commit)" },
	{ "checkpoints", cmd_checkpoints, NEED_REPO, "list a task's checkpoints: commit, age, disk and memory" },
	{ "continue", cmd_continue, NEED_REPO, "resume a task's VM from its current checkpoint with a new prompt" },
	{ "demo", cmd_demo, 0, "run the main job on a demo repository with a scripted agent" },
	{ "diff", cmd_diff, NEED_REPO, "show what a task changed (base..sbx/<id>)" },
	{ "disk", cmd_disk, 0, "create, inspect, check, seal and squash qcow2 disks" },
	{ "gc", cmd_gc, NEED_REPO, "clean up task records, worktrees and temp files after crashes" },
	{ "help", cmd_help, 0, "show help for git sbx or one of its commands" },
	{ "hooks", cmd_hooks, 0, "install host git hooks: sbx.check in a VM before commits, no push of unaccepted sbx/<id>" },
	{ "image", cmd_image, 0, "build, list and remove guest images" },
	{ "list", cmd_list, NEED_REPO, "list tasks: state, age, commits, changes, prompt" },
	{ "logs", cmd_logs, NEED_REPO, "print a task's agent output (-f follows it)" },
	{ "pick", cmd_pick, NEED_REPO, "point sbx/<id> and its worktree at one of the task's attempts" },
	{ "pr", cmd_pr, NEED_REPO, "push sbx/<id> and print a pull request's body (--open: with gh)" },
	{ "proxy", cmd_proxy, HIDDEN, "run a task's egress proxy on a host port (benchmarks, trying policies)" },
	{ "reject", cmd_reject, NEED_REPO, "mark a task rejected (--rm: and remove it)" },
	{ "retry", cmd_retry, NEED_REPO, "more attempts of a task from the same start (--attempts N, -m PROMPT)" },
	{ "review", cmd_review, NEED_REPO, "one task as a pull request: prompt, commits, checks, audit, diff" },
	{ "rewind", cmd_rewind, NEED_REPO, "move a task back to a checkpoint: branch, worktree, disk and memory" },
	{ "rm", cmd_rm, NEED_REPO, "remove tasks with their worktree, branch and disk" },
	{ "run", cmd_run, TRY_REPO, "run one command in a throwaway VM (--staged: on the staged tree)" },
	{ "show", cmd_show, NEED_REPO, "show one task: state, prompt, base, branch, commits, times" },
	{ "task", cmd_task, NEED_REPO, "run an agent on a prompt in a microVM; its work lands on sbx/<id>" },
	{ "version", cmd_version, TRY_REPO, "print versions, KVM status and the repository" },
	{ "vm", cmd_vm, 0, "run a microVM directly (kernel, initrd, disks, console)" },
	{ "warm", cmd_warm, NEED_REPO, "build this repository's warm base ahead of the first task (--list)" },
};

static const char *const sbx_usage[] = {
	"git sbx [-h | --help] [-p | --paginate | -P | --no-pager] <command> [<args>]",
	NULL,
};

/*
 * Messages may carry guest text (a name a rejected result quoted, a line of
 * the guest's stderr): util/log.c escapes them where they are printed.
 */
static void print_msg(const char *prefix, const char *fmt, va_list ap)
{
	sbx_log_vprint(prefix, fmt, ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	print_msg("fatal: ", fmt, ap);
	va_end(ap);
	exit(128);
}

void die_sbx(const char *what)
{
	die("%s (%s)", what, sbx_error());
}

void error_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	print_msg("error: ", fmt, ap);
	va_end(ap);
}

void warning_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	print_msg("warning: ", fmt, ap);
	va_end(ap);
}

int error_sbx(const char *what)
{
	error_msg("%s (%s)", what, sbx_error());
	return 128;
}

static const struct cmd_struct *find(const struct cmd_struct *table, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(table[i].name, name))
			return &table[i];
	return NULL;
}

static void list_commands(FILE *f)
{
	size_t i;

	fprintf(f, "usage: %s\n\n", sbx_usage[0]);
	fprintf(f, "Run a coding agent inside a KVM microVM; what it did becomes a branch.\n\n");
	fprintf(f, "These are the git sbx commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!(commands[i].flags & HIDDEN))
			fprintf(f, "   %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'git sbx help <command>' or 'git sbx <command> -h' describes one command.\n");
}

static int run_command(const struct cmd_struct *c, int argc, const char **argv,
		       const char *prefix)
{
	struct cmd_ctx ctx = { .prefix = prefix };
	int ret;
	bool wants_help = false;
	int i;

	/* -h must work anywhere, even where the command could not start. */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			wants_help = true;
	}
	if (!wants_help && (c->flags & (NEED_REPO | TRY_REPO))) {
		ret = sbx_repo_open(&ctx.repo);
		if (ret == SBX_ENOTFOUND && (c->flags & TRY_REPO))
			ctx.repo = NULL;
		else if (ret)
			die("%s", sbx_error());
	}
	if (!wants_help && (c->flags & NEED_KVM) && sbx_kvm_check(NULL))
		die("'git sbx %s' needs KVM (%s)", prefix, sbx_error());
	ret = c->fn(argc, argv, &ctx);
	sbx_repo_free(ctx.repo);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "fatal: cannot write to standard output\n");
		return 128;
	}
	return ret;
}

int run_subcommand(const char *group, const struct cmd_struct *subs,
		   int argc, const char **argv, struct cmd_ctx *ctx)
{
	const struct cmd_struct *c;
	char prefix[64];
	size_t n = 0;

	while (subs[n].name)
		n++;
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		size_t i;
		FILE *f = argc < 2 ? stderr : stdout;

		fprintf(f, "usage: git sbx %s <command> [<args>]\n\n", group);
		for (i = 0; i < n; i++)
			fprintf(f, "   %-10s %s\n", subs[i].name, subs[i].summary);
		return argc < 2 ? 129 : 0;
	}
	c = find(subs, n, argv[1]);
	if (!c) {
		fprintf(stderr, "git sbx %s: '%s' is not a git sbx %s command. See 'git sbx %s -h'.\n",
			group, argv[1], group, group);
		return 129;
	}
	snprintf(prefix, sizeof(prefix), "%s %s", group, c->name);
	(void)ctx;
	return run_command(c, argc - 1, argv + 1, prefix);
}

int cmd_help(int argc, const char **argv, struct cmd_ctx *ctx)
{
	const struct cmd_struct *c;
	const char *sub_argv[3];

	if (argc < 2) {
		list_commands(stdout);
		return 0;
	}
	c = find(commands, sizeof(commands) / sizeof(commands[0]), argv[1]);
	if (!c) {
		fprintf(stderr, "git sbx: no such command '%s'. See 'git sbx --help'.\n", argv[1]);
		return 1;
	}
	sub_argv[0] = c->name;
	sub_argv[1] = "-h";
	sub_argv[2] = NULL;
	return c->fn(2, sub_argv, ctx);
}

int main(int argc, const char **argv)
{
	const struct cmd_struct *c;
	int ret;

	if (argc < 2) {
		list_commands(stderr);
		return 129;
	}
	/* Internal, not listed: the confined VMM process that sbx/vmm-proc.c starts. */
	if (!strcmp(argv[1], "vmm-child"))
		return sbx_vmm_child_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		list_commands(stdout);
		return 0;
	}
	/* git's own: whether list, show, diff, logs and review page (cmd/pager.h) */
	while (argc > 2 && (!strcmp(argv[1], "--no-pager") || !strcmp(argv[1], "-P") ||
			    !strcmp(argv[1], "-p") || !strcmp(argv[1], "--paginate"))) {
		pager_choice = argv[1][1] == 'p' || argv[1][2] == 'p' ? PAGER_ALWAYS : PAGER_NEVER;
		argv++;
		argc--;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v"))
		argv[1] = "version";
	if (argv[1][0] == '-') {
		fprintf(stderr, "error: unknown option '%s'\n", argv[1]);
		list_commands(stderr);
		return 129;
	}
	c = find(commands, sizeof(commands) / sizeof(commands[0]), argv[1]);
	if (!c) {
		fprintf(stderr, "git sbx: '%s' is not a git sbx command. See 'git sbx --help'.\n",
			argv[1]);
		return 129;
	}
	if (sbx_lib_init())
		die_sbx("cannot start");
	ret = run_command(c, argc - 1, argv + 1, c->name);
	sbx_lib_shutdown();
	return ret;
}
