/* SPDX-License-Identifier: MIT */
/*
 * Disks for people and tests (`git sbx disk ...`): the thin layer between
 * cmd/ and snapshot/qcow2, which cmd/ may not include.
 */
#ifndef SBX_SBX_DISK_H
#define SBX_SBX_DISK_H

#include <stdbool.h>
#include <stdint.h>

struct sbx_disk_create_opts {
	uint64_t size;			/* bytes; 0 with a backing file: its size */
	uint64_t cluster_size;		/* 0: 64 KiB */
	bool subclusters;		/* extended L2 entries */
	const char *backing;		/* relative to the new image's directory */
	const char *backing_format;	/* "qcow2" (default with a backing file) or "raw" */
};
#define SBX_DISK_CREATE_OPTS_INIT { 0, 0, false, NULL, NULL }

int sbx_disk_create(const char *path, const struct sbx_disk_create_opts *opts);

struct sbx_disk_info {
	uint64_t size;
	uint64_t cluster_size;
	bool subclusters;
	bool dirty, corrupt, lazy_refcounts;
	const char *compression;	/* "zlib" or "zstd" */
	unsigned refcount_bits;
	uint32_t snapshots;
	char backing[1024];
	char backing_format[32];
	uint64_t file_bytes, disk_bytes;
};

/* Describe one image (its backing file is not opened). */
int sbx_disk_info(const char *path, struct sbx_disk_info *info);

struct sbx_disk_check {
	uint64_t corruptions, leaks, stale_refcounts, repaired;
	uint64_t allocated_clusters, total_clusters, compressed_clusters;
	uint64_t image_end_offset;
	bool dirty;
	char first_error[256];
};

/* Check one image; with repair, fix leaks and stale lazy refcounts (never corruption). */
int sbx_disk_check(const char *path, bool repair, struct sbx_disk_check *res);
/* Rewrite an image zstd-compressed and read-only, in place (out NULL) or to out. */
int sbx_disk_seal(const char *path, const char *out);
/* Merge the chain of `top` above `base` (NULL: all of it) into a new image `out`. */
int sbx_disk_squash(const char *top, const char *base, const char *out);

#endif
