/* SPDX-License-Identifier: MIT */
/*
 * Text from the guest, made safe to show on a terminal.  The agent is root
 * in its VM and chooses every byte of its output, its commit subjects and
 * the names a rejection message quotes; written raw, `ESC ] 52` sets the
 * user's clipboard, `ESC [ 2 J` clears the screen, CR overwrites a line.
 * Every place that shows guest text passes it through here:
 *
 *   - C0 controls but `\t` and `\n`, and DEL, in caret notation, as git's
 *     sideband and `cat -v` show them: ESC `^[`, CR `^M`, BEL `^G`, DEL `^?`;
 *   - C1 controls (U+0080..U+009F, which some terminals obey as ESC
 *     sequences) as `\u009b`;
 *   - bytes that are not strict UTF-8 (stray continuation bytes, overlong
 *     forms, surrogates, past U+10FFFF, a character cut at the end) as `\xNN`;
 *   - everything else, valid UTF-8 included, unchanged.
 *
 * Backslashes are not doubled: the output is for people, not for parsing
 * back (a literal "^[" in the text looks like an escaped ESC, and does
 * nothing either way).
 */
#ifndef SBX_UTIL_QUOTE_H
#define SBX_UTIL_QUOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A stream's state: the start of a UTF-8 character cut by the end of a chunk. */
struct sbx_quote {
	unsigned char pend[4];
	unsigned npend;
};
#define SBX_QUOTE_INIT { { 0 }, 0 }

/* The most sbx_quote_mem() + sbx_quote_end() write for `n` input bytes. */
#define SBX_QUOTE_MAX(n) (4 * ((size_t)(n) + 4))

/*
 * Escape `len` bytes of a stream into `out` (room for SBX_QUOTE_MAX(len));
 * returns the bytes written (no NUL).  A character cut at the end waits in
 * `q` for the next chunk.
 */
size_t sbx_quote_mem(struct sbx_quote *q, char *out, const void *in, size_t len);
/* The end of the stream: a cut character left in `q`, as `\xNN`. */
size_t sbx_quote_end(struct sbx_quote *q, char *out);

/* A whole string, escaped, newly allocated; NULL when out of memory. */
char *sbx_quote_str(const char *s);
/*
 * A whole string into `out` of `size` bytes (NUL-terminated, cut at a
 * character boundary when it does not fit); returns strlen(out).
 */
size_t sbx_quote_buf(char *out, size_t size, const char *s);
/* fputs() of the escaped string; EOF on error. */
int sbx_quote_fputs(const char *s, FILE *f);

/*
 * One strict UTF-8 character at `p` (RFC 3629): its length (1-4) with the
 * code point in *cp, 0 when the `n` bytes are a valid start of a longer
 * one, -1 when p[0] cannot start a character here.
 */
int sbx_utf8_char(const unsigned char *p, size_t n, uint32_t *cp);

/*
 * The end of a stream, kept for an error message: `len` more bytes of it
 * appended to tail[0..*tail_len), the oldest dropped past `max` bytes
 * (`tail` has room for max + 1: it stays NUL-terminated).
 */
void sbx_tail_add(char *tail, size_t *tail_len, size_t max, const void *data, size_t len);
/*
 * The tail's last line that is not empty, with every control but '\n' and
 * every byte from 0x7f up made '?' (in place: plain ASCII for a one-line
 * message); "no message" when there is none.
 */
const char *sbx_tail_last_line(char *tail, size_t tail_len);

#endif
