/* SPDX-License-Identifier: MIT */
/*
 * Saying why a vCPU stopped: the exit reason by name, KVM's internal-error
 * suberror by name, the guest's RIP and the instruction bytes there when
 * they are readable guest RAM (KVM_TRANSLATE, then gmem_at: the address is
 * the guest's, so it is checked like any other guest value).
 */
#ifndef SBX_VMM_KVM_EXIT_H
#define SBX_VMM_KVM_EXIT_H

#include "vmm/guest-mem.h"

#include <linux/kvm.h>
#include <stddef.h>

/* "KVM_EXIT_MMIO" or "exit reason 99". */
const char *kvm_exit_name(unsigned reason, char *buf, size_t size);

/* "instruction emulation failed" or "suberror 9". */
const char *kvm_internal_error_name(unsigned suberror, char *buf, size_t size);

/*
 * Write "at RIP 0x... (bytes 0f 30 ...)" for the vCPU `vcpu_fd` into buf;
 * "at RIP 0x..." alone when the bytes are not readable, "" when even the
 * registers are not.  `mem` may be NULL.
 */
void kvm_exit_where(char *buf, size_t size, int vcpu_fd, const struct guest_mem *mem);

/*
 * The whole story of an unexpected exit: "KVM internal error 1
 * (instruction emulation failed) at RIP 0x1005 (bytes ...)", for messages
 * that end a VM.
 */
void kvm_exit_describe(char *buf, size_t size, int vcpu_fd, const struct kvm_run *run,
		       const struct guest_mem *mem);

#endif
