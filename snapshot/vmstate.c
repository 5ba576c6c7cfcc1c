// SPDX-License-Identifier: MIT
/* The VM state file: typed records with CRC32C (layout in vmstate.h and docs/formats.md). */
#include "snapshot/vmstate.h"
#include "util/checked.h"
#include "util/crc32c.h"
#include "util/error.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline uint64_t get_le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }
static inline uint32_t get_le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static inline uint16_t get_le16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static inline void put_le64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static inline void put_le32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static inline void put_le16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }

static inline uint64_t pad8(uint64_t v) { return (v + 7) & ~7ull; }

/* --- writing --- */

struct vmstate_writer {
	uint8_t *buf;		/* the file, header included; header filled on output */
	size_t len, cap;
	uint32_t count;
};

int vmstate_writer_new(struct vmstate_writer **out)
{
	struct vmstate_writer *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w || !(w->buf = calloc(1, 4096))) {
		free(w);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	w->cap = 4096;
	w->len = VMSTATE_HEADER_SIZE;
	*out = w;
	return 0;
}

int vmstate_put(struct vmstate_writer *w, uint32_t type, uint32_t index, const void *data,
		size_t len)
{
	uint64_t need = VMSTATE_RECORD_HEADER + pad8(len);
	uint8_t *r;
	uint32_t crc;

	if (len && !data)
		return sbx_error_set(SBX_EINVAL, "state record %#" PRIx32 "/%" PRIu32 " has no data",
				     type, index);
	if (len > VMSTATE_MAX_RECORD)
		return sbx_error_set(SBX_ELIMIT, "state record %#" PRIx32 "/%" PRIu32 " is %zu bytes "
				     "(at most %llu)", type, index, len, VMSTATE_MAX_RECORD);
	if (w->count >= VMSTATE_MAX_RECORDS)
		return sbx_error_set(SBX_ELIMIT, "more than %u state records", VMSTATE_MAX_RECORDS);
	if (w->len + need > VMSTATE_MAX_FILE)
		return sbx_error_set(SBX_ELIMIT, "state file over %llu bytes", VMSTATE_MAX_FILE);
	if (w->len + need > w->cap) {
		size_t cap = w->cap;
		uint8_t *nb;

		while (cap < w->len + need)
			cap *= 2;
		if (!(nb = realloc(w->buf, cap)))
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		w->buf = nb;
		w->cap = cap;
	}
	r = w->buf + w->len;
	put_le32(r, type);
	put_le32(r + 4, index);
	put_le64(r + 8, len);
	crc = crc32c(0, r, 16);
	if (len)
		memcpy(r + VMSTATE_RECORD_HEADER, data, len);
	put_le32(r + 16, crc32c(crc, r + VMSTATE_RECORD_HEADER, len));
	put_le32(r + 20, 0);
	memset(r + VMSTATE_RECORD_HEADER + len, 0, (size_t)(pad8(len) - len));
	w->len += (size_t)need;
	w->count++;
	return 0;
}

const uint8_t *vmstate_writer_data(struct vmstate_writer *w, size_t *len)
{
	uint8_t *h = w->buf;

	memcpy(h, VMSTATE_MAGIC, 8);
	put_le32(h + 8, VMSTATE_VERSION);
	put_le32(h + 12, 0);
	put_le64(h + 16, w->len);
	put_le32(h + 24, w->count);
	put_le32(h + 28, crc32c(0, h, 28));
	*len = w->len;
	return w->buf;
}

