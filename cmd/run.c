// SPDX-License-Identifier: MIT
/* git sbx run: one command in a throwaway VM (an image and a fresh task disk). */
#include "cmd/builtin.h"
#include "cmd/run-cmd.h"
#include "sbx/config.h"
#include "sbx/gate.h"
#include "sbx/repo.h"
#include "sbx/settings.h"
#include "sbx/channel.h"
#include "sbx/image.h"
#include "sbx/sandbox.h"
#include "sbx/sysinfo.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/quote.h"
#include "sbx/fsutil.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const run_usage[] = {
	"git sbx run [<options>] [--] <command> [<arg>...]",
	"git sbx run (--staged | --rev <rev>) [<options>] [--] <command> [<arg>...]",
	NULL,
};

static volatile int interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = interrupted ? interrupted : 1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return sbx_error_errno(SBX_EIO, "writing output");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The command's output is data: unchanged to a file or a pipe (as ssh
 * passes it), escaped to a terminal (util/quote.h), which would obey it.
 */
struct out_state {
	struct sbx_quote q[2];
	bool tty[2];
};

static int sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct out_state *st = opaque;
	int i = fd == 2, out = i ? STDERR_FILENO : STDOUT_FILENO;
	char buf[SBX_QUOTE_MAX(4096)];

	if (!st->tty[i])
		return write_all(out, data, len);
	while (len) {
		size_t k = len < 4096 ? len : 4096;
		int err = write_all(out, (const uint8_t *)buf, sbx_quote_mem(&st->q[i], buf, data, k));

		if (err)
			return err;
		data += k;
		len -= k;
	}
	return 0;
}

static void on_progress(void *opaque, const char *what)
{
	(void)opaque;
	fprintf(stderr, "sbx: %s\n", what);
}

