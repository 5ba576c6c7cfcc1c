// SPDX-License-Identifier: MIT
/*
 * Fuzz target: a snapshot state file from untrusted bytes
 * (snapshot/vmstate.c).  Parse it; for each record, decode it with the
 * cursor the way a device's restore does (fixed fields, a length-prefixed
 * blob, arrays counted by the record, exact-length checks), and check the
 * file round-trips: the records put into a new writer make a file that
 * parses to the same records.  Every 16th input also goes through a file
 * (vmstate_read_fd).  Any error is fine; a crash, a sanitizer report, a
 * hang or an abort() (a round trip that differs) is a finding.
 */
#include "snapshot/vmstate.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the decoded values go, so the decoding is not optimised away. */
volatile uint64_t fuzz_vmstate_sink;

static uint64_t decode(const struct vmstate_rec *r)
{
	uint8_t buf[64];
	struct vs_cur c;
	uint64_t sum = 0;
	const uint8_t *p;
	uint32_t n;

	vs_cur_init(&c, r);
	switch (r->type % 6) {
	case 0:	/* fixed fields, exact length */
		sum += vs_u8(&c) + vs_u16(&c) + vs_u32(&c) + vs_u64(&c);
		vs_bytes(&c, buf, sizeof(buf));
		sum += buf[0] + buf[63];
		if (!vs_cur_done(&c))
			sum ^= 1;
		break;
	case 1:	/* a length-prefixed blob, then more fields */
		n = vs_u32(&c);
		p = vs_ptr(&c, n);
		if (p && n)
			sum += p[0] + p[n - 1];
		sum += vs_u64(&c);
		break;
	case 2:	/* an array counted by the record (like MSRS: count, then entries) */
		n = vs_u32(&c);
		for (uint32_t i = 0; i < n && !c.bad; i++)
			sum += vs_u32(&c) ^ vs_u64(&c);
		break;
	case 3:	/* read everything byte by byte, past the end */
		for (size_t i = 0; i <= r->len + 8; i++)
			sum += vs_u8(&c);
		break;
	case 4:	/* big copies */
		while (!c.bad) {
			vs_bytes(&c, buf, 1 + sum % sizeof(buf));
			sum += buf[0] + 1;
		}
		break;
	default:
		sum += vs_u16(&c);
		p = vs_ptr(&c, c.left);
		if (p && r->len > 2)
			sum += p[r->len - 3];
		break;
	}
	return sum;
}

static void round_trip(const struct vmstate *s)
{
	struct vmstate_writer *w = NULL;
	struct vmstate *t = NULL;
	const uint8_t *buf;
	size_t len;

	if (vmstate_writer_new(&w))
		return;
	for (size_t i = 0; i < vmstate_count(s); i++) {
		const struct vmstate_rec *r = vmstate_rec(s, i);

		if (vmstate_put(w, r->type, r->index, r->data, r->len))
			abort();
	}
	buf = vmstate_writer_data(w, &len);
	if (vmstate_parse(&t, buf, len) || vmstate_count(t) != vmstate_count(s))
		abort();
	for (size_t i = 0; i < vmstate_count(s); i++) {
		const struct vmstate_rec *a = vmstate_rec(s, i), *b = vmstate_rec(t, i);

		if (a->type != b->type || a->index != b->index || a->len != b->len ||
		    (a->len && memcmp(a->data, b->data, a->len)))
			abort();
	}
	vmstate_free(t);
	vmstate_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmstate *s = NULL;
	uint64_t sum = 0;
	int fd;

	if (size > (4 << 20))
		return 0;
	if (size % 16 == 0 && (fd = memfd_create("fuzz-vmstate", MFD_CLOEXEC)) >= 0) {
		if (!size || write(fd, data, size) == (ssize_t)size) {
			if (!vmstate_read_fd(&s, fd, 1 << 20))
				vmstate_free(s);
			s = NULL;
		}
		close(fd);
	}
	if (vmstate_parse(&s, data, size))
		return 0;
	for (size_t i = 0; i < vmstate_count(s); i++) {
		const struct vmstate_rec *r = vmstate_rec(s, i);

		sum += decode(r);
		if (vmstate_find(s, r->type, r->index) > r)
			abort();
	}
	fuzz_vmstate_sink = sum;
	round_trip(s);
	vmstate_free(s);
	return 0;
}
