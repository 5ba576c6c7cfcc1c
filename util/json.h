/* SPDX-License-Identifier: MIT */
/*
 * JSON with jansson, for the --json outputs and the audit trail.
 *
 * jansson does the parsing and serialising; this file adds the two things
 * our callers need on top:
 *
 *   - strings that may not be UTF-8 (guest text, file names): jansson
 *     refuses them, so sbx_json_str() replaces each byte that is not strict
 *     UTF-8 with U+FFFD first;
 *   - text that is safe on a terminal: JSON leaves DEL and the C1 controls
 *     (U+0080..U+009F, which some terminals obey as ESC sequences) raw, so
 *     sbx_json_dumps() writes them as \u escapes, like the C0 controls.
 *     \u escapes are in lower-case hex.
 */
#ifndef SBX_UTIL_JSON_H
#define SBX_UTIL_JSON_H

#include <jansson.h>
#include <stdio.h>

/* A JSON string from any bytes (see above); JSON null for NULL; NULL when out of memory. */
json_t *sbx_json_str(const char *s);
/* The same for `len` bytes. */
json_t *sbx_json_strn(const char *s, size_t len);
/*
 * obj[key] = v, taking v (jansson's json_object_set_new); SBX_ENOMEM when
 * v is NULL (an allocation above failed) or the set fails.
 */
int sbx_json_set(json_t *obj, const char *key, json_t *v);
/* Serialise (jansson flags: JSON_COMPACT, JSON_INDENT(n)), terminal-safe; malloc'd, NULL on failure. */
char *sbx_json_dumps(const json_t *v, size_t flags);
/* sbx_json_dumps() to a stream; 0 or SBX_ENOMEM / SBX_EIO. */
int sbx_json_print(FILE *f, const json_t *v, size_t flags);

#endif
