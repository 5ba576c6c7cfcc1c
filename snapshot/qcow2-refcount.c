// SPDX-License-Identifier: MIT
/*
 * qcow2 refcounts.  We keep them lazily: while an image is open for writing
 * its dirty bit is set and nothing updates refcounts; on clean close (and on
 * the next writable open after a crash) they are rebuilt from the L1/L2
 * tables.  While the dirty bit is set nobody trusts the refcount structures,
 * so the rebuild may put the new ones in any unreferenced clusters.
 */
#include "snapshot/qcow2-int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define USE_EXCL	1u	/* metadata or a standard data cluster: one owner */
#define USE_SHARED	2u	/* compressed data: clusters may be shared */

uint64_t refcount_get(const uint8_t *block, uint64_t idx, unsigned order)
{
	unsigned w;

	switch (order) {
	case 3: return block[idx];
	case 4: return get_be16(block + idx * 2);
	case 5: return get_be32(block + idx * 4);
	case 6: return get_be64(block + idx * 8);
	default:
		w = 1u << order;
		return (block[idx * w / 8] >> (idx * w % 8)) & ((1u << w) - 1);
	}
}

void refcount_set(uint8_t *block, uint64_t idx, unsigned order, uint64_t v)
{
	unsigned w, sh;

	switch (order) {
	case 3: block[idx] = (uint8_t)v; break;
	case 4: put_be16(block + idx * 2, (uint16_t)v); break;
	case 5: put_be32(block + idx * 4, (uint32_t)v); break;
	case 6: put_be64(block + idx * 8, v); break;
	default:
		w = 1u << order;
		sh = (unsigned)(idx * w % 8);
		block[idx * w / 8] = (uint8_t)((block[idx * w / 8] & ~(((1u << w) - 1) << sh)) |
					       ((v & ((1u << w) - 1)) << sh));
	}
}

static int problem(struct refcounts *rc, int err)
{
	rc->corruptions++;
	if (!rc->first_error[0])
		snprintf(rc->first_error, sizeof(rc->first_error), "%s", sbx_error());
	return rc->for_check ? 0 : err;
}

static int use(struct refcounts *rc, uint8_t *kind, const struct qcow2 *q, uint64_t off,
	       uint64_t len, unsigned how, const char *what)
{
	uint64_t i, first = off >> q->cluster_bits, last;

	if (!len)
		return 0;
	last = (off + len - 1) >> q->cluster_bits;
	if (last >= rc->nclusters)
		return problem(rc, SBX_CORRUPT("%s at %#" PRIx64 " is beyond the end of the file",
					       what, off));
	for (i = first; i <= last; i++) {
		if (kind[i] && (kind[i] == USE_EXCL || how == USE_EXCL))
			return problem(rc, SBX_CORRUPT("cluster %#" PRIx64 " is used twice (%s)",
						       i << q->cluster_bits, what));
		kind[i] |= (uint8_t)how;
		rc->n[i]++;
	}
	return 0;
}

static int walk_l2(struct qcow2 *q, struct refcounts *rc, uint8_t *kind, uint64_t l1i)
{
	uint64_t i, n = 1ULL << q->l2_bits;
	struct l2_slot *s;
	struct clmap m;
	int err;

	if ((err = l2_get(q, l1i, false, &s)))
		return problem(rc, err);
	for (i = 0; s && i < n; i++) {
		if ((err = l2_decode(q, s->buf, i, &m))) {
			if ((err = problem(rc, err)))
				return err;
			continue;
		}
		if (m.compressed) {
			rc->compressed++;
			rc->data_clusters++;
			err = use(rc, kind, q, m.coff & ~511ULL, m.clen + (m.coff & 511), USE_SHARED,
				  "compressed cluster");
		} else if (m.host) {
			if (m.alloc)
				rc->data_clusters++;
			err = use(rc, kind, q, m.host, q->cluster_size, USE_EXCL, "data cluster");
		}
		if (err)
			return err;
	}
	return 0;
}

