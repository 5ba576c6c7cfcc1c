/* SPDX-License-Identifier: MIT */
/*
 * Checkpoints for `git sbx vm run/restore --checkpoints DIR` (see
 * sbx/machine.h): SIGHUP wakes a thread of ours that makes the files, asks
 * the VMM (sbx_vmm_checkpoint) and commits the directory once it answered
 * (the answer arrives on sbx_vmm_wait's thread, through
 * sbx_machine_ckpt_answer).  Internal to sbx/machine*.c.
 */
#ifndef SBX_SBX_MACHINE_CKPT_H
#define SBX_SBX_MACHINE_CKPT_H

#include "sbx/machine.h"
#include "sbx/vmm-proc.h"

struct sbx_machine_ckpt;

/*
 * For m->checkpoint_dir (made here): the VM's disks as the VMM opened them
 * (paths and whether writable, slot by slot), and the snapshot a first
 * diff goes over (m->restore_dir, or NULL for a booted VM).
 */
int sbx_machine_ckpt_new(struct sbx_machine_ckpt **out, const struct sbx_machine *m,
			 const struct sbx_vmm_disk *disks, unsigned ndisks);
/* The VMM runs: start the thread and take SIGHUP. */
int sbx_machine_ckpt_start(struct sbx_machine_ckpt *c, struct sbx_vmm *vmm);
/* spec.on_checkpoint: the VMM's answer. */
void sbx_machine_ckpt_answer(void *opaque, const struct sbx_vmm_ckpt_result *r);
/* The VM ended: let SIGHUP go, stop the thread (a checkpoint under way gives up). */
void sbx_machine_ckpt_stop(struct sbx_machine_ckpt *c);
void sbx_machine_ckpt_free(struct sbx_machine_ckpt *c);

#endif
