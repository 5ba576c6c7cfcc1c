// SPDX-License-Identifier: MIT
/* A microVM with a channel session: see sbx/sandbox.h. */
#include "sbx/sandbox-int.h"
#include "sbx/fsutil.h"
#include "sbx/console-log.h"
#include "sbx/sysinfo.h"
#include "sbx/vmm-proc.h"
#include "snapshot/qcow2.h"
#include "util/blockdev.h"
#include "util/error.h"
#include "util/log.h"
#include "vmm/vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char sbx_sandbox_cmdline[] = CMDLINE;

/*
 * Stopping has a deadline at every step: the POWEROFF frame must leave
 * within STOP_POWEROFF_MS, the guest then has a grace period to sync and
 * power off (10 s on our VMM, 60 s under QEMU), and after the VMM was told
 * to end, its threads must be gone within STOP_JOIN_MS.
 */
#define STOP_POWEROFF_MS	5000
#define STOP_GRACE_VMM_MS	10000
#define STOP_GRACE_QEMU_MS	60000
#define STOP_JOIN_MS		10000
/*
 * A session that failed asks nothing, but its VM may be ending on its own
 * (the guest triple-faulted, the VMM hit an error: often why the channel
 * broke): it gets STOP_SETTLE_MS to end, so the task can say how it ended
 * rather than "stopped by force".
 */
#define STOP_SETTLE_MS		2000
/*
 * A restored guest answers RESEED from its idle frame loop: milliseconds on
 * KVM, but give the nested harness's emulation room.  A save must end the
 * VM within SAVE_END_MS (writing guest RAM to the memory file included).
 */
#define RESEED_MS		15000
#define SAVE_END_MS		120000
#define SAVE_STREAMS_MS		5000
/* A checkpoint's answer from the VMM (a booted VM's first writes all of RAM). */
#define CKPT_MS			120000
#define TASK_DISK		1	/* its index among the VMM's disks */

_Static_assert(SBX_SANDBOX_MAX_MEM == VM_MAX_MEM_LAYERS, "a restore's chain is the VMM's");

pid_t sbx_sandbox_pid(const struct sbx_sandbox *sb)
{
	if (sb->vmm)
		return sbx_vmm_pid(sb->vmm);
	return sb->qemu > 0 ? sb->qemu : 0;
}

static int count_threads(void)
{
	return sbx_count_dir("/proc/self/task");
}

/*
 * SBX_CHECK_LEAKS=1: a stopped sandbox leaves no thread behind (joined
 * threads may take a moment to be gone from /proc).
 */
