// SPDX-License-Identifier: MIT
/* Disks for `git sbx disk`: snapshot/qcow2 behind a cmd-facing interface. */
#include "sbx/disk.h"
#include "snapshot/qcow2.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

int sbx_disk_create(const char *path, const struct sbx_disk_create_opts *opts)
{
	struct qcow2_create_opts o = QCOW2_CREATE_OPTS_INIT;
	uint64_t cs = opts->cluster_size ? opts->cluster_size : 65536;

	if (cs & (cs - 1) || cs < 512 || cs > (2u << 20))
		return sbx_error_set(SBX_EINVAL, "cluster size must be a power of two from 512 "
				     "bytes to 2 MiB");
	o.cluster_bits = (unsigned)__builtin_ctzll(cs);
	o.size = opts->size;
	o.extended_l2 = opts->subclusters;
	o.backing_file = opts->backing;
	o.backing_format = opts->backing ? (opts->backing_format ? opts->backing_format : "qcow2")
					 : NULL;
	if (!opts->size && !opts->backing)
		return sbx_error_set(SBX_EINVAL, "a disk needs a size or a backing file");
	return qcow2_create(path, &o);
}

int sbx_disk_info(const char *path, struct sbx_disk_info *info)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct qcow2_info qi;
	struct qcow2 *q = NULL;
	int err;

	o.read_only = true;
	o.no_backing = true;
	if ((err = qcow2_open(&q, path, &o)))
		return err;
	qcow2_get_info(q, &qi);
	qcow2_close(q);
	memset(info, 0, sizeof(*info));
	info->size = qi.size;
	info->cluster_size = 1ULL << qi.cluster_bits;
	info->subclusters = qi.extended_l2;
	info->dirty = qi.dirty;
	info->corrupt = qi.corrupt;
	info->lazy_refcounts = qi.lazy_refcounts;
	info->compression = qi.compression_type ? "zstd" : "zlib";
	info->refcount_bits = qi.refcount_bits;
	info->snapshots = qi.nb_snapshots;
	snprintf(info->backing, sizeof(info->backing), "%s", qi.backing_file);
	snprintf(info->backing_format, sizeof(info->backing_format), "%s", qi.backing_format);
	info->file_bytes = qi.file_bytes;
	info->disk_bytes = qi.disk_bytes;
	return 0;
}

int sbx_disk_check(const char *path, bool repair, struct sbx_disk_check *res)
{
	struct qcow2_check_result r;
	int err = qcow2_check(path, repair, &r);

	memset(res, 0, sizeof(*res));
	if (err)
		return err;
	res->corruptions = r.corruptions;
	res->leaks = r.leaks;
	res->stale_refcounts = r.stale_refcounts;
	res->repaired = r.repaired;
	res->allocated_clusters = r.allocated_clusters;
	res->total_clusters = r.total_clusters;
	res->compressed_clusters = r.compressed_clusters;
	res->image_end_offset = r.image_end_offset;
	res->dirty = r.dirty;
	snprintf(res->first_error, sizeof(res->first_error), "%s", r.first_error);
	return 0;
}

int sbx_disk_seal(const char *path, const char *out)
{
	return qcow2_seal(path, out);
}

int sbx_disk_squash(const char *top, const char *base, const char *out)
{
	return qcow2_squash(top, base, out);
}
