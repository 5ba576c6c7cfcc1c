/* SPDX-License-Identifier: MIT */
/* Helpers shared by the qcow2 tests: scratch directories, qemu-img, patterns. */
#ifndef SBX_TEST_QCOW2_UTIL_H
#define SBX_TEST_QCOW2_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tq_dir[256];

static inline const char *tq_qemu_img(void)
{
	const char *q = getenv("QEMU_IMG");

	return q && *q ? q : "qemu-img";
}

static inline bool tq_have_qemu_img(void)
{
	static int have = -1;
	char cmd[512];

	if (have < 0) {
		snprintf(cmd, sizeof(cmd), "%s --version >/dev/null 2>&1", tq_qemu_img());
		have = system(cmd) == 0;
	}
	return have;
}

/* A fresh scratch directory (removed by tq_cleanup). */
static inline const char *tq_mkdir(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tq_dir, sizeof(tq_dir), "%s/sbx-qcow2.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tq_dir)) {
		perror("mkdtemp");
		abort();
	}
	return tq_dir;
}

static inline void tq_cleanup(void)
{
	char cmd[400];

	if (tq_dir[0] && !getenv("SBX_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tq_dir);
		if (system(cmd))
			fprintf(stderr, "# cannot remove %s\n", tq_dir);
	}
	tq_dir[0] = 0;
}

static inline char *tq_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tq_dir, name);
	return buf;
}

/* Run a shell command (printf-style); returns its exit status, output to *out if given. */
static inline int tq_sh(char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline int tq_sh(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	FILE *p;
	size_t n = 0;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (out && outlen) {
		while (n + 1 < outlen) {
			size_t r = fread(out + n, 1, outlen - 1 - n, p);

			if (!r)
				break;
			n += r;
		}
		out[n] = 0;
	} else {
		char sink[512];

		while (fread(sink, 1, sizeof(sink), p))
			;
	}
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

/*
 * A deterministic pattern: 512-byte sectors tagged with (tag, sector), the
 * rest pseudo-random, or (tags with TQ_TEXT) compressible.
 */
#define TQ_TEXT 0x80000000u
static inline void tq_pattern(uint8_t *buf, size_t len, uint64_t off, uint32_t tag)
{
	size_t i;

	for (i = 0; i < len; i += 512) {
		uint64_t sec = (off + i) / 512, x = sec * 0x9e3779b97f4a7c15ULL ^ tag;
		size_t j;

		for (j = 0; j < 512; j += 8) {
			if (tag & TQ_TEXT) {
				memcpy(buf + i + j, "sbx-qcow", 8);
				continue;
			}
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(buf + i + j, &x, 8);
		}
		memcpy(buf + i, &tag, 4);
		memcpy(buf + i + 4, &sec, 8);
	}
}

#endif
