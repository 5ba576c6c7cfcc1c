// SPDX-License-Identifier: MIT
/*
 * qcow2 reads and writes: walk a request cluster by cluster (subcluster by
 * subcluster with extended L2), merge contiguous host runs into one
 * preadv/pwritev, allocate only by appending, and fill the uncovered part
 * of a newly allocated (sub)cluster from what it read as before.
 */
#include "snapshot/qcow2-int.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

enum run_kind { RUN_NONE, RUN_DATA, RUN_ZERO, RUN_BACKING };

struct run {
	enum run_kind kind;
	uint64_t host;		/* DATA: host offset; BACKING: guest offset */
	size_t skip;		/* offset into the request's iovec */
	size_t len;
};

uint64_t qcow2_alloc_append(struct qcow2 *q)
{
	uint64_t off = q->alloc_next;

	if (off + q->cluster_size > QCOW2_MAX_OFFSET)
		return 0;
	q->alloc_next += q->cluster_size;
	return off;
}

/*
 * Clusters free when the image was opened may be reused (a crash can only
 * leak them again); clusters dropped while open never are.  *zeroed says
 * whether the cluster now reads as zeroes (appended, or a hole punched).
 */
uint64_t qcow2_alloc_cluster(struct qcow2 *q, bool *zeroed)
{
	while (q->ifree < q->nfree) {
		struct free_run *r = &q->free[q->ifree];
		uint64_t off;

		if (!r->len) {
			q->ifree++;
			continue;
		}
		off = r->start << q->cluster_bits;
		r->start++;
		r->len--;
		if (zeroed)
			*zeroed = qio_zero_cluster(q, off);
		return off;
	}
	if (zeroed)
		*zeroed = true;
	return qcow2_alloc_append(q);
}

int qcow2_mark_dirty(struct qcow2 *q)
{
	int err;

	if (q->dirty_on_disk)
		return 0;
	q->incompat |= INCOMPAT_DIRTY;
	q->compat |= COMPAT_LAZY;
	q->autoclear = 0;	/* we maintain no autoclear feature (bitmaps are refused) */
	err = qcow2_write_header(q);
	if (err)
		return err;
	q->dirty_on_disk = true;
	return 0;
}

static int flush_run(struct qcow2 *q, struct run *r, const struct iovec *iov, int cnt)
{
	struct iovec stack[16], *sl = stack;
	int n, err = 0;

	if (r->kind == RUN_NONE || !r->len)
		goto done;
	if (r->kind == RUN_ZERO || (r->kind == RUN_BACKING && !q->backing)) {
		iov_memset(iov, cnt, r->skip, 0, r->len);
		goto done;
	}
	if (cnt + 1 > (int)ARRAY_SIZE(stack) && !(sl = malloc(((size_t)cnt + 1) * sizeof(*sl))))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	n = iov_slice(sl, cnt + 1, iov, cnt, r->skip, r->len);
	if (n < 0)
		err = sbx_error_set(SBX_EINVAL, "I/O vector shorter than the request");
	else if (r->kind == RUN_DATA)
		err = qio_preadv(q, sl, n, r->host);
	else
		err = layer_read(q->backing, sl, n, r->host, r->len);
	if (sl != stack)
		free(sl);
done:
	r->kind = RUN_NONE;
	r->len = 0;
	return err;
}

static int add_run(struct qcow2 *q, struct run *r, enum run_kind kind, uint64_t host,
		   size_t skip, size_t len, const struct iovec *iov, int cnt)
{
	int err;

	if (r->kind == kind && r->skip + r->len == skip &&
	    (kind == RUN_ZERO || r->host + r->len == host)) {
		r->len += len;
		return 0;
	}
	if ((err = flush_run(q, r, iov, cnt)))
		return err;
	r->kind = kind;
	r->host = host;
	r->skip = skip;
	r->len = len;
	return 0;
}

static inline uint32_t sc_mask(unsigned first, unsigned last)
{
	return (uint32_t)((last >= 31 ? 0xffffffffu : ((1u << (last + 1)) - 1)) & ~((1u << first) - 1));
}

