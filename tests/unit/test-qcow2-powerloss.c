// SPDX-License-Identifier: MIT
/*
 * Power-loss test through the qcow2 I/O ops table.  Every write since the
 * last sync is "volatile": at a cut point (the Nth write or sync) the power
 * goes, and the image on disk becomes the synced state plus a random subset
 * of the volatile writes, some torn at a 512-byte sector.  This is harsher
 * than SIGKILL (the page cache survives a kill; here writes are lost and
 * reordered), and checks the write order: data, sync, L2, sync, L1/header.
 * After each cut: no corruption (our checker and qemu-img check after the
 * repair), and every write acknowledged by a completed flush reads back.
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
#define DISK (4 * MiB)
#define NSEC (DISK / 512)
#define NOPS 400
#define BASE_TAG 0x7ffd0001u

struct vwrite {
	uint64_t off;
	size_t len;
	uint8_t *data;
};

struct power {
	long left;		/* writes and syncs until the cut */
	bool cut;
	uint8_t *durable;
	size_t dsize;
	struct vwrite *v;
	size_t nv, av;
};

static void grow(struct power *p, size_t end)
{
	if (end > p->dsize) {
		p->durable = realloc(p->durable, end);
		assert_non_null(p->durable);
		memset(p->durable + p->dsize, 0, end - p->dsize);
		p->dsize = end;
	}
}

static bool tick(struct power *p)
{
	if (p->cut)
		return false;
	if (p->left-- == 0) {
		p->cut = true;
		return false;
	}
	return true;
}

static void remember(struct power *p, uint64_t off, const uint8_t *data, size_t len)
{
	struct vwrite *w;

	if (p->nv == p->av) {
		p->av = p->av ? 2 * p->av : 64;
		p->v = realloc(p->v, p->av * sizeof(*p->v));
		assert_non_null(p->v);
	}
	w = &p->v[p->nv++];
	w->off = off;
	w->len = len;
	w->data = malloc(len ? len : 1);
	assert_non_null(w->data);
	if (data)
		memcpy(w->data, data, len);
	else
		memset(w->data, 0, len);
}

static ssize_t p_preadv(void *ctx, int fd, const struct iovec *iov, int cnt, uint64_t off)
{
	struct power *p = ctx;

	if (p->cut) {
		errno = EIO;
		return -1;
	}
	return preadv(fd, iov, cnt, (off_t)off);
}

static ssize_t p_pwritev(void *ctx, int fd, const struct iovec *iov, int cnt, uint64_t off)
{
	struct power *p = ctx;
	size_t len = 0, pos = 0;
	uint8_t *flat;
	ssize_t n;
	int i;

	if (!tick(p)) {
		errno = EIO;
		return -1;
	}
	for (i = 0; i < cnt; i++)
		len += iov[i].iov_len;
	flat = malloc(len ? len : 1);
	assert_non_null(flat);
	for (i = 0; i < cnt; i++) {
		memcpy(flat + pos, iov[i].iov_base, iov[i].iov_len);
		pos += iov[i].iov_len;
	}
	n = pwrite(fd, flat, len, (off_t)off);
	if (n == (ssize_t)len)
		remember(p, off, flat, len);
	free(flat);
	return n;
}

static void settle(struct power *p)
{
	size_t i;

	for (i = 0; i < p->nv; i++) {
		grow(p, p->v[i].off + p->v[i].len);
		memcpy(p->durable + p->v[i].off, p->v[i].data, p->v[i].len);
		free(p->v[i].data);
	}
	p->nv = 0;
}

static int p_sync(void *ctx, int fd)
{
	struct power *p = ctx;

	(void)fd;
	if (!tick(p)) {
		errno = EIO;
		return -1;
	}
	settle(p);
	return 0;
}

static int p_punch(void *ctx, int fd, uint64_t off, uint64_t len)
{
	struct power *p = ctx;

	if (!tick(p)) {
		errno = EIO;
		return -1;
	}
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len))
		return -1;
	remember(p, off, NULL, (size_t)len);
	return 0;
}

static const struct qcow2_io_ops power_io = {
	.preadv = p_preadv, .pwritev = p_pwritev, .sync = p_sync, .punch = p_punch,
};

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

