// SPDX-License-Identifier: MIT
/*
 * Checkpoint layers (snapshot/qcow2-switch.c): a running disk freezes its
 * layer and goes on in a new overlay through the same struct blockdev; every
 * frozen layer holds exactly what the disk held at its switch and passes
 * qemu-img check while the disk is still open; a failed switch changes
 * nothing; squashing a middle layer keeps what every layer above reads.
 * qemu-img is the oracle (compare against raw references we keep); the
 * qemu-img parts skip without it.  The switch split in two for the
 * confined VMM (qcow2_create_overlay by one process, the descriptors passed
 * to the disk's holder, which switches with them: tested across a real
 * fork and SCM_RIGHTS) keeps every one of those promises and refuses
 * descriptors that are not what they should be.
 */
#include <setjmp.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sbx/disk-limit.h"
#include "snapshot/qcow2.h"
#include "util/blockdev.h"
#include "util/error.h"
#include "tests/unit/qcow2-test-util.h"

#define MiB (1024 * 1024)
#define SIZE (4 * MiB)

static uint8_t ref[SIZE];	/* what the disk should read now */

static int setup(void **state)
{
	(void)state;
	tq_mkdir();
	memset(ref, 0, sizeof(ref));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tq_cleanup();
	return 0;
}

static void sh_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh_ok(const char *fmt, ...)
{
	char cmd[4096], out[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (tq_sh(out, sizeof(out), "cd '%s' && { %s ; } 2>&1", tq_dir, cmd))
		fail_msg("'%s' failed:\n%s", cmd, out);
}

static void create_img(const char *name, bool extl2)
{
	struct qcow2_create_opts o = QCOW2_CREATE_OPTS_INIT;
	char p[512];

	o.size = SIZE;
	o.extended_l2 = extl2;
	if (qcow2_create(tq_path(p, sizeof(p), name), &o))
		fail_msg("create %s: %s", name, sbx_error());
}

/* Write `len` bytes of pattern `tag` at `off` through bd and into ref. */
static void put(struct blockdev *bd, uint64_t off, size_t len, uint32_t tag)
{
	uint8_t *buf = malloc(len);
	struct iovec iov = { buf, len };

	tq_pattern(buf, len, off, tag);
	if (bd->ops->pwritev(bd, &iov, 1, off))
		fail_msg("write at %llu: %s", (unsigned long long)off, sbx_error());
	memcpy(ref + off, buf, len);
	free(buf);
}

/* The whole disk through bd reads as ref. */
static void reads_ref(struct blockdev *bd)
{
	uint8_t *buf = malloc(SIZE);
	struct iovec iov = { buf, SIZE };

	assert_int_equal(bd->ops->preadv(bd, &iov, 1, 0), 0);
	assert_memory_equal(buf, ref, SIZE);
	free(buf);
}

static void save_ref(const char *name)
{
	char p[512];
	FILE *f = fopen(tq_path(p, sizeof(p), name), "w");

	assert_non_null(f);
	assert_int_equal(fwrite(ref, 1, SIZE, f), SIZE);
	assert_int_equal(fclose(f), 0);
}

/* qemu-img: `img` (its whole chain) is a clean image that reads as raw file `raw`. */
static void qemu_same(const char *img, const char *raw)
{
	if (!tq_have_qemu_img())
		return;
	sh_ok("%s check '%s'", tq_qemu_img(), img);
	sh_ok("%s compare -f qcow2 -F raw '%s' '%s'", tq_qemu_img(), img, raw);
}

/*
 * The same while our disk holds its files open: qemu's byte-range locks
 * conflict with our whole-file ones even with -U, so check a copy of the
 * directory as it is on disk now (cp takes no locks).
 */
static void qemu_same_open(const char *img, const char *raw)
{
	char a[512], b[512];

	if (!tq_have_qemu_img())
		return;
	sh_ok("rm -rf .snap && mkdir .snap && cp -a $(ls -A | grep -vx .snap) .snap/");
	snprintf(a, sizeof(a), ".snap/%s", img);
	snprintf(b, sizeof(b), ".snap/%s", raw);
	qemu_same(a, b);
	sh_ok("rm -rf .snap");
}

static void backing_name_is(const char *img, const char *want)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct qcow2_info info;
	struct qcow2 *q = NULL;
	char p[512];

	o.read_only = true;
	o.no_backing = true;
	if (qcow2_open(&q, tq_path(p, sizeof(p), img), &o))
		fail_msg("open %s: %s", img, sbx_error());
	qcow2_get_info(q, &info);
	assert_string_equal(info.backing_file, want);
	assert_false(info.dirty);
	qcow2_close(q);
}