/* Read [off, off+len) of one layer into iov (which holds exactly len bytes). */
int layer_read(struct qcow2 *q, const struct iovec *iov, int cnt, uint64_t off, uint64_t len)
{
	struct run r = { RUN_NONE, 0, 0, 0 };
	uint64_t pos = 0;
	int err = 0;

	if (off >= q->size) {
		iov_memset(iov, cnt, 0, 0, len);
		return 0;
	}
	if (len > q->size - off) {
		iov_memset(iov, cnt, q->size - off, 0, len - (q->size - off));
		len = q->size - off;
	}
	if (q->fmt == FMT_RAW) {
		r.kind = RUN_DATA;
		r.host = off;
		r.len = len;
		return flush_run(q, &r, iov, cnt);
	}
	while (pos < len && !err) {
		uint64_t g = off + pos, c = g >> q->cluster_bits;
		uint64_t in = g & (q->cluster_size - 1);
		uint64_t n = len - pos < q->cluster_size - in ? len - pos : q->cluster_size - in;
		struct clmap m;

		if ((err = cluster_lookup(q, c, &m)))
			break;
		if (m.compressed) {
			const uint8_t *data;

			if ((err = flush_run(q, &r, iov, cnt)) ||
			    (err = qcow2_read_compressed(q, &m, &data)))
				break;
			buf_to_iov(iov, cnt, pos, data + in, n);
			pos += n;
			continue;
		}
		while (n && !err) {
			unsigned s = (unsigned)(in >> q->sc_bits);
			uint32_t bit = 1u << s;
			enum run_kind kind = (m.alloc & bit) ? RUN_DATA : (m.zero & bit) ? RUN_ZERO
										: RUN_BACKING;
			uint64_t seg = ((uint64_t)(s + 1) << q->sc_bits) - in;

			/* Extend over following subclusters in the same state. */
			while (seg < n && s + 1 < q->nsc) {
				uint32_t b2 = 1u << ++s;
				enum run_kind k2 = (m.alloc & b2) ? RUN_DATA : (m.zero & b2) ? RUN_ZERO
											  : RUN_BACKING;
				if (k2 != kind)
					break;
				seg += 1ULL << q->sc_bits;
			}
			if (seg > n)
				seg = n;
			err = add_run(q, &r, kind, kind == RUN_DATA ? m.host + in : g, (size_t)pos,
				      (size_t)seg, iov, cnt);
			pos += seg;
			g += seg;
			in += seg;
			n -= seg;
		}
	}
	if (!err)
		err = flush_run(q, &r, iov, cnt);
	return err;
}

static int check_request(struct qcow2 *q, uint64_t off, uint64_t len, bool write)
{
	if (write && q->read_only)
		return sbx_error_set(SBX_EINVAL, "'%s' is open read-only", q->path);
	if (q->broken)
		return sbx_error_set(SBX_EIO, "'%s' had a write error; reopen it", q->path);
	if ((off | len) % 512)
		return sbx_error_set(SBX_EINVAL, "I/O at %" PRIu64 "+%" PRIu64
				     " is not 512-byte aligned", off, len);
	if (!range_ok(off, len, q->size))
		return sbx_error_set(SBX_EINVAL, "I/O at %" PRIu64 "+%" PRIu64
				     " is beyond the end of the disk", off, len);
	return 0;
}

int qcow2_preadv(struct qcow2 *q, const struct iovec *iov, int iovcnt, uint64_t off)
{
	size_t len = iov_size(iov, iovcnt);
	int err = check_request(q, off, len, false);

	return err ? err : layer_read(q, iov, iovcnt, off, len);
}

int qcow2_read(struct qcow2 *q, void *buf, size_t len, uint64_t off)
{
	struct iovec v = { buf, len };

	return qcow2_preadv(q, &v, 1, off);
}

int qcow2_flush_pending(struct qcow2 *q)
{
	int err;

	if (!q->npend)
		return 0;
	err = qio_pwritev(q, q->pend, q->npend, q->pend_host);
	q->npend = 0;
	q->pend_len = 0;
	q->data_unsynced = true;
	return err;
}

static int pend_add(struct qcow2 *q, uint64_t host, const struct iovec *v, int n)
{
	size_t len = iov_size(v, n);
	int err;

	if (q->npend && (q->pend_host + q->pend_len != host || q->npend + n > IOV_MAX))
		if ((err = qcow2_flush_pending(q)))
			return err;
	if (q->npend + n > q->apend) {
		int na = (q->npend + n) * 2;
		struct iovec *p = realloc(q->pend, (size_t)na * sizeof(*p));

		if (!p)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		q->pend = p;
		q->apend = na;
	}
	if (!q->npend)
		q->pend_host = host;
	memcpy(q->pend + q->npend, v, (size_t)n * sizeof(*v));
	q->npend += n;
	q->pend_len += len;
	return 0;
}

