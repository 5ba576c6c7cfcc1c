/* SPDX-License-Identifier: MIT */
/* qcow2 internals shared by snapshot/qcow2-*.c; the layout is in snapshot/qcow2.h. */
#ifndef SBX_SNAPSHOT_QCOW2_INT_H
#define SBX_SNAPSHOT_QCOW2_INT_H

#include "snapshot/qcow2.h"
#include "util/checked.h"
#include "util/error.h"

#include <endian.h>
#include <string.h>

#define QCOW2_MAGIC		0x514649fbu
#define QCOW2_HDR_V3		104u	/* header_length without compression_type */
#define QCOW2_HDR_LEN		112u	/* what we write */
#define QCOW2_MIN_CLUSTER_BITS	9u
#define QCOW2_MAX_CLUSTER_BITS	21u
#define QCOW2_MAX_L1_BYTES	(32u << 20)	/* qemu's limit too */
#define QCOW2_MAX_RT_BYTES	(8u << 20)
#define QCOW2_MAX_SNAPSHOTS	65536u
#define QCOW2_MAX_BACKING_NAME	1023u
#define QCOW2_MAX_OFFSET	(1ULL << 56)	/* host offsets are bits 9..55 */
#define QCOW2_MAX_SIZE		(1ULL << 55)	/* virtual size limit */

#define INCOMPAT_DIRTY		(1ULL << 0)
#define INCOMPAT_CORRUPT	(1ULL << 1)
#define INCOMPAT_DATA_FILE	(1ULL << 2)
#define INCOMPAT_COMPRESSION	(1ULL << 3)
#define INCOMPAT_EXTL2		(1ULL << 4)
#define INCOMPAT_KNOWN		0x1fULL
#define COMPAT_LAZY		(1ULL << 0)
#define AUTOCLEAR_BITMAPS	(1ULL << 0)
#define AUTOCLEAR_DATA_RAW	(1ULL << 1)

#define EXT_END			0u
#define EXT_BACKING_FMT		0xe2792acau
#define EXT_FEATURES		0x6803f857u
#define EXT_BITMAPS		0x23852875u
#define EXT_CRYPTO		0x0537be77u
#define EXT_DATA_FILE		0x44415441u

#define COMP_DEFLATE		0
#define COMP_ZSTD		1

#define L1E_OFFSET		0x00fffffffffffe00ULL
#define L1E_COPIED		(1ULL << 63)
#define L1E_RESERVED		(~(L1E_OFFSET | L1E_COPIED))
#define L2E_OFFSET		0x00fffffffffffe00ULL
#define L2E_ZERO		1ULL
#define L2E_COMPRESSED		(1ULL << 62)
#define L2E_COPIED		(1ULL << 63)
#define L2E_STD_RESERVED	0x3f000000000001feULL

enum qcow2_fmt { FMT_QCOW2, FMT_RAW };

/* One guest cluster as this layer describes it (subclusters: nsc of them). */
struct clmap {
	uint64_t host;		/* standard cluster offset, 0 if none */
	uint32_t alloc;		/* subclusters with data at host */
	uint32_t zero;		/* subclusters that read as zeroes */
	bool compressed;
	uint64_t coff;		/* compressed: byte offset */
	uint64_t clen;		/* compressed: bytes to read (sector span) */
};

static inline bool clmap_eq(const struct clmap *a, const struct clmap *b)
{
	return a->host == b->host && a->alloc == b->alloc && a->zero == b->zero &&
	       a->compressed == b->compressed && a->coff == b->coff && a->clen == b->clen;
}

struct free_run {
	uint64_t start, len;	/* in clusters */
};

struct l2_slot {
	uint64_t off;		/* host offset of the table; 0: free slot */
	uint8_t *buf;
	uint64_t tick;
	bool dirty;
};

