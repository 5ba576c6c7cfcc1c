// SPDX-License-Identifier: MIT
/*
 * git sbx demo: the main job end to end on built-in defaults.  It makes a
 * small repository whose test fails, runs a scripted agent in the VM that
 * fixes the bug (one commit of its own, one change left for git-sbx to
 * collect), and shows the branch it produced.  Builds the default image
 * first when there is none.
 */
#include "cmd/builtin.h"
#include "cmd/task-cmd.h"
#include "sbx/image.h"
#include "sbx/repo.h"
#include "util/error.h"
#include "util/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const demo_usage[] = {
	"git sbx demo [--dir <dir>] [--image <name>] [--backend (kvm|qemu)]",
	NULL,
};

static const char readme[] =
	"# sum\n"
	"\n"
	"`sh sum.sh FILE` prints the sum of the numbers in FILE, one per line.\n"
	"`sh test.sh` runs the tests.\n";

static const char sum_sh[] =
	"#!/bin/sh\n"
	"# sum.sh FILE: the sum of the integers in FILE, one per line.\n"
	"total=0\n"
	"while read -r n; do\n"
	"\t[ -n \"$n\" ] || continue\n"
	"\ttotal=$((total + n))\n"
	"done < \"$1\"\n"
	"echo \"$total\"\n";

static const char test_sh_v1[] =
	"#!/bin/sh\n"
	"# test.sh: each case is a file's contents and the sum expected.\n"
	"dir=$(mktemp -d) && trap 'rm -rf \"$dir\"' EXIT\n"
	"fail=0\n"
	"check() {\n"
	"\tprintf \"$1\" > \"$dir/in\"\n"
	"\tgot=$(sh \"$(dirname \"$0\")/sum.sh\" \"$dir/in\")\n"
	"\tif [ \"$got\" = \"$2\" ]; then echo \"ok   $3\"; else echo \"FAIL $3: got $got, want $2\"; fail=1; fi\n"
	"}\n"
	"check '1\\n2\\n3\\n' 6 'three lines'\n"
	"check '' 0 'an empty file'\n";

static const char test_sh_v2_extra[] =
	"check '4\\n5' 9 'no newline at the end'\n";

static const char test_sh_end[] = "exit $fail\n";

/* The scripted agent: runs in the guest as the agent user, in /workspace. */
static const char agent_sh[] =
	"#!/bin/sh\n"
	"echo \"agent: task: $SBX_PROMPT\"\n"
	"echo 'agent: running the tests'\n"
	"sh test.sh\n"
	"echo 'agent: sum.sh loses the last line when the file has no final newline; fixing the loop'\n"
	"sed -i 's/^while read -r n; do$/while read -r n || [ -n \"$n\" ]; do/' sum.sh\n"
	"sh test.sh || { echo 'agent: still failing'; exit 1; }\n"
	"git commit -q -am 'sum.sh: count the last line when the file has no final newline' &&\n"
	"  echo 'agent: committed the fix'\n"
	"printf '\\n## Changes\\n\\n- Files without a final newline are summed in full.\\n' >> README.md\n"
	"echo 'agent: noted it in README.md and left that uncommitted: git-sbx collects it'\n";

static void write_file(const char *dir, const char *name, const char *a, const char *b,
		       const char *c)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f || fputs(a, f) < 0 || (b && fputs(b, f) < 0) || (c && fputs(c, f) < 0) || fclose(f))
		die("cannot write '%s': %s", path, strerror(errno));
}

