// SPDX-License-Identifier: MIT
/*
 * The host's channel frame parser (sbx/channel.c) and the TLV walker of
 * sbx/proto.h, fed arbitrary bytes in arbitrary splits: the guest is hostile.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sbx/channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_frame(void *opaque, const struct proto_hdr *h, const uint8_t *p)
{
	struct proto_tlv_iter it = { p, p + h->length };
	const uint8_t *val;
	uint32_t len;
	uint8_t tag;
	size_t *frames = opaque;
	int r;

	(*frames)++;
	if (h->length > PROTO_MAX_PAYLOAD)
		__builtin_trap();
	while ((r = proto_tlv_next(&it, &tag, &val, &len)) > 0) {
		if (val < p || val + len > p + h->length)
			__builtin_trap();
		(void)proto_str_ok(val, len);
	}
	return h->type == PROTO_ERROR ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct chan_parser parser;
	size_t frames = 0, off = 0, step;

	if (!size)
		return 0;
	/* The first byte picks how the stream is split into reads. */
	step = 1 + data[0] % 64;
	data++;
	size--;
	parser.len = 0;
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		if (chan_parser_feed(&parser, data + off, n, on_frame, &frames))
			break;
		off += n;
		step = step * 7 % 4096 + 1;
	}
	return 0;
}