struct qcow2 {
	enum qcow2_fmt fmt;
	int fd;
	char *path;
	bool read_only;
	const struct qcow2_io_ops *io;
	void *io_ctx;
	struct qcow2 *backing;
	struct qcow2 *above;	/* the layer this one backs (cycle checks while opening) */
	unsigned depth;
	dev_t dev;
	ino_t ino;

	uint8_t hdr[512];	/* the first sector, rewritten in place */
	uint32_t header_length;
	uint64_t size;
	unsigned cluster_bits;
	uint64_t cluster_size;
	bool extl2;
	unsigned l2_bits;	/* log2 entries per L2 table */
	unsigned nsc;		/* subclusters per cluster: 32 or 1 */
	unsigned sc_bits;	/* log2 subcluster size */
	uint32_t all_sc;	/* mask with nsc bits */
	uint64_t incompat, compat, autoclear;
	unsigned refcount_order;
	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	int compression_type;
	bool has_bitmaps;
	char *backing_file;
	char *backing_fmt;

	uint64_t *l1;		/* host-endian raw entries */
	uint32_t l1_size;
	uint64_t l1_offset;
	uint8_t *l1_dirty;	/* one byte per 512-byte sector of the L1 table */
	bool l1_empty_at_open;	/* no L2 table then: qcow2_revert may cut the file back */

	struct l2_slot *cache;
	unsigned ncache;
	uint64_t tick;

	uint64_t file_size;	/* at open */
	uint64_t alloc_next;	/* next cluster to append (never below the file end) */
	struct free_run *free;	/* clusters free when the image was opened (reused first) */
	size_t nfree, ifree;
	bool dirty_on_disk;
	bool data_unsynced;
	bool meta_unsynced;
	bool broken;		/* a write or flush failed: refuse everything */

	/* The run of data being collected for one pwritev. */
	struct iovec *pend;
	int npend, apend;
	uint64_t pend_host, pend_len;

	uint8_t *head_buf, *tail_buf;	/* fills for partial subclusters */
	uint8_t *zero_buf;		/* a cluster of zeroes, on first use */
	uint8_t *cbuf;			/* compressed bytes read */
	uint8_t *dbuf;			/* the last decompressed cluster */
	uint64_t dbuf_coff;		/* its key; UINT64_MAX if none */
	void *zstd_dctx;
};