static void test_switch_once(void **state)
{
	struct blockdev *bd = NULL;
	char p[512], p2[512];
	int fd = -1;

	(void)state;
	create_img("top.qcow2", false);
	assert_int_equal(blockdev_open_qcow2(&bd, tq_path(p, sizeof(p), "top.qcow2"), false), 0);
	put(bd, 0, 64 * 1024, 1);
	put(bd, 3 * 512, 512, 2);		/* a partial cluster */
	put(bd, 1 * MiB + 4096, 200 * 1024, 3);
	assert_int_equal(bd->ops->write_zeroes(bd, 2 * MiB, 64 * 1024), 0);
	save_ref("ref0.raw");
	/* Unflushed writes before the switch: the switch flushes them. */
	assert_int_equal(bd->ops->freeze_switch(bd, tq_path(p2, sizeof(p2), "l1.qcow2"), &fd), 0);
	assert_true(fd >= 0);
	close(fd);
	reads_ref(bd);
	/* The frozen layer is clean and complete while the disk is still open. */
	qemu_same_open("top.qcow2", "ref0.raw");
	sh_ok("sha256sum top.qcow2 >frozen.sum");
	put(bd, 32 * 1024, 64 * 1024, 4);	/* straddles a cluster that layer 0 has */
	put(bd, 3 * MiB, 4096, 5);
	reads_ref(bd);
	save_ref("ref1.raw");
	assert_int_equal(blockdev_close(bd), 0);
	qemu_same("top.qcow2", "ref0.raw");
	qemu_same("l1.qcow2", "ref1.raw");
	backing_name_is("l1.qcow2", "top.qcow2");
	/* Layer 0 never changed after the switch, not a byte. */
	sh_ok("sha256sum -c --quiet frozen.sum");
	if (tq_have_qemu_img())
		sh_ok("%s check top.qcow2 && %s info l1.qcow2 | grep -q 'backing file: top.qcow2'",
		      tq_qemu_img(), tq_qemu_img());
	/* Reopened, the chain reads as before. */
	assert_int_equal(blockdev_open_qcow2(&bd, p2, false), 0);
	reads_ref(bd);
	assert_int_equal(blockdev_close(bd), 0);
}

static void test_switch_five_times(void **state)
{
	struct blockdev *bd = NULL;
	char p[512], name[64], raw[64], prev[64];
	int i;

	(void)state;
	create_img("l0.qcow2", true);	/* subclusters too */
	assert_int_equal(blockdev_open_qcow2(&bd, tq_path(p, sizeof(p), "l0.qcow2"), false), 0);
	for (i = 0; i < 5; i++) {
		put(bd, (uint64_t)i * 512 * 1024 + 2048, 96 * 1024, 10 + (uint32_t)i);
		put(bd, 0, 4096, 20 + (uint32_t)i);	/* every layer rewrites the first block */
		snprintf(raw, sizeof(raw), "ref%d.raw", i);
		save_ref(raw);
		snprintf(name, sizeof(name), "l%d.qcow2", i + 1);
		if (bd->ops->freeze_switch(bd, tq_path(p, sizeof(p), name), NULL))
			fail_msg("switch %d: %s", i, sbx_error());
		reads_ref(bd);
	}
	put(bd, 1 * MiB, 4096, 99);
	save_ref("ref5.raw");
	for (i = 0; i <= 4; i++) {	/* frozen layers, checked while the disk is open */
		snprintf(name, sizeof(name), "l%d.qcow2", i);
		snprintf(raw, sizeof(raw), "ref%d.raw", i);
		qemu_same_open(name, raw);
	}
	assert_int_equal(blockdev_close(bd), 0);
	for (i = 1; i <= 5; i++) {
		snprintf(name, sizeof(name), "l%d.qcow2", i);
		snprintf(raw, sizeof(raw), "ref%d.raw", i);
		snprintf(prev, sizeof(prev), "l%d.qcow2", i - 1);
		qemu_same(name, raw);
		backing_name_is(name, prev);
	}
}

