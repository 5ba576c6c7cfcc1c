/* SPDX-License-Identifier: MIT */
/*
 * A sandbox: one microVM booted from an image with a task disk, and the
 * channel session to sbx-init inside it.  Our VMM runs it where /dev/kvm
 * works; elsewhere the same machine (kernel, initramfs, disks, console
 * channel) goes to qemu-system-x86_64 -M microvm under TCG, with a warning.
 *
 * Disks: /dev/vda = the image's root.sqfs (read-only), /dev/vdb = the task
 * disk (a qcow2 overlay over the image's empty ext4), in that order.
 */
#ifndef SBX_SBX_SANDBOX_H
#define SBX_SBX_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sbx/channel.h"
#include "sbx/image.h"

enum sbx_backend {
	SBX_BACKEND_AUTO,	/* our VMM when /dev/kvm works, QEMU (TCG) otherwise */
	SBX_BACKEND_VMM,
	SBX_BACKEND_QEMU,
};

#define SBX_SANDBOX_MAX_MEM 16	/* memory files a restore maps (vmm/vm.h VM_MAX_MEM_LAYERS) */

struct sbx_sandbox_opts {
	const struct sbx_image *image;
	const char *task_disk;		/* a qcow2 image; see sbx_sandbox_make_disk() */
	unsigned cpus;			/* default 2 */
	uint64_t memory;		/* bytes; default 1 GiB */
	uint64_t boot_timeout_ms;	/* until sbx-init says hello; 0: sbx.bootTimeout or 120 s (600 s under TCG) */
	uint64_t vm_timeout_ms;		/* the VM's whole life; 0 = none */
	const char *serial_log;		/* the guest kernel's console; NULL = discard */
	uint64_t serial_max;		/* bytes serial_log may hold, a note included; 0 = no cap */
	uint64_t disk_limit;		/* bytes the task disk's file may take; 0 = none (VMM only) */
	enum sbx_backend backend;
	const char *qemu_why;		/* with backend QEMU: why, for the warning (sbx_sandbox_resolve) */
	bool quiet;			/* no warning about emulation */
	/*
	 * Memory snapshots, our VMM only (sbx/vmm-proc.h).  With `save`,
	 * sbx_sandbox_save() saves the VM into the two fds (the caller's; the
	 * VMM writes them).  With restore_state and restore_mem the VM starts
	 * where a save left it instead of booting: same cpus, memory and
	 * image, and a task disk in the state it was saved in (a new overlay
	 * over that layer); the session is attached and reseeded
	 * (sbx_session_reseed) before sbx_sandbox_start() returns.
	 */
	bool save;
	int save_mem_fd, save_state_fd;
	const char *restore_state, *restore_mem;
	/*
	 * Or a chain of memory files (a full one, then its diffs in order:
	 * a checkpoint's, sbx_sandbox_checkpoint); restore_nmem > 0 wins over
	 * restore_mem.
	 */
	const char *restore_mem_chain[SBX_SANDBOX_MAX_MEM];
	unsigned restore_nmem;
};
/* The console log's cap (sbx.maxConsoleLogSize for tasks): the guest is root and may flood it. */
#define SBX_SANDBOX_DEFAULT_SERIAL_MAX (4ULL << 20)
#define SBX_SANDBOX_OPTS_INIT { .cpus = 2, .memory = 1ULL << 30, \
				.serial_max = SBX_SANDBOX_DEFAULT_SERIAL_MAX, \
				.save_mem_fd = -1, .save_state_fd = -1 }

struct sbx_sandbox;

/* Create a task disk: a qcow2 overlay (with subclusters) over the image's task base. */
int sbx_sandbox_make_disk(const struct sbx_image *image, const char *path);
/* A task disk over a frozen qcow2 layer (a warm base's), not the image's. */
int sbx_sandbox_make_disk_over(const char *layer, const char *path);
/*
 * The backend AUTO stands for here: our VMM when the KVM check passes,
 * else QEMU with the check's summary in why (for opts.qemu_why).
 */
enum sbx_backend sbx_sandbox_resolve(enum sbx_backend b, char *why, size_t whylen);
/* The kernel command line every sandbox boots with (a warm base's key holds it). */
extern const char sbx_sandbox_cmdline[];

