/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM as the host sees it.  One anonymous host mapping holds all of
 * the guest's RAM; when RAM exceeds the 32-bit MMIO hole's start, the part
 * above it is placed at 4 GiB in guest-physical space:
 *
 *   guest-physical                      host
 *   [0, low_size)                       host[0, low_size)
 *   [4 GiB, 4 GiB + size - low_size)    host[low_size, size)
 *
 * Everything a device reads from guest memory goes through gmem_at(), which
 * returns NULL unless the whole range lies in one RAM region.  The guest is
 * hostile: never compute a host pointer from a guest address any other way.
 */
#ifndef SBX_VMM_GUEST_MEM_H
#define SBX_VMM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_HOLE_START	0xc0000000ULL	/* 3 GiB: start of the 32-bit MMIO hole */
#define GMEM_HIGH_START	0x100000000ULL	/* 4 GiB: where RAM resumes */

struct guest_mem {
	uint8_t *host;		/* the mapping, `size` bytes */
	uint64_t size;		/* all of guest RAM */
	uint64_t low_size;	/* RAM below the hole: min(size, GMEM_HOLE_START) */
	/*
	 * NULL, or a bitmap of the 4 KiB pages of `host` the VMM itself wrote
	 * (bit i = host[4096 i]), for diff snapshots: KVM's dirty log sees only
	 * the guest's writes.  Devices mark what they write with gmem_dirty().
	 */
	uint64_t *dirty;
};

/* Mark host[p, p + len) written by the VMM (p from gmem_at); any thread. */
static inline void gmem_dirty(const struct guest_mem *m, const void *p, uint64_t len)
{
	uint64_t first, last, i;

	if (!m->dirty || !len)
		return;
	first = (uint64_t)((const uint8_t *)p - m->host) >> 12;
	last = ((uint64_t)((const uint8_t *)p - m->host) + len - 1) >> 12;
	for (i = first; i <= last; i++)
		__atomic_fetch_or(&m->dirty[i / 64], 1ULL << (i % 64), __ATOMIC_RELAXED);
}

/* A host pointer to guest-physical [gpa, gpa + len), or NULL if it is not all RAM. */
static inline void *gmem_at(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t high;

	if (gpa < m->low_size)
		return len <= m->low_size - gpa ? m->host + gpa : NULL;
	if (gpa < GMEM_HIGH_START)
		return NULL;
	gpa -= GMEM_HIGH_START;
	high = m->size - m->low_size;
	if (gpa < high && len <= high - gpa)
		return m->host + m->low_size + gpa;
	return NULL;
}

#endif