/*
 * Does [off, off+len) read as zeroes through chain l, judging by metadata
 * alone (no data read)?  False when unsure.  Lets a fresh cluster skip
 * copying zeroes from an empty backing file, as qemu does.
 */
static bool chain_zero(struct qcow2 *l, uint64_t off, uint64_t len)
{
	for (; l; l = l->backing) {
		bool all_zero = true;
		uint64_t pos = off, end = off + len;

		if (off >= l->size)
			return true;
		if (l->fmt == FMT_RAW || end > l->size)
			return false;
		while (pos < end) {
			uint64_t in = pos & (l->cluster_size - 1);
			uint64_t n = end - pos < l->cluster_size - in ? end - pos : l->cluster_size - in;
			uint32_t mask = sc_mask((unsigned)(in >> l->sc_bits),
						(unsigned)((in + n - 1) >> l->sc_bits));
			struct clmap m;

			if (cluster_lookup(l, pos >> l->cluster_bits, &m) || m.compressed ||
			    (m.alloc & mask))
				return false;
			if ((m.zero & mask) != mask)
				all_zero = false;
			pos += n;
		}
		if (all_zero)
			return true;
	}
	return true;
}

/* What [x, x+len) of guest cluster c read as before this write, into buf. */
static int fill_from(struct qcow2 *q, const struct clmap *m, uint64_t c, uint64_t x,
		     uint64_t len, uint8_t *buf, bool *zero)
{
	struct iovec v = { buf, (size_t)len };
	const uint8_t *data;
	int err;

	*zero = false;
	if (m->compressed) {
		if ((err = qcow2_read_compressed(q, m, &data)))
			return err;
		memcpy(buf, data + x, len);
		return 0;
	}
	/* (no backing opened: only whole-subcluster writers such as seal get here) */
	if ((m->zero >> (x >> q->sc_bits)) & 1 || !q->backing ||
	    chain_zero(q->backing, (c << q->cluster_bits) + x, len)) {
		memset(buf, 0, len);
		*zero = true;
		return 0;
	}
	return layer_read(q->backing, &v, 1, (c << q->cluster_bits) + x, len);
}

/* An in-place write must not land on metadata we know about. */
static int check_data_cluster(struct qcow2 *q, uint64_t host)
{
	unsigned i;

	if (host >= q->alloc_next)
		return SBX_CORRUPT("data cluster %#" PRIx64 " is beyond the end of '%s'", host, q->path);
	if (q->l1_size && host + q->cluster_size > q->l1_offset &&
	    host < q->l1_offset + (uint64_t)q->l1_size * 8)
		return SBX_CORRUPT("data cluster %#" PRIx64 " overlaps the L1 table", host);
	if (q->rt_offset && host >= q->rt_offset &&
	    host < q->rt_offset + ((uint64_t)q->rt_clusters << q->cluster_bits))
		return SBX_CORRUPT("data cluster %#" PRIx64 " overlaps the refcount table", host);
	for (i = 0; i < q->ncache; i++)
		if (q->cache[i].off == host)
			return SBX_CORRUPT("data cluster %#" PRIx64 " is also an L2 table", host);
	return 0;
}

