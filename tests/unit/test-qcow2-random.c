// SPDX-License-Identifier: MIT
/*
 * Randomized qcow2 test against a reference: 10,000 mixed operations
 * (write, vectored write, write-zeroes, discard, read, flush, reopen) on a
 * 3-layer chain (a third of them on each layer as it is stacked), with
 * different cluster sizes per layer, run once without and once with
 * subclusters.  Every read is checked against an in-memory reference;
 * afterwards our checker and `qemu-img check` find every layer clean and
 * `qemu-img compare` finds the chain identical to the reference raw file.
 * SBX_SEED=<n> repeats a run, SBX_OPS=<n> changes the count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "snapshot/qcow2.h"
#include "util/error.h"
#include "tests/unit/qcow2-test-util.h"

#define MiB (1024 * 1024)
#define DISK (24 * MiB)

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

struct st {
	uint8_t *ref;
	uint8_t *buf;
	struct qcow2 *q;
	char top[512];
	unsigned long nwrite, nzero, ndiscard, nread, nflush, nreopen;
};

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

static void pick(uint64_t *off, uint64_t *len)
{
	uint64_t r = rnd_below(100);

	if (r < 55)
		*len = (1 + rnd_below(8)) * 512;		/* small */
	else if (r < 85)
		*len = (1 + rnd_below(128)) * 512;		/* up to 64 KiB */
	else
		*len = (1 + rnd_below(1024)) * 512;		/* up to 512 KiB */
	if (rnd_below(4) == 0) {
		*off = rnd_below(DISK / 65536) * 65536;		/* cluster aligned */
	} else if (rnd_below(3) == 0) {
		*off = (4 * MiB + rnd_below(2 * MiB)) & ~511ULL;	/* a hot region */
	} else {
		*off = rnd_below(DISK / 512) * 512;
	}
	if (*off + *len > DISK)
		*len = DISK - *off;
}

static void verify(struct st *s, uint64_t off, uint64_t len)
{
	if (qcow2_read(s->q, s->buf, len, off))
		fail_msg("read %llu+%llu: %s", (unsigned long long)off, (unsigned long long)len,
			 sbx_error());
	if (memcmp(s->buf, s->ref + off, len)) {
		uint64_t i = 0;

		while (s->buf[i] == s->ref[off + i])
			i++;
		fail_msg("mismatch at %llu (read %llu+%llu, seed %llu)",
			 (unsigned long long)(off + i), (unsigned long long)off,
			 (unsigned long long)len, (unsigned long long)rng);
	}
	s->nread++;
}

static void reopen(struct st *s)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;

	if (s->q && qcow2_close(s->q))
		fail_msg("close: %s", sbx_error());
	s->q = NULL;
	o.l2_cache_bytes = 1;	/* the smallest cache: evictions all the time */
	if (qcow2_open(&s->q, s->top, &o))
		fail_msg("open %s: %s", s->top, sbx_error());
}

static void one_op(struct st *s)
{
	uint64_t off, len, r = rnd_below(1000);
	int err = 0;

	pick(&off, &len);
	if (r < 400) {
		tq_pattern(s->buf, len, off, (uint32_t)rnd());
		err = qcow2_write(s->q, s->buf, len, off);
		memcpy(s->ref + off, s->buf, len);
		s->nwrite++;
	} else if (r < 500) {
		/* A vectored write split at odd places. */
		struct iovec v[3];
		size_t a = (size_t)rnd_below(len + 1), b = (size_t)rnd_below(len - a + 1);

		tq_pattern(s->buf, len, off, (uint32_t)rnd());
		v[0] = (struct iovec){ s->buf, a };
		v[1] = (struct iovec){ s->buf + a, b };
		v[2] = (struct iovec){ s->buf + a + b, len - a - b };
		err = qcow2_pwritev(s->q, v, 3, off);
		memcpy(s->ref + off, s->buf, len);
		s->nwrite++;
	} else if (r < 620) {
		err = qcow2_write_zeroes(s->q, off, len);
		memset(s->ref + off, 0, len);
		s->nzero++;
	} else if (r < 740) {
		uint64_t i;

		/* Discard: each sector reads as zeroes or as before; adopt what we read. */
		if ((err = qcow2_discard(s->q, off, len)))
			fail_msg("discard: %s", sbx_error());
		if (qcow2_read(s->q, s->buf, len, off))
			fail_msg("read: %s", sbx_error());
		for (i = 0; i < len; i += 512) {
			static const uint8_t zero[512];

			if (memcmp(s->buf + i, zero, 512) && memcmp(s->buf + i, s->ref + off + i, 512))
				fail_msg("discarded sector %llu is neither zero nor old",
					 (unsigned long long)(off + i));
		}
		memcpy(s->ref + off, s->buf, len);
		s->ndiscard++;
	} else if (r < 965) {
		verify(s, off, len);
	} else if (r < 990) {
		err = qcow2_flush(s->q);
		s->nflush++;
	} else {
		reopen(s);
		s->nreopen++;
	}
	if (err)
		fail_msg("op %llu at %llu+%llu: %s", (unsigned long long)r, (unsigned long long)off,
			 (unsigned long long)len, sbx_error());
}

