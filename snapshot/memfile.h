/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM as a file that restore maps directly (docs/formats.md, "Memory
 * file").  Knows nothing of KVM: RAM is ram_size bytes at an address.
 *
 * Layout (all numbers little-endian), P = ram_size / 4096 pages:
 *
 *   [0, ram_size)            RAM, page i at offset 4096 * i; all-zero pages
 *                            are holes (never written)
 *   [ram_size, +4096)        the trailer:
 *     off  size  field
 *       0     8  magic "SBXMEM01" (the 01 is the format version)
 *       8     8  ram_size (a non-zero multiple of 4096)
 *      16     4  page size (4096)
 *      20     4  flags: bit 0 diff; other bits 0
 *      24    16  id (random, from getrandom)
 *      40    16  parent id (a diff: the id of the file it applies to; a full file: zero)
 *      56     8  pages present (pages written with data; the rest are holes)
 *      64     8  bitmap bytes (a diff: 8 * ceil(P / 64); a full file: 0)
 *      72     4  crc32c of the bitmap (0 for a full file)
 *      76  4016  zero
 *    4092     4  crc32c of trailer bytes 0..4091
 *   [ram_size + 4096, ...)   a diff only: the bitmap of the pages this file
 *                            overrides, u64 words, bit i of word w = page
 *                            64 * w + i; bits past P are 0
 *
 * and nothing else: the file is exactly ram_size + 4096 (+ bitmap) bytes.
 * A reader finds the trailer from the file's size (see memfile.c).
 */
#ifndef SBX_SNAPSHOT_MEMFILE_H
#define SBX_SNAPSHOT_MEMFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEMFILE_PAGE 4096
#define MEMFILE_MAGIC "SBXMEM01"
#define MEMFILE_FLAG_DIFF 1u
/* Mappings one memfile_map_chain makes before it copies runs instead (vm.max_map_count is 65530). */
#define MEMFILE_MAX_MAPS 16384

struct memfile_info {
	uint64_t ram_size;
	uint8_t id[16];
	uint8_t parent_id[16];
	bool diff;
	uint64_t pages_written;	/* pages with data in this file */
	uint64_t data_bytes;	/* pages_written * MEMFILE_PAGE */
};

/*
 * Write RAM (`ram_size` bytes at `mem`, a non-zero multiple of 4096) to fd,
 * which is truncated first.  `dirty` NULL: a full snapshot, every non-zero
 * page.  Otherwise a diff on top of the file whose id is `parent_id`:
 * `dirty` (ceil(P / 64) words) marks the pages changed since it, and only
 * those are written (a dirty page now all zero stays a hole, which reads as
 * zero); the bitmap follows the trailer.  Fills info (the new random id).
 * No fsync: the caller syncs and renames.  SBX_EINVAL, SBX_EIO.
 */
int memfile_write(int fd, const uint8_t *mem, uint64_t ram_size, const uint64_t *dirty,
		  const uint8_t parent_id[16], struct memfile_info *info);

/*
 * Check an open memory file: size, trailer (magic, CRC, page size, flags,
 * counts) and a diff's bitmap.  SBX_ECORRUPT with what is wrong for a
 * truncated or damaged file, SBX_EUNSUPPORTED for another page size or
 * unknown flags.  *bitmap_out: NULL for a full file, else the diff's bitmap
 * (memfile_bitmap_words(ram_size) words; the caller frees it).  bitmap_out
 * may be NULL.
 */
int memfile_open_check(int fd, struct memfile_info *info, uint64_t **bitmap_out);

/*
 * Map the chain fds[0..n): a full file, then diffs, each diff's parent id
 * the previous file's id, all of one ram_size (else SBX_ECORRUPT, nothing
 * mapped), over `addr` (ram_size bytes the caller owns and has mapped):
 * MAP_PRIVATE | MAP_FIXED of the full file's data extents (its holes are
 * mapped anonymous, so reading a zero page costs no page cache; the whole
 * file when it has over MEMFILE_MAX_MAPS / 2 extents or the file system
 * cannot say), then of each run of a diff's bitmap from that diff at the
 * same offset.  Copy-on-write: the files are never written, and VMs mapping
 * one file share its page cache.  Past MEMFILE_MAX_MAPS mappings in total,
 * the remaining runs are read (pread) into the mapping instead (private
 * copies).  On a failure after mapping began,
 * addr is left mapped as anonymous zeroes.  Anything the caller set on its
 * mapping (madvise) is gone.
 */
int memfile_map_chain(void *addr, uint64_t ram_size, const int *fds, size_t n);

/* Bitmaps: u64 words, bit i of word w = page 64 * w + i. */
static inline uint64_t memfile_bitmap_words(uint64_t ram_size)
{
	return (ram_size / MEMFILE_PAGE + 63) / 64;
}
static inline bool memfile_bit(const uint64_t *bm, uint64_t page)
{
	return (bm[page / 64] >> (page % 64)) & 1;
}
/* Set bits among the first npages. */
uint64_t memfile_bitmap_count(const uint64_t *bm, uint64_t npages);
/*
 * The first run of set bits at or after page `from` (below npages): true
 * with *start and *len, false when there is none.
 */
bool memfile_bitmap_next_run(const uint64_t *bm, uint64_t npages, uint64_t from,
			     uint64_t *start, uint64_t *len);
/* Is this page all zero? (64-bit words, stops at the first non-zero.) */
bool memfile_page_is_zero(const uint8_t *page);

#endif