static int write_cluster(struct qcow2 *q, uint64_t c, uint64_t in, uint64_t n,
			 const struct iovec *iov, int cnt, size_t skip)
{
	uint64_t idx = c & ((1ULL << q->l2_bits) - 1), scs = 1ULL << q->sc_bits;
	unsigned first = (unsigned)(in >> q->sc_bits), last = (unsigned)((in + n - 1) >> q->sc_bits);
	uint32_t touched = sc_mask(first, last);
	struct iovec v[IOV_MAX > 64 ? 64 : IOV_MAX], *vv = v;
	struct l2_slot *s;
	struct clmap m, nm;
	uint64_t host, hs, he, start;
	bool fresh, zero, zeroed = false;
	int nv = 0, k, err;

	if ((err = l2_get(q, c >> q->l2_bits, true, &s)))
		return err;
	if ((err = l2_decode(q, s->buf, idx, &m)))
		return err;
	fresh = m.compressed || !m.host;
	if (fresh) {
		host = qcow2_alloc_cluster(q, &zeroed);
		if (!host)
			return sbx_error_set(SBX_ELIMIT, "'%s' is full (host offsets exhausted)", q->path);
	} else {
		host = m.host;
		if ((err = check_data_cluster(q, host)))
			return err;
	}
	if (m.compressed) {
		hs = 0;
		he = q->cluster_size;
		touched = q->all_sc;
	} else {
		hs = (m.alloc >> first) & 1 ? in : (uint64_t)first * scs;
		he = (m.alloc >> last) & 1 ? in + n : (uint64_t)(last + 1) * scs;
	}
	start = hs;
	if (hs < in) {
		if ((err = fill_from(q, &m, c, hs, in - hs, q->head_buf, &zero)))
			return err;
		if (zeroed && zero) {
			start = in;	/* the new cluster reads as zeroes already */
		} else {
			v[nv].iov_base = q->head_buf;
			v[nv++].iov_len = (size_t)(in - hs);
		}
	}
	if (cnt + 2 > (int)ARRAY_SIZE(v) && !(vv = malloc(((size_t)cnt + 2) * sizeof(*vv))))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (vv != v)
		memcpy(vv, v, (size_t)nv * sizeof(*v));
	k = iov_slice(vv + nv, cnt, iov, cnt, skip, (size_t)n);
	if (k < 0) {
		err = sbx_error_set(SBX_EINVAL, "I/O vector shorter than the request");
		goto out;
	}
	nv += k;
	if (he > in + n) {
		if ((err = fill_from(q, &m, c, in + n, he - in - n, q->tail_buf, &zero)))
			goto out;
		if (!(zeroed && zero)) {
			vv[nv].iov_base = q->tail_buf;
			vv[nv++].iov_len = (size_t)(he - in - n);
		}
	}
	if ((err = pend_add(q, host + start, vv, nv)))
		goto out;
	nm = m;
	nm.compressed = false;
	nm.coff = nm.clen = 0;
	nm.host = host;
	nm.alloc |= touched;
	nm.zero &= ~touched;
	if (!clmap_eq(&nm, &m)) {
		l2_encode(q, s->buf, idx, &nm);
		s->dirty = true;
	}
out:
	if (vv != v)
		free(vv);
	return err;
}

int qcow2_pwritev(struct qcow2 *q, const struct iovec *iov, int iovcnt, uint64_t off)
{
	size_t len = iov_size(iov, iovcnt), pos = 0;
	int err = check_request(q, off, len, true);

	if (!err && len)
		err = qcow2_mark_dirty(q);
	while (!err && pos < len) {
		uint64_t g = off + pos, in = g & (q->cluster_size - 1);
		uint64_t n = len - pos < q->cluster_size - in ? len - pos : q->cluster_size - in;

		err = write_cluster(q, g >> q->cluster_bits, in, n, iov, iovcnt, pos);
		pos += n;
	}
	if (!err)
		err = qcow2_flush_pending(q);
	if (err && err != SBX_EINVAL)
		q->broken = true;
	return err;
}

int qcow2_write(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
	struct iovec v = { (void *)buf, len };

	return qcow2_pwritev(q, &v, 1, off);
}

/* Does [in, in+n) of this cluster already read as zeroes in this layer? */
static bool reads_zero(const struct qcow2 *q, const struct clmap *m, uint64_t in, uint64_t n)
{
	unsigned s;

	if (m->compressed)
		return false;
	for (s = (unsigned)(in >> q->sc_bits); s <= (in + n - 1) >> q->sc_bits; s++)
		if (!((m->zero >> s) & 1) && ((m->alloc >> s) & 1 || q->backing_file))
			return false;
	return true;
}

