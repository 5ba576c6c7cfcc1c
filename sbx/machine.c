// SPDX-License-Identifier: MIT
#include "sbx/machine.h"
#include "sbx/fsutil.h"
#include "util/blockdev.h"
#include "util/error.h"
#include "util/log.h"
#include "vmm/vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* /proc/self/fd less opendir's own fd while it counts. */
static int count_dir(const char *path)
{
	int n = sbx_count_dir(path);

	return n - (n > 0 && !strcmp(path, "/proc/self/fd") ? 1 : 0);
}

/* Threads exit asynchronously after pthread_join: give them a moment to go. */
static int check_leaks(int fds_before, int threads_before)
{
	int fds = 0, threads = 0, i;

	for (i = 0; i < 50; i++) {
		fds = count_dir("/proc/self/fd");
		threads = count_dir("/proc/self/task");
		if (fds <= fds_before && threads <= threads_before)
			return 0;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	return sbx_error_set(SBX_ERROR, "the VM left %d file descriptors and %d threads behind",
			     fds - fds_before, threads - threads_before);
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return sbx_error_set(SBX_EINVAL, "socket path '%s' is too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sbx_error_errno(SBX_ERROR, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int ret = sbx_error_errno(SBX_ENOTFOUND, "cannot connect to '%s'", path);

		close(fd);
		return ret;
	}
	return fd;
}

static enum sbx_machine_end map_end(enum vm_end e)
{
	switch (e) {
	case VM_END_POWEROFF: return SBX_MACHINE_POWEROFF;
	case VM_END_EXIT: return SBX_MACHINE_EXITED;
	case VM_END_REBOOT: return SBX_MACHINE_REBOOT;
	case VM_END_TIMEOUT: return SBX_MACHINE_TIMEOUT;
	default: return SBX_MACHINE_CRASH;
	}
}

int sbx_machine_run(struct sbx_machine_result *res, const struct sbx_machine *m)
{
	struct vm_config cfg = VM_CONFIG_INIT;
	struct vm_result vr;
	struct vm_stats st;
	struct vm *vm = NULL;
	int serial_fd = -1, sock = -1, fds_before = -1, threads_before = -1;
	int stdin_flags = -1, stdout_flags = -1;
	bool check = getenv("SBX_CHECK_LEAKS") && !strcmp(getenv("SBX_CHECK_LEAKS"), "1");
	unsigned i;
	int ret;

	memset(res, 0, sizeof(*res));
	if (check) {
		fds_before = count_dir("/proc/self/fd");
		threads_before = count_dir("/proc/self/task");
	}
	if (m->ndisks > SBX_MACHINE_MAX_DISKS || m->ndisks > VM_MAX_DISKS)
		return sbx_error_set(SBX_EINVAL, "at most %d disks", SBX_MACHINE_MAX_DISKS);
	cfg.kernel = m->kernel;
	cfg.initrd = m->initrd;
	cfg.cmdline = m->append;
	cfg.cpus = m->cpus;
	cfg.mem_size = (m->memory + (2ULL << 20) - 1) & ~((2ULL << 20) - 1);
	cfg.timeout_ms = m->timeout_ms;
	cfg.rng = m->rng;

	if (m->serial_log) {
		serial_fd = open(m->serial_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (serial_fd < 0) {
			ret = sbx_error_errno(SBX_EIO, "cannot open serial log '%s'", m->serial_log);
			goto out;
		}
		cfg.serial_fd = serial_fd;
	} else {
		cfg.serial_fd = STDERR_FILENO;
	}
	for (i = 0; i < m->ndisks; i++) {
		ret = blockdev_open_image(&cfg.disks[i], m->disks[i].path, m->disks[i].read_only,
					  m->disks[i].format);
		if (ret) {
			sbx_error_prefix(ret, "disk '%s'", m->disks[i].path);
			goto out;
		}
		cfg.ndisks = i + 1;
	}
	cfg.console_port = m->console_port;
	switch (m->console) {
	case SBX_CONSOLE_NONE:
		break;
	case SBX_CONSOLE_STDIO:
		/* The console makes its fds non-blocking: put stdin/stdout back after. */
		stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
		stdout_flags = fcntl(STDOUT_FILENO, F_GETFL);
		cfg.console = true;
		cfg.console_in_fd = STDIN_FILENO;
		cfg.console_out_fd = STDOUT_FILENO;
		break;
	case SBX_CONSOLE_SOCKET:
		sock = connect_socket(m->console_socket);
		if (sock < 0) {
			ret = sock;
			goto out;
		}
		cfg.console = true;
		cfg.console_in_fd = cfg.console_out_fd = sock;
		break;
	}

	ret = vm_create(&vm, &cfg);
	if (ret)
		goto out;
	ret = vm_run(vm, &vr);
	if (ret)
		goto out;
	if (!vm_get_stats(vm, &st, -1)) {
		res->rss = st.rss;
		res->guest_resident = st.guest_resident;
	}
	res->end = map_end(vr.end);
	res->status_set = vr.status_set;
	res->status = vr.status;
	snprintf(res->message, sizeof(res->message), "%s", vr.message);
out:
	vm_free(vm);
	for (i = 0; i < cfg.ndisks; i++) {
		int r = blockdev_close(cfg.disks[i]);

		if (r && !ret)
			ret = sbx_error_prefix(r, "disk '%s'", m->disks[i].path);
	}
	if (sock >= 0)
		close(sock);
	if (serial_fd >= 0)
		close(serial_fd);
	if (stdin_flags >= 0)
		fcntl(STDIN_FILENO, F_SETFL, stdin_flags);
	if (stdout_flags >= 0)
		fcntl(STDOUT_FILENO, F_SETFL, stdout_flags);
	if (!ret && check)
		ret = check_leaks(fds_before, threads_before);
	return ret;
}
