// SPDX-License-Identifier: MIT
/*
 * Fuzz target: descriptor chains (vmm/virtqueue.c) and virtio-blk request
 * parsing (vmm/virtio-blk.c through the virtio-mmio transport), with guest
 * memory, ring indexes, negotiated features and a script of register
 * accesses all taken from the input.
 *
 * Input: an 8-byte header, `nscript` 5-byte register operations, then the
 * guest memory image: 16 * size bytes of descriptor table, 6 + 2 * size
 * bytes of available ring, and the rest copied at DATA (gpa 0x1c000),
 * where descriptors usually point:
 *   [0] mode     bit 0: 0 = virtqueue alone, 1 = virtio-blk; bit 1: read-only disk
 *                (notified through ioeventfd; the read-write one by MMIO writes)
 *   [1] qlog     queue size 1 << (qlog % 9) (1..256)
 *   [2] features bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 DISCARD, bit 3 WRITE_ZEROES
 *   [3] nscript  register operations after set-up (at most 32)
 *   [4..5] le16  starting avail/used index (virtqueue mode)
 *   [6..7]       unused
 *   script: u8 op (bits 7-6: 0 write, 1 read, 2 kick queue 0, 3 run; bits 5-0: register/4),
 *           le32 value
 * Guest RAM is RAM_SIZE bytes: descriptor table at RINGS, available ring
 * at RINGS + 0x4000, used ring at RINGS + 0x8000 (the harness's layout).
 */
#include <endian.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/virtio-harness.h"
#include "util/blockdev.h"
#include "vmm/virtio.h"
#include "vmm/virtqueue.h"

#define RAM_SIZE	(256u << 10)
#define RINGS		0x10000u
#define DISK_SIZE	(64u << 10)
#define DATA		(RINGS + 0xc000u)

