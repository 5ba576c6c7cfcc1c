// SPDX-License-Identifier: MIT
/*
 * memfile-bench: how long writing and mapping guest RAM takes
 * (snapshot/memfile.c).  Built by make check, never run by it.
 *
 *   memfile-bench <dir> [<RAM MiB> [<percent of pages with data> [<percent dirty>]]]
 *
 * Defaults 512 MiB, 5 % and 1 %.  RAM is anonymous memory with every page
 * touched (as a booted guest's is), data pages scattered in runs of 1..16.
 * Prints one line per step: a full write, a diff write of the dirty pages,
 * mapping [full, diff], and reading every mapped page; with the time, the
 * pages written and the bytes allocated on disk.
 */
#include "snapshot/memfile.h"
#include "util/error.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned long long alloc_kib(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : (unsigned long long)st.st_blocks / 2;
}

static int open_new(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		perror(path);
	else
		unlink(path);
	return fd;
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 512;
	double pct = argc > 3 ? atof(argv[3]) : 5, dpct = argc > 4 ? atof(argv[4]) : 1, t;
	uint64_t ram_size = mib << 20, npages = ram_size / MEMFILE_PAGE, *dirty, p;
	struct memfile_info full, diff;
	volatile uint64_t sum = 0;
	uint8_t *ram, *m;
	int fds[2];

	if (argc < 2 || !mib) {
		fprintf(stderr, "usage: memfile-bench <dir> [<RAM MiB> [<%% data> [<%% dirty>]]]\n");
		return 129;
	}
	fds[0] = open_new(argv[1], "bench-full");
	fds[1] = open_new(argv[1], "bench-diff");
	ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dirty = calloc(memfile_bitmap_words(ram_size), 8);
	if (fds[0] < 0 || fds[1] < 0 || ram == MAP_FAILED || m == MAP_FAILED || !dirty)
		return 1;
	memset(ram, 0, ram_size);	/* every page touched, as in a running guest */
	for (p = 0; p < npages;) {
		uint64_t run = 1 + rnd() % 16;

		if ((double)(rnd() % 10000) < pct * 100)	/* data and gap runs alike long */
			for (; run && p < npages; run--, p++)
				memset(ram + p * MEMFILE_PAGE, (int)(1 + p % 255), MEMFILE_PAGE);
		else
			p += run;
	}

	t = now();
	if (memfile_write(fds[0], ram, ram_size, NULL, NULL, &full)) {
		fprintf(stderr, "full: %s\n", sbx_error());
		return 1;
	}
	printf("full write: %.3f s, %llu MiB RAM, %llu pages of data (%.1f %%), %llu KiB on disk\n",
	       now() - t, (unsigned long long)mib, (unsigned long long)full.pages_written,
	       100.0 * (double)full.pages_written / (double)npages, alloc_kib(fds[0]));

	for (p = 0; p < npages; p++)
		if ((double)(rnd() % 10000) < dpct * 100) {
			dirty[p / 64] |= 1ull << (p % 64);
			ram[p * MEMFILE_PAGE + 8] ^= 0x5a;
		}
	t = now();
	if (memfile_write(fds[1], ram, ram_size, dirty, full.id, &diff)) {
		fprintf(stderr, "diff: %s\n", sbx_error());
		return 1;
	}
	printf("diff write: %.3f s, %llu pages of data (%.2f %% of RAM), %llu KiB on disk\n",
	       now() - t, (unsigned long long)diff.pages_written,
	       100.0 * (double)diff.pages_written / (double)npages, alloc_kib(fds[1]));

	t = now();
	if (memfile_map_chain(m, ram_size, fds, 2)) {
		fprintf(stderr, "map: %s\n", sbx_error());
		return 1;
	}
	printf("map [full, diff]: %.3f s\n", now() - t);
	t = now();
	for (p = 0; p < npages; p++)
		sum += m[p * MEMFILE_PAGE + 8];
	printf("first read of every page: %.3f s (page cache warm)\n", now() - t);
	if (memcmp(m, ram, ram_size)) {
		fprintf(stderr, "mapped RAM differs\n");
		return 1;
	}
	return 0;
}