/* A switch that fails leaves the disk writing to its old layer, and no file behind. */
static void test_switch_fails_cleanly(void **state)
{
	struct blockdev *bd = NULL;
	char p[512], p2[512];
	int fd = 7;

	(void)state;
	create_img("top.qcow2", false);
	assert_int_equal(blockdev_open_qcow2(&bd, tq_path(p, sizeof(p), "top.qcow2"), false), 0);
	put(bd, 0, 128 * 1024, 1);
	/* a directory that is not there */
	assert_int_not_equal(bd->ops->freeze_switch(bd, tq_path(p2, sizeof(p2), "nodir/l1.qcow2"),
						    &fd), 0);
	assert_int_equal(fd, -1);
	/* a "directory" that is a file */
	sh_ok("echo x >afile");
	assert_int_not_equal(bd->ops->freeze_switch(bd, tq_path(p2, sizeof(p2), "afile/l1.qcow2"),
						    NULL), 0);
	/* a file that is already there is never replaced */
	sh_ok("echo keep >l1.qcow2");
	assert_int_equal(bd->ops->freeze_switch(bd, tq_path(p2, sizeof(p2), "l1.qcow2"), NULL),
			 SBX_EEXISTS);
	sh_ok("grep -qx keep l1.qcow2 && rm l1.qcow2");
	/* Still writing to top.qcow2, which is still ours alone. */
	put(bd, 64 * 1024, 64 * 1024, 2);
	reads_ref(bd);
	sh_ok("test \"$(ls | sort | tr '\\n' ' ')\" = 'afile top.qcow2 '");
	{
		struct blockdev *other = NULL;

		assert_int_equal(blockdev_open_qcow2(&other, p, true), SBX_ELOCKED);
	}
	save_ref("ref.raw");
	assert_int_equal(blockdev_close(bd), 0);
	qemu_same("top.qcow2", "ref.raw");
	/* And a switch works after all that. */
	assert_int_equal(blockdev_open_qcow2(&bd, p, false), 0);
	assert_int_equal(bd->ops->freeze_switch(bd, tq_path(p2, sizeof(p2), "l1.qcow2"), NULL), 0);
	put(bd, 0, 512, 3);
	save_ref("ref1.raw");
	assert_int_equal(blockdev_close(bd), 0);
	qemu_same("top.qcow2", "ref.raw");
	qemu_same("l1.qcow2", "ref1.raw");
}

/* Overlays in another directory name their backing file relatively. */
static void test_switch_other_dir(void **state)
{
	struct blockdev *bd = NULL;
	char p[512], p2[512];

	(void)state;
	create_img("top.qcow2", false);
	sh_ok("mkdir -p layers");
	assert_int_equal(blockdev_open_qcow2(&bd, tq_path(p, sizeof(p), "top.qcow2"), false), 0);
	put(bd, 0, 4096, 1);
	save_ref("ref0.raw");
	assert_int_equal(bd->ops->freeze_switch(bd, tq_path(p2, sizeof(p2), "layers/1.qcow2"),
						NULL), 0);
	put(bd, 4096, 4096, 2);
	save_ref("ref1.raw");
	assert_int_equal(blockdev_close(bd), 0);
	backing_name_is("layers/1.qcow2", "../top.qcow2");
	qemu_same("layers/1.qcow2", "ref1.raw");
	qemu_same("top.qcow2", "ref0.raw");
}

