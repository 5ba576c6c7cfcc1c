// SPDX-License-Identifier: MIT
/*
 * The snapshot state file (snapshot/vmstate.c): records round-trip; every
 * damaged file (any one byte changed, any truncation, trailing bytes, another
 * version, lengths and counts past the caps) is refused and nothing is
 * returned; the cursor never reads past a record and says when it was short.
 */
#include "snapshot/vmstate.h"
#include "util/crc32c.h"
#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }	/* tests run on little-endian x86 */
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void fix_header_crc(uint8_t *f)
{
	put32(f + 28, crc32c(0, f, 28));
}

/* A small file: four records of lengths 0, 1, 7 and 13 (so with padding). */
static uint8_t *small_file(size_t *len)
{
	static const uint8_t data[13] = "abcdefghijklm";
	struct vmstate_writer *w = NULL;
	const uint8_t *p;
	uint8_t *copy;

	assert_int_equal(vmstate_writer_new(&w), 0);
	assert_int_equal(vmstate_put(w, 1, 0, NULL, 0), 0);
	assert_int_equal(vmstate_put(w, 2, 0, data, 1), 0);
	assert_int_equal(vmstate_put(w, 2, 1, data, 7), 0);
	assert_int_equal(vmstate_put(w, 0xdeadbeef, 7, data, 13), 0);
	p = vmstate_writer_data(w, len);
	assert_int_equal(*len, 32 + 4 * 24 + 0 + 8 + 8 + 16);
	copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, p, *len);
	vmstate_writer_free(w);
	return copy;
}

static void expect_refused(const uint8_t *buf, size_t len, int code, const char *words)
{
	struct vmstate *s = (struct vmstate *)1;
	int err = vmstate_parse(&s, buf, len);

	if (err >= 0 || s)
		fail_msg("a damaged state file (%zu bytes) was accepted", len);
	if (code && err != code)
		fail_msg("error %d (%s), expected %d", err, sbx_error(), code);
	if (words && !strstr(sbx_error(), words))
		fail_msg("message '%s' does not say '%s'", sbx_error(), words);
}

static void test_round_trip(void **state)
{
	struct vmstate_writer *w = NULL;
	struct vmstate *s = NULL;
	enum { N = 2000 };
	static uint8_t data[N][300];
	static size_t lens[N];
	const struct vmstate_rec *r;
	char path[] = "/tmp/sbx-test-vmstate.XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	/* Old contents longer than the new file: the write must truncate them. */
	assert_int_equal(ftruncate(fd, 8 << 20), 0);

	assert_int_equal(vmstate_writer_new(&w), 0);
	for (size_t i = 0; i < N; i++) {
		lens[i] = rnd() % 300;
		for (size_t k = 0; k < lens[i]; k++)
			data[i][k] = (uint8_t)rnd();
		assert_int_equal(vmstate_put(w, (uint32_t)(i % 17), (uint32_t)i, data[i], lens[i]), 0);
	}
	assert_int_equal(vmstate_write_fd(w, fd), 0);
	vmstate_writer_free(w);

	assert_int_equal(vmstate_read_fd(&s, fd, 1 << 20), 0);
	assert_int_equal(vmstate_count(s), N);
	for (size_t i = 0; i < N; i++) {
		r = vmstate_rec(s, i);
		assert_non_null(r);
		assert_int_equal(r->type, i % 17);
		assert_int_equal(r->index, i);
		assert_int_equal(r->len, lens[i]);
		assert_memory_equal(r->data, data[i], lens[i]);
		assert_ptr_equal(vmstate_find(s, (uint32_t)(i % 17), (uint32_t)i), r);
	}
	assert_null(vmstate_rec(s, N));
	assert_null(vmstate_find(s, 17, 0));
	vmstate_free(s);

	/* A limit below the file's size. */
	s = (struct vmstate *)1;
	assert_int_equal(vmstate_read_fd(&s, fd, 4096), SBX_ELIMIT);
	assert_null(s);
	close(fd);
	vmstate_free(NULL);
	vmstate_writer_free(NULL);
}

static void test_empty_file(void **state)
{
	struct vmstate_writer *w = NULL;
	struct vmstate *s = NULL;
	const uint8_t *p;
	size_t len;

	(void)state;
	assert_int_equal(vmstate_writer_new(&w), 0);
	p = vmstate_writer_data(w, &len);
	assert_int_equal(len, 32);
	assert_int_equal(vmstate_parse(&s, p, len), 0);
	assert_int_equal(vmstate_count(s), 0);
	assert_null(vmstate_rec(s, 0));
	vmstate_free(s);
	vmstate_writer_free(w);
}

