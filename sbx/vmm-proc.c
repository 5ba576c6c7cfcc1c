// SPDX-License-Identifier: MIT
/* The parent's side of the VMM process: see sbx/vmm-proc.h. */
#include "sbx/vmm-proc.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS (28 + 2 * VM_MAX_DISKS + 2 * VM_MAX_MEM_LAYERS)

/* The only variables the VMM process sees: debugging and its test hooks. */
static const char *const env_pass[] = {
	"SBX_DEBUG", "SBX_KVM_DEVICE", "SBX_KVM_PROBE_TIMEOUT_MS",
	"SBX_VMM_TEST_FORBIDDEN", "SBX_VMM_TEST_OPEN",
};

struct sbx_vmm {
	pid_t pid;		/* also its process group; 0 once reaped */
	int report_fd;		/* read end of the report pipe */
	int control_fd;		/* our end of the control socket (send() can say MSG_NOSIGNAL) */
	volatile int disk_full;
	bool exited;		/* sbx_vmm_wait saw it exit (still a zombie) */
	siginfo_t how;
	void (*on_reset)(void *opaque, int err, const char *error, uint64_t pause_ns);
	void *on_reset_opaque;
	void (*on_checkpoint)(void *opaque, const struct sbx_vmm_ckpt_result *r);
	void *on_checkpoint_opaque;
};

struct child_args {
	const char *argv[MAX_ARGS];
	char *owned[MAX_ARGS];
	int argc, nowned;
	const char *envp[sizeof(env_pass) / sizeof(env_pass[0]) + 1];
};

static int add(struct child_args *a, const char *s)
{
	if (a->argc + 1 >= MAX_ARGS)
		return sbx_error_set(SBX_ELIMIT, "too many arguments for the VMM process");
	a->argv[a->argc++] = s;
	return 0;
}