/* The disk-limit wrapper forwards the switch and counts frozen layers against the cap. */
static void test_switch_through_limit(void **state)
{
	struct blockdev *q = NULL, *bd = NULL;
	char p[512], p2[512];
	uint8_t *buf = malloc(MiB);
	struct iovec iov = { buf, MiB };
	uint64_t off;
	int fd, lfd = -1, err = 0;

	(void)state;
	create_img("top.qcow2", false);
	assert_int_equal(blockdev_open_qcow2(&q, tq_path(p, sizeof(p), "top.qcow2"), false), 0);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sbx_disk_limit_wrap(&bd, q, fd, 2 * MiB + 512 * 1024, NULL, NULL), 0);
	memset(buf, 0x5a, MiB);
	assert_int_equal(bd->ops->pwritev(bd, &iov, 1, 0), 0);
	assert_int_equal(bd->ops->freeze_switch(bd, tq_path(p2, sizeof(p2), "l1.qcow2"), &lfd), 0);
	assert_true(lfd >= 0);
	close(lfd);
	/* The new layer alone is far below the cap; with the frozen one it is reached. */
	for (off = MiB; off < SIZE && !err; off += MiB)
		err = bd->ops->pwritev(bd, &iov, 1, off);
	assert_int_equal(err, SBX_ELIMIT);
	assert_int_equal(blockdev_close(bd), 0);
	free(buf);
}

/* A file's OFD lock state as another open file description sees it: F_UNLCK, F_RDLCK or F_WRLCK. */
static int lock_held(const char *name)
{
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char p[512];
	int fd = open(tq_path(p, sizeof(p), name), O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_OFD_GETLK, &lk), 0);
	close(fd);
	return lk.l_type;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* The two halves in one process: overlay made beside a disk that holds its top open. */
static void test_switch_fd(void **state)
{
	struct blockdev *bd = NULL, *other = NULL;
	char p[512], p2[512];
	int ofd = -1, rofd;

	(void)state;
	create_img("top.qcow2", true);
	sh_ok("mkdir -p layers");
	assert_int_equal(blockdev_open_qcow2(&bd, tq_path(p, sizeof(p), "top.qcow2"), false), 0);
	put(bd, 0, 96 * 1024, 1);
	put(bd, 2 * MiB + 512, 1024, 2);	/* unflushed: the switch flushes it */
	save_ref("ref0.raw");
	/* Made while the disk holds top.qcow2 exclusively: no lock is needed to read its geometry. */
	assert_int_equal(qcow2_create_overlay(tq_path(p2, sizeof(p2), "layers/1.qcow2"), p, &ofd), 0);
	assert_true(ofd >= 0);
	assert_int_equal(lock_held("layers/1.qcow2"), F_WRLCK);
	assert_int_equal(blockdev_open_qcow2(&other, p2, false), SBX_ELOCKED);
	rofd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(rofd >= 0);
	assert_int_equal(bd->ops->switch_fd(bd, ofd, rofd, "layers/1.qcow2"), 0);
	reads_ref(bd);
	/* The frozen top is shared now (a reader may open it), the overlay still exclusive. */
	assert_int_equal(lock_held("top.qcow2"), F_RDLCK);
	assert_int_equal(lock_held("layers/1.qcow2"), F_WRLCK);
	assert_int_equal(blockdev_open_qcow2(&other, p, true), 0);
	assert_int_equal(blockdev_close(other), 0);
	qemu_same_open("top.qcow2", "ref0.raw");
	sh_ok("sha256sum top.qcow2 >frozen.sum");
	put(bd, 64 * 1024, 64 * 1024, 3);
	put(bd, 3 * MiB, 4096, 4);
	save_ref("ref1.raw");
	reads_ref(bd);
	assert_int_equal(blockdev_close(bd), 0);
	sh_ok("sha256sum -c --quiet frozen.sum");
	qemu_same("top.qcow2", "ref0.raw");
	qemu_same("layers/1.qcow2", "ref1.raw");
	/* No temp file left, the backing file named relatively, the image clean. */
	sh_ok("test -z \"$(ls layers | grep tmp)\"");
	{
		struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
		struct qcow2_info info;
		struct qcow2 *q = NULL;

		o.read_only = true;
		o.no_backing = true;
		assert_int_equal(qcow2_open(&q, p2, &o), 0);
		qcow2_get_info(q, &info);
		assert_string_equal(info.backing_file, "../top.qcow2");
		assert_string_equal(info.backing_format, "qcow2");
		assert_true(info.extended_l2);
		assert_false(info.dirty);
		qcow2_close(q);
	}
}

