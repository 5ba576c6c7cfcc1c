/* SPDX-License-Identifier: MIT */
/*
 * The raw KVM system-call shim.  Every KVM ioctl the machine makes goes
 * through kvm_ioctl(), /dev/kvm is opened with kvm_open(), a vCPU's
 * kvm_run is mapped with kvm_map_run(), and what the probe asks of the host
 * (a loaded module, the CPU's virtualization extensions) goes through the
 * kvm_host_*() functions.  They live in their own object file so that unit
 * tests can replace them with -Wl,--wrap=kvm_ioctl,... (a wrapped call must
 * be in a different object file from its caller).
 */
#ifndef SBX_VMM_KVM_SYS_H
#define SBX_VMM_KVM_SYS_H

#include <stdbool.h>
#include <stddef.h>

/* open(2) of /dev/kvm or $SBX_KVM_DEVICE; returns the fd or -1 with errno. */
int kvm_open(const char **path_out);

/*
 * ioctl(2), retried on EINTR except for KVM_RUN (whose EINTR means "a
 * signal kicked the vCPU").  Returns ioctl's result, or -1 with errno.
 */
int kvm_ioctl(int fd, unsigned long request, void *arg);

/* mmap(2) of a vCPU's kvm_run (`size` from KVM_GET_VCPU_MMAP_SIZE); NULL with errno. */
void *kvm_map_run(int vcpu_fd, size_t size);
void kvm_unmap_run(void *run, size_t size);

/* Is kernel module `name` loaded (/sys/module/<name> exists)? */
bool kvm_host_module(const char *name);

/* Does this CPU itself have VMX or SVM (what hardware KVM runs on)? */
bool kvm_host_cpu_virt(void);

#endif
