// SPDX-License-Identifier: MIT
/* qcow2 header: parse and validate every field, rewrite the first sector, create images. */
#include "snapshot/qcow2-int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const incompat_names[] = {
	"dirty", "corrupt", "external data file", "compression type", "extended L2 entries",
};

static int parse_extensions(struct qcow2 *q, const uint8_t *c0, size_t end)
{
	size_t off = q->header_length;
	unsigned n = 0;

	while (off < end) {
		uint32_t type, len;

		if (end - off < 8)
			return SBX_CORRUPT("header extension at %zu runs past the header area", off);
		type = get_be32(c0 + off);
		len = get_be32(c0 + off + 4);
		off += 8;
		if (type == EXT_END)
			return 0;
		if (len > end - off)
			return SBX_CORRUPT("header extension %#x of %" PRIu32 " bytes runs past the header area",
					   type, len);
		switch (type) {
		case EXT_BACKING_FMT:
			if (len == 0 || len > 31 || memchr(c0 + off, 0, len))
				return SBX_CORRUPT("bad backing format name (%" PRIu32 " bytes)", len);
			free(q->backing_fmt);
			q->backing_fmt = strndup((const char *)c0 + off, len);
			if (!q->backing_fmt)
				return sbx_error_set(SBX_ENOMEM, "out of memory");
			break;
		case EXT_CRYPTO:
			return sbx_error_set(SBX_EUNSUPPORTED, "'%s' is encrypted (LUKS header extension); "
					     "encrypted qcow2 images are not supported", q->path);
		case EXT_DATA_FILE:
			return sbx_error_set(SBX_EUNSUPPORTED, "'%s' uses an external data file; "
					     "only self-contained qcow2 images are supported", q->path);
		case EXT_BITMAPS:
			q->has_bitmaps = true;
			break;
		default:	/* the feature name table and unknown extensions: skipped */
			break;
		}
		if (++n > 1024)
			return SBX_CORRUPT("too many header extensions");
		off += align_up(len, 8) < end - off ? align_up(len, 8) : end - off;
	}
	return 0;
}

