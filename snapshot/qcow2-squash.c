// SPDX-License-Identifier: MIT
/*
 * Offline rewrites: squash (merge the layers above a base into one image)
 * and seal (rewrite one layer with its full clusters zstd-compressed, then
 * make it read-only).  Both write a new file and never touch their inputs
 * until the result is complete and synced.
 */
#include "snapshot/qcow2-int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Does any byte of [off, off+len) have a state of its own in layer l (not "ask below")? */
static int layer_decides(struct qcow2 *l, uint64_t off, uint64_t len, bool *yes)
{
	uint64_t end = off + len;
	int err;

	*yes = false;
	if (l->fmt == FMT_RAW) {
		*yes = off < l->size;
		return 0;
	}
	if (off >= l->size)
		return 0;
	if (end > l->size)
		end = l->size;
	while (off < end) {
		uint64_t c = off >> l->cluster_bits, in = off & (l->cluster_size - 1);
		uint64_t n = end - off < l->cluster_size - in ? end - off : l->cluster_size - in;
		unsigned s, last = (unsigned)((in + n - 1) >> l->sc_bits);
		struct clmap m;

		if ((err = cluster_lookup(l, c, &m)))
			return err;
		if (m.compressed) {
			*yes = true;
			return 0;
		}
		for (s = (unsigned)(in >> l->sc_bits); s <= last; s++)
			if (((m.alloc | m.zero) >> s) & 1) {
				*yes = true;
				return 0;
			}
		off += n;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
}

/* The name to record for `target` (as `from` named it) in an image written at `out`. */
static int backing_name_for(const char *out, const char *from_image, const char *name,
			    const char *target, char **res)
{
	char *d1 = dir_of(out), *d2 = dir_of(from_image), r1[PATH_MAX], r2[PATH_MAX];
	int err = 0;

	*res = NULL;
	if (!d1 || !d2) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
	} else if (name[0] == '/' || (realpath(d1, r1) && realpath(d2, r2) && !strcmp(r1, r2))) {
		*res = strdup(name);
	} else if (realpath(target, r1)) {
		*res = strdup(r1);
	} else {
		err = sbx_error_errno(SBX_ENOTFOUND, "cannot resolve '%s'", target);
	}
	if (!err && !*res)
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
	free(d1);
	free(d2);
	return err;
}

int qcow2_squash(const char *top, const char *base, const char *out)
{
	return qcow2_squash_named(top, base, NULL, out);
}

