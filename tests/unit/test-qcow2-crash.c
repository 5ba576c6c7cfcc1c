// SPDX-License-Identifier: MIT
/*
 * Crash test: a child process writes, zeroes, discards and flushes an
 * overlay (over a backing file) and the parent SIGKILLs it at a random
 * moment, 100 times per mode (without and with subclusters), 200 in all.
 * After each kill: our checker finds no corruption (only leaks or stale
 * lazy refcounts) and repairs it, `qemu-img check` is clean, and every sector
 * reads as the last flushed state or as something a later, unflushed
 * operation wrote to that very sector.
 *
 * The child reports each completed flush (the index of the last operation
 * before it) through a pipe; operations come from a PRNG the parent replays.
 * Every written sector carries (operation, sector) and a checkable body, so
 * a torn or misplaced sector is caught.  SBX_CRASHES=<n> changes the count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <time.h>

#include "snapshot/qcow2.h"
#include "util/error.h"
#include "tests/unit/qcow2-test-util.h"

#define MiB (1024 * 1024)
#define DISK (8 * MiB)
#define NSEC (DISK / 512)
#define MAXOPS 4000
#define BASE_TAG 0x7ffe0001u

enum op_kind { OP_WRITE, OP_ZERO, OP_DISCARD, OP_FLUSH };

struct op {
	enum op_kind kind;
	uint64_t off, len;
	uint32_t tag;
};

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void make_ops(struct op *ops, unsigned iter)
{
	unsigned j;

	rng = 0x9e3779b97f4a7c15ULL * (iter + 1);
	for (j = 0; j < MAXOPS; j++) {
		uint64_t r = rnd() % 100;
		struct op *o = &ops[j];

		o->tag = (iter << 16) | (j + 1);
		if (r < 15) {
			o->kind = OP_FLUSH;
			continue;
		}
		if (r < 85) {
			o->kind = OP_WRITE;
			o->len = (1 + rnd() % (r < 60 ? 8 : 256)) * 512;
			o->off = (rnd() % 3 ? rnd() % (2 * MiB) : rnd() % DISK) & ~511ULL;
		} else {
			o->kind = r < 93 ? OP_ZERO : OP_DISCARD;
			o->len = (1 + rnd() % 4) * 131072;	/* whole clusters: discard zeroes them */
			o->off = (rnd() % (DISK / 131072)) * 131072;
			if (o->kind == OP_ZERO && rnd() % 2) {
				o->off += (rnd() % 64) * 512;
				o->len = (1 + rnd() % 300) * 512;
			}
		}
		if (o->off + o->len > DISK)
			o->len = DISK - o->off;
	}
}

static void child(const char *path, const struct op *ops, int wfd)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct qcow2 *q = NULL;
	uint8_t *buf = malloc(256 * 512);
	int32_t j;

	o.l2_cache_bytes = 1;
	if (!buf || qcow2_open(&q, path, &o)) {
		fprintf(stderr, "child: open: %s\n", sbx_error());
		_exit(2);
	}
	if (write(wfd, "o", 1) != 1)
		_exit(3);
	for (j = 0; j < MAXOPS; j++) {
		const struct op *op = &ops[j];
		int err = 0;

		switch (op->kind) {
		case OP_WRITE:
			tq_pattern(buf, op->len, op->off, op->tag);
			err = qcow2_write(q, buf, op->len, op->off);
			break;
		case OP_ZERO:
			err = qcow2_write_zeroes(q, op->off, op->len);
			break;
		case OP_DISCARD:
			err = qcow2_discard(q, op->off, op->len);
			break;
		case OP_FLUSH:
			err = qcow2_flush(q);
			/* Everything before op j is durable now. */
			if (!err && write(wfd, &j, sizeof(j)) != sizeof(j))
				_exit(3);
			break;
		}
		if (err) {
			fprintf(stderr, "child: op %d: %s\n", j, sbx_error());
			_exit(4);
		}
	}
	for (;;)
		pause();
}

static bool touches(const struct op *o, uint64_t s)
{
	return o->kind != OP_FLUSH && s * 512 >= o->off && s * 512 < o->off + o->len;
}

/* The tag a sector holds (0: zeroes); -1 if it is garbage (torn, misplaced). */
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

struct totals {
	unsigned kills, flushed_kills, leaks_repaired, changed_after_flush, qemu_checks;
};

static void crash_once(const char *top, unsigned iter, uint32_t *cur, struct op *ops,
		       struct totals *t)
{
	struct qcow2_open_opts oo = QCOW2_OPEN_OPTS_INIT;
	struct qcow2_check_result r;
	struct qcow2 *q = NULL;
	uint32_t *expect;
	uint8_t *buf;
	int32_t last = -1, v;
	int pfd[2], status;
	char c, out[4096];
	pid_t pid;
	uint64_t s;
	int j;

