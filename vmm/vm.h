/* SPDX-License-Identifier: MIT */
/*
 * The machine: one KVM VM with guest RAM, an in-kernel irqchip and PIT,
 * 1..N vCPUs (one thread each), an event thread (epoll) for device work,
 * and a fixed, ordered table of devices, booted straight into a Linux
 * bzImage (vmm/boot.c) with ACPI tables (vmm/acpi.c) describing it.
 *
 * Guest-physical memory map (see also docs/design.md, "The VMM"):
 *
 *   0x00000500  GDT                     0x00007000  boot_params (zero page)
 *   0x00008ff0  boot stack top          0x00009000  page tables (PML4, PDPT, 4 PD)
 *   0x00020000  kernel command line     0x0009f000  VM generation ID (e820-reserved page)
 *   0x000e0000  ACPI tables (RSDP first)
 *   0x00100000  the kernel's protected-mode image; the initramfs at the top
 *               of RAM below min(initrd_addr_max, 3 GiB)
 *   0xc0000000  32-bit MMIO hole (RAM resumes at 4 GiB, vmm/guest-mem.h):
 *     0xd0000000  the exit register (one page, VM_EXIT_REG_*)
 *     0xd0001000  virtio-mmio windows, one 4 KiB slot each, GSI 5, 6, ... (at most 16)
 *     0xfec00000  IOAPIC                0xfee00000  local APICs
 *     0xfffbc000  KVM identity map page, 0xfffbd000 KVM TSS (3 pages)
 *
 * GSI 23: the ACPI Generic Event Device that announces a new VM generation
 * ID (vmm/vmgenid.h), edge-triggered, nothing else on it.
 *
 * Port I/O: 0x3f8 8250 UART (GSI 4), 0x60/0x64 i8042 stub, 0x600 ACPI
 * sleep control, 0x601 ACPI sleep status, 0x602 ACPI reset register.
 * Every other port reads as 0xff and ignores writes.
 */
#ifndef SBX_VMM_VM_H
#define SBX_VMM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "util/blockdev.h"
#include "vmm/device.h"

#define VM_MAX_CPUS		64
#define VM_MAX_DISKS		8
#define VM_MIN_MEMORY		(64ULL << 20)
#define VM_MAX_MEM_LAYERS	16	/* a full memory snapshot and its diffs */

/*
 * The exit register: a guest writes its exit status here before powering
 * off; `git sbx vm run` exits with it.  32-bit MMIO accesses at:
 *   +0x0 STATUS  write: latch the low 8 bits as the exit status
 *                read: the latched status (0 until written)
 *   +0x4 EXIT    write: latch the low 8 bits and end the VM at once
 *   +0x8 MAGIC   read: 0x58584253 ("SBXX"), to detect the register
 */
#define VM_EXIT_REG_BASE	0xd0000000ULL
#define VM_EXIT_REG_SIZE	0x1000ULL
#define VM_EXIT_REG_STATUS	0x0
#define VM_EXIT_REG_EXIT	0x4
#define VM_EXIT_REG_MAGIC	0x8
#define VM_EXIT_MAGIC		0x58584253u

#define VM_VIRTIO_BASE		0xd0001000ULL
#define VM_VIRTIO_SLOT		0x1000ULL
#define VM_VIRTIO_FIRST_GSI	5
#define VM_MAX_GSI		23	/* the IOAPIC has 24 pins */
#define VM_VMGENID_GSI		23	/* the VM generation ID's event device, its own line */

#define VM_IOAPIC_ADDR		0xfec00000ULL
#define VM_LAPIC_ADDR		0xfee00000ULL
#define VM_IDENTITY_MAP_ADDR	0xfffbc000ULL
#define VM_TSS_ADDR		0xfffbd000ULL

#define VM_SERIAL_PORT		0x3f8
#define VM_SERIAL_GSI		4
#define VM_SLEEP_CONTROL_PORT	0x600
#define VM_SLEEP_STATUS_PORT	0x601
#define VM_SLEEP_TYPE_S5	5	/* SLP_TYP of \_S5 in our DSDT */
#define VM_RESET_PORT		0x602	/* the FADT's reset register */
#define VM_RESET_VALUE		0x0e

struct vm;

/* The threads a VM runs on, for vm_config.thread_hook. */
enum vm_thread_kind {
	VM_THREAD_MAIN,		/* the caller of vm_run, once every other thread runs */
	VM_THREAD_EVENT,	/* the event thread (epoll, device work) */
	VM_THREAD_VCPU,		/* one per vCPU (KVM_RUN, PIO/MMIO dispatch); index = vCPU id */
};