int qcow2_squash_named(const char *top, const char *base, const char *name, const char *out)
{
	struct qcow2_open_opts ro = QCOW2_OPEN_OPTS_INIT, rw = QCOW2_OPEN_OPTS_INIT;
	struct qcow2_create_opts co = QCOW2_CREATE_OPTS_INIT;
	struct qcow2 *src = NULL, *dst = NULL, *b = NULL, *l, *above_base = NULL;
	char *bname = NULL;
	uint8_t *buf = NULL;
	uint64_t c, ncl;
	struct stat st;
	int err;

	ro.read_only = true;
	if ((err = qcow2_open(&src, top, &ro)))
		return err;
	if (base) {
		if (stat(base, &st)) {
			err = sbx_error_errno(SBX_ENOTFOUND, "cannot stat '%s'", base);
			goto out;
		}
		for (l = src; l && !b; l = l->backing) {
			if (l->backing && l->backing->dev == st.st_dev && l->backing->ino == st.st_ino) {
				above_base = l;
				b = l->backing;
			}
		}
		if (!b) {
			err = sbx_error_set(SBX_EINVAL, "'%s' is not below '%s' in its backing chain",
					    base, top);
			goto out;
		}
		if (name && !(bname = strdup(name))) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		if (!name && (err = backing_name_for(out, above_base->path,
						     above_base->backing_file, b->path, &bname)))
			goto out;
		co.backing_file = bname;
		co.backing_format = above_base->backing_fmt;
	}
	co.size = src->size;
	co.cluster_bits = src->cluster_bits;
	co.extended_l2 = src->extl2;
	if ((err = qcow2_create(out, &co)))
		goto out;
	rw.no_backing = true;
	if ((err = qcow2_open(&dst, out, &rw)))
		goto out;
	buf = malloc(src->cluster_size);
	if (!buf) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	ncl = (src->size + src->cluster_size - 1) >> src->cluster_bits;
	for (c = 0; c < ncl && !err; c++) {
		uint64_t off = c << src->cluster_bits, len = src->cluster_size, scs, x;

		if (len > src->size - off)
			len = src->size - off;
		scs = 1ULL << src->sc_bits;
		for (x = 0; x < len && !err; x += scs) {
			uint64_t n = len - x < scs ? len - x : scs;
			bool dec = false;

			for (l = src; l && l != b && !dec && !err; l = l->backing)
				err = layer_decides(l, off + x, n, &dec);
			if (err || !dec)
				continue;
			if ((err = qcow2_read(src, buf + x, (size_t)n, off + x)))
				break;
			if (!all_zero(buf + x, (size_t)n))
				err = qcow2_write(dst, buf + x, (size_t)n, off + x);
			else if (b)
				err = qcow2_write_zeroes(dst, off + x, n);
		}
	}
out:
	if (dst) {
		int e2 = qcow2_close(dst);

		if (!err)
			err = e2;
	}
	if (err && dst)
		unlink(out);
	qcow2_close(src);
	free(bname);
	free(buf);
	return err;
}

/* Store one full cluster compressed: packed byte-wise after the previous one. */
static int write_compressed(struct qcow2 *q, uint64_t c, const uint8_t *data, size_t len,
			    uint64_t *pos, uint64_t *end)
{
	uint64_t idx = c & ((1ULL << q->l2_bits) - 1), nsect;
	struct l2_slot *s;
	struct clmap m = { 0 };
	int err;

	if ((err = qcow2_mark_dirty(q)) || (err = l2_get(q, c >> q->l2_bits, true, &s)))
		return err;
	if (*pos + len > *end) {
		if (*end != q->alloc_next)	/* something else was appended: start afresh */
			*pos = *end = q->alloc_next;
		while (*pos + len > *end) {
			if (!qcow2_alloc_append(q))
				return sbx_error_set(SBX_ELIMIT, "image full");
			*end = q->alloc_next;
		}
	}
	if ((err = qcow2_flush_pending(q)) || (err = qio_pwrite(q, data, len, *pos)))
		return err;
	q->data_unsynced = true;
	nsect = ((*pos + len - 1) >> 9) - (*pos >> 9);
	m.compressed = true;
	m.coff = *pos;
	m.clen = (nsect + 1) * 512 - (*pos & 511);
	l2_encode(q, s->buf, idx, &m);
	s->dirty = true;
	*pos += len;
	return 0;
}

static int seal_cluster(struct qcow2 *src, struct qcow2 *dst, uint64_t c, uint8_t *buf,
			uint8_t *zbuf, void *cctx, uint64_t *pos, uint64_t *end)
{
	uint64_t off = c << src->cluster_bits, scs = 1ULL << src->sc_bits, x;
	uint64_t lim = src->size - off < src->cluster_size ? src->size - off : src->cluster_size;
	struct clmap m;
	size_t n;
	int err;

	if ((err = cluster_lookup(src, c, &m)))
		return err;
	if (!m.compressed && !m.alloc && !m.zero)
		return 0;
	if (m.compressed || (m.alloc | m.zero) == src->all_sc) {
		/* Every subcluster is this layer's own: one compressed cluster, or zero flags. */
		if ((err = layer_read(src, &(struct iovec){ buf, (size_t)src->cluster_size }, 1, off,
				      src->cluster_size)))
			return err;
		if (all_zero(buf, (size_t)src->cluster_size))
			return qcow2_write_zeroes(dst, off, lim);
		n = qcow2_compress_cluster(dst, buf, zbuf, cctx);
		if (n)
			return write_compressed(dst, c, zbuf, n, pos, end);
		return qcow2_write(dst, buf, (size_t)lim, off);
	}
	/* Partly this layer's, partly the backing file's: keep subclusters as they are. */
	for (x = 0; x < lim && !err; x += scs) {
		unsigned s = (unsigned)(x >> src->sc_bits);
		uint64_t n2 = lim - x < scs ? lim - x : scs;

		if ((m.zero >> s) & 1)
			err = qcow2_write_zeroes(dst, off + x, n2);
		else if ((m.alloc >> s) & 1 && !(err = qio_pread(src, buf, (size_t)n2, m.host + x)))
			err = qcow2_write(dst, buf, (size_t)n2, off + x);
	}
	return err;
}

