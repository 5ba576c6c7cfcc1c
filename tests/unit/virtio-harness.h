/* SPDX-License-Identifier: MIT */
/*
 * A stand-in machine and driver for the virtio unit tests: plain-memory
 * guest RAM, a fake vm_dev_env (interrupt counter, fd table run by a
 * poll() loop, ioeventfd emulation) and register-level driver helpers that
 * build rings and descriptor chains the way a guest would.  No KVM.
 */
#ifndef SBX_TESTS_VIRTIO_HARNESS_H
#define SBX_TESTS_VIRTIO_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/device.h"
#include "vmm/guest-mem.h"

#define VH_MAX_FDS	16
#define VH_MAX_QUEUES	8
#define VH_QSIZE	256
#define VH_BASE		0xd0000000ULL	/* the fake window's guest-physical base */

struct vh_fd {
	int fd;
	void (*cb)(void *opaque);
	void *opaque;
	unsigned events;
	bool used;
};

struct vh_ioeventfd {
	uint64_t addr;
	uint64_t datamatch;
	int fd;
	bool used;
};

struct vh_queue {
	uint16_t size;
	uint64_t desc, avail, used;	/* guest-physical */
	uint16_t avail_idx, used_seen, next_desc;
};

struct vh {
	struct guest_mem mem;
	struct vm_dev_env env;
	struct mmio_device *dev;
	unsigned irqs;
	bool ioeventfd_ok;		/* does add_ioeventfd succeed? */
	struct vh_fd fds[VH_MAX_FDS];
	struct vh_ioeventfd iofds[VH_MAX_QUEUES];
	struct vh_queue q[VH_MAX_QUEUES];
	uint64_t next_buf;		/* bump allocator for buffers, from 1 MiB */
};

struct vh_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;			/* device-writable */
};

/* Guest RAM of `size` bytes (`low` below the hole; the rest at 4 GiB). */
void vh_init(struct vh *h, uint64_t size, uint64_t low);
/* Stop the device (if any) and free everything. */
void vh_fini(struct vh *h);

uint32_t vh_r32(struct vh *h, uint64_t off);
void vh_w32(struct vh *h, uint64_t off, uint32_t v);
uint64_t vh_read(struct vh *h, uint64_t off, unsigned len);

/*
 * The driver's initialisation: reset, ACKNOWLEDGE, DRIVER, accept
 * `features` (& offered if `only_offered`), FEATURES_OK, set up `nq`
 * queues of `qsize`, DRIVER_OK.  Returns the Status register read at the end.
 */
uint32_t vh_setup(struct vh *h, uint64_t features, unsigned nq, unsigned qsize);
uint64_t vh_device_features(struct vh *h);

uint64_t vh_alloc(struct vh *h, uint64_t len);
void *vh_ptr(struct vh *h, uint64_t gpa, uint64_t len);

/* Descriptor `i` of queue `q` (table `table`, or the queue's own when 0). */
void vh_desc_at(struct vh *h, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
		uint16_t flags, uint16_t next);
void vh_desc(struct vh *h, unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
	     uint16_t next);
/* Write `n` buffers as a chain from the queue's next free descriptors; returns the head. */
uint16_t vh_chain(struct vh *h, unsigned q, unsigned n, const struct vh_buf *bufs);
/* Make `head` available (avail ring + idx) and notify the device. */
void vh_avail(struct vh *h, unsigned q, uint16_t head);
void vh_publish(struct vh *h, unsigned q, uint16_t head);	/* without the notify */
void vh_kick(struct vh *h, unsigned q);
/* Run the fake event thread until nothing is ready (bounded). */
void vh_run(struct vh *h);
/* The next used element of `q`: 1 with one, 0 if none. */
int vh_used(struct vh *h, unsigned q, uint32_t *id, uint32_t *len);

struct vh_fd *vh_find_fd(struct vh *h, int fd);

#endif