/* Big-endian helpers. */
static inline uint64_t get_be64(const void *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static inline uint32_t get_be32(const void *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static inline uint16_t get_be16(const void *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static inline void put_be64(void *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }
static inline void put_be32(void *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static inline void put_be16(void *p, uint16_t v) { v = htobe16(v); memcpy(p, &v, 2); }

static inline uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

/* qcow2-io.c: file I/O through q->io; short reads are zero-filled. */
int qio_preadv(struct qcow2 *q, const struct iovec *iov, int cnt, uint64_t off);
int qio_pread(struct qcow2 *q, void *buf, size_t len, uint64_t off);
int qio_pwritev(struct qcow2 *q, const struct iovec *iov, int cnt, uint64_t off);
int qio_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off);
int qio_sync(struct qcow2 *q);
int qio_punch(struct qcow2 *q, uint64_t off, uint64_t len);
bool qio_zero_cluster(struct qcow2 *q, uint64_t off);
size_t iov_size(const struct iovec *iov, int cnt);
/* Copy up to `len` bytes between a buffer and an iovec starting `skip` bytes into it. */
void iov_to_buf(const struct iovec *iov, int cnt, size_t skip, void *buf, size_t len);
void buf_to_iov(const struct iovec *iov, int cnt, size_t skip, const void *buf, size_t len);
void iov_memset(const struct iovec *iov, int cnt, size_t skip, int c, size_t len);
/* Describe bytes [skip, skip+len) of iov in out[] (at most max entries); returns the count or -1. */
int iov_slice(struct iovec *out, int max, const struct iovec *iov, int cnt, size_t skip, size_t len);

/* qcow2-header.c */
int qcow2_parse_header(struct qcow2 *q, const uint8_t *c0, size_t len);
int qcow2_write_header(struct qcow2 *q);	/* the first sector, then sync */
int qcow2_load_l1(struct qcow2 *q);

/* qcow2-l2.c: the L2 cache and entry coding. */
int l2_cache_init(struct qcow2 *q, size_t bytes);
void l2_cache_free(struct qcow2 *q);
/* The table for L1 index i: *slot NULL when unallocated and !create. */
int l2_get(struct qcow2 *q, uint64_t l1i, bool create, struct l2_slot **slot);
int l2_decode(const struct qcow2 *q, const uint8_t *table, uint64_t idx, struct clmap *m);
void l2_encode(const struct qcow2 *q, uint8_t *table, uint64_t idx, const struct clmap *m);
/* Look up one guest cluster (no allocation). */
int cluster_lookup(struct qcow2 *q, uint64_t cluster, struct clmap *m);
int l2_writeback(struct qcow2 *q, struct l2_slot *s);
int l1_writeback(struct qcow2 *q);
int check_table_offset(const struct qcow2 *q, uint64_t off, uint64_t len, const char *what);

/* qcow2-rw.c */
int qcow2_flush_pending(struct qcow2 *q);
int qcow2_mark_dirty(struct qcow2 *q);
/* A cluster for data or an L2 table: one free at open, else appended; 0 when full. */
uint64_t qcow2_alloc_cluster(struct qcow2 *q, bool *zeroed);
/* A cluster at the end of the file (contiguous runs for compressed data). */
uint64_t qcow2_alloc_append(struct qcow2 *q);
int layer_read(struct qcow2 *q, const struct iovec *iov, int cnt, uint64_t off, uint64_t len);

/* qcow2-compress.c */
int qcow2_read_compressed(struct qcow2 *q, const struct clmap *m, const uint8_t **data);
/* zstd-compress one cluster into out (cluster_size bytes); returns the length or 0 if it does not shrink. */
size_t qcow2_compress_cluster(const struct qcow2 *q, const void *in, void *out, void *cctx);
void *qcow2_zstd_cctx_new(void);
void qcow2_zstd_cctx_free(void *cctx);
void qcow2_compress_free(struct qcow2 *q);

/* qcow2-refcount.c */
struct refcounts {
	uint32_t *n;		/* references per host cluster */
	uint64_t nclusters;
	uint64_t corruptions;
	uint64_t data_clusters, compressed;
	char first_error[256];
	bool for_check;		/* report problems instead of failing on the first */
};
int refcounts_walk(struct qcow2 *q, struct refcounts *rc);
void refcounts_free(struct refcounts *rc);
/* Write fresh refcount structures from the metadata and clear the dirty bit. */
int qcow2_rebuild_refcounts(struct qcow2 *q);
/* Note the clusters a clean image's refcounts call free, for reuse by this session. */
int qcow2_load_free(struct qcow2 *q);
uint64_t refcount_get(const uint8_t *block, uint64_t idx, unsigned order);
void refcount_set(uint8_t *block, uint64_t idx, unsigned order, uint64_t v);

/* qcow2-squash.c: qcow2_squash with the backing name to write given (NULL: as qcow2_squash). */
int qcow2_squash_named(const char *top, const char *base, const char *name, const char *out);

/* qcow2.c */
int qcow2_open_layer(struct qcow2 **out, const char *path, const struct qcow2_open_opts *o,
		     unsigned depth, struct qcow2 *child);
/*
 * The same on an open descriptor (read-write unless o->read_only); `name`
 * is the layer's name in messages.  On success the layer owns fd; on
 * failure it is still the caller's.
 */
int qcow2_open_layer_fd(struct qcow2 **out, int fd, const char *name,
			const struct qcow2_open_opts *o, unsigned depth, struct qcow2 *above);
void qcow2_free(struct qcow2 *q);

#endif