int qcow2_seal(const char *path, const char *out)
{
	struct qcow2_open_opts ro = QCOW2_OPEN_OPTS_INIT, rw = QCOW2_OPEN_OPTS_INIT;
	struct qcow2_create_opts co = QCOW2_CREATE_OPTS_INIT;
	struct qcow2 *src = NULL, *dst = NULL;
	char *tmp = NULL, *bname = NULL, *bfull = NULL, *d = NULL;
	uint8_t *buf = NULL, *zbuf = NULL;
	void *cctx = NULL;
	uint64_t c, ncl, pos = 0, end = 0;
	int err, dfd;

	ro.read_only = true;
	ro.no_backing = true;
	if ((err = qcow2_open(&src, path, &ro)))
		return err;
	if (asprintf(&tmp, "%s.seal-tmp", out ? out : path) < 0) {
		tmp = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if (src->backing_file) {
		if (!src->backing_fmt) {
			err = sbx_error_set(SBX_EUNSUPPORTED, "'%s' has a backing file without a format",
					    path);
			goto out;
		}
		d = dir_of(path);
		if (!d || asprintf(&bfull, "%s/%s", d, src->backing_file) < 0) {
			bfull = NULL;
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		if ((err = backing_name_for(tmp, path, src->backing_file,
					    src->backing_file[0] == '/' ? src->backing_file : bfull,
					    &bname)))
			goto out;
		co.backing_file = bname;
		co.backing_format = src->backing_fmt;
	}
	co.size = src->size;
	co.cluster_bits = src->cluster_bits;
	co.extended_l2 = src->extl2;
	co.compression_type = COMP_ZSTD;
	unlink(tmp);	/* a leftover from an interrupted seal */
	if ((err = qcow2_create(tmp, &co)))
		goto out;
	rw.no_backing = true;
	if ((err = qcow2_open(&dst, tmp, &rw)))
		goto out;
	buf = malloc(src->cluster_size);
	zbuf = malloc(src->cluster_size);
	cctx = qcow2_zstd_cctx_new();
	if (!buf || !zbuf || !cctx) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	ncl = (src->size + src->cluster_size - 1) >> src->cluster_bits;
	for (c = 0; c < ncl && !err; c++)
		err = seal_cluster(src, dst, c, buf, zbuf, cctx, &pos, &end);
	if (!err) {
		err = qcow2_close(dst);
		dst = NULL;
	}
	if (!err && chmod(tmp, 0444))
		err = sbx_error_errno(SBX_EIO, "cannot make '%s' read-only", tmp);
	if (!err && rename(tmp, out ? out : path))
		err = sbx_error_errno(SBX_EIO, "cannot rename '%s'", tmp);
	if (!err) {
		char *od = dir_of(out ? out : path);

		dfd = od ? open(od, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(od);
	}
out:
	if (dst)
		qcow2_close(dst);
	if (err && tmp)
		unlink(tmp);
	qcow2_close(src);
	qcow2_zstd_cctx_free(cctx);
	free(buf);
	free(zbuf);
	free(tmp);
	free(bname);
	free(bfull);
	free(d);
	return err;
}
