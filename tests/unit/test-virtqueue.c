// SPDX-License-Identifier: MIT
/*
 * Unit tests for vmm/virtqueue.c over plain memory: good chains, loops,
 * addresses outside RAM, huge lengths, indirect tables, index wrap-around,
 * notification suppression, the iovec helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <endian.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/virtio-harness.h"
#include "util/error.h"
#include "vmm/virtqueue.h"

#define NUM	16
#define DESC	0x1000ULL
#define AVAIL	0x2000ULL
#define USED	0x3000ULL
#define BUF	0x10000ULL
#define MEM	(1ULL << 20)
#define ALL_F	((1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX))

struct fx {
	struct vh h;
	struct virtq vq;
	struct virtq_chain c;
	struct iovec iov[64];
	uint16_t avail_idx;
};

static struct fx *fx_new(uint64_t features)
{
	struct fx *f = calloc(1, sizeof(*f));

	vh_init(&f->h, MEM, MEM);
	assert_int_equal(virtq_init(&f->vq, &f->h.mem, NUM, DESC, AVAIL, USED, features, 0), 0);
	f->c.cap = 64;
	f->c.iov = f->iov;
	return f;
}

static void fx_free(struct fx *f)
{
	vh_fini(&f->h);
	free(f);
}

static void put16(struct fx *f, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(vh_ptr(&f->h, gpa, 2), &v, 2);
}

static uint16_t get16(struct fx *f, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, vh_ptr(&f->h, gpa, 2), 2);
	return le16toh(v);
}

static uint32_t get32(struct fx *f, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, vh_ptr(&f->h, gpa, 4), 4);
	return le32toh(v);
}

static void desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	vh_desc_at(&f->h, DESC, i, addr, len, flags, next);
}

static void publish(struct fx *f, uint16_t head)
{
	put16(f, AVAIL + 4 + 2 * (f->avail_idx % NUM), head);
	f->avail_idx++;
	put16(f, AVAIL + 2, f->avail_idx);
}

static int pop(struct fx *f)
{
	return virtq_pop(&f->vq, &f->c);
}

static void test_good_chain(void **state)
{
	struct fx *f = fx_new(ALL_F);

	(void)state;
	desc(f, 3, BUF, 16, VRING_DESC_F_NEXT, 7);
	desc(f, 7, BUF + 0x100, 512, VRING_DESC_F_NEXT, 1);
	desc(f, 1, BUF + 0x400, 1, VRING_DESC_F_WRITE, 0);
	assert_int_equal(pop(f), 0);
	publish(f, 3);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(f->c.nout, 2);
	assert_int_equal(f->c.nin, 1);
	assert_true(f->c.out_bytes == 528);
	assert_true(f->c.in_bytes == 1);
	assert_ptr_equal(f->iov[0].iov_base, f->h.mem.host + BUF);
	assert_int_equal(f->iov[1].iov_len, 512);
	assert_ptr_equal(f->iov[2].iov_base, f->h.mem.host + BUF + 0x400);
	assert_int_equal(pop(f), 0);

	virtq_push(&f->vq, 3, 1);
	assert_int_equal(get16(f, USED + 2), 1);
	assert_int_equal(get32(f, USED + 4), 3);
	assert_int_equal(get32(f, USED + 8), 1);
	fx_free(f);
}

static void expect_corrupt(struct fx *f, const char *what)
{
	sbx_error_clear();
	assert_int_equal(pop(f), SBX_ECORRUPT);
	if (!strstr(sbx_error(), what))
		fail_msg("expected '%s' in '%s'", what, sbx_error());
}

static void test_descriptor_loop(void **state)
{
	struct fx *f = fx_new(ALL_F);

	(void)state;
	desc(f, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
	desc(f, 1, BUF, 8, VRING_DESC_F_NEXT, 0);
	publish(f, 0);
	expect_corrupt(f, "longer than 16");
	fx_free(f);

	/* A descriptor pointing at itself, all device-writable. */
	f = fx_new(ALL_F);
	desc(f, 5, BUF, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 5);
	publish(f, 5);
	expect_corrupt(f, "");
	fx_free(f);
}