/* Any single byte changed to any other value: refused. */
static void test_every_byte_flip(void **state)
{
	size_t len, off;
	uint8_t *f = small_file(&len);
	struct vmstate *s = NULL;

	(void)state;
	assert_int_equal(vmstate_parse(&s, f, len), 0);
	assert_int_equal(vmstate_count(s), 4);
	vmstate_free(s);
	for (off = 0; off < len; off++) {
		uint8_t orig = f[off];

		for (unsigned v = 1; v < 256; v++) {
			f[off] = (uint8_t)(orig ^ v);
			expect_refused(f, len, 0, NULL);
		}
		f[off] = orig;
	}
	/* The message says where: a flip in record 2's data. */
	f[32 + 24 + 24 + 8 + 24] ^= 1;
	expect_refused(f, len, SBX_ECORRUPT, "offset 88");
	free(f);
}

static void test_truncated_and_extended(void **state)
{
	size_t len, n;
	uint8_t *f = small_file(&len), *g;

	(void)state;
	for (n = 0; n < len; n++)
		expect_refused(f, n, 0, NULL);
	/* Truncated, with the header's length made to agree: the records are short. */
	for (n = 32; n < len; n++) {
		g = malloc(n);
		memcpy(g, f, n);
		put64(g + 16, n);
		fix_header_crc(g);
		expect_refused(g, n, SBX_ECORRUPT, NULL);
		free(g);
	}
	/* Bytes after the last record, lengths agreeing. */
	g = calloc(1, len + 8);
	memcpy(g, f, len);
	expect_refused(g, len + 8, SBX_ECORRUPT, "bytes");
	put64(g + 16, len + 8);
	fix_header_crc(g);
	expect_refused(g, len + 8, SBX_ECORRUPT, "after its last record");
	free(g);
	free(f);
}

static void test_version_and_flags(void **state)
{
	size_t len;
	uint8_t *f = small_file(&len);

	(void)state;
	put32(f + 8, 2);
	fix_header_crc(f);
	expect_refused(f, len, SBX_EUNSUPPORTED, "version 2");
	/* Refused as another version even where its header would not check out as ours. */
	put32(f + 28, 0);
	expect_refused(f, len, SBX_EUNSUPPORTED, "version 2");
	put32(f + 8, 1);
	put32(f + 12, 4);
	fix_header_crc(f);
	expect_refused(f, len, SBX_EUNSUPPORTED, "flags");
	put32(f + 12, 0);
	memcpy(f, "SBXSTATX", 8);
	fix_header_crc(f);
	expect_refused(f, len, SBX_ECORRUPT, "magic");
	free(f);
}

static void test_huge_lengths_and_counts(void **state)
{
	static const uint64_t lens[] = {
		(256ull << 20) + 1, 1ull << 32, 1ull << 63, ~0ull, ~0ull - 6, 17, 1000,
	};
	size_t len;
	uint8_t *f = small_file(&len), *g = malloc(len);
	struct vmstate_writer *w = NULL;
	uint8_t one = 1;

	(void)state;
	/* Record 3 (at 32 + 24 + 32 + 32 = 120) claims a huge length, its CRC made to match. */
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(g, f, len);
		put64(g + 120 + 8, lens[i]);
		put32(g + 120 + 16, crc32c(0, g + 120, 16));
		expect_refused(g, len, SBX_ECORRUPT, NULL);
	}
	/* Counts: past the cap, and more than the bytes could hold. */
	static const uint32_t counts[] = { 65537, 0xffffffffu, 5, 3, 0, 1000 };

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		memcpy(g, f, len);
		put32(g + 24, counts[i]);
		fix_header_crc(g);
		expect_refused(g, len, SBX_ECORRUPT, NULL);
	}
	/* A file length past the cap. */
	memcpy(g, f, len);
	put64(g + 16, (1ull << 30) + 8);
	fix_header_crc(g);
	expect_refused(g, len, SBX_ECORRUPT, "cap");

	/* The writer's caps. */
	assert_int_equal(vmstate_writer_new(&w), 0);
	assert_int_equal(vmstate_put(w, 1, 1, &one, (256u << 20) + 1), SBX_ELIMIT);
	assert_int_equal(vmstate_put(w, 1, 1, NULL, 1), SBX_EINVAL);
	for (uint32_t i = 0; i < 65536; i++)
		assert_int_equal(vmstate_put(w, 1, i, NULL, 0), 0);
	assert_int_equal(vmstate_put(w, 1, 65536, NULL, 0), SBX_ELIMIT);
	/* ... and a file with exactly the maximum count parses. */
	{
		struct vmstate *s = NULL;
		const uint8_t *p = vmstate_writer_data(w, &len);

		assert_int_equal(vmstate_parse(&s, p, len), 0);
		assert_int_equal(vmstate_count(s), 65536);
		vmstate_free(s);
	}
	vmstate_writer_free(w);
	free(g);
	free(f);
}