/* Copy the input's memory image into guest RAM (see the layout above). */
static void place_image(struct vh *h, unsigned num, const uint8_t *image, size_t size)
{
	size_t d = 16 * (size_t)num, a = 6 + 2 * (size_t)num;

	memcpy(h->mem.host + RINGS, image, size < d ? size : d);
	if (size <= d)
		return;
	image += d;
	size -= d;
	memcpy(h->mem.host + RINGS + 0x4000, image, size < a ? size : a);
	if (size <= a)
		return;
	image += a;
	size -= a;
	if (size > RAM_SIZE - DATA)
		size = RAM_SIZE - DATA;
	memcpy(h->mem.host + DATA, image, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t disk[DISK_SIZE];

static int md_io(struct blockdev *bd, const struct iovec *iov, int n, uint64_t off, bool write)
{
	int i;

	for (i = 0; i < n; i++) {
		/* The device must have range-checked: anything else is a finding. */
		if (off > bd->size || iov[i].iov_len > bd->size - off)
			abort();
		if (write)
			memcpy(disk + off, iov[i].iov_base, iov[i].iov_len);
		else
			memcpy(iov[i].iov_base, disk + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}

static int md_preadv(struct blockdev *bd, const struct iovec *iov, int n, uint64_t off)
{
	return md_io(bd, iov, n, off, false);
}

static int md_pwritev(struct blockdev *bd, const struct iovec *iov, int n, uint64_t off)
{
	if (bd->read_only)
		abort();
	return md_io(bd, iov, n, off, true);
}

static int md_flush(struct blockdev *bd)
{
	(void)bd;
	return 0;
}

static int md_range(struct blockdev *bd, uint64_t off, uint64_t len)
{
	if (bd->read_only || off > bd->size || len > bd->size - off || off % 512 || len % 512)
		abort();
	memset(disk + off, 0, len);
	return 0;
}

static const struct blockdev_ops md_ops = {
	.preadv = md_preadv, .pwritev = md_pwritev, .flush = md_flush,
	.discard = md_range, .write_zeroes = md_range,
};

static void fuzz_virtqueue(struct vh *h, unsigned num, uint64_t features, uint16_t start)
{
	struct iovec iov[64];
	struct virtq_chain c = { .cap = 64, .iov = iov };
	struct virtq vq;
	unsigned i;

	if (virtq_init(&vq, &h->mem, num, RINGS, RINGS + 0x4000, RINGS + 0x8000, features, 0))
		abort();	/* a valid layout must be accepted */
	vq.last_avail = vq.used_idx = vq.signalled_used = start;
	for (i = 0; i < 2 * num + 2; i++) {
		int got = virtq_pop(&vq, &c);
		uint64_t sum = 0;
		unsigned k;

		if (got <= 0)
			break;
		if (c.head >= num || c.nout + c.nin > c.cap)
			abort();
		for (k = 0; k < c.nout + c.nin; k++) {
			uint8_t *p = iov[k].iov_base;

			/* Every buffer lies inside guest RAM. */
			if (p < h->mem.host || p + iov[k].iov_len > h->mem.host + h->mem.size)
				abort();
			sum += iov[k].iov_len;
			if (k >= c.nout && iov[k].iov_len)
				p[iov[k].iov_len - 1] ^= 1;	/* touch writable bytes */
		}
		if (sum != c.out_bytes + c.in_bytes)
			abort();
		virtq_push(&vq, c.head, (uint32_t)c.in_bytes);
		virtq_should_notify(&vq);
	}
}

/*
 * One read-write and one read-only device for the whole run, reset through
 * Status 0 by every input: faster, and the transport's limit on NEEDS_RESET
 * warnings keeps the log short.
 */
static struct vh blk[2];
static struct blockdev blk_bd[2];

static struct vh *blk_device(bool ro)
{
	struct vh *h = &blk[ro];

	if (!h->dev) {
		vh_init(h, RAM_SIZE, RAM_SIZE);
		h->ioeventfd_ok = ro;	/* one device notified through ioeventfd, one by MMIO */
		blk_bd[ro] = (struct blockdev){ .ops = &md_ops, .size = DISK_SIZE, .read_only = ro };
		strcpy(blk_bd[ro].serial, "fuzz");
		if (virtio_blk_create(&h->dev, &h->env, &blk_bd[ro]))
			abort();
	}
	memset(h->mem.host, 0, h->mem.size);
	return h;
}

static void fuzz_blk(const uint8_t *hdr, const uint8_t *script, unsigned nscript,
		     const uint8_t *image, size_t image_size)
{
	struct vh *h = blk_device(hdr[0] & 2);
	uint64_t features = 1ULL << VIRTIO_F_VERSION_1;
	unsigned num = 1u << (hdr[1] % 9), i;

	if (hdr[2] & 1)
		features |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (hdr[2] & 2)
		features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (hdr[2] & 4)
		features |= 1ULL << VIRTIO_BLK_F_DISCARD;
	if (hdr[2] & 8)
		features |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	features &= vh_device_features(h);
	if (!(vh_setup(h, features, 1, num) & VIRTIO_CONFIG_S_DRIVER_OK))
		abort();
	place_image(h, num, image, image_size);
	for (i = 0; i < nscript; i++) {
		const uint8_t *op = script + 5 * i;
		uint32_t v;

		memcpy(&v, op + 1, 4);
		v = le32toh(v);
		switch (op[0] >> 6) {
		case 0:
			vh_w32(h, (op[0] & 0x3f) * 4u, v);
			break;
		case 1:
			vh_read(h, (op[0] & 0x3f) * 4u + (v & 3), 1u << (v % 4));
			break;
		case 2:
			vh_kick(h, 0);
			break;
		default:
			vh_run(h);
			break;
		}
	}
	vh_kick(h, 0);
	vh_run(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *script, *image;
	unsigned nscript;
	size_t image_size;
	struct vh h;
	uint16_t start;

	if (size < 8)
		return 0;
	nscript = data[3] % 33;
	if (size < 8 + 5 * (size_t)nscript)
		return 0;
	script = data + 8;
	image = script + 5 * nscript;
	image_size = size - 8 - 5 * (size_t)nscript;
	if (data[0] & 1) {
		fuzz_blk(data, script, nscript, image, image_size);
		return 0;
	}
	vh_init(&h, RAM_SIZE, RAM_SIZE);
	place_image(&h, 1u << (data[1] % 9), image, image_size);
	memcpy(&start, data + 4, 2);
	fuzz_virtqueue(&h, 1u << (data[1] % 9),
		       ((data[2] & 1) ? 1ULL << VIRTIO_RING_F_INDIRECT_DESC : 0) |
		       ((data[2] & 2) ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0), le16toh(start));
	vh_fini(&h);
	return 0;
}
