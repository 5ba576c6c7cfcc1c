// SPDX-License-Identifier: MIT
/* Unit tests for util/: errors, size and duration parsing, range checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "util/checked.h"
#include "util/error.h"
#include "util/parse.h"

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
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
