// SPDX-License-Identifier: MIT
/*
 * Unit tests for sbx/tar.c: archives we write extract with GNU tar and
 * busybox tar (the guests' tars) to the same bytes and modes; an entry
 * begun and dropped leaves nothing; names and sizes over the format's
 * limits are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbx/fsutil.h"
#include "sbx/tar.h"
#include "util/error.h"

static char tmp[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/sbx-test-tar.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sbx_rmtree(tmp);
	return 0;
}

static int run(const char *fmt, ...) SBX_PRINTF(1, 2);
static int run(const char *fmt, ...)
{
	char *cmd = NULL, *full = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	assert_true(asprintf(&full, "cd '%s' && { %s ; } >>'%s/sh.log' 2>&1", tmp, cmd, tmp) >= 0);
	rc = system(full);
	free(cmd);
	free(full);
	return rc;
}

/* An archive: a prompt, an agent, a 200,000-byte "bundle" written through the fd, a dropped entry. */
static void write_archive(const char *path)
{
	struct sbx_tar t;
	char *big = malloc(200000);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	size_t i;

	assert_true(fd >= 0 && big);
	for (i = 0; i < 200000; i++)
		big[i] = (char)(i * 7 + i / 251);
	sbx_tar_init(&t, fd);
	assert_int_equal(sbx_tar_add(&t, "prompt", 0644, "fix the bug\n", 12), 0);
	assert_int_equal(sbx_tar_add(&t, "empty", 0600, "", 0), 0);
	assert_int_equal(sbx_tar_begin(&t, "dropped", 0644), 0);
	assert_int_equal(write(fd, "never seen", 10), 10);
	assert_int_equal(sbx_tar_drop(&t), 0);
	assert_int_equal(sbx_tar_begin(&t, "base.bundle", 0644), 0);
	assert_int_equal(sbx_tar_add(&t, "x", 0644, "x", 1), SBX_EINVAL);
	assert_int_equal(write(fd, big, 200000), 200000);
	assert_int_equal(sbx_tar_end(&t), 0);
	assert_int_equal(sbx_tar_add(&t, "agent", 0755, "#!/bin/sh\necho hi\n", 18), 0);
	assert_int_equal(sbx_tar_finish(&t), 0);
	assert_true(t.off % 512 == 0);
	close(fd);
	free(big);
}

static void check_out(const char *dir)
{
	struct stat st;
	char p[512];

	assert_int_equal(run("printf 'fix the bug\\n' | cmp - %s/prompt", dir), 0);
	snprintf(p, sizeof(p), "%s/%s/empty", tmp, dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 0);
	snprintf(p, sizeof(p), "%s/%s/agent", tmp, dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0111, 0111);
	snprintf(p, sizeof(p), "%s/%s/base.bundle", tmp, dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 200000);
	assert_int_equal(run("awk 'BEGIN { for (i = 0; i < 200000; i++) printf \"%%c\", (i * 7 + int(i / 251)) %% 256 }' "
			     "| LC_ALL=C cmp - %s/base.bundle", dir), 0);
	snprintf(p, sizeof(p), "%s/%s/dropped", tmp, dir);
	assert_int_equal(stat(p, &st), -1);
	assert_int_equal(run("test \"$(ls %s | wc -l)\" = 4", dir), 0);
}

static void test_extracts(void **state)
{
	char path[300];

	(void)state;
	snprintf(path, sizeof(path), "%s/a.tar", tmp);
	write_archive(path);
	/* GNU tar checks the header checksums and the format. */
	assert_int_equal(run("mkdir gnu && tar -x -f - -C gnu < a.tar && tar -t -v -f a.tar"), 0);
	check_out("gnu");
	if (run("command -v busybox") == 0) {
		assert_int_equal(run("mkdir bb && busybox tar -x -f - -C bb < a.tar"), 0);
		check_out("bb");
	} else {
		fprintf(stderr, "# no busybox here: its tar not tried\n");
	}
}

static void test_limits(void **state)
{
	char path[300], name[120];
	struct sbx_tar t;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/b.tar", tmp);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	sbx_tar_init(&t, fd);
	memset(name, 'n', 100);
	name[100] = 0;
	assert_int_equal(sbx_tar_add(&t, name, 0644, "", 0), SBX_EINVAL);
	name[99] = 0;
	assert_int_equal(sbx_tar_add(&t, name, 0644, "", 0), 0);
	assert_int_equal(sbx_tar_add(&t, "", 0644, "", 0), SBX_EINVAL);
	assert_int_equal(sbx_tar_end(&t), SBX_EINVAL);
	assert_int_equal(sbx_tar_begin(&t, "open", 0644), 0);
	assert_int_equal(sbx_tar_finish(&t), SBX_EINVAL);
	assert_int_equal(sbx_tar_drop(&t), 0);
	assert_int_equal(sbx_tar_finish(&t), 0);
	close(fd);
	assert_int_equal(run("tar -t -f b.tar | wc -l | grep -qx 1"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_extracts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
