// SPDX-License-Identifier: MIT
/*
 * Unit tests for snapshot/qcow2: create/open, reads and writes with and
 * without subclusters, backing chains, zeroes and discard, refcount
 * rebuild, validation of corrupt headers and tables, refused features,
 * locks, injected I/O failures, check/repair, squash and seal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "snapshot/qcow2.h"
#include "util/blockdev.h"
#include "util/checked.h"
#include "util/error.h"
#include "tests/unit/qcow2-test-util.h"

#define MiB (1024 * 1024)

static int setup(void **state)
{
	(void)state;
	tq_mkdir();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tq_cleanup();
	return 0;
}

static void create_img(const char *name, uint64_t size, unsigned cbits, bool extl2,
		       const char *backing)
{
	struct qcow2_create_opts o = QCOW2_CREATE_OPTS_INIT;
	char p[512];

	o.size = size;
	o.cluster_bits = cbits;
	o.extended_l2 = extl2;
	o.backing_file = backing;
	o.backing_format = backing ? "qcow2" : NULL;
	if (qcow2_create(tq_path(p, sizeof(p), name), &o))
		fail_msg("create %s: %s", name, sbx_error());
}

static struct qcow2 *open_img(const char *name, bool ro)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct qcow2 *q = NULL;
	char p[512];

	o.read_only = ro;
	if (qcow2_open(&q, tq_path(p, sizeof(p), name), &o))
		fail_msg("open %s: %s", name, sbx_error());
	return q;
}

static void qemu_check_clean(const char *name)
{
	char out[4096];

	if (!tq_have_qemu_img())
		return;
	if (tq_sh(out, sizeof(out), "%s check '%s/%s' 2>&1", tq_qemu_img(), tq_dir, name))
		fail_msg("qemu-img check %s:\n%s", name, out);
}

static void expect_pattern(struct qcow2 *q, uint64_t off, size_t len, uint32_t tag)
{
	uint8_t *a = malloc(len), *b = malloc(len);

	assert_non_null(a);
	assert_non_null(b);
	if (tag)
		tq_pattern(a, len, off, tag);
	else
		memset(a, 0, len);
	if (qcow2_read(q, b, len, off))
		fail_msg("read: %s", sbx_error());
	if (memcmp(a, b, len)) {
		size_t i = 0;

		while (a[i] == b[i])
			i++;
		fail_msg("mismatch at %llu (tag %u)", (unsigned long long)(off + i), tag);
	}
	free(a);
	free(b);
}

static void write_pattern(struct qcow2 *q, uint64_t off, size_t len, uint32_t tag)
{
	uint8_t *a = malloc(len);

	tq_pattern(a, len, off, tag);
	if (qcow2_write(q, a, len, off))
		fail_msg("write: %s", sbx_error());
	free(a);
}

static void test_create_and_info(void **state)
{
	struct qcow2_info info;
	struct qcow2 *q;
	char out[4096];

	(void)state;
	create_img("a.qcow2", 64 * MiB, 16, false, NULL);
	q = open_img("a.qcow2", true);
	qcow2_get_info(q, &info);
	assert_true(info.size == 64 * MiB);
	assert_int_equal(info.cluster_bits, 16);
	assert_false(info.dirty);
	assert_true(info.lazy_refcounts);
	assert_int_equal(info.refcount_bits, 16);
	expect_pattern(q, 0, 1 * MiB, 0);
	assert_int_equal(qcow2_close(q), 0);
	qemu_check_clean("a.qcow2");
	if (tq_have_qemu_img()) {
		assert_int_equal(tq_sh(out, sizeof(out), "%s info --output=json '%s/a.qcow2'",
				       tq_qemu_img(), tq_dir), 0);
		assert_non_null(strstr(out, "\"virtual-size\": 67108864"));
		assert_non_null(strstr(out, "\"lazy-refcounts\": true"));
	}
	assert_int_equal(qcow2_create(tq_path(out, sizeof(out), "a.qcow2"),
				      &(struct qcow2_create_opts)QCOW2_CREATE_OPTS_INIT), SBX_EEXISTS);
}

static void rw_roundtrip(bool extl2, unsigned cbits)
{
	struct qcow2 *q;

	create_img("rw.qcow2", 32 * MiB, cbits, extl2, NULL);
	q = open_img("rw.qcow2", false);
	write_pattern(q, 0, 4096, 1);
	write_pattern(q, 1 * MiB + 512, 3 * 512, 2);		/* partial (sub)cluster */
	write_pattern(q, 5 * MiB - 4096, 3 * 65536, 3);		/* across clusters */
	write_pattern(q, 32 * MiB - 512, 512, 4);		/* last sector */
	expect_pattern(q, 0, 4096, 1);
	expect_pattern(q, 4096, 1 * MiB - 4096, 0);
	expect_pattern(q, 1 * MiB + 512, 3 * 512, 2);
	expect_pattern(q, 1 * MiB, 512, 0);
	expect_pattern(q, 1 * MiB + 2048, 62 * 1024, 0);
	assert_int_equal(qcow2_flush(q), 0);
	assert_int_equal(qcow2_close(q), 0);
	qemu_check_clean("rw.qcow2");
	q = open_img("rw.qcow2", true);
	expect_pattern(q, 0, 4096, 1);
	expect_pattern(q, 1 * MiB + 512, 3 * 512, 2);
	expect_pattern(q, 5 * MiB - 4096, 3 * 65536, 3);
	expect_pattern(q, 32 * MiB - 512, 512, 4);
	expect_pattern(q, 8 * MiB, 1 * MiB, 0);
	assert_int_equal(qcow2_close(q), 0);
	if (tq_have_qemu_img()) {
		char out[2048];

		/* qemu reads what we wrote: compare with a raw conversion of our own read. */
		assert_int_equal(tq_sh(out, sizeof(out), "cd '%s' && %s convert -O raw rw.qcow2 rw.raw"
				       " && %s compare -f qcow2 -F raw rw.qcow2 rw.raw 2>&1",
				       tq_dir, tq_qemu_img(), tq_qemu_img()), 0);
	}
}

