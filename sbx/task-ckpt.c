// SPDX-License-Identifier: MIT
/* Checkpoints of a task's running VM (sbx/task-ckpt.h). */
#include "sbx/task-ckpt.h"
#include "sbx/channel.h"
#include "sbx/fsutil.h"
#include "sbx/machine.h"
#include "sbx/sandbox.h"
#include "util/error.h"
#include "vmm/vm.h"

#include <git2.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The guest has this long to answer QUIESCE (it only has to flush its queue). */
#define QUIESCE_MS 10000
/* How often the agent's pump looks for a `git sbx checkpoint` request. */
#define POLL_MS 250
/* Memory files a chain may hold before a checkpoint is taken full (a new chain). */
#define CHAIN_MAX (VM_MAX_MEM_LAYERS - 1)

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void warn(struct task_ckpt *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct task_ckpt *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->warn)
		c->warn(c->warn_opaque, msg);
}

char *task_ckpt_adopt_root(const char *task_dir, const char *dir)
{
	static const char *const files[] = { "memory", "state", "machine" };
	char *own = sbx_path_join(task_dir, "checkpoints/memory/warm"), *a = NULL, *b = NULL;
	unsigned i;
	bool ok;

	if (!own)
		return NULL;
	if (!access(own, F_OK))
		sbx_rmtree(own);
	ok = !sbx_mkdirs(own);
	for (i = 0; ok && i < 3; i++) {
		ok = (a = sbx_path_join(dir, files[i])) && (b = sbx_path_join(own, files[i])) &&
		     !link(a, b);
		free(a);
		free(b);
		a = b = NULL;
	}
	if (ok && !sbx_fsync_dir(own))
		return own;
	sbx_rmtree(own);
	free(own);
	return strdup(dir);
}

void task_ckpt_drop_root(const char *task_dir, char *root)
{
	char *own = root ? sbx_path_join(task_dir, "checkpoints/memory/warm") : NULL;

	if (own && !strcmp(root, own))
		sbx_rmtree(own);
	free(own);
	free(root);
}

