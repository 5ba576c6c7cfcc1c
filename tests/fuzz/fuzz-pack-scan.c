// SPDX-License-Identifier: MIT
/*
 * Fuzz the pack stream scanner (sbx/pack-scan.c), which sees every byte of
 * the guest's pack before git does.  The first byte picks how the stream is
 * cut into writes and, through its top bit, small limits (so the limit paths
 * run too).  Invariants: the scanner never reads past what it is given,
 * never accepts a total over its limit, and once it fails it stays failed.
 * Seeds (tests/fuzz/corpus/pack-scan/) are packs written by git
 * pack-objects: plain objects, OFS and REF deltas.
 */
#include "sbx/pack-scan.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbx_pack_scan_limits lim = { 64u << 20, 256u << 20, 4096 };
	struct sbx_pack_scan s;
	size_t off = 0, chunk;
	uint8_t step;
	int err = 0;

	if (!size)
		return 0;
	step = data[0];
	data++;
	size--;
	if (step & 0x80) {
		lim.max_object = 300;
		lim.max_total = 1000;
		lim.max_objects = 8;
	}
	sbx_pack_scan_init(&s, &lim);
	while (off < size && !err) {
		chunk = (step & 0x7f) ? (size_t)(step & 0x3f) + 1 : size;
		if (chunk > size - off)
			chunk = size - off;
		err = sbx_pack_scan_feed(&s, data + off, chunk);
		off += chunk;
		if (s.total > lim.max_total || s.count > lim.max_objects || s.done > s.count)
			abort();
	}
	if (err && sbx_pack_scan_feed(&s, data, size ? 1 : 0) != err)
		abort();	/* not sticky */
	if (!err)
		err = sbx_pack_scan_finish(&s);
	if (!err && s.state != SBX_PACK_SCAN_DONE)
		abort();
	sbx_pack_scan_clear(&s);
	return 0;
}
