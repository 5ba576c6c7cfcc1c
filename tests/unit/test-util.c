// SPDX-License-Identifier: MIT
/* Unit tests for util/: errors, size and duration parsing, range checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/checked.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/sha256.h"

static void test_error_message(void **state)
{
	(void)state;
	sbx_error_clear();
	assert_string_equal(sbx_error(), "unknown error");
	assert_int_equal(sbx_error_set(SBX_ENOTFOUND, "no task '%s'", "7"), SBX_ENOTFOUND);
	assert_string_equal(sbx_error(), "no task '7'");
	assert_int_equal(sbx_error_prefix(SBX_EIO, "reading %s", "x.qcow2"), SBX_EIO);
	assert_string_equal(sbx_error(), "reading x.qcow2: no task '7'");
}

static void test_error_corrupt_says_where(void **state)
{
	(void)state;
	assert_int_equal(SBX_CORRUPT("L1 offset %#x not aligned", 0x123), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "L1 offset 0x123 not aligned (noticed at "));
	assert_non_null(strstr(sbx_error(), "test-util.c:"));
}

static void test_error_errno(void **state)
{
	(void)state;
	errno = ENOENT;
	assert_int_equal(sbx_error_errno(SBX_EIO, "open '%s'", "f"), SBX_EIO);
	assert_string_equal(sbx_error(), "open 'f': No such file or directory");
}

static void test_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_size("512", 1 << 20, &v), 0);
	assert_true(v == 512ULL << 20);
	assert_int_equal(parse_size("2G", 1, &v), 0);
	assert_true(v == 2ULL << 30);
	assert_int_equal(parse_size("1.5k", 1, &v), 0);
	assert_true(v == 1536);
	assert_int_equal(parse_size("64KiB", 1, &v), 0);
	assert_true(v == 65536);
	assert_int_equal(parse_size("100b", 1 << 20, &v), 0);
	assert_true(v == 100);
	assert_int_equal(parse_size("", 1, &v), SBX_EINVAL);
	assert_int_equal(parse_size("-1", 1, &v), SBX_EINVAL);
	assert_int_equal(parse_size("12Q", 1, &v), SBX_EINVAL);
	assert_int_equal(parse_size("1.1b", 1, &v), SBX_EINVAL);
	assert_int_equal(parse_size("99999999T", 1, &v), SBX_EINVAL);
	assert_int_equal(parse_size("nan", 1, &v), SBX_EINVAL);
	assert_int_equal(parse_size("1Mx", 1, &v), SBX_EINVAL);
}

static void test_parse_duration(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_duration_ms("90", &v), 0);
	assert_true(v == 90000);
	assert_int_equal(parse_duration_ms("250ms", &v), 0);
	assert_true(v == 250);
	assert_int_equal(parse_duration_ms("10m", &v), 0);
	assert_true(v == 600000);
	assert_int_equal(parse_duration_ms("1.5h", &v), 0);
	assert_true(v == 5400000);
	assert_int_equal(parse_duration_ms("3 days", &v), SBX_EINVAL);
	assert_int_equal(parse_duration_ms("", &v), SBX_EINVAL);
}

static void test_parse_uint(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_uint("4", 1, 255, &v), 0);
	assert_true(v == 4);
	assert_int_equal(parse_uint("0", 1, 255, &v), SBX_EINVAL);
	assert_int_equal(parse_uint("256", 1, 255, &v), SBX_EINVAL);
	assert_int_equal(parse_uint("4x", 1, 255, &v), SBX_EINVAL);
	assert_int_equal(parse_uint(" 4", 1, 255, &v), SBX_EINVAL);
}

static void test_range_ok(void **state)
{
	(void)state;
	assert_true(range_ok(0, 10, 10));
	assert_true(range_ok(10, 0, 10));
	assert_false(range_ok(11, 0, 10));
	assert_false(range_ok(5, 6, 10));
	assert_false(range_ok(UINT64_MAX, 2, UINT64_MAX));
	assert_false(range_ok(2, UINT64_MAX, 100));
}

static void test_sha256(void **state)
{
	static const struct {
		const char *in;
		const char *hex;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	struct sha256 c;
	uint8_t d[32];
	char hex[65];
	size_t i, k;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(v); i++) {
		assert_int_equal(sha256_init(&c), 0);
		/* Byte by byte and whole must agree. */
		for (k = 0; v[i].in[k]; k++)
			sha256_update(&c, v[i].in + k, 1);
		assert_int_equal(sha256_final(&c, d), 0);
		sha256_hex(d, hex);
		assert_string_equal(hex, v[i].hex);
	}
	/* A million 'a's crosses many blocks. */
	assert_int_equal(sha256_init(&c), 0);
	for (i = 0; i < 1000; i++) {
		char a[1000];

		memset(a, 'a', sizeof(a));
		sha256_update(&c, a, sizeof(a));
	}
	assert_int_equal(sha256_final(&c, d), 0);
	sha256_hex(d, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

	/* A whole file. */
	{
		char path[] = "/tmp/sbx-test-sha256.XXXXXX";
		int fd = mkstemp(path);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "abc", 3), 3);
		close(fd);
		assert_int_equal(sha256_file(path, d), 0);
		sha256_hex(d, hex);
		assert_string_equal(hex, v[1].hex);
		unlink(path);
		assert_int_equal(sha256_file(path, d), SBX_EIO);
	}
}

/* CRC-32C: the check value, RFC 3720 B.4's vectors, chaining, and the hardware path = the tables. */
static void test_crc32c(void **state)
{
	uint8_t buf[32], big[1031];
	uint32_t whole;
	size_t i, j;

	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_sw(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c(0, "", 0), 0);
	memset(buf, 0, 32);
	assert_int_equal(crc32c(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, 32);
	assert_int_equal(crc32c(0, buf, 32), 0x62A8AB43u);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(crc32c(0, buf, 32), 0x46DD794Eu);
	for (i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(crc32c(0, buf, 32), 0x113FDB5Cu);

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 131 + 7);
	whole = crc32c(0, big, sizeof(big));
	assert_int_equal(crc32c_sw(0, big, sizeof(big)), whole);
	for (i = 0; i <= sizeof(big); i++)
		assert_int_equal(crc32c(crc32c(0, big, i), big + i, sizeof(big) - i), whole);
	/* Every alignment and a range of lengths: the 8-byte loops and their tails. */
	for (i = 0; i < 8; i++)
		for (j = 0; j < 40; j++)
			assert_int_equal(crc32c(5, big + i, j * 17), crc32c_sw(5, big + i, j * 17));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_message),
		cmocka_unit_test(test_error_corrupt_says_where),
		cmocka_unit_test(test_error_errno),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_range_ok),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_crc32c),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
