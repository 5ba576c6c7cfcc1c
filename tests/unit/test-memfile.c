// SPDX-License-Identifier: MIT
/*
 * The memory file (snapshot/memfile.c): zero pages are holes; mapping a
 * chain [full, diff, ...] gives back the RAM that was written, copy-on-write
 * (writes to the mapping never reach the files); a diff holds only the
 * changed pages, a page changed to zero included; damaged, truncated and
 * mismatched files are refused before the caller's mapping is touched.
 */
#include "snapshot/memfile.h"
#include "util/crc32c.h"
#include "util/error.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define PAGE MEMFILE_PAGE
#define RAM (64ull << 20)
#define NPAGES (RAM / PAGE)

static char dir[] = "/tmp/sbx-test-memfile.XXXXXX";
static uint64_t rng = 0x13198a2e03707344ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint8_t *ram_alloc(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static int new_file(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	return fd;
}

/* CRC of a whole file, to show it did not change. */
static uint32_t file_crc(int fd)
{
	static uint8_t buf[1 << 16];
	uint32_t crc = 0;
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		crc = crc32c(crc, buf, (size_t)n);
		off += n;
	}
	assert_int_equal(n, 0);
	return crc;
}

static uint64_t allocated(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void fill_page(uint8_t *ram, uint64_t page)
{
	for (size_t i = 0; i < PAGE; i += 8) {
		uint64_t v = rnd() | 1;

		memcpy(ram + page * PAGE + i, &v, 8);
	}
}

static void set_bit(uint64_t *bm, uint64_t page)
{
	bm[page / 64] |= 1ull << (page % 64);
}

/* Pages with data in the base image: first, last, a run, scattered ones, one byte at a page's end. */
static uint64_t base_pages(uint8_t *ram)
{
	uint64_t n = 0;

	fill_page(ram, 0);
	fill_page(ram, NPAGES - 1);
	n += 2;
	for (uint64_t p = 1000; p < 1040; p++, n++)
		fill_page(ram, p);
	for (uint64_t p = 2000; p < NPAGES - 1; p += 211, n++)
		fill_page(ram, p);
	ram[5000 * PAGE + PAGE - 1] = 1;
	return n + 1;
}

/* Is the page at m + off mapped from a file whose path ends in `name` (/proc/self/maps)? */
static bool mapped_from(const uint8_t *m, uint64_t off, const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	uintptr_t a = (uintptr_t)m + off, lo, hi;
	char line[512], path[400];
	bool found = false;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		path[0] = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %399s", &lo, &hi, path) < 2)
			continue;
		if (a >= lo && a < hi) {
			size_t pl = strlen(path), nl = strlen(name);

			found = pl >= nl && !strcmp(path + pl - nl, name);
			break;
		}
	}
	fclose(f);
	return found;
}

static void map_and_compare(const int *fds, size_t n, const uint8_t *want)
{
	uint8_t *m = ram_alloc(RAM);

	assert_int_equal(memfile_map_chain(m, RAM, fds, n), 0);
	assert_memory_equal(m, want, RAM);
	munmap(m, RAM);
}

static void test_full_snapshot(void **state)
{
	uint8_t *ram = ram_alloc(RAM), *m;
	struct memfile_info info, chk;
	uint64_t n = base_pages(ram), *bm = (uint64_t *)1;
	int fd = new_file("full");
	uint32_t crc;
	uint8_t page[PAGE];

	(void)state;
	assert_int_equal(memfile_write(fd, ram, RAM, NULL, NULL, &info), 0);
	assert_int_equal(info.ram_size, RAM);
	assert_false(info.diff);
	assert_int_equal(info.pages_written, n);
	assert_int_equal(info.data_bytes, n * PAGE);

	/* Sparse: what is allocated is about the data written, far below RAM. */
	printf("# full: %llu pages of data, %llu KiB allocated for %llu MiB of RAM\n",
	       (unsigned long long)n, (unsigned long long)allocated(fd) >> 10,
	       (unsigned long long)(RAM >> 20));
	assert_true(allocated(fd) >= n * PAGE);
	assert_true(allocated(fd) < n * PAGE + (1 << 20));
	/* Guest RAM offset = file offset. */
	assert_int_equal(pread(fd, page, PAGE, 1017 * PAGE), PAGE);
	assert_memory_equal(page, ram + 1017 * PAGE, PAGE);

	assert_int_equal(memfile_open_check(fd, &chk, &bm), 0);
	assert_null(bm);
	assert_memory_equal(chk.id, info.id, 16);
	assert_int_equal(chk.pages_written, n);
	assert_false(chk.diff);

	crc = file_crc(fd);
	m = ram_alloc(RAM);
	memset(m, 0x5a, RAM);
	assert_int_equal(memfile_map_chain(m, RAM, &fd, 1), 0);
	assert_memory_equal(m, ram, RAM);
	/* Holes are anonymous memory, data pages the file. */
	assert_true(mapped_from(m, 0, "/full"));
	assert_false(mapped_from(m, 500 * PAGE, "/full"));
	assert_true(mapped_from(m, 1039 * PAGE, "/full"));
	assert_false(mapped_from(m, 1040 * PAGE, "/full"));
	assert_true(mapped_from(m, 5000 * PAGE, "/full"));
	/* Copy-on-write: scribbling over every page leaves the file as it was. */
	for (uint64_t p = 0; p < NPAGES; p++)
		m[p * PAGE + (p % PAGE)] ^= 0xff;
	munmap(m, RAM);
	assert_int_equal(file_crc(fd), crc);
	map_and_compare(&fd, 1, ram);

	/* A second file written to the same fd starts empty: no stale data, new id. */
	memset(ram, 0, RAM);
	assert_int_equal(memfile_write(fd, ram, RAM, NULL, NULL, &chk), 0);
	assert_int_equal(chk.pages_written, 0);
	assert_memory_not_equal(chk.id, info.id, 16);
	assert_true(allocated(fd) <= 64 << 10);
	map_and_compare(&fd, 1, ram);
	close(fd);
	munmap(ram, RAM);
}

