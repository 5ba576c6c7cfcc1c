// SPDX-License-Identifier: MIT
/*
 * ClientHello parsing (see tls-hello.h).  Wire facts from RFC 8446
 * (§5.1 records, §4 handshake header, §4.1.2 ClientHello, §4.2 "there
 * MUST NOT be more than one extension of the same type"), RFC 6066 §3
 * (server_name: host_name is an ASCII name without a trailing dot, no IP
 * literals, at most one name of a type) and RFC 7301 §3.1 (ALPN).
 */
#include "sbx/tls-hello.h"
#include "sbx/http-req.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

#define TLS_RECORD_MAX 16384		/* 2^14 bytes of plaintext per record */
#define EXT_SERVER_NAME 0x0000
#define EXT_ALPN 0x0010
#define EXT_ECH 0xfe0d			/* encrypted_client_hello */
#define EXT_ESNI 0xffce			/* the old encrypted_server_name draft */

/*
 * Copy the first `want` bytes of handshake data, carried by the records at
 * the start of buf, into dst.  Returns 0, SBX_TLS_HELLO_MORE, or an error;
 * *records_len is the bytes of records read to get them.
 */
static int gather(uint8_t *dst, size_t want, const uint8_t *buf, size_t len, size_t *records_len)
{
	size_t off = 0, got = 0;

	while (got < want) {
		size_t rlen, chunk;

		if (len - off < 5)
			return SBX_TLS_HELLO_MORE;
		if (buf[off] != 0x16)
			return SBX_CORRUPT("not a TLS handshake record (first byte 0x%02x)", buf[off]);
		if (buf[off + 1] != 3 || buf[off + 2] > 4)
			return SBX_CORRUPT("bad TLS record version %u.%u", buf[off + 1], buf[off + 2]);
		rlen = (size_t)buf[off + 3] << 8 | buf[off + 4];
		if (!rlen || rlen > TLS_RECORD_MAX)
			return SBX_CORRUPT("bad TLS record length %zu", rlen);
		if (off + 5 + rlen > SBX_TLS_HELLO_MAX)
			return sbx_error_set(SBX_ELIMIT, "ClientHello records over %d bytes",
					     SBX_TLS_HELLO_MAX);
		if (len - off - 5 < rlen)
			return SBX_TLS_HELLO_MORE;	/* whole records only */
		chunk = want - got < rlen ? want - got : rlen;
		memcpy(dst + got, buf + off + 5, chunk);
		got += chunk;
		off += 5 + rlen;
	}
	*records_len = off;
	return 0;
}

struct cur {
	const uint8_t *p;
	size_t n;
};

static bool take(struct cur *c, size_t n, struct cur *out)
{
	if (c->n < n)
		return false;
	if (out) {
		out->p = c->p;
		out->n = n;
	}
	c->p += n;
	c->n -= n;
	return true;
}

static bool u8(struct cur *c, unsigned *v)
{
	if (c->n < 1)
		return false;
	*v = c->p[0];
	return take(c, 1, NULL);
}

static bool u16(struct cur *c, unsigned *v)
{
	if (c->n < 2)
		return false;
	*v = (unsigned)c->p[0] << 8 | c->p[1];
	return take(c, 2, NULL);
}

/* An opaque vector with a 1- or 2-byte length. */
static bool vec(struct cur *c, int lenbytes, struct cur *out)
{
	unsigned n;

	if (!(lenbytes == 1 ? u8(c, &n) : u16(c, &n)))
		return false;
	return take(c, n, out);
}

static int parse_sni(struct sbx_tls_hello *h, struct cur d)
{
	struct cur list, name;
	unsigned type;
	int ret;

	if (!vec(&d, 2, &list) || d.n || !list.n)
		return SBX_CORRUPT("bad server_name extension");
	while (list.n) {
		if (!u8(&list, &type) || !vec(&list, 2, &name))
			return SBX_CORRUPT("bad server_name entry");
		if (type != 0)
			continue;	/* only host_name (0) is defined */
		if (h->has_sni)
			return SBX_CORRUPT("more than one host_name in server_name");
		if (!name.n || name.p[name.n - 1] == '.')
			return SBX_CORRUPT("server_name is empty or ends with '.'");
		ret = sbx_http_host_normalize(h->sni, (const char *)name.p, name.n);
		if (ret < 0)
			return sbx_error_prefix(SBX_ECORRUPT, "server_name");
		if (ret != SBX_HOST_NAME)
			return SBX_CORRUPT("server_name is an IP address");
		h->has_sni = true;
	}
	return 0;
}

