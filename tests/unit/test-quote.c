// SPDX-License-Identifier: MIT
/* Unit tests for util/quote.c: guest text made safe for a terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/quote.h"

static char *quote(const char *s)
{
	char *q = sbx_quote_str(s);

	assert_non_null(q);
	return q;
}

#define assert_quoted(in, expect)			\
	do {						\
		char *q_ = quote(in);			\
		assert_string_equal(q_, expect);	\
		free(q_);				\
	} while (0)

static void test_controls(void **state)
{
	(void)state;
	/* OSC 52 (clipboard write), ended by BEL; a screen clear; CR */
	assert_quoted("\x1b]52;c;ZWNobyBwd25lZA==\x07", "^[]52;c;ZWNobyBwd25lZA==^G");
	assert_quoted("\x1b[2J\x1b[H", "^[[2J^[[H");
	assert_quoted("ok\rFAKE", "ok^MFAKE");
	assert_quoted("a\x7f" "b\x08" "c\x0c", "a^?b^Hc^L");
	/* newline and tab stay */
	assert_quoted("line 1\n\tline 2\n", "line 1\n\tline 2\n");
	assert_quoted("", "");
}

static void test_nul_in_a_stream(void **state)
{
	struct sbx_quote q = SBX_QUOTE_INIT;
	char out[SBX_QUOTE_MAX(5) + 1];
	size_t n;

	(void)state;
	n = sbx_quote_mem(&q, out, "a\0b\x1b\n", 5);
	n += sbx_quote_end(&q, out + n);
	out[n] = 0;
	assert_string_equal(out, "a^@b^[\n");
}