static void test_diff_snapshot(void **state)
{
	uint8_t *ram = ram_alloc(RAM), *m;
	uint64_t *dirty = calloc(memfile_bitmap_words(RAM), 8), *bm = NULL;
	struct memfile_info full, diff, diff2, chk;
	int fds[3] = { new_file("base"), new_file("diff1"), new_file("diff2") };
	uint32_t crc[3];
	uint64_t changed = 0;

	(void)state;
	base_pages(ram);
	assert_int_equal(memfile_write(fds[0], ram, RAM, NULL, NULL, &full), 0);

	/* Changes: a zero page gets data, data changes, a page of data becomes zero, a run. */
	fill_page(ram, 7);
	set_bit(dirty, 7);
	fill_page(ram, 1017);
	set_bit(dirty, 1017);
	memset(ram + 2211 * PAGE, 0, PAGE);
	set_bit(dirty, 2211);
	for (uint64_t p = 9000; p < 9003; p++) {
		fill_page(ram, p);
		set_bit(dirty, p);
	}
	set_bit(dirty, 12345);	/* marked dirty, still zero: stays a hole */
	changed = 1 + 1 + 3;
	assert_int_equal(memfile_write(fds[1], ram, RAM, dirty, full.id, &diff), 0);
	assert_true(diff.diff);
	assert_memory_equal(diff.parent_id, full.id, 16);
	assert_int_equal(diff.pages_written, changed);
	printf("# diff: %llu pages of data, %llu KiB allocated\n",
	       (unsigned long long)diff.pages_written, (unsigned long long)allocated(fds[1]) >> 10);
	assert_true(allocated(fds[1]) < 256 << 10);

	assert_int_equal(memfile_open_check(fds[1], &chk, &bm), 0);
	assert_true(chk.diff);
	assert_memory_equal(chk.id, diff.id, 16);
	assert_non_null(bm);
	assert_memory_equal(bm, dirty, memfile_bitmap_words(RAM) * 8);
	free(bm);

	map_and_compare(fds, 2, ram);

	/* A second diff on top of the first. */
	memset(dirty, 0, memfile_bitmap_words(RAM) * 8);
	memset(ram + 7 * PAGE, 0, PAGE);
	set_bit(dirty, 7);
	fill_page(ram, 2211);
	set_bit(dirty, 2211);
	fill_page(ram, NPAGES - 2);
	set_bit(dirty, NPAGES - 2);
	assert_int_equal(memfile_write(fds[2], ram, RAM, dirty, diff.id, &diff2), 0);
	assert_int_equal(diff2.pages_written, 2);

	for (int i = 0; i < 3; i++)
		crc[i] = file_crc(fds[i]);
	m = ram_alloc(RAM);
	assert_int_equal(memfile_map_chain(m, RAM, fds, 3), 0);
	assert_memory_equal(m, ram, RAM);
	memset(m, 0xee, RAM);
	munmap(m, RAM);
	for (int i = 0; i < 3; i++)
		assert_int_equal(file_crc(fds[i]), crc[i]);
	map_and_compare(fds, 3, ram);

	for (int i = 0; i < 3; i++)
		close(fds[i]);
	free(dirty);
	munmap(ram, RAM);
}

