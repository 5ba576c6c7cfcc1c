/* SPDX-License-Identifier: MIT */
/*
 * One HTTP/1.1 proxy request head from a client (the guest): the request
 * line and the header fields up to the empty line (RFC 9112 §2-§6).
 * Pure functions on buffers: no I/O, no allocation beyond the request
 * object.  Everything in the head is hostile; limits are checked as bytes
 * arrive, so a client cannot make the proxy buffer more than
 * SBX_HTTP_HEAD_MAX bytes.
 *
 * Accepted: `CONNECT host:port HTTP/1.x` (authority form) and
 * `METHOD http://host[:port][/path][?query] HTTP/1.x` (absolute form).
 * Refused: origin form ("GET / HTTP/1.1" sent to a proxy), https:// in the
 * absolute form (use CONNECT), userinfo, fragments, versions other than
 * 1.0 and 1.1, control bytes, obs-fold, whitespace before a colon, bare CR
 * or LF, a missing (1.1), duplicate or conflicting Host, Transfer-Encoding
 * together with Content-Length, any coding but a lone "chunked",
 * duplicate Content-Length, a body on CONNECT, host names that are not
 * LDH labels, numeric-looking names that are not dotted quads ("127.1",
 * "0x7f.1"), IPv6 zone identifiers.
 */
#ifndef SBX_HTTP_REQ_H
#define SBX_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SBX_HTTP_LINE_MAX 8192		/* request line, with CRLF */
#define SBX_HTTP_FIELD_MAX 8192		/* one header field line, with CRLF */
#define SBX_HTTP_FIELDS_MAX 100		/* header fields */
#define SBX_HTTP_HEAD_MAX 65536		/* the whole head */
#define SBX_HTTP_METHOD_MAX 32		/* method token, with NUL */
#define SBX_HTTP_HOST_MAX 256		/* host name or IP text, with NUL */

enum sbx_http_form {
	SBX_HTTP_CONNECT,	/* CONNECT host:port */
	SBX_HTTP_ABSOLUTE,	/* METHOD http://host[:port]/path */
};

struct sbx_http_field {
	const char *name;	/* as sent (validated token), NUL-terminated */
	const char *value;	/* OWS trimmed, NUL-terminated */
};

struct sbx_http_req {
	enum sbx_http_form form;
	char method[SBX_HTTP_METHOD_MAX];
	/* Lower case, without a trailing dot; an IPv6 literal without brackets. */
	char host[SBX_HTTP_HOST_MAX];
	enum { SBX_HOST_NAME, SBX_HOST_IPV4, SBX_HOST_IPV6 } host_type;
	uint16_t port;
	const char *path;	/* absolute form: origin-form target ("/" at least); else NULL */
	int minor;		/* HTTP/1.<minor>, 0 or 1 */
	size_t nfields;
	struct sbx_http_field fields[SBX_HTTP_FIELDS_MAX];
	int64_t content_length;	/* -1 when absent */
	bool chunked;		/* Transfer-Encoding: chunked */
	size_t head_len;	/* bytes of the head in the buffer, with the final CRLFCRLF */
	char *storage;		/* owned copy of the head that the strings point into */
};

/* Where sbx_http_head_end() got to, so each byte is looked at once. */
struct sbx_http_scan {
	size_t pos;		/* bytes scanned */
	size_t line_start;	/* offset of the current line */
	unsigned lines;		/* complete lines so far */
};
#define SBX_HTTP_SCAN_INIT { 0, 0, 0 }

/*
 * Scan the first `len` bytes a client sent (the same buffer, growing, on
 * every call) for the end of the head, enforcing the line, count and size
 * limits on the way.  Returns 0 when more bytes are needed (and no limit
 * is broken yet), the length of the head (with its CRLFCRLF) when it is
 * complete, or a negative code: SBX_ELIMIT (a limit; an HTTP 431) or
 * SBX_ECORRUPT (a bare CR or LF, a NUL, an empty first line; an HTTP 400)
 * with a message.
 */
long sbx_http_head_end(struct sbx_http_scan *s, const void *buf, size_t len);

/*
 * Parse a complete head (the `len` bytes sbx_http_head_end() measured).
 * On success *out is a new request (sbx_http_req_free).  Errors:
 * SBX_ECORRUPT (malformed; 400), SBX_ELIMIT (431), SBX_EUNSUPPORTED
 * (valid HTTP a proxy for a sandbox does not do: origin form, https://
 * in the absolute form, another version, an unknown transfer coding;
 * 400/501/505).
 */
int sbx_http_req_parse(struct sbx_http_req **out, const void *buf, size_t len);
void sbx_http_req_free(struct sbx_http_req *r);

/* The value of the first field named `name` (case-insensitive), or NULL. */
const char *sbx_http_req_field(const struct sbx_http_req *r, const char *name);

/*
 * Validate and normalise a host (a name, a dotted quad or an IPv6 literal
 * without brackets) into `out` (lower case, no trailing dot).  Shared with
 * the policy and the TLS SNI check so all three agree on one spelling.
 * Returns the host type (>= 0) or SBX_ECORRUPT with a message.
 */
int sbx_http_host_normalize(char out[SBX_HTTP_HOST_MAX], const char *host, size_t len);

/*
 * Where a chunked request body ends (RFC 9112 §7.1), so that the proxy
 * forwards the body and nothing after it.  Strict: CRLF line ends, hex
 * sizes of at most 15 digits, chunk extensions and trailer lines of at
 * most SBX_HTTP_FIELD_MAX bytes, no control bytes in them.
 */
struct sbx_http_chunked {
	int state;
	uint64_t left;		/* data bytes left in this chunk */
	unsigned digits;	/* hex digits of the size so far */
	size_t line;		/* bytes of the extension or trailer line so far */
	bool done;		/* the last chunk and the trailers have been seen */
};
#define SBX_HTTP_CHUNKED_INIT { 0, 0, 0, 0, false }

/*
 * Feed the next `len` body bytes.  Returns how many of them belong to the
 * body (all of them until the end is seen; then st->done and the bytes
 * after the end are not counted), or SBX_ECORRUPT with a message.
 */
long sbx_http_chunked_scan(struct sbx_http_chunked *st, const void *buf, size_t len);

#endif
