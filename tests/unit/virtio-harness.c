// SPDX-License-Identifier: MIT
/* The fake machine and driver of the virtio unit tests: see virtio-harness.h. */
#include "tests/unit/virtio-harness.h"

#include <endian.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#define VH_RINGS	0x10000ULL	/* queue q's rings at VH_RINGS + q * 0x10000 */

static void fake_irq(void *vm, unsigned gsi)
{
	struct vh *h = vm;

	(void)gsi;
	h->irqs++;
}

static int fake_add_fd(void *vm, int fd, void (*cb)(void *), void *opaque)
{
	struct vh *h = vm;
	unsigned i;

	if (vh_find_fd(h, fd)) {
		fprintf(stderr, "vh: fd %d added twice\n", fd);
		abort();
	}
	for (i = 0; i < VH_MAX_FDS; i++) {
		if (!h->fds[i].used) {
			h->fds[i] = (struct vh_fd){ fd, cb, opaque, VM_FD_READABLE, true };
			return 0;
		}
	}
	abort();
}

static void fake_del_fd(void *vm, int fd)
{
	struct vh_fd *f = vh_find_fd(vm, fd);

	if (!f) {
		fprintf(stderr, "vh: fd %d deleted but not added\n", fd);
		abort();
	}
	f->used = false;
}

static int fake_set_fd_events(void *vm, int fd, unsigned events)
{
	struct vh_fd *f = vh_find_fd(vm, fd);

	if (!f)
		abort();
	f->events = events;
	return 0;
}

static int fake_add_ioeventfd(void *vm, uint64_t addr, unsigned len, uint64_t datamatch, int fd)
{
	struct vh *h = vm;
	unsigned i;

	if (!h->ioeventfd_ok || len != 4)
		return -1;
	for (i = 0; i < VH_MAX_QUEUES; i++) {
		if (!h->iofds[i].used) {
			h->iofds[i] = (struct vh_ioeventfd){ addr, datamatch, fd, true };
			return 0;
		}
	}
	abort();
}

static void fake_del_ioeventfd(void *vm, uint64_t addr, unsigned len, uint64_t datamatch, int fd)
{
	struct vh *h = vm;
	unsigned i;

	for (i = 0; i < VH_MAX_QUEUES; i++)
		if (h->iofds[i].used && h->iofds[i].addr == addr && h->iofds[i].fd == fd &&
		    h->iofds[i].datamatch == datamatch) {
			h->iofds[i].used = false;
			return;
		}
	abort();
}

struct vh_fd *vh_find_fd(struct vh *h, int fd)
{
	unsigned i;

	for (i = 0; i < VH_MAX_FDS; i++)
		if (h->fds[i].used && h->fds[i].fd == fd)
			return &h->fds[i];
	return NULL;
}

void vh_init(struct vh *h, uint64_t size, uint64_t low)
{
	memset(h, 0, sizeof(*h));
	h->mem.host = calloc(1, size);
	if (!h->mem.host)
		abort();
	h->mem.size = size;
	h->mem.low_size = low;
	h->ioeventfd_ok = true;
	h->env = (struct vm_dev_env){
		.mem = &h->mem,
		.vm = h,
		.mmio_base = VH_BASE,
		.gsi = 5,
		.irq = fake_irq,
		.add_fd = fake_add_fd,
		.del_fd = fake_del_fd,
		.set_fd_events = fake_set_fd_events,
		.add_ioeventfd = fake_add_ioeventfd,
		.del_ioeventfd = fake_del_ioeventfd,
	};
	h->next_buf = 1 << 20;
}

void vh_fini(struct vh *h)
{
	unsigned i;

	if (h->dev)
		h->dev->stop(h->dev->opaque);
	for (i = 0; i < VH_MAX_FDS; i++)
		if (h->fds[i].used) {
			fprintf(stderr, "vh: fd %d still registered after stop\n", h->fds[i].fd);
			abort();
		}
	for (i = 0; i < VH_MAX_QUEUES; i++)
		if (h->iofds[i].used)
			abort();
	free(h->mem.host);
	memset(h, 0, sizeof(*h));
}

