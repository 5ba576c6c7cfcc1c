// SPDX-License-Identifier: MIT
/*
 * `git sbx vm run/restore --checkpoints DIR` (sbx/machine.h,
 * sbx/machine-ckpt.h).  Checkpoint n, asked by the n-th SIGHUP:
 *
 *   1. DIR/<n>/ with the memory and state files under temporary names
 *      (sbx_snapdir_prepare), and per writable disk a new overlay
 *      DIR/<n>/disk<SLOT>.qcow2 over its current layer
 *      (qcow2_create_overlay), plus a read-only descriptor of that layer;
 *   2. the request with those descriptors (sbx_vmm_checkpoint); the VM
 *      pauses, saves, switches each disk, resumes;
 *   3. on its answer: `machine` (with `parent` for a diff, `layer SLOT
 *      PATH` per disk) and the files renamed into place
 *      (sbx_snapdir_commit_checkpoint); DIR/<n>/ is then a snapshot
 *      directory `git sbx vm restore` takes.  A failed checkpoint leaves
 *      its temporary files removed and its overlays too, except one a disk
 *      switched to anyway (the disk's layer from then on).
 */
#include "sbx/machine-ckpt.h"
#include "sbx/fsutil.h"
#include "snapshot/qcow2.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The VMM's answer (a booted VM's first checkpoint writes all of RAM). */
#define ANSWER_MS 120000

struct sbx_machine_ckpt {
	const struct sbx_machine *m;
	struct sbx_vmm *vmm;
	char *tops[SBX_MACHINE_MAX_DISKS];	/* each writable disk's current layer; NULL: read-only */
	unsigned ndisks;
	char *last;		/* the last snapshot directory of the VM's memory chain; NULL: none */
	unsigned n;		/* checkpoints asked */
	int pipe[2];		/* SIGHUP -> the thread */
	pthread_t thread;
	bool started, handler;
	struct sigaction old;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool answered, ended;
	struct sbx_vmm_ckpt_result r;
};

static volatile int hup_fd = -1;

static void on_hup(int sig)
{
	int fd = hup_fd, saved = errno;

	(void)sig;
	if (fd >= 0)
		(void)!write(fd, "c", 1);	/* a full pipe: enough are queued */
	errno = saved;
}

int sbx_machine_ckpt_new(struct sbx_machine_ckpt **out, const struct sbx_machine *m,
			 const struct sbx_vmm_disk *disks, unsigned ndisks)
{
	struct sbx_machine_ckpt *c = calloc(1, sizeof(*c));
	char path[PATH_MAX];
	unsigned i;
	int ret = 0;

	*out = NULL;
	if (!c)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	c->m = m;
	c->pipe[0] = c->pipe[1] = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->ndisks = ndisks;
	for (i = 0; i < ndisks && !ret; i++)
		if (!disks[i].read_only && !(c->tops[i] = strdup(disks[i].path)))
			ret = sbx_error_set(SBX_ENOMEM, "out of memory");
	if (!ret && m->restore_dir) {
		if (!realpath(m->restore_dir, path))
			ret = sbx_error_errno(SBX_EIO, "'%s'", m->restore_dir);
		else if (!(c->last = strdup(path)))
			ret = sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	if (!ret && (ret = sbx_mkdirs(m->checkpoint_dir)))
		sbx_error_prefix(ret, "checkpoint directory '%s'", m->checkpoint_dir);
	/* Numbered from 1 again: an earlier run's would be in the way. */
	if (!ret && sbx_count_dir(m->checkpoint_dir) != 0)
		ret = sbx_error_set(SBX_EEXISTS, "checkpoint directory '%s' is not empty",
				    m->checkpoint_dir);
	if (!ret && pipe2(c->pipe, O_CLOEXEC | O_NONBLOCK))
		ret = sbx_error_errno(SBX_EIO, "pipe");
	if (ret) {
		sbx_machine_ckpt_free(c);
		return ret;
	}
	*out = c;
	return 0;
}

void sbx_machine_ckpt_answer(void *opaque, const struct sbx_vmm_ckpt_result *r)
{
	struct sbx_machine_ckpt *c = opaque;

	pthread_mutex_lock(&c->lock);
	c->r = *r;
	c->answered = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* The VMM's answer, until the deadline or the VM's end; false without one. */
static bool wait_answer(struct sbx_machine_ckpt *c, struct sbx_vmm_ckpt_result *r)
{
	uint64_t deadline = now_ms() + ANSWER_MS;
	bool got;

	pthread_mutex_lock(&c->lock);
	while (!c->answered && !c->ended && now_ms() < deadline) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 50 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cond, &c->lock, &until);
	}
	got = c->answered;
	*r = c->r;
	pthread_mutex_unlock(&c->lock);
	return got;
}