static void test_rw_plain(void **state)
{
	(void)state;
	rw_roundtrip(false, 16);
}

static void test_rw_extl2(void **state)
{
	(void)state;
	rw_roundtrip(true, 16);
}

static void test_rw_small_clusters(void **state)
{
	(void)state;
	rw_roundtrip(false, 9);
}

static void test_backing_chain(void **state)
{
	struct qcow2 *q;
	struct qcow2_info info;
	int ext;

	(void)state;
	for (ext = 0; ext < 2; ext++) {
		char cmd[1024];

		create_img("base.qcow2", 8 * MiB, 16, ext, NULL);
		q = open_img("base.qcow2", false);
		write_pattern(q, 0, 8 * MiB, 10);
		assert_int_equal(qcow2_close(q), 0);
		create_img("mid.qcow2", 0, 16, ext, "base.qcow2");
		q = open_img("mid.qcow2", false);
		qcow2_get_info(q, &info);
		assert_true(info.size == 8 * MiB);
		assert_int_equal(info.depth, 1);
		write_pattern(q, 65536 + 1024, 1024, 11);	/* COW inside a cluster */
		assert_int_equal(qcow2_write_zeroes(q, 3 * MiB, 65536), 0);
		assert_int_equal(qcow2_write_zeroes(q, 4 * MiB + 512, 1024), 0);
		assert_int_equal(qcow2_close(q), 0);
		create_img("top.qcow2", 0, 16, ext, "mid.qcow2");
		q = open_img("top.qcow2", false);
		write_pattern(q, 65536 + 1536, 512, 12);
		expect_pattern(q, 0, 65536 + 1024, 10);
		expect_pattern(q, 65536 + 1024, 512, 11);
		expect_pattern(q, 65536 + 1536, 512, 12);
		expect_pattern(q, 65536 + 2048, 65536 - 2048, 10);
		expect_pattern(q, 3 * MiB, 65536, 0);
		expect_pattern(q, 3 * MiB + 65536, 65536, 10);
		expect_pattern(q, 4 * MiB, 512, 10);
		expect_pattern(q, 4 * MiB + 512, 1024, 0);
		expect_pattern(q, 4 * MiB + 1536, 512, 10);
		assert_int_equal(qcow2_close(q), 0);
		qemu_check_clean("base.qcow2");
		qemu_check_clean("mid.qcow2");
		qemu_check_clean("top.qcow2");
		/* The backing files are shared read-only: two readers of base at once. */
		q = open_img("top.qcow2", true);
		{
			struct qcow2 *q2 = open_img("mid.qcow2", true);
			struct qcow2 *w = NULL;
			struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
			char p[512];

			assert_int_equal(qcow2_open(&w, tq_path(p, sizeof(p), "base.qcow2"), &o),
					 SBX_ELOCKED);
			qcow2_close(q2);
		}
		qcow2_close(q);
		snprintf(cmd, sizeof(cmd), "rm -f '%s'/*.qcow2", tq_dir);
		assert_int_equal(system(cmd), 0);
	}
}

