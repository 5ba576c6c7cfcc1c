// SPDX-License-Identifier: MIT
/*
 * Fuzz target: a qcow2 image from untrusted bytes.  The input becomes an
 * in-memory file (memfd); we open it read-only (header, extensions, L1),
 * read through L2 tables, subclusters and compressed clusters (deflate or
 * zstd) at the start, the end and offsets taken from the input, describe
 * it, check it, and open it writable to write, zero, discard and close it
 * (refcount rebuild).  Backing files are never opened.  Any error is fine;
 * a crash, a sanitizer report or a hang is a finding.
 */
#include "snapshot/qcow2.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int make_file(const uint8_t *data, size_t size, char *path, size_t plen)
{
	int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	snprintf(path, plen, "/proc/self/fd/%d", fd);
	return fd;
}

static void reads(struct qcow2 *q, const uint8_t *data, size_t size, uint8_t *buf)
{
	uint64_t disk = qcow2_size(q), off;
	size_t i;

	if (!disk)
		return;
	qcow2_read(q, buf, disk < 65536 ? (size_t)disk : 65536, 0);
	if (disk >= 65536)
		qcow2_read(q, buf, 65536, (disk - 65536) & ~511ULL);
	/* A few offsets chosen by the input (its last bytes). */
	for (i = 0; i + 8 <= size && i < 64; i += 8) {
		memcpy(&off, data + size - 8 - i, 8);
		off = (off % disk) & ~511ULL;
		qcow2_read(q, buf, disk - off < 8192 ? (size_t)(disk - off) : 8192, off);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct qcow2_check_result r;
	struct qcow2_info info;
	struct qcow2 *q = NULL;
	static uint8_t *buf;
	char path[64];
	int fd;

	if (size > (4 << 20))
		return 0;
	if (!buf && !(buf = malloc(65536)))
		return 0;
	fd = make_file(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	o.read_only = true;
	o.no_backing = true;
	o.l2_cache_bytes = 1;
	if (!qcow2_open(&q, path, &o)) {
		qcow2_get_info(q, &info);
		reads(q, data, size, buf);
		qcow2_close(q);
		q = NULL;
	}
	qcow2_check(path, false, &r);
	/* Writable: allocation, COW fills, zero flags, then the refcount rebuild. */
	o.read_only = false;
	if (!qcow2_open(&q, path, &o)) {
		uint64_t disk = qcow2_size(q);

		memset(buf, 0xa5, 8192);
		if (disk >= 8192) {
			qcow2_write(q, buf, 4096, 0);
			qcow2_write(q, buf, 8192, ((disk / 2) & ~511ULL) < disk - 8192 ?
				    (disk / 2) & ~511ULL : disk - 8192);
			qcow2_write_zeroes(q, 0, 1024);
			qcow2_discard(q, 0, disk < (1 << 20) ? disk & ~511ULL : 1 << 20);
			reads(q, data, size, buf);
		}
		qcow2_close(q);
	}
	close(fd);
	return 0;
}
