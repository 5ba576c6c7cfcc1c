/* SPDX-License-Identifier: MIT */
/*
 * The contract between the machine (vmm/vm.c: KVM, vCPUs, the event thread)
 * and the devices (vmm/virtio-*.c, vmm/serial.c, ...).
 *
 * The machine gives each device a `struct vm_dev_env`: guest memory, an
 * interrupt line, the event thread and ioeventfd registration.  A device
 * gives the machine a `struct mmio_device`: its register window's size and
 * read/write callbacks, called from vCPU threads on MMIO exits (the machine
 * serialises calls per device; a device that also works from the event
 * thread protects its own state).
 *
 * Threads: vCPU threads call read/write; the event thread calls fd
 * callbacks.  Devices do their data-path work (virtqueue processing) on the
 * event thread, woken by an ioeventfd on QueueNotify, and signal the guest
 * with vm_dev_env.irq(), which goes to KVM_IRQFD, so neither direction costs
 * a vCPU exit.
 */
#ifndef SBX_VMM_DEVICE_H
#define SBX_VMM_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/guest-mem.h"

struct vs_buf;
struct vs_cur;

#define VM_FD_READABLE	1u
#define VM_FD_WRITABLE	2u

struct vm_dev_env {
	struct guest_mem *mem;
	void *vm;		/* opaque, passed back to the callbacks below */
	uint64_t mmio_base;	/* where the machine put this device's window */
	unsigned gsi;		/* this device's interrupt line (described in the DSDT) */

	/*
	 * Raise the device's interrupt: an edge on `gsi` through KVM_IRQFD
	 * (virtio-mmio's driver re-reads InterruptStatus, so edge is enough).
	 * Safe from any thread.
	 */
	void (*irq)(void *vm, unsigned gsi);
	/*
	 * Call `ready(opaque)` on the event thread whenever `fd` is readable.
	 * Returns 0 or a negative SBX_ code.
	 */
	int (*add_fd)(void *vm, int fd, void (*ready)(void *opaque), void *opaque);
	/* Also safe on the event thread from any callback, that fd's own included. */
	void (*del_fd)(void *vm, int fd);
	/*
	 * Optional (NULL: not offered).  Choose what wakes the callback of an
	 * fd added with add_fd: a mask of VM_FD_READABLE and VM_FD_WRITABLE
	 * (add_fd starts with VM_FD_READABLE), level-triggered like add_fd
	 * (epoll_ctl EPOLL_CTL_MOD).  The callback is not told which: it tries
	 * both directions.  Called on the event thread, also from within that
	 * fd's own callback.  virtio-console uses it to wait until its output
	 * fd can take more bytes; without it, it blocks in poll() instead.
	 */
	int (*set_fd_events)(void *vm, int fd, unsigned events);
	/*
	 * A guest write of `len` bytes equal to `datamatch` at guest-physical
	 * `addr` signals eventfd `fd` (KVM_IOEVENTFD) instead of a vCPU exit.
	 * Returns 0 or a negative SBX_ code (the device then falls back to the
	 * write callback, which must handle the register too).
	 */
	int (*add_ioeventfd)(void *vm, uint64_t addr, unsigned len, uint64_t datamatch, int fd);
	void (*del_ioeventfd)(void *vm, uint64_t addr, unsigned len, uint64_t datamatch, int fd);
};

struct mmio_device {
	const char *name;		/* for messages: "virtio-blk" */
	uint64_t size;			/* window size, e.g. 0x200 for virtio-mmio */
	void *opaque;
	/* `len` is 1, 2, 4 or 8; `offset` < size.  Reads fill `data`. */
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, unsigned len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, unsigned len);
	/* Stop work and free; called in reverse order of creation. */
	void (*stop)(void *opaque);
	/* ACPI: the DSDT describes a virtio-mmio device as LNRO0005 when set. */
	bool is_virtio_mmio;
	/*
	 * Optional, for snapshots (vmm/vm-state.c): `save` appends the
	 * device's state to `b` while the machine is paused; `restore` reads
	 * it back before any thread runs, from a snapshot that is untrusted
	 * input: check every value, return SBX_ECORRUPT with a message.
	 */
	int (*save)(void *opaque, struct vs_buf *b);
	int (*restore)(void *opaque, struct vs_cur *c);
};

/* Port I/O devices (8250 serial, i8042, the exit register) use the same shape. */
struct pio_device {
	const char *name;
	uint16_t base, size;
	void *opaque;
	void (*read)(void *opaque, uint16_t offset, uint8_t *data, unsigned len);
	void (*write)(void *opaque, uint16_t offset, const uint8_t *data, unsigned len);
	void (*stop)(void *opaque);
	int (*save)(void *opaque, struct vs_buf *b);	/* as in mmio_device */
	int (*restore)(void *opaque, struct vs_cur *c);
};

#endif
