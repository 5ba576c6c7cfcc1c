// SPDX-License-Identifier: MIT
/*
 * Starting a task's VM (sbx/task-run-int.h run_start): restore the
 * repository's warm base for this image, setup and machine (building it
 * first when there is none), or boot cold: under QEMU, with sbx.warm
 * false, or when the restore fails (said, and that warm base removed).
 */
#include "sbx/task-run-int.h"
#include "sbx/task-ckpt.h"
#include "sbx/fsutil.h"
#include "sbx/machine.h"
#include "sbx/repo.h"
#include "sbx/sandbox.h"
#include "sbx/task.h"
#include "sbx/task-net.h"
#include "sbx/vmm-proc.h"
#include "sbx/warm.h"
#include "util/error.h"
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void run_sandbox_opts(struct run *r, struct sbx_sandbox_opts *so, const struct sbx_image *img,
		      const char *disk, const char *console)
{
	so->image = img;
	so->task_disk = disk;
	so->cpus = r->o->cpus ? r->o->cpus : 2;
	if (r->o->memory)
		so->memory = r->o->memory;
	so->serial_log = console;
	so->serial_max = r->console_max;
	so->disk_limit = r->disk_limit;
	so->boot_timeout_ms = r->boot_timeout_ms;
	so->vm_timeout_ms = run_vm_time_limit(r);
	so->quiet = r->o->quiet;
}

/* The VM is up: the session, the network and the sampler. */
void run_started(struct run *r, const char *disk)
{
	r->res->backend = sbx_sandbox_backend_name(r->sb);
	r->s = sbx_sandbox_session(r->sb);
	sbx_session_set_stream_open(r->s, sbx_task_net_stream_open, r->net);
	if (sbx_task_net_sample_start(r->net, sbx_sandbox_pid(r->sb), disk))
		pr_warn("%s", sbx_error());
}

/* A cold boot: a new task disk over the image's, the VM booted (the start step's time). */
static int boot_cold(struct run *r)
{
	struct sbx_sandbox_opts so = SBX_SANDBOX_OPTS_INIT;
	uint64_t t;
	int err;

	unlink(r->disk);
	if ((err = sbx_sandbox_make_disk(&r->img, r->disk)))
		return sbx_error_prefix(err, "cannot create the task disk");
	run_sandbox_opts(r, &so, &r->img, r->disk, r->console);
	so.backend = r->backend;
	so.qemu_why = r->qemu_why;
	r->vm_cpus = so.cpus;
	r->vm_memory = so.memory;
	run_progress(r, "booting image '%s'", r->o->image ? r->o->image : SBX_IMAGE_DEFAULT_NAME);
	t = run_mono_ms();
	err = sbx_sandbox_start(&r->sb, &so);
	sbx_task_step_set(r->task, SBX_STEP_START, run_mono_ms() - t);
	if (err)
		return sbx_error_prefix(err, "cannot start the sandbox");
	run_started(r, r->disk);
	return 0;
}

static void format_age(char *buf, size_t n, int64_t ms)
{
	struct timespec ts;
	int64_t d;

	clock_gettime(CLOCK_REALTIME, &ts);
	d = ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - ms) / 1000;
	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(buf, n, "%llds", (long long)d);
	else if (d < 3600)
		snprintf(buf, n, "%lldm", (long long)(d / 60));
	else if (d < 86400)
		snprintf(buf, n, "%lldh", (long long)(d / 3600));
	else
		snprintf(buf, n, "%lldd", (long long)(d / 86400));
}