enum kind { K_WRITE, K_ZERO, K_DISCARD, K_FLUSH };

struct op {
	enum kind kind;
	uint64_t off, len;
	uint32_t tag;
};

static void make_ops(struct op *ops, unsigned iter)
{
	unsigned j;

	for (j = 0; j < NOPS; j++) {
		uint64_t r = rnd() % 100;
		struct op *o = &ops[j];

		o->tag = (iter << 12) | (j + 1);
		o->kind = r < 12 ? K_FLUSH : r < 82 ? K_WRITE : r < 92 ? K_ZERO : K_DISCARD;
		if (o->kind == K_WRITE) {
			o->len = (1 + rnd() % (r < 50 ? 8 : 160)) * 512;
			o->off = (rnd() % DISK) & ~511ULL;
		} else {
			o->len = (1 + rnd() % 3) * 131072;
			o->off = (rnd() % (DISK / 131072)) * 131072;
			if (o->kind == K_ZERO && rnd() % 2) {
				o->off += (rnd() % 64) * 512;
				o->len = (1 + rnd() % 300) * 512;
			}
		}
		if (o->off + o->len > DISK)
			o->len = DISK - o->off;
	}
}

static int64_t decode(const uint8_t *p, uint64_t s)
{
	static const uint8_t zero[512];
	uint8_t want[512];
	uint32_t tag;

	if (!memcmp(p, zero, 512))
		return 0;
	memcpy(&tag, p, 4);
	tq_pattern(want, 512, s * 512, tag);
	return memcmp(p, want, 512) ? -1 : (int64_t)tag;
}

static void load(struct power *p, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0 && !fstat(fd, &st));
	p->dsize = 0;
	grow(p, (size_t)st.st_size);
	assert_int_equal(pread(fd, p->durable, (size_t)st.st_size, 0), st.st_size);
	close(fd);
}

/* The durable state plus a random subset of the volatile writes, some torn. */
static void crash_image(struct power *p, const char *path)
{
	size_t i;
	int fd;

	for (i = 0; i < p->nv; i++) {
		struct vwrite *w = &p->v[i];
		size_t len = w->len;

		if (rnd() % 2)
			continue;
		if (rnd() % 4 == 0 && len > 512)
			len = (rnd() % (len / 512)) * 512;	/* torn at a sector */
		grow(p, w->off + len);
		memcpy(p->durable + w->off, w->data, len);
	}
	for (i = 0; i < p->nv; i++)
		free(p->v[i].data);
	p->nv = 0;
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p->durable, p->dsize, 0), (ssize_t)p->dsize);
	close(fd);
}

