/* SPDX-License-Identifier: MIT */
/*
 * The raw KVM system-call shim.  Every KVM ioctl the machine makes goes
 * through kvm_ioctl(), and /dev/kvm is opened with kvm_open(); both live in
 * their own object file so that unit tests can replace them with
 * -Wl,--wrap=kvm_ioctl,--wrap=kvm_open (a wrapped call must be in a
 * different object file from its caller).
 */
#ifndef SBX_VMM_KVM_SYS_H
#define SBX_VMM_KVM_SYS_H

/* open(2) of /dev/kvm or $SBX_KVM_DEVICE; returns the fd or -1 with errno. */
int kvm_open(const char **path_out);

/*
 * ioctl(2), retried on EINTR except for KVM_RUN (whose EINTR means "a
 * signal kicked the vCPU").  Returns ioctl's result, or -1 with errno.
 */
int kvm_ioctl(int fd, unsigned long request, void *arg);

#endif