int qcow2_parse_header(struct qcow2 *q, const uint8_t *c0, size_t len)
{
	uint32_t version, cluster_bits, crypt, l1_size, bfsize, hlen;
	uint64_t bfoff, l1_cover, need, unknown;
	size_t ext_end;
	int err;

	if (len < QCOW2_HDR_V3)
		return SBX_CORRUPT("'%s' is too short for a qcow2 header (%zu bytes)", q->path, len);
	if (get_be32(c0) != QCOW2_MAGIC)
		return SBX_CORRUPT("'%s' is not a qcow2 image (bad magic)", q->path);
	version = get_be32(c0 + 4);
	if (version == 2)
		return sbx_error_set(SBX_EUNSUPPORTED, "'%s' is qcow2 version 2; only version 3 is "
				     "supported (qemu-img amend -o compat=1.1 upgrades it)", q->path);
	if (version != 3)
		return sbx_error_set(SBX_EUNSUPPORTED, "'%s' is qcow2 version %" PRIu32
				     "; only version 3 is supported", q->path, version);
	bfoff = get_be64(c0 + 8);
	bfsize = get_be32(c0 + 16);
	cluster_bits = get_be32(c0 + 20);
	q->size = get_be64(c0 + 24);
	crypt = get_be32(c0 + 32);
	l1_size = get_be32(c0 + 36);
	q->l1_offset = get_be64(c0 + 40);
	q->rt_offset = get_be64(c0 + 48);
	q->rt_clusters = get_be32(c0 + 56);
	q->nb_snapshots = get_be32(c0 + 60);
	q->snapshots_offset = get_be64(c0 + 64);
	q->incompat = get_be64(c0 + 72);
	q->compat = get_be64(c0 + 80);
	q->autoclear = get_be64(c0 + 88);
	q->refcount_order = get_be32(c0 + 96);
	hlen = get_be32(c0 + 100);

	if (cluster_bits < QCOW2_MIN_CLUSTER_BITS || cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return SBX_CORRUPT("cluster_bits %" PRIu32 " is outside 9..21", cluster_bits);
	q->cluster_bits = cluster_bits;
	q->cluster_size = 1ULL << cluster_bits;
	q->alloc_next = align_up(q->file_size, q->cluster_size);
	if (hlen < QCOW2_HDR_V3 || hlen % 8 || hlen > q->cluster_size || hlen > len)
		return SBX_CORRUPT("header_length %" PRIu32 " is invalid", hlen);
	q->header_length = hlen;
	if (crypt)
		return sbx_error_set(SBX_EUNSUPPORTED, "'%s' is encrypted (crypt_method %" PRIu32
				     "); encrypted qcow2 images are not supported", q->path, crypt);
	unknown = q->incompat & ~INCOMPAT_KNOWN;
	if (unknown)
		return sbx_error_set(SBX_EUNSUPPORTED, "'%s' uses unknown incompatible feature bit %d",
				     q->path, __builtin_ctzll(unknown));
	if (q->incompat & INCOMPAT_DATA_FILE)
		return sbx_error_set(SBX_EUNSUPPORTED, "'%s' needs an external data file (%s); only "
				     "self-contained qcow2 images are supported", q->path,
				     incompat_names[2]);
	if (q->autoclear & AUTOCLEAR_DATA_RAW)
		return sbx_error_set(SBX_EUNSUPPORTED, "'%s' has a raw external data file", q->path);
	q->compression_type = COMP_DEFLATE;
	if (hlen > QCOW2_HDR_V3) {
		q->compression_type = c0[104];
		if (q->compression_type > COMP_ZSTD)
			return sbx_error_set(SBX_EUNSUPPORTED, "'%s' uses unknown compression type %d",
					     q->path, q->compression_type);
	}
	if (!!(q->incompat & INCOMPAT_COMPRESSION) != (q->compression_type != COMP_DEFLATE))
		return SBX_CORRUPT("compression type %d disagrees with the incompatible feature bit",
				   q->compression_type);
	q->extl2 = q->incompat & INCOMPAT_EXTL2;
	if (q->extl2 && cluster_bits < 14)
		return SBX_CORRUPT("extended L2 entries need clusters of at least 16 KiB");
	q->l2_bits = cluster_bits - (q->extl2 ? 4 : 3);
	q->nsc = q->extl2 ? 32 : 1;
	q->sc_bits = cluster_bits - (q->extl2 ? 5 : 0);
	q->all_sc = q->extl2 ? 0xffffffffu : 1u;
	if (q->refcount_order > 6)
		return SBX_CORRUPT("refcount_order %u is above 6", q->refcount_order);

	if (q->size > QCOW2_MAX_SIZE)
		return SBX_CORRUPT("disk size %" PRIu64 " is too large", q->size);
	l1_cover = q->cluster_size << q->l2_bits;
	need = (q->size + l1_cover - 1) / l1_cover;
	if (l1_size < need)
		return SBX_CORRUPT("L1 table has %" PRIu32 " entries; the disk size needs %" PRIu64,
				   l1_size, need);
	if ((uint64_t)l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return SBX_CORRUPT("L1 table of %" PRIu32 " entries is too large", l1_size);
	q->l1_size = l1_size;
	if (l1_size && (err = check_table_offset(q, q->l1_offset, (uint64_t)l1_size * 8, "L1 table")))
		return err;
	if ((uint64_t)q->rt_clusters << cluster_bits > QCOW2_MAX_RT_BYTES)
		return SBX_CORRUPT("refcount table of %" PRIu32 " clusters is too large", q->rt_clusters);
	/* A dirty image's refcounts are rebuilt before use; ours are absent while being created. */
	if ((q->rt_offset || !(q->incompat & INCOMPAT_DIRTY)) &&
	    (err = check_table_offset(q, q->rt_offset, (uint64_t)q->rt_clusters << cluster_bits,
				      "refcount table")))
		return err;
	if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return SBX_CORRUPT("%" PRIu32 " snapshots is too many", q->nb_snapshots);
	if (q->nb_snapshots && (q->snapshots_offset % q->cluster_size ||
				q->snapshots_offset >= q->alloc_next))
		return SBX_CORRUPT("snapshot table offset %#" PRIx64 " is invalid", q->snapshots_offset);

	ext_end = len < q->cluster_size ? len : (size_t)q->cluster_size;
	if (bfoff) {
		if (bfsize == 0 || bfsize > QCOW2_MAX_BACKING_NAME || bfoff < hlen ||
		    bfoff >= ext_end || bfsize > ext_end - bfoff)
			return SBX_CORRUPT("backing file name at %#" PRIx64 " (%" PRIu32
					   " bytes) is outside the header cluster", bfoff, bfsize);
		if (memchr(c0 + bfoff, 0, bfsize))
			return SBX_CORRUPT("backing file name contains a NUL byte");
		q->backing_file = strndup((const char *)c0 + bfoff, bfsize);
		if (!q->backing_file)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		ext_end = (size_t)bfoff;
	}
	return parse_extensions(q, c0, ext_end);
}

/* A metadata table must be cluster aligned and inside the file (as far as we may grow it). */
int check_table_offset(const struct qcow2 *q, uint64_t off, uint64_t len, const char *what)
{
	if (off % q->cluster_size || off == 0)
		return SBX_CORRUPT("%s offset %#" PRIx64 " is not a cluster-aligned offset past the header",
				   what, off);
	if (!range_ok(off, len, q->alloc_next))
		return SBX_CORRUPT("%s at %#" PRIx64 " (%" PRIu64 " bytes) is beyond the end of the file",
				   what, off, len);
	return 0;
}

int qcow2_write_header(struct qcow2 *q)
{
	int err;

	put_be64(q->hdr + 48, q->rt_offset);
	put_be32(q->hdr + 56, q->rt_clusters);
	put_be64(q->hdr + 72, q->incompat);
	put_be64(q->hdr + 80, q->compat);
	put_be64(q->hdr + 88, q->autoclear);
	err = qio_pwrite(q, q->hdr, sizeof(q->hdr), 0);
	return err ? err : qio_sync(q);
}

int qcow2_load_l1(struct qcow2 *q)
{
	uint32_t i;
	int err;

	q->l1 = calloc(q->l1_size ? q->l1_size : 1, sizeof(uint64_t));
	q->l1_dirty = calloc((q->l1_size * 8 + 511) / 512 + 1, 1);
	if (!q->l1 || !q->l1_dirty)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	q->l1_empty_at_open = true;
	if (!q->l1_size)
		return 0;
	err = qio_pread(q, q->l1, (size_t)q->l1_size * 8, q->l1_offset);
	if (err)
		return err;
	for (i = 0; i < q->l1_size; i++) {
		q->l1[i] = be64toh(q->l1[i]);
		if (q->l1[i] & L1E_RESERVED)
			return SBX_CORRUPT("L1 entry %" PRIu32 " (%#" PRIx64 ") has reserved bits set",
					   i, q->l1[i]);
		if (q->l1[i])
			q->l1_empty_at_open = false;
	}
	return 0;
}

static int put_ext(uint8_t *c0, size_t *off, size_t cs, uint32_t type, const void *data,
		   uint32_t len)
{
	size_t need = 8 + align_up(len, 8);

	if (*off + need > cs)
		return sbx_error_set(SBX_EINVAL, "header does not fit in one cluster");
	put_be32(c0 + *off, type);
	put_be32(c0 + *off + 4, len);
	if (len)
		memcpy(c0 + *off + 8, data, len);
	*off += need;
	return 0;
}

/* The virtual size of a backing file, opened only for this. */
static int backing_size(const char *image, const struct qcow2_create_opts *o, uint64_t *size)
{
	struct qcow2_open_opts oo = QCOW2_OPEN_OPTS_INIT;
	struct qcow2 *b = NULL;
	char *full = NULL;
	const char *slash = strrchr(image, '/');
	int err;

	if (o->backing_file[0] != '/' && slash) {
		if (asprintf(&full, "%.*s/%s", (int)(slash - image), image, o->backing_file) < 0)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	if (!strcmp(o->backing_format, "raw")) {
		struct stat st;

		err = stat(full ? full : o->backing_file, &st) ?
			sbx_error_errno(SBX_ENOTFOUND, "backing file '%s'", o->backing_file) : 0;
		*size = (uint64_t)st.st_size;
	} else {
		oo.read_only = true;
		oo.no_backing = true;
		err = qcow2_open(&b, full ? full : o->backing_file, &oo);
		if (!err)
			*size = b->size;
		qcow2_close(b);
	}
	free(full);
	return err;
}

int qcow2_create(const char *path, const struct qcow2_create_opts *o)
{
	struct qcow2_open_opts oo = QCOW2_OPEN_OPTS_INIT;
	struct qcow2 *q = NULL;
	uint8_t *c0 = NULL;
	uint64_t cs, size = o->size, l1_cover, l1_size, l1_clusters;
	size_t off;
	int fd = -1, err;
	uint64_t incompat = INCOMPAT_DIRTY;

	if (o->cluster_bits < QCOW2_MIN_CLUSTER_BITS || o->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return sbx_error_set(SBX_EINVAL, "cluster size must be a power of two from 512 bytes "
				     "to 2 MiB");
	if (o->extended_l2 && o->cluster_bits < 14)
		return sbx_error_set(SBX_EINVAL, "extended L2 entries need clusters of at least 16 KiB");
	if (o->compression_type != COMP_DEFLATE && o->compression_type != COMP_ZSTD)
		return sbx_error_set(SBX_EINVAL, "unknown compression type %d", o->compression_type);
	if (o->backing_file) {
		if (!o->backing_format || (strcmp(o->backing_format, "qcow2") &&
					   strcmp(o->backing_format, "raw")))
			return sbx_error_set(SBX_EINVAL, "a backing file needs an explicit format "
					     "(qcow2 or raw)");
		if (!*o->backing_file || strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME)
			return sbx_error_set(SBX_EINVAL, "backing file name must be 1..1023 bytes");
		if (!size && (err = backing_size(path, o, &size)))
			return err;
		size = align_up(size, 512);
	}
	if (size % 512 || size > QCOW2_MAX_SIZE)
		return sbx_error_set(SBX_EINVAL, "disk size must be a multiple of 512 below 2^55");
	cs = 1ULL << o->cluster_bits;
	l1_cover = cs << (o->cluster_bits - (o->extended_l2 ? 4 : 3));
	l1_size = (size + l1_cover - 1) / l1_cover;
	if (l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return sbx_error_set(SBX_EINVAL, "disk too large for this cluster size");
	l1_clusters = align_up(l1_size * 8, cs) / cs;
	if (!l1_clusters)
		l1_clusters = 1;

	c0 = calloc(1, cs);
	if (!c0)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (o->extended_l2)
		incompat |= INCOMPAT_EXTL2;
	if (o->compression_type == COMP_ZSTD)
		incompat |= INCOMPAT_COMPRESSION;
	put_be32(c0, QCOW2_MAGIC);
	put_be32(c0 + 4, 3);
	put_be32(c0 + 20, o->cluster_bits);
	put_be64(c0 + 24, size);
	put_be32(c0 + 36, (uint32_t)l1_size);
	put_be64(c0 + 40, cs);		/* L1 at cluster 1; refcounts written by the first open */
	put_be64(c0 + 72, incompat);
	put_be64(c0 + 80, COMPAT_LAZY);
	put_be32(c0 + 96, 4);
	put_be32(c0 + 100, QCOW2_HDR_LEN);
	c0[104] = (uint8_t)o->compression_type;
	off = QCOW2_HDR_LEN;
	if (o->backing_file) {
		err = put_ext(c0, &off, cs, EXT_BACKING_FMT, o->backing_format,
			      (uint32_t)strlen(o->backing_format));
		if (!err)
			err = put_ext(c0, &off, cs, EXT_END, NULL, 0);
		if (err)
			goto out;
		if (off + strlen(o->backing_file) > cs) {
			err = sbx_error_set(SBX_EINVAL, "backing file name does not fit in the header");
			goto out;
		}
		put_be64(c0 + 8, off);
		put_be32(c0 + 16, (uint32_t)strlen(o->backing_file));
		memcpy(c0 + off, o->backing_file, strlen(o->backing_file));
	} else if ((err = put_ext(c0, &off, cs, EXT_END, NULL, 0))) {
		goto out;
	}

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = sbx_error_errno(errno == EEXIST ? SBX_EEXISTS : SBX_EIO, "cannot create '%s'", path);
		goto out;
	}
	if (pwrite(fd, c0, cs, 0) != (ssize_t)cs ||
	    ftruncate(fd, (off_t)((1 + l1_clusters) * cs))) {
		err = sbx_error_errno(SBX_EIO, "cannot write '%s'", path);
		goto out;
	}
	close(fd);
	fd = -1;
	/* Opening a dirty image writable builds its refcounts and marks it clean. */
	oo.no_backing = true;
	err = qcow2_open(&q, path, &oo);
	if (!err)
		err = qcow2_close(q);
	if (err)
		unlink(path);
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(c0);
	return err;
}
