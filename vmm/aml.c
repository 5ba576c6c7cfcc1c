// SPDX-License-Identifier: MIT
/* A small AML encoder; see vmm/aml.h.  Opcodes from ACPI 6.x section 20.2. */
#include "vmm/aml.h"
#include "util/checked.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

#define AML_ZERO		0x00
#define AML_ONE			0x01
#define AML_NAME		0x08
#define AML_BYTE		0x0a
#define AML_WORD		0x0b
#define AML_DWORD		0x0c
#define AML_STRING		0x0d
#define AML_QWORD		0x0e
#define AML_SCOPE		0x10
#define AML_BUFFER		0x11
#define AML_PACKAGE		0x12
#define AML_EXT			0x5b
#define AML_DEVICE		0x82
#define AML_METHOD		0x14
#define AML_ARG0		0x68
#define AML_NOTIFY		0x86
#define AML_LEQUAL		0x93
#define AML_IF			0xa0
#define AML_RETURN		0xa4
#define AML_DUAL_NAME		0x2e
#define AML_MULTI_NAME		0x2f
#define AML_ROOT		0x5c

enum { K_SCOPE = 1, K_DEVICE, K_PACKAGE, K_BUFFER, K_METHOD, K_IF };

static void put(struct aml *a, const void *p, size_t n)
{
	if (a->err)
		return;
	if (n > a->alloc - a->len) {
		size_t alloc = a->alloc ? a->alloc : 256;
		uint8_t *b;

		while (alloc - a->len < n)
			alloc *= 2;
		b = realloc(a->buf, alloc);
		if (!b) {
			a->err = sbx_error_set(SBX_ENOMEM, "out of memory building AML");
			return;
		}
		a->buf = b;
		a->alloc = alloc;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void put8(struct aml *a, uint8_t v)
{
	put(a, &v, 1);
}

static void put_le(struct aml *a, uint64_t v, unsigned n)
{
	uint8_t b[8];
	unsigned i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(a, b, n);
}

/* Insert `n` bytes at `pos` (a closing object's length prefix). */
static void insert(struct aml *a, size_t pos, const uint8_t *p, size_t n)
{
	size_t tail;

	if (a->err)
		return;
	tail = a->len - pos;
	put(a, p, n);		/* grow; the bytes are moved into place below */
	if (a->err)
		return;
	memmove(a->buf + pos + n, a->buf + pos, tail);
	memcpy(a->buf + pos, p, n);
}

unsigned aml_pkglength(uint8_t out[4], size_t body)
{
	size_t len;
	unsigned n, i;

	if (body + 1 < 0x40) {
		out[0] = (uint8_t)(body + 1);
		return 1;
	}
	for (n = 2; n <= 4; n++) {
		len = body + n;
		if (len < (1ULL << (4 + 8 * (n - 1)))) {
			out[0] = (uint8_t)(((n - 1) << 6) | (len & 0xf));
			for (i = 1; i < n; i++)
				out[i] = (uint8_t)(len >> (4 + 8 * (i - 1)));
			return n;
		}
	}
	return 0;
}

static int name_char(char c, bool lead)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!lead && c >= '0' && c <= '9');
}

/* "\\_SB_.V000", "_HID", "COM1": optional root, then 1..4-character segments. */
static void put_name(struct aml *a, const char *name)
{
	char segs[8][4];
	unsigned nseg = 0, i, j;
	const char *p = name;

	if (*p == '\\') {
		put8(a, AML_ROOT);
		p++;
	}
	while (*p) {
		if (nseg == ARRAY_SIZE(segs))
			goto bad;
		for (i = 0; i < 4 && p[i] && p[i] != '.'; i++) {
			if (!name_char(p[i], i == 0))
				goto bad;
			segs[nseg][i] = p[i];
		}
		if (i == 0 || (p[i] && p[i] != '.'))
			goto bad;
		for (j = i; j < 4; j++)
			segs[nseg][j] = '_';
		nseg++;
		p += i;
		if (*p == '.' && !*++p)
			goto bad;
	}
	if (nseg == 0)
		goto bad;
	if (nseg == 2)
		put8(a, AML_DUAL_NAME);
	else if (nseg > 2) {
		put8(a, AML_MULTI_NAME);
		put8(a, (uint8_t)nseg);
	}
	for (i = 0; i < nseg; i++)
		put(a, segs[i], 4);
	return;
bad:
	if (!a->err)
		a->err = sbx_error_set(SBX_EINVAL, "'%s' is not an AML name", name);
}

