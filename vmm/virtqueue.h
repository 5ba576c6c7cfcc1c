/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.2 section 2.7), the device side.
 *
 * Guest-physical layout of a queue of `num` entries (num a power of 2):
 *
 *   descriptor table  16 * num bytes, 16-byte aligned
 *     +0 le64 addr  +8 le32 len  +12 le16 flags  +14 le16 next
 *   available ring    6 + 2 * num bytes, 2-byte aligned (driver writes)
 *     +0 le16 flags  +2 le16 idx  +4 le16 ring[num]  +4+2*num le16 used_event
 *   used ring         6 + 8 * num bytes, 4-byte aligned (device writes)
 *     +0 le16 flags  +2 le16 idx  +4 {le32 id, le32 len}[num]  +4+8*num le16 avail_event
 *
 * Everything in those areas is written by a hostile guest, concurrently
 * with us.  The rules this file keeps:
 *   - every guest address goes through gmem_at() with its full length;
 *   - each descriptor is copied once into a local before it is used;
 *   - a chain is at most `chain_max` descriptors (direct and indirect
 *     together), so a loop ends at the limit, never runs forever;
 *   - the driver may publish at most `num` new entries; more is an error;
 *   - avail->idx is read with acquire, used->idx written with release,
 *     and a full barrier separates publishing used entries (or
 *     avail_event) from reading the driver's suppression fields.
 * Any violation returns SBX_ECORRUPT with a message; the transport then
 * marks the device DEVICE_NEEDS_RESET and touches the queue no more.
 *
 * Not thread-safe: the owner (the device) serialises calls.
 */
#ifndef SBX_VMM_VIRTQUEUE_H
#define SBX_VMM_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/guest-mem.h"

#define VIRTQ_MAX_SIZE	32768	/* the split-ring maximum */

struct virtq {
	const struct guest_mem *mem;
	uint16_t num;			/* 0: not set up */
	bool event_idx;			/* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;			/* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	unsigned chain_max;		/* most descriptors in one chain */
	uint8_t *desc;			/* host views of the three areas */
	uint8_t *avail;
	uint8_t *used;
	uint16_t last_avail;		/* next available entry to take */
	uint16_t used_idx;		/* next used entry to fill */
	uint16_t signalled_used;	/* used_idx when we last decided about an interrupt */
};

/*
 * One descriptor chain, as host iovecs: iov[0, nout) are device-readable,
 * iov[nout, nout + nin) device-writable.  `iov` points at caller storage
 * of `cap` entries (set before virtq_pop).
 */
struct virtq_chain {
	uint16_t head;
	unsigned nout, nin;
	uint64_t out_bytes, in_bytes;
	unsigned cap;
	struct iovec *iov;
};

/*
 * Set up `vq` over the guest areas at the given guest-physical addresses.
 * `features` are the negotiated feature bits (INDIRECT_DESC, EVENT_IDX).
 * Returns SBX_ECORRUPT if the size is not a power of 2 in 1..VIRTQ_MAX_SIZE,
 * an area is misaligned, or not all in guest RAM.
 */
int virtq_init(struct virtq *vq, const struct guest_mem *mem, unsigned num, uint64_t desc,
	       uint64_t avail, uint64_t used, uint64_t features, unsigned chain_max);
void virtq_reset(struct virtq *vq);
static inline bool virtq_ready(const struct virtq *vq)
{
	return vq->num != 0;
}

/*
 * Take the next available chain into `c`.  Returns 1 with a chain, 0 when
 * the ring is empty, SBX_ECORRUPT (with a message) when the guest wrote
 * something malformed.  With event-idx, an empty ring also publishes
 * avail_event so the driver notifies us about the next buffer.
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *c);
/* Give back the chain virtq_pop just returned (the device cannot use it yet). */
void virtq_unpop(struct virtq *vq);
/* Return chain `head` to the driver, `len` bytes written into its writable part. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);
/*
 * After one or more virtq_push: does the driver want an interrupt?
 * (avail->flags NO_INTERRUPT, or used_event with event-idx.)
 */
bool virtq_should_notify(struct virtq *vq);

/* Copy between a flat buffer and [off, off + len) of an iovec array; return the bytes copied. */
size_t vq_iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t vq_iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);
/*
 * Make `dst` (room for `cap`) describe bytes [off, off + len) of `src`.
 * Returns the number of entries, or -1 if the range is not all in `src`
 * or needs more than `cap` entries.
 */
int vq_iov_slice(struct iovec *dst, unsigned cap, const struct iovec *src, unsigned n, uint64_t off,
	      uint64_t len);

#endif
