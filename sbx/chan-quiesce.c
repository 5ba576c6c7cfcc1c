// SPDX-License-Identifier: MIT
/*
 * Quiesce, resume and notes: the channel's part of a checkpoint of a
 * running guest (sbx/channel.h, protocol v4 in sbx/proto.h).
 */
#include "sbx/chan-int.h"
#include "util/error.h"

#include <string.h>

int chan_quiesce_frame(struct sbx_session *s, const struct proto_hdr *h, const uint8_t *p)
{
	if (h->type == PROTO_QUIESCED) {
		if (h->stream || h->flags || h->length)
			return SBX_CORRUPT("channel: bad QUIESCED (%u bytes on stream %u)", h->length,
					   h->stream);
		if (!s->qz.pending || s->qz.got)
			return SBX_CORRUPT("channel: QUIESCED answers no QUIESCE the host sent");
		s->qz.got = true;
		return 0;
	}
	/* NOTE: a kind, and for a COMMIT maybe its id */
	if (h->stream || h->flags || h->length < 1 || p[0] < 1 || p[0] > PROTO_NOTE_MAX ||
	    (h->length != 1 && (p[0] != PROTO_NOTE_COMMIT || h->length != 1 + PROTO_NOTE_OID_LEN)))
		return SBX_CORRUPT("channel: bad NOTE (%u bytes on stream %u)", h->length, h->stream);
	s->notes.kinds |= 1u << p[0];
	if (p[0] == PROTO_NOTE_COMMIT) {
		s->notes.has_commit = h->length > 1;
		if (h->length > 1)
			memcpy(s->notes.commit, p + 1, PROTO_NOTE_OID_LEN);
	}
	return 0;
}

static bool quiesced(struct sbx_session *s)
{
	return s->qz.got && !chan_q_left(&s->q);
}

int sbx_session_quiesce(struct sbx_session *s, uint64_t timeout_ms)
{
	int err;

	if (s->held || s->qz.pending)
		return sbx_error_set(SBX_EINVAL, "the channel is already quiesced");
	err = chan_send_frame(s, PROTO_QUIESCE, 0, 0, NULL, 0);
	if (err)
		return err;
	s->qz.pending = true;
	s->qz.got = false;
	s->held = true;
	err = chan_pump(s, chan_now_ms() + (timeout_ms ? timeout_ms : 1), quiesced);
	if (err == SBX_ETIMEDOUT)
		return sbx_error_set(err, "the guest stopped responding: no answer to QUIESCE within "
				     "%llu ms", (unsigned long long)timeout_ms);
	return err;
}

int sbx_session_resume(struct sbx_session *s, bool restored)
{
	uint8_t fl[4];
	int err;

	s->held = false;
	s->qz.pending = s->qz.got = false;
	proto_put32(fl, restored ? PROTO_RESUME_RESTORED : 0);
	err = chan_send_frame(s, PROTO_RESUME, 0, 0, fl, sizeof(fl));
	if (!err && chan_q_left(&s->held_q))
		err = chan_q_push(&s->q, s->held_q.data + s->held_q.off, chan_q_left(&s->held_q));
	s->held_q.off = s->held_q.len = 0;
	if (!err)
		err = chan_flush(s);
	return err;
}

void sbx_session_take_notes(struct sbx_session *s, struct sbx_session_notes *out)
{
	*out = s->notes;
	memset(&s->notes, 0, sizeof(s->notes));
}