static void open_obj(struct aml *a, int kind)
{
	if (a->err)
		return;
	if (a->depth == AML_MAX_DEPTH) {
		a->err = sbx_error_set(SBX_ELIMIT, "AML nested too deep");
		return;
	}
	a->open[a->depth] = a->len;
	a->kind[a->depth] = kind;
	a->depth++;
}

void aml_scope_begin(struct aml *a, const char *name)
{
	put8(a, AML_SCOPE);
	open_obj(a, K_SCOPE);
	put_name(a, name);
}

void aml_device_begin(struct aml *a, const char *name)
{
	put8(a, AML_EXT);
	put8(a, AML_DEVICE);
	open_obj(a, K_DEVICE);
	put_name(a, name);
}

void aml_package_begin(struct aml *a)
{
	put8(a, AML_PACKAGE);
	open_obj(a, K_PACKAGE);
}

void aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized)
{
	if (nargs > 7) {
		if (!a->err)
			a->err = sbx_error_set(SBX_EINVAL, "an AML method takes at most 7 arguments");
		return;
	}
	put8(a, AML_METHOD);
	open_obj(a, K_METHOD);
	put_name(a, name);
	put8(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));	/* MethodFlags, SyncLevel 0 */
}

void aml_if_begin(struct aml *a)
{
	put8(a, AML_IF);
	open_obj(a, K_IF);
}

void aml_lequal(struct aml *a)
{
	put8(a, AML_LEQUAL);
}

void aml_arg(struct aml *a, unsigned n)
{
	if (n > 6) {
		if (!a->err)
			a->err = sbx_error_set(SBX_EINVAL, "Arg%u: AML has Arg0..Arg6", n);
		return;
	}
	put8(a, (uint8_t)(AML_ARG0 + n));
}

void aml_return(struct aml *a)
{
	put8(a, AML_RETURN);
}

void aml_notify(struct aml *a, const char *path, uint64_t value)
{
	put8(a, AML_NOTIFY);
	put_name(a, path);
	aml_int(a, value);
}

void aml_resources_begin(struct aml *a)
{
	put8(a, AML_BUFFER);
	open_obj(a, K_BUFFER);
}

void aml_resources_end(struct aml *a)
{
	put8(a, 0x79);		/* EndTag; checksum 0: "treat as correct" */
	put8(a, 0);
	aml_end(a);
}

/* How many data objects a package body holds: we only put integers and strings there. */
static unsigned count_elements(const uint8_t *p, size_t n)
{
	unsigned count = 0;
	size_t i = 0;

	while (i < n) {
		switch (p[i]) {
		case AML_ZERO: case AML_ONE: case 0xff: i += 1; break;
		case AML_BYTE: i += 2; break;
		case AML_WORD: i += 3; break;
		case AML_DWORD: i += 5; break;
		case AML_QWORD: i += 9; break;
		case AML_STRING: i += strnlen((const char *)p + i + 1, n - i - 1) + 2; break;
		default: return 256;	/* not something aml_package elements can be */
		}
		count++;
	}
	return count;
}

void aml_end(struct aml *a)
{
	uint8_t prefix[4 + 9];
	size_t pos, body;
	unsigned n, extra = 0;
	uint8_t inner[9];

	if (a->err)
		return;
	if (a->depth == 0) {
		a->err = sbx_error_set(SBX_EINVAL, "aml_end without an open object");
		return;
	}
	a->depth--;
	pos = a->open[a->depth];
	body = a->len - pos;
	if (a->kind[a->depth] == K_BUFFER) {
		/* BufferSize, an integer, comes before the bytes. */
		uint64_t v = body;

		if (v < 0x100) {
			inner[0] = AML_BYTE;
			inner[1] = (uint8_t)v;
			extra = 2;
		} else {
			inner[0] = AML_WORD;
			inner[1] = (uint8_t)v;
			inner[2] = (uint8_t)(v >> 8);
			extra = 3;
		}
	} else if (a->kind[a->depth] == K_PACKAGE) {
		unsigned count = count_elements(a->buf + pos, body);

		if (count > 255) {
			a->err = sbx_error_set(SBX_ELIMIT, "AML package with more than 255 elements");
			return;
		}
		inner[0] = (uint8_t)count;
		extra = 1;
	}
	n = aml_pkglength(prefix, body + extra);
	if (!n) {
		a->err = sbx_error_set(SBX_ELIMIT, "AML object too large");
		return;
	}
	memcpy(prefix + n, inner, extra);
	insert(a, pos, prefix, n + extra);
}