/* Records at the very end of a page followed by an inaccessible one: any over-read faults. */
static void test_cursor_never_reads_past(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	struct vmstate_rec r = { 7, 0, NULL, 0 };
	struct vs_cur c;
	uint8_t out[16];

	(void)state;
	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
	for (size_t len = 0; len <= 16; len++) {
		uint8_t *d = m + pg - len;

		for (size_t i = 0; i < len; i++)
			d[i] = (uint8_t)(0x10 + i);
		r.data = d;
		r.len = len;

		/* Fields of 1+2+4+8 bytes, then 16 more. */
		vs_cur_init(&c, &r);
		uint8_t a = vs_u8(&c);
		uint16_t b = vs_u16(&c);
		uint32_t x = vs_u32(&c);
		uint64_t y = vs_u64(&c);

		assert_int_equal(c.bad, len < 15);
		if (len >= 1)
			assert_int_equal(a, 0x10);
		if (len >= 3)
			assert_int_equal(b, 0x1211);
		if (len >= 7)
			assert_int_equal(x, 0x16151413u);
		if (len >= 15)
			assert_true(y == 0x1e1d1c1b1a191817ull);
		if (len < 15)
			assert_true(y == 0);
		assert_int_equal(vs_cur_done(&c), len == 15);

		memset(out, 0xaa, sizeof(out));
		vs_cur_init(&c, &r);
		vs_bytes(&c, out, 16);
		assert_int_equal(c.bad, len < 16);
		if (len < 16) {
			for (size_t i = 0; i < 16; i++)
				assert_int_equal(out[i], 0);
			/* Once bad, everything after reads as zero, even what would fit. */
			assert_int_equal(vs_u8(&c), 0);
			assert_null(vs_ptr(&c, 0));
		} else {
			assert_memory_equal(out, d, 16);
			assert_true(vs_cur_done(&c));
		}
		vs_cur_init(&c, &r);
		assert_null(vs_ptr(&c, len + 1));
		assert_true(c.bad);
	}
	vs_cur_init(&c, NULL);
	assert_int_equal(vs_u32(&c), 0);
	assert_true(c.bad);
	munmap(m, (size_t)pg * 2);
}

static void test_encoder(void **state)
{
	struct vs_buf b = VS_BUF_INIT;
	struct vmstate_writer *w = NULL;
	struct vmstate *s = NULL;
	const struct vmstate_rec *r;
	const uint8_t *p;
	struct vs_cur c;
	size_t len;
	char name[6];

	(void)state;
	assert_int_equal(vmstate_writer_new(&w), 0);
	vs_put_u8(&b, 0xab);
	vs_put_u16(&b, 0x1234);
	vs_put_u32(&b, 0xdeadbeef);
	vs_put_u64(&b, 0x0102030405060708ull);
	vs_put_bytes(&b, "hello", 5);
	assert_int_equal(b.len, 20);
	assert_int_equal(b.p[1], 0x34);	/* little-endian */
	assert_int_equal(vmstate_put_buf(w, 9, 3, &b), 0);
	vs_buf_reset(&b);
	for (int i = 0; i < 10000; i++)
		vs_put_u32(&b, (uint32_t)i);
	assert_int_equal(vmstate_put_buf(w, 9, 4, &b), 0);

	p = vmstate_writer_data(w, &len);
	assert_int_equal(vmstate_parse(&s, p, len), 0);
	r = vmstate_find(s, 9, 3);
	assert_non_null(r);
	vs_cur_init(&c, r);
	assert_int_equal(vs_u8(&c), 0xab);
	assert_int_equal(vs_u16(&c), 0x1234);
	assert_int_equal(vs_u32(&c), 0xdeadbeef);
	assert_true(vs_u64(&c) == 0x0102030405060708ull);
	vs_bytes(&c, name, 5);
	assert_memory_equal(name, "hello", 5);
	assert_true(vs_cur_done(&c));
	vs_cur_init(&c, vmstate_find(s, 9, 4));
	for (int i = 0; i < 10000; i++)
		assert_int_equal(vs_u32(&c), i);
	assert_true(vs_cur_done(&c));
	vmstate_free(s);

	/* An encoder that ran out (past the record cap): refused as out of memory, and sticky. */
	vs_buf_reset(&b);
	vs_put_u32(&b, 1);
	vs_put_bytes(&b, &b, (256u << 20));
	assert_true(b.oom);
	vs_put_u32(&b, 2);
	assert_int_equal(b.len, 4);
	assert_int_equal(vmstate_put_buf(w, 9, 5, &b), SBX_ENOMEM);
	vs_buf_free(&b);
	vs_buf_free(&b);
	assert_null(b.p);
	vs_buf_free(NULL);
	vmstate_writer_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_every_byte_flip),
		cmocka_unit_test(test_truncated_and_extended),
		cmocka_unit_test(test_version_and_flags),
		cmocka_unit_test(test_huge_lengths_and_counts),
		cmocka_unit_test(test_cursor_never_reads_past),
		cmocka_unit_test(test_encoder),
	};

	return cmocka_run_group_tests_name("vmstate", tests, NULL, NULL);
}
