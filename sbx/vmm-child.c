// SPDX-License-Identifier: MIT
/*
 * `git-sbx vmm-child`: the VMM process (sbx/vmm-proc.h has its fds and
 * docs/design.md "The VMM process" its confinement).  In order:
 *
 *   1. check the parent that started it is still there (PDEATHSIG was set
 *      before exec); ignore SIGPIPE; no_new_privs (set before exec too);
 *   2. open /proc/self/status (for the statistics), the disks, and through
 *      vm_create /dev/kvm, the kernel and the initramfs; make the VM;
 *   3. Landlock: no file can be opened by path from here on;
 *   4. report READY; install the BASE seccomp filter on this, the only
 *      thread, so every thread started after inherits it;
 *   5. start the control thread and vm_run: each thread narrows its own
 *      filter first (thread_hook), this one once all run;
 *   6. report END (how the VM ended), after the disks are closed.
 *
 * Test hooks, honoured here only, for tests/kvm/confine.kvm:
 *   SBX_VMM_TEST_OPEN=PATH       after Landlock, try to open PATH and say
 *                                how it went on stderr
 *   SBX_VMM_TEST_FORBIDDEN=KIND  the first thread of KIND (vcpu, event,
 *                                main, control) calls openat() once its
 *                                filter is on: the process dies of SIGSYS
 */
#include "sbx/disk-limit.h"
#include "sbx/landlock.h"
#include "sbx/seccomp.h"
#include "sbx/vmm-proc.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/log.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FD_REPORT	3
#define FD_CONTROL	4
#define FD_SERIAL	5
#define FD_SAVE_MEM	6
#define FD_SAVE_STATE	7

struct child {
	struct vm_config cfg;
	struct sbx_vmm_disk disks[VM_MAX_DISKS];
	unsigned ndisks;
	long parent;
	struct vm *vm;
	pthread_mutex_t report_lock;
	const char *forbidden;		/* SBX_VMM_TEST_FORBIDDEN */
	bool save_fds;			/* --save-fds: 6 and 7 are there */
	const char *restore_state, *restore_mem[VM_MAX_MEM_LAYERS];
	unsigned restore_nmem;
};

static struct child child = { .report_lock = PTHREAD_MUTEX_INITIALIZER };

static void report(struct sbx_vmm_report *r)
{
	const char *p = (const char *)r;
	size_t left = sizeof(*r);

	r->magic = SBX_VMM_REPORT_MAGIC;
	pthread_mutex_lock(&child.report_lock);
	while (left) {
		ssize_t n = write(FD_REPORT, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;		/* the parent is gone; PDEATHSIG follows */
		p += n;
		left -= (size_t)n;
	}
	pthread_mutex_unlock(&child.report_lock);
}

static void report_error(enum sbx_vmm_report_type type, int err)
{
	struct sbx_vmm_report r = { .type = type, .err = err };

	snprintf(r.error, sizeof(r.error), "%s", sbx_error());
	report(&r);
}

static void disk_full(void *opaque)
{
	struct sbx_vmm_report r = { .type = SBX_VMM_DISK_FULL };

	(void)opaque;
	report(&r);
}

/* The test hook: a call no filter allows.  Never returns when the filter works. */
static void try_forbidden(const char *kind)
{
	if (!child.forbidden || strcmp(child.forbidden, kind))
		return;
	child.forbidden = NULL;
	pr_warn("test hook: the %s thread calls openat() under its seccomp filter", kind);
	syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_CLOEXEC);
	pr_err("test hook: openat() returned on the %s thread: the filter did not stop it", kind);
}

static int thread_hook(enum vm_thread_kind kind, unsigned index, void *opaque)
{
	static const enum sbx_filter filters[] = {
		[VM_THREAD_MAIN] = SBX_FILTER_MAIN,
		[VM_THREAD_EVENT] = SBX_FILTER_EVENT,
		[VM_THREAD_VCPU] = SBX_FILTER_VCPU,
	};
	int err;

	(void)opaque;
	err = sbx_seccomp_install(filters[kind]);
	if (!err && index == 0)
		try_forbidden(sbx_seccomp_name(filters[kind]));
	return err;
}

