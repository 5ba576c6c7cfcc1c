// SPDX-License-Identifier: MIT
/*
 * What vmm/vm-state.c (saving, in-place reset) and vmm/vm-restore.c
 * (restoring) share: the state file's record types and limits, the host
 * CPU's signature, KVM's dirty log and clock.  Internal to vmm/.
 */
#ifndef SBX_VMM_VM_STATE_INT_H
#define SBX_VMM_VM_STATE_INT_H

#include "vmm/vm-int.h"
#include "snapshot/vmstate.h"

#include <stdint.h>

/* Bump when a record's layout changes: an older file is then refused. */
#define LAYOUT_VERSION		1
#define MAX_STATE_BYTES		(64ULL << 20)
#define MAX_MSRS		1024
#define MAX_CPUID_ENTRIES	256

enum rec_type {
	REC_MACHINE = 0x01,
	REC_MEMORY = 0x02,
	REC_CPUID = 0x10,	/* index: vCPU id, for these ten */
	REC_MP_STATE,
	REC_REGS,
	REC_SREGS,
	REC_XSAVE,
	REC_XCRS,
	REC_DEBUGREGS,
	REC_LAPIC,
	REC_MSRS,
	REC_VCPU_EVENTS,
	REC_PIC_MASTER = 0x20,
	REC_PIC_SLAVE,
	REC_IOAPIC,
	REC_PIT2,
	REC_CLOCK,
	REC_DEVICE = 0x30,	/* index: the device's slot */
};

#define MSR_IA32_TSC		0x10
#define MSR_IA32_TSC_DEADLINE	0x6e0

/* The host CPU: a snapshot runs only where it was taken. */
struct cpu_sig {
	char vendor[12];
	uint32_t signature;	/* CPUID.1:EAX (family, model, stepping) */
	uint32_t xsave_size;	/* CPUID.(0xd,0):EBX, the XSAVE area the host enables */
};

void vm_host_cpu_sig(struct cpu_sig *s);

/* KVM's dirty log on guest RAM's slots (0: below the hole, 1: above 4 GiB). */
int vm_set_dirty_logging(struct vm *vm);

/* Tell each vCPU it was paused (the guest's watchdogs skip the gap). */
void vm_kvmclock_ctrl(struct vm *vm);

/* Load a state file's records into the VM (vm-restore.c), after its memory. */
int vm_load_state(struct vm *vm, const struct vmstate *st);

#endif
