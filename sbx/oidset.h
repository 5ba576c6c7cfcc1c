/* SPDX-License-Identifier: MIT */
/* Sets and stacks of object ids for walks over untrusted packs (bounded by their caller). */
#ifndef SBX_SBX_OIDSET_H
#define SBX_SBX_OIDSET_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>

/* Open addressing; object ids are uniformly distributed, so the first bytes are the hash. */
struct sbx_oidset {
	git_oid *slots;
	unsigned char *used;
	size_t cap, n;
};
/* A growable array of oids used as a queue or a stack. */
struct sbx_oidvec {
	git_oid *v;
	size_t n, alloc, head;
};

bool sbx_oidset_has(const struct sbx_oidset *s, const git_oid *id);
/* 1 if added, 0 if it was there, negative on error. */
int sbx_oidset_add(struct sbx_oidset *s, const git_oid *id);
void sbx_oidset_clear(struct sbx_oidset *s);
int sbx_oidvec_push(struct sbx_oidvec *q, const git_oid *id);
void sbx_oidvec_clear(struct sbx_oidvec *q);

#endif