static int parse_alpn(struct sbx_tls_hello *h, struct cur d)
{
	struct cur list, name;
	size_t used = 0, i;

	if (!vec(&d, 2, &list) || d.n || list.n < 2)
		return SBX_CORRUPT("bad ALPN extension");
	while (list.n) {
		if (!vec(&list, 1, &name) || !name.n)
			return SBX_CORRUPT("bad ALPN protocol name");
		h->alpn_count++;
		if (used + name.n + 2 > SBX_TLS_ALPN_MAX)
			continue;	/* keep what fits; the count stays true */
		if (used)
			h->alpn[used++] = ',';
		for (i = 0; i < name.n; i++)
			h->alpn[used++] = name.p[i] > 0x20 && name.p[i] < 0x7f &&
				name.p[i] != ',' ? (char)name.p[i] : '?';
		h->alpn[used] = 0;
	}
	return 0;
}

static int parse_body(struct sbx_tls_hello *h, struct cur c)
{
	struct cur sid, suites, comp, exts, data;
	uint64_t seen[65536 / 64];
	unsigned type;
	int ret;

	if (!u16(&c, &type) || !take(&c, 32, NULL))
		return SBX_CORRUPT("ClientHello too short");
	h->legacy_version = (uint16_t)type;
	if (!vec(&c, 1, &sid) || sid.n > 32)
		return SBX_CORRUPT("bad ClientHello session id");
	if (!vec(&c, 2, &suites) || suites.n < 2 || suites.n % 2)
		return SBX_CORRUPT("bad ClientHello cipher suites");
	if (!vec(&c, 1, &comp) || !comp.n)
		return SBX_CORRUPT("bad ClientHello compression methods");
	if (!c.n)
		return 0;	/* no extensions (before TLS 1.2 they were optional) */
	if (!vec(&c, 2, &exts) || c.n)
		return SBX_CORRUPT("bad ClientHello extensions length");
	memset(seen, 0, sizeof(seen));
	while (exts.n) {
		if (!u16(&exts, &type) || !vec(&exts, 2, &data))
			return SBX_CORRUPT("truncated ClientHello extension");
		if (seen[type / 64] & (1ULL << (type % 64)))
			return SBX_CORRUPT("duplicate ClientHello extension 0x%04x", type);
		seen[type / 64] |= 1ULL << (type % 64);
		ret = 0;
		if (type == EXT_SERVER_NAME)
			ret = parse_sni(h, data);
		else if (type == EXT_ALPN)
			ret = parse_alpn(h, data);
		else if (type == EXT_ECH || type == EXT_ESNI)
			h->ech = true;
		if (ret < 0)
			return ret;
	}
	return 0;
}

int sbx_tls_hello_parse(struct sbx_tls_hello *out, const uint8_t *buf, size_t len)
{
	uint8_t hdr[4];
	uint8_t *msg = NULL;
	size_t msglen, records_len = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = gather(hdr, 4, buf, len, &records_len);
	if (ret)
		return ret;
	if (hdr[0] != 1)
		return SBX_CORRUPT("first handshake message is not a ClientHello (type %u)", hdr[0]);
	msglen = (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (msglen + 4 > SBX_TLS_HELLO_MAX)
		return sbx_error_set(SBX_ELIMIT, "ClientHello of %zu bytes is over %d", msglen,
				     SBX_TLS_HELLO_MAX);
	msg = malloc(msglen + 4);
	if (!msg)
		return sbx_error_set(SBX_ENOMEM, "out of memory for a ClientHello");
	ret = gather(msg, msglen + 4, buf, len, &records_len);
	if (ret == 0) {
		struct cur c = { msg + 4, msglen };

		ret = parse_body(out, c);
		out->records_len = records_len;
	}
	free(msg);
	return ret;
}