/*
 * The VMM's way: the disk is held by another process, which gets the two
 * descriptors over a Unix socket (SCM_RIGHTS) and switches; the creator
 * closes its copies.  Three switches in a row, each frozen layer checked.
 */
static int send_fds(int sock, int a, int b)
{
	char c = 'c';
	struct iovec iov = { &c, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	int fds[2] = { a, b };

	memset(u.buf, 0, sizeof(u.buf));
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(h), fds, sizeof(fds));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fds(int sock, int *a, int *b)
{
	char c;
	struct iovec iov = { &c, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *h;
	int fds[2];

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	h = CMSG_FIRSTHDR(&m);
	if (!h || h->cmsg_type != SCM_RIGHTS || h->cmsg_len != CMSG_LEN(sizeof(fds)))
		return -1;
	memcpy(fds, CMSG_DATA(h), sizeof(fds));
	*a = fds[0];
	*b = fds[1];
	return 0;
}

/* The disk's process: write, then on each message switch and write again; 'q' ends it. */
static int holder(int sock, const char *top)
{
	struct blockdev *bd = NULL;
	int i, ofd, rofd;
	uint8_t b[4096];
	struct iovec iov = { b, sizeof(b) };

	if (blockdev_open_qcow2(&bd, top, false))
		return 10;
	for (i = 0;; i++) {
		tq_pattern(b, sizeof(b), (uint64_t)i * MiB, 100 + (uint32_t)i);
		if (bd->ops->pwritev(bd, &iov, 1, (uint64_t)i * MiB))
			return 11;
		if (write(sock, "w", 1) != 1)
			return 12;
		if (recv_fds(sock, &ofd, &rofd))
			break;	/* the test closed its end: done */
		if (bd->ops->switch_fd(bd, ofd, rofd, "layer"))
			return 13;
	}
	return blockdev_close(bd) ? 14 : 0;
}

static void test_switch_fd_across_processes(void **state)
{
	char p[512], p2[512], name[64], prev[64], raw[64], c;
	int sv[2], i, status, ofd, rofd;
	uint8_t b[4096];
	pid_t pid;

	(void)state;
	create_img("l0.qcow2", false);
	tq_path(p, sizeof(p), "l0.qcow2");
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		_exit(holder(sv[1], p));
	}
	close(sv[1]);
	for (i = 0; i < 3; i++) {
		assert_int_equal(read(sv[0], &c, 1), 1);	/* it wrote block i */
		tq_pattern(b, sizeof(b), (uint64_t)i * MiB, 100 + (uint32_t)i);
		memcpy(ref + (uint64_t)i * MiB, b, sizeof(b));
		snprintf(raw, sizeof(raw), "ref%d.raw", i);
		save_ref(raw);
		snprintf(name, sizeof(name), "l%d.qcow2", i + 1);
		snprintf(prev, sizeof(prev), "l%d.qcow2", i);
		assert_int_equal(qcow2_create_overlay(tq_path(p2, sizeof(p2), name),
						      tq_path(p, sizeof(p), prev), &ofd), 0);
		rofd = open(p, O_RDONLY | O_CLOEXEC);
		assert_true(rofd >= 0);
		assert_int_equal(send_fds(sv[0], ofd, rofd), 0);
		close(ofd);
		close(rofd);
	}
	assert_int_equal(read(sv[0], &c, 1), 1);
	tq_pattern(b, sizeof(b), 3ULL * MiB, 103);
	memcpy(ref + 3 * MiB, b, sizeof(b));
	save_ref("ref3.raw");
	/* Still running: the top is its alone, the frozen layers shared and complete. */
	assert_int_equal(lock_held("l3.qcow2"), F_WRLCK);
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "l%d.qcow2", i);
		snprintf(raw, sizeof(raw), "ref%d.raw", i);
		assert_int_equal(lock_held(name), F_RDLCK);
		qemu_same_open(name, raw);
	}
	close(sv[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (i = 0; i <= 3; i++) {
		snprintf(name, sizeof(name), "l%d.qcow2", i);
		snprintf(raw, sizeof(raw), "ref%d.raw", i);
		assert_int_equal(lock_held(name), F_UNLCK);
		qemu_same(name, raw);
		if (i) {
			snprintf(prev, sizeof(prev), "l%d.qcow2", i - 1);
			backing_name_is(name, prev);
		}
	}
}

/* What the holder refuses: the disk goes on unchanged and the descriptors stay the caller's. */
static void test_switch_fd_refusals(void **state)
{
	struct qcow2_create_opts co = QCOW2_CREATE_OPTS_INIT;
	struct blockdev *bd = NULL, *ro = NULL;
	char p[512], p2[512], p3[512];
	int ofd, wrong;

	(void)state;
	create_img("top.qcow2", false);
	create_img("unrelated.qcow2", false);
	assert_int_equal(blockdev_open_qcow2(&bd, tq_path(p, sizeof(p), "top.qcow2"), false), 0);
	put(bd, 0, 64 * 1024, 1);
	assert_int_equal(qcow2_create_overlay(tq_path(p2, sizeof(p2), "l1.qcow2"), p, &ofd), 0);
	/* A "frozen" descriptor of another file. */
	wrong = open(tq_path(p3, sizeof(p3), "unrelated.qcow2"), O_RDONLY | O_CLOEXEC);
	assert_int_equal(bd->ops->switch_fd(bd, ofd, wrong, "l1.qcow2"), SBX_EINVAL);
	assert_true(fd_open(ofd) && fd_open(wrong));
	close(wrong);
	/* An overlay that is not empty, one of another size, one with no backing file. */
	sh_ok("cp top.qcow2 full.qcow2");
	wrong = open(tq_path(p3, sizeof(p3), "full.qcow2"), O_RDWR | O_CLOEXEC);
	assert_int_equal(bd->ops->switch_fd(bd, wrong, -1, "full.qcow2"), SBX_EINVAL);
	assert_true(fd_open(wrong));
	close(wrong);
	co.size = SIZE * 2;
	co.backing_file = "top.qcow2";
	co.backing_format = "qcow2";
	assert_int_equal(qcow2_create(tq_path(p3, sizeof(p3), "big.qcow2"), &co), 0);
	wrong = open(p3, O_RDWR | O_CLOEXEC);
	assert_int_equal(bd->ops->switch_fd(bd, wrong, -1, "big.qcow2"), SBX_EINVAL);
	close(wrong);
	wrong = open(tq_path(p3, sizeof(p3), "unrelated.qcow2"), O_RDWR | O_CLOEXEC);
	assert_int_equal(bd->ops->switch_fd(bd, wrong, -1, "unrelated.qcow2"), SBX_EINVAL);
	close(wrong);
	/* A read-only descriptor for the overlay: it cannot be written. */
	wrong = open(p2, O_RDONLY | O_CLOEXEC);
	assert_int_not_equal(bd->ops->switch_fd(bd, wrong, -1, "l1.qcow2"), 0);
	close(wrong);
	/* Still writing to top.qcow2, alone. */
	put(bd, 64 * 1024, 4096, 2);
	reads_ref(bd);
	assert_int_equal(lock_held("top.qcow2"), F_WRLCK);
	/* A read-only disk has nothing to switch. */
	assert_int_equal(blockdev_open_qcow2(&ro, p3, true), 0);
	assert_int_equal(ro->ops->switch_fd(ro, ofd, -1, NULL), SBX_EINVAL);
	assert_int_equal(blockdev_close(ro), 0);
	/* And the real overlay, with no frozen descriptor: the old one is kept, its lock shared. */
	assert_int_equal(bd->ops->switch_fd(bd, ofd, -1, "l1.qcow2"), 0);
	assert_int_equal(lock_held("top.qcow2"), F_RDLCK);
	save_ref("ref0.raw");
	put(bd, 128 * 1024, 4096, 3);
	save_ref("ref1.raw");
	assert_int_equal(blockdev_close(bd), 0);
	qemu_same("top.qcow2", "ref0.raw");
	qemu_same("l1.qcow2", "ref1.raw");
}

/* qcow2_create_overlay never replaces a file, and wants a qcow2 v3 under it. */
static void test_create_overlay_refusals(void **state)
{
	char p[512], p2[512];
	int fd = 5;

	(void)state;
	create_img("top.qcow2", false);
	sh_ok("echo keep >l1.qcow2 && echo notqcow >raw.img");
	assert_int_equal(qcow2_create_overlay(tq_path(p2, sizeof(p2), "l1.qcow2"),
					      tq_path(p, sizeof(p), "top.qcow2"), &fd), SBX_EEXISTS);
	assert_int_equal(fd, -1);
	sh_ok("grep -qx keep l1.qcow2");
	assert_int_equal(qcow2_create_overlay(tq_path(p2, sizeof(p2), "l2.qcow2"),
					      tq_path(p, sizeof(p), "raw.img"), NULL), SBX_ECORRUPT);
	assert_int_equal(qcow2_create_overlay(p2, tq_path(p, sizeof(p), "nothere.qcow2"), NULL),
			 SBX_ENOTFOUND);
	sh_ok("test \"$(ls | sort | tr '\\n' ' ')\" = 'l1.qcow2 raw.img top.qcow2 '");
	/* Without fd: created and closed, no lock held. */
	assert_int_equal(qcow2_create_overlay(p2, tq_path(p, sizeof(p), "top.qcow2"), NULL), 0);
	assert_int_equal(lock_held("l2.qcow2"), F_UNLCK);
	backing_name_is("l2.qcow2", "top.qcow2");
}

/* Through the disk-limit wrapper: forwarded, and the frozen layer still counts. */
static void test_switch_fd_through_limit(void **state)
{
	struct blockdev *q = NULL, *bd = NULL;
	char p[512], p2[512];
	uint8_t *buf = malloc(MiB);
	struct iovec iov = { buf, MiB };
	uint64_t off;
	int fd, ofd, rofd, err = 0;

	(void)state;
	create_img("top.qcow2", false);
	assert_int_equal(blockdev_open_qcow2(&q, tq_path(p, sizeof(p), "top.qcow2"), false), 0);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sbx_disk_limit_wrap(&bd, q, fd, 2 * MiB + 512 * 1024, NULL, NULL), 0);
	memset(buf, 0x5a, MiB);
	assert_int_equal(bd->ops->pwritev(bd, &iov, 1, 0), 0);
	assert_int_equal(qcow2_create_overlay(tq_path(p2, sizeof(p2), "l1.qcow2"), p, &ofd), 0);
	rofd = open(p, O_RDONLY | O_CLOEXEC);
	assert_int_equal(bd->ops->switch_fd(bd, ofd, rofd, "l1.qcow2"), 0);
	for (off = MiB; off < SIZE && !err; off += MiB)
		err = bd->ops->pwritev(bd, &iov, 1, off);
	assert_int_equal(err, SBX_ELIMIT);
	assert_int_equal(blockdev_close(bd), 0);
	free(buf);
}

