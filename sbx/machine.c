// SPDX-License-Identifier: MIT
#include "sbx/machine.h"
#include "sbx/machine-ckpt.h"
#include "sbx/fsutil.h"
#include "snapshot/qcow2.h"
#include "util/blockdev.h"
#include "util/error.h"
#include "util/log.h"
#include "sbx/vmm-proc.h"
#include "vmm/vm.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
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

/* SIGUSR1 with --save: ask the VMM to save (one request; more are ignored). */
static volatile int save_control_fd = -1;
/* SIGUSR2 with a restore: ask the VMM to reset the VM in place (each time). */
static volatile int reset_control_fd = -1;

static void on_reset_signal(int sig)
{
	int fd = reset_control_fd, saved = errno;

	(void)sig;
	if (fd >= 0)
		(void)send(fd, "r", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	errno = saved;
}

static void on_reset(void *opaque, int err, const char *error, uint64_t pause_ns)
{
	unsigned *n = opaque;

	++*n;
	if (err)
		fprintf(stderr, "reset %u failed: %s\n", *n, error);
	else
		fprintf(stderr, "reset %u: back to the snapshot in %.1f ms\n", *n,
			(double)pause_ns / 1e6);
}

static volatile char save_kind = 's';	/* 'd': a diff on top of the restored snapshot */

static void on_save_signal(int sig)
{
	int fd = save_control_fd, saved = errno;
	char c = save_kind;

	(void)sig;
	save_control_fd = -1;
	if (fd >= 0)
		(void)send(fd, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	errno = saved;
}

static enum sbx_machine_end map_end(enum vm_end e)
{
	switch (e) {
	case VM_END_SAVED: return SBX_MACHINE_SAVED;
	case VM_END_POWEROFF: return SBX_MACHINE_POWEROFF;
	case VM_END_EXIT: return SBX_MACHINE_EXITED;
	case VM_END_REBOOT: return SBX_MACHINE_REBOOT;
	case VM_END_TIMEOUT: return SBX_MACHINE_TIMEOUT;
	default: return SBX_MACHINE_CRASH;
	}
}

/*
 * The disks, slot by slot: m->disks in order, or with a restore into
 * m->overlay_dir, a new overlay (owned[slot]) over each layer the snapshot
 * names in its slot and m->disks in the others.
 */
static int place_disks(struct sbx_vmm_spec *spec, char **owned, const struct sbx_machine *m)
{
	char *layers[SBX_MACHINE_MAX_DISKS], name[32];
	unsigned i, j = 0, nl = 0, total;
	int ret = 0;

	if (!m->restore_dir || !m->overlay_dir) {
		for (i = 0; i < m->ndisks; i++)
			spec->disks[i] = (struct sbx_vmm_disk){ m->disks[i].path, m->disks[i].read_only,
								m->disks[i].format, 0 };
		spec->ndisks = m->ndisks;
		return 0;
	}
	if ((ret = sbx_snapdir_layers(m->restore_dir, layers, SBX_MACHINE_MAX_DISKS)))
		return ret;
	for (i = 0; i < SBX_MACHINE_MAX_DISKS; i++)
		nl += layers[i] != NULL;
	total = m->ndisks + nl;
	if (!nl)
		ret = sbx_error_set(SBX_EINVAL, "'%s' names no disk layer (not a checkpoint)",
				    m->restore_dir);
	else if (total > SBX_MACHINE_MAX_DISKS)
		ret = sbx_error_set(SBX_EINVAL, "at most %d disks", SBX_MACHINE_MAX_DISKS);
	else if ((ret = sbx_mkdirs(m->overlay_dir)))
		sbx_error_prefix(ret, "'%s'", m->overlay_dir);
	for (i = 0; !ret && i < SBX_MACHINE_MAX_DISKS; i++) {
		if (layers[i] && i >= total) {
			ret = sbx_error_set(SBX_EINVAL, "the snapshot's disk %u has a layer, but the "
					    "VM would have %u disks: give the others with --disk",
					    i + 1, total);
		} else if (layers[i]) {
			snprintf(name, sizeof(name), "disk%u.qcow2", i);
			if (!(owned[i] = sbx_path_join(m->overlay_dir, name)))
				ret = sbx_error_set(SBX_ENOMEM, "out of memory");
			else if ((ret = qcow2_create_overlay(owned[i], layers[i], NULL)))
				sbx_error_prefix(ret, "disk %u", i + 1);
			else
				spec->disks[i] = (struct sbx_vmm_disk){ owned[i], false,
									BLOCKDEV_FORMAT_QCOW2, 0 };
		} else if (i < total) {
			spec->disks[i] = (struct sbx_vmm_disk){ m->disks[j].path,
								m->disks[j].read_only,
								m->disks[j].format, 0 };
			j++;
		}
	}
	spec->ndisks = total;
	for (i = 0; i < SBX_MACHINE_MAX_DISKS; i++)
		free(layers[i]);
	return ret;
}

int sbx_machine_run(struct sbx_machine_result *res, const struct sbx_machine *m)
{
	struct sbx_vmm_spec spec = SBX_VMM_SPEC_INIT;
	struct sbx_vmm_result vres;
	struct sbx_vmm *vmm = NULL;
	int serial_fd = -1, sock = -1, fds_before = -1, threads_before = -1;
	int stdin_flags = -1, stdout_flags = -1, save_mem = -1, save_state = -1;
	char *restore_state = NULL, *restore_mem[VM_MAX_MEM_LAYERS] = { NULL };
	char *overlays[SBX_MACHINE_MAX_DISKS] = { NULL };
	struct sbx_machine_ckpt *ckpt = NULL;
	unsigned nmem = 0;
	struct sigaction sa_old, sa_new, sa_old2;
	bool handler = false, handler2 = false;
	unsigned resets = 0;
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
	spec.kernel = m->kernel;
	spec.initrd = m->initrd;
	spec.cmdline = m->append;
	spec.cpus = m->cpus;
	spec.mem_size = (m->memory + (2ULL << 20) - 1) & ~((2ULL << 20) - 1);
	spec.timeout_ms = m->timeout_ms;
	spec.rng = m->rng;
	if (m->restore_dir) {
		ret = sbx_snapdir_paths(m->restore_dir, &restore_state, restore_mem, &nmem);
		if (ret)
			goto out;
		spec.restore_state = restore_state;
		for (i = 0; i < nmem; i++)
			spec.restore_mem[i] = restore_mem[i];
		spec.restore_nmem = nmem;
		spec.on_reset = on_reset;
		spec.on_reset_opaque = &resets;
	}
	if (m->save_dir) {
		ret = sbx_snapdir_prepare(m->save_dir, &save_mem, &save_state);
		if (ret)
			goto out;
		spec.save_mem_fd = save_mem;
		spec.save_state_fd = save_state;
	}

	if (m->serial_log) {
		serial_fd = open(m->serial_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (serial_fd < 0) {
			ret = sbx_error_errno(SBX_EIO, "cannot open serial log '%s'", m->serial_log);
			goto out;
		}
		spec.serial_fd = serial_fd;
	} else {
		spec.serial_fd = STDERR_FILENO;
	}
	/* The VMM process opens the disks itself, before it denies itself the filesystem. */
	if ((ret = place_disks(&spec, overlays, m)))
		goto out;
	if (m->checkpoint_dir) {
		if ((ret = sbx_machine_ckpt_new(&ckpt, m, spec.disks, spec.ndisks)))
			goto out;
		spec.on_checkpoint = sbx_machine_ckpt_answer;
		spec.on_checkpoint_opaque = ckpt;
	}
	spec.console_port = m->console_port;
	switch (m->console) {
	case SBX_CONSOLE_NONE:
		break;
	case SBX_CONSOLE_STDIO:
		/* The console makes its fds non-blocking: put stdin/stdout back after. */
		stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
		stdout_flags = fcntl(STDOUT_FILENO, F_GETFL);
		spec.console_in_fd = STDIN_FILENO;
		spec.console_out_fd = STDOUT_FILENO;
		break;
	case SBX_CONSOLE_SOCKET:
		sock = connect_socket(m->console_socket);
		if (sock < 0) {
			ret = sock;
			goto out;
		}
		spec.console_in_fd = spec.console_out_fd = sock;
		break;
	}

	ret = sbx_vmm_start(&vmm, &spec);
	if (ret)
		goto out;
	/* Only the VMM holds these now: its end is their end. */
	if (sock >= 0)
		close(sock);
	sock = -1;
	if (m->save_dir) {
		memset(&sa_new, 0, sizeof(sa_new));
		sa_new.sa_handler = on_save_signal;
		sigemptyset(&sa_new.sa_mask);
		sa_new.sa_flags = SA_RESTART;
		save_control_fd = sbx_vmm_control_fd(vmm);
		save_kind = m->restore_dir ? 'd' : 's';
		handler = sigaction(SIGUSR1, &sa_new, &sa_old) == 0;
	}
	if (m->restore_dir) {
		memset(&sa_new, 0, sizeof(sa_new));
		sa_new.sa_handler = on_reset_signal;
		sigemptyset(&sa_new.sa_mask);
		sa_new.sa_flags = SA_RESTART;
		reset_control_fd = sbx_vmm_control_fd(vmm);
		handler2 = sigaction(SIGUSR2, &sa_new, &sa_old2) == 0;
	}
	if (ckpt && (ret = sbx_machine_ckpt_start(ckpt, vmm))) {
		sbx_vmm_kill(vmm);
		sbx_vmm_wait(vmm, &vres);
		goto out;
	}
	ret = sbx_vmm_wait(vmm, &vres);
	sbx_machine_ckpt_stop(ckpt);
	if (handler) {
		save_control_fd = -1;
		sigaction(SIGUSR1, &sa_old, NULL);
	}
	if (handler2) {
		reset_control_fd = -1;
		sigaction(SIGUSR2, &sa_old2, NULL);
	}
	if (!ret && vres.saved && vres.save_err)
		ret = sbx_error_set(vres.save_err, "%s", vres.save_error);
	if (!ret && vres.vr.end == VM_END_SAVED)
		ret = sbx_snapdir_commit(m->save_dir, m);
	if (ret)
		goto out;
	res->save_pause_ns = vres.save.pause_ns;
	res->save_mem_bytes = vres.save.mem_bytes;
	res->rss = vres.rss;
	res->guest_resident = vres.guest_resident;
	res->end = map_end(vres.vr.end);
	res->status_set = vres.vr.status_set;
	res->status = vres.vr.status;
	snprintf(res->message, sizeof(res->message), "%s", vres.vr.message);
out:
	sbx_machine_ckpt_free(ckpt);
	sbx_vmm_free(vmm);
	for (i = 0; i < SBX_MACHINE_MAX_DISKS; i++)
		free(overlays[i]);
	if (save_mem >= 0)
		close(save_mem);
	if (save_state >= 0)
		close(save_state);
	if (m->save_dir && (ret || res->end != SBX_MACHINE_SAVED))
		sbx_snapdir_abort(m->save_dir);
	free(restore_state);
	for (i = 0; i < nmem; i++)
		free(restore_mem[i]);
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