void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0)
		put8(a, AML_ZERO);
	else if (v == 1)
		put8(a, AML_ONE);
	else if (v <= 0xff) {
		put8(a, AML_BYTE);
		put_le(a, v, 1);
	} else if (v <= 0xffff) {
		put8(a, AML_WORD);
		put_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		put8(a, AML_DWORD);
		put_le(a, v, 4);
	} else {
		put8(a, AML_QWORD);
		put_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	const char *p;

	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x01 || (unsigned char)*p > 0x7f) {
			if (!a->err)
				a->err = sbx_error_set(SBX_EINVAL, "AML strings are ASCII");
			return;
		}
	put8(a, AML_STRING);
	put(a, s, strlen(s) + 1);
}

void aml_name_begin(struct aml *a, const char *name)
{
	put8(a, AML_NAME);
	put_name(a, name);
}

void aml_name_int(struct aml *a, const char *name, uint64_t v)
{
	aml_name_begin(a, name);
	aml_int(a, v);
}

void aml_name_string(struct aml *a, const char *name, const char *s)
{
	aml_name_begin(a, name);
	aml_string(a, s);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	uint8_t b[4];
	int i, h[4];

	if (strlen(id) != 7)
		goto bad;
	for (i = 0; i < 3; i++)
		if (id[i] < 'A' || id[i] > 'Z')
			goto bad;
	for (i = 0; i < 4; i++)
		if ((h[i] = hexval(id[3 + i])) < 0)
			goto bad;
	/* Three 5-bit letters (A = 1), then four hex digits, big-endian bit order. */
	b[0] = (uint8_t)(((id[0] - 0x40) << 2) | ((id[1] - 0x40) >> 3));
	b[1] = (uint8_t)((((id[1] - 0x40) & 7) << 5) | (id[2] - 0x40));
	b[2] = (uint8_t)(h[0] << 4 | h[1]);
	b[3] = (uint8_t)(h[2] << 4 | h[3]);
	aml_name_begin(a, name);
	put8(a, AML_DWORD);
	put(a, b, 4);
	return;
bad:
	if (!a->err)
		a->err = sbx_error_set(SBX_EINVAL, "'%s' is not an EISA ID", id);
}

void aml_memory32_fixed(struct aml *a, bool writable, uint32_t base, uint32_t len)
{
	put8(a, 0x86);			/* large item: Memory32Fixed */
	put_le(a, 9, 2);
	put8(a, writable ? 1 : 0);
	put_le(a, base, 4);
	put_le(a, len, 4);
}

void aml_interrupt(struct aml *a, bool edge, bool active_low, bool shared, uint32_t gsi)
{
	put8(a, 0x89);			/* large item: Extended Interrupt */
	put_le(a, 6, 2);
	put8(a, (uint8_t)(1 | (edge ? 2 : 0) | (active_low ? 4 : 0) | (shared ? 8 : 0)));
	put8(a, 1);
	put_le(a, gsi, 4);
}

void aml_io(struct aml *a, uint16_t port, uint8_t len)
{
	put8(a, 0x47);			/* small item: I/O port, 7 bytes */
	put8(a, 1);			/* 16-bit decode */
	put_le(a, port, 2);
	put_le(a, port, 2);
	put8(a, 1);
	put8(a, len);
}

int aml_finish(struct aml *a, const uint8_t **bytes, size_t *len)
{
	if (!a->err && a->depth)
		a->err = sbx_error_set(SBX_EINVAL, "AML object left open");
	if (a->err)
		return a->err;
	*bytes = a->buf;
	*len = a->len;
	return 0;
}

void aml_release(struct aml *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}