/* 's' (or 'd': a diff): save the VM into fds 6 and 7 and end it; say how it went. */
static void save_and_stop(bool diff)
{
	struct sbx_vmm_report r = { .type = SBX_VMM_SAVED };
	struct vm_save_info info;
	unsigned flags = VM_SAVE_STOP | (diff ? VM_SAVE_DIFF : 0);
	int err;

	err = child.save_fds ? vm_save(child.vm, FD_SAVE_MEM, FD_SAVE_STATE, flags, &info)
			     : sbx_error_set(SBX_EINVAL, "the VMM was started without save files");
	if (err) {
		r.err = err;
		snprintf(r.error, sizeof(r.error), "%s", sbx_error());
		report(&r);
		vm_request_end(child.vm, VM_END_ERROR, "%s", r.error);
		return;
	}
	r.save_pause_ns = info.pause_ns;
	r.save_mem_bytes = info.mem_bytes;
	r.save_state_bytes = info.state_bytes;
	report(&r);
}

/* 'r': back to the snapshot in place; say how it went (a failure ends the VM). */
static void reset(void)
{
	struct sbx_vmm_report r = { .type = SBX_VMM_RESET };
	struct vm_save_info info;
	int err = vm_reset(child.vm, &info);

	if (err) {
		r.err = err;
		snprintf(r.error, sizeof(r.error), "%s", sbx_error());
	}
	r.save_pause_ns = info.pause_ns;
	report(&r);
}

/*
 * A checkpoint request with its descriptors (sbx/vmm-proc.h): the VM
 * checkpointed into them, the descriptors not now a disk's closed, the
 * outcome reported.  The VM goes on either way.
 */
static void checkpoint(const struct sbx_vmm_ckpt_msg *msg, int *fds, unsigned nfds, bool bad)
{
	struct sbx_vmm_report r = { .type = SBX_VMM_CHECKPOINT };
	struct vm_disk_switch sw[VM_MAX_DISKS] = { { 0 } };
	char names[VM_MAX_DISKS][48];
	struct vm_save_info info;
	unsigned i, nd = msg->ndisks;
	int err = 0;

	memset(&info, 0, sizeof(info));
	if (bad || nd > VM_MAX_DISKS || nfds != 2 + 2 * nd)
		err = sbx_error_set(SBX_EINVAL, "a malformed checkpoint request (%u descriptors, "
				    "%u disks)", nfds, nd);
	for (i = 0; !err && i < nd; i++) {
		if (msg->disk[i] >= child.cfg.ndisks) {
			err = sbx_error_set(SBX_EINVAL, "a checkpoint of disk %u: the VM has %u",
					    msg->disk[i] + 1, child.cfg.ndisks);
			break;
		}
		snprintf(names[i], sizeof(names[i]), "disk %u's checkpoint overlay", msg->disk[i] + 1);
		sw[i] = (struct vm_disk_switch){ msg->disk[i], fds[2 + 2 * i], fds[3 + 2 * i],
						 names[i] };
	}
	if (!err)
		err = vm_checkpoint(child.vm, fds[0], fds[1], sw, nd,
				    (msg->flags & SBX_VMM_CKPT_FULL) ? VM_CKPT_FULL : 0, &info);
	for (i = 0; i < nfds; i++) {
		/* a switched disk's overlay and frozen top are its own now */
		unsigned d = i >= 2 && (i - 2) / 2 < nd ? msg->disk[(i - 2) / 2] : VM_MAX_DISKS;

		if (d >= VM_MAX_DISKS || !(info.switched & (1u << d)))
			close(fds[i]);
	}
	if (err) {
		r.err = err;
		snprintf(r.error, sizeof(r.error), "%s", sbx_error());
	}
	r.save_pause_ns = info.pause_ns;
	r.save_mem_bytes = info.mem_bytes;
	r.save_state_bytes = info.state_bytes;
	r.ckpt_diff = info.diff;
	r.ckpt_chain = (uint8_t)info.chain;
	r.ckpt_switched = (uint8_t)info.switched;
	report(&r);
}