static void test_squash_middle(void **state)
{
	struct blockdev *bd = NULL;
	char p[512], up[512], lo[512];

	(void)state;
	create_img("l0.qcow2", false);
	assert_int_equal(blockdev_open_qcow2(&bd, tq_path(p, sizeof(p), "l0.qcow2"), false), 0);
	put(bd, 0, 256 * 1024, 1);
	put(bd, 2 * MiB, 128 * 1024, 2);
	assert_int_equal(bd->ops->freeze_switch(bd, tq_path(p, sizeof(p), "l1.qcow2"), NULL), 0);
	put(bd, 64 * 1024, 64 * 1024, 3);
	assert_int_equal(bd->ops->write_zeroes(bd, 2 * MiB, 64 * 1024), 0);	/* over l0's data */
	memset(ref + 2 * MiB, 0, 64 * 1024);
	put(bd, 3 * MiB, 8192, 4);
	save_ref("ref1.raw");
	assert_int_equal(bd->ops->freeze_switch(bd, tq_path(p, sizeof(p), "l2.qcow2"), NULL), 0);
	put(bd, 0, 4096, 5);
	assert_int_equal(bd->ops->freeze_switch(bd, tq_path(p, sizeof(p), "l3.qcow2"), NULL), 0);
	save_ref("ref2.raw");
	put(bd, 3 * MiB, 512, 6);
	save_ref("ref3.raw");
	/* While the disk runs on l3: squash l1 into l2 (both frozen). */
	assert_int_equal(qcow2_squash_into(tq_path(up, sizeof(up), "l2.qcow2"),
					   tq_path(lo, sizeof(lo), "l1.qcow2")), 0);
	backing_name_is("l2.qcow2", "l0.qcow2");
	qemu_same_open("l2.qcow2", "ref2.raw");
	/* The running disk still reads what it read (it holds the old files). */
	reads_ref(bd);
	/* The top layer cannot be squashed into: it is open for writing. */
	assert_int_equal(qcow2_squash_into(tq_path(p, sizeof(p), "l3.qcow2"), up), SBX_ELOCKED);
	/* l1 is not l0's upper any more: refused. */
	assert_int_equal(qcow2_squash_into(up, lo), SBX_EINVAL);
	assert_int_equal(blockdev_close(bd), 0);
	/* Squash the bottom layer (no backing) into l2: l2 stands alone. */
	assert_int_equal(qcow2_squash_into(up, tq_path(lo, sizeof(lo), "l0.qcow2")), 0);
	backing_name_is("l2.qcow2", "");
	qemu_same("l2.qcow2", "ref2.raw");
	qemu_same("l3.qcow2", "ref3.raw");
	/* The old layers are untouched and still valid. */
	qemu_same("l1.qcow2", "ref1.raw");
	if (tq_have_qemu_img())
		sh_ok("%s check l0.qcow2 && test ! -e l2.qcow2.tmp.%ld", tq_qemu_img(), (long)getpid());
}

