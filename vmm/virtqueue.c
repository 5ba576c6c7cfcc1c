// SPDX-License-Identifier: MIT
/* Split virtqueues, device side: see virtqueue.h for the layout and the rules. */
#include "vmm/virtqueue.h"
#include "util/error.h"

#include <endian.h>
#include <linux/virtio_ring.h>
#include <string.h>

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define DESC_SIZE	16
#define RING_HDR	4	/* flags + idx in front of both rings */

static inline uint16_t load16(const uint8_t *p, int order)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, order));
}

static inline void store16(uint8_t *p, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), order);
}

static inline void store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

/* One copy of descriptor `i` of `table`: the guest may change it behind us. */
static void read_desc(struct desc *d, const uint8_t *table, unsigned i)
{
	uint8_t raw[DESC_SIZE];
	uint64_t a;
	uint32_t l;
	uint16_t f, n;

	memcpy(raw, table + (size_t)i * DESC_SIZE, sizeof(raw));
	memcpy(&a, raw, 8);
	memcpy(&l, raw + 8, 4);
	memcpy(&f, raw + 12, 2);
	memcpy(&n, raw + 14, 2);
	d->addr = le64toh(a);
	d->len = le32toh(l);
	d->flags = le16toh(f);
	d->next = le16toh(n);
}

int virtq_init(struct virtq *vq, const struct guest_mem *mem, unsigned num, uint64_t desc,
	       uint64_t avail, uint64_t used, uint64_t features, unsigned chain_max)
{
	bool event_idx = features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	uint64_t tail = event_idx ? 2 : 0;

	virtq_reset(vq);
	if (num == 0 || num > VIRTQ_MAX_SIZE || (num & (num - 1)))
		return SBX_CORRUPT("virtqueue size %u is not a power of 2 up to %u", num,
				   VIRTQ_MAX_SIZE);
	if (desc % VRING_DESC_ALIGN_SIZE || avail % VRING_AVAIL_ALIGN_SIZE ||
	    used % VRING_USED_ALIGN_SIZE)
		return SBX_CORRUPT("virtqueue areas misaligned (desc %#llx avail %#llx used %#llx)",
				   (unsigned long long)desc, (unsigned long long)avail,
				   (unsigned long long)used);
	vq->desc = gmem_at(mem, desc, (uint64_t)num * DESC_SIZE);
	vq->avail = gmem_at(mem, avail, RING_HDR + 2ULL * num + tail);
	vq->used = gmem_at(mem, used, RING_HDR + 8ULL * num + tail);
	if (!vq->desc || !vq->avail || !vq->used) {
		virtq_reset(vq);
		return SBX_CORRUPT("virtqueue areas outside guest RAM (desc %#llx avail %#llx "
				   "used %#llx, size %u)", (unsigned long long)desc,
				   (unsigned long long)avail, (unsigned long long)used, num);
	}
	vq->mem = mem;
	vq->num = (uint16_t)num;	/* 32768 fits; 65536 is refused above */
	vq->event_idx = event_idx;
	vq->indirect = features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	vq->chain_max = chain_max ? chain_max : num;
	return 0;
}

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

static int add_buffer(struct virtq_chain *c, const struct virtq *vq, const struct desc *d)
{
	void *p;

	if (d->flags & VRING_DESC_F_WRITE)
		c->nin++;
	else if (c->nin)
		return SBX_CORRUPT("device-readable descriptor after a device-writable one "
				   "(chain %u)", c->head);
	else
		c->nout++;
	if (c->nout + c->nin > c->cap)
		return SBX_CORRUPT("descriptor chain %u has more than %u buffers", c->head, c->cap);
	p = gmem_at(vq->mem, d->addr, d->len);
	if (!p)
		return SBX_CORRUPT("descriptor buffer [%#llx, +%#x) is not in guest RAM (chain %u)",
				   (unsigned long long)d->addr, d->len, c->head);
	c->iov[c->nout + c->nin - 1] = (struct iovec){ p, d->len };
	if (d->flags & VRING_DESC_F_WRITE) {
		c->in_bytes += d->len;
		gmem_dirty(vq->mem, p, d->len);	/* the device may write any of it */
	}
	else
		c->out_bytes += d->len;
	return 0;
}