/* qcow2_revert: a fresh overlay back to its backing, its file cut back; others refused. */
static void test_revert(void **state)
{
	struct qcow2 *q;
	struct stat st0, st1;
	char p[512];
	int i;

	(void)state;
	create_img("base.qcow2", 8 * MiB, 16, true, NULL);
	q = open_img("base.qcow2", false);
	write_pattern(q, 0, 8 * MiB, 20);
	assert_int_equal(qcow2_close(q), 0);
	create_img("over.qcow2", 0, 16, true, "base.qcow2");
	assert_int_equal(stat(tq_path(p, sizeof(p), "over.qcow2"), &st0), 0);
	q = open_img("over.qcow2", false);
	for (i = 0; i < 3; i++) {	/* attempts: write, revert, again */
		write_pattern(q, 65536 + 512, 4096, 21 + i);
		write_pattern(q, 5 * MiB, MiB, 31 + i);
		assert_int_equal(qcow2_write_zeroes(q, 7 * MiB, 65536), 0);
		expect_pattern(q, 5 * MiB, MiB, 31 + i);
		assert_int_equal(qcow2_revert(q), 0);
		expect_pattern(q, 0, 8 * MiB, 20);
		assert_int_equal(stat(p, &st1), 0);
		assert_true(st1.st_size == st0.st_size);
	}
	write_pattern(q, 0, 4096, 40);		/* still writable after a revert */
	assert_int_equal(qcow2_close(q), 0);
	qemu_check_clean("over.qcow2");
	q = open_img("over.qcow2", false);
	expect_pattern(q, 0, 4096, 40);
	expect_pattern(q, 4096, 8 * MiB - 4096, 20);
	/* It held data at this open: refused, and nothing changes. */
	assert_int_equal(qcow2_revert(q), SBX_EUNSUPPORTED);
	expect_pattern(q, 0, 4096, 40);
	assert_int_equal(qcow2_close(q), 0);
	q = open_img("over.qcow2", true);
	assert_int_equal(qcow2_revert(q), SBX_EINVAL);
	qcow2_close(q);
}

static void test_zero_discard(void **state)
{
	struct qcow2 *q;
	struct qcow2_info info;
	uint64_t before;
	int ext;

	(void)state;
	for (ext = 0; ext < 2; ext++) {
		char p[512];

		create_img("z.qcow2", 16 * MiB, 16, ext, NULL);
		q = open_img("z.qcow2", false);
		write_pattern(q, 0, 4 * MiB, 20);
		assert_int_equal(qcow2_flush(q), 0);
		qcow2_get_info(q, &info);
		before = info.disk_bytes;
		assert_int_equal(qcow2_write_zeroes(q, 512, 1024), 0);
		assert_int_equal(qcow2_write_zeroes(q, 1 * MiB, 1 * MiB), 0);
		assert_int_equal(qcow2_discard(q, 2 * MiB + 4096, 65536), 0);	/* partial: ext only */
		assert_int_equal(qcow2_discard(q, 3 * MiB, 1 * MiB), 0);
		expect_pattern(q, 0, 512, 20);
		expect_pattern(q, 512, 1024, 0);
		expect_pattern(q, 1536, 1 * MiB - 1536, 20);
		expect_pattern(q, 1 * MiB, 1 * MiB, 0);
		expect_pattern(q, 3 * MiB, 1 * MiB, 0);
		expect_pattern(q, 2 * MiB, 4096, 20);
		qcow2_get_info(q, &info);
		/* Dropped clusters are punched out of the file. */
		assert_true(info.disk_bytes + 1 * MiB < before);
		/* Writing again into a dropped cluster allocates a new one. */
		write_pattern(q, 1 * MiB + 4096, 4096, 21);
		expect_pattern(q, 1 * MiB, 4096, 0);
		expect_pattern(q, 1 * MiB + 4096, 4096, 21);
		expect_pattern(q, 1 * MiB + 8192, 65536 - 8192, 0);
		assert_int_equal(qcow2_close(q), 0);
		qemu_check_clean("z.qcow2");
		unlink(tq_path(p, sizeof(p), "z.qcow2"));
	}
}