/*
 * One message from the parent (a SOCK_SEQPACKET socket: one request each)
 * and the descriptors that came with it; *bad when it did not fit (the
 * kernel closed what did not).  Returns recvmsg's count.
 */
static ssize_t recv_request(void *buf, size_t len, int *fds, unsigned *nfds, bool *bad)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(SBX_VMM_CKPT_MAX_FDS * sizeof(int))];
	} u;
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			    .msg_controllen = sizeof(u.b) };
	struct cmsghdr *h;
	ssize_t n;

	*nfds = 0;
	*bad = false;
	do
		n = recvmsg(FD_CONTROL, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return n;
	for (h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
		size_t k, count;

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS ||
		    h->cmsg_len < CMSG_LEN(0))
			continue;
		count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < count; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(h) + k * sizeof(int), sizeof(int));
			if (*nfds < SBX_VMM_CKPT_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd), *bad = true;
		}
	}
	if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		*bad = true;
	return n;
}

/*
 * Reads the parent's requests: 's' saves the VM and ends it ('d': a diff
 * snapshot of a restored VM), 'r' resets a restored VM in place, a
 * checkpoint request checkpoints it, any other byte ends it, and EOF (the
 * parent went away) ends it too.  Descriptors that come with anything but
 * a checkpoint are closed.
 */
static void *control_thread(void *arg)
{
	struct sbx_vmm_ckpt_msg msg;
	int fds[SBX_VMM_CKPT_MAX_FDS];
	unsigned nfds, i;
	bool bad;
	char c = 0;
	ssize_t n;

	(void)arg;
	if (sbx_seccomp_install(SBX_FILTER_CONTROL)) {
		vm_request_end(child.vm, VM_END_ERROR, "%s", sbx_error());
		return NULL;
	}
	try_forbidden("control");
	for (;;) {
		memset(&msg, 0, sizeof(msg));
		n = recv_request(&msg, sizeof(msg), fds, &nfds, &bad);
		c = n > 0 ? (char)msg.op : 0;
		if (n > 0 && c == SBX_VMM_CKPT_OP) {
			checkpoint(&msg, fds, nfds, bad || n != (ssize_t)sizeof(msg));
			continue;
		}
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		if (n == 1 && c == 'r') {
			reset();
			continue;
		}
		break;
	}
	if (n == 1 && (c == 's' || c == 'd')) {
		save_and_stop(c == 'd');
		return NULL;
	}
	vm_request_end(child.vm, VM_END_ERROR, "%s",
		       n == 1 ? "the sandbox was stopped" : "git-sbx went away");
	return NULL;
}

/* "FORMAT,RO,LIMIT,PATH" (the path last: it may hold commas) */
static int parse_disk(struct sbx_vmm_disk *d, const char *s)
{
	int fmt, ro, pos = 0;
	unsigned long long limit;

	if (sscanf(s, "%d,%d,%llu,%n", &fmt, &ro, &limit, &pos) != 3 || !pos || !s[pos] ||
	    fmt < BLOCKDEV_FORMAT_AUTO || fmt > BLOCKDEV_FORMAT_QCOW2)
		return sbx_error_set(SBX_EINVAL, "bad --disk '%s'", s);
	d->format = (enum blockdev_format)fmt;
	d->read_only = ro;
	d->limit = limit;
	d->path = s + pos;
	return 0;
}

