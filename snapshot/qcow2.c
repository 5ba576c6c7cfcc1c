// SPDX-License-Identifier: MIT
/* qcow2 images: open a backing chain (writable top, read-only below), close, describe. */
#include "snapshot/qcow2-int.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_DEPTH 32

void qcow2_free(struct qcow2 *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	l2_cache_free(q);
	qcow2_compress_free(q);
	free(q->l1);
	free(q->l1_dirty);
	free(q->free);
	free(q->pend);
	free(q->head_buf);
	free(q->tail_buf);
	free(q->zero_buf);
	free(q->backing_file);
	free(q->backing_fmt);
	free(q->path);
	free(q);
}

static int open_fmt(struct qcow2 **out, const char *path, int fd, const struct qcow2_open_opts *o,
		    unsigned depth, struct qcow2 *above, enum qcow2_fmt fmt);

static int open_backing(struct qcow2 *q, const struct qcow2_open_opts *o)
{
	enum qcow2_fmt fmt;
	const char *slash = strrchr(q->path, '/');
	char *full = NULL;
	int err;

	if (!q->backing_fmt)
		return sbx_error_set(SBX_EUNSUPPORTED, "'%s' names backing file '%s' without a format; "
				     "format probing is unsafe (qemu-img rebase -u -F <fmt> adds one)",
				     q->path, q->backing_file);
	if (!strcmp(q->backing_fmt, "qcow2"))
		fmt = FMT_QCOW2;
	else if (!strcmp(q->backing_fmt, "raw"))
		fmt = FMT_RAW;
	else
		return sbx_error_set(SBX_EUNSUPPORTED, "backing format '%s' of '%s' is not supported "
				     "(qcow2 and raw are)", q->backing_fmt, q->path);
	if (q->backing_file[0] != '/' && slash &&
	    asprintf(&full, "%.*s/%s", (int)(slash - q->path), q->path, q->backing_file) < 0)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = open_fmt(&q->backing, full ? full : q->backing_file, -1, o, q->depth + 1, q, fmt);
	free(full);
	if (err == SBX_ENOTFOUND || err == SBX_EIO)
		err = sbx_error_prefix(err, "backing file of '%s'", q->path);
	return err;
}

/*
 * fd >= 0: the file is that descriptor (opened with the access the layer
 * needs), not opened by path; on failure it is left open, the caller's.
 */
