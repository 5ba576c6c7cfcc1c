// SPDX-License-Identifier: MIT
/*
 * The QEMU fallback of a sandbox (sbx/sandbox.h): where /dev/kvm cannot run
 * our VMM, the same machine under qemu-system-x86_64 -M microvm with TCG,
 * its channel and serial console on Unix sockets in a directory of its own.
 */
#include "sbx/sandbox-int.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * QEMU dies with us: PR_SET_PDEATHSIG, so a `git sbx task` killed with
 * SIGKILL leaves no emulator running behind it.  Returns 0 or an errno.
 */
static int spawn_qemu(pid_t *pid, const char *const *argv)
{
	pid_t parent = getpid();
	int pfd[2], e = 0;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC))
		return errno;
	*pid = fork();
	if (*pid < 0) {
		e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return e;
	}
	if (*pid == 0) {
		close(pfd[0]);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	do
		n = read(pfd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == (ssize_t)sizeof(e)) {
		waitpid(*pid, NULL, 0);
		*pid = 0;
		return e ? e : ENOEXEC;
	}
	return 0;
}

/* A Unix socket at <sock_dir>/<name> for QEMU to connect to. */
static int listen_unix(int *lfd, struct sockaddr_un *sa, const char *dir, const char *name)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, name);
	*lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*lfd < 0 || bind(*lfd, (struct sockaddr *)sa, sizeof(*sa)) || listen(*lfd, 1)) {
		int rc = sbx_error_errno(SBX_EIO, "cannot listen on '%s'", sa->sun_path);

		if (*lfd >= 0)
			close(*lfd);
		*lfd = -1;
		return rc;
	}
	return 0;
}

/* QEMU's connection to `lfd` (closed here), within 60 s. */
static int accept_qemu(int *out, int lfd, const char *what)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int rc = poll(&p, 1, 60000);

	*out = -1;
	if (rc <= 0) {
		close(lfd);
		return sbx_error_set(SBX_ETIMEDOUT, "QEMU did not connect to the %s", what);
	}
	*out = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	close(lfd);
	if (*out < 0)
		return sbx_error_errno(SBX_EIO, "accept");
	return 0;
}

/*
 * A path inside a QEMU option string ("file=PATH,format=..."): QEMU splits
 * options at commas and reads ",," as one, so a repository under
 * "/home/a,b" must not become an extra option.  0, or SBX_ELIMIT.
 */
static int qemu_opt_path(char *dst, size_t size, const char *prefix, const char *path,
			 const char *suffix)
{
	size_t n = 0;

	n = (size_t)snprintf(dst, size, "%s", prefix);
	for (; *path && n + 2 < size; path++) {
		if (*path == ',')
			dst[n++] = ',';
		dst[n++] = *path;
	}
	if (*path || n + strlen(suffix) >= size)
		return sbx_error_set(SBX_ELIMIT, "a path is too long for QEMU's command line");
	snprintf(dst + n, size - n, "%s", suffix);
	return 0;
}