/* The warm base restored into a new task disk over its layer (the start step). */
static int restore_warm(struct run *r)
{
	const struct sbx_image *img = &r->img;
	const char *disk = r->disk, *console = r->console;
	struct sbx_sandbox_opts so = SBX_SANDBOX_OPTS_INIT;
	const struct sbx_reseed_result *rs;
	char *state = NULL, *mem[VM_MAX_MEM_LAYERS] = { NULL };
	char *layer = sbx_path_join(r->warm->dir, "disk.qcow2"), age[32];
	char *link_path = NULL;
	const char *backing;
	uint64_t t, ms;
	unsigned nmem = 0, i;
	int lock = -1, err;

	if (!layer) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = sbx_snapdir_paths(r->warm->dir, &state, mem, &nmem)))
		goto out;
	/* A warm base is saved from a booted guest: one full memory file. */
	if (nmem != 1) {
		err = sbx_error_set(SBX_ECORRUPT, "'%s' is a diff snapshot, not a warm base",
				    r->warm->dir);
		goto out;
	}
	/*
	 * The task disk's backing file is a hard link to the warm base's
	 * layer beside it: the task disk stays whole (and that layer's space
	 * in use) until `git sbx rm`, whatever gc or --rebuild do to the warm
	 * base.  Where links fail, the layer's own path.
	 */
	unlink(disk);
	if (!(link_path = sbx_path_join(r->task->dir, "warm-layer.qcow2"))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	unlink(link_path);
	backing = link(layer, link_path) ? layer : "warm-layer.qcow2";
	if ((err = sbx_sandbox_make_disk_over(backing, disk))) {
		sbx_error_prefix(err, "cannot create the task disk over the warm base's");
		goto out;
	}
	run_sandbox_opts(r, &so, img, disk, console);
	so.cpus = r->warm->cpus;
	so.memory = r->warm->memory;
	r->vm_cpus = so.cpus;
	r->vm_memory = so.memory;
	so.backend = SBX_BACKEND_VMM;
	so.restore_state = state;
	so.restore_mem = mem[0];
	format_age(age, sizeof(age), r->warm->created_ms);
	run_progress(r, "restoring warm base %.12s (built %s ago)", r->warm->key, age);
	/* Shared: gc and a failed restore's removal wait until the VMM has the files open. */
	if ((err = sbx_warm_lock(&lock, r->repo, r->warm->key, false, true)))
		goto out;
	t = run_mono_ms();
	err = sbx_sandbox_start(&r->sb, &so);
	ms = run_mono_ms() - t;
	sbx_task_step_set(r->task, SBX_STEP_START, ms);
	/*
	 * The checkpoints' root is linked into the task while the lock still
	 * holds: a concurrent task whose restore of this base failed may
	 * remove it once we let go.
	 */
	if (!err && r->set.checkpoints && !r->task->attempt &&
	    !(r->warm_root = task_ckpt_adopt_root(r->task->dir, r->warm->dir)))
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
	sbx_unlock(lock);
	if (err)
		goto out;
	sbx_warm_touch(r->warm);
	rs = sbx_sandbox_reseed(r->sb);
	if (rs)
		run_progress(r, "restored in %llu ms; the guest's clock stepped %+.3f s, its RNG reseeded",
			     (unsigned long long)ms, (double)sbx_reseed_clock_step_ns(rs) / 1e9);
	run_started(r, disk);
out:
	free(state);
	for (i = 0; i < nmem; i++)
		free(mem[i]);
	free(layer);
	free(link_path);
	return err;
}

/* The setup's output while this task builds the warm base: to the task log. */
static int build_output(void *opaque, int fd, const uint8_t *data, size_t len)
{
	(void)fd;
	run_write_log(opaque, data, len);
	return 0;
}

static int set_note(struct run *r, const char *fmt, ...) SBX_PRINTF(2, 3);
static int set_note(struct run *r, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(r->task->start_note);
	r->task->start_note = strdup(buf);
	run_progress(r, "%s", buf);
	return 0;
}

/* The warm base for this task, built first when there is none. */
static int get_warm(struct run *r, const struct sbx_image *img, struct sbx_warm_get_result *res)
{
	struct sbx_warm_build_opts bo = { 0 };
	uint64_t mem = r->o->memory ? r->o->memory : (1ULL << 30);
	int err;

	if ((err = sbx_image_init_hash(bo.init_hash)))
		return err;
	bo.image = img;
	bo.base = r->task->base;
	bo.setup = r->setup;
	bo.cpus = r->o->cpus ? r->o->cpus : 2;
	bo.memory = (mem + (2ULL << 20) - 1) & ~((2ULL << 20) - 1);
	bo.depth = r->depth;
	bo.boot_timeout_ms = r->boot_timeout_ms;
	bo.setup_timeout_ms = r->setup_timeout_ms;
	bo.disk_limit = r->disk_limit;
	bo.console_max = r->console_max;
	bo.quiet = r->o->quiet;
	bo.progress = r->o->progress;
	bo.progress_opaque = r->o->progress_opaque;
	bo.output = build_output;
	bo.output_opaque = r;
	return sbx_warm_get(&r->warm, res, r->repo, &bo);
}

/*
 * A restore, or the update of a restored guest, failed: say why, stop that
 * VM, remove that warm base (the next task builds another) and boot cold.
 */