static void expect_chain_refused(const int *fds, size_t n, uint64_t ram, const char *words)
{
	uint8_t *m = ram_alloc(RAM);

	memset(m, 0x77, RAM);
	assert_int_equal(memfile_map_chain(m, ram, fds, n), SBX_ECORRUPT);
	if (!strstr(sbx_error(), words))
		fail_msg("message '%s' does not say '%s'", sbx_error(), words);
	/* Refused before the caller's mapping was touched. */
	for (uint64_t i = 0; i < RAM; i += 4093)
		assert_int_equal(m[i], 0x77);
	munmap(m, RAM);
}

static void expect_check_refused(int fd, int code, const char *words)
{
	struct memfile_info info;
	uint64_t *bm = (uint64_t *)1;
	int err = memfile_open_check(fd, &info, &bm);

	if (err != code)
		fail_msg("memfile_open_check gave %d (%s), expected %d", err, sbx_error(), code);
	assert_null(bm);
	assert_int_equal(info.ram_size, 0);
	if (words && !strstr(sbx_error(), words))
		fail_msg("message '%s' does not say '%s'", sbx_error(), words);
}

static void flip(int fd, uint64_t off)
{
	uint8_t b;

	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
}

static void test_refused(void **state)
{
	uint8_t *ram = ram_alloc(RAM);
	uint64_t *dirty = calloc(memfile_bitmap_words(RAM), 8);
	uint64_t bm_bytes = memfile_bitmap_words(RAM) * 8;
	struct memfile_info full, other, diff, small;
	int f = new_file("r-full"), o = new_file("r-other"), d = new_file("r-diff");
	int s = new_file("r-small"), t = new_file("r-trunc"), chain[3];
	uint32_t crc;

	(void)state;
	base_pages(ram);
	assert_int_equal(memfile_write(f, ram, RAM, NULL, NULL, &full), 0);
	assert_int_equal(memfile_write(o, ram, RAM, NULL, NULL, &other), 0);
	fill_page(ram, 3);
	set_bit(dirty, 3);
	assert_int_equal(memfile_write(d, ram, RAM, dirty, full.id, &diff), 0);
	assert_int_equal(memfile_write(s, ram, RAM / 2, NULL, NULL, &small), 0);

	/* Chains: the wrong parent, a diff first, a full file second, another RAM size. */
	chain[0] = o, chain[1] = d;
	expect_chain_refused(chain, 2, RAM, "diff of another snapshot");
	chain[0] = d;
	expect_chain_refused(chain, 1, RAM, "starts with a diff");
	chain[0] = f, chain[1] = o;
	expect_chain_refused(chain, 2, RAM, "not a diff");
	chain[0] = s;
	expect_chain_refused(chain, 1, RAM, "bytes of RAM");
	chain[0] = f;
	expect_chain_refused(chain, 1, RAM / 2, "bytes of RAM");
	chain[0] = f, chain[1] = d;
	map_and_compare(chain, 2, ram);

	/* Truncated anywhere (a few places), or grown: refused. */
	static const uint64_t cut[] = { 0, 1, PAGE, RAM, RAM + 1, RAM + PAGE - 1, RAM + PAGE + 8 };

	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		assert_int_equal(memfile_write(t, ram, RAM, NULL, NULL, &other), 0);
		assert_int_equal(ftruncate(t, (off_t)cut[i]), 0);
		expect_check_refused(t, SBX_ECORRUPT, cut[i] == RAM + PAGE + 8 ? NULL : "truncated");
	}
	assert_int_equal(memfile_write(t, ram, RAM, dirty, full.id, &other), 0);
	assert_int_equal(ftruncate(t, (off_t)(RAM + PAGE + bm_bytes - 8)), 0);
	expect_check_refused(t, SBX_ECORRUPT, NULL);
	chain[1] = t;
	expect_chain_refused(chain, 2, RAM, "memory file 2 of 2");

	/* Every byte of the trailer, and of a diff's bitmap, flipped: refused; restored: fine. */
	crc = file_crc(f);
	for (uint64_t off = RAM; off < RAM + PAGE; off++) {
		flip(f, off);
		expect_check_refused(f, SBX_ECORRUPT, NULL);
		flip(f, off);
	}
	assert_int_equal(file_crc(f), crc);
	for (uint64_t off = RAM; off < RAM + PAGE + bm_bytes; off += 7) {
		flip(d, off);
		expect_check_refused(d, SBX_ECORRUPT, NULL);
		flip(d, off);
	}
	chain[1] = d;
	map_and_compare(chain, 2, ram);

	/* Bad arguments. */
	assert_int_equal(memfile_write(t, ram, RAM - 1, NULL, NULL, &other), SBX_EINVAL);
	assert_int_equal(memfile_write(t, ram, 0, NULL, NULL, &other), SBX_EINVAL);
	assert_int_equal(memfile_write(t, ram, RAM, dirty, NULL, &other), SBX_EINVAL);
	assert_int_equal(memfile_map_chain(ram + 1, RAM, chain, 2), SBX_EINVAL);
	assert_int_equal(memfile_map_chain(ram, RAM, chain, 0), SBX_EINVAL);

	close(f), close(o), close(d), close(s), close(t);
	free(dirty);
	munmap(ram, RAM);
}