	make_ops(ops, iter);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		child(top, ops, pfd[1]);
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1)
		fail_msg("child died before opening the image");
	/* Three kills in four come after the first flush, at a random moment. */
	if (rnd() % 4 && read(pfd[0], &last, sizeof(last)) != sizeof(last))
		fail_msg("child died before its first flush");
	{
		struct timespec ts = { 0, (long)(rnd() % 30000) * 1000L };

		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fail_msg("child exited with %d before the kill", WEXITSTATUS(status));
	while (read(pfd[0], &v, sizeof(v)) == sizeof(v))
		last = v;
	close(pfd[0]);
	t->kills++;
	t->flushed_kills += last >= 0;

	/* The checker finds only what a crash may leave: leaks and stale refcounts. */
	if (qcow2_check(top, false, &r))
		fail_msg("check: %s", sbx_error());
	if (r.corruptions)
		fail_msg("iteration %u: %llu corruptions: %s", iter, (unsigned long long)r.corruptions,
			 r.first_error);
	if (qcow2_check(top, true, &r) || r.corruptions || r.leaks || r.stale_refcounts || r.dirty)
		fail_msg("iteration %u: repair left %llu corruptions, %llu leaks (%s)", iter,
			 (unsigned long long)r.corruptions, (unsigned long long)r.leaks, sbx_error());
	t->leaks_repaired += r.repaired ? 1 : 0;
	if (tq_have_qemu_img() && tq_sh(out, sizeof(out), "%s check '%s' 2>&1", tq_qemu_img(), top))
		fail_msg("iteration %u: qemu-img check:\n%s", iter, out);
	t->qemu_checks += tq_have_qemu_img();

	/* What the last completed flush made durable. */
	expect = malloc(NSEC * sizeof(*expect));
	buf = malloc(DISK);
	assert_non_null(expect);
	assert_non_null(buf);
	memcpy(expect, cur, NSEC * sizeof(*expect));
	for (j = 0; j < last; j++) {
		const struct op *o = &ops[j];

		if (o->kind == OP_FLUSH)
			continue;
		for (s = o->off / 512; s < (o->off + o->len) / 512; s++)
			expect[s] = o->kind == OP_WRITE ? o->tag : 0;
	}
	oo.read_only = true;
	if (qcow2_open(&q, top, &oo) || qcow2_read(q, buf, DISK, 0))
		fail_msg("reopen: %s", sbx_error());
	qcow2_close(q);
	for (s = 0; s < NSEC; s++) {
		int64_t got = decode(buf + s * 512, s);
		bool ok = got == expect[s];

		if (got < 0)
			fail_msg("iteration %u: sector %llu is garbage", iter, (unsigned long long)s);
		/* Otherwise it must come from an operation after the last flush. */
		for (j = last < 0 ? 0 : last; !ok && j < MAXOPS; j++)
			ok = touches(&ops[j], s) &&
			     (ops[j].kind == OP_WRITE ? (int64_t)ops[j].tag : 0) == got;
		if (!ok)
			fail_msg("iteration %u: sector %llu holds %#llx, flushed state was %#x "
				 "(last flush after op %d)", iter, (unsigned long long)s,
				 (unsigned long long)got, expect[s], last);
		if (got != expect[s])
			t->changed_after_flush++;
		cur[s] = (uint32_t)got;
	}
	free(expect);
	free(buf);
}

static void run(bool ext)
{
	struct qcow2_create_opts co = QCOW2_CREATE_OPTS_INIT;
	struct qcow2_open_opts oo = QCOW2_OPEN_OPTS_INIT;
	const char *n_env = getenv("SBX_CRASHES");
	unsigned n = n_env ? (unsigned)strtoul(n_env, NULL, 0) : 100, i;
	struct totals t = { 0 };
	struct qcow2 *q = NULL;
	char base[512], top[512];
	uint32_t *cur = malloc(NSEC * sizeof(*cur));
	struct op *ops = malloc(MAXOPS * sizeof(*ops));
	uint8_t *buf = malloc(DISK);
	uint64_t s;

	tq_mkdir();
	assert_non_null(cur);
	assert_non_null(ops);
	assert_non_null(buf);
	co.size = DISK;
	co.extended_l2 = ext;
	co.cluster_bits = ext ? 16 : 15;
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
	rng = 12345 + ext;
	for (i = 0; i < n; i++) {
		uint64_t keep = rng;

		crash_once(top, i + 1, cur, ops, &t);
		rng = keep ^ (i * 0x2545f4914f6cdd1dULL);
		rnd();
	}
	print_message("%u kills (%u after at least one flush), %u images needed a repair, "
		      "%u sectors held unflushed writes; every flushed write read back\n",
		      t.kills, t.flushed_kills, t.leaks_repaired, t.changed_after_flush);
	print_message("qemu-img check: clean after %u of the %u repairs%s\n", t.qemu_checks, n,
		      tq_have_qemu_img() ? "" : " (qemu-img not found)");
	assert_true(t.kills >= n);
	free(cur);
	free(ops);
	free(buf);
	tq_cleanup();
}

static void test_crash_plain(void **state)
{
	(void)state;
	run(false);
}

static void test_crash_subclusters(void **state)
{
	(void)state;
	run(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_plain),
		cmocka_unit_test(test_crash_subclusters),
	};

	return cmocka_run_group_tests_name("qcow2 crash", tests, NULL, NULL);
}