static void test_utf8_kept_c1_and_invalid_escaped(void **state)
{
	(void)state;
	assert_quoted("h\xc3\xa9llo \xe2\x82\xac \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
		      "h\xc3\xa9llo \xe2\x82\xac \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
	/* C1 CSI and OSC, encoded in UTF-8 and as raw bytes */
	assert_quoted("\xc2\x9b" "2J \xc2\x9d" "52", "\\u009b2J \\u009d52");
	assert_quoted("\x9b" "2J", "\\x9b2J");
	/* overlong ESC, overlong 3-byte, surrogate, past U+10FFFF, F5..FF */
	assert_quoted("\xc0\x9b", "\\xc0\\x9b");
	assert_quoted("\xe0\x80\x9b", "\\xe0\\x80\\x9b");
	assert_quoted("\xed\xa0\x80", "\\xed\\xa0\\x80");
	assert_quoted("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
	assert_quoted("\xff\xfe", "\\xff\\xfe");
	/* a cut character, then a valid one: only the cut bytes are escaped */
	assert_quoted("\xe2\x82" "A\xe2\x82\xac", "\\xe2\\x82A\xe2\x82\xac");
	/* a cut character at the very end */
	assert_quoted("end\xf0\x9f\x98", "end\\xf0\\x9f\\x98");
}

static void test_utf8_char(void **state)
{
	uint32_t cp = 0;

	(void)state;
	assert_int_equal(sbx_utf8_char((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
	assert_int_equal(cp, 0x1f600);
	assert_int_equal(sbx_utf8_char((const unsigned char *)"\xf0\x9f", 2, &cp), 0);
	assert_int_equal(sbx_utf8_char((const unsigned char *)"\xf0\x41", 2, &cp), -1);
	assert_int_equal(sbx_utf8_char((const unsigned char *)"\x80", 1, &cp), -1);
	assert_int_equal(sbx_utf8_char((const unsigned char *)"\xc2\x9b", 2, &cp), 2);
	assert_int_equal(cp, 0x9b);
}

/* Every split of the input into two chunks gives the same as the whole. */
static void test_stream_splits(void **state)
{
	static const char in[] = "a\xf0\x9f\x98\x80" "b\xc2\x9b" "c\xe2\x82\xac\x1b]52;\x07"
				 "\xe2\x82" "d\xed\xa0\x80" "\xf4\x8f\xbf\xbf" "\xc3";
	size_t len = sizeof(in) - 1, split;
	char *whole = quote(in);

	(void)state;
	for (split = 0; split <= len; split++) {
		struct sbx_quote q = SBX_QUOTE_INIT;
		char out[SBX_QUOTE_MAX(sizeof(in)) + 1];
		size_t n;

		n = sbx_quote_mem(&q, out, in, split);
		n += sbx_quote_mem(&q, out + n, in + split, len - split);
		n += sbx_quote_end(&q, out + n);
		out[n] = 0;
		assert_string_equal(out, whole);
	}
	free(whole);
}

/* What comes out: valid UTF-8, no control but \t and \n, no C1, within the bound. */
static void check_safe(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		int len = sbx_utf8_char((const unsigned char *)s + i, n - i, &cp);

		assert_true(len > 0);
		assert_false(cp < 0x20 && cp != '\t' && cp != '\n');
		assert_false(cp >= 0x7f && cp <= 0x9f);
		i += (size_t)len;
	}
}

static void test_random_bytes_in_random_chunks(void **state)
{
	enum { N = 1 << 16 };
	unsigned char *in = malloc(N);
	char *a = malloc(SBX_QUOTE_MAX(N)), *b = malloc(SBX_QUOTE_MAX(N));
	unsigned seed = 12345;
	int round;

	(void)state;
	assert_non_null(in);
	assert_non_null(a);
	assert_non_null(b);
	for (round = 0; round < 8; round++) {
		struct sbx_quote q = SBX_QUOTE_INIT, r = SBX_QUOTE_INIT;
		size_t i, na, nb = 0;

		for (i = 0; i < N; i++) {
			seed = seed * 1103515245 + 12345;
			/* rounds 0-3 mostly high bytes (UTF-8 starts and continuations) */
			in[i] = (unsigned char)((seed >> 16) | (round < 4 ? 0x80 : 0));
		}
		na = sbx_quote_mem(&q, a, in, N);
		na += sbx_quote_end(&q, a + na);
		assert_true(na <= SBX_QUOTE_MAX(N));
		check_safe(a, na);
		for (i = 0; i < N;) {
			size_t k;

			seed = seed * 1103515245 + 12345;
			k = (seed >> 16) % 7;
			if (k > N - i)
				k = N - i;
			nb += sbx_quote_mem(&r, b + nb, in + i, k);
			i += k;
		}
		nb += sbx_quote_end(&r, b + nb);
		assert_int_equal(na, nb);
		assert_memory_equal(a, b, na);
	}
	free(in);
	free(a);
	free(b);
}

static void test_quote_buf_cuts_at_a_character(void **state)
{
	char out[8];

	(void)state;
	/* "日本": 3 + 3 bytes, room for 4 + NUL: only the first */
	assert_int_equal(sbx_quote_buf(out, 5, "\xe6\x97\xa5\xe6\x9c\xac"), 3);
	assert_string_equal(out, "\xe6\x97\xa5");
	/* an escape is not cut either */
	assert_int_equal(sbx_quote_buf(out, 7, "\x1b[2J\x1b"), 5);
	assert_string_equal(out, "^[[2J");
	assert_int_equal(sbx_quote_buf(out, 8, "\x1b[2J\x1b"), 7);
	assert_string_equal(out, "^[[2J^[");
	assert_int_equal(sbx_quote_buf(out, 1, "abc"), 0);
	assert_string_equal(out, "");
}

/* The end of a stream kept for a message: the last bytes, the last line, printable. */
static void test_tail(void **state)
{
	char tail[9];
	size_t n = 0;

	(void)state;
	assert_string_equal(sbx_tail_last_line(tail, 0), "no message");
	sbx_tail_add(tail, &n, 8, "ab\n", 3);
	sbx_tail_add(tail, &n, 8, "cd\n\n", 4);
	assert_int_equal(n, 7);
	assert_string_equal(tail, "ab\ncd\n\n");
	/* past 8 bytes the oldest go */
	sbx_tail_add(tail, &n, 8, "efg", 3);
	assert_int_equal(n, 8);
	assert_memory_equal(tail, "\ncd\n\nefg", 9);
	/* a chunk longer than the tail: only its end */
	sbx_tail_add(tail, &n, 8, "0123456789", 10);
	assert_string_equal(tail, "23456789");
	n = 0;
	sbx_tail_add(tail, &n, 8, "x\ne\x1b[J\xff\n\n", 9);
	assert_string_equal(sbx_tail_last_line(tail, n), "e?[J?");
	n = 0;
	sbx_tail_add(tail, &n, 8, "\n\n", 2);
	assert_string_equal(sbx_tail_last_line(tail, n), "no message");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_nul_in_a_stream),
		cmocka_unit_test(test_utf8_kept_c1_and_invalid_escaped),
		cmocka_unit_test(test_utf8_char),
		cmocka_unit_test(test_stream_splits),
		cmocka_unit_test(test_random_bytes_in_random_chunks),
		cmocka_unit_test(test_quote_buf_cuts_at_a_character),
		cmocka_unit_test(test_tail),
	};

	return cmocka_run_group_tests_name("quote", tests, NULL, NULL);
}
