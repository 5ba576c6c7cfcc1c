// SPDX-License-Identifier: MIT
/*
 * disk-bench: drive a disk image through the block-backend interface
 * (util/blockdev.h), as virtio-blk does, and print one line of numbers.
 *
 *   disk-bench <raw|qcow2> <file> write-rand <count> [<stride>]
 *   disk-bench <raw|qcow2> <file> read-rand <count>
 *   disk-bench <raw|qcow2> <file> write-seq <MiB>
 *
 * write-rand writes <count> 4 KiB blocks at random 4 KiB-aligned offsets
 * (or, with <stride>, at 0, stride, 2*stride, ...); read-rand reads them
 * back at random; write-seq writes 1 MiB blocks from offset 0.  Writes end
 * with a flush, which is timed.  Output: "<MiB/s> <ops/s> <seconds> <close seconds>"
 * (closing a written qcow2 image rebuilds its refcounts).
 */
#include "util/blockdev.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int main(int argc, char **argv)
{
	struct blockdev *bd = NULL;
	uint64_t count, stride = 0, i, bs;
	bool write, seq;
	uint8_t *buf;
	double t0, t;
	int err;

	if (argc < 5) {
		fprintf(stderr, "usage: disk-bench <raw|qcow2> <file> write-rand|read-rand|write-seq <n> [<stride>]\n");
		return 129;
	}
	write = strcmp(argv[3], "read-rand");
	seq = !strcmp(argv[3], "write-seq");
	count = strtoull(argv[4], NULL, 0);
	if (argc > 5)
		stride = strtoull(argv[5], NULL, 0);
	err = !strcmp(argv[1], "raw") ? blockdev_open_raw(&bd, argv[2], !write)
				      : blockdev_open_qcow2(&bd, argv[2], !write);
	if (err) {
		fprintf(stderr, "disk-bench: %s\n", sbx_error());
		return 1;
	}
	bs = seq ? 1 << 20 : 4096;
	buf = aligned_alloc(4096, bs);
	if (!buf)
		return 1;
	for (i = 0; i < bs; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	t0 = now();
	for (i = 0; i < count; i++) {
		struct iovec v = { buf, bs };
		uint64_t off = seq ? i * bs : stride ? i * stride : (rnd() % (bd->size / 4096)) * 4096;

		if (off + bs > bd->size) {
			fprintf(stderr, "disk-bench: the disk is too small\n");
			return 1;
		}
		memcpy(buf, &i, sizeof(i));
		err = write ? bd->ops->pwritev(bd, &v, 1, off) : bd->ops->preadv(bd, &v, 1, off);
		if (err) {
			fprintf(stderr, "disk-bench: %s\n", sbx_error());
			return 1;
		}
	}
	if (write && bd->ops->flush(bd)) {
		fprintf(stderr, "disk-bench: flush: %s\n", sbx_error());
		return 1;
	}
	t = now() - t0;
	t0 = now();
	if (blockdev_close(bd)) {
		fprintf(stderr, "disk-bench: close: %s\n", sbx_error());
		return 1;
	}
	printf("%.1f %.0f %.3f %.3f\n", (double)(count * bs) / t / (1 << 20), (double)count / t, t,
	       now() - t0);
	free(buf);
	return 0;
}