static int fall_back_cold(struct run *r)
{
	struct sbx_sandbox_end end;
	char msg[1024], key[65];
	int lock;

	snprintf(msg, sizeof(msg), "%s", sbx_error());
	memcpy(key, r->warm->key, sizeof(key));
	if (r->sb) {
		memset(&end, 0, sizeof(end));
		sbx_task_net_sample_stop(r->net);
		sbx_sandbox_stop(r->sb, false, &end);
		r->sb = NULL;
		r->s = NULL;
		/* how the restored VM ended (a triple fault, say) is the cause */
		if (!end.clean && end.message[0] && !strstr(msg, end.message)) {
			size_t n = strlen(msg);

			snprintf(msg + n, sizeof(msg) - n, "; the VM: %s", end.message);
		}
	}
	set_note(r, "warm base %.12s could not be restored (%s): removed it; booted cold", key, msg);
	if (!sbx_warm_lock(&lock, r->repo, key, true, true)) {
		if (sbx_warm_remove(r->repo, key))
			pr_warn("%s", sbx_error());
		sbx_unlock(lock);
	}
	{
		char *lp = sbx_path_join(r->task->dir, "warm-layer.qcow2");

		if (lp)
			unlink(lp);
		free(lp);
	}
	sbx_warm_free(r->warm);
	r->warm = NULL;
	/* A cold boot's first checkpoint is full: no root. */
	task_ckpt_drop_root(r->task->dir, r->warm_root);
	r->warm_root = NULL;
	free(r->task->warm);
	r->task->warm = NULL;
	r->task->warm_created_ms = 0;
	r->task->steps_ran &= ~((1u << SBX_STEP_START) | (1u << SBX_STEP_TRANSFER_IN));
	r->task->step_ms[SBX_STEP_START] = r->task->step_ms[SBX_STEP_TRANSFER_IN] = 0;
	return boot_cold(r);
}

static bool interrupted(const struct run *r)
{
	return r->o->interrupt && *r->o->interrupt;
}

int run_start_vm(struct run *r)
{
	struct sbx_warm_get_result res;
	int err;

	if (r->resume)
		return run_start_resume(r);
	r->backend = sbx_sandbox_resolve(r->o->backend, r->qemu_why, sizeof(r->qemu_why));
	if (r->backend != SBX_BACKEND_VMM) {
		if (r->warm_on)
			set_note(r, "booted cold: warm bases (memory snapshots) need our VMM on KVM");
		return boot_cold(r);
	}
	if (r->o->cold_note) {
		set_note(r, "%s", r->o->cold_note);
		return boot_cold(r);
	}
	if (!r->warm_on)
		return boot_cold(r);
	err = get_warm(r, &r->img, &res);
	if (err && res.setup_failed)
		return err;	/* a cold boot's setup would fail the same way */
	if (err) {
		set_note(r, "booted cold: no warm base (%s)", sbx_error());
		return boot_cold(r);
	}
	if (!(r->task->warm = strdup(r->warm->key)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	r->task->warm_created_ms = r->warm->created_ms;
	r->task->warm_build_ms = res.build_ms;
	err = restore_warm(r);
	if (!err || interrupted(r))
		return err;
	return fall_back_cold(r);
}

/* The CA, then the base and the setup (cold) or the commits since the warm base. */
static int transfer_in(struct run *r)
{
	int err;

	err = run_install_ca(r);	/* this run's CA (the guest may hold an earlier run's too) */
	if (!err && r->resume)
		return run_transfer_in_resume(r);	/* the guest has the rest: the prompt */

	if (!err && r->warm)
		return run_transfer_in_warm(r);
	if (!err)
		err = run_transfer_in(r);
	if (!err)
		err = run_setup(r);
	return err;
}

int run_transfer_in_step(struct run *r)
{
	uint64_t t = run_mono_ms();
	int err = transfer_in(r);

	if (err && r->warm && !r->resume && !interrupted(r)) {
		/* The restored guest could not be brought to the task's base: boot cold. */
		if ((err = fall_back_cold(r)))
			return err;
		t = run_mono_ms();
		err = transfer_in(r);
	}
	sbx_task_step_set(r->task, SBX_STEP_TRANSFER_IN, run_mono_ms() - t);
	return err;
}

int sbx_task_prepare_warm(char key[65], char *why, size_t whylen, struct sbx_repo *repo,
			  struct sbx_task *task, const struct sbx_task_run_opts *o)
{
	struct sbx_task_run_result res;
	struct sbx_warm_get_result wres = { 0 };
	struct run r;
	int err;

	key[0] = 0;
	why[0] = 0;
	memset(&res, 0, sizeof(res));
	memset(&r, 0, sizeof(r));
	r.res = &res;
	r.o = o;
	r.repo = repo;
	r.task = task;
	r.log_fd = -1;
	if ((err = run_read_config(&r)))
		goto out;
	if (sbx_sandbox_resolve(o->backend, r.qemu_why, sizeof(r.qemu_why)) != SBX_BACKEND_VMM ||
	    !r.warm_on)
		goto out;
	if ((err = sbx_image_resolve(&r.img, o->image))) {
		sbx_error_prefix(err, "no image to run the task in");
		goto out;
	}
	err = get_warm(&r, &r.img, &wres);
	if (err && wres.setup_failed)
		goto out;
	if (err) {
		snprintf(why, whylen, "booted cold: no warm base (%s)", sbx_error());
		err = 0;
		goto out;
	}
	memcpy(key, r.warm->key, 65);
	task->warm_build_ms = wres.build_ms;
out:
	free(r.setup);
	sbx_warm_free(r.warm);
	free(r.warm_root);
	free(r.user_name);
	free(r.user_email);
	sbx_settings_clear(&r.set);
	return err;
}
