/* SPDX-License-Identifier: MIT */
/*
 * The virtio-mmio transport (virtio 1.2 section 4.2, register layout
 * version 2, modern devices only), shared by virtio-blk, -console, -rng.
 *
 * A device describes itself in a `struct virtio_mmio_info` (ID, feature
 * bits, queues, configuration space, callbacks) and gets back the
 * `struct mmio_device` the machine maps.  The transport owns the register
 * file, feature negotiation, the status state machine, the queues' set-up
 * and their notifications:
 *   - each queue has an eventfd: KVM_IOEVENTFD signals it on a QueueNotify
 *     write of that queue's index; without ioeventfd the write callback
 *     signals it itself, so queue work always runs on the event thread;
 *   - the device's callbacks run with the transport's lock held; device
 *     code running from its own fd callbacks takes the same lock with
 *     virtio_mmio_lock();
 *   - a malformed queue (virtq_pop() < 0) or a protocol violation makes
 *     the device broken: DEVICE_NEEDS_RESET in Status, a configuration
 *     change interrupt, and no more queue processing until the driver
 *     writes Status 0.
 *
 * Feature bits the transport adds to every device: VIRTIO_F_VERSION_1
 * (required from the driver), VIRTIO_RING_F_INDIRECT_DESC and
 * VIRTIO_RING_F_EVENT_IDX.
 */
#ifndef SBX_VMM_VIRTIO_MMIO_H
#define SBX_VMM_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/device.h"
#include "vmm/virtqueue.h"

#define VIRTIO_MMIO_WINDOW	0x200	/* registers 0x000-0x0ff, config 0x100-0x1ff */
#define VIRTIO_MMIO_CONFIG_MAX	0x100
#define VIRTIO_MMIO_MAX_QUEUES	8

struct virtio_mmio;

struct virtio_mmio_ops {
	/* Queue `q` has new buffers (or may have): do its work. Event thread. */
	void (*queue_notify)(void *opaque, unsigned q);
	/* Optional: the driver set DRIVER_OK (vCPU thread). */
	void (*activate)(void *opaque);
	/*
	 * Optional: the driver disabled queue `q` (QueueReady 0) or reset the
	 * device (then `q` is every queue in turn): forget chains taken from it.
	 */
	void (*queue_stop)(void *opaque, unsigned q);
	/* Optional: after the transport stopped all work, free the device's state. */
	void (*free)(void *opaque);
	/*
	 * Optional, for snapshots: the device's own state after the
	 * transport's (see struct mmio_device); restore runs after the
	 * queues are set up again, before any thread runs.
	 */
	int (*save)(void *opaque, struct vs_buf *b);
	int (*restore)(void *opaque, struct vs_cur *c);
};

struct virtio_mmio_info {
	const char *name;		/* "virtio-blk" */
	uint32_t device_id;		/* VIRTIO_ID_* */
	uint64_t features;		/* device-specific offered bits */
	unsigned num_queues;		/* 1..VIRTIO_MMIO_MAX_QUEUES */
	unsigned queue_max;		/* QueueNumMax, a power of 2 */
	unsigned chain_max;		/* most descriptors in one chain (and iovecs per chain) */
	const void *config;		/* initial configuration space, copied */
	unsigned config_size;		/* <= VIRTIO_MMIO_CONFIG_MAX */
	const struct virtio_mmio_ops *ops;
	void *opaque;			/* passed to ops */
};

/*
 * Create the transport for one device.  On success *out is the machine's
 * view; its stop() stops the transport and calls ops->free.  On failure
 * nothing is left behind and ops->free is not called.
 */
int virtio_mmio_create(struct virtio_mmio **t, struct mmio_device **out,
		       const struct vm_dev_env *env, const struct virtio_mmio_info *info);

/* For the device's code that runs outside the transport's callbacks. */
void virtio_mmio_lock(struct virtio_mmio *t);
void virtio_mmio_unlock(struct virtio_mmio *t);
const struct vm_dev_env *virtio_mmio_env(struct virtio_mmio *t);

/* Queue `q` when the device may use it (DRIVER_OK, not broken, queue ready), else NULL. */
struct virtq *virtio_mmio_queue(struct virtio_mmio *t, unsigned q);
/* The negotiated feature bits. */
uint64_t virtio_mmio_features(struct virtio_mmio *t);
/* After virtq_push()es on `q`: interrupt the driver if it wants one. */
void virtio_mmio_used(struct virtio_mmio *t, unsigned q);
/* Run queue_notify(q) on the event thread soon (e.g. to retry later). */
void virtio_mmio_kick(struct virtio_mmio *t, unsigned q);
/*
 * The guest broke the protocol; the message is in sbx_error().  Sets
 * DEVICE_NEEDS_RESET and raises a configuration change interrupt.
 */
void virtio_mmio_broken(struct virtio_mmio *t);
bool virtio_mmio_is_broken(struct virtio_mmio *t);
/* Change configuration bytes [off, off + len), bump ConfigGeneration, interrupt. */
void virtio_mmio_config_changed(struct virtio_mmio *t, unsigned off, const void *data,
				unsigned len);

/* Register offsets and values are in <linux/virtio_mmio.h>, <linux/virtio_config.h>. */
#define VIRTIO_MMIO_VENDOR	0x58425347	/* "GSBX" */

#endif
