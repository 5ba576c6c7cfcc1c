// SPDX-License-Identifier: MIT
/*
 * qcow2 check and repair: count every reference from the metadata, compare
 * with the stored refcounts.  Leaks (refcount above the references) and, in
 * a dirty image with lazy refcounts, stale refcounts are repaired by a
 * rebuild; anything structural (bad offsets, clusters used twice, refcounts
 * too low in a clean image) is a corruption and is never "repaired".
 */
#include "snapshot/qcow2-int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define RT_RESERVED 0x1ffULL

static void note(struct qcow2_check_result *res, const char *msg)
{
	res->corruptions++;
	if (!res->first_error[0])
		snprintf(res->first_error, sizeof(res->first_error), "%s", msg);
}

static int compare(struct qcow2 *q, struct refcounts *rc, struct qcow2_check_result *res)
{
	uint64_t cs = q->cluster_size, per_block = (cs * 8) >> q->refcount_order;
	uint64_t nrt = ((uint64_t)q->rt_clusters << q->cluster_bits) / 8, b, i;
	uint64_t *rt = NULL, *seen = NULL;
	uint8_t *block = NULL;
	char msg[200];
	int err = 0;

	seen = calloc(rc->nclusters ? rc->nclusters : 1, sizeof(*seen));
	block = malloc(cs);
	if (nrt && !(rt = malloc(nrt * 8)))
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
	if (!err && (!seen || !block))
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
	if (!err && nrt && (err = qio_pread(q, rt, nrt * 8, q->rt_offset)))
		goto out;
	if (err)
		goto out;
	/* The refcount structures are referenced too. */
	if (q->rt_offset && nrt) {
		for (i = q->rt_offset / cs; i < q->rt_offset / cs + q->rt_clusters && i < rc->nclusters; i++)
			rc->n[i]++;
	}
	for (b = 0; b < nrt; b++) {
		uint64_t off = be64toh(rt[b]);

		if (!off)
			continue;
		if (off & RT_RESERVED || off % cs || off / cs >= rc->nclusters) {
			snprintf(msg, sizeof(msg), "refcount block %" PRIu64 " at %#" PRIx64
				 " is invalid", b, off);
			note(res, msg);
			continue;
		}
		rc->n[off / cs]++;
	}
	for (b = 0; b < nrt; b++) {
		uint64_t off = be64toh(rt[b]);

		if (!off || off & RT_RESERVED || off % cs || off / cs >= rc->nclusters)
			continue;
		if ((err = qio_pread(q, block, cs, off)))
			goto out;
		for (i = 0; i < per_block; i++) {
			uint64_t c = b * per_block + i, v = refcount_get(block, i, q->refcount_order);

			if (c >= rc->nclusters) {
				if (v)
					res->leaks++;
				continue;
			}
			seen[c] = 1;
			if (v > rc->n[c]) {
				res->leaks++;
			} else if (v < rc->n[c]) {
				if (res->dirty) {
					res->stale_refcounts++;
				} else {
					snprintf(msg, sizeof(msg), "cluster %#" PRIx64 " has refcount %" PRIu64
						 " but %" PRIu32 " references", c * cs, v, rc->n[c]);
					note(res, msg);
				}
			}
		}
	}
	for (i = 0; i < rc->nclusters; i++) {
		if (seen[i] || !rc->n[i])
			continue;
		if (res->dirty) {
			res->stale_refcounts++;
		} else {
			snprintf(msg, sizeof(msg), "cluster %#" PRIx64 " is used but has no refcount",
				 i * cs);
			note(res, msg);
		}
	}
out:
	free(rt);
	free(seen);
	free(block);
	return err;
}

static int check_once(const char *path, struct qcow2_check_result *res)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct refcounts rc = { 0 };
	struct qcow2 *q = NULL;
	int err;

	memset(res, 0, sizeof(*res));
	o.read_only = true;
	o.no_backing = true;
	err = qcow2_open(&q, path, &o);
	if (err == SBX_ECORRUPT) {
		note(res, sbx_error());
		return 0;
	}
	if (err)
		return err;
	res->dirty = q->incompat & INCOMPAT_DIRTY;
	res->total_clusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
	rc.for_check = true;
	if ((err = refcounts_walk(q, &rc)))
		goto out;
	res->corruptions = rc.corruptions;
	if (rc.first_error[0])
		snprintf(res->first_error, sizeof(res->first_error), "%s", rc.first_error);
	res->allocated_clusters = rc.data_clusters;
	res->compressed_clusters = rc.compressed;
	res->image_end_offset = q->file_size;
	if (q->rt_offset || !res->dirty)
		err = compare(q, &rc, res);
	else
		res->stale_refcounts = rc.nclusters;	/* no refcounts yet (creation interrupted) */
out:
	refcounts_free(&rc);
	qcow2_close(q);
	return err;
}

int qcow2_check(const char *path, bool repair, struct qcow2_check_result *res)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct qcow2 *q = NULL;
	uint64_t fixed;
	int err = check_once(path, res);

	if (err || !repair || res->corruptions || (!res->leaks && !res->stale_refcounts && !res->dirty))
		return err;
	fixed = res->leaks + res->stale_refcounts;
	o.no_backing = true;
	o.no_repair = true;
	if ((err = qcow2_open(&q, path, &o)))
		return err;
	err = qcow2_rebuild_refcounts(q);
	if (!err)
		err = qcow2_close(q);
	else
		qcow2_close(q);
	if (!err && !(err = check_once(path, res)))
		res->repaired = fixed;
	return err;
}