static int write_zero_part(struct qcow2 *q, uint64_t c, uint64_t in, uint64_t n)
{
	struct iovec v;
	struct clmap m;
	int err;

	if (!n)
		return 0;
	if ((err = cluster_lookup(q, c, &m)))
		return err;
	if (reads_zero(q, &m, in, n))
		return 0;
	if (!q->zero_buf && !(q->zero_buf = calloc(1, q->cluster_size)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	v.iov_base = q->zero_buf;
	v.iov_len = (size_t)n;
	return write_cluster(q, c, in, n, &v, 1, 0);
}

static int zero_cluster(struct qcow2 *q, uint64_t c, uint64_t in, uint64_t n, bool discard)
{
	uint64_t scs = 1ULL << q->sc_bits, fs = align_up(in, scs), fe = (in + n) & ~(scs - 1);
	uint64_t idx = c & ((1ULL << q->l2_bits) - 1);
	uint32_t full;
	struct l2_slot *s;
	struct clmap m, nm;
	int err;

	if (fs >= fe) {		/* no whole subcluster */
		return discard ? 0 : write_zero_part(q, c, in, n);
	}
	if (!discard && ((err = write_zero_part(q, c, in, fs - in)) ||
			 (err = write_zero_part(q, c, fe, in + n - fe))))
		return err;
	full = sc_mask((unsigned)(fs >> q->sc_bits), (unsigned)((fe - 1) >> q->sc_bits));
	if (!q->backing_file && !(q->l1[c >> q->l2_bits] & L1E_OFFSET))
		return 0;	/* unallocated and nothing below: reads as zeroes already */
	if ((err = l2_get(q, c >> q->l2_bits, true, &s)) || (err = l2_decode(q, s->buf, idx, &m)))
		return err;
	if (m.compressed && full != q->all_sc)
		return write_zero_part(q, c, fs, fe - fs);	/* rewrite it uncompressed */
	nm = m;
	if (m.compressed) {
		memset(&nm, 0, sizeof(nm));
		nm.zero = q->all_sc;
	} else {
		nm.alloc &= ~full;
		nm.zero |= full;
		if (!nm.alloc && nm.host) {
			/* Nothing left in the host cluster: drop it (never reused while open). */
			if ((err = qcow2_flush_pending(q)) || (err = qio_punch(q, nm.host, q->cluster_size)))
				return err;
			nm.host = 0;
		}
	}
	if (!clmap_eq(&nm, &m)) {
		l2_encode(q, s->buf, idx, &nm);
		s->dirty = true;
	}
	return 0;
}

static int zero_range(struct qcow2 *q, uint64_t off, uint64_t len, bool discard)
{
	uint64_t pos = 0;
	int err = check_request(q, off, len, true);

	if (!err && len)
		err = qcow2_mark_dirty(q);
	while (!err && pos < len) {
		uint64_t g = off + pos, in = g & (q->cluster_size - 1);
		uint64_t n = len - pos < q->cluster_size - in ? len - pos : q->cluster_size - in;

		err = zero_cluster(q, g >> q->cluster_bits, in, n, discard);
		pos += n;
	}
	if (!err)
		err = qcow2_flush_pending(q);
	if (err && err != SBX_EINVAL)
		q->broken = true;
	return err;
}

int qcow2_write_zeroes(struct qcow2 *q, uint64_t off, uint64_t len)
{
	return zero_range(q, off, len, false);
}

int qcow2_discard(struct qcow2 *q, uint64_t off, uint64_t len)
{
	return zero_range(q, off, len, true);
}

int qcow2_flush(struct qcow2 *q)
{
	unsigned i;
	int err;

	if (q->read_only)
		return 0;
	if (q->broken)
		return sbx_error_set(SBX_EIO, "'%s' had a write error; reopen it", q->path);
	if ((err = qcow2_flush_pending(q)))
		goto fail;
	for (i = 0; i < q->ncache; i++)
		if (q->cache[i].dirty && (err = l2_writeback(q, &q->cache[i])))
			goto fail;
	if ((err = l1_writeback(q)))
		goto fail;
	if (q->data_unsynced || q->meta_unsynced) {
		if ((err = qio_sync(q)))
			goto fail;
		q->data_unsynced = q->meta_unsynced = false;
	}
	return 0;
fail:
	q->broken = true;
	return err;
}

int qcow2_revert(struct qcow2 *q)
{
	unsigned i;
	int err;

	if (q->read_only)
		return sbx_error_set(SBX_EINVAL, "'%s' is read-only", q->path);
	if (!q->l1_empty_at_open)
		return sbx_error_set(SBX_EUNSUPPORTED, "'%s' held data when it was opened: only a "
				     "fresh overlay can be reverted", q->path);
	/* Pending data first, so nothing written after the cut refers past it. */
	if ((err = qcow2_flush(q)))
		return err;
	for (i = 0; i < q->ncache; i++) {
		q->cache[i].off = 0;
		q->cache[i].dirty = false;
	}
	memset(q->l1, 0, (size_t)q->l1_size * 8);
	memset(q->l1_dirty, 1, (q->l1_size * 8 + 511) / 512);
	if ((err = l1_writeback(q)) || (err = qio_sync(q)))
		goto fail;
	q->meta_unsynced = q->data_unsynced = false;
	/* The L2 tables and data were appended after the open-time end: give them back. */
	if (ftruncate(q->fd, (off_t)q->file_size) < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot cut '%s' back", q->path);
		goto fail;
	}
	q->alloc_next = (q->file_size + q->cluster_size - 1) & ~(q->cluster_size - 1);
	q->nfree = q->ifree = 0;	/* clusters reused since the open are not trusted free */
	q->dbuf_coff = UINT64_MAX;
	return 0;
fail:
	q->broken = true;
	return err;
}
