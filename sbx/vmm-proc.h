/* SPDX-License-Identifier: MIT */
/*
 * Our VMM in a process of its own (docs/design.md, "The VMM process").
 *
 * The parent (git-sbx, which keeps the repository, the terminal and its
 * environment) forks and execs its own binary as `git-sbx vmm-child`, in a
 * new process group, with PR_SET_PDEATHSIG(SIGKILL) and no_new_privs, an
 * environment of SBX_* debugging and test variables only, and these fds
 * and no others:
 *
 *   0, 1  the console's input and output (the channel), or /dev/null
 *   2     the parent's stderr (the VMM's warnings)
 *   3     the report pipe, child -> parent (struct sbx_vmm_report)
 *   4     the control socket (a SOCK_SEQPACKET socketpair: the parent's
 *         send() cannot raise SIGPIPE, and a request is one message):
 *         one byte asks the VM to end; EOF (the parent went away) ends it
 *         too; a struct sbx_vmm_ckpt_msg with its files (SCM_RIGHTS)
 *         takes a checkpoint (below)
 *   5     the serial console's pipe or file (only with a serial log)
 *   6, 7  where a save writes the memory file and the state file (only
 *         with save_mem_fd/save_state_fd: the child cannot open files
 *         once it runs); the control byte 's' saves the VM into them and
 *         ends it (a SAVED report, then END; 'd': a diff snapshot of a
 *         restored VM, vm.h VM_SAVE_DIFF); 'r' resets a restored VM
 *         in place to its snapshot (a RESET report)
 *
 * A checkpoint (vm_checkpoint) never needs the child to open a file: the
 * parent creates the memory file, the state file and, per disk switched,
 * the new overlay over its current top (qcow2_create_overlay, holding the
 * overlay's exclusive lock) and opens the top read-only, and sends the
 * descriptors with the request; the VM goes on running (a CHECKPOINT
 * report).
 *
 * The child opens the disks, /dev/kvm, the kernel and the initramfs, makes
 * the VM, then denies itself the filesystem (Landlock), reports READY,
 * installs its seccomp filters (sbx/seccomp.h) and runs the VM.
 */
#ifndef SBX_SBX_VMM_PROC_H
#define SBX_SBX_VMM_PROC_H

#include "util/blockdev.h"
#include "vmm/vm.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct sbx_vmm_ckpt_result;

struct sbx_vmm_disk {
	const char *path;
	bool read_only;
	enum blockdev_format format;
	uint64_t limit;			/* bytes the file may take (sbx/disk-limit.h); 0: none */
};

struct sbx_vmm_spec {
	const char *kernel, *initrd, *cmdline;	/* initrd, cmdline: NULL for none */
	unsigned cpus;
	uint64_t mem_size;		/* a multiple of 2 MiB */
	uint64_t timeout_ms;		/* 0: none */
	struct sbx_vmm_disk disks[VM_MAX_DISKS];
	unsigned ndisks;
	int serial_fd;			/* -1: the UART's output is dropped */
	int console_in_fd, console_out_fd;	/* -1: no virtio-console */
	const char *console_port;	/* NULL: hvc0 */
	bool rng;
	int save_mem_fd, save_state_fd;	/* -1: sbx_vmm_save is refused */
	const char *restore_state;	/* non-NULL: start from this snapshot (vm_config.restore_*) */
	const char *restore_mem[VM_MAX_MEM_LAYERS];
	unsigned restore_nmem;
	/* Told about each in-place reset (sbx_vmm_reset) on sbx_vmm_wait's thread; NULL: nobody. */
	void (*on_reset)(void *opaque, int err, const char *error, uint64_t pause_ns);
	void *on_reset_opaque;
	/* Told about each checkpoint (sbx_vmm_checkpoint) on sbx_vmm_wait's thread; NULL: nobody. */
	void (*on_checkpoint)(void *opaque, const struct sbx_vmm_ckpt_result *r);
	void *on_checkpoint_opaque;
};
#define SBX_VMM_SPEC_INIT { .cpus = 1, .mem_size = 256ULL << 20, .serial_fd = -1, \
			    .console_in_fd = -1, .console_out_fd = -1, .rng = true, \
			    .save_mem_fd = -1, .save_state_fd = -1 }

/* The report pipe's records: fixed size, one write each (atomic below PIPE_BUF). */
#define SBX_VMM_REPORT_MAGIC 0x56584253u	/* "SBXV" */
enum sbx_vmm_report_type {
	SBX_VMM_READY = 1,	/* the VM exists; the filters go on next */
	SBX_VMM_FAILED,		/* set-up failed: err, error */
	SBX_VMM_DISK_FULL,	/* a write past a disk's limit was refused */
	SBX_VMM_END,		/* the VM ended: err, end, status, message, statistics */
	SBX_VMM_SAVED,		/* a save asked by sbx_vmm_save: err, error, save_* */
	SBX_VMM_RESET,		/* an in-place reset asked by sbx_vmm_reset: err, error, save_pause_ns */
	SBX_VMM_CHECKPOINT,	/* a checkpoint asked by sbx_vmm_checkpoint: err, error, save_*, ckpt_* */
};
#define SBX_VMM_REPORT_LAST SBX_VMM_CHECKPOINT
struct sbx_vmm_report {
	uint32_t magic, type;
	int32_t err;
	uint32_t end;			/* enum vm_end */
	uint8_t status_set, status;
	uint8_t ckpt_diff;		/* the memory file is a diff over the VM's chain */
	uint8_t ckpt_chain;		/* memory files a restore of it maps, 1..VM_MAX_MEM_LAYERS */
	uint8_t ckpt_switched;		/* bit i: disk i was switched (also after a failure) */
	uint8_t pad[3];
	uint64_t rss, guest_resident;
	uint64_t save_pause_ns, save_mem_bytes, save_state_bytes;
	char message[256];		/* vm_result.message */
	char error[512];		/* sbx_error() with err */
};