/* Count the references to every host cluster below q->alloc_next. */
int refcounts_walk(struct qcow2 *q, struct refcounts *rc)
{
	uint8_t *kind = NULL;
	uint64_t i;
	int err;

	if (q->nb_snapshots)
		return sbx_error_set(SBX_EUNSUPPORTED, "'%s' has internal snapshots; they are not "
				     "supported (qemu-img snapshot -d removes them)", q->path);
	if (q->has_bitmaps)
		return sbx_error_set(SBX_EUNSUPPORTED, "'%s' has persistent dirty bitmaps; they are "
				     "not supported", q->path);
	rc->nclusters = q->alloc_next >> q->cluster_bits;
	rc->n = calloc(rc->nclusters ? rc->nclusters : 1, sizeof(*rc->n));
	kind = calloc(rc->nclusters ? rc->nclusters : 1, 1);
	if (!rc->n || !kind) {
		free(kind);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	err = use(rc, kind, q, 0, q->cluster_size, USE_EXCL, "header");
	if (!err && q->l1_size)
		err = use(rc, kind, q, q->l1_offset, (uint64_t)q->l1_size * 8, USE_EXCL, "L1 table");
	for (i = 0; !err && i < q->l1_size; i++) {
		uint64_t off = q->l1[i] & L1E_OFFSET;

		if (!off)
			continue;
		if ((err = check_table_offset(q, off, q->cluster_size, "L2 table"))) {
			err = problem(rc, err);
			continue;
		}
		if ((err = use(rc, kind, q, off, q->cluster_size, USE_EXCL, "L2 table")))
			break;
		err = walk_l2(q, rc, kind, i);
	}
	free(kind);
	return err;
}

void refcounts_free(struct refcounts *rc)
{
	free(rc->n);
	rc->n = NULL;
}

/* The first run of `len` unreferenced clusters below `end`, or `end`. */
static uint64_t find_free(const struct refcounts *rc, uint64_t end, uint64_t len)
{
	uint64_t i, run = 0;

	for (i = 1; i < end; i++) {
		run = rc->n[i] ? 0 : run + 1;
		if (run == len)
			return i + 1 - len;
	}
	return end;
}

int qcow2_rebuild_refcounts(struct qcow2 *q)
{
	struct refcounts rc = { 0 };
	uint64_t cs = q->cluster_size, per_block = (cs * 8) >> q->refcount_order;
	uint64_t max = q->refcount_order == 6 ? UINT64_MAX : (1ULL << (1u << q->refcount_order)) - 1;
	uint64_t E, T = 1, B = 0, start, total, b, i, old_off = q->rt_offset;
	uint64_t old_len = (uint64_t)q->rt_clusters << q->cluster_bits;
	uint64_t *old = NULL;
	uint8_t *table = NULL, *block = NULL;
	int err, iter;

	if ((err = refcounts_walk(q, &rc)))
		goto out;
	E = rc.nclusters;
	for (i = 0; i < E; i++)
		if (rc.n[i] > max) {
			err = sbx_error_set(SBX_EUNSUPPORTED, "refcount of cluster %#" PRIx64
					    " overflows %u bits", i * cs, 1u << q->refcount_order);
			goto out;
		}
	/* The old structures, to free them afterwards (only if they look sane). */
	if (old_off && old_len && !check_table_offset(q, old_off, old_len, "refcount table")) {
		old = malloc(old_len);
		if (old && qio_pread(q, old, old_len, old_off)) {
			free(old);
			old = NULL;
		}
	}
	/* Size the new structures for the clusters in use plus themselves. */
	start = E;
	for (iter = 0; iter < 64; iter++) {
		uint64_t nb, nt;

		total = E;
		start = find_free(&rc, E, T + B);
		if (start + T + B > E)
			total = start + T + B;
		nb = (total + per_block - 1) / per_block;
		nt = align_up(nb * 8, cs) / cs;
		if (nb == B && nt == T)
			break;
		B = nb;
		T = nt;
	}
	table = calloc(1, T * cs);
	block = malloc(cs);
	if (!table || !block) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	for (b = 0; b < B; b++) {
		uint64_t off = (start + T + b) * cs;

		memset(block, 0, cs);
		for (i = b * per_block; i < (b + 1) * per_block && i < total; i++) {
			uint64_t v = i < E ? rc.n[i] : 0;

			if (i >= start && i < start + T + B)
				v = 1;
			refcount_set(block, i - b * per_block, q->refcount_order, v);
		}
		if ((err = qio_pwrite(q, block, cs, off)))
			goto out;
		put_be64(table + b * 8, off);
	}
	if ((err = qio_pwrite(q, table, T * cs, start * cs)) || (err = qio_sync(q)))
		goto out;
	q->rt_offset = start * cs;
	q->rt_clusters = (uint32_t)T;
	q->incompat &= ~INCOMPAT_DIRTY;
	if ((err = qcow2_write_header(q)))
		goto out;
	q->dirty_on_disk = false;
	if (start + T + B > E)
		q->alloc_next = (start + T + B) * cs;
	/* Free clusters at the end of the file: give them back. */
	for (i = E; i > start + T + B && !rc.n[i - 1]; i--)
		;
	if (i < E && !ftruncate(q->fd, (off_t)(i * cs)))
		q->alloc_next = i * cs;
	/* Free what the old structures held and the new ones did not reuse. */
	for (i = 0; old && i <= old_len / 8; i++) {
		uint64_t off = i < old_len / 8 ? be64toh(old[i]) : old_off, len = i < old_len / 8 ? cs : old_len;
		uint64_t c = off / cs;

		if (off && off % cs == 0 && c + len / cs <= E && (c >= start + T + B || c + len / cs <= start)) {
			uint64_t k;
			bool unused = true;

			for (k = c; k < c + len / cs; k++)
				unused = unused && !rc.n[k];
			if (unused)
				qio_punch(q, off, len);
		}
	}
out:
	free(old);
	free(table);
	free(block);
	refcounts_free(&rc);
	return err;
}

int qcow2_load_free(struct qcow2 *q)
{
	uint64_t cs = q->cluster_size, per_block = (cs * 8) >> q->refcount_order;
	uint64_t nrt = ((uint64_t)q->rt_clusters << q->cluster_bits) / 8;
	uint64_t ncl = q->alloc_next >> q->cluster_bits, c, b, cur_b = UINT64_MAX;
	uint64_t *rt = NULL;
	uint8_t *block = NULL;
	size_t cap = 0;
	int err = 0;

	if (q->read_only || (q->incompat & INCOMPAT_DIRTY) || !q->rt_offset || !nrt)
		return 0;
	rt = malloc(nrt * 8);
	block = malloc(cs);
	if (!rt || !block) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = qio_pread(q, rt, nrt * 8, q->rt_offset)))
		goto out;
	for (c = 1; c < ncl; c++) {
		uint64_t v = 0;

		b = c / per_block;
		if (b < nrt && rt[b]) {
			uint64_t off = be64toh(rt[b]);

			if (off & 0x1ff || off % cs || off + cs > q->alloc_next)
				goto none;	/* not trustworthy: append only */
			if (b != cur_b && (err = qio_pread(q, block, cs, off)))
				goto out;
			cur_b = b;
			v = refcount_get(block, c % per_block, q->refcount_order);
		}
		if (v)
			continue;
		if (q->nfree && q->free[q->nfree - 1].start + q->free[q->nfree - 1].len == c) {
			q->free[q->nfree - 1].len++;
			continue;
		}
		if (q->nfree == cap) {
			struct free_run *f;

			cap = cap ? 2 * cap : 16;
			if (cap > (1u << 20))
				break;
			if (!(f = realloc(q->free, cap * sizeof(*f)))) {
				err = sbx_error_set(SBX_ENOMEM, "out of memory");
				goto out;
			}
			q->free = f;
		}
		q->free[q->nfree++] = (struct free_run){ c, 1 };
	}
	goto out;
none:
	q->nfree = 0;
out:
	free(rt);
	free(block);
	return err;
}
