// SPDX-License-Identifier: MIT
/*
 * qcow2 L1/L2 tables: a bounded LRU cache of L2 tables, entry decoding with
 * validation, and write-back in crash-safe order (data synced before the L2
 * table that points at it, L2 synced before the L1 entry that points at it).
 */
#include "snapshot/qcow2-int.h"

#include <inttypes.h>
#include <stdlib.h>

#define L2_CACHE_DEFAULT	(4u << 20)
#define L2_CACHE_MIN		4u
#define L2_CACHE_MAX		1024u

int l2_cache_init(struct qcow2 *q, size_t bytes)
{
	size_t n = (bytes ? bytes : L2_CACHE_DEFAULT) >> q->cluster_bits;

	if (n < L2_CACHE_MIN)
		n = L2_CACHE_MIN;
	if (n > L2_CACHE_MAX)
		n = L2_CACHE_MAX;
	q->cache = calloc(n, sizeof(*q->cache));
	if (!q->cache)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	q->ncache = (unsigned)n;
	return 0;
}

void l2_cache_free(struct qcow2 *q)
{
	unsigned i;

	for (i = 0; q->cache && i < q->ncache; i++)
		free(q->cache[i].buf);
	free(q->cache);
	q->cache = NULL;
}

int l2_decode(const struct qcow2 *q, const uint8_t *table, uint64_t idx, struct clmap *m)
{
	uint64_t e, bm = 0;

	memset(m, 0, sizeof(*m));
	if (q->extl2) {
		e = get_be64(table + idx * 16);
		bm = get_be64(table + idx * 16 + 8);
	} else {
		e = get_be64(table + idx * 8);
	}
	if (e & L2E_COMPRESSED) {
		unsigned x = 62 - (q->cluster_bits - 8);
		uint64_t nsect = (e >> x) & ((1ULL << (q->cluster_bits - 8)) - 1);

		m->compressed = true;
		m->coff = e & ((1ULL << x) - 1);
		if (e & L2E_COPIED)
			return SBX_CORRUPT("compressed L2 entry %#" PRIx64 " has the copied flag", e);
		if (m->coff >= QCOW2_MAX_OFFSET || m->coff < q->cluster_size)
			return SBX_CORRUPT("compressed cluster offset %#" PRIx64 " is invalid", m->coff);
		if (bm)
			return SBX_CORRUPT("compressed cluster has a subcluster bitmap %#" PRIx64, bm);
		m->clen = (nsect + 1) * 512 - (m->coff & 511);
		return 0;
	}
	if (e & L2E_STD_RESERVED)
		return SBX_CORRUPT("L2 entry %#" PRIx64 " has reserved bits set", e);
	m->host = e & L2E_OFFSET;
	if (m->host & (q->cluster_size - 1))
		return SBX_CORRUPT("data cluster offset %#" PRIx64 " is not cluster aligned", m->host);
	if (q->extl2) {
		if (e & L2E_ZERO)
			return SBX_CORRUPT("extended L2 entry %#" PRIx64 " has the reserved zero bit", e);
		m->alloc = (uint32_t)bm;
		m->zero = (uint32_t)(bm >> 32);
		if (m->alloc & m->zero)
			return SBX_CORRUPT("subclusters %#" PRIx32 " are both allocated and zero",
					   m->alloc & m->zero);
		if (m->alloc && !m->host)
			return SBX_CORRUPT("allocated subclusters without a host cluster");
	} else if (e & L2E_ZERO) {
		m->zero = 1;
	} else if (m->host) {
		m->alloc = 1;
	}
	if (m->host && m->host < q->cluster_size)
		return SBX_CORRUPT("data cluster at offset 0 overlaps the header");
	return 0;
}

void l2_encode(const struct qcow2 *q, uint8_t *table, uint64_t idx, const struct clmap *m)
{
	uint64_t e = 0, bm = 0;

	if (m->compressed) {
		unsigned x = 62 - (q->cluster_bits - 8);
		uint64_t nsect = (m->clen + (m->coff & 511)) / 512 - 1;

		e = L2E_COMPRESSED | m->coff | (nsect << x);
	} else if (q->extl2) {
		e = m->host ? m->host | L2E_COPIED : 0;
		bm = m->alloc | ((uint64_t)m->zero << 32);
	} else if (m->alloc) {
		e = m->host | L2E_COPIED;
	} else if (m->zero) {
		e = L2E_ZERO | (m->host ? m->host | L2E_COPIED : 0);
	}
	if (q->extl2) {
		put_be64(table + idx * 16, e);
		put_be64(table + idx * 16 + 8, bm);
	} else {
		put_be64(table + idx * 8, e);
	}
}