static int parse_args(int argc, const char **argv)
{
	struct vm_config *cfg = &child.cfg;
	uint64_t v;
	int i, err = 0;

	for (i = 1; i < argc && !err; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(opt, "--serial")) {
			cfg->serial_fd = FD_SERIAL;
			continue;
		}
		if (!strcmp(opt, "--save-fds")) {
			child.save_fds = true;
			continue;
		}
		if (!strcmp(opt, "--console")) {
			cfg->console = true;
			cfg->console_in_fd = STDIN_FILENO;
			cfg->console_out_fd = STDOUT_FILENO;
			continue;
		}
		if (!val)
			return sbx_error_set(SBX_EINVAL, "'%s' needs a value", opt);
		i++;
		if (!strcmp(opt, "--parent"))
			err = parse_uint(val, 1, INT32_MAX, &v), child.parent = (long)v;
		else if (!strcmp(opt, "--kernel"))
			cfg->kernel = val;
		else if (!strcmp(opt, "--initrd"))
			cfg->initrd = val;
		else if (!strcmp(opt, "--cmdline"))
			cfg->cmdline = val;
		else if (!strcmp(opt, "--cpus"))
			err = parse_uint(val, 0, UINT32_MAX, &v), cfg->cpus = (unsigned)v;
		else if (!strcmp(opt, "--memory"))
			err = parse_uint(val, 0, UINT64_MAX, &cfg->mem_size);
		else if (!strcmp(opt, "--timeout"))
			err = parse_uint(val, 0, UINT64_MAX, &cfg->timeout_ms);
		else if (!strcmp(opt, "--rng"))
			cfg->rng = !strcmp(val, "1");
		else if (!strcmp(opt, "--console-port"))
			cfg->console_port = val;
		else if (!strcmp(opt, "--restore-state"))
			child.restore_state = val;
		else if (!strcmp(opt, "--restore-memory") && child.restore_nmem < VM_MAX_MEM_LAYERS)
			child.restore_mem[child.restore_nmem++] = val;
		else if (!strcmp(opt, "--disk") && child.ndisks < VM_MAX_DISKS)
			err = parse_disk(&child.disks[child.ndisks++], val);
		else
			err = sbx_error_set(SBX_EINVAL, "unknown option '%s'", opt);
	}
	if (!err && (!cfg->kernel || !child.parent))
		err = sbx_error_set(SBX_EINVAL, "--kernel and --parent are required");
	return err;
}