static int check_threads(int before)
{
	int i, now = 0;

	if (before <= 0)
		return 0;
	for (i = 0; i < 100; i++) {
		now = count_threads();
		if (now <= before)
			return 0;
		usleep(10000);
	}
	return sbx_error_set(SBX_ERROR, "the sandbox left %d thread(s) running", now - before);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int sbx_sandbox_make_disk(const struct sbx_image *image, const char *path)
{
	struct qcow2_create_opts o = QCOW2_CREATE_OPTS_INIT;

	o.backing_file = image->task_base;
	o.backing_format = "raw";
	o.extended_l2 = true;
	return qcow2_create(path, &o);
}

int sbx_sandbox_make_disk_over(const char *layer, const char *path)
{
	struct qcow2_create_opts o = QCOW2_CREATE_OPTS_INIT;

	o.backing_file = layer;
	o.backing_format = "qcow2";
	o.extended_l2 = true;
	return qcow2_create(path, &o);
}

enum sbx_backend sbx_sandbox_resolve(enum sbx_backend b, char *why, size_t whylen)
{
	struct vmm_kvm_info kvm;

	if (whylen)
		why[0] = 0;
	if (b != SBX_BACKEND_AUTO)
		return b;
	if (sbx_kvm_check(&kvm)) {
		vmm_kvm_summary(&kvm, why, whylen);
		return SBX_BACKEND_QEMU;
	}
	return SBX_BACKEND_VMM;
}

const struct sbx_reseed_result *sbx_sandbox_reseed(const struct sbx_sandbox *sb)
{
	return sb->restored ? &sb->reseed : NULL;
}

bool sbx_sandbox_disk_full(const struct sbx_sandbox *sb)
{
	return sbx_vmm_disk_full(sb->vmm);
}

static void *vm_thread(void *arg)
{
	struct sbx_sandbox *sb = arg;

	sb->vm_err = sbx_vmm_wait(sb->vmm, &sb->vres);
	sb->vr = sb->vres.vr;
	pthread_mutex_lock(&sb->ckpt_lock);
	sb->vm_done = 1;
	pthread_cond_broadcast(&sb->ckpt_cond);
	pthread_mutex_unlock(&sb->ckpt_lock);
	return NULL;
}

/* On vm_thread: the VMM's answer to a checkpoint. */
static void on_checkpoint(void *opaque, const struct sbx_vmm_ckpt_result *r)
{
	struct sbx_sandbox *sb = opaque;

	pthread_mutex_lock(&sb->ckpt_lock);
	sb->ckpt = *r;
	sb->ckpt_done = true;
	pthread_cond_broadcast(&sb->ckpt_cond);
	pthread_mutex_unlock(&sb->ckpt_lock);
}

static int start_vmm(struct sbx_sandbox *sb, const struct sbx_sandbox_opts *o)
{
	struct sbx_vmm_spec spec = SBX_VMM_SPEC_INIT;
	int sv[2], err;

	if (getenv("SBX_CHECK_LEAKS") && !strcmp(getenv("SBX_CHECK_LEAKS"), "1"))
		sb->threads_before = count_threads();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return sbx_error_errno(SBX_EIO, "socketpair");
	sb->chan = sv[0];
	sb->vm_chan = sv[1];
	spec.kernel = o->image->kernel;
	spec.initrd = o->image->initrd;
	spec.cmdline = CMDLINE;
	spec.cpus = o->cpus;
	spec.mem_size = (o->memory + (2ULL << 20) - 1) & ~((2ULL << 20) - 1);
	spec.timeout_ms = o->vm_timeout_ms;
	if (o->serial_log) {
		int p[2];

		if (pipe2(p, O_CLOEXEC))
			return sbx_error_errno(SBX_EIO, "pipe");
		sb->serial_fd = p[1];
		if ((err = sbx_console_log_start(&sb->console, p[0], o->serial_log, o->serial_max)))
			return err;
	}
	spec.serial_fd = sb->serial_fd;
	spec.disks[0] = (struct sbx_vmm_disk){ o->image->root, true, BLOCKDEV_FORMAT_RAW, 0 };
	spec.disks[1] = (struct sbx_vmm_disk){ o->task_disk, false, BLOCKDEV_FORMAT_QCOW2,
					       o->disk_limit };
	spec.ndisks = 2;
	spec.console_port = SBX_CHANNEL_PORT;
	spec.console_in_fd = spec.console_out_fd = sb->vm_chan;
	spec.rng = true;
	if (o->save) {
		spec.save_mem_fd = o->save_mem_fd;
		spec.save_state_fd = o->save_state_fd;
	}
	if (o->restore_state && o->restore_nmem) {
		if (o->restore_nmem > VM_MAX_MEM_LAYERS)
			return sbx_error_set(SBX_ELIMIT, "a restore maps at most %d memory files",
					     VM_MAX_MEM_LAYERS);
		spec.restore_state = o->restore_state;
		for (unsigned i = 0; i < o->restore_nmem; i++)
			spec.restore_mem[i] = o->restore_mem_chain[i];
		spec.restore_nmem = o->restore_nmem;
	} else if (o->restore_state) {
		spec.restore_state = o->restore_state;
		spec.restore_mem[0] = o->restore_mem;
		spec.restore_nmem = 1;
	}
	spec.on_checkpoint = on_checkpoint;
	spec.on_checkpoint_opaque = sb;
	err = sbx_vmm_start(&sb->vmm, &spec);
	if (err)
		return err;
	/* The VMM holds them now; when it ends, the session and the console log see EOF. */
	close(sb->vm_chan);
	sb->vm_chan = -1;
	if (sb->serial_fd >= 0)
		close(sb->serial_fd);
	sb->serial_fd = -1;
	if (pthread_create(&sb->thread, NULL, vm_thread, sb)) {
		sbx_vmm_kill(sb->vmm);
		return sbx_error_errno(SBX_ERROR, "cannot start the VM thread");
	}
	sb->thread_started = true;
	return 0;
}


/*
 * Wait for the VM thread, at most STOP_JOIN_MS after asking the VM to end.
 * A VMM process that does not stop by then is killed (its process group),
 * which ends the wait; nothing is left running.
 */
static void join_vm(struct sbx_sandbox *sb)
{
	struct timespec until;
	int rc;

	if (!sb->thread_started)
		return;
	if (!sb->vm_done)
		sbx_vmm_stop(sb->vmm);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_JOIN_MS / 1000;
	rc = pthread_timedjoin_np(sb->thread, NULL, &until);
	if (rc == ETIMEDOUT) {
		/* A process can always be stopped: its death ends our wait. */
		pr_warn("the VMM did not stop within %d s of being asked: killed it",
			STOP_JOIN_MS / 1000);
		sbx_vmm_kill(sb->vmm);
		pthread_join(sb->thread, NULL);
	}
	sb->thread_started = false;
}

static void free_sandbox(struct sbx_sandbox *sb)
{
	sbx_session_free(sb->session);
	sb->session = NULL;
	join_vm(sb);
	sbx_vmm_free(sb->vmm);
	if (sb->qemu > 0) {
		kill(sb->qemu, SIGKILL);
		waitpid(sb->qemu, NULL, 0);
	}
	if (sb->sock_dir[0]) {
		char p[128];

		snprintf(p, sizeof(p), "%s/chan", sb->sock_dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/serial", sb->sock_dir);
		unlink(p);
		rmdir(sb->sock_dir);
	}
	if (sb->chan >= 0)
		close(sb->chan);
	if (sb->vm_chan >= 0)
		close(sb->vm_chan);
	if (sb->serial_fd >= 0)
		close(sb->serial_fd);
	/* The VM and QEMU are gone, so are the console's writers: the rest, then EOF. */
	sbx_console_log_stop(sb->console, NULL);
	pthread_mutex_destroy(&sb->ckpt_lock);
	pthread_cond_destroy(&sb->ckpt_cond);
	free(sb->top);
	free(sb);
}

int sbx_sandbox_start(struct sbx_sandbox **out, const struct sbx_sandbox_opts *o)
{
	struct sbx_sandbox *sb;
	uint64_t t0 = now_ms(), hello_ms;
	int err;

	*out = NULL;
	if (!o->image || !o->task_disk)
		return sbx_error_set(SBX_EINVAL, "a sandbox needs an image and a task disk");
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	sb->chan = sb->vm_chan = sb->serial_fd = -1;
	sb->backend = o->backend;
	pthread_mutex_init(&sb->ckpt_lock, NULL);
	pthread_cond_init(&sb->ckpt_cond, NULL);
	sb->top = strdup(o->task_disk);
	if (!sb->top) {
		free_sandbox(sb);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	/*
	 * Auto runs the whole KVM check and falls back with its reason.  An
	 * explicit kvm was checked by the command before anything was made
	 * (cmd/task.c, cmd/run.c), and vm_create checks the device again
	 * (PVM included): the test guest does not run twice.
	 */
	if (sb->backend == SBX_BACKEND_AUTO) {
		struct vmm_kvm_info kvm;

		if (sbx_kvm_check(&kvm)) {
			vmm_kvm_summary(&kvm, sb->qemu_why, sizeof(sb->qemu_why));
			sb->backend = SBX_BACKEND_QEMU;
		} else {
			sb->backend = SBX_BACKEND_VMM;
		}
	} else if (sb->backend == SBX_BACKEND_QEMU) {
		snprintf(sb->qemu_why, sizeof(sb->qemu_why), "%s",
			 o->qemu_why && *o->qemu_why ? o->qemu_why : "--backend qemu");
	}
	if (sb->backend != SBX_BACKEND_VMM && (o->save || o->restore_state)) {
		err = sbx_error_set(SBX_EUNSUPPORTED, "memory snapshots need our VMM (KVM)");
		goto fail;
	}
	{
		/* An image from an older git-sbx boots with this sbx-init (sbx/image.h). */
		struct sbx_sandbox_opts bo = *o;
		struct sbx_image img = *o->image;

		bo.image = &img;
		err = sbx_image_boot_initrd(img.initrd, sizeof(img.initrd), o->image);
		if (!err)
			err = sb->backend == SBX_BACKEND_VMM ? start_vmm(sb, &bo) : sbx_sandbox_start_qemu(sb, &bo);
	}
	if (err)
		goto fail;
	if (o->restore_state) {
		/*
		 * sbx-init is mid-session (idle, or quiesced by a checkpoint): no
		 * HELLO comes.  RESUME(RESTORED) ends what it ran for the host
		 * that saved it; then new entropy and the clock.
		 */
		sb->restored = true;
		err = sbx_session_attach(&sb->session, sb->chan);
		if (!err)
			err = sbx_session_resume(sb->session, true);
		if (!err)
			err = sbx_session_reseed(sb->session, RESEED_MS, &sb->reseed);
		if (err) {
			for (int i = 0; i < 100 && !sb->vm_done; i++)
				usleep(10000);
			if (sb->vm_done && sb->vr.message[0])
				sbx_error_prefix(err, "the VM: %s", sb->vr.message);
			goto fail;
		}
		sb->boot_ms = now_ms() - t0;
		*out = sb;
		return 0;
	}
	hello_ms = o->boot_timeout_ms ? o->boot_timeout_ms :
		   sb->backend == SBX_BACKEND_QEMU ? 600000 : 120000;
	err = sbx_session_start(&sb->session, sb->chan, hello_ms);
	if (err) {
		/* The channel closes as the VMM process dies: give its waiter a moment to say how. */
		for (int i = 0; i < 200 && sb->backend == SBX_BACKEND_VMM && !sb->vm_done; i++)
			usleep(10000);
		if (sb->vm_done)
			sbx_error_set(err, "the VM ended %.1f s after it started, before sbx-init answered: %s",
				      (double)(now_ms() - t0) / 1000,
				      sb->vr.message[0] ? sb->vr.message : "see the serial log");
		goto fail;
	}
	sb->boot_ms = now_ms() - t0;
	*out = sb;
	return 0;
fail:
	{
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", sbx_error());
		free_sandbox(sb);
		sbx_error_set(err, "%s", msg);
	}
	return err;
}

struct sbx_session *sbx_sandbox_session(struct sbx_sandbox *sb)
{
	return sb->session;
}

uint64_t sbx_sandbox_boot_ms(const struct sbx_sandbox *sb)
{
	return sb->boot_ms;
}

const char *sbx_sandbox_backend_name(const struct sbx_sandbox *sb)
{
	return sb->backend == SBX_BACKEND_VMM ? "kvm" : "qemu-tcg";
}

/* Has the VM ended?  For QEMU this reaps it. */
static bool vm_ended(struct sbx_sandbox *sb, struct sbx_sandbox_end *end)
{
	int status;

	if (sb->backend == SBX_BACKEND_VMM)
		return sb->vm_done;
	if (sb->qemu <= 0)
		return true;
	if (waitpid(sb->qemu, &status, WNOHANG) != sb->qemu)
		return false;
	sb->qemu = 0;
	end->clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	return true;
}

/*
 * Until the VM ends or `deadline`: read and drop what the guest still
 * sends, so its last writes cannot keep it from powering off.
 */
static void wait_for_end(struct sbx_sandbox *sb, uint64_t deadline, struct sbx_sandbox_end *end)
{
	uint8_t buf[4096];
	bool reading = sb->chan >= 0;

	while (!vm_ended(sb, end)) {
		uint64_t now = now_ms();
		struct pollfd p = { .fd = reading ? sb->chan : -1, .events = POLLIN };

		if (now >= deadline)
			break;
		if (poll(&p, 1, deadline - now > 20 ? 20 : (int)(deadline - now)) > 0) {
			ssize_t n = read(sb->chan, buf, sizeof(buf));

			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				reading = false;
		}
	}
}

int sbx_sandbox_stop(struct sbx_sandbox *sb, bool session_ok, struct sbx_sandbox_end *end)
{
	uint64_t deadline;
	int err = 0, ferr, before;
	bool asked = false;

	memset(end, 0, sizeof(*end));
	if (!sb)
		return 0;
	if (session_ok && sb->session) {
		if (!sbx_session_poweroff(sb->session, 0, STOP_POWEROFF_MS))
			asked = true;
		else
			pr_debug("sandbox: %s", sbx_error());
	}
	deadline = now_ms();
	if (asked)
		deadline += sb->backend == SBX_BACKEND_QEMU ? STOP_GRACE_QEMU_MS : STOP_GRACE_VMM_MS;
	else
		deadline += STOP_SETTLE_MS;
	wait_for_end(sb, deadline, end);
	if (sb->backend == SBX_BACKEND_VMM) {
		end->clean = sb->vm_done && (sb->vr.end == VM_END_POWEROFF || sb->vr.end == VM_END_EXIT);
		/* the wait set its message on the VM thread: say it on this one */
		if (sb->vm_done && sb->vm_err)
			err = sbx_error_set(sb->vm_err, "%s", sb->vr.message);
	}
	if (sb->backend == SBX_BACKEND_VMM && sb->vm_done && sb->vr.message[0])
		snprintf(end->message, sizeof(end->message), "%s", sb->vr.message);
	else if (sb->backend == SBX_BACKEND_VMM && sb->vm_done && sb->vr.end == VM_END_REBOOT)
		snprintf(end->message, sizeof(end->message), "the guest rebooted");
	else if (!end->clean && asked)
		snprintf(end->message, sizeof(end->message),
			 "stopped by force: it did not power off within %llu s of being asked",
			 (unsigned long long)((sb->backend == SBX_BACKEND_QEMU ? STOP_GRACE_QEMU_MS :
					       STOP_GRACE_VMM_MS) / 1000));
	else
		snprintf(end->message, sizeof(end->message), "%s",
			 end->clean ? "powered off" : "stopped by force");
	end->disk_full = sbx_sandbox_disk_full(sb);
	before = sb->threads_before;
	free_sandbox(sb);
	ferr = check_threads(before);
	return err ? err : ferr;
}

int sbx_sandbox_save(struct sbx_sandbox *sb, struct sbx_sandbox_saved *info)
{
	uint64_t deadline;
	int err = 0;

	if (info)
		memset(info, 0, sizeof(*info));
	if (!sb->vmm) {
		free_sandbox(sb);
		return sbx_error_set(SBX_EUNSUPPORTED, "memory snapshots need our VMM (KVM)");
	}
	/* The guest's streams (a setup's downloads) close first: none may be open in a snapshot. */
	deadline = now_ms() + SAVE_STREAMS_MS;
	while (sb->session && sbx_session_streams(sb->session) && now_ms() < deadline && !err)
		err = sbx_session_serve(sb->session, 50);
	if (!err && sb->session && sbx_session_streams(sb->session))
		err = sbx_error_set(SBX_ERROR, "the guest kept %u connection(s) open; not saved",
				    sbx_session_streams(sb->session));
	if (!err)
		err = sbx_vmm_save(sb->vmm);
	if (!err) {
		deadline = now_ms() + SAVE_END_MS;
		while (!sb->vm_done && now_ms() < deadline)
			usleep(5000);
		if (!sb->vm_done)
			err = sbx_error_set(SBX_ETIMEDOUT, "the VMM did not end within %d s of the save",
					    SAVE_END_MS / 1000);
	}
	if (!err && sb->vm_err)
		err = sbx_error_set(sb->vm_err, "%s", sb->vr.message);
	else if (!err && sb->vres.saved && sb->vres.save_err)
		err = sbx_error_set(sb->vres.save_err, "the save failed: %s", sb->vres.save_error);
	else if (!err && sb->vr.end != VM_END_SAVED)
		err = sbx_error_set(SBX_ERROR, "the VM ended before it was saved: %s",
				    sb->vr.message[0] ? sb->vr.message : "no reason given");
	if (!err && info) {
		info->pause_ns = sb->vres.save.pause_ns;
		info->mem_bytes = sb->vres.save.mem_bytes;
		info->state_bytes = sb->vres.save.state_bytes;
	}
	{
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", err ? sbx_error() : "");
		free_sandbox(sb);
		if (err)
			sbx_error_set(err, "%s", msg);
	}
	return err;
}

const char *sbx_sandbox_top(const struct sbx_sandbox *sb)
{
	return sb->top;
}

/* A new file for the VMM to write (never an existing one). */
static int create_new(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return sbx_error_errno(errno == EEXIST ? SBX_EEXISTS : SBX_EIO, "cannot create '%s'",
				       path);
	return fd;
}

static int sync_file_and_dir(int fd, const char *path)
{
	char *dir = strdup(path), *slash;
	int dfd, err = 0;

	if (fsync(fd))
		return sbx_error_errno(SBX_EIO, "cannot sync '%s'", path);
	if (!dir)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd))
		err = sbx_error_errno(SBX_EIO, "cannot sync the directory of '%s'", path);
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return err;
}

int sbx_sandbox_checkpoint(struct sbx_sandbox *sb, const char *mem_path, const char *state_path,
			   const char *new_layer, unsigned flags, struct sbx_sandbox_saved *info)
{
	struct sbx_vmm_ckpt_disk d = { .disk = TASK_DISK, .overlay_fd = -1, .frozen_fd = -1 };
	struct sbx_vmm_ckpt_result r;
	int mem_fd = -1, state_fd = -1, err;
	bool created = false, mem_made = false, state_made = false, answered = false;
	uint64_t deadline;
	char *top = NULL;

	if (info)
		memset(info, 0, sizeof(*info));
	if (!sb->vmm)
		return sbx_error_set(SBX_EUNSUPPORTED, "checkpoints need our VMM (KVM); the QEMU "
				     "backend cannot take them");
	if (sb->vm_done)
		return sbx_error_set(SBX_ERROR, "the VM has ended");
	if (!(top = strdup(new_layer)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if ((mem_fd = create_new(mem_path)) < 0) {
		err = mem_fd;
		goto out;
	}
	mem_made = true;
	if ((state_fd = create_new(state_path)) < 0) {
		err = state_fd;
		goto out;
	}
	state_made = true;
	if ((err = qcow2_create_overlay(new_layer, sb->top, &d.overlay_fd)))
		goto out;
	created = true;
	d.frozen_fd = open(sb->top, O_RDONLY | O_CLOEXEC);
	if (d.frozen_fd < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot open '%s'", sb->top);
		goto out;
	}
	pthread_mutex_lock(&sb->ckpt_lock);
	sb->ckpt_done = false;
	pthread_mutex_unlock(&sb->ckpt_lock);
	err = sbx_vmm_checkpoint(sb->vmm, mem_fd, state_fd, &d, 1,
				 (flags & SBX_SANDBOX_CKPT_FULL) ? SBX_VMM_CKPT_FULL : 0);
	/* The VMM has its copies (or nothing was sent): ours go. */
	close(d.overlay_fd);
	close(d.frozen_fd);
	d.overlay_fd = d.frozen_fd = -1;
	if (err)
		goto out;
	deadline = now_ms() + CKPT_MS;
	pthread_mutex_lock(&sb->ckpt_lock);
	while (!sb->ckpt_done && !sb->vm_done && now_ms() < deadline) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 50 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&sb->ckpt_cond, &sb->ckpt_lock, &until);
	}
	answered = sb->ckpt_done;
	r = sb->ckpt;
	pthread_mutex_unlock(&sb->ckpt_lock);
	if (!answered) {
		/* Switched or not, we cannot tell: the VM must not go on behind our back. */
		created = false;
		if (sb->vm_done) {
			err = sbx_error_set(SBX_ERROR, "the VM ended during the checkpoint: %s",
					    sb->vr.message[0] ? sb->vr.message : "no reason given");
		} else {
			sbx_vmm_kill(sb->vmm);
			err = sbx_error_set(SBX_ETIMEDOUT, "the VMM did not answer a checkpoint within "
					    "%d s: stopped it", CKPT_MS / 1000);
		}
		goto out;
	}
	if (r.info.switched & (1u << TASK_DISK)) {
		/* the disk writes to new_layer now, whatever else happened */
		created = false;
		free(sb->top);
		sb->top = top;
		top = NULL;
	}
	if (r.err) {
		err = sbx_error_set(r.err, "%s", r.error);
		goto out;
	}
	if ((err = sync_file_and_dir(mem_fd, mem_path)) ||
	    (err = sync_file_and_dir(state_fd, state_path)))
		goto out;
	mem_made = state_made = false;	/* kept */
	if (info) {
		info->pause_ns = r.info.pause_ns;
		info->mem_bytes = r.info.mem_bytes;
		info->state_bytes = r.info.state_bytes;
		info->diff = r.info.diff;
		info->chain = r.info.chain;
	}
out:
	if (err) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", sbx_error());
		if (mem_made)
			unlink(mem_path);
		if (state_made)
			unlink(state_path);
		if (created)
			unlink(new_layer);
		sbx_error_set(err, "cannot take a checkpoint: %s", msg);
	}
	if (mem_fd >= 0)
		close(mem_fd);
	if (state_fd >= 0)
		close(state_fd);
	if (d.overlay_fd >= 0)
		close(d.overlay_fd);
	if (d.frozen_fd >= 0)
		close(d.frozen_fd);
	free(top);
	return err;
}