int vmstate_write_fd(struct vmstate_writer *w, int fd)
{
	size_t len, done = 0;
	const uint8_t *p = vmstate_writer_data(w, &len);

	while (done < len) {
		ssize_t n = pwrite(fd, p + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return sbx_error_errno(SBX_EIO, "cannot write the state file");
		done += (size_t)n;
	}
	if (ftruncate(fd, (off_t)len))
		return sbx_error_errno(SBX_EIO, "cannot truncate the state file");
	return 0;
}

void vmstate_writer_free(struct vmstate_writer *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}

/* --- reading --- */

struct vmstate {
	uint8_t *buf;		/* the whole file; records point into it */
	size_t count;
	struct vmstate_rec recs[];
};

/* The header: everything but the records; *count is then plausible for the file's size. */
static int check_header(const uint8_t *buf, size_t len, uint32_t *count)
{
	uint32_t version, flags;
	uint64_t flen;

	if (len < VMSTATE_HEADER_SIZE)
		return SBX_CORRUPT("state file is %zu bytes, shorter than its %u-byte header",
				   len, VMSTATE_HEADER_SIZE);
	if (memcmp(buf, VMSTATE_MAGIC, 8))
		return SBX_CORRUPT("not a state file (bad magic at offset 0)");
	version = get_le32(buf + 8);
	if (version != VMSTATE_VERSION)
		return sbx_error_set(SBX_EUNSUPPORTED, "state file version %" PRIu32 " is not supported "
				     "(only version %u)", version, VMSTATE_VERSION);
	if (get_le32(buf + 28) != crc32c(0, buf, 28))
		return SBX_CORRUPT("state file header checksum mismatch (offset 28)");
	flags = get_le32(buf + 12);
	if (flags)
		return sbx_error_set(SBX_EUNSUPPORTED, "state file has unknown flags %#" PRIx32
				     " (offset 12)", flags);
	flen = get_le64(buf + 16);
	if (flen > VMSTATE_MAX_FILE)
		return SBX_CORRUPT("state file length %" PRIu64 " (offset 16) is over the %llu-byte cap",
				   flen, VMSTATE_MAX_FILE);
	if (flen != len)
		return SBX_CORRUPT("state file says it is %" PRIu64 " bytes (offset 16) but is %zu",
				   flen, len);
	*count = get_le32(buf + 24);
	if (*count > VMSTATE_MAX_RECORDS)
		return SBX_CORRUPT("state file has %" PRIu32 " records (offset 24), at most %u",
				   *count, VMSTATE_MAX_RECORDS);
	if (*count > (len - VMSTATE_HEADER_SIZE) / VMSTATE_RECORD_HEADER)
		return SBX_CORRUPT("state file of %zu bytes cannot hold the %" PRIu32 " records its "
				   "header says (offset 24)", len, *count);
	return 0;
}

/* The records, into s->recs[0..s->count), pointing into buf. */
static int parse_records(struct vmstate *s, const uint8_t *buf, size_t len)
{
	uint64_t off = VMSTATE_HEADER_SIZE;

	for (size_t i = 0; i < s->count; i++) {
		const uint8_t *r = buf + off;
		uint64_t rlen, padded;
		uint32_t crc;

		if (len - off < VMSTATE_RECORD_HEADER)
			return SBX_CORRUPT("state record %zu at offset %" PRIu64 " runs past the end of "
					   "the file (%zu bytes)", i, off, len);
		rlen = get_le64(r + 8);
		if (rlen > VMSTATE_MAX_RECORD)
			return SBX_CORRUPT("state record %zu at offset %" PRIu64 " claims %" PRIu64
					   " bytes (offset %" PRIu64 "), over the %llu-byte cap",
					   i, off, rlen, off + 8, VMSTATE_MAX_RECORD);
		padded = pad8(rlen);
		if (padded > len - off - VMSTATE_RECORD_HEADER)
			return SBX_CORRUPT("state record %zu at offset %" PRIu64 " (%" PRIu64 " bytes) "
					   "runs past the end of the file (%zu bytes)", i, off, rlen, len);
		if (get_le32(r + 20))
			return SBX_CORRUPT("state record %zu has non-zero reserved bytes (offset %"
					   PRIu64 ")", i, off + 20);
		crc = crc32c(crc32c(0, r, 16), r + VMSTATE_RECORD_HEADER, (size_t)rlen);
		if (crc != get_le32(r + 16))
			return SBX_CORRUPT("state record %zu at offset %" PRIu64 " (type %#" PRIx32
					   ", index %" PRIu32 ") fails its checksum", i, off,
					   get_le32(r), get_le32(r + 4));
		for (uint64_t k = rlen; k < padded; k++)
			if (r[VMSTATE_RECORD_HEADER + k])
				return SBX_CORRUPT("state record %zu has non-zero padding (offset %"
						   PRIu64 ")", i, off + VMSTATE_RECORD_HEADER + k);
		s->recs[i].type = get_le32(r);
		s->recs[i].index = get_le32(r + 4);
		s->recs[i].len = (size_t)rlen;
		s->recs[i].data = r + VMSTATE_RECORD_HEADER;
		off += VMSTATE_RECORD_HEADER + padded;
	}
	if (off != len)
		return SBX_CORRUPT("state file has %" PRIu64 " bytes after its last record (offset %"
				   PRIu64 ")", len - off, off);
	return 0;
}

/* Takes ownership of buf (freed on failure). */
static int parse_owned(struct vmstate **out, uint8_t *buf, size_t len)
{
	struct vmstate *s = NULL;
	uint32_t count = 0;
	int err;

	*out = NULL;
	if ((err = check_header(buf, len, &count))) {
		free(buf);
		return err;
	}
	s = calloc(1, sizeof(*s) + (size_t)count * sizeof(s->recs[0]));
	if (!s) {
		free(buf);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	s->buf = buf;
	s->count = count;
	if ((err = parse_records(s, buf, len))) {
		vmstate_free(s);
		return err;
	}
	*out = s;
	return 0;
}

int vmstate_parse(struct vmstate **out, const uint8_t *buf, size_t len)
{
	uint8_t *copy;

	*out = NULL;
	if (len > VMSTATE_MAX_FILE)
		return SBX_CORRUPT("state file of %zu bytes is over the %llu-byte cap",
				   len, VMSTATE_MAX_FILE);
	if (!(copy = malloc(len ? len : 1)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (len)
		memcpy(copy, buf, len);
	return parse_owned(out, copy, len);
}

int vmstate_read_fd(struct vmstate **out, int fd, uint64_t max_bytes)
{
	size_t cap, len = 0;
	uint8_t *buf, *nb;
	struct stat st;

	*out = NULL;
	if (max_bytes > VMSTATE_MAX_FILE)
		max_bytes = VMSTATE_MAX_FILE;
	if (fstat(fd, &st))
		return sbx_error_errno(SBX_EIO, "cannot stat the state file");
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_bytes)
		return sbx_error_set(SBX_ELIMIT, "state file of %lld bytes is over the %" PRIu64
				     "-byte limit", (long long)st.st_size, max_bytes);
	/* Read to the end (the file may not be what fstat said), one byte past the limit. */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
	if (cap > max_bytes + 1)
		cap = (size_t)max_bytes + 1;
	if (!(buf = malloc(cap)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap > max_bytes) {
				free(buf);
				return sbx_error_set(SBX_ELIMIT, "state file is over the %" PRIu64
						     "-byte limit", max_bytes);
			}
			cap = cap * 2 > max_bytes + 1 ? (size_t)max_bytes + 1 : cap * 2;
			if (!(nb = realloc(buf, cap))) {
				free(buf);
				return sbx_error_set(SBX_ENOMEM, "out of memory");
			}
			buf = nb;
		}
		n = pread(fd, buf + len, cap - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return sbx_error_errno(SBX_EIO, "cannot read the state file");
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return parse_owned(out, buf, len);
}

size_t vmstate_count(const struct vmstate *s)
{
	return s ? s->count : 0;
}

const struct vmstate_rec *vmstate_rec(const struct vmstate *s, size_t i)
{
	return s && i < s->count ? &s->recs[i] : NULL;
}

const struct vmstate_rec *vmstate_find(const struct vmstate *s, uint32_t type, uint32_t index)
{
	for (size_t i = 0; s && i < s->count; i++)
		if (s->recs[i].type == type && s->recs[i].index == index)
			return &s->recs[i];
	return NULL;
}

void vmstate_free(struct vmstate *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s);
}

/* --- the cursor --- */

const uint8_t *vs_ptr(struct vs_cur *c, size_t n)
{
	const uint8_t *p;

	if (c->bad || n > c->left) {
		c->bad = true;
		c->left = 0;
		return NULL;
	}
	p = c->p;
	c->p += n;
	c->left -= n;
	return p;
}

uint8_t vs_u8(struct vs_cur *c)
{
	const uint8_t *p = vs_ptr(c, 1);

	return p ? p[0] : 0;
}

uint16_t vs_u16(struct vs_cur *c)
{
	const uint8_t *p = vs_ptr(c, 2);

	return p ? get_le16(p) : 0;
}

uint32_t vs_u32(struct vs_cur *c)
{
	const uint8_t *p = vs_ptr(c, 4);

	return p ? get_le32(p) : 0;
}

uint64_t vs_u64(struct vs_cur *c)
{
	const uint8_t *p = vs_ptr(c, 8);

	return p ? get_le64(p) : 0;
}

void vs_bytes(struct vs_cur *c, void *dst, size_t n)
{
	const uint8_t *p = vs_ptr(c, n);

	if (!n)
		return;
	if (p)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

/* --- the encoder --- */

static uint8_t *vs_grow(struct vs_buf *b, size_t n)
{
	if (b->oom)
		return NULL;
	if (n > VMSTATE_MAX_RECORD - b->len) {
		b->oom = true;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->oom = true;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	b->len += n;
	return b->p + b->len - n;
}

void vs_put_u8(struct vs_buf *b, uint8_t v)
{
	uint8_t *p = vs_grow(b, 1);

	if (p)
		*p = v;
}

void vs_put_u16(struct vs_buf *b, uint16_t v)
{
	uint8_t *p = vs_grow(b, 2);

	if (p)
		put_le16(p, v);
}

void vs_put_u32(struct vs_buf *b, uint32_t v)
{
	uint8_t *p = vs_grow(b, 4);

	if (p)
		put_le32(p, v);
}

void vs_put_u64(struct vs_buf *b, uint64_t v)
{
	uint8_t *p = vs_grow(b, 8);

	if (p)
		put_le64(p, v);
}

void vs_put_bytes(struct vs_buf *b, const void *src, size_t n)
{
	uint8_t *p = n ? vs_grow(b, n) : NULL;

	if (p)
		memcpy(p, src, n);
}

void vs_buf_reset(struct vs_buf *b)
{
	b->len = 0;
	b->oom = false;
}

void vs_buf_free(struct vs_buf *b)
{
	if (!b)
		return;
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

int vmstate_put_buf(struct vmstate_writer *w, uint32_t type, uint32_t index,
		    const struct vs_buf *b)
{
	if (b->oom)
		return sbx_error_set(SBX_ENOMEM, "out of memory encoding state record %#" PRIx32
				     "/%" PRIu32, type, index);
	return vmstate_put(w, type, index, b->p, b->len);
}