static void test_out_of_range(void **state)
{
	struct fx *f = fx_new(ALL_F);

	(void)state;
	desc(f, 0, MEM - 8, 16, 0, 0);		/* runs off the end of RAM */
	publish(f, 0);
	expect_corrupt(f, "not in guest RAM");
	fx_free(f);

	f = fx_new(ALL_F);
	desc(f, 0, 0xfffffffffffffff0ULL, 0x20, 0, 0);	/* wraps around 2^64 */
	publish(f, 0);
	expect_corrupt(f, "not in guest RAM");
	fx_free(f);

	f = fx_new(ALL_F);
	desc(f, 0, BUF, 0xffffffff, VRING_DESC_F_WRITE, 0);	/* huge length */
	publish(f, 0);
	expect_corrupt(f, "not in guest RAM");
	fx_free(f);

	f = fx_new(ALL_F);
	desc(f, 0, BUF, 8, VRING_DESC_F_NEXT, NUM);		/* next beyond the table */
	publish(f, 0);
	expect_corrupt(f, "beyond table");
	fx_free(f);

	f = fx_new(ALL_F);
	publish(f, NUM + 3);					/* head beyond the queue */
	expect_corrupt(f, "beyond queue");
	fx_free(f);
}

static void test_avail_index_jump(void **state)
{
	struct fx *f = fx_new(ALL_F);

	(void)state;
	desc(f, 0, BUF, 8, 0, 0);
	put16(f, AVAIL + 2, NUM + 1);	/* claims 17 new entries on a queue of 16 */
	expect_corrupt(f, "jumped by 17");
	fx_free(f);
}

