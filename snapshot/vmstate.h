/* SPDX-License-Identifier: MIT */
/*
 * The state file of a memory snapshot: typed records, each with a CRC32C
 * (docs/formats.md, "VM state file").  This layer knows nothing of KVM:
 * record types and their contents are the VMM's.
 *
 * On-disk layout, version 1 (all numbers little-endian):
 *
 *   header (32 bytes):
 *     off  size  field
 *       0     8  magic "SBXSTATE"
 *       8     4  version (1; anything else is SBX_EUNSUPPORTED)
 *      12     4  flags (0; anything else is SBX_EUNSUPPORTED)
 *      16     8  file length in bytes (the whole file, header included)
 *      24     4  record count (<= VMSTATE_MAX_RECORDS)
 *      28     4  crc32c of bytes 0..27
 *   then `count` records, each:
 *       0     4  type (the VMM's; unknown types are kept)
 *       4     4  index (e.g. the vCPU id)
 *       8     8  data length (<= VMSTATE_MAX_RECORD)
 *      16     4  crc32c over bytes 0..15 of this record header, then the data
 *      20     4  reserved (0)
 *      24   len  data, then zeroes up to a multiple of 8
 *   and nothing after the last record (file length == end of the last one).
 *
 * A reader refuses (SBX_ECORRUPT, naming the offset) a wrong magic, a header
 * or record CRC mismatch, a file length that is not the file's, a length or
 * count past the caps, a record running past the end, non-zero reserved or
 * padding bytes, and bytes after the last record.
 */
#ifndef SBX_SNAPSHOT_VMSTATE_H
#define SBX_SNAPSHOT_VMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMSTATE_MAGIC "SBXSTATE"
#define VMSTATE_VERSION 1u
#define VMSTATE_HEADER_SIZE 32u
#define VMSTATE_RECORD_HEADER 24u
#define VMSTATE_MAX_RECORD (256ull << 20)	/* one record's data */
#define VMSTATE_MAX_RECORDS 65536u
#define VMSTATE_MAX_FILE (1ull << 30)

/* Writing: records accumulate in memory, then go to a file in one piece. */
struct vmstate_writer;

int vmstate_writer_new(struct vmstate_writer **out);
/*
 * Append a record (data copied).  SBX_ELIMIT past a cap (record size, count,
 * file size), SBX_EINVAL for data == NULL with len > 0, SBX_ENOMEM.
 */
int vmstate_put(struct vmstate_writer *w, uint32_t type, uint32_t index, const void *data,
		size_t len);
/*
 * Write the whole file to fd from offset 0 and ftruncate it to its size
 * (no fsync: the caller syncs and renames).  SBX_EIO with errno's text.
 */
int vmstate_write_fd(struct vmstate_writer *w, int fd);
/* The file's bytes as vmstate_write_fd would write them (valid until the next put or free). */
const uint8_t *vmstate_writer_data(struct vmstate_writer *w, size_t *len);
void vmstate_writer_free(struct vmstate_writer *w);

/* Reading: a fully validated file held in memory. */
struct vmstate_rec {
	uint32_t type, index;
	const uint8_t *data;	/* inside the struct vmstate; len bytes */
	size_t len;
};
struct vmstate;

/*
 * Parse and validate buf (copied: the result does not point into it).
 * SBX_ECORRUPT with what is wrong and at which offset, SBX_EUNSUPPORTED for
 * another version or unknown flags, SBX_ENOMEM.  Never reads outside buf.
 */
int vmstate_parse(struct vmstate **out, const uint8_t *buf, size_t len);
/* Read fd from offset 0 to its end and parse; SBX_ELIMIT if it holds more than max_bytes. */
int vmstate_read_fd(struct vmstate **out, int fd, uint64_t max_bytes);
size_t vmstate_count(const struct vmstate *s);
/* Record i (< vmstate_count), in file order; NULL past the end. */
const struct vmstate_rec *vmstate_rec(const struct vmstate *s, size_t i);
/* The first record of type/index, or NULL. */
const struct vmstate_rec *vmstate_find(const struct vmstate *s, uint32_t type, uint32_t index);
void vmstate_free(struct vmstate *s);

/*
 * Decoding a record's fields (little-endian): a cursor that never reads past
 * the record.  A read past the end returns zeroes, sets `bad` and empties
 * the cursor, so a decoder reads all its fields and checks `bad` (or
 * vs_cur_done) once at the end.
 */
struct vs_cur {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static inline void vs_cur_init(struct vs_cur *c, const struct vmstate_rec *r)
{
	c->p = r ? r->data : NULL;
	c->left = r ? r->len : 0;
	c->bad = false;
}

uint8_t vs_u8(struct vs_cur *c);
uint16_t vs_u16(struct vs_cur *c);
uint32_t vs_u32(struct vs_cur *c);
uint64_t vs_u64(struct vs_cur *c);
/* n bytes into dst; zero-fills dst and sets bad when fewer are left. */
void vs_bytes(struct vs_cur *c, void *dst, size_t n);
/* A pointer to the next n bytes (and skip them), or NULL and bad when fewer are left. */
const uint8_t *vs_ptr(struct vs_cur *c, size_t n);
/* Every byte consumed and none missing: the record had exactly the expected length. */
static inline bool vs_cur_done(const struct vs_cur *c)
{
	return !c->bad && c->left == 0;
}

/*
 * Encoding a record (little-endian) into a growing buffer.  An allocation
 * failure (or a buffer past VMSTATE_MAX_RECORD) sets `oom` and drops that
 * and every later put; vmstate_put_buf then fails with SBX_ENOMEM.
 */
struct vs_buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};
#define VS_BUF_INIT { NULL, 0, 0, false }

void vs_put_u8(struct vs_buf *b, uint8_t v);
void vs_put_u16(struct vs_buf *b, uint16_t v);
void vs_put_u32(struct vs_buf *b, uint32_t v);
void vs_put_u64(struct vs_buf *b, uint64_t v);
void vs_put_bytes(struct vs_buf *b, const void *p, size_t n);
/* Empty the buffer for the next record, keeping its memory; clears oom. */
void vs_buf_reset(struct vs_buf *b);
void vs_buf_free(struct vs_buf *b);
/* Put b's bytes as a record (b is left as it was); SBX_ENOMEM if b->oom. */
int vmstate_put_buf(struct vmstate_writer *w, uint32_t type, uint32_t index,
		    const struct vs_buf *b);

#endif
