// SPDX-License-Identifier: MIT
/*
 * sbx/console-log.c: the guest's serial console into a file with a cap.
 * A guest that writes 2 GiB through the pipe our VMM's UART writes to
 * leaves a file of exactly the cap, and is never blocked; the same through
 * the real 8250 device model (vmm/serial.c), fed port write by port write.
 */
#include "sbx/console-log.h"
#include "vmm/platform.h"

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char path[64];

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/sbx-console-log.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static uint64_t file_size(void)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static char *read_file(size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	assert_non_null(f);
	*len = (size_t)file_size();
	buf = malloc(*len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	buf[*len] = 0;
	fclose(f);
	return buf;
}

struct flood {
	int fd;
	uint64_t bytes;
};

static void *flood(void *arg)
{
	struct flood *f = arg;
	static char chunk[1 << 16];
	uint64_t done = 0;

	memset(chunk, 'x', sizeof(chunk));
	while (done < f->bytes) {
		ssize_t n = write(f->fd, chunk, sizeof(chunk));

		if (n <= 0)
			break;
		done += (uint64_t)n;
	}
	f->bytes = done;
	close(f->fd);
	return NULL;
}

static void test_two_gib_leave_the_cap(void **state)
{
	const uint64_t cap = 1 << 20, total = 2ULL << 30;
	struct sbx_console_log *cl = NULL;
	struct sbx_console_log_stats st;
	struct flood f;
	pthread_t t;
	size_t len;
	char *buf;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(sbx_console_log_start(&cl, p[0], path, cap), 0);
	f.fd = p[1];
	f.bytes = total;
	assert_int_equal(pthread_create(&t, NULL, flood, &f), 0);
	pthread_join(t, NULL);	/* the writer finished: nobody blocked it */
	assert_true(f.bytes == total);
	sbx_console_log_stop(cl, &st);
	assert_true(st.read == total);
	assert_true(st.truncated);
	assert_true(st.written == cap);
	assert_true(file_size() == cap);
	buf = read_file(&len);
	assert_non_null(strstr(buf + len - 200, "\n[git-sbx: console output over sbx.maxConsoleLogSize "
				"(1048576 bytes); the rest was discarded]\n"));
	assert_int_equal(buf[0], 'x');
	free(buf);
}

static void test_under_the_cap_all_is_kept(void **state)
{
	struct sbx_console_log *cl = NULL;
	struct sbx_console_log_stats st;
	size_t len;
	char *buf;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(sbx_console_log_start(&cl, p[0], path, 4096), 0);
	assert_int_equal(write(p[1], "boot\n", 5), 5);
	close(p[1]);
	sbx_console_log_stop(cl, &st);
	assert_false(st.truncated);
	assert_true(st.read == 5 && st.written == 5);
	buf = read_file(&len);
	assert_string_equal(buf, "boot\n");
	free(buf);
}

/* Stopping does not wait for a writer that keeps its end open. */
static void test_stop_with_the_writer_still_there(void **state)
{
	struct sbx_console_log *cl = NULL;
	struct sbx_console_log_stats st;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(sbx_console_log_start(&cl, p[0], path, 0), 0);
	assert_int_equal(write(p[1], "still here", 10), 10);
	usleep(20000);
	sbx_console_log_stop(cl, &st);
	assert_true(st.read == 10);
	assert_true(file_size() == 10);
	close(p[1]);
}

static void fake_irq(void *vm, unsigned gsi)
{
	(void)vm;
	(void)gsi;
}

/* Our VMM's UART, as sbx/sandbox.c wires it: the device writes to the pipe. */
static void test_through_the_8250(void **state)
{
	const uint64_t cap = 64 << 10, total = 8 << 20;
	struct sbx_console_log *cl = NULL;
	struct sbx_console_log_stats st;
	struct vm_dev_env env;
	struct pio_device *dev;
	uint64_t i;
	int p[2];

	(void)state;
	memset(&env, 0, sizeof(env));
	env.gsi = 4;
	env.irq = fake_irq;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(sbx_console_log_start(&cl, p[0], path, cap), 0);
	assert_int_equal(serial_create(&dev, &env, p[1]), 0);
	for (i = 0; i < total; i++) {
		uint8_t c = (i % 80 == 79) ? '\n' : (uint8_t)('a' + i % 26);

		dev->write(dev->opaque, 0, &c, 1);	/* THR */
	}
	dev->stop(dev->opaque);
	close(p[1]);
	sbx_console_log_stop(cl, &st);
	assert_true(st.read == total);
	assert_true(st.truncated);
	assert_true(file_size() == cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_gib_leave_the_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_under_the_cap_all_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_with_the_writer_still_there, setup, teardown),
		cmocka_unit_test_setup_teardown(test_through_the_8250, setup, teardown),
	};

	return cmocka_run_group_tests_name("console-log", tests, NULL, NULL);
}