/* RAM that is not a multiple of 64 pages, and dirty bits past its end (ignored, not stored). */
static void test_odd_size(void **state)
{
	const uint64_t ram_size = 100 * PAGE;
	uint8_t *ram = ram_alloc(ram_size), *m = ram_alloc(ram_size);
	uint64_t dirty[2] = { 0, ~0ull }, *bm = NULL;
	struct memfile_info full, diff;
	int fds[2] = { new_file("odd-full"), new_file("odd-diff") };

	(void)state;
	memset(ram + 99 * PAGE, 1, PAGE);
	assert_int_equal(memfile_write(fds[0], ram, ram_size, NULL, NULL, &full), 0);
	memset(ram + 70 * PAGE, 2, PAGE);
	memset(ram + 99 * PAGE, 0, PAGE);
	assert_int_equal(memfile_write(fds[1], ram, ram_size, dirty, full.id, &diff), 0);
	assert_int_equal(diff.pages_written, 1);
	assert_int_equal(memfile_open_check(fds[1], &diff, &bm), 0);
	assert_true(bm[1] == (1ull << 36) - 1);
	free(bm);
	assert_int_equal(memfile_map_chain(m, ram_size, fds, 2), 0);
	assert_memory_equal(m, ram, ram_size);
	munmap(m, ram_size);
	munmap(ram, ram_size);
	close(fds[0]), close(fds[1]);
}

/* More runs than MEMFILE_MAX_MAPS: the rest are copied, with the same result. */
static void test_many_runs(void **state)
{
	uint8_t *ram = ram_alloc(RAM);
	uint64_t words = memfile_bitmap_words(RAM), *dirty = calloc(words, 8);
	struct memfile_info info[4];
	int fds[4] = { new_file("m0"), new_file("m1"), new_file("m2"), new_file("m3") };
	static const unsigned step[3][2] = { { 2, 0 }, { 2, 1 }, { 3, 0 } };
	uint64_t runs = 0;

	(void)state;
	base_pages(ram);
	assert_int_equal(memfile_write(fds[0], ram, RAM, NULL, NULL, &info[0]), 0);
	for (int d = 0; d < 3; d++) {
		memset(dirty, 0, words * 8);
		for (uint64_t p = step[d][1]; p < NPAGES; p += step[d][0]) {
			set_bit(dirty, p);
			ram[p * PAGE + d] = (uint8_t)(d + 1);
			runs++;
		}
		assert_int_equal(memfile_write(fds[d + 1], ram, RAM, dirty, info[d].id, &info[d + 1]), 0);
	}
	assert_true(runs > MEMFILE_MAX_MAPS);
	map_and_compare(fds, 4, ram);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	free(dirty);
	munmap(ram, RAM);
}

static void test_bitmap_helpers(void **state)
{
	uint64_t bm[5], start, len;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		uint64_t npages = 1 + rnd() % 320, count = 0, p, seen = 0;

		for (int w = 0; w < 5; w++) {
			uint64_t r = rnd();

			bm[w] = round % 3 == 0 ? r : round % 3 == 1 ? (r & rnd() & rnd()) : ~(r & rnd());
		}
		for (p = 0; p < npages; p++)
			count += memfile_bit(bm, p);
		assert_int_equal(memfile_bitmap_count(bm, npages), count);
		/* Runs, against a page-by-page walk. */
		for (p = 0; memfile_bitmap_next_run(bm, npages, p, &start, &len); p = start + len) {
			assert_true(start >= p && len > 0 && start + len <= npages);
			for (uint64_t q = p; q < start; q++)
				assert_false(memfile_bit(bm, q));
			for (uint64_t q = start; q < start + len; q++)
				assert_true(memfile_bit(bm, q));
			assert_true(start + len == npages || !memfile_bit(bm, start + len));
			seen += len;
		}
		for (uint64_t q = p; q < npages; q++)
			assert_false(memfile_bit(bm, q));
		assert_int_equal(seen, count);
	}

	uint8_t page[PAGE] = { 0 };

	assert_true(memfile_page_is_zero(page));
	for (size_t i = 0; i < PAGE; i += 509) {
		page[i] = 0x80;
		assert_false(memfile_page_is_zero(page));
		page[i] = 0;
	}
	page[PAGE - 1] = 1;
	assert_false(memfile_page_is_zero(page));
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_snapshot),
		cmocka_unit_test(test_diff_snapshot),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_odd_size),
		cmocka_unit_test(test_many_runs),
		cmocka_unit_test(test_bitmap_helpers),
	};

	return cmocka_run_group_tests_name("memfile", tests, setup, teardown);
}
