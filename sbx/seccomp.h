/* SPDX-License-Identifier: MIT */
/*
 * The confined VMM's seccomp-bpf allow-lists (x86-64 only), one per thread
 * kind; docs/design.md ("The VMM process") says what each allows and why.
 *
 * BASE is installed on the VMM process's only thread after set-up, so every
 * thread it starts inherits it; each thread then adds its own, narrower
 * list (filters stack: a call must pass every one).  Anything not allowed
 * kills the whole process with SIGSYS (SECCOMP_RET_KILL_PROCESS).
 */
#ifndef SBX_SBX_SECCOMP_H
#define SBX_SBX_SECCOMP_H

#include <linux/filter.h>
#include <stddef.h>

enum sbx_filter {
	SBX_FILTER_BASE,	/* the union of the others, plus starting threads */
	SBX_FILTER_MAIN,	/* the caller's thread once the VM runs: wait, stop, close */
	SBX_FILTER_VCPU,	/* KVM_RUN and the devices' register handlers */
	SBX_FILTER_EVENT,	/* epoll and device I/O */
	SBX_FILTER_CONTROL,	/* the thread that reads the parent's stop request */
};

#define SBX_FILTER_MAX_INSNS 256

/* The program for `kind` into prog[SBX_FILTER_MAX_INSNS]; returns its length. */
size_t sbx_seccomp_build(struct sock_filter *prog, enum sbx_filter kind);
/* Install it on the calling thread (no_new_privs must be set).  0 or SBX_ERROR. */
int sbx_seccomp_install(enum sbx_filter kind);
const char *sbx_seccomp_name(enum sbx_filter kind);

#endif