static int open_fmt(struct qcow2 **out, const char *path, int fd, const struct qcow2_open_opts *o,
		    unsigned depth, struct qcow2 *above, enum qcow2_fmt fmt)
{
	struct flock lk = { .l_whence = SEEK_SET };
	unsigned max_depth = o->max_depth ? o->max_depth : DEFAULT_MAX_DEPTH;
	uint8_t *c0 = NULL;
	struct qcow2 *q, *a;
	struct stat st;
	size_t c0len;
	int err = 0;

	*out = NULL;
	if (depth > max_depth)
		return sbx_error_set(SBX_ELIMIT, "backing chain deeper than %u layers at '%s'",
				     max_depth, path);
	q = calloc(1, sizeof(*q));
	if (!q || !(q->path = strdup(path))) {
		free(q);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	q->fmt = fmt;
	q->depth = depth;
	q->above = above;
	q->io = o->io ? o->io : &qcow2_default_io;
	q->io_ctx = o->io_ctx;
	q->read_only = o->read_only || depth > 0;
	q->dbuf_coff = UINT64_MAX;
	q->fd = fd >= 0 ? fd : open(path, (q->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (q->fd < 0) {
		err = sbx_error_errno(errno == ENOENT ? SBX_ENOTFOUND : SBX_EIO, "cannot open '%s'", path);
		goto out;
	}
	lk.l_type = q->read_only ? F_RDLCK : F_WRLCK;
	if (fcntl(q->fd, F_OFD_SETLK, &lk)) {
		err = sbx_error_set(SBX_ELOCKED, "'%s' is in use by another process", path);
		goto out;
	}
	if (fstat(q->fd, &st)) {
		err = sbx_error_errno(SBX_EIO, "cannot stat '%s'", path);
		goto out;
	}
	q->dev = st.st_dev;
	q->ino = st.st_ino;
	for (a = above; a; a = a->above)
		if (a->dev == q->dev && a->ino == q->ino) {
			err = SBX_CORRUPT("backing chain of '%s' loops back to itself", path);
			goto out;
		}
	q->file_size = (uint64_t)st.st_size;
	if (fmt == FMT_RAW) {
		q->size = q->file_size;
		goto out;
	}
	/* The header cluster: its size is in the first sector. */
	c0 = calloc(1, 512);
	if (!c0) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = qio_pread(q, c0, 512, 0)))
		goto out;
	memcpy(q->hdr, c0, sizeof(q->hdr));
	c0len = 512;
	if (get_be32(c0) == QCOW2_MAGIC && get_be32(c0 + 20) > 9 &&
	    get_be32(c0 + 20) <= QCOW2_MAX_CLUSTER_BITS) {
		c0len = (size_t)1 << get_be32(c0 + 20);
		free(c0);
		if (!(c0 = malloc(c0len))) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		if ((err = qio_pread(q, c0, c0len, 0)))
			goto out;
	}
	if (q->file_size < QCOW2_HDR_V3) {
		err = SBX_CORRUPT("'%s' is too short for a qcow2 image", path);
		goto out;
	}
	if ((err = qcow2_parse_header(q, c0, c0len)))
		goto out;
	if (!q->read_only) {
		if (q->incompat & INCOMPAT_CORRUPT) {
			err = sbx_error_set(SBX_ECORRUPT, "'%s' is marked corrupt; repair it with "
					    "qemu-img check -r all first", path);
			goto out;
		}
		if (q->nb_snapshots || q->has_bitmaps) {
			err = sbx_error_set(SBX_EUNSUPPORTED, "'%s' has %s; such images can only be "
					    "opened read-only", path,
					    q->nb_snapshots ? "internal snapshots" : "persistent bitmaps");
			goto out;
		}
		q->head_buf = malloc(q->cluster_size);
		q->tail_buf = malloc(q->cluster_size);
		if (!q->head_buf || !q->tail_buf) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
	}
	if ((err = qcow2_load_l1(q)) || (err = l2_cache_init(q, o->l2_cache_bytes)))
		goto out;
	q->dirty_on_disk = q->incompat & INCOMPAT_DIRTY;
	if (!q->read_only && q->dirty_on_disk && !o->no_repair) {
		pr_debug("'%s' was not closed cleanly; rebuilding its refcounts", path);
		if ((err = qcow2_rebuild_refcounts(q)))
			goto out;
	}
	if ((err = qcow2_load_free(q)))
		goto out;
	if (q->backing_file && !o->no_backing)
		err = open_backing(q, o);
out:
	free(c0);
	if (err) {
		qcow2_close(q->backing);
		q->backing = NULL;
		if (fd >= 0)
			q->fd = -1;	/* still the caller's */
		qcow2_free(q);
		return err;
	}
	*out = q;
	return 0;
}

int qcow2_open_layer(struct qcow2 **out, const char *path, const struct qcow2_open_opts *o,
		     unsigned depth, struct qcow2 *above)
{
	return open_fmt(out, path, -1, o, depth, above, FMT_QCOW2);
}

int qcow2_open_layer_fd(struct qcow2 **out, int fd, const char *name,
			const struct qcow2_open_opts *o, unsigned depth, struct qcow2 *above)
{
	return open_fmt(out, name, fd, o, depth, above, FMT_QCOW2);
}

int qcow2_open(struct qcow2 **out, const char *path, const struct qcow2_open_opts *opts)
{
	struct qcow2_open_opts def = QCOW2_OPEN_OPTS_INIT;

	return open_fmt(out, path, -1, opts ? opts : &def, 0, NULL, FMT_QCOW2);
}

int qcow2_close(struct qcow2 *q)
{
	int err = 0, e2;

	if (!q)
		return 0;
	if (q->fmt == FMT_QCOW2 && !q->read_only) {
		if (q->broken)
			err = sbx_error_set(SBX_EIO, "'%s' had a write error; it stays dirty and is "
					    "repaired on the next open", q->path);
		else if (!(err = qcow2_flush(q)) && q->dirty_on_disk)
			err = qcow2_rebuild_refcounts(q);
	}
	e2 = qcow2_close(q->backing);
	if (!err)
		err = e2;
	qcow2_free(q);
	return err;
}

uint64_t qcow2_size(const struct qcow2 *q)
{
	return q->size;
}

void qcow2_get_info(const struct qcow2 *q, struct qcow2_info *info)
{
	const struct qcow2 *b;
	struct stat st;

	memset(info, 0, sizeof(*info));
	info->size = q->size;
	info->cluster_bits = q->cluster_bits;
	info->extended_l2 = q->extl2;
	info->dirty = q->incompat & INCOMPAT_DIRTY;
	info->corrupt = q->incompat & INCOMPAT_CORRUPT;
	info->lazy_refcounts = q->compat & COMPAT_LAZY;
	info->compression_type = q->compression_type;
	info->refcount_bits = 1u << q->refcount_order;
	info->nb_snapshots = q->nb_snapshots;
	if (q->backing_file)
		snprintf(info->backing_file, sizeof(info->backing_file), "%s", q->backing_file);
	if (q->backing_fmt)
		snprintf(info->backing_format, sizeof(info->backing_format), "%s", q->backing_fmt);
	if (!fstat(q->fd, &st)) {
		info->file_bytes = (uint64_t)st.st_size;
		info->disk_bytes = (uint64_t)st.st_blocks * 512;
	}
	for (b = q->backing; b; b = b->backing)
		info->depth++;
}