int task_ckpt_init(struct task_ckpt *c, struct sbx_sandbox *sb, struct sbx_session *s,
		   const char *task_dir, const char *top, const char *head, unsigned parent,
		   const char *parent_mem, unsigned chain, uint64_t interval_ms, unsigned max)
{
	memset(c, 0, sizeof(*c));
	c->sb = sb;
	c->s = s;
	c->task_dir = task_dir;
	c->parent = parent;
	c->chain = chain;
	c->interval_ms = interval_ms;
	c->max = max < 2 ? 2 : max;
	snprintf(c->head, sizeof(c->head), "%s", head);
	c->top = strdup(top);
	if (parent_mem)
		c->parent_mem = strdup(parent_mem);
	if (!c->top || (parent_mem && !c->parent_mem)) {
		task_ckpt_clear(c);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	c->on = true;
	return 0;
}

void task_ckpt_clear(struct task_ckpt *c)
{
	free(c->top);
	free(c->parent_mem);
	c->top = c->parent_mem = NULL;
	c->on = false;
}

static uint64_t allocated(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

/* sbx.maxCheckpoints: drop the oldest records (never the current one); gc frees what no one needs. */
static void enforce_max(struct task_ckpt *c)
{
	struct sbx_ckpt_gc_result gc;
	struct sbx_ckpt *cs = NULL;
	const char *keep[2] = { c->top, NULL };
	size_t n = 0, i;

	if (sbx_ckpt_list(&cs, &n, c->task_dir))
		return;
	for (i = 0; i < n && n - i > c->max; i++)
		if (cs[i].id != c->parent && sbx_ckpt_drop(c->task_dir, cs[i].id))
			warn(c, "cannot drop checkpoint %u (sbx.maxCheckpoints): %s", cs[i].id,
			     sbx_error());
	free(cs);
	if (sbx_ckpt_gc(&gc, c->task_dir, keep))
		warn(c, "checkpoints: gc: %s", sbx_error());
}

int task_ckpt_take(struct task_ckpt *c, enum sbx_ckpt_reason why, const char *head)
{
	struct sbx_sandbox_saved info;
	struct sbx_machine m = SBX_MACHINE_INIT;
	struct sbx_ckpt rec;
	char *tmp = NULL, *mem_rel = NULL, *mem = NULL, *layer_rel = NULL, *layer = NULL;
	char *old_top = NULL, *mem_file = NULL, *state_file = NULL, parent_abs[PATH_MAX];
	int err, serr;
	unsigned id;
	bool full, switched = false;

	if (!c->on)
		return 0;
	if (head && strlen(head) == 40)
		snprintf(c->head, sizeof(c->head), "%s", head);
	memset(&info, 0, sizeof(info));
	if ((err = sbx_ckpt_next_id(&id, c->task_dir)))
		goto fail;
	if (asprintf(&mem_rel, "checkpoints/memory/%u", id) < 0 ||
	    asprintf(&tmp, "%s/checkpoints/.tmp-%u-mem-%ld", c->task_dir, id, (long)getpid()) < 0 ||
	    !(mem = sbx_path_join(c->task_dir, mem_rel)) || !(old_top = sbx_path_join(c->task_dir, c->top))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = sbx_ckpt_new_layer(&layer_rel, c->task_dir)))
		goto fail;
	if (!(layer = sbx_path_join(c->task_dir, layer_rel)) ||
	    !(mem_file = sbx_path_join(tmp, ".memory.tmp")) ||
	    !(state_file = sbx_path_join(tmp, ".state.tmp"))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = sbx_mkdirs(tmp)))
		goto fail;
	/*
	 * A new chain when the old one is long, or when the store is full:
	 * the oldest records can then go without their memory being needed.
	 */
	full = !c->parent_mem || c->chain >= CHAIN_MAX;
	if (!full) {
		size_t n = 0;
		struct sbx_ckpt *cs = NULL;

		if (!sbx_ckpt_list(&cs, &n, c->task_dir) && n >= c->max)
			full = true;
		free(cs);
	}

	if ((err = sbx_session_quiesce(c->s, QUIESCE_MS)))
		goto channel;
	err = sbx_sandbox_checkpoint(c->sb, mem_file, state_file, layer,
				     full ? SBX_SANDBOX_CKPT_FULL : 0, &info);
	switched = !strcmp(sbx_sandbox_top(c->sb), layer);
	if ((serr = sbx_session_resume(c->s, false))) {
		err = serr;
		goto channel;
	}
	if (err)
		goto fail;

	m.cpus = c->cpus;
	m.memory = c->memory;
	m.rng = true;
	m.console_port = SBX_CHANNEL_PORT;
	if (info.diff && !realpath(c->parent_mem, parent_abs)) {
		err = sbx_error_errno(SBX_EIO, "'%s'", c->parent_mem);
		goto fail;
	}
	if ((err = sbx_snapdir_commit_checkpoint(tmp, &m, info.diff ? parent_abs : NULL, NULL, 0)))
		goto fail;
	{
		/* Tests: a window in which the record is not written yet (kill -9 lands in it). */
		const char *d = getenv("SBX_TEST_CKPT_DELAY_MS");

		if (d)
			usleep((useconds_t)strtoul(d, NULL, 10) * 1000);
	}
	if (rename(tmp, mem) && (errno != ENOENT || sbx_mkdirs(mem) || rmdir(mem) ||
				 rename(tmp, mem))) {
		err = sbx_error_errno(SBX_EIO, "cannot move the checkpoint's memory to '%s'", mem);
		goto fail;
	}
	memset(&rec, 0, sizeof(rec));
	rec.id = id;
	rec.time_ms = unix_ms();
	rec.reason = why;
	memcpy(rec.head, c->head, 41);
	snprintf(rec.layer, sizeof(rec.layer), "%s", c->top);
	snprintf(rec.memory, sizeof(rec.memory), "%s", mem_rel);
	rec.disk_bytes = allocated(old_top);
	rec.memory_bytes = info.mem_bytes + info.state_bytes;
	rec.parent = c->parent;
	rec.pause_us = info.pause_ns / 1000;
	if ((err = sbx_ckpt_create(c->task_dir, &rec, NULL)) ||
	    (err = sbx_ckpt_set_current(c->task_dir, id)))
		goto fail;
	free(c->top);
	c->top = layer_rel;
	layer_rel = NULL;
	free(c->parent_mem);
	c->parent_mem = mem;
	mem = NULL;
	c->parent = id;
	c->chain = info.chain;
	c->last_ms = mono_ms();
	c->pending = false;
	c->taken++;
	c->pause_us_total += rec.pause_us;
	c->last_pause_us = rec.pause_us;
	enforce_max(c);
	err = 0;
	goto out;

channel:
	/* The guest stopped answering: the session is over; the caller says why. */
	c->on = false;
	goto out;
fail:
	/* The task goes on without checkpoints; what was half made is gc's. */
	warn(c, "checkpoint %u (%s) failed, no more are taken in this run: %s", id,
	     sbx_ckpt_reason_name(why), sbx_error());
	c->on = false;
	if (switched && layer_rel) {
		/* The disk went on in the new layer: it is the top now. */
		free(c->top);
		c->top = layer_rel;
		layer_rel = NULL;
	}
	err = 0;
out:
	free(mem_file);
	free(state_file);
	if (tmp && !access(tmp, F_OK))
		sbx_rmtree(tmp);
	free(tmp);
	free(mem_rel);
	free(mem);
	free(layer_rel);
	free(layer);
	free(old_top);
	return err;
}

int task_ckpt_between(void *opaque, struct sbx_session *s)
{
	struct task_ckpt *c = opaque;
	struct sbx_session_notes n;
	uint64_t now = mono_ms();

	sbx_session_take_notes(s, &n);
	if (!c->on)
		return 0;
	if (n.kinds & (1u << PROTO_NOTE_COMMIT)) {
		if (n.has_commit) {
			git_oid id;

			git_oid_fromraw(&id, n.commit);
			git_oid_tostr(c->head, sizeof(c->head), &id);
		}
		c->pending = true;
	}
	if (now - c->polled_ms >= POLL_MS) {
		c->polled_ms = now;
		if (sbx_ckpt_take_request(c->task_dir) > 0)
			return task_ckpt_take(c, SBX_CKPT_MANUAL, NULL);
	}
	if (c->pending && (!c->last_ms || now - c->last_ms >= c->interval_ms))
		return task_ckpt_take(c, SBX_CKPT_COMMIT, NULL);
	return 0;
}
