// SPDX-License-Identifier: MIT
/*
 * Frames on the channel (sbx/proto.h): the incremental parser for what the
 * guest sends, and the queue of what we send it.
 */
#include "sbx/chan-int.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

int chan_parser_feed(struct chan_parser *p, const uint8_t *data, size_t len,
		     chan_frame_fn fn, void *opaque)
{
	while (len) {
		struct proto_hdr h;
		const char *why;
		size_t take, need;
		int err;

		need = PROTO_HDR_SIZE;
		if (p->len >= PROTO_HDR_SIZE) {
			if (proto_hdr_decode(&h, p->buf, &why))
				return SBX_CORRUPT("channel: %s", why);
			need = PROTO_HDR_SIZE + h.length;
		}
		take = need - p->len < len ? need - p->len : len;
		memcpy(p->buf + p->len, data, take);
		p->len += take;
		data += take;
		len -= take;
		if (p->len == PROTO_HDR_SIZE) {
			if (proto_hdr_decode(&h, p->buf, &why))
				return SBX_CORRUPT("channel: %s", why);
			if (h.length)
				continue;
		}
		if (p->len < PROTO_HDR_SIZE)
			continue;
		proto_hdr_decode(&h, p->buf, &why);
		if (p->len < PROTO_HDR_SIZE + h.length)
			continue;
		p->len = 0;
		err = fn(opaque, &h, p->buf + PROTO_HDR_SIZE);
		if (err)
			return err;
	}
	return 0;
}

int chan_q_push(struct outq *q, const void *p, size_t n)
{
	if (!n)
		return 0;	/* (an empty DATA: nothing to copy, maybe nowhere yet) */
	if (q->off == q->len)
		q->off = q->len = 0;
	if (q->len + n > q->cap) {
		size_t cap = q->cap ? q->cap : 8192;
		uint8_t *d;

		if (q->off) {
			memmove(q->data, q->data + q->off, q->len - q->off);
			q->len -= q->off;
			q->off = 0;
		}
		while (cap < q->len + n)
			cap *= 2;
		if (cap != q->cap) {
			d = realloc(q->data, cap);
			if (!d)
				return sbx_error_set(SBX_ENOMEM, "out of memory");
			q->data = d;
			q->cap = cap;
		}
	}
	memcpy(q->data + q->len, p, n);
	q->len += n;
	return 0;
}

int chan_send_frame(struct sbx_session *s, uint8_t type, uint8_t flags, uint32_t stream,
		    const void *payload, size_t len)
{
	uint8_t hdr[PROTO_HDR_SIZE];
	int err;

	if (len > PROTO_MAX_PAYLOAD)
		return sbx_error_set(SBX_EINVAL, "frame too long");
	proto_hdr_encode(hdr, type, flags, stream, (uint32_t)len);
	/* Between a QUIESCE and its RESUME nothing may follow the QUIESCE out. */
	err = chan_q_push(s->held ? &s->held_q : &s->q, hdr, sizeof(hdr));
	if (!err && len)
		err = chan_q_push(s->held ? &s->held_q : &s->q, payload, len);
	return err;
}
