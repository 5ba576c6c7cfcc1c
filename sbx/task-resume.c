// SPDX-License-Identifier: MIT
/*
 * `git sbx continue` (sbx/task-run.h, sbx_task_continue): the session's
 * start restores the task's current checkpoint instead of booting, and its
 * transfer in stages only the new prompt.  The guest comes back where the
 * checkpoint left it (its files, its processes, what it installed); sbx-init,
 * told RESUME(RESTORED), ends the agent that was running then.
 */
#include "sbx/task-run-int.h"
#include "sbx/checkpoint.h"
#include "sbx/fsutil.h"
#include "sbx/machine.h"
#include "sbx/sandbox.h"
#include "sbx/task.h"
#include "snapshot/qcow2.h"
#include "util/error.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int run_start_resume(struct run *r)
{
	struct sbx_sandbox_opts so = SBX_SANDBOX_OPTS_INIT;
	struct sbx_machine m = SBX_MACHINE_INIT;
	struct sbx_ckpt c;
	char *memdir = NULL, *state = NULL, *mem[VM_MAX_MEM_LAYERS] = { NULL }, *owned = NULL;
	char *layer = NULL, *top_rel = NULL, *top = NULL, *backing = NULL, *dir = NULL;
	unsigned nmem = 0, i;
	uint64_t t, ms;
	int err;

	r->backend = sbx_sandbox_resolve(r->o->backend, r->qemu_why, sizeof(r->qemu_why));
	if (r->backend != SBX_BACKEND_VMM)
		return sbx_error_set(SBX_EUNSUPPORTED, "continue restores a memory snapshot, which "
				     "needs our VMM on KVM (%s)", r->qemu_why);
	if ((err = sbx_ckpt_read(&c, r->task->dir, r->resume)))
		return err;
	if (!c.memory[0])
		return sbx_error_set(SBX_ENOTFOUND, "checkpoint %u has no memory snapshot", c.id);
	if (!(memdir = sbx_path_join(r->task->dir, c.memory)) ||
	    !(layer = sbx_path_join(r->task->dir, c.layer))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = sbx_snapdir_paths(memdir, &state, mem, &nmem)) ||
	    (err = sbx_snapdir_read_machine(memdir, &m, &owned))) {
		sbx_error_prefix(err, "checkpoint %u's memory", c.id);
		goto out;
	}
	/* The disk: a new top over the checkpoint's frozen layer, named relative to it. */
	if ((err = sbx_ckpt_new_layer(&top_rel, r->task->dir)))
		goto out;
	if (!(top = sbx_path_join(r->task->dir, top_rel)) || !(dir = strdup(top))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	*strrchr(dir, '/') = 0;
	if ((err = qcow2_relative_name(&backing, dir, layer)) ||
	    (err = sbx_sandbox_make_disk_over(backing, top))) {
		sbx_error_prefix(err, "cannot create a disk over checkpoint %u's layer", c.id);
		goto out;
	}
	free(r->disk);
	r->disk = top;
	top = NULL;
	run_sandbox_opts(r, &so, &r->img, r->disk, r->console);
	so.cpus = m.cpus;
	so.memory = m.memory;
	r->vm_cpus = so.cpus;
	r->vm_memory = so.memory;
	so.backend = SBX_BACKEND_VMM;
	so.restore_state = state;
	for (i = 0; i < nmem; i++)
		so.restore_mem_chain[i] = mem[i];
	so.restore_nmem = nmem;
	run_progress(r, "restoring checkpoint %u (%s at %.12s)", c.id, sbx_ckpt_reason_name(c.reason),
		     c.head);
	t = run_mono_ms();
	err = sbx_sandbox_start(&r->sb, &so);
	ms = run_mono_ms() - t;
	sbx_task_step_set(r->task, SBX_STEP_START, ms);
	if (err) {
		sbx_error_prefix(err, "cannot restore checkpoint %u", c.id);
		goto out;
	}
	run_progress(r, "restored in %llu ms", (unsigned long long)ms);
	/* The record's start is this run's: no warm base, the checkpoint. */
	free(r->task->warm);
	r->task->warm = NULL;
	r->task->warm_created_ms = 0;
	r->task->warm_build_ms = 0;
	free(r->task->start_note);
	if (asprintf(&r->task->start_note, "continued from checkpoint %u (%s at %.12s)", c.id,
		     sbx_ckpt_reason_name(c.reason), c.head) < 0)
		r->task->start_note = NULL;
	run_started(r, r->disk);
	run_ckpt_begin(r, c.head, c.id, memdir, nmem);
out:
	free(memdir);
	free(state);
	for (i = 0; i < nmem; i++)
		free(mem[i]);
	free(owned);
	free(layer);
	free(top_rel);
	free(top);
	free(backing);
	free(dir);
	return err;
}
