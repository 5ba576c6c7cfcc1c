// SPDX-License-Identifier: MIT
/*
 * Seccomp-bpf allow-lists for the confined VMM: see sbx/seccomp.h.  The
 * programs are written by hand from seccomp(2): check the architecture,
 * refuse the x32 numbers, then one test per allowed call; a call with an
 * argument rule (ioctl's request, mmap's protection, clone's flags) jumps
 * to a short block of its own that ends in ALLOW or KILL.  Every jump is
 * short (at most 1 + the block's length), so no offset overflows 8 bits.
 */
#include "sbx/seccomp.h"
#include "util/checked.h"
#include "util/error.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define B(k)	(1u << (k))
#define ALLK	(B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) | B(SBX_FILTER_VCPU) | \
		 B(SBX_FILTER_EVENT) | B(SBX_FILTER_CONTROL))
/* what device code may do on whichever thread runs it */
#define DEVK	(B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) | B(SBX_FILTER_VCPU) | B(SBX_FILTER_EVENT))

enum how {
	ALLOW,		/* any arguments */
	NO_EXEC,	/* arg 2 (prot) without PROT_EXEC: no new code */
	THREADS_ONLY,	/* clone: arg 0 (flags) has CLONE_THREAD: no new process */
	NO_CLONE3,	/* ENOSYS, so glibc falls back to clone, whose flags we can see */
	KVM_IOCTL,	/* arg 1 (request) in the kind's list below */
	ADD_FILTER,	/* seccomp: SET_MODE_FILTER without flags (no TSYNC): a thread
			 * may only add a filter to itself, which can only narrow it */
	OWN_PROCESS,	/* tgkill: arg 0 (tgid) is this process; a signal to any other
			 * process of the user's would be a way out */
	LOCK_OR_DUP,	/* fcntl: arg 1 (cmd) is F_OFD_SETLK or F_DUPFD_CLOEXEC, what a
			 * checkpoint's disk switch needs (locks on fds it was given, an
			 * fd for the disk limit's fstat); no F_SETFL, F_SETOWN, ... */
};