int l2_writeback(struct qcow2 *q, struct l2_slot *s)
{
	int err;

	if (!s->dirty)
		return 0;
	if (q->broken)
		return sbx_error_set(SBX_EIO, "'%s' had a write error; refusing to write metadata",
				     q->path);
	/* The data an L2 entry points at is durable before the entry. */
	err = qcow2_flush_pending(q);
	if (!err && q->data_unsynced) {
		err = qio_sync(q);
		q->data_unsynced = err != 0;
	}
	if (!err)
		err = qio_pwrite(q, s->buf, q->cluster_size, s->off);
	if (err)
		return err;
	s->dirty = false;
	q->meta_unsynced = true;
	return 0;
}

int l1_writeback(struct qcow2 *q)
{
	uint64_t nsec = ((uint64_t)q->l1_size * 8 + 511) / 512, i;
	uint8_t buf[512];
	int err;

	for (i = 0; i < nsec; i++) {
		uint64_t first = i * 64, n = q->l1_size - first < 64 ? q->l1_size - first : 64, j;

		if (!q->l1_dirty[i])
			continue;
		/* The L2 tables (and data) an L1 entry points at are durable before it. */
		if (q->meta_unsynced || q->data_unsynced) {
			if ((err = qio_sync(q)))
				return err;
			q->meta_unsynced = q->data_unsynced = false;
		}
		for (j = 0; j < n; j++)
			put_be64(buf + j * 8, q->l1[first + j]);
		if ((err = qio_pwrite(q, buf, n * 8, q->l1_offset + i * 512)))
			return err;
		q->l1_dirty[i] = 0;
		q->meta_unsynced = true;
	}
	return 0;
}

static struct l2_slot *victim(struct qcow2 *q)
{
	struct l2_slot *v = &q->cache[0];
	unsigned i;

	for (i = 0; i < q->ncache; i++) {
		if (!q->cache[i].off)
			return &q->cache[i];
		if (q->cache[i].tick < v->tick)
			v = &q->cache[i];
	}
	return v;
}

static int take_slot(struct qcow2 *q, struct l2_slot **out)
{
	struct l2_slot *s = victim(q);
	int err;

	if (s->dirty && (err = l2_writeback(q, s)))
		return err;
	if (!s->buf && !(s->buf = malloc(q->cluster_size)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	s->off = 0;
	*out = s;
	return 0;
}

int l2_get(struct qcow2 *q, uint64_t l1i, bool create, struct l2_slot **slot)
{
	struct l2_slot *s;
	uint64_t off;
	unsigned i;
	int err;

	*slot = NULL;
	if (l1i >= q->l1_size)
		return SBX_CORRUPT("guest offset past the L1 table");
	off = q->l1[l1i] & L1E_OFFSET;
	if (!off) {
		if (!create)
			return 0;
		if ((err = take_slot(q, &s)))
			return err;
		memset(s->buf, 0, q->cluster_size);
		s->off = qcow2_alloc_cluster(q, NULL);
		if (!s->off)
			return sbx_error_set(SBX_ELIMIT, "'%s' is full (host offsets exhausted)", q->path);
		s->dirty = true;
		s->tick = ++q->tick;
		q->l1[l1i] = s->off | L1E_COPIED;
		q->l1_dirty[l1i / 64] = 1;
		*slot = s;
		return 0;
	}
	for (i = 0; i < q->ncache; i++) {
		if (q->cache[i].off == off) {
			q->cache[i].tick = ++q->tick;
			*slot = &q->cache[i];
			return 0;
		}
	}
	if ((err = check_table_offset(q, off, q->cluster_size, "L2 table")))
		return err;
	if ((err = take_slot(q, &s)))
		return err;
	if ((err = qio_pread(q, s->buf, q->cluster_size, off)))
		return err;
	s->off = off;
	s->dirty = false;
	s->tick = ++q->tick;
	*slot = s;
	return 0;
}

int cluster_lookup(struct qcow2 *q, uint64_t cluster, struct clmap *m)
{
	struct l2_slot *s;
	int err;

	memset(m, 0, sizeof(*m));
	err = l2_get(q, cluster >> q->l2_bits, false, &s);
	if (err || !s)
		return err;
	return l2_decode(q, s->buf, cluster & ((1ULL << q->l2_bits) - 1), m);
}