static void git_out(const char *dir, const char *const *args, int out_fd)
{
	const char *argv[16] = { "git", "-C", dir, "-c", "init.defaultBranch=main", NULL };
	int n = 5, i;

	for (i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (spawn_wait(argv, -1, out_fd, 1))
		die("'git %s' in %s failed (%s)", args[0], dir, sbx_error());
}

static void git(const char *dir, const char *const *args)
{
	git_out(dir, args, -1);
}

static void make_repo(const char *dir)
{
	static const char *const init[] = { "init", "-q", NULL };
	static const char *const name[] = { "config", "user.name", "git-sbx demo", NULL };
	static const char *const email[] = { "config", "user.email", "demo@git-sbx.invalid", NULL };
	static const char *const add[] = { "add", "-A", NULL };
	static const char *const c1[] = { "commit", "-q", "-m", "sum.sh: add the numbers in a file", NULL };
	static const char *const c2[] = { "commit", "-q", "-m", "test.sh: a case without a final newline", NULL };

	if (mkdir(dir, 0755))
		die("cannot create '%s': %s", dir, strerror(errno));
	git(dir, init);
	git(dir, name);
	git(dir, email);
	write_file(dir, "README.md", readme, NULL, NULL);
	write_file(dir, "sum.sh", sum_sh, NULL, NULL);
	write_file(dir, "test.sh", test_sh_v1, test_sh_end, NULL);
	git(dir, add);
	git(dir, c1);
	write_file(dir, "test.sh", test_sh_v1, test_sh_v2_extra, test_sh_end);
	git(dir, add);
	git(dir, c2);
}

static void show_progress(void *opaque, const char *what)
{
	(void)opaque;
	fprintf(stderr, "image: %s\n", what);
}

static void ensure_image(const char *name)
{
	struct sbx_image_build_opts o = SBX_IMAGE_BUILD_OPTS_INIT;
	struct sbx_image img;

	if (!sbx_image_resolve(&img, name))
		return;
	if (name && strcmp(name, SBX_IMAGE_DEFAULT_NAME))
		die_sbx("no such image");
	fprintf(stderr, "demo: there is no image '%s' yet: building it once (a few minutes)\n",
		SBX_IMAGE_DEFAULT_NAME);
	o.progress = show_progress;
	if (sbx_image_build(&img, &o))
		die_sbx("cannot build the default image");
}

int cmd_demo(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct task_cmd_args a = { 0 };
	struct cmd_ctx dctx = *ctx;
	const char *dir = NULL, *backend = NULL;
	char pick[PATH_MAX], script[PATH_MAX + 32], abs[PATH_MAX];
	int ret, i;
	const struct option opts[] = {
		OPT_STRING(0, "dir", &dir, "dir", "make the demo repository here (default ./sbx-demo, -2, ...)"),
		OPT_STRING(0, "image", &a.image, "name", "the image to run in (default \"default\", built if missing)"),
		OPT_STRING(0, "backend", &backend, "kvm|qemu", "force our VMM or the QEMU fallback"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, demo_usage, 0))
		usage_with_options(demo_usage, opts);
	ret = parse_task_common(&a, NULL, NULL, backend, 0);
	if (ret == SBX_ENOKVM)
		die("%s", sbx_error());
	else if (ret)
		usage_msg_opt(sbx_error(), demo_usage, opts);
	if (!dir) {
		for (i = 1; i < 1000; i++) {
			snprintf(pick, sizeof(pick), i == 1 ? "sbx-demo" : "sbx-demo-%d", i);
			if (access(pick, F_OK))
				break;
		}
		dir = pick;
	}
	ensure_image(a.image);
	make_repo(dir);
	if (!realpath(dir, abs))
		die("cannot resolve '%s': %s", dir, strerror(errno));
	fprintf(stderr, "demo: made %s: a shell project whose test fails (sh test.sh)\n", abs);
	snprintf(script, sizeof(script), "%s/.git/demo-agent.sh", abs);
	write_file(abs, ".git/demo-agent.sh", agent_sh, NULL, NULL);
	if (chdir(abs))
		die("cannot enter '%s': %s", abs, strerror(errno));
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	if (sbx_repo_open(&dctx.repo))
		die_sbx("cannot open the demo repository");
	{
		static char agent[PATH_MAX + 64];

		snprintf(agent, sizeof(agent), "script:%s", script);
		a.agent = agent;
	}
	a.prompt = "Make sh test.sh pass";
	a.timeout_ms = 10 * 60 * 1000;
	ret = task_cmd_run(&dctx, &a);
	if (ret != 128) {
		static const char *const diff[] = { "--no-pager", "log", "--stat", "-p",
						    "--format=%n%h %s", "main..sbx/1", NULL };

		printf("\n$ git log -p main..sbx/1   (in %s)\n", abs);
		fflush(stdout);
		git_out(abs, diff, STDOUT_FILENO);
		printf("\nThe agent's branch is sbx/1 in %s; its worktree is checked out at\n"
		       "%s/.git/sbx/worktrees/1.  Try: cd %s && git sbx show 1\n", abs, abs, dir);
	}
	sbx_repo_free(dctx.repo);
	return ret;
}
