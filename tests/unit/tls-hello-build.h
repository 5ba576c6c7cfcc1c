/* SPDX-License-Identifier: MIT */
/* Hand-built TLS ClientHellos for the unit tests (test-tls-hello.c, test-proxy.c). */
#ifndef SBX_TESTS_TLS_HELLO_BUILD_H
#define SBX_TESTS_TLS_HELLO_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	uint8_t d[200000];
	size_t n;
};

static void put8(struct buf *b, unsigned v)
{
	b->d[b->n++] = (uint8_t)v;
}

static void put16(struct buf *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v & 0xff);
}

static void put(struct buf *b, const void *p, size_t n)
{
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

/* Patch a 16-bit length at `at` to cover everything written after it. */
static void close16(struct buf *b, size_t at)
{
	size_t n = b->n - at - 2;

	b->d[at] = (uint8_t)(n >> 8);
	b->d[at + 1] = (uint8_t)n;
}

struct hello_opts {
	const char *sni;	/* NULL: no server_name */
	const char *const *alpn;
	bool ech;
	bool dup_sni_ext;
	size_t pad;		/* a padding extension of this many bytes */
};

/* A ClientHello handshake message (header included). */
static void build_hello(struct buf *m, const struct hello_opts *o)
{
	size_t body, exts, at;
	uint8_t random[32] = { 1, 2, 3 };
	int i;

	m->n = 0;
	put8(m, 1);
	put8(m, 0);
	body = m->n;
	put16(m, 0);		/* 24-bit length patched below */
	put16(m, 0x0303);
	put(m, random, 32);
	put8(m, 32);
	put(m, random, 32);	/* session id */
	put16(m, 4);
	put16(m, 0x1301);
	put16(m, 0x1302);
	put8(m, 1);
	put8(m, 0);
	exts = m->n;
	put16(m, 0);
	for (i = 0; i < (o->dup_sni_ext ? 2 : 1) && o->sni; i++) {
		put16(m, 0);
		at = m->n;
		put16(m, 0);
		put16(m, (unsigned)strlen(o->sni) + 3);
		put8(m, 0);
		put16(m, (unsigned)strlen(o->sni));
		put(m, o->sni, strlen(o->sni));
		close16(m, at);
	}
	if (o->alpn) {
		size_t list;

		put16(m, 16);
		at = m->n;
		put16(m, 0);
		list = m->n;
		put16(m, 0);
		for (i = 0; o->alpn[i]; i++) {
			put8(m, (unsigned)strlen(o->alpn[i]));
			put(m, o->alpn[i], strlen(o->alpn[i]));
		}
		close16(m, list);
		close16(m, at);
	}
	/* supported_versions: TLS 1.3 */
	put16(m, 43);
	put16(m, 3);
	put8(m, 2);
	put16(m, 0x0304);
	if (o->ech) {
		put16(m, 0xfe0d);
		put16(m, 4);
		put16(m, 0);
		put16(m, 1);
	}
	if (o->pad) {
		put16(m, 21);
		put16(m, (unsigned)o->pad);
		memset(m->d + m->n, 0, o->pad);
		m->n += o->pad;
	}
	close16(m, exts);
	m->d[body - 1] = (uint8_t)((m->n - body - 2) >> 16);
	m->d[body] = (uint8_t)((m->n - body - 2) >> 8);
	m->d[body + 1] = (uint8_t)(m->n - body - 2);
}

/* Wrap a handshake message in records of at most `frag` bytes. */
static void records(struct buf *r, const struct buf *m, size_t frag)
{
	size_t off;

	r->n = 0;
	for (off = 0; off < m->n; off += frag) {
		size_t n = m->n - off < frag ? m->n - off : frag;

		put8(r, 0x16);
		put16(r, off ? 0x0303 : 0x0301);
		put16(r, (unsigned)n);
		put(r, m->d + off, n);
	}
}

#endif