/* Boot and wait for sbx-init's hello.  On failure the VM is gone. */
int sbx_sandbox_start(struct sbx_sandbox **out, const struct sbx_sandbox_opts *o);
struct sbx_session *sbx_sandbox_session(struct sbx_sandbox *sb);
/* The process that runs the VM (our VMM's, or QEMU's), for resource samples; 0 when none. */
pid_t sbx_sandbox_pid(const struct sbx_sandbox *sb);
/* Milliseconds from start to hello. */
uint64_t sbx_sandbox_boot_ms(const struct sbx_sandbox *sb);
const char *sbx_sandbox_backend_name(const struct sbx_sandbox *sb);
/* Has the guest written past opts.disk_limit? */
bool sbx_sandbox_disk_full(const struct sbx_sandbox *sb);
/* A restored sandbox: the reseed's answer (sbx/channel.h); NULL for a booted one. */
const struct sbx_reseed_result *sbx_sandbox_reseed(const struct sbx_sandbox *sb);

/*
 * Save the VM (opts.save) into the save fds and end it; the sandbox is
 * freed either way.  The session must be idle: no exec running, no stream
 * the guest opened still open (it waits up to 5 s for those to close).
 * 0 when the VMM said the save succeeded and the VM ended saved (its disks
 * closed: the task disk is the layer that belongs with the save), with
 * *info filled when non-NULL.
 */
struct sbx_sandbox_saved {
	uint64_t pause_ns, mem_bytes, state_bytes;
	bool diff;		/* checkpoints: the memory file is a diff over the chain before it */
	unsigned chain;		/* checkpoints: memory files a restore of it maps (1: a full one) */
};
int sbx_sandbox_save(struct sbx_sandbox *sb, struct sbx_sandbox_saved *info);

/*
 * A checkpoint of the running VM (our VMM only; QEMU: SBX_EUNSUPPORTED):
 * the guest paused at a clean point, its memory and state written to
 * `mem_path` and `state_path` and the task disk switched to a new empty
 * overlay `new_layer` over its current layer, which is frozen from then on
 * (the layer that belongs with this checkpoint), then the guest resumes;
 * the session goes on as before.  The three files must not exist; this
 * creates them (the VMM cannot) and syncs them.  The memory file is a diff
 * over the VM's memory chain (the restored snapshot's files, then each
 * checkpoint's since) when there is one, else full (a booted VM's first);
 * SBX_SANDBOX_CKPT_FULL asks for a full one, which starts a new chain.  A
 * diff that would make the chain longer than SBX_SANDBOX_MAX_MEM is
 * refused with SBX_ELIMIT (take a full one).  To restore checkpoint k:
 * opts.restore_mem_chain = its chain (info->chain files: the last ones of
 * the chain before it, then mem_path), restore_state = state_path, and a
 * task disk made over the frozen layer (sbx_sandbox_make_disk_over).
 *
 * The current layer is opts.task_disk at first, then each successful
 * checkpoint's new_layer.  On failure the memory and state files are
 * removed, and new_layer too unless the VMM switched to it anyway (then it
 * is the current layer: sbx_sandbox_top() says which).  No answer from the
 * VMM within its deadline kills the VM (SBX_ETIMEDOUT), leaving new_layer
 * (an orphan or the last layer written) for the caller's gc.
 */
#define SBX_SANDBOX_CKPT_FULL 1u
int sbx_sandbox_checkpoint(struct sbx_sandbox *sb, const char *mem_path, const char *state_path,
			   const char *new_layer, unsigned flags, struct sbx_sandbox_saved *info);
/* The task disk's current (writable) layer: opts.task_disk or the last checkpoint's new_layer. */
const char *sbx_sandbox_top(const struct sbx_sandbox *sb);

struct sbx_sandbox_end {
	bool clean;		/* sbx-init powered the VM off when asked */
	bool disk_full;		/* the guest wrote past disk_limit */
	char message[256];
};
/*
 * Ask sbx-init to power off (when the session is still good), wait for the
 * VM to end (forcing it after a grace period) and free everything.
 */
int sbx_sandbox_stop(struct sbx_sandbox *sb, bool session_ok, struct sbx_sandbox_end *end);

#endif
