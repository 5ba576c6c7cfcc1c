// SPDX-License-Identifier: MIT
/*
 * sbx/disk-limit.c, the task disk's cap, over a real (raw) file: writes
 * pass until the file's allocated bytes reach the limit, then every write
 * is refused with SBX_ELIMIT, on_hit runs once, and what was written before
 * still reads back.  The nested harness cannot run the disk-filling task
 * (tests/kvm/task.kvm says why), so this is where CI sees the cap work.
 */
#include "sbx/disk-limit.h"
#include "util/error.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define MIB (1024 * 1024)

static int hits;

static void on_hit(void *opaque)
{
	assert_ptr_equal(opaque, &hits);
	hits++;
}

static uint64_t allocated(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void test_writes_stop_at_the_limit(void **state)
{
	char path[] = "/tmp/sbx-test-disk-limit.XXXXXX";
	struct blockdev *raw, *bd;
	static char buf[MIB], back[MIB];
	struct iovec iov = { buf, sizeof(buf) };
	struct iovec rio = { back, sizeof(back) };
	uint64_t max = 8 * MIB, off;
	int fd, err = 0, ok_writes = 0;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 * MIB), 0);
	close(fd);
	assert_int_equal(blockdev_open_raw(&raw, path, false), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sbx_disk_limit_wrap(&bd, raw, fd, max, on_hit, &hits), 0);
	assert_int_equal(bd->size, 64 * MIB);

	for (off = 0; off < 64 * MIB; off += MIB) {
		memset(buf, 'a' + (int)(off / MIB) % 26, sizeof(buf));
		err = bd->ops->pwritev(bd, &iov, 1, off);
		if (err)
			break;
		ok_writes++;
	}
	assert_int_equal(err, SBX_ELIMIT);
	assert_int_equal(hits, 1);
	/* it stopped at the limit, not before, and not long after */
	assert_true(allocated(path) >= max);
	assert_true(allocated(path) <= max + 2 * MIB);
	assert_true(ok_writes >= 8 && ok_writes <= 9);
	/* refused again, on_hit not run again; the file does not grow */
	assert_int_equal(bd->ops->pwritev(bd, &iov, 1, 40 * MIB), SBX_ELIMIT);
	assert_int_equal(hits, 1);
	assert_true(allocated(path) <= max + 2 * MIB);
	/* what was written reads back; a flush still works */
	assert_int_equal(bd->ops->preadv(bd, &rio, 1, 3 * MIB), 0);
	memset(buf, 'd', sizeof(buf));
	assert_memory_equal(back, buf, sizeof(buf));
	assert_int_equal(bd->ops->flush(bd), 0);
	assert_int_equal(blockdev_close(bd), 0);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_stop_at_the_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