uint64_t vh_read(struct vh *h, uint64_t off, unsigned len)
{
	uint8_t b[8] = { 0 };
	uint64_t v;

	h->dev->read(h->dev->opaque, off, b, len);
	memcpy(&v, b, 8);
	return le64toh(v);
}

uint32_t vh_r32(struct vh *h, uint64_t off)
{
	return (uint32_t)vh_read(h, off, 4);
}

void vh_w32(struct vh *h, uint64_t off, uint32_t v)
{
	uint32_t le = htole32(v);

	h->dev->write(h->dev->opaque, off, (const uint8_t *)&le, 4);
}

uint64_t vh_device_features(struct vh *h)
{
	uint64_t f;

	vh_w32(h, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)vh_r32(h, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	vh_w32(h, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | vh_r32(h, VIRTIO_MMIO_DEVICE_FEATURES);
}

void *vh_ptr(struct vh *h, uint64_t gpa, uint64_t len)
{
	void *p = gmem_at(&h->mem, gpa, len);

	if (!p)
		abort();
	return p;
}

uint64_t vh_alloc(struct vh *h, uint64_t len)
{
	uint64_t gpa = h->next_buf;

	h->next_buf = (h->next_buf + len + 15) & ~15ULL;
	memset(vh_ptr(h, gpa, len), 0, len);
	return gpa;
}

uint32_t vh_setup(struct vh *h, uint64_t features, unsigned nq, unsigned qsize)
{
	uint32_t st;
	unsigned q;

	vh_w32(h, VIRTIO_MMIO_STATUS, 0);
	st = VIRTIO_CONFIG_S_ACKNOWLEDGE;
	vh_w32(h, VIRTIO_MMIO_STATUS, st);
	st |= VIRTIO_CONFIG_S_DRIVER;
	vh_w32(h, VIRTIO_MMIO_STATUS, st);
	vh_w32(h, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vh_w32(h, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	vh_w32(h, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vh_w32(h, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	st |= VIRTIO_CONFIG_S_FEATURES_OK;
	vh_w32(h, VIRTIO_MMIO_STATUS, st);
	if (!(vh_r32(h, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
		return vh_r32(h, VIRTIO_MMIO_STATUS);
	for (q = 0; q < nq; q++) {
		struct vh_queue *vq = &h->q[q];
		uint64_t base = VH_RINGS + q * 0x10000ULL;

		*vq = (struct vh_queue){ .size = (uint16_t)qsize, .desc = base,
					 .avail = base + 0x4000, .used = base + 0x8000 };
		memset(vh_ptr(h, base, 0x10000), 0, 0x10000);
		vh_w32(h, VIRTIO_MMIO_QUEUE_SEL, q);
		if (vh_r32(h, VIRTIO_MMIO_QUEUE_READY) != 0)
			abort();
		vh_w32(h, VIRTIO_MMIO_QUEUE_NUM, qsize);
		vh_w32(h, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)vq->desc);
		vh_w32(h, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(vq->desc >> 32));
		vh_w32(h, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)vq->avail);
		vh_w32(h, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(vq->avail >> 32));
		vh_w32(h, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)vq->used);
		vh_w32(h, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(vq->used >> 32));
		vh_w32(h, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	st |= VIRTIO_CONFIG_S_DRIVER_OK;
	vh_w32(h, VIRTIO_MMIO_STATUS, st);
	vh_run(h);
	return vh_r32(h, VIRTIO_MMIO_STATUS);
}

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

void vh_desc_at(struct vh *h, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
		uint16_t flags, uint16_t next)
{
	uint8_t *d = vh_ptr(h, table + 16ULL * i, 16);
	uint64_t a = htole64(addr);
	uint32_t l = htole32(len);

	memcpy(d, &a, 8);
	memcpy(d + 8, &l, 4);
	put16(d + 12, flags);
	put16(d + 14, next);
}

void vh_desc(struct vh *h, unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
	     uint16_t next)
{
	vh_desc_at(h, h->q[q].desc, i, addr, len, flags, next);
}

uint16_t vh_chain(struct vh *h, unsigned q, unsigned n, const struct vh_buf *bufs)
{
	struct vh_queue *vq = &h->q[q];
	uint16_t head = vq->next_desc % vq->size;
	unsigned i;

	for (i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % vq->size);
		uint16_t flags = (bufs[i].write ? 2 : 0) | (i + 1 < n ? 1 : 0);

		vh_desc(h, q, idx, bufs[i].gpa, bufs[i].len, flags, (uint16_t)((idx + 1) % vq->size));
	}
	vq->next_desc = (uint16_t)((head + n) % vq->size);
	return head;
}

void vh_publish(struct vh *h, unsigned q, uint16_t head)
{
	struct vh_queue *vq = &h->q[q];
	uint8_t *avail = vh_ptr(h, vq->avail, 4 + 2ULL * vq->size + 2);

	put16(avail + 4 + 2 * (vq->avail_idx % vq->size), head);
	vq->avail_idx++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	put16(avail + 2, vq->avail_idx);
}

void vh_kick(struct vh *h, unsigned q)
{
	unsigned i;

	/* As KVM would: a registered ioeventfd takes the write, else the MMIO exit does. */
	for (i = 0; i < VH_MAX_QUEUES; i++) {
		if (h->iofds[i].used && h->iofds[i].addr == VH_BASE + VIRTIO_MMIO_QUEUE_NOTIFY &&
		    h->iofds[i].datamatch == q) {
			eventfd_write(h->iofds[i].fd, 1);
			return;
		}
	}
	vh_w32(h, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

void vh_avail(struct vh *h, unsigned q, uint16_t head)
{
	vh_publish(h, q, head);
	vh_kick(h, q);
}

void vh_run(struct vh *h)
{
	unsigned round, i;

	for (round = 0; round < 10000; round++) {
		struct pollfd p[VH_MAX_FDS];
		unsigned idx[VH_MAX_FDS], n = 0;

		for (i = 0; i < VH_MAX_FDS; i++) {
			if (!h->fds[i].used)
				continue;
			p[n] = (struct pollfd){ .fd = h->fds[i].fd,
						.events = (short)(((h->fds[i].events & VM_FD_READABLE) ? POLLIN : 0) |
							  ((h->fds[i].events & VM_FD_WRITABLE) ? POLLOUT : 0)) };
			idx[n++] = i;
		}
		if (poll(p, n, 0) <= 0)
			return;
		for (i = 0; i < n; i++)
			if (p[i].revents && h->fds[idx[i]].used && h->fds[idx[i]].fd == p[i].fd)
				h->fds[idx[i]].cb(h->fds[idx[i]].opaque);
	}
	fprintf(stderr, "vh: the event loop never went idle (a busy loop?)\n");
	abort();
}

int vh_used(struct vh *h, unsigned q, uint32_t *id, uint32_t *len)
{
	struct vh_queue *vq = &h->q[q];
	uint8_t *used = vh_ptr(h, vq->used, 4 + 8ULL * vq->size + 2);
	uint16_t idx;
	uint32_t v;

	memcpy(&idx, used + 2, 2);
	if (le16toh(idx) == vq->used_seen)
		return 0;
	memcpy(&v, used + 4 + 8 * (vq->used_seen % vq->size), 4);
	*id = le32toh(v);
	memcpy(&v, used + 8 + 8 * (vq->used_seen % vq->size), 4);
	*len = le32toh(v);
	vq->used_seen++;
	return 1;
}