static const struct rule {
	int nr;
	enum how how;
	unsigned kinds;
} rules[] = {
	/* every thread: locks, time, signals (the vCPU kick), memory, ending */
	{ SYS_futex, ALLOW, ALLK },
	{ SYS_sched_yield, ALLOW, ALLK },
	{ SYS_nanosleep, ALLOW, ALLK },
	{ SYS_clock_nanosleep, ALLOW, ALLK },
	{ SYS_clock_gettime, ALLOW, ALLK },
	{ SYS_gettimeofday, ALLOW, ALLK },
	{ SYS_getpid, ALLOW, ALLK },
	{ SYS_gettid, ALLOW, ALLK },
	{ SYS_tgkill, OWN_PROCESS, ALLK },
	{ SYS_rt_sigreturn, ALLOW, ALLK },
	{ SYS_rt_sigprocmask, ALLOW, ALLK },
	{ SYS_restart_syscall, ALLOW, ALLK },
	{ SYS_madvise, ALLOW, ALLK },
	{ SYS_munmap, ALLOW, ALLK },
	{ SYS_brk, ALLOW, ALLK },
	{ SYS_mremap, ALLOW, ALLK },
	{ SYS_mmap, NO_EXEC, ALLK },
	{ SYS_mprotect, NO_EXEC, ALLK },
	{ SYS_exit, ALLOW, ALLK },
	{ SYS_exit_group, ALLOW, ALLK },
	{ SYS_read, ALLOW, ALLK },
	{ SYS_write, ALLOW, ALLK },
	/* devices: disks (raw, qcow2), the console, eventfds, the rng */
	{ SYS_readv, ALLOW, DEVK },
	{ SYS_writev, ALLOW, DEVK },
	{ SYS_pread64, ALLOW, DEVK },
	{ SYS_pwrite64, ALLOW, DEVK },
	{ SYS_preadv, ALLOW, DEVK },
	{ SYS_pwritev, ALLOW, DEVK },
	{ SYS_sendmsg, ALLOW, DEVK },
	{ SYS_fsync, ALLOW, DEVK },
	{ SYS_fdatasync, ALLOW, DEVK },
	{ SYS_fallocate, ALLOW, DEVK },
	{ SYS_ftruncate, ALLOW, DEVK },
	{ SYS_fstat, ALLOW, DEVK },
	{ SYS_newfstatat, ALLOW, DEVK },
	{ SYS_lseek, ALLOW, DEVK },
	{ SYS_getrandom, ALLOW, DEVK },
	{ SYS_epoll_ctl, ALLOW, DEVK },
	{ SYS_ioctl, KVM_IOCTL, DEVK },
	/* the event loop */
	{ SYS_epoll_wait, ALLOW, B(SBX_FILTER_BASE) | B(SBX_FILTER_EVENT) },
	{ SYS_epoll_pwait, ALLOW, B(SBX_FILTER_BASE) | B(SBX_FILTER_EVENT) },
	/* the caller's thread: stopping, statistics; the control thread: fds it was sent */
	{ SYS_close, ALLOW, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) | B(SBX_FILTER_CONTROL) },
	{ SYS_mincore, ALLOW, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	/* the parent's requests, a checkpoint's files with them (SCM_RIGHTS) */
	{ SYS_recvmsg, ALLOW, B(SBX_FILTER_BASE) | B(SBX_FILTER_CONTROL) },
	/* a checkpoint's disk switch, on the caller's thread with the machine paused */
	{ SYS_fcntl, LOCK_OR_DUP, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	/* starting threads (BASE only: no thread starts one after vm_run's) */
	{ SYS_clone, THREADS_ONLY, B(SBX_FILTER_BASE) },
	{ SYS_clone3, NO_CLONE3, B(SBX_FILTER_BASE) },
	{ SYS_set_robust_list, ALLOW, B(SBX_FILTER_BASE) },
	{ SYS_rseq, ALLOW, B(SBX_FILTER_BASE) },
	{ SYS_rt_sigaction, ALLOW, B(SBX_FILTER_BASE) },
	{ SYS_sigaltstack, ALLOW, B(SBX_FILTER_BASE) },
	/* each thread stacks its own list on the inherited one */
	{ SYS_seccomp, ADD_FILTER, B(SBX_FILTER_BASE) },
};

/* The KVM requests each kind may make; all on fds the process already holds. */
static const struct kvm_req {
	uint32_t req;
	unsigned kinds;
} kvm_reqs[] = {
	{ KVM_RUN, B(SBX_FILTER_BASE) | B(SBX_FILTER_VCPU) },
	/* vmm/kvm-exit.c describes an unexpected exit: registers, the bytes at RIP */
	{ KVM_GET_REGS, B(SBX_FILTER_BASE) | B(SBX_FILTER_VCPU) | B(SBX_FILTER_MAIN) },
	{ KVM_TRANSLATE, B(SBX_FILTER_BASE) | B(SBX_FILTER_VCPU) },
	/* a virtqueue's notify eventfd, bound and unbound as the driver sets it up or resets it */
	{ KVM_IOEVENTFD, DEVK },
	/* vm_save (vmm/vm-state.c), done on the main thread with the machine paused */
	{ KVM_GET_MSR_INDEX_LIST, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_CPUID2, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_MP_STATE, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_SREGS, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_XSAVE, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_XCRS, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_DEBUGREGS, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_LAPIC, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_MSRS, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_VCPU_EVENTS, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_IRQCHIP, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_PIT2, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_GET_CLOCK, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_KVMCLOCK_CTRL, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	/* vm_reset (the same thread): the snapshot's state loaded again */
	{ KVM_SET_CPUID2, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_MP_STATE, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_REGS, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_SREGS, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_XSAVE, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_XCRS, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_DEBUGREGS, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_LAPIC, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_MSRS, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_VCPU_EVENTS, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_IRQCHIP, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_PIT2, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	{ KVM_SET_CLOCK, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	/* diff snapshots: the guest's writes since the restore */
	{ KVM_GET_DIRTY_LOG, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
	/* a booted VM's first checkpoint turns its dirty log on (the same RAM, a flag) */
	{ KVM_SET_USER_MEMORY_REGION, B(SBX_FILTER_BASE) | B(SBX_FILTER_MAIN) },
};

#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))

struct prog {
	struct sock_filter *f;
	size_t n;
};

static void emit(struct prog *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	assert(p->n < SBX_FILTER_MAX_INSNS);
	p->f[p->n++] = (struct sock_filter){ code, jt, jf, k };
}

static void ret(struct prog *p, uint32_t action)
{
	emit(p, BPF_RET | BPF_K, action, 0, 0);
}

static size_t count_reqs(enum sbx_filter kind)
{
	size_t i, n = 0;

	for (i = 0; i < ARRAY_SIZE(kvm_reqs); i++)
		n += !!(kvm_reqs[i].kinds & B(kind));
	return n;
}

/* The accumulator holds the call's number; the block after a match ends in a return. */
static void emit_rule(struct prog *p, const struct rule *r, enum sbx_filter kind)
{
	size_t i, len;

	switch (r->how) {
	case ALLOW:
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0, 1);
		ret(p, SECCOMP_RET_ALLOW);
		break;
	case NO_CLONE3:
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0, 1);
		ret(p, SECCOMP_RET_ERRNO | ENOSYS);
		break;
	case NO_EXEC:
	case THREADS_ONLY:
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0, 4);
		emit(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(r->how == NO_EXEC ? 2 : 0), 0, 0);
		emit(p, BPF_JMP | BPF_JSET | BPF_K, r->how == NO_EXEC ? PROT_EXEC : CLONE_THREAD,
		     0, 1);
		ret(p, r->how == NO_EXEC ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_ALLOW);
		ret(p, r->how == NO_EXEC ? SECCOMP_RET_ALLOW : SECCOMP_RET_KILL_PROCESS);
		break;
	case ADD_FILTER:
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0, 6);
		emit(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0), 0, 0);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_SET_MODE_FILTER, 0, 3);
		emit(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(1), 0, 0);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
		ret(p, SECCOMP_RET_ALLOW);
		ret(p, SECCOMP_RET_KILL_PROCESS);
		break;
	case OWN_PROCESS:
		/* pids are at most 2^22: the low 32 bits are all of it */
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0, 4);
		emit(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0), 0, 0);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)getpid(), 0, 1);
		ret(p, SECCOMP_RET_ALLOW);
		ret(p, SECCOMP_RET_KILL_PROCESS);
		break;
	case LOCK_OR_DUP:
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0, 6);
		emit(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(1), 0, 0);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, F_OFD_SETLK, 0, 1);
		ret(p, SECCOMP_RET_ALLOW);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, F_DUPFD_CLOEXEC, 0, 1);
		ret(p, SECCOMP_RET_ALLOW);
		ret(p, SECCOMP_RET_KILL_PROCESS);
		break;
	case KVM_IOCTL:
		/* ioctl's request is an unsigned int: the low 32 bits are all of it */
		len = 2 + 2 * count_reqs(kind);
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0, (uint8_t)len);
		emit(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(1), 0, 0);
		for (i = 0; i < ARRAY_SIZE(kvm_reqs); i++) {
			if (!(kvm_reqs[i].kinds & B(kind)))
				continue;
			emit(p, BPF_JMP | BPF_JEQ | BPF_K, kvm_reqs[i].req, 0, 1);
			ret(p, SECCOMP_RET_ALLOW);
		}
		ret(p, SECCOMP_RET_KILL_PROCESS);
		break;
	}
}