static void test_dirty_bit_and_repair(void **state)
{
	struct qcow2_check_result r;
	struct qcow2_info info;
	struct qcow2 *q;
	char p[512];
	int fd;

	(void)state;
	create_img("d.qcow2", 8 * MiB, 16, false, NULL);
	q = open_img("d.qcow2", false);
	write_pattern(q, 0, 1 * MiB, 30);
	assert_int_equal(qcow2_flush(q), 0);
	/* Simulate a crash: copy the file while it is open and dirty. */
	assert_int_equal(tq_sh(NULL, 0, "cp '%s/d.qcow2' '%s/crash.qcow2'", tq_dir, tq_dir), 0);
	assert_int_equal(qcow2_close(q), 0);
	assert_int_equal(qcow2_check(tq_path(p, sizeof(p), "crash.qcow2"), false, &r), 0);
	assert_true(r.dirty);
	assert_true(r.corruptions == 0);
	assert_true(r.stale_refcounts > 0);
	q = open_img("crash.qcow2", true);
	qcow2_get_info(q, &info);
	assert_true(info.dirty);
	expect_pattern(q, 0, 1 * MiB, 30);
	qcow2_close(q);
	assert_int_equal(qcow2_check(p, true, &r), 0);
	assert_true(r.corruptions == 0 && r.leaks == 0 && r.stale_refcounts == 0 && !r.dirty);
	assert_true(r.repaired > 0);
	qemu_check_clean("crash.qcow2");
	/* A leak: bump the refcount of an unused cluster past the end. */
	q = open_img("crash.qcow2", false);
	qcow2_close(q);
	assert_int_equal(qcow2_check(p, false, &r), 0);
	assert_true(r.leaks == 0 && r.corruptions == 0);
	/* Corruption: point L1 entry 0 at an unaligned offset. */
	fd = open(p, O_RDWR);
	{
		uint8_t h[512], e[8] = { 0x80, 0, 0, 0, 0, 0, 0x12, 0x00 };
		uint64_t l1;

		assert_int_equal(pread(fd, h, 512, 0), 512);
		l1 = ((uint64_t)h[40] << 56) | ((uint64_t)h[41] << 48) | ((uint64_t)h[42] << 40) |
		     ((uint64_t)h[43] << 32) | ((uint64_t)h[44] << 24) | ((uint64_t)h[45] << 16) |
		     ((uint64_t)h[46] << 8) | h[47];
		assert_int_equal(pwrite(fd, e, 8, (off_t)l1), 8);
	}
	close(fd);
	assert_int_equal(qcow2_check(p, true, &r), 0);
	assert_true(r.corruptions > 0);
	assert_non_null(strstr(r.first_error, "L2 table"));
	q = NULL;
	{
		struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
		uint8_t b[512];

		o.read_only = true;
		assert_int_equal(qcow2_open(&q, p, &o), 0);
		assert_int_equal(qcow2_read(q, b, 512, 0), SBX_ECORRUPT);
		assert_non_null(strstr(sbx_error(), "L2 table offset"));
		qcow2_close(q);
	}
}

/* Patch big-endian header fields and expect an open error mentioning `what`. */
static void expect_open_fails(const char *name, int code, const char *what)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct qcow2 *q = NULL;
	char p[512];
	int err;

	o.read_only = true;
	err = qcow2_open(&q, tq_path(p, sizeof(p), name), &o);
	if (err != code || !strstr(sbx_error(), what))
		fail_msg("%s: got %d '%s', wanted %d '%s'", name, err, sbx_error(), code, what);
}

