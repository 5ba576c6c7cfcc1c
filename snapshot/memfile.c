// SPDX-License-Identifier: MIT
/*
 * Guest RAM as a sparse file that restore maps MAP_PRIVATE (layout in
 * memfile.h and docs/formats.md): write a full or diff file, check one,
 * map a chain of them.
 */
#include "snapshot/memfile.h"
#include "util/checked.h"
#include "util/crc32c.h"
#include "util/error.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE MEMFILE_PAGE
#define MAX_RAM (1ull << 40)		/* 1 TiB: bounds the bitmap we allocate */
#define MAX_WRITE (64ull << 20)		/* one pwrite of a run of pages */
#define MAX_CHAIN 4096

/* Trailer fields (offsets in the trailer page). */
enum {
	T_MAGIC = 0, T_RAM = 8, T_PAGE = 16, T_FLAGS = 20, T_ID = 24, T_PARENT = 40,
	T_PAGES = 56, T_BM_BYTES = 64, T_BM_CRC = 72, T_END = 76, T_CRC = PAGE - 4,
};

static inline uint64_t get_le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }
static inline uint32_t get_le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static inline void put_le64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static inline void put_le32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }

typedef uint64_t __attribute__((may_alias, aligned(1))) u64_any;

bool memfile_page_is_zero(const uint8_t *page)
{
	const u64_any *w = (const u64_any *)page;

	/* Most non-zero pages have data at the start: look there first. */
	if (w[0] | w[1])
		return false;
	for (size_t i = 0; i < PAGE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}

uint64_t memfile_bitmap_count(const uint64_t *bm, uint64_t npages)
{
	uint64_t n = 0, w;

	for (w = 0; w < npages / 64; w++)
		n += (uint64_t)__builtin_popcountll(bm[w]);
	if (npages % 64)
		n += (uint64_t)__builtin_popcountll(bm[w] & ((1ull << (npages % 64)) - 1));
	return n;
}

bool memfile_bitmap_next_run(const uint64_t *bm, uint64_t npages, uint64_t from,
			     uint64_t *start, uint64_t *len)
{
	uint64_t w, bits, s, e;

	if (from >= npages)
		return false;
	/* The first set bit at or after `from`. */
	w = from / 64;
	bits = bm[w] & (~0ull << (from % 64));
	while (!bits) {
		if (++w >= (npages + 63) / 64)
			return false;
		bits = bm[w];
	}
	s = w * 64 + (uint64_t)__builtin_ctzll(bits);
	if (s >= npages)
		return false;
	/* The first clear bit after it. */
	bits = ~bm[w] & (~0ull << (s % 64));
	while (!bits) {
		if (++w >= (npages + 63) / 64)
			break;
		bits = ~bm[w];
	}
	e = bits ? w * 64 + (uint64_t)__builtin_ctzll(bits) : npages;
	if (e > npages)
		e = npages;
	*start = s;
	*len = e - s;
	return true;
}

static int pwrite_all(int fd, const uint8_t *p, uint64_t len, uint64_t off, const char *what)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len > MAX_WRITE ? MAX_WRITE : (size_t)len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return sbx_error_errno(SBX_EIO, "cannot write the memory file's %s at offset %"
					       PRIu64, what, off);
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static int pread_all(int fd, uint8_t *p, uint64_t len, uint64_t off, const char *what)
{
	while (len) {
		ssize_t n = pread(fd, p, len > MAX_WRITE ? MAX_WRITE : (size_t)len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sbx_error_errno(SBX_EIO, "cannot read the memory file's %s at offset %"
					       PRIu64, what, off);
		if (n == 0)
			return SBX_CORRUPT("memory file ends inside its %s (offset %" PRIu64 ")",
					   what, off);
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* Write the pages [first, first + n) of mem that are not all zero, in runs. */
static int write_pages(int fd, const uint8_t *mem, uint64_t first, uint64_t n, uint64_t *written)
{
	uint64_t run = 0, run_len = 0;
	int err;

	for (uint64_t p = first; p < first + n; p++) {
		if (memfile_page_is_zero(mem + p * PAGE)) {
			if (run_len && (err = pwrite_all(fd, mem + run * PAGE, run_len * PAGE,
							 run * PAGE, "RAM")))
				return err;
			run_len = 0;
			continue;
		}
		if (!run_len)
			run = p;
		run_len++;
		(*written)++;
		if (run_len * PAGE >= MAX_WRITE) {
			if ((err = pwrite_all(fd, mem + run * PAGE, run_len * PAGE, run * PAGE, "RAM")))
				return err;
			run_len = 0;
		}
	}
	if (run_len)
		return pwrite_all(fd, mem + run * PAGE, run_len * PAGE, run * PAGE, "RAM");
	return 0;
}

int memfile_write(int fd, const uint8_t *mem, uint64_t ram_size, const uint64_t *dirty,
		  const uint8_t parent_id[16], struct memfile_info *info)
{
	uint64_t npages = ram_size / PAGE, nwords = memfile_bitmap_words(ram_size);
	uint64_t bm_bytes = dirty ? nwords * 8 : 0, written = 0, start, len, p;
	uint8_t *trailer = NULL;
	uint64_t *bm = NULL;
	uint32_t bm_crc = 0;
	int err;

	memset(info, 0, sizeof(*info));
	if (!mem || !ram_size || ram_size % PAGE || ram_size > MAX_RAM)
		return sbx_error_set(SBX_EINVAL, "guest RAM of %" PRIu64 " bytes cannot be saved "
				     "(a non-zero multiple of %u up to %llu)", ram_size, PAGE, MAX_RAM);
	if (dirty && !parent_id)
		return sbx_error_set(SBX_EINVAL, "a diff memory file needs its parent's id");
	if (!(trailer = calloc(1, PAGE)) || (dirty && !(bm = calloc(nwords, 8)))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	/* Emptied first, so every page we do not write is a hole. */
	if (ftruncate(fd, 0) || ftruncate(fd, (off_t)(ram_size + PAGE + bm_bytes))) {
		err = sbx_error_errno(SBX_EIO, "cannot size the memory file");
		goto out;
	}
	if (!dirty) {
		err = write_pages(fd, mem, 0, npages, &written);
	} else {
		/* Our copy: bits past the last page cleared, little-endian on disk. */
		memcpy(bm, dirty, nwords * 8);
		if (npages % 64)
			bm[nwords - 1] &= (1ull << (npages % 64)) - 1;
		for (p = 0, err = 0; !err && memfile_bitmap_next_run(bm, npages, p, &start, &len);
		     p = start + len)
			err = write_pages(fd, mem, start, len, &written);
		for (uint64_t w = 0; w < nwords; w++)
			bm[w] = htole64(bm[w]);
		bm_crc = crc32c(0, bm, nwords * 8);
	}
	if (err)
		goto out;

	if (getrandom(info->id, 16, 0) != 16) {
		err = sbx_error_errno(SBX_EIO, "getrandom");
		goto out;
	}
	info->ram_size = ram_size;
	info->diff = dirty != NULL;
	if (dirty)
		memcpy(info->parent_id, parent_id, 16);
	info->pages_written = written;
	info->data_bytes = written * PAGE;

	memcpy(trailer + T_MAGIC, MEMFILE_MAGIC, 8);
	put_le64(trailer + T_RAM, ram_size);
	put_le32(trailer + T_PAGE, PAGE);
	put_le32(trailer + T_FLAGS, dirty ? MEMFILE_FLAG_DIFF : 0);
	memcpy(trailer + T_ID, info->id, 16);
	memcpy(trailer + T_PARENT, info->parent_id, 16);
	put_le64(trailer + T_PAGES, written);
	put_le64(trailer + T_BM_BYTES, bm_bytes);
	put_le32(trailer + T_BM_CRC, bm_crc);
	put_le32(trailer + T_CRC, crc32c(0, trailer, T_CRC));
	if ((err = pwrite_all(fd, trailer, PAGE, ram_size, "trailer")))
		goto out;
	if (dirty)
		err = pwrite_all(fd, (const uint8_t *)bm, bm_bytes, ram_size + PAGE, "bitmap");
out:
	if (err)
		memset(info, 0, sizeof(*info));
	free(trailer);
	free(bm);
	return err;
}

/*
 * Where a diff's trailer is for a file of `size` bytes: size = 4096 P + 4096
 * + 8 ceil(P / 64).  With P = 64 a + b (1 <= b <= 64), size - 4104 =
 * 262152 a + 4096 (b - 1), and 4096 (b - 1) < 262152, so a and b are the
 * quotient and remainder.  False when no P fits.
 */
static bool diff_ram_size(uint64_t size, uint64_t *ram)
{
	const uint64_t per64 = 64 * PAGE + 8;
	uint64_t y, a, rem;

	if (size < PAGE + 8 + PAGE)
		return false;
	y = size - PAGE - 8 - PAGE;
	a = y / per64;
	rem = y % per64;
	if (rem % PAGE)
		return false;
	*ram = (64 * a + rem / PAGE + 1) * PAGE;
	return true;
}

static bool trailer_sound(const uint8_t *t)
{
	return !memcmp(t + T_MAGIC, MEMFILE_MAGIC, 8) && get_le32(t + T_CRC) == crc32c(0, t, T_CRC);
}

/* The trailer of a file of `size` bytes into t: full-file place first, then the diff place. */
static int find_trailer(int fd, uint64_t size, uint8_t *t, uint64_t *at)
{
	uint64_t cand[2];
	bool magic = false;
	int n = 0, err;

	if (size >= 2 * PAGE && size % PAGE == 0)
		cand[n++] = size - PAGE;
	if (diff_ram_size(size, &cand[n]))
		n++;
	for (int i = 0; i < n; i++) {
		if ((err = pread_all(fd, t, PAGE, cand[i], "trailer")))
			return err;
		if (trailer_sound(t)) {
			*at = cand[i];
			return 0;
		}
		magic |= !memcmp(t + T_MAGIC, MEMFILE_MAGIC, 8);
	}
	if (magic)
		return SBX_CORRUPT("memory file trailer fails its checksum (damaged file)");
	return SBX_CORRUPT("no memory file trailer where its size (%" PRIu64 " bytes) puts one: "
			   "truncated, damaged or not a memory file", size);
}

int memfile_open_check(int fd, struct memfile_info *info, uint64_t **bitmap_out)
{
	uint64_t ram, npages, nwords, bm_bytes, pages, at = 0, *bm = NULL;
	static const uint8_t zero16[16];
	uint8_t *t = NULL;
	uint32_t flags, psize;
	struct stat st;
	int err;

	memset(info, 0, sizeof(*info));
	if (bitmap_out)
		*bitmap_out = NULL;
	if (fstat(fd, &st))
		return sbx_error_errno(SBX_EIO, "cannot stat the memory file");
	if (!S_ISREG(st.st_mode))
		return sbx_error_set(SBX_EINVAL, "a memory file must be a regular file");
	if (!(t = malloc(PAGE)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if ((err = find_trailer(fd, (uint64_t)st.st_size, t, &at)))
		goto out;

	ram = get_le64(t + T_RAM);
	psize = get_le32(t + T_PAGE);
	flags = get_le32(t + T_FLAGS);
	pages = get_le64(t + T_PAGES);
	bm_bytes = get_le64(t + T_BM_BYTES);
	if (psize != PAGE) {
		err = sbx_error_set(SBX_EUNSUPPORTED, "memory file has %" PRIu32 "-byte pages "
				    "(only %u)", psize, PAGE);
		goto out;
	}
	if (flags & ~MEMFILE_FLAG_DIFF) {
		err = sbx_error_set(SBX_EUNSUPPORTED, "memory file has unknown flags %#" PRIx32, flags);
		goto out;
	}
	npages = ram / PAGE;
	nwords = memfile_bitmap_words(ram);
	err = SBX_ECORRUPT;
	if (ram != at || !ram || ram % PAGE || ram > MAX_RAM)
		SBX_CORRUPT("memory file trailer says %" PRIu64 " bytes of RAM but sits at offset %"
			    PRIu64, ram, at);
	else if (bm_bytes != ((flags & MEMFILE_FLAG_DIFF) ? nwords * 8 : 0))
		SBX_CORRUPT("memory file trailer has a %" PRIu64 "-byte bitmap, not %" PRIu64,
			    bm_bytes, (flags & MEMFILE_FLAG_DIFF) ? nwords * 8 : 0);
	else if ((uint64_t)st.st_size != ram + PAGE + bm_bytes)
		SBX_CORRUPT("memory file is %lld bytes, not %" PRIu64, (long long)st.st_size,
			    ram + PAGE + bm_bytes);
	else if (pages > npages)
		SBX_CORRUPT("memory file claims %" PRIu64 " pages present of %" PRIu64, pages, npages);
	else if (!(flags & MEMFILE_FLAG_DIFF) && (memcmp(t + T_PARENT, zero16, 16) ||
						  get_le32(t + T_BM_CRC)))
		SBX_CORRUPT("full memory file has a parent or bitmap checksum");
	else if (t[T_END] || memcmp(t + T_END, t + T_END + 1, T_CRC - T_END - 1))
		SBX_CORRUPT("memory file trailer has non-zero reserved bytes");
	else
		err = 0;
	if (err)
		goto out;

	if (flags & MEMFILE_FLAG_DIFF) {
		if (!(bm = malloc(bm_bytes))) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		if ((err = pread_all(fd, (uint8_t *)bm, bm_bytes, ram + PAGE, "bitmap")))
			goto out;
		err = SBX_ECORRUPT;
		if (crc32c(0, bm, bm_bytes) != get_le32(t + T_BM_CRC)) {
			SBX_CORRUPT("memory file bitmap fails its checksum");
			goto out;
		}
		for (uint64_t w = 0; w < nwords; w++)
			bm[w] = le64toh(bm[w]);
		if (npages % 64 && bm[nwords - 1] >> (npages % 64)) {
			SBX_CORRUPT("memory file bitmap has bits past the last page");
			goto out;
		}
		if (pages > memfile_bitmap_count(bm, npages)) {
			SBX_CORRUPT("memory file claims %" PRIu64 " pages present but overrides "
				    "%" PRIu64, pages, memfile_bitmap_count(bm, npages));
			goto out;
		}
		err = 0;
	}
	info->ram_size = ram;
	memcpy(info->id, t + T_ID, 16);
	memcpy(info->parent_id, t + T_PARENT, 16);
	info->diff = flags & MEMFILE_FLAG_DIFF;
	info->pages_written = pages;
	info->data_bytes = pages * PAGE;
	if (bitmap_out) {
		*bitmap_out = bm;
		bm = NULL;
	}
out:
	if (err)
		memset(info, 0, sizeof(*info));
	free(bm);
	free(t);
	return err;
}

static int map_at(uint8_t *addr, uint64_t off, uint64_t len, int fd)
{
	void *p = mmap(addr + off, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, (off_t)off);

	if (p == MAP_FAILED)
		return sbx_error_errno(SBX_EIO, "cannot map the memory file at offset %" PRIu64, off);
	return 0;
}

static int map_anon(uint8_t *addr, uint64_t len)
{
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return sbx_error_errno(SBX_EIO, "cannot map anonymous memory for guest RAM");
	return 0;
}

/*
 * The data extents of [0, ram_size) of fd, page-aligned, into *ext (pairs
 * start, end); false if there are more than `max` or the file system cannot
 * say (then the whole file is mapped).
 */
static bool data_extents(int fd, uint64_t ram_size, uint64_t max, uint64_t **ext, uint64_t *n)
{
	uint64_t off = 0, cap = 0, *e = NULL, *ne;

	*n = 0;
	while (off < ram_size) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA), h;
		uint64_t start, end;

		if (d < 0 && errno == ENXIO)
			break;
		if (d < 0 || (uint64_t)d >= ram_size) {
			if (d >= 0)
				break;
			goto fail;
		}
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			goto fail;
		start = (uint64_t)d & ~(uint64_t)(PAGE - 1);
		end = ((uint64_t)h + PAGE - 1) & ~(uint64_t)(PAGE - 1);
		if (end > ram_size || end <= start)
			end = ram_size;
		if (*n == max)
			goto fail;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if (!(ne = realloc(e, cap * 2 * sizeof(*e))))
				goto fail;
			e = ne;
		}
		e[2 * *n] = start;
		e[2 * *n + 1] = end;
		(*n)++;
		off = end;
	}
	*ext = e;
	return true;
fail:
	free(e);
	*n = 0;
	return false;
}

/*
 * The full file: its data extents from the file, its holes anonymous, so a
 * guest reading a zero page gets the shared zero page instead of a page of
 * page cache.  With too many extents, the whole file.
 */
static int map_full(uint8_t *addr, uint64_t ram_size, int fd, uint64_t *maps)
{
	uint64_t *ext = NULL, n;
	int err;

	if (!data_extents(fd, ram_size, MEMFILE_MAX_MAPS / 2, &ext, &n)) {
		(*maps)++;
		return map_at(addr, 0, ram_size, fd);
	}
	err = map_anon(addr, ram_size);
	for (uint64_t i = 0; !err && i < n; i++)
		err = map_at(addr, ext[2 * i], ext[2 * i + 1] - ext[2 * i], fd);
	*maps += n + 1;
	free(ext);
	return err;
}

int memfile_map_chain(void *addr, uint64_t ram_size, const int *fds, size_t n)
{
	uint64_t npages = ram_size / PAGE, maps = 0, start, len;
	struct memfile_info *info = NULL;
	uint64_t **bms = NULL;
	bool mapped = false;
	int err = 0;

	if (!addr || (uintptr_t)addr % PAGE || !ram_size || ram_size % PAGE || !n || n > MAX_CHAIN)
		return sbx_error_set(SBX_EINVAL, "bad memory file chain arguments");
	if (sysconf(_SC_PAGESIZE) != PAGE)
		return sbx_error_set(SBX_EUNSUPPORTED, "memory files need %u-byte host pages", PAGE);
	if (!(info = calloc(n, sizeof(*info))) || !(bms = calloc(n, sizeof(*bms)))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	/* Check the whole chain before touching the caller's mapping. */
	for (size_t i = 0; i < n; i++) {
		if ((err = memfile_open_check(fds[i], &info[i], &bms[i]))) {
			sbx_error_prefix(err, "memory file %zu of %zu", i + 1, n);
			goto out;
		}
		err = SBX_ECORRUPT;
		if (info[i].ram_size != ram_size) {
			SBX_CORRUPT("memory file %zu of %zu holds %" PRIu64 " bytes of RAM, not %" PRIu64,
				    i + 1, n, info[i].ram_size, ram_size);
			goto out;
		}
		if (i == 0 && info[i].diff) {
			SBX_CORRUPT("memory file chain starts with a diff, not a full snapshot");
			goto out;
		}
		if (i > 0 && !info[i].diff) {
			SBX_CORRUPT("memory file %zu of %zu is a full snapshot, not a diff", i + 1, n);
			goto out;
		}
		if (i > 0 && memcmp(info[i].parent_id, info[i - 1].id, 16)) {
			SBX_CORRUPT("memory file %zu of %zu is a diff of another snapshot than file %zu",
				    i + 1, n, i);
			goto out;
		}
		err = 0;
	}

	mapped = true;
	if ((err = map_full(addr, ram_size, fds[0], &maps)))
		goto out;
	for (size_t i = 1; i < n; i++) {
		for (uint64_t p = 0; memfile_bitmap_next_run(bms[i], npages, p, &start, &len);
		     p = start + len) {
			if (maps < MEMFILE_MAX_MAPS) {
				err = map_at(addr, start * PAGE, len * PAGE, fds[i]);
				maps++;
			} else {
				err = pread_all(fds[i], (uint8_t *)addr + start * PAGE, len * PAGE,
						start * PAGE, "RAM");
			}
			if (err)
				goto out;
		}
	}
out:
	if (err && mapped)
		map_anon(addr, ram_size);
	for (size_t i = 0; bms && i < n; i++)
		free(bms[i]);
	free(bms);
	free(info);
	return err;
}