static void run(bool ext)
{
	static const unsigned plain_bits[3] = { 16, 12, 16 }, ext_bits[3] = { 16, 14, 17 };
	const char *names[3] = { "base.qcow2", "mid.qcow2", "top.qcow2" };
	const char *seed_env = getenv("SBX_SEED"), *ops_env = getenv("SBX_OPS");
	unsigned long nops = ops_env ? strtoul(ops_env, NULL, 0) : 10000, i;
	struct st s = { 0 };
	char out[4096], p[512];
	int layer, fd;
	uint64_t off;

	rng = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eed0000ULL + ext;
	print_message("seed %llu, %lu ops, %s\n", (unsigned long long)rng, nops,
		      ext ? "subclusters" : "no subclusters");
	s.ref = calloc(1, DISK);
	s.buf = malloc(DISK);
	assert_non_null(s.ref);
	assert_non_null(s.buf);
	for (layer = 0; layer < 3; layer++) {
		struct qcow2_create_opts co = QCOW2_CREATE_OPTS_INIT;

		co.size = DISK;
		co.cluster_bits = ext ? ext_bits[layer] : plain_bits[layer];
		co.extended_l2 = ext && layer > 0;	/* base: plain under subclustered layers */
		co.backing_file = layer ? names[layer - 1] : NULL;
		co.backing_format = layer ? "qcow2" : NULL;
		if (qcow2_create(tq_path(s.top, sizeof(s.top), names[layer]), &co))
			fail_msg("create: %s", sbx_error());
		reopen(&s);
		for (i = 0; i < nops / 3 + (layer == 2 ? nops % 3 : 0); i++)
			one_op(&s);
		for (off = 0; off < DISK; off += 4 * MiB)
			verify(&s, off, 4 * MiB);
		if (qcow2_close(s.q))
			fail_msg("close: %s", sbx_error());
		s.q = NULL;
	}
	print_message("%lu writes, %lu write-zeroes, %lu discards, %lu reads, %lu flushes, "
		      "%lu reopens\n", s.nwrite, s.nzero, s.ndiscard, s.nread, s.nflush, s.nreopen);
	assert_true(s.nwrite + s.nzero + s.ndiscard + s.nflush + s.nreopen + s.nread >= nops);
	for (layer = 0; layer < 3; layer++) {
		struct qcow2_check_result r;

		if (qcow2_check(tq_path(p, sizeof(p), names[layer]), false, &r))
			fail_msg("check: %s", sbx_error());
		if (r.corruptions || r.leaks || r.stale_refcounts || r.dirty)
			fail_msg("%s: %llu corruptions (%s), %llu leaks", names[layer],
				 (unsigned long long)r.corruptions, r.first_error,
				 (unsigned long long)r.leaks);
	}
	fd = open(tq_path(p, sizeof(p), "ref.raw"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, s.ref, DISK), DISK);
	close(fd);
	if (tq_have_qemu_img()) {
		for (layer = 0; layer < 3; layer++)
			if (tq_sh(out, sizeof(out), "%s check '%s/%s' 2>&1", tq_qemu_img(), tq_dir,
				  names[layer]))
				fail_msg("qemu-img check %s:\n%s", names[layer], out);
		if (tq_sh(out, sizeof(out), "cd '%s' && %s compare -f qcow2 -F raw top.qcow2 ref.raw 2>&1",
			  tq_dir, tq_qemu_img()))
			fail_msg("qemu-img compare:\n%s", out);
		print_message("qemu-img check: 3 layers clean; qemu-img compare: identical\n");
	} else {
		print_message("qemu-img not found: only our own checks ran\n");
	}
	free(s.ref);
	free(s.buf);
}

static void test_random_plain(void **state)
{
	(void)state;
	run(false);
}

static void test_random_subclusters(void **state)
{
	(void)state;
	run(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_random_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_subclusters, setup, teardown),
	};

	return cmocka_run_group_tests_name("qcow2 randomized", tests, NULL, NULL);
}