static int open_disks(void)
{
	unsigned i;
	int err;

	for (i = 0; i < child.ndisks; i++) {
		struct sbx_vmm_disk *d = &child.disks[i];
		struct blockdev *bd;
		int fd;

		err = blockdev_open_image(&bd, d->path, d->read_only, d->format);
		if (err)
			return sbx_error_prefix(err, "disk '%s'", d->path);
		child.cfg.disks[child.cfg.ndisks++] = bd;
		if (!d->limit)
			continue;
		fd = open(d->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return sbx_error_errno(SBX_EIO, "cannot open '%s'", d->path);
		err = sbx_disk_limit_wrap(&child.cfg.disks[i], bd, fd, d->limit, disk_full, NULL);
		if (err) {
			child.cfg.disks[i] = NULL;
			blockdev_close(bd);
			return err;
		}
	}
	return 0;
}

static int close_disks(void)
{
	unsigned i;
	int err = 0, e;

	for (i = 0; i < child.cfg.ndisks; i++)
		if ((e = blockdev_close(child.cfg.disks[i])) && !err)
			err = sbx_error_prefix(e, "disk '%s'", child.disks[i].path);
	child.cfg.ndisks = 0;
	return err;
}

/* The snapshot to restore: opened now, read by vm_create, closed after. */
static int open_snapshot(void)
{
	unsigned i;

	if (!child.restore_state)
		return 0;
	if (!child.restore_nmem)
		return sbx_error_set(SBX_EINVAL, "--restore-state needs --restore-memory");
	child.cfg.restore_state_fd = open(child.restore_state, O_RDONLY | O_CLOEXEC);
	if (child.cfg.restore_state_fd < 0)
		return sbx_error_errno(SBX_ENOTFOUND, "cannot open the state file '%s'",
				       child.restore_state);
	for (i = 0; i < child.restore_nmem; i++) {
		int fd = open(child.restore_mem[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return sbx_error_errno(SBX_ENOTFOUND, "cannot open the memory file '%s'",
					       child.restore_mem[i]);
		child.cfg.restore_mem_fds[child.cfg.restore_nmem++] = fd;
	}
	return 0;
}

/* After the VM is gone: the memory files stay open until then for in-place resets. */
static void close_snapshot(void)
{
	unsigned i;

	if (child.cfg.restore_state_fd >= 0)
		close(child.cfg.restore_state_fd);
	child.cfg.restore_state_fd = -1;
	for (i = 0; i < child.cfg.restore_nmem; i++)
		close(child.cfg.restore_mem_fds[i]);
	child.cfg.restore_nmem = 0;
}

static void test_open(void)
{
	const char *path = getenv("SBX_VMM_TEST_OPEN");
	int fd;

	if (!path)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	pr_warn("test hook: opening '%s' in the VMM process: %s", path,
		fd < 0 ? strerror(errno) : "opened");
	if (fd >= 0)
		close(fd);
}

/* Everything up to the filters; on failure the caller reports it. */
static int set_up(int *status_fd)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigset_t none;
	char note[256];
	int err;

	if (getppid() != child.parent)
		return sbx_error_set(SBX_ERROR, "the parent went away before the VMM started");
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return sbx_error_errno(SBX_ERROR, "PR_SET_NO_NEW_PRIVS");
	*status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if ((err = open_disks()))
		return err;
	if ((err = open_snapshot()))
		return err;
	child.cfg.thread_hook = thread_hook;
	err = vm_create(&child.vm, &child.cfg);
	if (err)
		return err;
	err = sbx_landlock_deny_fs(note, sizeof(note));
	if (err < 0)
		return err;
	if (err > 0)
		pr_warn("%s", note);
	else
		pr_debug("vmm: %s", note);
	test_open();
	return 0;
}

int sbx_vmm_child_main(int argc, const char **argv)
{
	struct sbx_vmm_report r = { .type = SBX_VMM_END };
	struct vm_result vr;
	struct vm_stats st;
	pthread_t control;
	sigset_t all, old;
	int status_fd = -1, err;

	child.cfg = (struct vm_config)VM_CONFIG_INIT;
	child.cfg.rng = false;
	child.forbidden = getenv("SBX_VMM_TEST_FORBIDDEN");
	err = parse_args(argc, argv);
	if (!err)
		err = set_up(&status_fd);
	if (!err) {
		struct sbx_vmm_report ready = { .type = SBX_VMM_READY };

		report(&ready);
		err = sbx_seccomp_install(SBX_FILTER_BASE);
	}
	if (err) {
		report_error(SBX_VMM_FAILED, err);
		vm_free(child.vm);
		close_disks();
		close_snapshot();
		return 1;
	}
	/* The control thread takes no signal; vm_run's threads set their own masks. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&control, NULL, control_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		errno = err;
		err = sbx_error_errno(SBX_ERROR, "cannot start the control thread");
	} else {
		pthread_detach(control);
		err = vm_run(child.vm, &vr);
	}
	if (!err && !vm_get_stats(child.vm, &st, status_fd)) {
		r.rss = st.rss;
		r.guest_resident = st.guest_resident;
	}
	vm_free(child.vm);
	close_snapshot();
	if (!err)
		err = close_disks();
	else
		close_disks();
	if (!err) {
		r.end = vr.end;
		r.status_set = vr.status_set;
		r.status = vr.status;
		snprintf(r.message, sizeof(r.message), "%s", vr.message);
	} else {
		r.err = err;
		r.end = VM_END_ERROR;
		snprintf(r.error, sizeof(r.error), "%s", sbx_error());
		snprintf(r.message, sizeof(r.message), "%s", sbx_error());
	}
	report(&r);
	return 0;
}