static void patch(const char *name, off_t off, const void *bytes, size_t n)
{
	char p[512];
	int fd = open(tq_path(p, sizeof(p), name), O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
	close(fd);
}

static void test_corrupt_headers(void **state)
{
	static const struct {
		off_t off;
		uint8_t bytes[8];
		size_t n;
		int code;
		const char *what;
	} cases[] = {
		{ 0, { 'Q', 'F', 'I', 0 }, 4, SBX_ECORRUPT, "not a qcow2 image" },
		{ 4, { 0, 0, 0, 2 }, 4, SBX_EUNSUPPORTED, "version 2" },
		{ 4, { 0, 0, 0, 9 }, 4, SBX_EUNSUPPORTED, "version 9" },
		{ 20, { 0, 0, 0, 8 }, 4, SBX_ECORRUPT, "cluster_bits 8" },
		{ 20, { 0, 0, 0, 40 }, 4, SBX_ECORRUPT, "cluster_bits 40" },
		{ 32, { 0, 0, 0, 2 }, 4, SBX_EUNSUPPORTED, "encrypted" },
		{ 36, { 0, 0, 0, 0 }, 4, SBX_ECORRUPT, "L1 table has 0 entries" },
		{ 36, { 0x7f, 0, 0, 0 }, 4, SBX_ECORRUPT, "too large" },
		{ 40, { 0, 0, 0, 0, 0, 0, 0x12, 0x34 }, 8, SBX_ECORRUPT, "L1 table offset" },
		{ 40, { 0, 0, 0x10, 0, 0, 0, 0, 0 }, 8, SBX_ECORRUPT, "beyond the end" },
		{ 48, { 0, 0, 0, 0, 0, 0, 0x02, 0 }, 8, SBX_ECORRUPT, "refcount table" },
		{ 72, { 0, 0, 0, 0, 0, 0, 0, 0x04 }, 8, SBX_EUNSUPPORTED, "external data file" },
		{ 72, { 0, 0, 0, 0, 0, 0, 0, 0x20 }, 8, SBX_EUNSUPPORTED, "unknown incompatible feature bit 5" },
		{ 72, { 0x80, 0, 0, 0, 0, 0, 0, 0 }, 8, SBX_EUNSUPPORTED, "bit 63" },
		{ 72, { 0, 0, 0, 0, 0, 0, 0, 0x10 }, 8, SBX_ECORRUPT, "extended L2" },
		{ 96, { 0, 0, 0, 7 }, 4, SBX_ECORRUPT, "refcount_order 7" },
		{ 100, { 0, 0, 0, 100 }, 4, SBX_ECORRUPT, "header_length" },
		{ 104, { 7 }, 1, SBX_EUNSUPPORTED, "compression type 7" },
		{ 104, { 1 }, 1, SBX_ECORRUPT, "disagrees" },
		{ 8, { 0, 0, 0, 0, 0, 0, 0xff, 0xf0 }, 8, SBX_ECORRUPT, "backing file name" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char p[512], name[32];

		snprintf(name, sizeof(name), "h%zu.qcow2", i);
		create_img(name, 1 * MiB, 12, false, NULL);
		if (cases[i].off == 8) {
			static const uint8_t len[4] = { 0, 0, 0, 8 };

			patch(name, 16, len, 4);
		}
		patch(name, cases[i].off, cases[i].bytes, cases[i].n);
		expect_open_fails(name, cases[i].code, cases[i].what);
		unlink(tq_path(p, sizeof(p), name));
	}
	/* A truncated file. */
	create_img("t.qcow2", 1 * MiB, 16, false, NULL);
	assert_int_equal(truncate(tq_path((char[512]){ 0 }, 512, "t.qcow2"), 60), 0);
	expect_open_fails("t.qcow2", SBX_ECORRUPT, "too short");
	/* An empty file and one that is not qcow2 at all. */
	assert_int_equal(tq_sh(NULL, 0, "cd '%s' && : >e.qcow2 && head -c 4096 /dev/urandom >r.qcow2",
			       tq_dir), 0);
	expect_open_fails("e.qcow2", SBX_ECORRUPT, "");
	expect_open_fails("r.qcow2", SBX_ECORRUPT, "not a qcow2 image");
}

static void test_backing_rules(void **state)
{
	struct qcow2_create_opts o = QCOW2_CREATE_OPTS_INIT;
	struct qcow2 *q = NULL;
	struct qcow2_open_opts oo = QCOW2_OPEN_OPTS_INIT;
	char p[512];

	(void)state;
	/* No explicit backing format: refused at create and at open. */
	o.size = 1 * MiB;
	o.backing_file = "b.qcow2";
	assert_int_equal(qcow2_create(tq_path(p, sizeof(p), "nofmt.qcow2"), &o), SBX_EINVAL);
	/* An image that names its backing file without a format (the extension hidden). */
	oo.read_only = true;
	o.backing_format = "qcow2";
	create_img("b.qcow2", 1 * MiB, 16, false, NULL);
	assert_int_equal(qcow2_create(tq_path(p, sizeof(p), "nofmt.qcow2"), &o), 0);
	patch("nofmt.qcow2", 112, (const uint8_t[4]){ 0x12, 0x34, 0x56, 0x78 }, 4);
	assert_int_equal(qcow2_open(&q, p, &oo), SBX_EUNSUPPORTED);
	assert_non_null(strstr(sbx_error(), "without a format"));
	oo.no_backing = true;	/* info and check do not need the backing file */
	assert_int_equal(qcow2_open(&q, p, &oo), 0);
	qcow2_close(q);
	oo.no_backing = false;
	/* A chain that loops: a -> b -> a. */
	create_img("loop-a.qcow2", 1 * MiB, 16, false, NULL);
	create_img("loop-b.qcow2", 1 * MiB, 16, false, "loop-a.qcow2");
	unlink(tq_path(p, sizeof(p), "loop-a.qcow2"));
	create_img("loop-a.qcow2", 1 * MiB, 16, false, "loop-b.qcow2");
	oo.read_only = true;
	assert_int_equal(qcow2_open(&q, tq_path(p, sizeof(p), "loop-a.qcow2"), &oo), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "loops"));
	/* Too deep. */
	oo.max_depth = 3;
	{
		int i;
		char name[32], prev[32];

		create_img("d0.qcow2", 1 * MiB, 16, false, NULL);
		for (i = 1; i <= 5; i++) {
			snprintf(prev, sizeof(prev), "d%d.qcow2", i - 1);
			snprintf(name, sizeof(name), "d%d.qcow2", i);
			create_img(name, 1 * MiB, 16, false, prev);
		}
		assert_int_equal(qcow2_open(&q, tq_path(p, sizeof(p), "d5.qcow2"), &oo), SBX_ELIMIT);
		assert_int_equal(qcow2_open(&q, tq_path(p, sizeof(p), "d3.qcow2"), &oo), 0);
		qcow2_close(q);
	}
	/* A missing backing file says which. */
	oo.max_depth = 0;
	create_img("orphan.qcow2", 1 * MiB, 16, false, "gone.qcow2");
	assert_int_equal(qcow2_open(&q, tq_path(p, sizeof(p), "orphan.qcow2"), &oo), SBX_ENOTFOUND);
	assert_non_null(strstr(sbx_error(), "gone.qcow2"));
}

static void test_locks(void **state)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct qcow2 *a, *b = NULL;
	char p[512];

	(void)state;
	create_img("l.qcow2", 1 * MiB, 16, false, NULL);
	a = open_img("l.qcow2", false);
	assert_int_equal(qcow2_open(&b, tq_path(p, sizeof(p), "l.qcow2"), &o), SBX_ELOCKED);
	o.read_only = true;
	assert_int_equal(qcow2_open(&b, p, &o), SBX_ELOCKED);
	qcow2_close(a);
	a = open_img("l.qcow2", true);
	assert_int_equal(qcow2_open(&b, p, &o), 0);	/* readers share */
	qcow2_close(b);
	qcow2_close(a);
}

