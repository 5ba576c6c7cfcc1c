/* SPDX-License-Identifier: MIT */
/*
 * A bounds-checked push parser for the guest's pack stream, run on every
 * byte before git's indexer sees it, so no object is inflated past our
 * limits by anyone.  Pack format (git's Documentation/gitformat-pack.txt):
 *
 *   offset  size  what
 *   0       4     "PACK"
 *   4       4     version, u32 big-endian (2 or 3)
 *   8       4     object count, u32 big-endian
 *   12      ...   objects: a type-and-size varint (type in bits 4-6 of the
 *                 first byte, size in the low 4 bits and 7 bits per further
 *                 byte); OFS_DELTA: a base offset varint; REF_DELTA: a 20-byte
 *                 base id; then a zlib stream of `size` bytes.  A delta's
 *                 inflated data begins with two 7-bit varints: base size and
 *                 result size.
 *   end-20  20    SHA-1 of everything before (checked by the indexer)
 *
 * The size of a whole object is in its header (non-delta) or in the first
 * bytes of its inflated delta: both are checked against max_object, and
 * their sum against max_total, before the object's data is passed on.  We
 * inflate each object into a small scratch buffer (to find where it ends
 * and to check it holds exactly the size it claims); memory is bounded by
 * zlib's window.  Fuzzed by tests/fuzz/fuzz-pack-scan.c.
 */
#ifndef SBX_SBX_PACK_SCAN_H
#define SBX_SBX_PACK_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

struct sbx_pack_scan_limits {
	uint64_t max_object;	/* bytes of one object, inflated (sbx.maxObjectSize) */
	uint64_t max_total;	/* bytes of all objects, inflated (sbx.maxInflatedSize) */
	uint32_t max_objects;	/* objects the pack may claim */
};

enum sbx_pack_scan_state {
	SBX_PACK_SCAN_HEADER,
	SBX_PACK_SCAN_OBJ_HEADER,
	SBX_PACK_SCAN_OFS,
	SBX_PACK_SCAN_REF,
	SBX_PACK_SCAN_DATA,
	SBX_PACK_SCAN_TRAILER,
	SBX_PACK_SCAN_DONE,
};

struct sbx_pack_scan {
	struct sbx_pack_scan_limits lim;
	enum sbx_pack_scan_state state;
	unsigned char hdr[12];
	size_t hdr_len;		/* bytes of hdr, of a REF_DELTA id or of the trailer seen */
	uint32_t count;		/* objects the header claims */
	uint32_t done;		/* objects fully scanned */
	uint64_t offset;	/* bytes of pack seen */
	uint64_t obj_offset;	/* where the current object began */
	/* the current object */
	unsigned type;
	uint64_t size;		/* inflated size its header claims */
	unsigned shift, nbytes;
	uint64_t ofs;
	bool zinit;
	z_stream z;
	unsigned char delta_hdr[20];	/* the first inflated bytes of a delta */
	size_t delta_hdr_len;
	bool delta_checked;
	/* totals */
	uint64_t total;		/* inflated bytes of whole objects claimed so far */
	uint32_t ndeltas;
	int err;		/* sticky */
};

void sbx_pack_scan_init(struct sbx_pack_scan *s, const struct sbx_pack_scan_limits *lim);
/* 0, or SBX_ECORRUPT / SBX_EUNSUPPORTED / SBX_ELIMIT / SBX_ENOMEM with a message. */
int sbx_pack_scan_feed(struct sbx_pack_scan *s, const void *data, size_t len);
/* End of the stream: an error unless the pack was complete (trailer included). */
int sbx_pack_scan_finish(struct sbx_pack_scan *s);
void sbx_pack_scan_clear(struct sbx_pack_scan *s);

#endif