static void run(bool ext, unsigned cuts)
{
	struct qcow2_create_opts co = QCOW2_CREATE_OPTS_INIT;
	struct qcow2_open_opts oo = QCOW2_OPEN_OPTS_INIT;
	struct power p = { 0 };
	struct op ops[NOPS];
	uint32_t *cur = malloc(NSEC * sizeof(*cur)), *expect = malloc(NSEC * sizeof(*expect));
	uint8_t *buf = malloc(DISK);
	char base[512], top[512], out[4096];
	unsigned iter, repaired = 0, lost_unflushed = 0;
	struct qcow2 *q = NULL;
	uint64_t s;

	tq_mkdir();
	co.size = DISK;
	co.extended_l2 = ext;
	co.cluster_bits = ext ? 16 : 14;
	assert_int_equal(qcow2_create(tq_path(base, sizeof(base), "base.qcow2"), &co), 0);
	assert_int_equal(qcow2_open(&q, base, &oo), 0);
	tq_pattern(buf, DISK, 0, BASE_TAG);
	assert_int_equal(qcow2_write(q, buf, DISK, 0), 0);
	assert_int_equal(qcow2_close(q), 0);
	co.backing_file = "base.qcow2";
	co.backing_format = "qcow2";
	assert_int_equal(qcow2_create(tq_path(top, sizeof(top), "top.qcow2"), &co), 0);
	for (s = 0; s < NSEC; s++)
		cur[s] = BASE_TAG;
	rng = 0xc0ffee + ext;
	for (iter = 1; iter <= cuts; iter++) {
		struct qcow2_check_result r;
		int j, last = -1, done = 0, err = 0;

		make_ops(ops, iter);
		load(&p, top);
		p.cut = false;
		p.left = (long)(rnd() % 700);
		oo.io = &power_io;
		oo.io_ctx = &p;
		oo.l2_cache_bytes = 1;
		oo.read_only = false;
		if (qcow2_open(&q, top, &oo))
			fail_msg("open: %s", sbx_error());
		for (j = 0; j < NOPS && !err; j++) {
			const struct op *o = &ops[j];

			switch (o->kind) {
			case K_WRITE:
				tq_pattern(buf, o->len, o->off, o->tag);
				err = qcow2_write(q, buf, o->len, o->off);
				break;
			case K_ZERO:
				err = qcow2_write_zeroes(q, o->off, o->len);
				break;
			case K_DISCARD:
				err = qcow2_discard(q, o->off, o->len);
				break;
			case K_FLUSH:
				if (!(err = qcow2_flush(q)))
					last = j;
				break;
			}
			done = j + 1;
		}
		if (!err && !qcow2_flush(q))
			last = done;
		qcow2_close(q);		/* after the cut it writes nothing */
		q = NULL;
		crash_image(&p, top);

		if (qcow2_check(top, false, &r))
			fail_msg("cut %u: check: %s", iter, sbx_error());
		if (r.corruptions)
			fail_msg("cut %u: %llu corruptions: %s", iter,
				 (unsigned long long)r.corruptions, r.first_error);
		if (qcow2_check(top, true, &r) || r.corruptions || r.leaks || r.stale_refcounts)
			fail_msg("cut %u: repair failed: %s", iter, sbx_error());
		repaired += r.repaired > 0;
		if (tq_have_qemu_img() && iter % 10 == 0 &&
		    tq_sh(out, sizeof(out), "%s check '%s' 2>&1", tq_qemu_img(), top))
			fail_msg("cut %u: qemu-img check:\n%s", iter, out);

		memcpy(expect, cur, NSEC * sizeof(*expect));
		for (j = 0; j < last && j < NOPS; j++) {
			if (ops[j].kind == K_FLUSH)
				continue;
			for (s = ops[j].off / 512; s < (ops[j].off + ops[j].len) / 512; s++)
				expect[s] = ops[j].kind == K_WRITE ? ops[j].tag : 0;
		}
		oo.io = NULL;
		oo.read_only = true;
		if (qcow2_open(&q, top, &oo) || qcow2_read(q, buf, DISK, 0))
			fail_msg("cut %u: reopen: %s", iter, sbx_error());
		qcow2_close(q);
		q = NULL;
		for (s = 0; s < NSEC; s++) {
			int64_t got = decode(buf + s * 512, s);
			bool ok = got == expect[s];

			if (got < 0)
				fail_msg("cut %u: sector %llu is garbage", iter, (unsigned long long)s);
			for (j = last < 0 ? 0 : last; !ok && j < done; j++)
				ok = ops[j].kind != K_FLUSH && s * 512 >= ops[j].off &&
				     s * 512 < ops[j].off + ops[j].len &&
				     (ops[j].kind == K_WRITE ? (int64_t)ops[j].tag : 0) == got;
			if (!ok)
				fail_msg("cut %u: sector %llu holds %#llx, flushed %#x (last flush op %d)",
					 iter, (unsigned long long)s, (unsigned long long)got, expect[s], last);
			lost_unflushed += got != expect[s];
			cur[s] = (uint32_t)got;
		}
	}
	print_message("%u power cuts, %u needed a repair, %u sectors kept unflushed data; "
		      "no corruption, every flushed write read back\n", cuts, repaired, lost_unflushed);
	free(p.durable);
	free(p.v);
	free(cur);
	free(expect);
	free(buf);
	tq_cleanup();
}

static void test_power_plain(void **state)
{
	(void)state;
	run(false, 100);
}

static void test_power_subclusters(void **state)
{
	(void)state;
	run(true, 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_power_plain),
		cmocka_unit_test(test_power_subclusters),
	};

	return cmocka_run_group_tests_name("qcow2 power loss", tests, NULL, NULL);
}
