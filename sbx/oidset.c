// SPDX-License-Identifier: MIT
#include "sbx/oidset.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

static size_t oid_hash(const git_oid *id)
{
	size_t h;

	memcpy(&h, id->id, sizeof(h));
	return h;
}

static int sbx_oidset_grow(struct sbx_oidset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 1024, i;
	git_oid *slots = calloc(ncap, sizeof(*slots));
	unsigned char *used = calloc(ncap, 1);

	if (!slots || !used) {
		free(slots);
		free(used);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	for (i = 0; i < s->cap; i++) {
		size_t j;

		if (!s->used[i])
			continue;
		for (j = oid_hash(&s->slots[i]) & (ncap - 1); used[j]; j = (j + 1) & (ncap - 1))
			;
		used[j] = 1;
		git_oid_cpy(&slots[j], &s->slots[i]);
	}
	free(s->slots);
	free(s->used);
	s->slots = slots;
	s->used = used;
	s->cap = ncap;
	return 0;
}

bool sbx_oidset_has(const struct sbx_oidset *s, const git_oid *id)
{
	size_t j;

	if (!s->cap)
		return false;
	for (j = oid_hash(id) & (s->cap - 1); s->used[j]; j = (j + 1) & (s->cap - 1))
		if (!git_oid_cmp(&s->slots[j], id))
			return true;
	return false;
}

/* 1 if added, 0 if it was there, negative on error. */
int sbx_oidset_add(struct sbx_oidset *s, const git_oid *id)
{
	size_t j;
	int err;

	if (sbx_oidset_has(s, id))
		return 0;
	if ((s->n + 1) * 2 > s->cap && (err = sbx_oidset_grow(s)))
		return err;
	for (j = oid_hash(id) & (s->cap - 1); s->used[j]; j = (j + 1) & (s->cap - 1))
		;
	s->used[j] = 1;
	git_oid_cpy(&s->slots[j], id);
	s->n++;
	return 1;
}

void sbx_oidset_clear(struct sbx_oidset *s)
{
	free(s->slots);
	free(s->used);
	memset(s, 0, sizeof(*s));
}


int sbx_oidvec_push(struct sbx_oidvec *q, const git_oid *id)
{
	if (q->n == q->alloc) {
		size_t na = q->alloc ? q->alloc * 2 : 256;
		git_oid *v = realloc(q->v, na * sizeof(*v));

		if (!v)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		q->v = v;
		q->alloc = na;
	}
	git_oid_cpy(&q->v[q->n++], id);
	return 0;
}

void sbx_oidvec_clear(struct sbx_oidvec *q)
{
	free(q->v);
	memset(q, 0, sizeof(*q));
}