/* Squash keeps a relative backing name across directories, and zero flags over the base. */
static void test_squash_other_dir(void **state)
{
	struct blockdev *bd = NULL;
	char p[512], up[512], lo[512];

	(void)state;
	create_img("base.qcow2", false);
	sh_ok("mkdir -p layers");
	assert_int_equal(blockdev_open_qcow2(&bd, tq_path(p, sizeof(p), "base.qcow2"), false), 0);
	put(bd, 0, MiB, 1);
	assert_int_equal(bd->ops->freeze_switch(bd, tq_path(p, sizeof(p), "layers/1.qcow2"), NULL),
			 0);
	assert_int_equal(bd->ops->discard(bd, 0, 128 * 1024), 0);
	memset(ref, 0, 128 * 1024);
	assert_int_equal(bd->ops->freeze_switch(bd, tq_path(p, sizeof(p), "layers/2.qcow2"), NULL),
			 0);
	put(bd, 512 * 1024, 4096, 2);
	save_ref("ref2.raw");
	assert_int_equal(blockdev_close(bd), 0);
	assert_int_equal(qcow2_squash_into(tq_path(up, sizeof(up), "layers/2.qcow2"),
					   tq_path(lo, sizeof(lo), "layers/1.qcow2")), 0);
	backing_name_is("layers/2.qcow2", "../base.qcow2");
	qemu_same("layers/2.qcow2", "ref2.raw");
}

static void test_relative_name(void **state)
{
	char *n = NULL, d[512], t[512];

	(void)state;
	sh_ok("mkdir -p a/b c && touch a/x c/y");
	assert_int_equal(qcow2_relative_name(&n, tq_path(d, sizeof(d), "a"),
					     tq_path(t, sizeof(t), "a/x")), 0);
	assert_string_equal(n, "x");
	free(n);
	assert_int_equal(qcow2_relative_name(&n, tq_path(d, sizeof(d), "a/b"),
					     tq_path(t, sizeof(t), "c/y")), 0);
	assert_string_equal(n, "../../c/y");
	free(n);
	assert_int_equal(qcow2_relative_name(&n, "/", tq_path(t, sizeof(t), "c/y")), 0);
	assert_true(n[0] == '/');
	free(n);
	assert_int_equal(qcow2_relative_name(&n, d, tq_path(t, sizeof(t), "nothere")),
			 SBX_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_switch_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_five_times, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_fails_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_other_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_through_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_fd_across_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_fd_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_overlay_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_fd_through_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_squash_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_squash_other_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_name, setup, teardown),
	};

	if (!tq_have_qemu_img())
		printf("# qemu-img not found: the oracle checks are skipped\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
