// SPDX-License-Identifier: MIT
/*
 * Compressed qcow2 clusters: raw deflate (compression type 0) and zstd
 * (type 1).  The stored bytes may run past the end of the compressed
 * stream (sector padding, the start of the next cluster's data), so
 * decompression stops once it has produced one cluster, like qemu's.
 */
#include "snapshot/qcow2-int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

static int inflate_cluster(struct qcow2 *q, const uint8_t *in, size_t len, uint8_t *out)
{
	z_stream z;
	int ret;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -15) != Z_OK)
		return sbx_error_set(SBX_ENOMEM, "cannot start inflate");
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)q->cluster_size;
	ret = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	if ((ret != Z_STREAM_END && ret != Z_BUF_ERROR) || z.avail_out)
		return SBX_CORRUPT("deflate-compressed cluster does not inflate to %" PRIu64 " bytes",
				   q->cluster_size);
	return 0;
}

static int unzstd_cluster(struct qcow2 *q, const uint8_t *in, size_t len, uint8_t *out)
{
	ZSTD_inBuffer ib = { in, len, 0 };
	ZSTD_outBuffer ob = { out, (size_t)q->cluster_size, 0 };

	if (!q->zstd_dctx && !(q->zstd_dctx = ZSTD_createDCtx()))
		return sbx_error_set(SBX_ENOMEM, "cannot start zstd");
	ZSTD_DCtx_reset(q->zstd_dctx, ZSTD_reset_session_only);
	while (ob.pos < ob.size) {
		size_t ret = ZSTD_decompressStream(q->zstd_dctx, &ob, &ib);

		if (ZSTD_isError(ret))
			return SBX_CORRUPT("zstd-compressed cluster: %s", ZSTD_getErrorName(ret));
		if (ret == 0 || ib.pos == ib.size)
			break;
	}
	if (ob.pos != ob.size)
		return SBX_CORRUPT("zstd-compressed cluster decompresses to %zu bytes, not %" PRIu64,
				   ob.pos, q->cluster_size);
	return 0;
}

int qcow2_read_compressed(struct qcow2 *q, const struct clmap *m, const uint8_t **data)
{
	int err;

	if (q->dbuf && q->dbuf_coff == m->coff) {
		*data = q->dbuf;
		return 0;
	}
	if (m->clen > 2 * q->cluster_size || !range_ok(m->coff, m->clen, QCOW2_MAX_OFFSET))
		return SBX_CORRUPT("compressed cluster at %#" PRIx64 " is too long", m->coff);
	if (!q->cbuf && !(q->cbuf = malloc(2 * q->cluster_size)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (!q->dbuf && !(q->dbuf = malloc(q->cluster_size)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	q->dbuf_coff = UINT64_MAX;
	if ((err = qio_pread(q, q->cbuf, (size_t)m->clen, m->coff)))
		return err;
	err = q->compression_type == COMP_ZSTD
		? unzstd_cluster(q, q->cbuf, (size_t)m->clen, q->dbuf)
		: inflate_cluster(q, q->cbuf, (size_t)m->clen, q->dbuf);
	if (err)
		return err;
	q->dbuf_coff = m->coff;
	*data = q->dbuf;
	return 0;
}

void *qcow2_zstd_cctx_new(void)
{
	return ZSTD_createCCtx();
}

void qcow2_zstd_cctx_free(void *cctx)
{
	ZSTD_freeCCtx(cctx);
}

size_t qcow2_compress_cluster(const struct qcow2 *q, const void *in, void *out, void *cctx)
{
	size_t cap = (size_t)q->cluster_size - 512, n;

	if (q->compression_type == COMP_ZSTD) {
		n = ZSTD_compressCCtx(cctx, out, cap, in, (size_t)q->cluster_size, 3);
		return ZSTD_isError(n) ? 0 : n;
	} else {
		z_stream z;
		int ret;

		memset(&z, 0, sizeof(z));
		if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return 0;
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)q->cluster_size;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		ret = deflate(&z, Z_FINISH);
		n = cap - z.avail_out;
		deflateEnd(&z);
		return ret == Z_STREAM_END ? n : 0;
	}
}

void qcow2_compress_free(struct qcow2 *q)
{
	ZSTD_freeDCtx(q->zstd_dctx);
	q->zstd_dctx = NULL;
	free(q->cbuf);
	free(q->dbuf);
	q->cbuf = q->dbuf = NULL;
}
