/* SPDX-License-Identifier: MIT */
/*
 * The "key value" text records of sbx/ (task records, warm base records,
 * check results; docs/formats.md): a growable buffer to write them in and the
 * value escaping they share.  A value escapes `\` as `\\`, newline as `\n` and
 * the other control bytes (below 0x20, and 0x7f) as `\xHH`, lowercase hex;
 * every other byte, 0x80-0xff included, stands as it is.
 */
#ifndef SBX_SBX_TEXTREC_H
#define SBX_SBX_TEXTREC_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * A growable NUL-terminated buffer.  Start it zeroed ({ 0 }); a failed
 * allocation sets `oom` and makes every later call a no-op, so a writer checks
 * once at the end (then frees `p`, which may be NULL).
 */
struct textrec_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

void textrec_add(struct textrec_buf *b, const char *s, size_t n);
/* printf of at most 255 bytes: a longer result sets `oom` (a bug, not data). */
void textrec_printf(struct textrec_buf *b, const char *fmt, ...) SBX_PRINTF(2, 3);
/* `v` escaped, without key or newline. */
void textrec_put_escaped(struct textrec_buf *b, const char *v);
/* "<key> <v escaped>\n"; nothing when `v` is NULL. */
void textrec_put_str(struct textrec_buf *b, const char *key, const char *v);

/*
 * How strictly \xHH is read.  STRICT takes two lowercase hex digits, as
 * written.  STRTOL is what strtol(3) makes of the two bytes, base 16: also
 * uppercase, a leading sign or white space ("\x A", "\x+a").  Task records and
 * check results have always been read that way and keep it; no writer emits
 * those spellings.  Both refuse \x00, a short \x and any other escape.
 */
enum textrec_hex { TEXTREC_HEX_STRICT, TEXTREC_HEX_STRTOL };

/*
 * Unescape the `n` bytes at `s` into a malloc'd NUL-terminated *out.  A bad
 * escape is SBX_ECORRUPT "bad escape in <what>".
 */
int textrec_unescape(char **out, const char *s, size_t n, enum textrec_hex hex,
		     const char *what);

#endif