static int addf(struct child_args *a, const char *opt, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int addf(struct child_args *a, const char *opt, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	a->owned[a->nowned++] = s;
	return add(a, opt) ? SBX_ELIMIT : add(a, s);
}

static void free_args(struct child_args *a)
{
	while (a->nowned > 0)
		free(a->owned[--a->nowned]);
}

#define NCHILD_FDS 8	/* 0..7, see sbx/vmm-proc.h */

static int build_args(struct child_args *a, const struct sbx_vmm_spec *s)
{
	extern char **environ;
	unsigned i;
	size_t e, n = 0;
	int err;

	memset(a, 0, sizeof(*a));
	err = add(a, "git-sbx") || add(a, "vmm-child") ||
	      addf(a, "--parent", "%ld", (long)getpid()) ||
	      addf(a, "--kernel", "%s", s->kernel) ||
	      addf(a, "--cpus", "%u", s->cpus) ||
	      addf(a, "--memory", "%llu", (unsigned long long)s->mem_size) ||
	      addf(a, "--timeout", "%llu", (unsigned long long)s->timeout_ms) ||
	      addf(a, "--rng", "%d", s->rng);
	if (!err && s->initrd)
		err = addf(a, "--initrd", "%s", s->initrd);
	if (!err && s->cmdline)
		err = addf(a, "--cmdline", "%s", s->cmdline);
	if (!err && s->serial_fd >= 0)
		err = add(a, "--serial");
	if (!err && s->console_in_fd >= 0)
		err = add(a, "--console");
	if (!err && s->console_in_fd >= 0 && s->console_port)
		err = addf(a, "--console-port", "%s", s->console_port);
	if (!err && s->save_mem_fd >= 0 && s->save_state_fd >= 0)
		err = add(a, "--save-fds");
	if (!err && s->restore_state)
		err = addf(a, "--restore-state", "%s", s->restore_state);
	for (i = 0; !err && s->restore_state && i < s->restore_nmem; i++)
		err = addf(a, "--restore-memory", "%s", s->restore_mem[i]);
	for (i = 0; !err && i < s->ndisks; i++)
		err = addf(a, "--disk", "%d,%d,%llu,%s", (int)s->disks[i].format,
			   s->disks[i].read_only, (unsigned long long)s->disks[i].limit,
			   s->disks[i].path);
	if (err) {
		free_args(a);
		return err < 0 ? err : SBX_ENOMEM;
	}
	for (e = 0; environ[e]; e++)
		for (i = 0; i < sizeof(env_pass) / sizeof(env_pass[0]); i++) {
			size_t l = strlen(env_pass[i]);

			if (!strncmp(environ[e], env_pass[i], l) && environ[e][l] == '=')
				a->envp[n++] = environ[e];
		}
	a->envp[n] = NULL;
	return 0;
}

/*
 * After fork, before exec: async-signal-safe calls only.  Every source is
 * first moved above the targets so no dup2 overwrites a later source.
 */
static void __attribute__((noreturn))
exec_child(const struct child_args *a, pid_t parent, int src[NCHILD_FDS])
{
	struct rlimit no_core = { 0, 0 };
	int i, hi[NCHILD_FDS];

	/* no core dump: it would hold guest memory */
	if (setpgid(0, 0) || setrlimit(RLIMIT_CORE, &no_core) || prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		_exit(127);
	for (i = 0; i < NCHILD_FDS; i++)
		if (src[i] >= 0 && (hi[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 16)) < 0)
			_exit(127);
	for (i = 0; i < NCHILD_FDS; i++)
		if (src[i] >= 0 && dup2(hi[i], i) != i)
			_exit(127);
	if (syscall(SYS_close_range, NCHILD_FDS, ~0U, 0))
		_exit(127);
	execve("/proc/self/exe", (char *const *)a->argv, (char *const *)a->envp);
	_exit(127);
}

static void describe_death(char *buf, size_t size, const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED)
		snprintf(buf, size, "the VMM process exited with status %d without saying how the VM ended",
			 si->si_status);
	else if (si->si_status == SIGSYS)
		snprintf(buf, size, "the VMM was killed by its seccomp filter (SIGSYS): one of its "
			 "threads made a system call outside its allow-list");
	else
		snprintf(buf, size, "the VMM process was killed by signal %d (%s)", si->si_status,
			 strsignal(si->si_status));
}

/* One whole record, or 0 at EOF; a short or malformed one is the VMM lying. */
static int read_report(int fd, struct sbx_vmm_report *r)
{
	ssize_t n;

	do
		n = read(fd, r, sizeof(*r));
	while (n < 0 && errno == EINTR);
	if (n == 0 || (n < 0 && errno == EPIPE))
		return 0;
	if (n < 0)
		return sbx_error_errno(SBX_EIO, "reading the VMM's report");
	if (n != (ssize_t)sizeof(*r) || r->magic != SBX_VMM_REPORT_MAGIC ||
	    r->type < SBX_VMM_READY || r->type > SBX_VMM_REPORT_LAST || r->end > VM_END_LAST ||
	    r->ckpt_chain > VM_MAX_MEM_LAYERS)
		return SBX_CORRUPT("the VMM sent a malformed report (%zd bytes)", n);
	r->message[sizeof(r->message) - 1] = 0;
	r->error[sizeof(r->error) - 1] = 0;
	return 1;
}

/* Until it exits: keep it a zombie, so its pid (and group) cannot be reused before free. */
static void wait_exit(struct sbx_vmm *v)
{
	if (v->exited)
		return;
	memset(&v->how, 0, sizeof(v->how));
	while (waitid(P_PID, (id_t)v->pid, &v->how, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	v->exited = true;
}

int sbx_vmm_start(struct sbx_vmm **out, const struct sbx_vmm_spec *spec)
{
	struct child_args a;
	struct sbx_vmm_report r;
	struct sbx_vmm *v;
	int rp[2] = { -1, -1 }, cp[2] = { -1, -1 }, null_fd = -1, src[NCHILD_FDS], rc;
	pid_t parent = getpid();

	*out = NULL;
	if ((rc = build_args(&a, spec)))
		return rc;
	v = calloc(1, sizeof(*v));
	if (!v) {
		free_args(&a);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	v->report_fd = v->control_fd = -1;
	v->on_reset = spec->on_reset;
	v->on_reset_opaque = spec->on_reset_opaque;
	v->on_checkpoint = spec->on_checkpoint;
	v->on_checkpoint_opaque = spec->on_checkpoint_opaque;
	if (pipe2(rp, O_CLOEXEC) || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cp) ||
	    (null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		rc = sbx_error_errno(SBX_EIO, "cannot make the VMM process's pipes");
		goto fail;
	}
	src[0] = spec->console_in_fd >= 0 ? spec->console_in_fd : null_fd;
	src[1] = spec->console_out_fd >= 0 ? spec->console_out_fd : null_fd;
	src[2] = STDERR_FILENO;
	src[3] = rp[1];
	src[4] = cp[0];
	src[5] = spec->serial_fd;
	src[6] = spec->save_mem_fd >= 0 && spec->save_state_fd >= 0 ? spec->save_mem_fd : -1;
	src[7] = src[6] >= 0 ? spec->save_state_fd : -1;
	v->pid = fork();
	if (v->pid < 0) {
		rc = sbx_error_errno(SBX_ERROR, "cannot start the VMM process");
		v->pid = 0;
		goto fail;
	}
	if (v->pid == 0)
		exec_child(&a, parent, src);
	/* It may not be in its group yet; set it from here too (one of the two wins). */
	setpgid(v->pid, v->pid);
	close(rp[1]);
	close(cp[0]);
	close(null_fd);
	rp[1] = cp[0] = null_fd = -1;
	v->report_fd = rp[0];
	v->control_fd = cp[1];
	rp[0] = cp[1] = -1;
	pr_debug("vmm: process %ld started", (long)v->pid);
	rc = read_report(v->report_fd, &r);
	if (rc == 1 && r.type == SBX_VMM_READY) {
		free_args(&a);
		*out = v;
		return 0;
	}
	if (rc == 1 && r.type == SBX_VMM_FAILED) {
		rc = sbx_error_set(r.err < 0 ? r.err : SBX_ERROR, "%s", r.error);
	} else if (rc == 0) {
		char why[256];

		wait_exit(v);
		describe_death(why, sizeof(why), &v->how);
		rc = sbx_error_set(SBX_ERROR, "%s%s", why,
				   v->how.si_code == CLD_EXITED && v->how.si_status == 127 ?
				   " (it could not start: /proc/self/exe, fds or prctl)" : "");
	} else if (rc == 1) {
		rc = SBX_CORRUPT("the VMM process sent report %u before it was ready", r.type);
	}
fail:
	free_args(&a);
	for (int i = 0; i < 2; i++) {
		if (rp[i] >= 0)
			close(rp[i]);
		if (cp[i] >= 0)
			close(cp[i]);
	}
	if (null_fd >= 0)
		close(null_fd);
	sbx_vmm_free(v);
	return rc;
}

int sbx_vmm_wait(struct sbx_vmm *v, struct sbx_vmm_result *res)
{
	struct sbx_vmm_report r;
	bool ended = false;
	int rc = 0, got;

	memset(res, 0, sizeof(*res));
	while ((got = read_report(v->report_fd, &r)) == 1) {
		if (r.type == SBX_VMM_DISK_FULL) {
			v->disk_full = 1;
		} else if (r.type == SBX_VMM_RESET) {
			if (v->on_reset)
				v->on_reset(v->on_reset_opaque, r.err, r.error, r.save_pause_ns);
		} else if (r.type == SBX_VMM_CHECKPOINT) {
			struct sbx_vmm_ckpt_result c = { .err = r.err };

			if (c.err > 0)
				c.err = SBX_ERROR;
			snprintf(c.error, sizeof(c.error), "%s", r.error);
			c.info.pause_ns = r.save_pause_ns;
			c.info.mem_bytes = r.save_mem_bytes;
			c.info.state_bytes = r.save_state_bytes;
			c.info.diff = r.ckpt_diff != 0;
			c.info.chain = r.ckpt_chain;
			c.info.switched = r.ckpt_switched;
			if (v->on_checkpoint)
				v->on_checkpoint(v->on_checkpoint_opaque, &c);
		} else if (r.type == SBX_VMM_SAVED) {
			res->saved = true;
			res->save_err = r.err;
			snprintf(res->save_error, sizeof(res->save_error), "%s", r.error);
			res->save.pause_ns = r.save_pause_ns;
			res->save.mem_bytes = r.save_mem_bytes;
			res->save.state_bytes = r.save_state_bytes;
		} else if (r.type == SBX_VMM_END && !ended) {
			ended = true;
			res->vr.end = (enum vm_end)r.end;
			res->vr.status_set = r.status_set;
			res->vr.status = r.status;
			snprintf(res->vr.message, sizeof(res->vr.message), "%s", r.message);
			res->rss = r.rss;
			res->guest_resident = r.guest_resident;
			if (r.err)
				rc = sbx_error_set(r.err < 0 ? r.err : SBX_ERROR, "%s", r.error);
		}
	}
	if (got < 0) {
		/* a VMM that lies is not waited for */
		snprintf(res->vr.message, sizeof(res->vr.message), "%s", sbx_error());
		sbx_vmm_kill(v);
		rc = got;
	}
	wait_exit(v);
	res->disk_full = v->disk_full;
	if (got >= 0 && (!ended || !(v->how.si_code == CLD_EXITED && v->how.si_status == 0))) {
		describe_death(res->vr.message, sizeof(res->vr.message), &v->how);
		res->vr.end = VM_END_ERROR;
		rc = sbx_error_set(SBX_ERROR, "%s", res->vr.message);
	}
	if (rc && res->vr.end != VM_END_ERROR) {
		res->vr.end = VM_END_ERROR;
		snprintf(res->vr.message, sizeof(res->vr.message), "%s", sbx_error());
	}
	return rc;
}

bool sbx_vmm_disk_full(const struct sbx_vmm *v)
{
	return v && v->disk_full;
}

void sbx_vmm_stop(struct sbx_vmm *v)
{
	ssize_t n;

	if (!v || v->control_fd < 0)
		return;
	do
		n = send(v->control_fd, "q", 1, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
}

int sbx_vmm_save(struct sbx_vmm *v)
{
	ssize_t n;

	if (!v || v->control_fd < 0)
		return sbx_error_set(SBX_EINVAL, "no VMM to save");
	do
		n = send(v->control_fd, "s", 1, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : sbx_error_errno(SBX_EIO, "cannot ask the VMM to save");
}

int sbx_vmm_reset(struct sbx_vmm *v)
{
	ssize_t n;

	if (!v || v->control_fd < 0)
		return sbx_error_set(SBX_EINVAL, "no VMM to reset");
	do
		n = send(v->control_fd, "r", 1, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : sbx_error_errno(SBX_EIO, "cannot ask the VMM to reset");
}

int sbx_vmm_checkpoint(struct sbx_vmm *v, int mem_fd, int state_fd,
		       const struct sbx_vmm_ckpt_disk *d, unsigned n, unsigned flags)
{
	struct sbx_vmm_ckpt_msg msg = { .op = SBX_VMM_CKPT_OP };
	int fds[SBX_VMM_CKPT_MAX_FDS], nfds = 0;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(fds))];
	} u;
	struct iovec iov = { &msg, sizeof(msg) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf };
	struct cmsghdr *h;
	unsigned i;
	ssize_t sent;

	if (!v || v->control_fd < 0)
		return sbx_error_set(SBX_EINVAL, "no VMM to checkpoint");
	if (n > VM_MAX_DISKS || mem_fd < 0 || state_fd < 0)
		return sbx_error_set(SBX_EINVAL, "a checkpoint needs its two files and at most %d disks",
				     VM_MAX_DISKS);
	msg.flags = flags & SBX_VMM_CKPT_FULL;
	msg.ndisks = (uint8_t)n;
	fds[nfds++] = mem_fd;
	fds[nfds++] = state_fd;
	for (i = 0; i < n; i++) {
		if (d[i].disk >= VM_MAX_DISKS || d[i].overlay_fd < 0 || d[i].frozen_fd < 0)
			return sbx_error_set(SBX_EINVAL, "checkpoint disk %u: bad index or descriptor",
					     i + 1);
		msg.disk[i] = (uint8_t)d[i].disk;
		fds[nfds++] = d[i].overlay_fd;
		fds[nfds++] = d[i].frozen_fd;
	}
	memset(u.buf, 0, sizeof(u.buf));
	m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
	h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
	memcpy(CMSG_DATA(h), fds, (size_t)nfds * sizeof(int));
	do
		sent = sendmsg(v->control_fd, &m, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent != (ssize_t)sizeof(msg))
		return sbx_error_errno(SBX_EIO, "cannot ask the VMM for a checkpoint");
	return 0;
}

int sbx_vmm_control_fd(const struct sbx_vmm *v)
{
	return v ? v->control_fd : -1;
}

void sbx_vmm_kill(struct sbx_vmm *v)
{
	if (v && v->pid > 0)
		kill(-v->pid, SIGKILL);
}

pid_t sbx_vmm_pid(const struct sbx_vmm *v)
{
	return v ? v->pid : 0;
}

void sbx_vmm_free(struct sbx_vmm *v)
{
	if (!v)
		return;
	if (v->pid > 0) {
		sbx_vmm_kill(v);
		while (waitpid(v->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (v->report_fd >= 0)
		close(v->report_fd);
	if (v->control_fd >= 0)
		close(v->control_fd);
	free(v);
}