struct sbx_vmm_result {
	struct vm_result vr;
	bool disk_full;
	uint64_t rss, guest_resident;
	bool saved;			/* a SAVED report came: save_err says how it went */
	int save_err;
	char save_error[512];
	struct vm_save_info save;
};

struct sbx_vmm;

/*
 * Start the VMM process and wait until its VM exists (the fds in `spec`
 * stay the caller's; close them after).  On failure the process is gone.
 */
int sbx_vmm_start(struct sbx_vmm **out, const struct sbx_vmm_spec *spec);
/*
 * Wait for the VM's end (any thread; once).  0 with *res filled; or a
 * negative SBX_ code when the VMM failed or died (res->vr says so too, as
 * VM_END_ERROR with a message: a SIGSYS death is named as the seccomp
 * filter's doing).  The process is left a zombie until sbx_vmm_free().
 */
int sbx_vmm_wait(struct sbx_vmm *v, struct sbx_vmm_result *res);
/* Has the VMM reported a refused write past a disk limit?  (Set by sbx_vmm_wait.) */
bool sbx_vmm_disk_full(const struct sbx_vmm *v);
/* Ask the VM to end ("the sandbox was stopped"); any thread. */
void sbx_vmm_stop(struct sbx_vmm *v);
/*
 * Ask the VMM to save the VM into the spec's save fds and end it; any
 * thread.  How it went comes with sbx_vmm_wait (res->saved, save_err).
 */
int sbx_vmm_save(struct sbx_vmm *v);
/* Ask the VMM to reset its restored VM in place; how it went goes to spec.on_reset. */
int sbx_vmm_reset(struct sbx_vmm *v);
/*
 * A checkpoint request: this, sent as one message with 2 + 2 * ndisks
 * descriptors (SCM_RIGHTS) in this order: the memory file and the state
 * file (both read-write, empty), then for disk[i] the new overlay
 * (read-write, its exclusive OFD lock held) and its current top
 * (read-only).  A malformed request is answered with a failed CHECKPOINT
 * report and its descriptors closed; the VM goes on.
 */
#define SBX_VMM_CKPT_OP		'c'
#define SBX_VMM_CKPT_FULL	1u	/* a full memory file (vm.h VM_CKPT_FULL) */
struct sbx_vmm_ckpt_msg {
	uint8_t op;			/* SBX_VMM_CKPT_OP */
	uint8_t flags;			/* SBX_VMM_CKPT_FULL */
	uint8_t ndisks;			/* disks switched, 0..VM_MAX_DISKS */
	uint8_t disk[VM_MAX_DISKS];	/* their indices in the spec's disks */
};
#define SBX_VMM_CKPT_MAX_FDS	(2 + 2 * VM_MAX_DISKS)

/* How a checkpoint went, for spec.on_checkpoint. */
struct sbx_vmm_ckpt_result {
	int err;			/* 0, or the negative SBX_ code */
	char error[512];
	struct vm_save_info info;	/* pause_ns, mem_bytes, state_bytes, diff, chain, switched */
};

/* A disk to switch at a checkpoint: its index in the spec and the two descriptors. */
struct sbx_vmm_ckpt_disk {
	unsigned disk;
	int overlay_fd;			/* qcow2_create_overlay's, read-write and locked */
	int frozen_fd;			/* the disk's current top, read-only */
};
/*
 * Ask the VMM to checkpoint the VM (vm_checkpoint) into mem_fd and
 * state_fd and to switch each disk in d[0..n); flags: SBX_VMM_CKPT_FULL.
 * The descriptors are sent (copies): the caller closes its own when this
 * returns.  How it went comes to spec.on_checkpoint; one at a time.
 */
int sbx_vmm_checkpoint(struct sbx_vmm *v, int mem_fd, int state_fd,
		       const struct sbx_vmm_ckpt_disk *d, unsigned n, unsigned flags);
/* The control socket, for a signal handler that sends 's' itself (send is async-signal-safe). */
int sbx_vmm_control_fd(const struct sbx_vmm *v);
/* SIGKILL the VMM's process group; any thread.  sbx_vmm_wait then returns. */
void sbx_vmm_kill(struct sbx_vmm *v);
pid_t sbx_vmm_pid(const struct sbx_vmm *v);
/* Kill (if still running) and reap the process, close our pipes; NULL is a no-op. */
void sbx_vmm_free(struct sbx_vmm *v);

/* `git-sbx vmm-child ...`: the child's side (sbx/vmm-child.c); returns its exit status. */
int sbx_vmm_child_main(int argc, const char **argv);

#endif
