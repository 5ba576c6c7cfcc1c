// SPDX-License-Identifier: MIT
/*
 * Unit tests for vmm/virtio-blk.c through the virtio-mmio registers and
 * rings of a fake guest: reads, writes, flush, get-id, discard and write
 * zeroes, read-only refusal, bad requests, requests laid out over any
 * descriptors, malformed chains; over an in-memory disk and a raw file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <endian.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/virtio-harness.h"
#include "util/blockdev.h"
#include "util/error.h"
#include "vmm/virtio.h"

#define MEM		(8ULL << 20)
#define DISK		(1ULL << 20)
#define F_V1		(1ULL << VIRTIO_F_VERSION_1)
#define F_ALL		(F_V1 | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
			 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_BLK_F_FLUSH) | \
			 (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_DISCARD) | \
			 (1ULL << VIRTIO_BLK_F_WRITE_ZEROES) | (1ULL << VIRTIO_BLK_F_RO))

/* An in-memory disk that counts calls. */
struct memdisk {
	struct blockdev bd;
	uint8_t *data;
	unsigned reads, writes, flushes, discards, zeroes;
};

static int md_io(struct blockdev *bd, const struct iovec *iov, int n, uint64_t off, bool write)
{
	struct memdisk *m = bd->priv;
	int i;

	for (i = 0; i < n; i++) {
		if (off > bd->size || iov[i].iov_len > bd->size - off)
			return sbx_error_set(SBX_EINVAL, "beyond the end");
		if (write)
			memcpy(m->data + off, iov[i].iov_base, iov[i].iov_len);
		else
			memcpy(iov[i].iov_base, m->data + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}

static int md_preadv(struct blockdev *bd, const struct iovec *iov, int n, uint64_t off)
{
	((struct memdisk *)bd->priv)->reads++;
	return md_io(bd, iov, n, off, false);
}

static int md_pwritev(struct blockdev *bd, const struct iovec *iov, int n, uint64_t off)
{
	((struct memdisk *)bd->priv)->writes++;
	if (bd->read_only)
		fail_msg("the device wrote to a read-only disk");
	return md_io(bd, iov, n, off, true);
}

static int md_flush(struct blockdev *bd)
{
	((struct memdisk *)bd->priv)->flushes++;
	return 0;
}

static int md_discard(struct blockdev *bd, uint64_t off, uint64_t len)
{
	struct memdisk *m = bd->priv;

	m->discards++;
	memset(m->data + off, 0xdd, len);	/* "may read back as old contents or anything" */
	return 0;
}

static int md_zeroes(struct blockdev *bd, uint64_t off, uint64_t len)
{
	struct memdisk *m = bd->priv;

	m->zeroes++;
	memset(m->data + off, 0, len);
	return 0;
}

static const struct blockdev_ops md_ops = {
	.preadv = md_preadv, .pwritev = md_pwritev, .flush = md_flush,
	.discard = md_discard, .write_zeroes = md_zeroes,
};

static const struct blockdev_ops md_ops_plain = {
	.preadv = md_preadv, .pwritev = md_pwritev, .flush = md_flush,
};

struct fx {
	struct vh h;
	struct memdisk md;
	struct blockdev *bd;
	uint64_t hdr, data, status;
};

static struct fx *fx_open(struct blockdev *bd, const struct blockdev_ops *ops, bool ro)
{
	struct fx *f = calloc(1, sizeof(*f));
	unsigned i;

	vh_init(&f->h, MEM, MEM);
	if (!bd) {
		f->md.data = malloc(DISK);
		for (i = 0; i < DISK; i++)
			f->md.data[i] = (uint8_t)(i * 7 + i / 512);
		f->md.bd = (struct blockdev){ .ops = ops, .size = DISK, .read_only = ro,
					      .priv = &f->md };
		strcpy(f->md.bd.serial, "sbx-test-disk-serial");	/* exactly 20 */
		bd = &f->md.bd;
	}
	f->bd = bd;
	assert_int_equal(virtio_blk_create(&f->h.dev, &f->h.env, bd), 0);
	f->hdr = vh_alloc(&f->h, 16);
	f->data = vh_alloc(&f->h, 65536);
	f->status = vh_alloc(&f->h, 1);
	return f;
}

static struct fx *fx_new(bool ro)
{
	return fx_open(NULL, &md_ops, ro);
}

static void fx_free(struct fx *f)
{
	vh_fini(&f->h);
	free(f->md.data);
	free(f);
}

static void put_hdr(struct fx *f, uint64_t gpa, uint32_t type, uint64_t sector)
{
	uint8_t *p = vh_ptr(&f->h, gpa, 16);
	uint32_t t = htole32(type), z = 0;
	uint64_t s = htole64(sector);

	memcpy(p, &t, 4);
	memcpy(p + 4, &z, 4);
	memcpy(p + 8, &s, 8);
}

/* Submit header / data / status as three descriptors; run; return the status byte. */
static int request(struct fx *f, uint32_t type, uint64_t sector, uint32_t len, bool data_write,
		   uint32_t *used_len)
{
	struct vh_buf b[3] = {
		{ f->hdr, 16, false },
		{ f->data, len, data_write },
		{ f->status, 1, true },
	};
	uint32_t id, ulen;
	uint8_t *st = vh_ptr(&f->h, f->status, 1);
	uint16_t head;

	put_hdr(f, f->hdr, type, sector);
	*st = 0xee;
	if (len) {
		head = vh_chain(&f->h, 0, 3, b);
	} else {
		b[1] = b[2];
		head = vh_chain(&f->h, 0, 2, b);
	}
	vh_avail(&f->h, 0, head);
	vh_run(&f->h);
	if (!vh_used(&f->h, 0, &id, &ulen))
		return -1;
	assert_int_equal(id, head);
	if (used_len)
		*used_len = ulen;
	return *st;
}

/* The driver's set-up, accepting every offered feature it knows. */
static void up(struct fx *f)
{
	assert_int_equal(vh_setup(&f->h, vh_device_features(&f->h) & F_ALL, 1, 256),
			 VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

static uint8_t *data(struct fx *f)
{
	return vh_ptr(&f->h, f->data, 65536);
}

static bool needs_reset(struct fx *f)
{
	return vh_r32(&f->h, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static uint64_t cfg(struct fx *f, size_t off, unsigned len)
{
	return vh_read(&f->h, VIRTIO_MMIO_CONFIG + off, len);
}

static void test_config_and_features(void **state)
{
	struct fx *f = fx_new(false);
	uint64_t feat = vh_device_features(&f->h);

	(void)state;
	assert_true(cfg(f, offsetof(struct virtio_blk_config, capacity), 8) == DISK / 512);
	assert_true(cfg(f, offsetof(struct virtio_blk_config, seg_max), 4) >= 2);
	assert_true(feat & (1ULL << VIRTIO_BLK_F_FLUSH));
	assert_false(feat & (1ULL << VIRTIO_BLK_F_RO));
	assert_true(feat & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_true(feat & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_true(cfg(f, offsetof(struct virtio_blk_config, max_discard_seg), 4) >= 1);
	assert_true(cfg(f, offsetof(struct virtio_blk_config, write_zeroes_may_unmap), 1) == 1);
	fx_free(f);

	f = fx_new(true);
	feat = vh_device_features(&f->h);
	assert_true(feat & (1ULL << VIRTIO_BLK_F_RO));
	assert_false(feat & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_false(feat & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	fx_free(f);
}

static void test_read_write(void **state)
{
	struct fx *f = fx_new(false);
	uint32_t ulen;
	unsigned i;

	(void)state;
	up(f);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 3, 4096, true, &ulen), VIRTIO_BLK_S_OK);
	assert_int_equal(ulen, 4097);
	assert_memory_equal(data(f), f->md.data + 3 * 512, 4096);

	for (i = 0; i < 8192; i++)
		data(f)[i] = (uint8_t)(0xa5 ^ i);
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, 100, 8192, false, &ulen), VIRTIO_BLK_S_OK);
	assert_int_equal(ulen, 1);
	assert_memory_equal(f->md.data + 100 * 512, data(f), 8192);

	/* The last sector, and one past the end. */
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, DISK / 512 - 1, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, DISK / 512 - 1, 1024, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, DISK / 512, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* Sector numbers that overflow when multiplied by 512. */
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 0x0080000000000000ULL, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, UINT64_MAX, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* Not a multiple of 512. */
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 0, 100, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, 0, 513, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_false(needs_reset(f));
	fx_free(f);
}

static void test_flush_get_id_unsupported(void **state)
{
	struct fx *f = fx_new(false);
	uint32_t ulen;

	(void)state;
	up(f);
	assert_int_equal(request(f, VIRTIO_BLK_T_FLUSH, 0, 0, false, &ulen), VIRTIO_BLK_S_OK);
	assert_int_equal(f->md.flushes, 1);
	assert_int_equal(ulen, 1);
	memset(data(f), 0x55, 32);
	assert_int_equal(request(f, VIRTIO_BLK_T_GET_ID, 0, 20, true, &ulen), VIRTIO_BLK_S_OK);
	assert_memory_equal(data(f), "sbx-test-disk-serial", 20);
	assert_int_equal(data(f)[20], 0x55);
	assert_int_equal(ulen, 21);
	assert_int_equal(request(f, 0x1234, 0, 0, false, &ulen), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(request(f, VIRTIO_BLK_T_SCSI_CMD, 0, 512, false, &ulen),
			 VIRTIO_BLK_S_UNSUPP);
	fx_free(f);
}

static void test_read_only_refuses_writes(void **state)
{
	struct fx *f = fx_new(true);
	uint8_t *before = malloc(DISK);
	uint64_t seg;

	(void)state;
	memcpy(before, f->md.data, DISK);
	up(f);
	memset(data(f), 0x77, 4096);
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, 0, 4096, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	seg = 0;
	memcpy(data(f), &seg, 8);
	assert_int_equal(request(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(f->md.writes, 0);
	assert_memory_equal(before, f->md.data, DISK);
	/* Reads and flushes still work. */
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 0, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(request(f, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	assert_false(needs_reset(f));
	free(before);
	fx_free(f);
}

static void put_seg(struct fx *f, unsigned i, uint64_t sector, uint32_t n, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes s = {
		.sector = htole64(sector), .num_sectors = htole32(n), .flags = htole32(flags),
	};

	memcpy(data(f) + 16 * i, &s, 16);
}

static void test_discard_write_zeroes(void **state, const struct blockdev_ops *ops)
{
	struct fx *f = fx_open(NULL, ops, false);
	uint8_t zero[1024] = { 0 };

	(void)state;
	up(f);
	put_seg(f, 0, 10, 2, 0);
	put_seg(f, 1, 40, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(request(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 32, false, NULL),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(f->md.data + 10 * 512, zero, 1024);
	assert_memory_equal(f->md.data + 40 * 512, zero, 512);
	assert_int_not_equal(f->md.data[12 * 512], 0xdd);
	if (ops->discard) {
		put_seg(f, 0, 20, 1, 0);
		assert_int_equal(request(f, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL),
				 VIRTIO_BLK_S_OK);
		assert_int_equal(f->md.discards, 1);
		/* Discard with the unmap flag, or unknown flags: unsupported. */
		put_seg(f, 0, 20, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
		assert_int_equal(request(f, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL),
				 VIRTIO_BLK_S_UNSUPP);
		put_seg(f, 0, 20, 1, 4);
		assert_int_equal(request(f, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL),
				 VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(f->md.discards, 1);
	} else {
		put_seg(f, 0, 20, 1, 0);
		assert_int_equal(request(f, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL),
				 VIRTIO_BLK_S_UNSUPP);
	}
	/* A bad segment anywhere fails the request before any is done. */
	put_seg(f, 0, 50, 1, 0);
	put_seg(f, 1, DISK / 512, 1, 0);
	memset(f->md.data + 50 * 512, 0x11, 512);
	assert_int_equal(request(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 32, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->md.data[50 * 512], 0x11);
	/* Lengths that are not whole segments, or too many segments. */
	assert_int_equal(request(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 24, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16 * 1024, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_false(needs_reset(f));
	fx_free(f);
}

static void test_discard_write_zeroes_backend(void **state)
{
	test_discard_write_zeroes(state, &md_ops);
}

static void test_write_zeroes_fallback(void **state)
{
	/* No discard or write_zeroes ops: write zeroes is done with zero buffers. */
	test_discard_write_zeroes(state, &md_ops_plain);
}

static void test_any_layout(void **state)
{
	struct fx *f = fx_new(false);
	uint64_t buf = vh_alloc(&f->h, 16 + 1024 + 1), table = vh_alloc(&f->h, 16 * 8);
	uint8_t *p = vh_ptr(&f->h, buf, 16 + 1024 + 1);
	struct vh_buf b[4];
	uint32_t id, len;

	(void)state;
	up(f);
	/* A write: header and data in one descriptor, status alone. */
	put_hdr(f, buf, VIRTIO_BLK_T_OUT, 7);
	memset(p + 16, 0x3c, 1024);
	b[0] = (struct vh_buf){ buf, 16 + 1024, false };
	b[1] = (struct vh_buf){ f->status, 1, true };
	vh_avail(&f->h, 0, vh_chain(&f->h, 0, 2, b));
	vh_run(&f->h);
	assert_int_equal(vh_used(&f->h, 0, &id, &len), 1);
	assert_int_equal(*(uint8_t *)vh_ptr(&f->h, f->status, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(f->md.data[7 * 512], 0x3c);
	assert_int_equal(f->md.data[9 * 512 - 1], 0x3c);

	/* A read: the header split 5 + 11, data and status in one descriptor, all indirect. */
	put_hdr(f, buf, VIRTIO_BLK_T_IN, 7);
	memset(p + 16, 0, 1025);
	vh_desc_at(&f->h, table, 0, buf, 5, VRING_DESC_F_NEXT, 1);
	vh_desc_at(&f->h, table, 1, buf + 5, 11, VRING_DESC_F_NEXT, 2);
	vh_desc_at(&f->h, table, 2, buf + 16, 1025, VRING_DESC_F_WRITE, 0);
	vh_desc(&f->h, 0, 100, table, 48, VRING_DESC_F_INDIRECT, 0);
	vh_avail(&f->h, 0, 100);
	vh_run(&f->h);
	assert_int_equal(vh_used(&f->h, 0, &id, &len), 1);
	assert_int_equal(id, 100);
	assert_int_equal(len, 1025);
	assert_int_equal(p[16 + 1024], VIRTIO_BLK_S_OK);
	assert_memory_equal(p + 16, f->md.data + 7 * 512, 1024);
	assert_false(needs_reset(f));
	fx_free(f);
}

static void test_malformed_requests(void **state)
{
	struct fx *f = fx_new(false);
	struct vh_buf b[2];
	uint32_t id, len;

	(void)state;
	up(f);
	/* A short header: the status says IOERR, the device carries on. */
	b[0] = (struct vh_buf){ f->hdr, 8, false };
	b[1] = (struct vh_buf){ f->status, 1, true };
	vh_avail(&f->h, 0, vh_chain(&f->h, 0, 2, b));
	vh_run(&f->h);
	assert_int_equal(vh_used(&f->h, 0, &id, &len), 1);
	assert_int_equal(*(uint8_t *)vh_ptr(&f->h, f->status, 1), VIRTIO_BLK_S_IOERR);
	assert_false(needs_reset(f));

	/* No device-writable byte for the status: the device is broken. */
	put_hdr(f, f->hdr, VIRTIO_BLK_T_FLUSH, 0);
	b[0] = (struct vh_buf){ f->hdr, 16, false };
	vh_avail(&f->h, 0, vh_chain(&f->h, 0, 1, b));
	vh_run(&f->h);
	assert_int_equal(vh_used(&f->h, 0, &id, &len), 0);
	assert_true(needs_reset(f));
	assert_int_equal(f->md.flushes, 0);

	/* A descriptor loop, after a reset. */
	up(f);
	put_hdr(f, f->hdr, VIRTIO_BLK_T_IN, 0);
	vh_desc(&f->h, 0, 0, f->hdr, 16, VRING_DESC_F_NEXT, 1);
	vh_desc(&f->h, 0, 1, f->data, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	vh_desc(&f->h, 0, 2, f->status, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	vh_avail(&f->h, 0, 0);
	vh_run(&f->h);
	assert_true(needs_reset(f));
	assert_int_equal(f->md.reads, 0);

	/* A huge data length. */
	up(f);
	vh_desc(&f->h, 0, 0, f->hdr, 16, VRING_DESC_F_NEXT, 1);
	vh_desc(&f->h, 0, 1, f->data, 0xfffffe00, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	vh_desc(&f->h, 0, 2, f->status, 1, VRING_DESC_F_WRITE, 0);
	vh_avail(&f->h, 0, 0);
	vh_run(&f->h);
	assert_true(needs_reset(f));
	assert_int_equal(f->md.reads, 0);

	/* And the device serves requests again after a reset. */
	up(f);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 0, 512, true, NULL), VIRTIO_BLK_S_OK);
	fx_free(f);
}

static void test_raw_file(void **state)
{
	char path[] = "/tmp/test-virtio-blk-XXXXXX";
	int fd = mkstemp(path);
	uint8_t sector[512], back[512];
	struct blockdev *bd;
	struct fx *f;
	unsigned i;

	(void)state;
	assert_true(fd >= 0);
	for (i = 0; i < 512; i++)
		sector[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(ftruncate(fd, 64 * 1024), 0);
	assert_int_equal(pwrite(fd, sector, 512, 5 * 512), 512);
	assert_int_equal(blockdev_open_raw(&bd, path, false), 0);
	f = fx_open(bd, NULL, false);
	up(f);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 5, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(data(f), sector, 512);
	memset(data(f), 0xc3, 512);
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, 9, 512, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(request(f, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(pread(fd, back, 512, 9 * 512), 512);
	assert_int_equal(back[0], 0xc3);
	assert_int_equal(back[511], 0xc3);
	vh_fini(&f->h);
	free(f);
	assert_int_equal(blockdev_close(bd), 0);

	/* The same file read-only: writes refused, the file unchanged. */
	assert_int_equal(blockdev_open_raw(&bd, path, true), 0);
	f = fx_open(bd, NULL, true);
	up(f);
	memset(data(f), 0x99, 512);
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, 9, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(pread(fd, back, 512, 9 * 512), 512);
	assert_int_equal(back[0], 0xc3);
	vh_fini(&f->h);
	free(f);
	assert_int_equal(blockdev_close(bd), 0);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_and_features),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_flush_get_id_unsupported),
		cmocka_unit_test(test_read_only_refuses_writes),
		cmocka_unit_test(test_discard_write_zeroes_backend),
		cmocka_unit_test(test_write_zeroes_fallback),
		cmocka_unit_test(test_any_layout),
		cmocka_unit_test(test_malformed_requests),
		cmocka_unit_test(test_raw_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