static void test_readable_after_writable(void **state)
{
	struct fx *f = fx_new(ALL_F);

	(void)state;
	desc(f, 0, BUF, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	desc(f, 1, BUF, 8, 0, 0);
	publish(f, 0);
	expect_corrupt(f, "readable descriptor after");
	fx_free(f);
}

static void test_chain_over_capacity(void **state)
{
	struct fx *f = fx_new(ALL_F);
	uint16_t i;

	(void)state;
	for (i = 0; i < 9; i++)
		desc(f, i, BUF, 8, i < 8 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	publish(f, 0);
	f->c.cap = 8;
	expect_corrupt(f, "more than 8 buffers");
	fx_free(f);
}

static void test_indirect(void **state)
{
	struct fx *f = fx_new(ALL_F);
	uint64_t table = BUF + 0x1000;

	(void)state;
	/* A direct descriptor, then an indirect table of three. */
	desc(f, 2, BUF, 16, VRING_DESC_F_NEXT, 4);
	desc(f, 4, table, 48, VRING_DESC_F_INDIRECT, 0);
	vh_desc_at(&f->h, table, 0, BUF + 0x100, 100, VRING_DESC_F_NEXT, 2);
	vh_desc_at(&f->h, table, 2, BUF + 0x200, 200, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	vh_desc_at(&f->h, table, 1, BUF + 0x300, 1, VRING_DESC_F_WRITE, 0);
	publish(f, 2);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.nout, 2);
	assert_int_equal(f->c.nin, 2);
	assert_true(f->c.out_bytes == 116);
	assert_true(f->c.in_bytes == 201);
	assert_ptr_equal(f->iov[3].iov_base, f->h.mem.host + BUF + 0x300);
	fx_free(f);
}

static void test_indirect_malformed(void **state)
{
	uint64_t table = BUF + 0x1000;
	struct fx *f;

	(void)state;
	/* Not negotiated. */
	f = fx_new(0);
	desc(f, 0, table, 16, VRING_DESC_F_INDIRECT, 0);
	vh_desc_at(&f->h, table, 0, BUF, 8, 0, 0);
	publish(f, 0);
	expect_corrupt(f, "without the feature");
	fx_free(f);

	/* Nested. */
	f = fx_new(ALL_F);
	desc(f, 0, table, 16, VRING_DESC_F_INDIRECT, 0);
	vh_desc_at(&f->h, table, 0, table, 16, VRING_DESC_F_INDIRECT, 0);
	publish(f, 0);
	expect_corrupt(f, "inside an indirect table");
	fx_free(f);

	/* INDIRECT with NEXT. */
	f = fx_new(ALL_F);
	desc(f, 0, table, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	publish(f, 0);
	expect_corrupt(f, "with NEXT");
	fx_free(f);

	/* Length not a multiple of 16, zero, or huge. */
	f = fx_new(ALL_F);
	desc(f, 0, table, 24, VRING_DESC_F_INDIRECT, 0);
	publish(f, 0);
	expect_corrupt(f, "indirect table length");
	desc(f, 0, table, 0, VRING_DESC_F_INDIRECT, 0);
	expect_corrupt(f, "indirect table length");
	desc(f, 0, table, 0xfffffff0, VRING_DESC_F_INDIRECT, 0);
	expect_corrupt(f, "indirect table length");
	fx_free(f);

	/* Outside RAM. */
	f = fx_new(ALL_F);
	desc(f, 0, MEM - 16, 32, VRING_DESC_F_INDIRECT, 0);
	publish(f, 0);
	expect_corrupt(f, "not in guest RAM");
	fx_free(f);

	/* A loop inside the table; next beyond the table. */
	f = fx_new(ALL_F);
	desc(f, 0, table, 32, VRING_DESC_F_INDIRECT, 0);
	vh_desc_at(&f->h, table, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
	vh_desc_at(&f->h, table, 1, BUF, 8, VRING_DESC_F_NEXT, 0);
	publish(f, 0);
	expect_corrupt(f, "longer than");
	vh_desc_at(&f->h, table, 1, BUF, 8, VRING_DESC_F_NEXT, 2);
	expect_corrupt(f, "beyond table of 2");
	fx_free(f);
}

static void test_wrap_around(void **state)
{
	struct fx *f = fx_new(0);
	unsigned i;

	(void)state;
	/* Both indexes just below 2^16: three chains carry them across. */
	f->vq.last_avail = f->vq.used_idx = f->vq.signalled_used = 65534;
	f->avail_idx = 65534;
	put16(f, USED + 2, 65534);
	for (i = 0; i < 3; i++) {
		desc(f, (uint16_t)i, BUF + 64 * i, 64, VRING_DESC_F_WRITE, 0);
		publish(f, (uint16_t)i);
	}
	assert_int_equal(get16(f, AVAIL + 2), 1);
	for (i = 0; i < 3; i++) {
		assert_int_equal(pop(f), 1);
		assert_int_equal(f->c.head, i);
		virtq_push(&f->vq, f->c.head, 64 + i);
	}
	assert_int_equal(pop(f), 0);
	assert_int_equal(get16(f, USED + 2), 1);
	/* Entries 65534, 65535, 0 of the ring: slots 14, 15, 0. */
	assert_int_equal(get32(f, USED + 4 + 8 * 14), 0);
	assert_int_equal(get32(f, USED + 4 + 8 * 15), 1);
	assert_int_equal(get32(f, USED + 4 + 8 * 0), 2);
	assert_int_equal(get32(f, USED + 8 + 8 * 0), 66);
	assert_true(virtq_should_notify(&f->vq));
	fx_free(f);
}

static void test_notify_suppression(void **state)
{
	struct fx *f = fx_new(0);

	(void)state;
	assert_false(virtq_should_notify(&f->vq));	/* nothing used yet */
	desc(f, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	virtq_push(&f->vq, 0, 8);
	put16(f, AVAIL, VRING_AVAIL_F_NO_INTERRUPT);
	assert_false(virtq_should_notify(&f->vq));
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	virtq_push(&f->vq, 0, 8);
	put16(f, AVAIL, 0);
	assert_true(virtq_should_notify(&f->vq));
	assert_false(virtq_should_notify(&f->vq));	/* already told */
	fx_free(f);
}

static void test_event_idx(void **state)
{
	struct fx *f = fx_new(ALL_F);
	unsigned i;

	(void)state;
	/* An empty pop publishes avail_event = where we are. */
	assert_int_equal(pop(f), 0);
	assert_int_equal(get16(f, USED + 4 + 8 * NUM), 0);
	desc(f, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	for (i = 0; i < 4; i++)
		publish(f, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pop(f), 1);
	assert_int_equal(pop(f), 0);
	assert_int_equal(get16(f, USED + 4 + 8 * NUM), 4);

	/* The driver wants an interrupt once entry 2 is used (used_event = 2). */
	put16(f, AVAIL + 4 + 2 * NUM, 2);
	virtq_push(&f->vq, 0, 8);		/* used idx 1 */
	assert_false(virtq_should_notify(&f->vq));
	virtq_push(&f->vq, 0, 8);		/* 2 */
	assert_false(virtq_should_notify(&f->vq));
	virtq_push(&f->vq, 0, 8);		/* 3: crossed used_event */
	assert_true(virtq_should_notify(&f->vq));
	virtq_push(&f->vq, 0, 8);		/* 4: used_event is behind */
	assert_false(virtq_should_notify(&f->vq));
	fx_free(f);
}

static void test_unpop(void **state)
{
	struct fx *f = fx_new(ALL_F);

	(void)state;
	desc(f, 6, BUF, 8, VRING_DESC_F_WRITE, 0);
	publish(f, 6);
	assert_int_equal(pop(f), 1);
	virtq_unpop(&f->vq);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.head, 6);
	assert_int_equal(pop(f), 0);
	fx_free(f);
}

static void test_init_checks(void **state)
{
	struct vh h;
	struct virtq vq;

	(void)state;
	vh_init(&h, 3 << 20, 2 << 20);	/* 2 MiB low, 1 MiB at 4 GiB */
	assert_int_equal(virtq_init(&vq, &h.mem, 0, DESC, AVAIL, USED, 0, 0), SBX_ECORRUPT);
	assert_int_equal(virtq_init(&vq, &h.mem, 12, DESC, AVAIL, USED, 0, 0), SBX_ECORRUPT);
	assert_int_equal(virtq_init(&vq, &h.mem, 65536, DESC, AVAIL, USED, 0, 0), SBX_ECORRUPT);
	assert_int_equal(virtq_init(&vq, &h.mem, 16, DESC + 8, AVAIL, USED, 0, 0), SBX_ECORRUPT);
	assert_int_equal(virtq_init(&vq, &h.mem, 16, DESC, AVAIL + 1, USED, 0, 0), SBX_ECORRUPT);
	assert_int_equal(virtq_init(&vq, &h.mem, 16, DESC, AVAIL, USED + 2, 0, 0), SBX_ECORRUPT);
	assert_false(virtq_ready(&vq));
	/* Areas that run past low RAM into the hole, or into nothing. */
	assert_int_equal(virtq_init(&vq, &h.mem, 16, (2 << 20) - 16 * 8, AVAIL, USED, 0, 0),
			 SBX_ECORRUPT);
	assert_int_equal(virtq_init(&vq, &h.mem, 16, DESC, AVAIL, GMEM_HOLE_START, 0, 0),
			 SBX_ECORRUPT);
	assert_int_equal(virtq_init(&vq, &h.mem, 16, DESC, AVAIL, GMEM_HIGH_START + (1 << 20) - 64,
				    0, 0), SBX_ECORRUPT);
	/* The used ring's avail_event slot counts only with event-idx. */
	assert_int_equal(virtq_init(&vq, &h.mem, 16, DESC, AVAIL, (2 << 20) - (4 + 8 * 16), 0, 0),
			 0);
	assert_int_equal(virtq_init(&vq, &h.mem, 16, DESC, AVAIL, (2 << 20) - (4 + 8 * 16),
				    1ULL << VIRTIO_RING_F_EVENT_IDX, 0), SBX_ECORRUPT);
	/* High RAM works. */
	assert_int_equal(virtq_init(&vq, &h.mem, 16, GMEM_HIGH_START, GMEM_HIGH_START + 0x1000,
				    GMEM_HIGH_START + 0x2000, ALL_F, 0), 0);
	assert_true(virtq_ready(&vq));
	vh_fini(&h);
}

static void test_iov_helpers(void **state)
{
	uint8_t a[5] = "abcde", b[3] = "fgh", c[4] = "ijkl", out[12];
	struct iovec src[3] = { { a, 5 }, { b, 3 }, { c, 4 } }, dst[3];

	(void)state;
	memset(out, 0, sizeof(out));
	assert_int_equal(vq_iov_to_buf(src, 3, 3, out, 7), 7);
	assert_memory_equal(out, "defghij", 7);
	assert_int_equal(vq_iov_to_buf(src, 3, 10, out, 7), 2);
	assert_int_equal(vq_iov_slice(dst, 3, src, 3, 4, 5), 3);
	assert_ptr_equal(dst[0].iov_base, a + 4);
	assert_int_equal(dst[0].iov_len, 1);
	assert_int_equal(dst[2].iov_len, 1);
	assert_int_equal(vq_iov_slice(dst, 3, src, 3, 4, 9), -1);	/* past the end */
	assert_int_equal(vq_iov_slice(dst, 1, src, 3, 0, 6), -1);	/* too many pieces */
	assert_int_equal(vq_iov_slice(dst, 3, src, 3, 12, 0), 0);
	assert_int_equal(vq_iov_from_buf(src, 3, 7, "XYZ", 3), 3);
	assert_memory_equal(b, "fgX", 3);
	assert_memory_equal(c, "YZkl", 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_chain),
		cmocka_unit_test(test_descriptor_loop),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_avail_index_jump),
		cmocka_unit_test(test_readable_after_writable),
		cmocka_unit_test(test_chain_over_capacity),
		cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_indirect_malformed),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_notify_suppression),
		cmocka_unit_test(test_event_idx),
		cmocka_unit_test(test_unpop),
		cmocka_unit_test(test_init_checks),
		cmocka_unit_test(test_iov_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