int sbx_sandbox_start_qemu(struct sbx_sandbox *sb, const struct sbx_sandbox_opts *o)
{
	char mem[32], cpus[16], root[2 * PATH_MAX + 64], task[2 * PATH_MAX + 64], chardev[256], serial[256];
	struct sockaddr_un sa, ssa;
	const char *argv[52];
	int lfd, slfd = -1, sfd, n = 0, rc;

	if (!o->quiet && !strcmp(sb->qemu_why, "--backend qemu"))
		pr_warn("running the VM under QEMU's emulation (slow) (--backend qemu)");
	else if (!o->quiet)
		pr_warn("%s: running the VM under QEMU's emulation (slow)", sb->qemu_why);
	snprintf(sb->sock_dir, sizeof(sb->sock_dir), "/tmp/sbx-qemu.XXXXXX");
	if (!mkdtemp(sb->sock_dir))
		return sbx_error_errno(SBX_EIO, "mkdtemp");
	if ((rc = listen_unix(&lfd, &sa, sb->sock_dir, "chan")))
		return rc;
	/*
	 * The serial console: QEMU cannot cap a file it writes, so its UART
	 * goes to a socket that sbx/console-log.c drains with the cap.
	 */
	if (o->serial_log && (rc = listen_unix(&slfd, &ssa, sb->sock_dir, "serial"))) {
		close(lfd);
		return rc;
	}
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)(o->memory >> 20));
	snprintf(cpus, sizeof(cpus), "%u", o->cpus);
	if ((rc = qemu_opt_path(root, sizeof(root), "file=", o->image->root,
				",format=raw,if=none,id=root,readonly=on")) ||
	    (rc = qemu_opt_path(task, sizeof(task), "file=", o->task_disk,
				",format=qcow2,if=none,id=task"))) {
		close(lfd);
		if (slfd >= 0)
			close(slfd);
		return rc;
	}
	snprintf(chardev, sizeof(chardev), "socket,id=chan,path=%s", sa.sun_path);
	if (o->serial_log)
		snprintf(serial, sizeof(serial), "socket,id=serial,path=%s", ssa.sun_path);
	argv[n++] = "qemu-system-x86_64";
	argv[n++] = "-M";
	argv[n++] = "microvm,acpi=on,rtc=on";
	argv[n++] = "-accel";
	argv[n++] = "tcg";
	argv[n++] = "-cpu";
	argv[n++] = "max";
	argv[n++] = "-m";
	argv[n++] = mem;
	argv[n++] = "-smp";
	argv[n++] = cpus;
	argv[n++] = "-nodefaults";
	argv[n++] = "-no-user-config";
	argv[n++] = "-nographic";
	argv[n++] = "-no-reboot";
	argv[n++] = "-kernel";
	argv[n++] = o->image->kernel;
	argv[n++] = "-initrd";
	argv[n++] = o->image->initrd;
	/*
	 * Under TCG the PIT calibration of the TSC fails on a loaded host and
	 * the kernel then waits for timer ticks that never come: give it the
	 * TSC's rate instead.
	 */
	argv[n++] = "-append";
	argv[n++] = CMDLINE " tsc_early_khz=2000000 tsc=reliable";
	if (o->serial_log) {
		argv[n++] = "-chardev";
		argv[n++] = serial;
		argv[n++] = "-serial";
		argv[n++] = "chardev:serial";
	} else {
		argv[n++] = "-serial";
		argv[n++] = "null";
	}
	argv[n++] = "-drive";
	argv[n++] = root;
	argv[n++] = "-device";
	argv[n++] = "virtio-blk-device,drive=root";
	argv[n++] = "-drive";
	argv[n++] = task;
	argv[n++] = "-device";
	argv[n++] = "virtio-blk-device,drive=task";
	argv[n++] = "-chardev";
	argv[n++] = chardev;
	argv[n++] = "-device";
	argv[n++] = "virtio-serial-device";
	argv[n++] = "-device";
	argv[n++] = "virtserialport,chardev=chan,name=" SBX_CHANNEL_PORT;
	argv[n++] = "-device";
	argv[n++] = "virtio-rng-device";
	argv[n++] = "-monitor";
	argv[n++] = "none";
	argv[n] = NULL;
	rc = spawn_qemu(&sb->qemu, argv);
	if (rc) {
		close(lfd);
		if (slfd >= 0)
			close(slfd);
		errno = rc;
		return sbx_error_errno(rc == ENOENT ? SBX_ENOTFOUND : SBX_ERROR,
				       "cannot run qemu-system-x86_64 (run tools/setup)");
	}
	/* QEMU connects its chardevs in order as it starts: the serial one first. */
	if (slfd >= 0) {
		if ((rc = accept_qemu(&sfd, slfd, "serial console socket"))) {
			close(lfd);
			return rc;
		}
		if ((rc = sbx_console_log_start(&sb->console, sfd, o->serial_log, o->serial_max))) {
			close(lfd);
			return rc;
		}
	}
	return accept_qemu(&sb->chan, lfd, "channel");
}
