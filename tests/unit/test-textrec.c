// SPDX-License-Identifier: MIT
/*
 * Unit tests for the text records' buffer and escaping (sbx/textrec.c), which
 * task records, warm base records and check results share: every byte's round
 * trip, the refusals each reader has always made, and the oom flag.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/textrec.h"
#include "util/error.h"

/* realloc fails from the fail_at-th call on (0: never), to reach the oom flag. */
static int fail_at, calls;
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n)
{
	if (fail_at && ++calls >= fail_at)
		return NULL;
	return __real_realloc(p, n);
}

static const enum textrec_hex modes[] = { TEXTREC_HEX_STRICT, TEXTREC_HEX_STRTOL };

static void test_every_byte(void **state)
{
	static const char hex[] = "0123456789abcdef";
	struct textrec_buf b = { 0 };
	char v[256], want[4 * 256 + 8], *back;
	size_t i, n = 0, m;

	(void)state;
	for (i = 1; i <= 0xff; i++)
		v[i - 1] = (char)i;
	v[255] = 0;
	/* What the format says, spelled out here rather than by the code under test. */
	n = (size_t)sprintf(want, "k ");
	for (i = 1; i <= 0xff; i++) {
		if (i == '\\') {
			want[n++] = '\\';
			want[n++] = '\\';
		} else if (i == '\n') {
			want[n++] = '\\';
			want[n++] = 'n';
		} else if (i < 0x20 || i == 0x7f) {
			want[n++] = '\\';
			want[n++] = 'x';
			want[n++] = hex[i >> 4];
			want[n++] = hex[i & 15];
		} else {
			want[n++] = (char)i;
		}
	}
	want[n++] = '\n';
	want[n] = 0;
	textrec_put_str(&b, "k", v);
	assert_false(b.oom);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.p, want, n);
	assert_int_equal(b.p[b.len], 0);
	for (m = 0; m < 2; m++) {
		assert_int_equal(textrec_unescape(&back, b.p + 2, b.len - 3, modes[m], "x"), 0);
		assert_string_equal(back, v);
		free(back);
	}
	free(b.p);
}

static void test_backslash_newline(void **state)
{
	struct textrec_buf b = { 0 };
	char *back;
	size_t m;

	(void)state;
	textrec_put_str(&b, "prompt", "a\\b\nc\\n\\\\");
	textrec_put_str(&b, "none", NULL);	/* NULL: no line at all */
	textrec_put_str(&b, "empty", "");
	assert_false(b.oom);
	assert_string_equal(b.p, "prompt a\\\\b\\nc\\\\n\\\\\\\\\nempty \n");
	for (m = 0; m < 2; m++) {
		assert_int_equal(textrec_unescape(&back, b.p + 7, strlen("a\\\\b\\nc\\\\n\\\\\\\\"),
						  modes[m], "x"), 0);
		assert_string_equal(back, "a\\b\nc\\n\\\\");
		free(back);
	}
	free(b.p);
}

static void expect_refused(const char *s, enum textrec_hex how)
{
	char *out = NULL;

	assert_int_equal(textrec_unescape(&out, s, strlen(s), how, "the task record"), SBX_ECORRUPT);
	assert_null(out);
	assert_non_null(strstr(sbx_error(), "bad escape in the task record"));
}

static void expect_read(const char *s, enum textrec_hex how, const char *want)
{
	char *out = NULL;

	assert_int_equal(textrec_unescape(&out, s, strlen(s), how, "x"), 0);
	assert_string_equal(out, want);
	free(out);
}

static void test_bad_escapes(void **state)
{
	static const char *const bad[] = {
		"\\x4", "a\\x4", "\\xZZ", "\\xzz", "\\x4g", "\\x00", "\\x-1", "\\x", "\\",
		"abc\\", "\\q", "\\N", "\\ ", "a\\x\\n",
	};
	size_t i, m;

	(void)state;
	for (m = 0; m < 2; m++)
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			expect_refused(bad[i], modes[m]);
	/* The readers differ only in what else they take for HH. */
	expect_read("\\x0a\\x7f\\x1b", TEXTREC_HEX_STRICT, "\n\x7f\x1b");
	expect_read("\\x0a\\x7f\\x1b", TEXTREC_HEX_STRTOL, "\n\x7f\x1b");
	expect_refused("\\x1B", TEXTREC_HEX_STRICT);
	expect_refused("\\x A", TEXTREC_HEX_STRICT);
	expect_refused("\\x+a", TEXTREC_HEX_STRICT);
	expect_read("\\x1B", TEXTREC_HEX_STRTOL, "\x1b");
	expect_read("\\x A", TEXTREC_HEX_STRTOL, "\n");
	expect_read("\\x+a", TEXTREC_HEX_STRTOL, "\n");
	/* Bytes the writer never escapes read back as they are. */
	expect_read("\t\x80\xff", TEXTREC_HEX_STRICT, "\t\x80\xff");
}

static void test_oom(void **state)
{
	struct textrec_buf b = { 0 };
	char big[1000];

	(void)state;
	/* An empty add still makes a string. */
	textrec_add(&b, "", 0);
	assert_non_null(b.p);
	assert_string_equal(b.p, "");
	textrec_printf(&b, "id %u\n", 7u);
	assert_false(b.oom);
	assert_string_equal(b.p, "id 7\n");
	/* printf past 255 bytes is a bug in the writer: the flag, not a cut line. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	textrec_printf(&b, "x %.300s\n", big);
	assert_true(b.oom);
	assert_string_equal(b.p, "id 7\n");
	/* Once set, nothing more is written. */
	textrec_put_str(&b, "k", "v");
	textrec_add(&b, "more", 4);
	assert_string_equal(b.p, "id 7\n");
	assert_int_equal(b.len, 5);
	free(b.p);

	/* A failed realloc sets it too and keeps what was written. */
	memset(&b, 0, sizeof(b));
	textrec_add(&b, "abc", 3);
	calls = 0;
	fail_at = 1;
	textrec_add(&b, big, sizeof(big) - 1);
	fail_at = 0;
	assert_true(b.oom);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.p, "abc");
	textrec_add(&b, "d", 1);
	assert_string_equal(b.p, "abc");
	free(b.p);

	/* ... even the first one. */
	memset(&b, 0, sizeof(b));
	calls = 0;
	fail_at = 1;
	textrec_put_str(&b, "k", "v");
	fail_at = 0;
	assert_true(b.oom);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_backslash_newline),
		cmocka_unit_test(test_bad_escapes),
		cmocka_unit_test(test_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
