// SPDX-License-Identifier: MIT
/*
 * The pack stream scanner (format and reasoning in sbx/pack-scan.h): sizes
 * are checked from object headers and delta headers before git's indexer
 * inflates anything.  Hostile input; no libgit2 here.
 */
#include "sbx/pack-scan.h"
#include "util/checked.h"
#include "util/error.h"

#include <string.h>

enum { OBJ_COMMIT = 1, OBJ_TREE = 2, OBJ_BLOB = 3, OBJ_TAG = 4, OBJ_OFS_DELTA = 6, OBJ_REF_DELTA = 7 };

void sbx_pack_scan_init(struct sbx_pack_scan *s, const struct sbx_pack_scan_limits *lim)
{
	memset(s, 0, sizeof(*s));
	s->lim = *lim;
	s->state = SBX_PACK_SCAN_HEADER;
}

void sbx_pack_scan_clear(struct sbx_pack_scan *s)
{
	if (s->zinit)
		inflateEnd(&s->z);
	s->zinit = false;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Count a whole object of `size` inflated bytes against the limits. */
static int account(struct sbx_pack_scan *s, uint64_t size)
{
	uint64_t total;

	if (size > s->lim.max_object)
		return sbx_error_set(SBX_ELIMIT,
				     "object %u of the pack (at offset %llu) is %llu bytes, more than the limit of %llu (sbx.maxObjectSize)",
				     s->done + 1, (unsigned long long)s->obj_offset,
				     (unsigned long long)size, (unsigned long long)s->lim.max_object);
	if (chk_add(s->total, size, &total) || total > s->lim.max_total)
		return sbx_error_set(SBX_ELIMIT,
				     "the pack's objects add up to more than the limit of %llu bytes (sbx.maxInflatedSize)",
				     (unsigned long long)s->lim.max_total);
	s->total = total;
	return 0;
}

/* A delta's base and result sizes, once enough of it is inflated; 1 = need more. */
static int check_delta_header(struct sbx_pack_scan *s, bool at_end)
{
	uint64_t v[2] = { 0, 0 };
	size_t i = 0, k;

	for (k = 0; k < 2; k++) {
		unsigned shift = 0;

		for (;;) {
			unsigned char c;

			if (i >= s->delta_hdr_len)
				return at_end ? SBX_CORRUPT("delta %u of the pack has a truncated header",
							    s->done + 1)
					      : 1;
			c = s->delta_hdr[i++];
			if (shift > 63 || (shift == 63 && (c & 0x7e)))
				return SBX_CORRUPT("delta %u of the pack has an oversized size", s->done + 1);
			v[k] |= (uint64_t)(c & 0x7f) << shift;
			shift += 7;
			if (!(c & 0x80))
				break;
		}
	}
	s->delta_checked = true;
	return account(s, v[1]);
}

static int start_data(struct sbx_pack_scan *s)
{
	int err;

	if (s->type != OBJ_OFS_DELTA && s->type != OBJ_REF_DELTA && (err = account(s, s->size)))
		return err;
	/* A delta's instructions are inflated whole by the indexer too. */
	if (s->size > s->lim.max_object)
		return sbx_error_set(SBX_ELIMIT, "delta %u of the pack is %llu bytes, more than the limit of %llu (sbx.maxObjectSize)",
				     s->done + 1, (unsigned long long)s->size,
				     (unsigned long long)s->lim.max_object);
	if (!s->zinit) {
		memset(&s->z, 0, sizeof(s->z));
		if (inflateInit(&s->z) != Z_OK)
			return sbx_error_set(SBX_ENOMEM, "cannot start zlib");
		s->zinit = true;
	} else if (inflateReset(&s->z) != Z_OK) {
		return sbx_error_set(SBX_ERROR, "cannot reset zlib");
	}
	s->delta_hdr_len = 0;
	s->delta_checked = false;
	s->state = SBX_PACK_SCAN_DATA;
	return 0;
}

static void next_object(struct sbx_pack_scan *s)
{
	s->done++;
	s->state = s->done == s->count ? SBX_PACK_SCAN_TRAILER : SBX_PACK_SCAN_OBJ_HEADER;
	s->hdr_len = 0;
	s->shift = 0;
	s->nbytes = 0;
	s->size = 0;
	s->ofs = 0;
	s->obj_offset = s->offset;
}

/* Inflate from `d`; returns bytes consumed or a negative error. */
static long feed_data(struct sbx_pack_scan *s, const unsigned char *d, size_t len)
{
	unsigned char out[16384];
	bool is_delta = s->type == OBJ_OFS_DELTA || s->type == OBJ_REF_DELTA;
	size_t used = 0;
	int err;

	while (used < len) {
		size_t in = len - used, produced;
		int zr;

		if (in > (1u << 30))
			in = 1u << 30;
		s->z.next_in = (unsigned char *)(d + used);
		s->z.avail_in = (uInt)in;
		s->z.next_out = out;
		s->z.avail_out = sizeof(out);
		zr = inflate(&s->z, Z_NO_FLUSH);
		used += in - s->z.avail_in;
		produced = sizeof(out) - s->z.avail_out;
		if (zr != Z_OK && zr != Z_STREAM_END && !(zr == Z_BUF_ERROR && !produced))
			return SBX_CORRUPT("object %u of the pack (at offset %llu) does not inflate",
					   s->done + 1, (unsigned long long)s->obj_offset);
		if (s->z.total_out > s->size)
			return SBX_CORRUPT("object %u of the pack (at offset %llu) inflates to more than the %llu bytes it claims",
					   s->done + 1, (unsigned long long)s->obj_offset,
					   (unsigned long long)s->size);
		if (is_delta && !s->delta_checked) {
			size_t n = sizeof(s->delta_hdr) - s->delta_hdr_len;

			if (n > produced)
				n = produced;
			memcpy(s->delta_hdr + s->delta_hdr_len, out, n);
			s->delta_hdr_len += n;
			err = check_delta_header(s, zr == Z_STREAM_END ||
						    s->delta_hdr_len == sizeof(s->delta_hdr));
			if (err < 0)
				return err;
		}
		if (zr == Z_STREAM_END) {
			if (s->z.total_out != s->size)
				return SBX_CORRUPT("object %u of the pack (at offset %llu) inflates to %llu bytes, not the %llu it claims",
						   s->done + 1, (unsigned long long)s->obj_offset,
						   (unsigned long long)s->z.total_out,
						   (unsigned long long)s->size);
			s->offset += used;
			next_object(s);
			return (long)used;
		}
		if (zr == Z_BUF_ERROR || (!produced && !s->z.avail_in))
			break;	/* needs more input */
	}
	s->offset += used;
	return (long)used;
}

static int feed(struct sbx_pack_scan *s, const unsigned char *d, size_t len)
{
	size_t i = 0;
	int err;

	while (i < len) {
		unsigned char c;

		switch (s->state) {
		case SBX_PACK_SCAN_HEADER:
			s->hdr[s->hdr_len++] = d[i++];
			s->offset++;
			if (s->hdr_len < sizeof(s->hdr))
				break;
			if (memcmp(s->hdr, "PACK", 4))
				return SBX_CORRUPT("the bundle's pack has no PACK signature");
			if (be32(s->hdr + 4) != 2 && be32(s->hdr + 4) != 3)
				return sbx_error_set(SBX_EUNSUPPORTED, "pack version %u", be32(s->hdr + 4));
			if (be32(s->hdr + 8) > s->lim.max_objects)
				return sbx_error_set(SBX_ELIMIT, "the pack claims %u objects, more than the limit of %u",
						     be32(s->hdr + 8), s->lim.max_objects);
			s->count = be32(s->hdr + 8);
			s->hdr_len = 0;
			s->obj_offset = s->offset;
			s->state = s->count ? SBX_PACK_SCAN_OBJ_HEADER : SBX_PACK_SCAN_TRAILER;
			break;
		case SBX_PACK_SCAN_OBJ_HEADER:
			c = d[i++];
			s->offset++;
			if (s->nbytes == 0) {
				s->type = (c >> 4) & 7;
				s->size = c & 15;
				s->shift = 4;
				if (s->type == 0 || s->type == 5)
					return SBX_CORRUPT("object %u of the pack has the invalid type %u",
							   s->done + 1, s->type);
			} else {
				if (s->shift > 63 || (s->shift > 57 && ((uint64_t)(c & 0x7f) >> (64 - s->shift))))
					return SBX_CORRUPT("object %u of the pack has an oversized size",
							   s->done + 1);
				s->size |= (uint64_t)(c & 0x7f) << s->shift;
				s->shift += 7;
			}
			s->nbytes++;
			if (c & 0x80)
				break;
			if (s->type == OBJ_OFS_DELTA) {
				s->nbytes = 0;
				s->state = SBX_PACK_SCAN_OFS;
			} else if (s->type == OBJ_REF_DELTA) {
				s->hdr_len = 0;
				s->state = SBX_PACK_SCAN_REF;
			} else if ((err = start_data(s))) {
				return err;
			}
			break;
		case SBX_PACK_SCAN_OFS:
			c = d[i++];
			s->offset++;
			if (s->nbytes++) {
				if (s->ofs > (UINT64_MAX >> 8))
					return SBX_CORRUPT("delta %u of the pack has an oversized base offset",
							   s->done + 1);
				s->ofs = ((s->ofs + 1) << 7) | (c & 0x7f);
			} else {
				s->ofs = c & 0x7f;
			}
			if (c & 0x80)
				break;
			/* The base must be an earlier object of this pack. */
			if (s->ofs == 0 || s->ofs > s->obj_offset - 12)
				return SBX_CORRUPT("delta %u of the pack points outside the pack", s->done + 1);
			if ((err = start_data(s)))
				return err;
			break;
		case SBX_PACK_SCAN_REF:
			s->hdr_len++;
			i++;
			s->offset++;
			if (s->hdr_len == 20 && (err = start_data(s)))
				return err;
			break;
		case SBX_PACK_SCAN_DATA: {
			long n = feed_data(s, d + i, len - i);

			if (n < 0)
				return (int)n;
			i += (size_t)n;
			break;
		}
		case SBX_PACK_SCAN_TRAILER:
			s->hdr_len++;
			i++;
			s->offset++;
			if (s->hdr_len == 20)
				s->state = SBX_PACK_SCAN_DONE;
			break;
		case SBX_PACK_SCAN_DONE:
			return SBX_CORRUPT("data after the end of the bundle's pack");
		}
	}
	return 0;
}

int sbx_pack_scan_feed(struct sbx_pack_scan *s, const void *data, size_t len)
{
	if (s->err)
		return s->err;
	s->err = feed(s, data, len);
	if (s->err)
		sbx_pack_scan_clear(s);
	return s->err;
}

int sbx_pack_scan_finish(struct sbx_pack_scan *s)
{
	if (s->err)
		return s->err;
	sbx_pack_scan_clear(s);
	if (s->state != SBX_PACK_SCAN_DONE)
		s->err = SBX_CORRUPT("the bundle's pack is truncated (%llu bytes, %u of %u objects)",
				     (unsigned long long)s->offset, s->done, s->count);
	return s->err;
}