struct vm_config {
	const char *kernel;		/* path of a bzImage */
	const char *initrd;		/* path or NULL */
	const char *cmdline;		/* NULL: empty */
	unsigned cpus;			/* 1..VM_MAX_CPUS */
	uint64_t mem_size;		/* bytes, >= VM_MIN_MEMORY, a multiple of 2 MiB */
	uint64_t timeout_ms;		/* 0: none */
	int serial_fd;			/* where the UART's output goes; -1: nowhere */
	struct blockdev *disks[VM_MAX_DISKS];	/* owned by the caller */
	unsigned ndisks;
	bool console;			/* a virtio-console on console_in/out_fd */
	int console_in_fd, console_out_fd;
	const char *console_port;	/* non-NULL: a named virtio port, not hvc0 */
	bool rng;			/* a virtio-rng */
	/*
	 * NULL, or called first on each thread vm_run starts (and on the
	 * caller's thread once they all run); nonzero (with sbx_error set)
	 * ends the VM with VM_END_ERROR.  sbx/vmm-child.c installs each
	 * thread's seccomp filter here.
	 */
	int (*thread_hook)(enum vm_thread_kind kind, unsigned index, void *opaque);
	void *hook_opaque;
	/*
	 * Restore: with restore_state_fd >= 0 the machine starts from a
	 * snapshot (vm_save) instead of booting: guest RAM is a copy-on-write
	 * mapping of the memory files restore_mem_fds[0..n) (a full snapshot,
	 * then its diffs in order; snapshot/memfile.h), every vCPU, the
	 * irqchip, the clock and the devices as they were.  kernel, initrd and
	 * cmdline are ignored; cpus, mem_size and the devices (disks, console,
	 * rng) must be the snapshot's.  The fds stay the caller's.
	 */
	int restore_state_fd;
	int restore_mem_fds[VM_MAX_MEM_LAYERS];
	unsigned restore_nmem;
};
#define VM_CONFIG_INIT { .cpus = 1, .mem_size = 256ULL << 20, .serial_fd = -1, \
			 .console_in_fd = -1, .console_out_fd = -1, .rng = true, \
			 .restore_state_fd = -1 }

enum vm_end {
	VM_END_NONE,
	VM_END_POWEROFF,	/* ACPI S5 */
	VM_END_EXIT,		/* a write to the exit register's EXIT */
	VM_END_REBOOT,		/* i8042 reset (the guest's reboot) */
	VM_END_TRIPLE_FAULT,	/* KVM_EXIT_SHUTDOWN */
	VM_END_TIMEOUT,		/* vm_config.timeout_ms passed */
	VM_END_ERROR,		/* KVM or the VMM failed; see message */
	VM_END_SAVED,		/* vm_save with VM_SAVE_STOP wrote the machine, then ended it */
};
#define VM_END_LAST VM_END_SAVED

struct vm_result {
	enum vm_end end;
	bool status_set;	/* the guest wrote the exit register */
	uint8_t status;		/* what it wrote */
	char message[256];	/* for VM_END_ERROR and VM_END_TRIPLE_FAULT */
};

/*
 * Check KVM, create the VM with its memory, irqchip, vCPUs and devices,
 * and load the kernel.  Returns 0 or a negative SBX_ code (SBX_ENOKVM when
 * KVM lacks something we need, SBX_ECORRUPT for a bad kernel image).
 */
int vm_create(struct vm **out, const struct vm_config *cfg);
/* Run until the guest ends or the timeout passes; then stop every thread. */
int vm_run(struct vm *vm, struct vm_result *res);
/* Stop devices in reverse order and free everything; NULL is a no-op. */
void vm_free(struct vm *vm);
/*
 * A new VM generation (vmm/vmgenid.h): a new random VM generation ID in
 * guest memory and its ACPI event, so a guest kernel with CONFIG_VMGENID
 * reseeds its CRNG.  Call after restoring a snapshot's memory, irqchip and
 * vCPU state, as the vCPUs resume.  Any thread.  0 or a negative SBX_ code.
 */
int vm_bump_generation(struct vm *vm);

/* Statistics for benchmarks, valid after vm_run and before vm_free. */
struct vm_stats {
	uint64_t rss;		/* the process's resident set size */
	uint64_t guest_resident; /* resident bytes of guest RAM */
};
/* status_fd: an open /proc/self/status (read from its start), or -1 to open it. */
int vm_get_stats(struct vm *vm, struct vm_stats *st, int status_fd);