int run_on_tree(struct cmd_ctx *ctx, const struct run_tree_opts *ro, const char *const *argv)
{
	struct sbx_check_vm_opts vo = SBX_CHECK_VM_OPTS_INIT;
	struct out_state out = { { SBX_QUOTE_INIT, SBX_QUOTE_INIT }, { false, false } };
	struct sbx_exec_result res;
	struct sbx_check_vm *vm = NULL;
	struct sbx_settings set;
	struct sbx_config *cfg = NULL;
	git_oid commit, parent;
	bool has_parent = false;
	char dir[PATH_MAX];
	int ret, err;

	if (!ctx->repo)
		die("%s needs a git repository", ro->staged ? "--staged" : "--rev");
	if (sbx_config_open(&cfg, ctx->repo))
		die_sbx("cannot read git config");
	err = sbx_settings_read(&set, cfg);
	sbx_config_free(cfg);
	if (err)
		die_sbx("bad git config");
	if (ro->staged) {
		if (sbx_gate_staged_commit(&commit, &parent, &has_parent, ctx->repo))
			die_sbx("cannot take the staged tree");
	} else {
		git_object *obj = NULL, *c = NULL;

		if (git_revparse_single(&obj, ctx->repo->git, ro->rev) < 0 ||
		    git_object_peel(&c, obj, GIT_OBJECT_COMMIT) < 0) {
			sbx_git_error(SBX_ENOTFOUND, ro->rev);
			die_sbx("not a commit");
		}
		commit = *git_object_id(c);
		git_object_free(c);
		git_object_free(obj);
	}
	snprintf(dir, sizeof(dir), "%s/sbx-run-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		die("cannot create a temporary directory: %s", strerror(errno));
	vo.image = ro->image;
	vo.backend = ro->backend;
	vo.cpus = ro->cpus;
	vo.memory = ro->memory;
	vo.boot_timeout_ms = set.boot_timeout_ms;
	vo.quiet = ro->quiet;
	vo.dir = dir;
	vo.base = has_parent ? &parent : NULL;
	vo.user_name = set.user_name;
	vo.user_email = set.user_email;
	if (ro->verbose) {
		vo.progress = on_progress;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (sbx_check_vm_start(&vm, ctx->repo, &commit, &vo)) {
		ret = error_sbx("cannot start the VM");
		goto out;
	}
	if (ro->verbose)
		fprintf(stderr, "sbx: %s VM up in %llu ms; %s checked out in /workspace\n",
			sbx_check_vm_backend(vm), (unsigned long long)sbx_check_vm_boot_ms(vm),
			ro->staged ? "the staged tree" : ro->rev);
	out.tty[0] = isatty(STDOUT_FILENO);
	out.tty[1] = isatty(STDERR_FILENO);
	err = sbx_check_vm_exec(vm, argv, ro->timeout_ms, sink, &out, &interrupted, &res);
	for (int i = 0; i < 2; i++) {
		char end_buf[SBX_QUOTE_MAX(0)];

		if (out.tty[i])
			write_all(i ? STDERR_FILENO : STDOUT_FILENO, (const uint8_t *)end_buf,
				  sbx_quote_end(&out.q[i], end_buf));
	}
	if (err) {
		ret = error_sbx("the VM failed");
	} else {
		if (res.flags & PROTO_EXIT_TIMEOUT)
			fprintf(stderr, "error: '%s' timed out\n", argv[0]);
		ret = res.code;
	}
out:
	sbx_check_vm_stop(vm);
	sbx_rmtree(dir);
	sbx_settings_clear(&set);
	return ret;
}

int cmd_run(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_sandbox_opts so = SBX_SANDBOX_OPTS_INIT;
	struct sbx_exec_opts eo = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	struct out_state out = { { SBX_QUOTE_INIT, SBX_QUOTE_INIT }, { false, false } };
	struct sbx_sandbox_end end;
	struct sbx_sandbox *sb = NULL;
	struct sbx_image img;
	const char *image = NULL, *memory = NULL, *timeout = NULL, *backend = NULL,
		   *keep_disk = NULL, *cwd = NULL;
	bool as_root = false, with_stdin = false, verbose = false, staged = false;
	const char *rev = NULL;
	int cpus = 2, n, ret, err;
	char dir[PATH_MAX] = "", disk[PATH_MAX + 16] = "";
	const struct option opts[] = {
		OPT_STRING(0, "image", &image, "name", "the image to boot (default: \"default\")"),
		OPT_INT(0, "cpus", &cpus, "n", "virtual CPUs (default 2)"),
		OPT_STRING(0, "memory", &memory, "size", "guest memory, e.g. 1G (default; bare numbers are MiB)"),
		OPT_STRING(0, "timeout", &timeout, "duration", "kill the command after this long (e.g. 10m)"),
		OPT_BOOL(0, "root", &as_root, "run as root instead of the agent user"),
		OPT_STRING(0, "cwd", &cwd, "dir", "working directory in the guest (default /workspace)"),
		OPT_BOOL(0, "stdin", &with_stdin, "pass our standard input to the command"),
		OPT_STRING(0, "keep-disk", &keep_disk, "file", "write the task disk here and keep it"),
		OPT_STRING(0, "serial-log", &so.serial_log, "file", "the guest kernel's console log"),
		OPT_STRING(0, "backend", &backend, "kvm|qemu", "force our VMM or the QEMU fallback"),
		OPT_BOOL('v', "verbose", &verbose, "say how long booting took"),
		OPT_BOOL(0, "staged", &staged, "check out the index's tree (what git commit would commit) in /workspace"),
		OPT_STRING(0, "rev", &rev, "rev", "check out this commit's tree in /workspace"),
		OPT_END(),
	};

	(void)ctx;
	n = parse_options(argc, argv, opts, run_usage, PARSE_OPT_STOP_AT_NON_OPTION);
	if (n < 1)
		usage_msg_opt("no command given", run_usage, opts);
	if (cpus < 1 || cpus > 64)
		usage_msg_opt("--cpus must be 1..64", run_usage, opts);
	so.cpus = (unsigned)cpus;
	if (staged && rev)
		usage_msg_opt("--staged and --rev exclude each other", run_usage, opts);
	if ((staged || rev) && (as_root || with_stdin || keep_disk || cwd || so.serial_log))
		usage_msg_opt("--staged and --rev take only --image, --cpus, --memory, --timeout, "
			      "--backend and -v", run_usage, opts);
	if (staged || rev) {
		struct run_tree_opts ro = { 0 };

		ro.staged = staged;
		ro.rev = rev;
		ro.image = image;
		ro.cpus = (unsigned)cpus;
		if (memory && parse_size(memory, 1 << 20, &ro.memory))
			die_sbx("bad --memory");
		if (timeout && parse_duration_ms(timeout, &ro.timeout_ms))
			die_sbx("bad --timeout");
		if (backend && !strcmp(backend, "kvm"))
			ro.backend = SBX_BACKEND_VMM;
		else if (backend && !strcmp(backend, "qemu"))
			ro.backend = SBX_BACKEND_QEMU;
		else if (backend)
			usage_msg_opt("--backend is kvm or qemu", run_usage, opts);
		if (ro.backend == SBX_BACKEND_VMM && sbx_kvm_check(NULL))
			die("--backend kvm: %s", sbx_error());
		ro.verbose = verbose;
		return run_on_tree(ctx, &ro, argv);
	}
	if (memory && parse_size(memory, 1 << 20, &so.memory))
		die_sbx("bad --memory");
	if (timeout && parse_duration_ms(timeout, &eo.timeout_ms))
		die_sbx("bad --timeout");
	if (backend && !strcmp(backend, "kvm"))
		so.backend = SBX_BACKEND_VMM;
	else if (backend && !strcmp(backend, "qemu"))
		so.backend = SBX_BACKEND_QEMU;
	else if (backend)
		usage_msg_opt("--backend is kvm or qemu", run_usage, opts);
	if (so.backend == SBX_BACKEND_VMM && sbx_kvm_check(NULL))
		die("--backend kvm: %s", sbx_error());
	if (sbx_image_resolve(&img, image))
		die_sbx("cannot find the image");
	so.image = &img;
	if (keep_disk) {
		so.task_disk = keep_disk;
	} else {
		snprintf(dir, sizeof(dir), "%s/sbx-run-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(dir))
			die("cannot create a temporary directory: %s", strerror(errno));
		snprintf(disk, sizeof(disk), "%s/task.qcow2", dir);
		so.task_disk = disk;
	}
	if (sbx_sandbox_make_disk(&img, so.task_disk)) {
		ret = error_sbx("cannot create the task disk");
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* A reader that left (`| head`) is an EPIPE that ends the run and cleans up, not a death. */
	signal(SIGPIPE, SIG_IGN);
	if (sbx_sandbox_start(&sb, &so)) {
		ret = error_sbx("cannot start the sandbox");
		goto out;
	}
	if (verbose)
		fprintf(stderr, "sbx: %s VM up in %llu ms\n", sbx_sandbox_backend_name(sb),
			(unsigned long long)sbx_sandbox_boot_ms(sb));
	{
		static const char *const env_user[] = {
			"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/sbx", "USER=sbx",
			"LANG=C.UTF-8", "TERM=dumb", NULL,
		};
		static const char *const env_root[] = {
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"HOME=/root", "USER=root", "LANG=C.UTF-8", "TERM=dumb", NULL,
		};

		eo.argv = argv;
		eo.env = as_root ? env_root : env_user;
		eo.cwd = cwd ? cwd : "/workspace";
		eo.set_user = !as_root;
		eo.uid = eo.gid = 1000;
		eo.stdin_fd = with_stdin ? STDIN_FILENO : -1;
		eo.sink = sink;
		eo.opaque = &out;
		eo.interrupt = &interrupted;
		out.tty[0] = isatty(STDOUT_FILENO);
		out.tty[1] = isatty(STDERR_FILENO);
		err = sbx_session_exec(sbx_sandbox_session(sb), &eo, &res);
		for (int i = 0; i < 2; i++) {
			char end_buf[SBX_QUOTE_MAX(0)];

			if (out.tty[i])
				write_all(i ? STDERR_FILENO : STDOUT_FILENO, (const uint8_t *)end_buf,
					  sbx_quote_end(&out.q[i], end_buf));
		}
	}
	if (err) {
		ret = error_sbx("the sandbox failed");
		sbx_sandbox_stop(sb, false, &end);
		goto out;
	}
	if (res.flags & PROTO_EXIT_TIMEOUT)
		fprintf(stderr, "error: '%s' timed out after %s\n", argv[0], timeout);
	ret = res.code;
	if (sbx_sandbox_stop(sb, true, &end))
		warning_msg("%s", sbx_error());
out:
	if (dir[0]) {
		unlink(disk);
		rmdir(dir);
	}
	return ret;
}
