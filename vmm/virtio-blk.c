// SPDX-License-Identifier: MIT
/*
 * virtio-blk (virtio 1.2 section 5.2): one request queue over a struct
 * blockdev.  A request is a chain of
 *   device-readable:  le32 type, le32 reserved, le64 sector, [data for writes]
 *   device-writable:  [data for reads], u8 status
 * laid out over any descriptors (the device assumes no framing).  The
 * 16-byte header is copied out of guest memory once, then only the copy
 * is used.  Requests the driver should not have sent (bad lengths, beyond
 * the end of the disk, writes to a read-only disk) complete with
 * VIRTIO_BLK_S_IOERR; unknown types with VIRTIO_BLK_S_UNSUPP; a chain with
 * no room for the status byte breaks the device (DEVICE_NEEDS_RESET).
 */
#include "vmm/virtio.h"
#include "vmm/virtio-mmio.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/log.h"

#include <endian.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define BLK_QUEUE_SIZE	256
#define BLK_CHAIN_MAX	260
#define BLK_SEG_MAX	(BLK_CHAIN_MAX - 4)	/* + header, status, an indirect descriptor */
#define BLK_DWZ_SEG_MAX	32			/* discard / write-zeroes segments per request */
#define BLK_DWZ_SECTORS	(1u << 22)		/* 2 GiB per segment */
#define BLK_HDR_SIZE	16
#define BLK_SEG_SIZE	16
#define BLK_CONFIG_SIZE	60			/* up to and including unused1[3] */

_Static_assert(offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 56,
	       "virtio_blk_config layout");

struct virtio_blk {
	struct virtio_mmio *t;
	struct blockdev *bd;
	struct iovec iov[BLK_CHAIN_MAX];
	struct iovec data[BLK_CHAIN_MAX];
	unsigned long errors;	/* backend errors reported to the guest */
};

/* A guest retrying a failing disk must not flood the host's terminal. */
#define BLK_ERRORS_SHOWN 3

static const uint8_t zeroes[65536];

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static bool negotiated(struct virtio_blk *b, unsigned bit)
{
	return virtio_mmio_features(b->t) & (1ULL << bit);
}

/* Is [sector, sector + bytes) inside the disk?  Sets *off. */
static bool in_disk(const struct blockdev *bd, uint64_t sector, uint64_t bytes, uint64_t *off)
{
	return !chk_mul(sector, (uint64_t)BLOCKDEV_SECTOR, off) && range_ok(*off, bytes, bd->size);
}

static uint8_t backend_error(struct virtio_blk *b, const char *what)
{
	if (++b->errors <= BLK_ERRORS_SHOWN)
		pr_warn("virtio-blk: %s: %s%s", what, sbx_error(),
			b->errors == BLK_ERRORS_SHOWN ? " (further errors not shown)" : "");
	return VIRTIO_BLK_S_IOERR;
}

