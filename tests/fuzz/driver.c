// SPDX-License-Identifier: MIT
/*
 * A stand-in for libFuzzer so every fuzz target also runs, briefly, in
 * `make check` with any compiler.  Links with a target that defines
 * LLVMFuzzerTestOneInput and:
 *   - runs each file named on the command line (or found in a directory
 *     named there) once: the seed corpus and past crashes;
 *   - then, for SBX_FUZZ_SECONDS (default 3) seconds, runs inputs made by
 *     mutating those seeds (bit flips, byte sets, interesting integers,
 *     truncation, splicing) with a fixed PRNG seed, so a run is repeatable.
 * Prints TAP.  A crash is a crash: the sanitizers or the signal report it.
 * For long runs build with --enable-fuzzing (clang) and use real libFuzzer.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seed {
	uint8_t *data;
	size_t size;
};

static struct seed *seeds;
static size_t nseeds, aseeds;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void add_seed(const char *path)
{
	struct stat st;
	FILE *f;

	if (stat(path, &st) || !S_ISREG(st.st_mode) || st.st_size > (16 << 20))
		return;
	if (nseeds == aseeds) {
		aseeds = aseeds ? 2 * aseeds : 64;
		seeds = realloc(seeds, aseeds * sizeof(*seeds));
		if (!seeds)
			abort();
	}
	seeds[nseeds].size = (size_t)st.st_size;
	seeds[nseeds].data = malloc(seeds[nseeds].size + 1);
	f = fopen(path, "rb");
	if (!f || !seeds[nseeds].data ||
	    fread(seeds[nseeds].data, 1, seeds[nseeds].size, f) != seeds[nseeds].size) {
		fprintf(stderr, "fuzz-driver: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	nseeds++;
}

static void add_path(const char *path)
{
	struct dirent *e;
	DIR *d = opendir(path);
	char buf[4096];

	if (!d) {
		add_seed(path);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(buf, sizeof(buf), "%s/%s", path, e->d_name);
		add_seed(buf);
	}
	closedir(d);
}

static size_t mutate(uint8_t *buf, size_t size, size_t cap)
{
	static const uint64_t interesting[] = {
		0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
		0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ULL, ~0ULL, ~0ULL >> 1,
	};
	int n = 1 + (int)(next() % 8), i;

	for (i = 0; i < n; i++) {
		size_t pos = size ? next() % size : 0;

		switch (next() % 6) {
		case 0:
			if (size)
				buf[pos] ^= (uint8_t)(1u << (next() % 8));
			break;
		case 1:
			if (size)
				buf[pos] = (uint8_t)next();
			break;
		case 2: {
			uint64_t v = interesting[next() % (sizeof(interesting) / sizeof(interesting[0]))];
			size_t w = (size_t)1 << (next() % 4);

			if (pos + w <= size)
				memcpy(buf + pos, &v, w);
			break;
		}
		case 3:
			size = size ? next() % (size + 1) : 0;
			break;
		case 4:
			if (nseeds) {
				const struct seed *s = &seeds[next() % nseeds];
				size_t from = s->size ? next() % s->size : 0;
				size_t len = s->size - from;

				if (pos + len > cap)
					len = cap - pos;
				memcpy(buf + pos, s->data + from, len);
				if (pos + len > size)
					size = pos + len;
			}
			break;
		default:
			if (size < cap) {
				size_t grow = 1 + next() % 64;

				if (size + grow > cap)
					grow = cap - size;
				for (size_t k = 0; k < grow; k++)
					buf[size + k] = (uint8_t)next();
				size += grow;
			}
			break;
		}
	}
	return size;
}

int main(int argc, char **argv)
{
	const char *env = getenv("SBX_FUZZ_SECONDS");
	double seconds = env ? atof(env) : 3;
	size_t cap = 1 << 20, i, runs = 0;
	struct timespec t0, now;
	uint8_t *buf;
	int a;

	for (a = 1; a < argc; a++)
		if (argv[a][0] != '-')
			add_path(argv[a]);
	for (i = 0; i < nseeds; i++) {
		LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].size);
		runs++;
	}
	printf("ok 1 - %zu seed inputs\n", nseeds);
	buf = malloc(cap);
	if (!buf)
		abort();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		size_t size = 0;

		if (nseeds) {
			const struct seed *s = &seeds[next() % nseeds];

			size = s->size < cap ? s->size : cap;
			memcpy(buf, s->data, size);
		}
		size = mutate(buf, size, cap);
		LLVMFuzzerTestOneInput(buf, size);
		runs++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
	printf("ok 2 - %zu inputs in %.1f s without a crash\n1..2\n", runs, seconds);
	free(buf);
	return 0;
}