/* Walk the chain starting at `head`; the caller already checked head < num. */
static int walk_chain(struct virtq *vq, struct virtq_chain *c)
{
	const uint8_t *table = vq->desc;
	unsigned size = vq->num, idx = c->head, seen = 0;
	bool indirect = false;
	struct desc d;
	int err;

	for (;;) {
		/*
		 * A chain visits at most chain_max descriptors: this is the
		 * loop detector too (a cycle would visit more).
		 */
		if (++seen > vq->chain_max)
			return SBX_CORRUPT("descriptor chain %u longer than %u (a loop?)", c->head,
					   vq->chain_max);
		read_desc(&d, table, idx);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return SBX_CORRUPT("indirect descriptor without the feature (chain %u)",
						   c->head);
			if (indirect)
				return SBX_CORRUPT("indirect descriptor inside an indirect table "
						   "(chain %u)", c->head);
			if (d.flags & VRING_DESC_F_NEXT)
				return SBX_CORRUPT("indirect descriptor with NEXT (chain %u)", c->head);
			if (d.len == 0 || d.len % DESC_SIZE || d.len / DESC_SIZE > vq->chain_max)
				return SBX_CORRUPT("indirect table length %#x invalid (chain %u)", d.len,
						   c->head);
			table = gmem_at(vq->mem, d.addr, d.len);
			if (!table)
				return SBX_CORRUPT("indirect table [%#llx, +%#x) is not in guest RAM "
						   "(chain %u)", (unsigned long long)d.addr, d.len,
						   c->head);
			size = d.len / DESC_SIZE;
			idx = 0;
			indirect = true;
			continue;
		}
		err = add_buffer(c, vq, &d);
		if (err)
			return err;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		idx = d.next;
		if (idx >= size)
			return SBX_CORRUPT("descriptor next %u beyond table of %u (chain %u)", idx, size,
					   c->head);
	}
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c)
{
	uint16_t avail_idx, pending;
	int err;

	if (!vq->num)
		return 0;
	avail_idx = load16(vq->avail + 2, __ATOMIC_ACQUIRE);
	if (avail_idx == vq->last_avail && vq->event_idx) {
		/* Ask for a notification at the next entry, then look again (no lost kick). */
		store16(vq->used + RING_HDR + 8 * (size_t)vq->num, vq->last_avail, __ATOMIC_RELAXED);
		gmem_dirty(vq->mem, vq->used + RING_HDR + 8 * (size_t)vq->num, 2);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = load16(vq->avail + 2, __ATOMIC_ACQUIRE);
	}
	if (avail_idx == vq->last_avail)
		return 0;
	pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending > vq->num)
		return SBX_CORRUPT("available index jumped by %u on a queue of %u", pending, vq->num);

	c->head = load16(vq->avail + RING_HDR + 2 * (size_t)(vq->last_avail % vq->num),
			 __ATOMIC_RELAXED);
	c->nout = c->nin = 0;
	c->out_bytes = c->in_bytes = 0;
	if (c->head >= vq->num)
		return SBX_CORRUPT("available head %u beyond queue of %u", c->head, vq->num);
	err = walk_chain(vq, c);
	if (err)
		return err;
	vq->last_avail++;
	return 1;
}

void virtq_unpop(struct virtq *vq)
{
	vq->last_avail--;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	uint8_t *elem;

	if (!vq->num)
		return;
	elem = vq->used + RING_HDR + 8 * (size_t)(vq->used_idx % vq->num);
	store32(elem, head);
	store32(elem + 4, len);
	vq->used_idx++;
	/* The element is visible before the index that publishes it. */
	store16(vq->used + 2, vq->used_idx, __ATOMIC_RELEASE);
	gmem_dirty(vq->mem, vq->used, 4);
	gmem_dirty(vq->mem, elem, 8);
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t old = vq->signalled_used, now = vq->used_idx;

	if (!vq->num || old == now)
		return false;
	vq->signalled_used = now;
	/* Our used->idx store before the driver's suppression fields are read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		uint16_t event = load16(vq->avail + RING_HDR + 2 * (size_t)vq->num,
					__ATOMIC_RELAXED);

		/* Did used_idx move past `event` since the last interrupt decision? */
		return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
	}
	return !(load16(vq->avail, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
}

size_t vq_iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
	uint8_t *out = buf;
	size_t done = 0;
	unsigned i;

	for (i = 0; i < n && done < len; i++) {
		size_t take;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		take = iov[i].iov_len - off;
		if (take > len - done)
			take = len - done;
		memcpy(out + done, (uint8_t *)iov[i].iov_base + off, take);
		done += take;
		off = 0;
	}
	return done;
}

size_t vq_iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
	const uint8_t *in = buf;
	size_t done = 0;
	unsigned i;

	for (i = 0; i < n && done < len; i++) {
		size_t take;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		take = iov[i].iov_len - off;
		if (take > len - done)
			take = len - done;
		memcpy((uint8_t *)iov[i].iov_base + off, in + done, take);
		done += take;
		off = 0;
	}
	return done;
}

int vq_iov_slice(struct iovec *dst, unsigned cap, const struct iovec *src, unsigned n, uint64_t off,
	      uint64_t len)
{
	unsigned i, out = 0;

	for (i = 0; i < n && len; i++) {
		uint64_t take;

		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		take = src[i].iov_len - off;
		if (take > len)
			take = len;
		if (out == cap)
			return -1;
		dst[out++] = (struct iovec){ (uint8_t *)src[i].iov_base + off, (size_t)take };
		len -= take;
		off = 0;
	}
	return len ? -1 : (int)out;
}