static uint8_t do_io(struct virtio_blk *b, const struct virtq_chain *c, bool write, uint64_t sector,
		     uint64_t len)
{
	const struct iovec *src = write ? c->iov : c->iov + c->nout;
	unsigned nsrc = write ? c->nout : c->nin;
	uint64_t off;
	int n;

	if (len % BLOCKDEV_SECTOR || !in_disk(b->bd, sector, len, &off))
		return VIRTIO_BLK_S_IOERR;
	if (write && b->bd->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (!len)
		return VIRTIO_BLK_S_OK;
	n = vq_iov_slice(b->data, BLK_CHAIN_MAX, src, nsrc, write ? BLK_HDR_SIZE : 0, len);
	if (n < 0)
		return VIRTIO_BLK_S_IOERR;
	if (write ? b->bd->ops->pwritev(b->bd, b->data, n, off)
		  : b->bd->ops->preadv(b->bd, b->data, n, off))
		return backend_error(b, write ? "write" : "read");
	return VIRTIO_BLK_S_OK;
}

static int zero_range(struct blockdev *bd, uint64_t off, uint64_t len)
{
	if (bd->ops->write_zeroes)
		return bd->ops->write_zeroes(bd, off, len);
	while (len) {
		struct iovec v = { (void *)zeroes, len < sizeof(zeroes) ? len : sizeof(zeroes) };
		int err = bd->ops->pwritev(bd, &v, 1, off);

		if (err)
			return err;
		off += v.iov_len;
		len -= v.iov_len;
	}
	return 0;
}

static uint8_t do_discard_zeroes(struct virtio_blk *b, const struct virtq_chain *c, uint32_t type)
{
	bool discard = type == VIRTIO_BLK_T_DISCARD;
	uint64_t len = c->out_bytes - BLK_HDR_SIZE, i, nseg;

	if (!negotiated(b, discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES))
		return VIRTIO_BLK_S_UNSUPP;
	if (b->bd->read_only)
		return VIRTIO_BLK_S_IOERR;
	nseg = len / BLK_SEG_SIZE;
	if (!len || len % BLK_SEG_SIZE || nseg > BLK_DWZ_SEG_MAX)
		return VIRTIO_BLK_S_IOERR;
	/* Check every segment before doing any. */
	for (i = 0; i < 2 * nseg; i++) {
		struct virtio_blk_discard_write_zeroes seg;
		uint64_t off, bytes;
		uint32_t flags;
		int err;

		vq_iov_to_buf(c->iov, c->nout, BLK_HDR_SIZE + (i % nseg) * BLK_SEG_SIZE, &seg,
			   sizeof(seg));
		flags = le32toh(seg.flags);
		bytes = (uint64_t)le32toh(seg.num_sectors) * BLOCKDEV_SECTOR;
		if (flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			return VIRTIO_BLK_S_UNSUPP;
		if (discard && flags)
			return VIRTIO_BLK_S_UNSUPP;
		if (!in_disk(b->bd, le64toh(seg.sector), bytes, &off))
			return VIRTIO_BLK_S_IOERR;
		if (i < nseg || !bytes)
			continue;
		err = discard ? b->bd->ops->discard(b->bd, off, bytes) : zero_range(b->bd, off, bytes);
		if (err)
			return backend_error(b, discard ? "discard" : "write zeroes");
	}
	return VIRTIO_BLK_S_OK;
}

/* Serve one request; returns the bytes written into the chain, status included. */
static uint32_t handle(struct virtio_blk *b, const struct virtq_chain *c)
{
	uint8_t hdr[BLK_HDR_SIZE], status;
	uint64_t data_in = c->in_bytes - 1, sector;
	uint32_t type, written = 0;
	uint64_t v64;
	uint32_t v32;

	if (c->out_bytes < BLK_HDR_SIZE || c->in_bytes > UINT32_MAX) {
		status = VIRTIO_BLK_S_IOERR;
		goto done;
	}
	vq_iov_to_buf(c->iov, c->nout, 0, hdr, sizeof(hdr));
	memcpy(&v32, hdr, 4);
	type = le32toh(v32);
	memcpy(&v64, hdr + 8, 8);
	sector = le64toh(v64);

	switch (type) {
	case VIRTIO_BLK_T_IN:
		status = do_io(b, c, false, sector, data_in);
		if (status == VIRTIO_BLK_S_OK)
			written = (uint32_t)data_in;
		break;
	case VIRTIO_BLK_T_OUT:
		status = do_io(b, c, true, sector, c->out_bytes - BLK_HDR_SIZE);
		break;
	case VIRTIO_BLK_T_FLUSH:
		status = VIRTIO_BLK_S_OK;
		if (!b->bd->read_only && b->bd->ops->flush(b->bd))
			status = backend_error(b, "flush");
		break;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VIRTIO_BLK_ID_BYTES];

		memset(id, 0, sizeof(id));
		memcpy(id, b->bd->serial, strnlen(b->bd->serial, sizeof(id)));
		written = (uint32_t)vq_iov_from_buf(c->iov + c->nout, c->nin, 0, id,
						 data_in < sizeof(id) ? data_in : sizeof(id));
		status = VIRTIO_BLK_S_OK;
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = do_discard_zeroes(b, c, type);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
done:
	vq_iov_from_buf(c->iov + c->nout, c->nin, data_in, &status, 1);
	return written + 1;
}

static void blk_notify(void *opaque, unsigned q)
{
	struct virtio_blk *b = opaque;
	struct virtq *vq = virtio_mmio_queue(b->t, q);
	struct virtq_chain c = { .cap = BLK_CHAIN_MAX, .iov = b->iov };
	int got;

	if (!vq)
		return;
	while ((got = virtq_pop(vq, &c)) > 0) {
		if (c.in_bytes == 0) {
			SBX_CORRUPT("request %u has no status byte", c.head);
			got = SBX_ECORRUPT;
			break;
		}
		virtq_push(vq, c.head, handle(b, &c));
	}
	if (got < 0)
		virtio_mmio_broken(b->t);
	virtio_mmio_used(b->t, q);
}

static void blk_free(void *opaque)
{
	free(opaque);
}

static const struct virtio_mmio_ops blk_ops = {
	.queue_notify = blk_notify,
	.free = blk_free,
};

int virtio_blk_create(struct mmio_device **out, const struct vm_dev_env *env, struct blockdev *bd)
{
	struct virtio_blk *b;
	uint8_t cfg[BLK_CONFIG_SIZE] = { 0 };
	struct virtio_mmio_info info = {
		.name = "virtio-blk",
		.device_id = VIRTIO_ID_BLOCK,
		.num_queues = 1,
		.queue_max = BLK_QUEUE_SIZE,
		.chain_max = BLK_CHAIN_MAX,
		.config = cfg,
		.config_size = sizeof(cfg),
		.ops = &blk_ops,
	};
	int err;

	*out = NULL;
	if (!bd || bd->size % BLOCKDEV_SECTOR)
		return sbx_error_set(SBX_EINVAL, "virtio-blk: disk size is not a multiple of 512");
	b = calloc(1, sizeof(*b));
	if (!b)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	b->bd = bd;
	info.opaque = b;
	info.features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_FLUSH);
	put64(cfg + offsetof(struct virtio_blk_config, capacity), bd->size / BLOCKDEV_SECTOR);
	put32(cfg + offsetof(struct virtio_blk_config, seg_max), BLK_SEG_MAX);
	put16(cfg + offsetof(struct virtio_blk_config, num_queues), 1);
	if (bd->read_only) {
		info.features |= 1ULL << VIRTIO_BLK_F_RO;
	} else {
		if (bd->ops->discard) {
			info.features |= 1ULL << VIRTIO_BLK_F_DISCARD;
			put32(cfg + offsetof(struct virtio_blk_config, max_discard_sectors),
			      BLK_DWZ_SECTORS);
			put32(cfg + offsetof(struct virtio_blk_config, max_discard_seg),
			      BLK_DWZ_SEG_MAX);
			put32(cfg + offsetof(struct virtio_blk_config, discard_sector_alignment), 8);
		}
		/* Always possible: without the backend's op we write zero buffers. */
		info.features |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
		put32(cfg + offsetof(struct virtio_blk_config, max_write_zeroes_sectors),
		      BLK_DWZ_SECTORS);
		put32(cfg + offsetof(struct virtio_blk_config, max_write_zeroes_seg), BLK_DWZ_SEG_MAX);
		cfg[offsetof(struct virtio_blk_config, write_zeroes_may_unmap)] =
			bd->ops->write_zeroes != NULL;
	}
	err = virtio_mmio_create(&b->t, out, env, &info);
	if (err)
		free(b);
	return err;
}