/* Checkpoint c->n + 1: the files, the request, the answer, the commit. */
static int take(struct sbx_machine_ckpt *c, struct sbx_vmm_ckpt_result *r, unsigned n)
{
	struct sbx_vmm_ckpt_disk d[SBX_MACHINE_MAX_DISKS];
	char *dir = NULL, *layers[SBX_MACHINE_MAX_DISKS] = { NULL };
	char *news[SBX_MACHINE_MAX_DISKS] = { NULL }, name[32], real[PATH_MAX];
	int mem_fd = -1, state_fd = -1, ret;
	unsigned i, nd = 0;
	bool prepared = false, sent = false, answered = false;

	memset(r, 0, sizeof(*r));
	if (asprintf(&dir, "%s/%u", c->m->checkpoint_dir, n) < 0) {
		dir = NULL;
		ret = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((ret = sbx_snapdir_prepare(dir, &mem_fd, &state_fd)))
		goto out;
	prepared = true;
	for (i = 0; i < c->ndisks; i++) {
		if (!c->tops[i])
			continue;
		snprintf(name, sizeof(name), "disk%u.qcow2", i);
		d[nd] = (struct sbx_vmm_ckpt_disk){ i, -1, -1 };
		if (!(news[i] = sbx_path_join(dir, name))) {
			ret = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		if (!realpath(c->tops[i], real) || !(layers[i] = strdup(real))) {
			ret = sbx_error_errno(SBX_EIO, "disk %u: '%s'", i + 1, c->tops[i]);
			goto out;
		}
		ret = qcow2_create_overlay(news[i], c->tops[i], &d[nd].overlay_fd);
		if (ret) {
			free(news[i]);
			news[i] = NULL;
			sbx_error_prefix(ret, "disk %u", i + 1);
			goto out;
		}
		d[nd].frozen_fd = open(c->tops[i], O_RDONLY | O_CLOEXEC);
		nd++;
		if (d[nd - 1].frozen_fd < 0) {
			ret = sbx_error_errno(SBX_EIO, "cannot open '%s'", c->tops[i]);
			goto out;
		}
	}
	pthread_mutex_lock(&c->lock);
	c->answered = false;
	pthread_mutex_unlock(&c->lock);
	if ((ret = sbx_vmm_checkpoint(c->vmm, mem_fd, state_fd, d, nd, 0)))
		goto out;
	sent = true;
	answered = wait_answer(c, r);
	if (!answered) {
		/* Whether the disks switched we cannot know: the VM must not go on. */
		sbx_vmm_kill(c->vmm);
		ret = sbx_error_set(SBX_ETIMEDOUT, "no answer from the VMM within %d s (or the VM "
				    "ended first): stopped it", ANSWER_MS / 1000);
		goto out;
	}
	for (i = 0; i < c->ndisks; i++)
		if (news[i] && (r->info.switched & (1u << i))) {
			free(c->tops[i]);
			c->tops[i] = news[i];	/* the disk's layer now, whatever else happened */
			news[i] = NULL;
		}
	if (r->err) {
		ret = sbx_error_set(r->err, "%s", r->error);
		goto out;
	}
	ret = sbx_snapdir_commit_checkpoint(dir, c->m, r->info.diff ? c->last : NULL, layers,
					    c->ndisks);
	if (!ret && realpath(dir, real)) {
		free(c->last);
		c->last = strdup(real);
	} else if (!ret) {
		ret = sbx_error_errno(SBX_EIO, "'%s'", dir);
	}
out:
	for (i = 0; i < nd; i++) {
		if (d[i].overlay_fd >= 0)
			close(d[i].overlay_fd);
		if (d[i].frozen_fd >= 0)
			close(d[i].frozen_fd);
	}
	if (mem_fd >= 0)
		close(mem_fd);
	if (state_fd >= 0)
		close(state_fd);
	if (ret && prepared)
		sbx_snapdir_abort(dir);
	for (i = 0; i < SBX_MACHINE_MAX_DISKS; i++) {
		/* a new layer no disk took (sent without an answer we cannot tell: kept) */
		if (news[i] && (answered || !sent))
			unlink(news[i]);
		free(news[i]);
		free(layers[i]);
	}
	if (ret && dir)
		rmdir(dir);	/* when nothing else is in it */
	free(dir);
	return ret;
}

static bool ended(struct sbx_machine_ckpt *c)
{
	bool e;

	pthread_mutex_lock(&c->lock);
	e = c->ended;
	pthread_mutex_unlock(&c->lock);
	return e;
}

static void *thread_main(void *arg)
{
	struct sbx_machine_ckpt *c = arg;
	struct sbx_vmm_ckpt_result r;
	char b;

	while (!ended(c)) {
		struct pollfd p = { .fd = c->pipe[0], .events = POLLIN };
		unsigned n;
		int ret;

		/* a short timeout: sbx_machine_ckpt_stop only sets `ended` */
		if (poll(&p, 1, 100) <= 0 || read(c->pipe[0], &b, 1) != 1)
			continue;
		n = ++c->n;
		ret = take(c, &r, n);
		if (ret)
			fprintf(stderr, "checkpoint %u failed: %s\n", n, sbx_error());
		else
			fprintf(stderr, "checkpoint %u: %s/%u (the guest paused %.1f ms; %.1f MiB of "
				"RAM data, %s, chain %u; state %llu bytes)\n", n,
				c->m->checkpoint_dir, n, (double)r.info.pause_ns / 1e6,
				(double)r.info.mem_bytes / 1048576.0, r.info.diff ? "a diff" : "full",
				r.info.chain, (unsigned long long)r.info.state_bytes);
	}
	return NULL;
}

int sbx_machine_ckpt_start(struct sbx_machine_ckpt *c, struct sbx_vmm *vmm)
{
	struct sigaction sa;
	sigset_t all, old;
	int err;

	c->vmm = vmm;
	/* Our thread takes no signal: SIGHUP runs its handler on the caller's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&c->thread, NULL, thread_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		errno = err;
		return sbx_error_errno(SBX_ERROR, "cannot start the checkpoint thread");
	}
	c->started = true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	hup_fd = c->pipe[1];
	c->handler = sigaction(SIGHUP, &sa, &c->old) == 0;
	return 0;
}

void sbx_machine_ckpt_stop(struct sbx_machine_ckpt *c)
{
	if (!c)
		return;
	if (c->handler) {
		hup_fd = -1;
		sigaction(SIGHUP, &c->old, NULL);
		c->handler = false;
	}
	pthread_mutex_lock(&c->lock);
	c->ended = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (c->started) {
		pthread_join(c->thread, NULL);
		c->started = false;
	}
}

void sbx_machine_ckpt_free(struct sbx_machine_ckpt *c)
{
	unsigned i;

	if (!c)
		return;
	sbx_machine_ckpt_stop(c);
	for (i = 0; i < SBX_MACHINE_MAX_DISKS; i++)
		free(c->tops[i]);
	free(c->last);
	if (c->pipe[0] >= 0)
		close(c->pipe[0]);
	if (c->pipe[1] >= 0)
		close(c->pipe[1]);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}
