/* SPDX-License-Identifier: MIT */
/*
 * The TLS ClientHello a client sends first through a CONNECT tunnel
 * (RFC 8446 §4.1.2, §5.1; RFC 6066 §3 server_name; RFC 7301 ALPN; the ECH
 * draft's encrypted_client_hello extension, 0xfe0d).  Pure and
 * bounds-checked: the bytes come from the guest.
 *
 * The handshake message may be split over several records (each a
 * handshake record, 0x16, of at most 2^14 bytes); the records together
 * are bounded by SBX_TLS_HELLO_MAX.
 */
#ifndef SBX_TLS_HELLO_H
#define SBX_TLS_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SBX_TLS_HELLO_MAX 65536		/* bytes of records we buffer for one ClientHello */
#define SBX_TLS_SNI_MAX 256		/* a host name, with NUL */
#define SBX_TLS_ALPN_MAX 256		/* the ALPN names joined by ',', with NUL */

/* sbx_tls_hello_parse(): the records so far hold only part of the ClientHello. */
#define SBX_TLS_HELLO_MORE 1

struct sbx_tls_hello {
	uint16_t legacy_version;	/* from the ClientHello (0x0303 for 1.2 and 1.3) */
	bool has_sni;
	char sni[SBX_TLS_SNI_MAX];	/* lower case; valid only with has_sni */
	bool ech;			/* encrypted_client_hello present (also GREASE ECH) */
	unsigned alpn_count;
	char alpn[SBX_TLS_ALPN_MAX];	/* "h2,http/1.1"; bytes outside 0x21-0x7e as '?' */
	size_t records_len;		/* bytes of the records that carried the ClientHello */
};

/* Does this look like the start of a TLS handshake record (for a first-byte peek)? */
static inline bool sbx_tls_looks_like_hello(const uint8_t *buf, size_t len)
{
	return len >= 1 && buf[0] == 0x16;
}

/*
 * Parse the ClientHello at the start of buf.  Returns 0 with *out filled,
 * SBX_TLS_HELLO_MORE when the records so far are a valid prefix and more
 * bytes are needed, or SBX_ECORRUPT (not TLS, malformed, a server name
 * that is not a host name, duplicate extensions) / SBX_ELIMIT (over
 * SBX_TLS_HELLO_MAX) with a message.
 */
int sbx_tls_hello_parse(struct sbx_tls_hello *out, const uint8_t *buf, size_t len);

#endif