/*
 * Snapshots (vmm/vm-state.c; the files are described in docs/formats.md).
 *
 * vm_save pauses every vCPU and the event thread at a clean point (no
 * vCPU inside an MMIO or port access, no device callback running, so no
 * block request in flight), writes guest RAM to mem_fd (zero pages as
 * holes) and everything else to state_fd, then resumes the machine, or
 * with VM_SAVE_STOP ends it (VM_END_SAVED).  Any thread but the VM's
 * own, while vm_run runs: the work is done on vm_run's thread (whose
 * seccomp filter allows it) and this call waits for it.
 *
 * The disks are not part of a snapshot: their state at the moment of the
 * save belongs with it, so a caller that keeps the VM running must stop
 * writing to those layers (VM_SAVE_STOP, or a new overlay) itself.
 */
#define VM_SAVE_STOP	1u
/*
 * A diff snapshot: only the pages written since the VM was restored (KVM's
 * dirty log and the VMM's own writes), on top of the memory files it was
 * restored from (their chain plus this file restores it).
 */
#define VM_SAVE_DIFF	2u
struct vm_save_info {
	uint64_t pause_ns;	/* how long the guest was paused */
	uint64_t mem_bytes;	/* bytes of RAM data written (not holes) */
	uint64_t state_bytes;	/* size of the state file */
	bool diff;		/* the memory file is a diff over the VM's memory chain */
	unsigned chain;		/* memory files a restore of this save maps (1: a full file) */
	uint32_t switched;	/* vm_checkpoint: bit i set = disk i was switched */
};
/*
 * A save without VM_SAVE_STOP leaves the VM running with its memory chain
 * ending in the new file: a later diff (VM_SAVE_DIFF, a checkpoint) holds
 * the pages written since this save and goes over it.  A diff needs a chain
 * under it (a restored VM, or one saved before) and room in it: a restore
 * maps at most VM_MAX_MEM_LAYERS files, so a diff that would make the
 * chain longer is refused (SBX_ELIMIT, saying so; take a full one).
 */
int vm_save(struct vm *vm, int mem_fd, int state_fd, unsigned flags, struct vm_save_info *info);

/*
 * A checkpoint of a running VM: in one pause, a save (no VM_SAVE_STOP: the
 * VM goes on) and a switch of each disk in sw[0..nsw) to a new overlay
 * (blockdev_ops.switch_fd), so the memory and state files and the frozen
 * disk layers hold the same instant.  The memory file is a diff over the
 * VM's chain when it has one (a restored VM, or after an earlier
 * checkpoint), else full; VM_CKPT_FULL asks for a full one (a new chain).
 * A booted VM's first checkpoint is full and starts its dirty log (KVM's
 * and the VMM's own), so later ones are diffs.  On success each switched
 * disk owns its two fds and info->chain says how many memory files a
 * restore of this checkpoint maps.  On failure the memory chain is as
 * before (the pages the save took from the dirty log are put back); a disk
 * switch that failed stops the rest, and info->switched says which disks
 * did switch (they own their fds and write to their new overlays now; the
 * caller closes the fds of the others).  Disks not named are not touched
 * (a read-only one needs nothing; a writable one not switched goes on
 * writing to the layer that was to be frozen).  Threads as for vm_save.
 */
#define VM_CKPT_FULL	4u
struct vm_disk_switch {
	unsigned disk;		/* index in vm_config.disks */
	int overlay_fd;		/* blockdev_ops.switch_fd's arguments */
	int frozen_fd;
	const char *name;
};
int vm_checkpoint(struct vm *vm, int mem_fd, int state_fd, const struct vm_disk_switch *sw,
		  unsigned nsw, unsigned flags, struct vm_save_info *info);
/*
 * In-place reset of a restored VM (cfg.restore_state_fd was set): back to
 * that snapshot without a new process or KVM VM: RAM mapped from the
 * memory files again, every writable disk reverted (blockdev_ops.revert:
 * a fresh qcow2 overlay), the state loaded again, a new VM generation.
 * Threads as for vm_save; info->pause_ns is how long it took.  A failure
 * half way ends the VM (VM_END_ERROR).  Refused (before anything changes)
 * once a checkpoint switched a disk: the disk cannot go back past that.
 */
int vm_reset(struct vm *vm, struct vm_save_info *info);

/* For devices: end the VM (the first call wins; safe from any thread). */
void vm_request_end(struct vm *vm, enum vm_end end, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* For devices: record the guest's exit status. */
void vm_set_exit_status(struct vm *vm, uint8_t status);

#endif
