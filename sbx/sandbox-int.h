// SPDX-License-Identifier: MIT
/*
 * The sandbox's insides, shared by sbx/sandbox.c (the session, our VMM,
 * stopping, snapshots) and sbx/sandbox-qemu.c (the QEMU fallback).
 * Internal to sbx/.
 */
#ifndef SBX_SANDBOX_INT_H
#define SBX_SANDBOX_INT_H

#include "sbx/sandbox.h"
#include "sbx/console-log.h"
#include "sbx/vmm-proc.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CMDLINE "console=ttyS0 quiet loglevel=4 panic=-1 reboot=t sbx.root=/dev/vda sbx.task=/dev/vdb"

struct sbx_sandbox {
	enum sbx_backend backend;
	int chan;			/* our end of the channel */
	struct sbx_session *session;
	uint64_t boot_ms;
	/* our VMM, in a process of its own (sbx/vmm-proc.h) */
	struct sbx_vmm *vmm;
	int vm_chan;			/* the VMM's end, until it has it */
	int serial_fd;			/* the UART's end of the console pipe, until the VMM has it */
	pthread_t thread;		/* waits for the VMM process */
	bool thread_started;
	struct sbx_vmm_result vres;
	struct vm_result vr;
	int vm_err;
	volatile int vm_done;
	/* QEMU */
	pid_t qemu;
	char sock_dir[64];
	char qemu_why[512];		/* why QEMU: the KVM check's summary, or "--backend qemu" */
	/* the serial console, into o->serial_log with a cap (both backends) */
	struct sbx_console_log *console;
	int threads_before;		/* our VMM with SBX_CHECK_LEAKS=1, else 0 */
	bool restored;
	struct sbx_reseed_result reseed;
	/* checkpoints: the task disk's writable layer, and the VMM's answer (vm_thread sets it) */
	char *top;
	pthread_mutex_t ckpt_lock;
	pthread_cond_t ckpt_cond;
	bool ckpt_done;
	struct sbx_vmm_ckpt_result ckpt;
};

/* Start QEMU (TCG) for `o`: sb->qemu, its socket directory, sb->chan, sb->console. */
int sbx_sandbox_start_qemu(struct sbx_sandbox *sb, const struct sbx_sandbox_opts *o);

#endif