size_t sbx_seccomp_build(struct sock_filter *prog, enum sbx_filter kind)
{
	struct prog p = { prog, 0 };
	size_t i;

	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	ret(&p, SECCOMP_RET_KILL_PROCESS);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
	/* x32 numbers (bit 30) reach the same calls under other numbers */
	emit(&p, BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
	ret(&p, SECCOMP_RET_KILL_PROCESS);
	for (i = 0; i < ARRAY_SIZE(rules); i++)
		if (rules[i].kinds & B(kind))
			emit_rule(&p, &rules[i], kind);
	ret(&p, SECCOMP_RET_KILL_PROCESS);
	return p.n;
}

const char *sbx_seccomp_name(enum sbx_filter kind)
{
	static const char *const names[] = { "base", "main", "vcpu", "event", "control" };

	return names[kind];
}

int sbx_seccomp_install(enum sbx_filter kind)
{
	struct sock_filter f[SBX_FILTER_MAX_INSNS];
	struct sock_fprog prog = { .len = (unsigned short)sbx_seccomp_build(f, kind), .filter = f };

	/* no TSYNC: each thread's filter is its own; BASE is inherited by later threads */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return sbx_error_errno(SBX_ERROR, "cannot install the %s seccomp filter",
				       sbx_seccomp_name(kind));
	return 0;
}