/* Fault injection: fail the Nth write or sync. */
struct faults {
	int writes_left;	/* fail when it reaches 0; negative: never */
	bool torn;		/* write half, then fail */
};

static ssize_t f_preadv(void *ctx, int fd, const struct iovec *iov, int cnt, uint64_t off)
{
	return qcow2_default_io.preadv(ctx, fd, iov, cnt, off);
}

static ssize_t f_pwritev(void *ctx, int fd, const struct iovec *iov, int cnt, uint64_t off)
{
	struct faults *f = ctx;

	if (f->writes_left >= 0 && f->writes_left-- == 0) {
		if (f->torn && iov[0].iov_len >= 1024) {
			struct iovec half = { iov[0].iov_base, iov[0].iov_len / 2 & ~511UL };

			(void)!pwritev(fd, &half, 1, (off_t)off);
		}
		errno = EIO;
		return -1;
	}
	return pwritev(fd, iov, cnt, (off_t)off);
}

static int f_sync(void *ctx, int fd)
{
	struct faults *f = ctx;

	if (f->writes_left == -2) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

static const struct qcow2_io_ops fault_io = {
	.preadv = f_preadv, .pwritev = f_pwritev, .sync = f_sync, .punch = NULL,
};

static void test_injected_failures(void **state)
{
	int n, ext;

	(void)state;
	for (ext = 0; ext < 2; ext++) {
		for (n = 0; n < 40; n++) {
			struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
			struct qcow2_check_result r;
			struct faults f = { -1, n % 2 };
			struct qcow2 *q = NULL;
			char p[512];
			int i, err = 0;

			create_img("f.qcow2", 8 * MiB, 16, ext, NULL);
			q = open_img("f.qcow2", false);
			write_pattern(q, 0, 256 * 1024, 40);
			assert_int_equal(qcow2_close(q), 0);
			o.io = &fault_io;
			o.io_ctx = &f;
			assert_int_equal(qcow2_open(&q, tq_path(p, sizeof(p), "f.qcow2"), &o), 0);
			f.writes_left = n;
			for (i = 0; i < 20 && !err; i++) {
				uint8_t buf[8192];

				uint64_t off = 1 * MiB + (uint64_t)i * 300 * 1024;

				tq_pattern(buf, sizeof(buf), off, 41);
				err = qcow2_write(q, buf, sizeof(buf), off);
				if (!err && i % 5 == 4)
					err = qcow2_flush(q);
			}
			if (!err)
				err = qcow2_close(q);
			else
				assert_int_not_equal(qcow2_close(q), 0);	/* stays dirty */
			/* Whatever failed, the image opens, data flushed before is intact. */
			assert_int_equal(qcow2_check(p, true, &r), 0);
			assert_true(r.corruptions == 0);
			q = open_img("f.qcow2", true);
			expect_pattern(q, 0, 8192, 40);
			expect_pattern(q, 8192, 256 * 1024 - 8192, 40);
			qcow2_close(q);
			qemu_check_clean("f.qcow2");
			unlink(p);
		}
	}
}

static void test_blockdev(void **state)
{
	struct blockdev *bd = NULL;
	uint8_t a[4096], b[4096];
	struct iovec v[3] = { { a, 512 }, { a + 512, 1536 }, { a + 2048, 2048 } };
	char p[512];

	(void)state;
	create_img("bd.qcow2", 4 * MiB, 16, true, NULL);
	assert_int_equal(blockdev_open_qcow2(&bd, tq_path(p, sizeof(p), "bd.qcow2"), false), 0);
	assert_true(bd->size == 4 * MiB);
	assert_string_equal(bd->serial, "bd.qcow2");
	tq_pattern(a, sizeof(a), 8192, 50);
	assert_int_equal(bd->ops->pwritev(bd, v, 3, 8192), 0);
	assert_int_equal(bd->ops->flush(bd), 0);
	memset(a, 0, sizeof(a));
	assert_int_equal(bd->ops->preadv(bd, v, 3, 8192), 0);
	tq_pattern(b, sizeof(b), 8192, 50);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(bd->ops->write_zeroes(bd, 8192, 1024), 0);
	assert_int_equal(bd->ops->discard(bd, 0, 4 * MiB), 0);
	assert_int_equal(bd->ops->preadv(bd, v, 3, 8192), 0);
	memset(b, 0, sizeof(b));
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(bd->ops->pwritev(bd, v, 3, 4 * MiB), SBX_EINVAL);
	assert_int_equal(blockdev_close(bd), 0);
	assert_int_equal(blockdev_open_qcow2(&bd, p, true), 0);
	assert_true(bd->read_only);
	assert_int_not_equal(bd->ops->pwritev(bd, v, 3, 0), 0);
	assert_int_equal(blockdev_close(bd), 0);
	qemu_check_clean("bd.qcow2");
}

static void test_squash_seal(void **state)
{
	struct qcow2_check_result r;
	struct qcow2_info info;
	struct qcow2 *q;
	char p[512], p2[512], p3[512];
	int ext;

	(void)state;
	for (ext = 0; ext < 2; ext++) {
		create_img("s0.qcow2", 4 * MiB, 16, ext, NULL);
		q = open_img("s0.qcow2", false);
		write_pattern(q, 0, 2 * MiB, 60 | TQ_TEXT);
		qcow2_close(q);
		create_img("s1.qcow2", 0, 16, ext, "s0.qcow2");
		q = open_img("s1.qcow2", false);
		write_pattern(q, 65536, 4096, 61);
		assert_int_equal(qcow2_write_zeroes(q, 1 * MiB, 65536), 0);
		qcow2_close(q);
		create_img("s2.qcow2", 0, 16, ext, "s1.qcow2");
		q = open_img("s2.qcow2", false);
		write_pattern(q, 3 * MiB, 65536, 62);
		memset(p, 0x5a, sizeof(p));
		assert_int_equal(qcow2_write(q, p, 512, 3 * MiB + 65536), 0);
		qcow2_close(q);
		/* Squash everything: a standalone image. */
		assert_int_equal(qcow2_squash(tq_path(p, sizeof(p), "s2.qcow2"), NULL,
					      tq_path(p2, sizeof(p2), "all.qcow2")), 0);
		if (tq_have_qemu_img())
			assert_int_equal(tq_sh(NULL, 0, "cd '%s' && %s compare s2.qcow2 all.qcow2",
					       tq_dir, tq_qemu_img()), 0);
		q = open_img("all.qcow2", true);
		qcow2_get_info(q, &info);
		assert_string_equal(info.backing_file, "");
		qcow2_close(q);
		qemu_check_clean("all.qcow2");
		/* Squash s1+s2 onto s0. */
		assert_int_equal(qcow2_squash(p, tq_path(p2, sizeof(p2), "s0.qcow2"),
					      tq_path(p3, sizeof(p3), "mid.qcow2")), 0);
		q = open_img("mid.qcow2", true);
		qcow2_get_info(q, &info);
		assert_string_equal(info.backing_file, "s0.qcow2");
		assert_int_equal(info.depth, 1);
		expect_pattern(q, 65536, 4096, 61);
		expect_pattern(q, 1 * MiB, 65536, 0);
		expect_pattern(q, 3 * MiB, 65536, 62);
		expect_pattern(q, 0, 65536, 60 | TQ_TEXT);
		qcow2_close(q);
		if (tq_have_qemu_img())
			assert_int_equal(tq_sh(NULL, 0, "cd '%s' && %s compare s2.qcow2 mid.qcow2",
					       tq_dir, tq_qemu_img()), 0);
		qemu_check_clean("mid.qcow2");
		/* Seal s0 and s1 in place: compressed, read-only, same content. */
		assert_int_equal(tq_sh(NULL, 0, "cd '%s' && cp s0.qcow2 s0.orig", tq_dir), 0);
		assert_int_equal(qcow2_seal(tq_path(p, sizeof(p), "s0.qcow2"), NULL), 0);
		assert_int_equal(qcow2_seal(tq_path(p, sizeof(p), "s1.qcow2"), NULL), 0);
		assert_int_equal(access(p, W_OK) == 0 && geteuid() != 0, false);
		assert_int_equal(qcow2_check(tq_path(p, sizeof(p), "s0.qcow2"), false, &r), 0);
		if (r.corruptions || r.leaks || !r.compressed_clusters)
			fail_msg("sealed: %llu corruptions (%s), %llu leaks, %llu compressed",
				 (unsigned long long)r.corruptions, r.first_error,
				 (unsigned long long)r.leaks, (unsigned long long)r.compressed_clusters);
		q = open_img("s0.qcow2", true);
		qcow2_get_info(q, &info);
		assert_int_equal(info.compression_type, 1);
		assert_true(info.disk_bytes < 1 * MiB);	/* 2 MiB of a compressible pattern */
		qcow2_close(q);
		qemu_check_clean("s0.qcow2");
		qemu_check_clean("s1.qcow2");
		if (tq_have_qemu_img()) {
			assert_int_equal(tq_sh(NULL, 0, "cd '%s' && %s compare s2.qcow2 all.qcow2 && "
					       "%s compare -F qcow2 s0.qcow2 s0.orig",
					       tq_dir, tq_qemu_img(), tq_qemu_img()), 0);
		}
		q = open_img("s2.qcow2", true);
		expect_pattern(q, 0, 65536, 60 | TQ_TEXT);
		expect_pattern(q, 65536, 4096, 61);
		expect_pattern(q, 1 * MiB, 65536, 0);
		qcow2_close(q);
		assert_int_equal(tq_sh(NULL, 0, "cd '%s' && rm -f s*.qcow2 all.qcow2 mid.qcow2 s0.orig",
				       tq_dir), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw_extl2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw_small_clusters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backing_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_bit_and_repair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backing_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_injected_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blockdev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_squash_seal, setup, teardown),
	};

	return cmocka_run_group_tests_name("qcow2", tests, NULL, NULL);
}
