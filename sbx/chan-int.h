/* SPDX-License-Identifier: MIT */
/*
 * Inside the host's channel session (sbx/channel.c, sbx/chan-parse.c,
 * sbx/chan-stream.c): the session structure and the helpers its files share.
 */
#ifndef SBX_SBX_CHAN_INT_H
#define SBX_SBX_CHAN_INT_H

#include "sbx/channel.h"

#include <poll.h>

/* Bytes waiting to be written (to the channel, or to a stream's socket). */
struct outq {
	uint8_t *data;
	size_t off, len, cap;
};

int chan_q_push(struct outq *q, const void *p, size_t n);
static inline size_t chan_q_left(const struct outq *q)
{
	return q->len - q->off;
}

/* We read stream sockets only while the channel's queue holds less than this. */
#define CHAN_Q_HIGH	(1u << 20)

/*
 * Execs the host gave up on (SBX_ETIMEDOUT): the guest was told to kill
 * them; what it still sends for them is dropped, within the credit it had.
 */
#define GONE_MAX 4

struct gone {
	uint32_t id;		/* 0 = free */
	uint32_t granted[3];
	bool eof[3];
};

/* A stream the guest opened (sbx/chan-stream.c). */
struct chan_stream {
	uint32_t id;		/* 0 = a free slot */
	int fd;			/* the connected socket, -1 when refused, failed or closed */
	uint16_t port;		/* the guest client's port (from OPEN), for the audit */
	struct outq to_sock;	/* guest->socket bytes not yet written (<= the window) */
	uint32_t in_credit;	/* what the guest may still send us */
	uint32_t unacked;	/* written to the socket, not yet granted back */
	uint32_t out_credit;	/* what we may still send the guest */
	bool in_eof;		/* the guest sent EOF */
	bool sock_shut;		/* shutdown(SHUT_WR) done */
	bool wr_broken;		/* the socket takes no more: the guest's bytes are dropped */
	bool out_eof;		/* we sent EOF (the socket read 0) */
	bool sent_close;	/* we sent CLOSE: waiting for the guest's */
};

struct chan_streams {
	struct chan_stream tab[PROTO_MAX_GUEST_STREAMS];
	unsigned alive;			/* slots in use */
	sbx_stream_open_fn open;
	void *opaque;
	unsigned polled[PROTO_MAX_GUEST_STREAMS];	/* slot of each polled fd, this round */
	size_t npolled;
};

struct sbx_session {
	int fd;
	struct chan_parser parser;
	struct outq q;
	bool hello;
	char banner[64];
	uint32_t next_id;
	struct gone gone[GONE_MAX];
	unsigned next_gone;
	struct chan_streams st;
	/*
	 * A RESEED waiting for its RESEEDED (sbx_session_reseed); one whose
	 * wait timed out is `late`: its answer, when it comes, is dropped.
	 */
	struct {
		bool pending, done, late;
		uint64_t host_ns, late_ns;
		struct sbx_reseed_result res;
	} rs;
	/*
	 * Checkpoints (protocol v4, sbx/chan-quiesce.c): a QUIESCE waiting for
	 * its QUIESCED; `held` from the QUIESCE to the RESUME, when every frame
	 * we make goes to held_q instead (the channel must carry nothing after
	 * the QUIESCE while the guest is being saved); the NOTE kinds seen
	 * (1 << PROTO_NOTE_*) not yet taken; `in_between` while the exec's
	 * `between` callback runs (it is not called again inside).
	 */
	struct {
		bool pending, got;
	} qz;
	bool held, in_between;
	struct outq held_q;
	struct sbx_session_notes notes;
	/* The exec in progress (one at a time). */
	struct {
		uint32_t id;
		const struct sbx_exec_opts *o;
		struct sbx_exec_result *res;
		bool done, started;
		bool heard;		/* any frame of this exec arrived */
		uint64_t start_deadline_ms;	/* until heard; 0 = none */
		bool eof[3];
		uint32_t granted[3];	/* credit we granted for fd 1, 2 not yet used */
		uint32_t stdin_credit;	/* what the guest lets us send */
		int err;
		bool between;		/* call o->between from the pump (sbx_session_exec's) */
	} x;
};

/* sbx/channel.c: move bytes until `until` says so (see there); for sbx/chan-quiesce.c. */
int chan_pump(struct sbx_session *s, uint64_t deadline_ms, bool (*until)(struct sbx_session *));
int chan_flush(struct sbx_session *s);
uint64_t chan_now_ms(void);
/* QUIESCED and NOTE frames (stream 0, v4). */
int chan_quiesce_frame(struct sbx_session *s, const struct proto_hdr *h, const uint8_t *p);

int chan_send_frame(struct sbx_session *s, uint8_t type, uint8_t flags, uint32_t stream,
		    const void *payload, size_t len);

/* Streams the guest opens (sbx/chan-stream.c). */
void chan_streams_init(struct chan_streams *st);
void chan_streams_free(struct chan_streams *st);
/* A frame whose stream id has PROTO_STREAM_GUEST set (or an OPEN/ACCEPT/CLOSE). */
int chan_stream_frame(struct sbx_session *s, const struct proto_hdr *h, const uint8_t *p);
/* Add the stream sockets to poll (at most `max`); returns how many. */
size_t chan_streams_poll(struct sbx_session *s, struct pollfd *pfd, size_t max);
/* Handle what poll() said about the entries chan_streams_poll() added. */
int chan_streams_io(struct sbx_session *s, const struct pollfd *pfd);

#endif
