// SPDX-License-Identifier: MIT
/*
 * Streams the guest opens (protocol v2, sbx/proto.h): each is one
 * connection a guest program made to sbx-init's proxy listener, joined here
 * to a socket the session's open callback hands us.
 *
 * Memory is bounded by the credit we grant: the bytes the guest sent that
 * the socket has not taken yet are at most PROTO_STREAM_WINDOW per stream,
 * and we grant more only as the socket takes them (a slow socket holds the
 * guest back).  We read a socket only while the guest has granted us credit
 * and the channel's queue is short (a slow guest holds the socket back).
 *
 * What ends the session (SBX_ECORRUPT), because only a broken or hostile
 * guest does it: an OPEN on an id without PROTO_STREAM_GUEST or already in
 * use, an OPEN beyond PROTO_MAX_GUEST_STREAMS alive, a malformed OPEN, any
 * frame for a guest id that is not open, DATA beyond credit or after EOF,
 * a WINDOW granting more than the window, a second EOF, an ACCEPT from the
 * guest.  What ends only the stream: an OPEN of a kind we do not know, the
 * callback refusing, reading the socket failing (CLOSE with a reason to the
 * guest).  A socket that stops taking bytes (EPIPE) is still read to its
 * end, so an answer its other side wrote before closing reaches the guest;
 * what the guest sends from then on is dropped and its credit given back.
 */
#include "sbx/chan-int.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void chan_streams_init(struct chan_streams *st)
{
	size_t i;

	for (i = 0; i < PROTO_MAX_GUEST_STREAMS; i++)
		st->tab[i].fd = -1;
}

static void stream_release(struct chan_streams *st, struct chan_stream *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->to_sock.data);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	st->alive--;
}

void chan_streams_free(struct chan_streams *st)
{
	size_t i;

	for (i = 0; i < PROTO_MAX_GUEST_STREAMS; i++)
		if (st->tab[i].id)
			stream_release(st, &st->tab[i]);
}

unsigned sbx_session_streams(const struct sbx_session *s)
{
	return s->st.alive;
}

static struct chan_stream *find(struct chan_streams *st, uint32_t id)
{
	size_t i;

	for (i = 0; i < PROTO_MAX_GUEST_STREAMS; i++)
		if (st->tab[i].id == id)
			return &st->tab[i];
	return NULL;
}

int sbx_session_stream_port(struct sbx_session *s, uint32_t stream)
{
	struct chan_stream *c = stream ? find(&s->st, stream) : NULL;

	return c ? c->port : -1;
}

/* Abort or refuse a stream: CLOSE to the guest, drop the socket; its CLOSE frees the slot. */
static int stream_close(struct sbx_session *s, struct chan_stream *c, uint32_t reason,
			const char *msg)
{
	uint8_t p[4 + PROTO_MAX_REASON];
	size_t n = strlen(msg);

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->to_sock.data);
	memset(&c->to_sock, 0, sizeof(c->to_sock));
	if (c->sent_close)
		return 0;
	c->sent_close = true;
	if (n > PROTO_MAX_REASON)
		n = PROTO_MAX_REASON;
	proto_put32(p, reason);
	memcpy(p + 4, msg, n);
	return chan_send_frame(s, PROTO_CLOSE, 0, c->id, p, 4 + n);
}

static int on_open(struct sbx_session *s, const struct proto_hdr *h, const uint8_t *p)
{
	struct chan_streams *st = &s->st;
	struct chan_stream *c = NULL;
	int fd = -1, err;
	size_t i;

	if (!(h->stream & PROTO_STREAM_GUEST))
		return SBX_CORRUPT("channel: the guest opened stream %#x, an id that is not the guest's",
				   h->stream);
	if (h->length != 3 || h->flags)
		return SBX_CORRUPT("channel: malformed OPEN");
	if (find(st, h->stream))
		return SBX_CORRUPT("channel: the guest opened stream %#x, which is in use", h->stream);
	if (st->alive >= PROTO_MAX_GUEST_STREAMS)
		return SBX_CORRUPT("channel: the guest opened more than %u streams at once",
				   PROTO_MAX_GUEST_STREAMS);
	for (i = 0; i < PROTO_MAX_GUEST_STREAMS && !c; i++)
		if (!st->tab[i].id)
			c = &st->tab[i];
	c->id = h->stream;
	c->fd = -1;
	c->port = proto_get16(p + 1);
	c->in_credit = PROTO_STREAM_WINDOW;
	c->out_credit = PROTO_STREAM_WINDOW;
	st->alive++;
	if (p[0] != PROTO_OPEN_PROXY)
		return stream_close(s, c, PROTO_CLOSE_REFUSED, "unknown kind of stream");
	if (!st->open)
		return stream_close(s, c, PROTO_CLOSE_REFUSED, "this task has no network");
	err = st->open(st->opaque, h->stream, &fd);
	if (err < 0 || fd < 0) {
		char why[PROTO_MAX_REASON];

		snprintf(why, sizeof(why), "%s", err < 0 && sbx_error()[0] ? sbx_error() : "refused");
		if (err >= 0 && fd >= 0)
			close(fd);
		return stream_close(s, c, PROTO_CLOSE_REFUSED, why);
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		close(fd);
		return stream_close(s, c, PROTO_CLOSE_RESET, "cannot use the stream's socket");
	}
	c->fd = fd;
	return chan_send_frame(s, PROTO_ACCEPT, 0, c->id, NULL, 0);
}

/* Grant the guest credit back for bytes the socket took. */
static int give_credit(struct sbx_session *s, struct chan_stream *c)
{
	uint8_t p[4];

	if (!c->unacked || (c->unacked < PROTO_STREAM_WINDOW / 4 && chan_q_left(&c->to_sock)))
		return 0;
	if (c->sent_close) {
		c->unacked = 0;		/* nobody needs it */
		return 0;
	}
	/* Also after the guest's EOF: all credit back tells it the socket has every byte. */
	proto_put32(p, c->unacked);
	c->in_credit += c->unacked;
	c->unacked = 0;
	return chan_send_frame(s, PROTO_WINDOW, 0, c->id, p, 4);
}

/* Write what the guest sent to the socket; shutdown(SHUT_WR) once it is all out after EOF. */
static int sock_write(struct sbx_session *s, struct chan_stream *c)
{
	struct outq *q = &c->to_sock;

	while (c->fd >= 0 && chan_q_left(q)) {
		ssize_t n = send(c->fd, q->data + q->off, chan_q_left(q), MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == ENOTSOCK)
			n = write(c->fd, q->data + q->off, chan_q_left(q));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			/*
			 * The other side stopped reading (it may have answered
			 * and closed, as a proxy refusing a request does): drop
			 * what the guest sends from now on, and keep reading
			 * its answer to the end.
			 */
			c->wr_broken = true;
			c->unacked += (uint32_t)chan_q_left(q);
			break;
		}
		q->off += (size_t)n;
		c->unacked += (uint32_t)n;
	}
	if (c->wr_broken)
		q->off = q->len;
	if (!chan_q_left(q)) {
		q->off = q->len = 0;
		if (c->in_eof && !c->sock_shut && !c->wr_broken) {
			c->sock_shut = true;
			shutdown(c->fd, SHUT_WR);
		}
	}
	return give_credit(s, c);
}

/* Read from the socket within the guest's credit and send it on. */
static int sock_read(struct sbx_session *s, struct chan_stream *c)
{
	uint8_t buf[PROTO_MAX_PAYLOAD];
	size_t want = c->out_credit < sizeof(buf) ? c->out_credit : sizeof(buf);
	ssize_t n;

	if (c->fd < 0 || c->out_eof || !want || s->held || chan_q_left(&s->q) >= CHAN_Q_HIGH)
		return 0;
	n = read(c->fd, buf, want);
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0) {
		char why[128];

		snprintf(why, sizeof(why), "the host's side failed: %s", strerror(errno));
		return stream_close(s, c, PROTO_CLOSE_RESET, why);
	}
	if (n == 0) {
		c->out_eof = true;
		return chan_send_frame(s, PROTO_EOF, 0, c->id, NULL, 0);
	}
	c->out_credit -= (uint32_t)n;
	return chan_send_frame(s, PROTO_DATA, 0, c->id, buf, (size_t)n);
}

int chan_stream_frame(struct sbx_session *s, const struct proto_hdr *h, const uint8_t *p)
{
	struct chan_stream *c;
	uint64_t credit;

	if (h->type == PROTO_OPEN)
		return on_open(s, h, p);
	if (!(h->stream & PROTO_STREAM_GUEST))
		return SBX_CORRUPT("channel: frame type %#x on stream %u, which is not the guest's",
				   h->type, h->stream);
	c = find(&s->st, h->stream);
	if (!c)
		return SBX_CORRUPT("channel: frame type %#x for stream %#x, which is not open",
				   h->type, h->stream);
	switch (h->type) {
	case PROTO_DATA:
		if (h->flags)
			return SBX_CORRUPT("channel: DATA with flags on stream %#x", h->stream);
		if (c->in_eof)
			return SBX_CORRUPT("channel: DATA after EOF on stream %#x", h->stream);
		if (h->length > c->in_credit)
			return SBX_CORRUPT("channel: the guest sent %u bytes on stream %#x with %u of credit",
					   h->length, h->stream, c->in_credit);
		c->in_credit -= h->length;
		if (c->sent_close || c->fd < 0)
			return 0;	/* in flight when we closed: dropped */
		if (c->wr_broken) {
			c->unacked += h->length;
			return give_credit(s, c);
		}
		if (chan_q_push(&c->to_sock, p, h->length))
			return SBX_ENOMEM;
		return sock_write(s, c);
	case PROTO_EOF:
		if (h->flags || h->length || c->in_eof)
			return SBX_CORRUPT("channel: bad EOF on stream %#x", h->stream);
		c->in_eof = true;
		return c->sent_close ? 0 : sock_write(s, c);
	case PROTO_WINDOW:
		if (h->flags || h->length != 4)
			return SBX_CORRUPT("channel: bad WINDOW on stream %#x", h->stream);
		credit = (uint64_t)c->out_credit + proto_get32(p);
		if (credit > PROTO_STREAM_WINDOW)
			return SBX_CORRUPT("channel: the guest granted more credit than the window "
					   "on stream %#x", h->stream);
		c->out_credit = (uint32_t)credit;
		return 0;
	case PROTO_CLOSE: {
		int err = 0;

		if (h->length < 4 || h->length > 4 + PROTO_MAX_REASON || h->flags)
			return SBX_CORRUPT("channel: bad CLOSE on stream %#x", h->stream);
		if (!c->sent_close) {
			uint8_t r[4];

			proto_put32(r, PROTO_CLOSE_DONE);
			err = chan_send_frame(s, PROTO_CLOSE, 0, c->id, r, 4);
		}
		stream_release(&s->st, c);
		return err;
	}
	default:
		return SBX_CORRUPT("channel: unexpected frame type %#x on stream %#x", h->type,
				   h->stream);
	}
}

size_t chan_streams_poll(struct sbx_session *s, struct pollfd *pfd, size_t max)
{
	struct chan_streams *st = &s->st;
	bool room = !s->held && chan_q_left(&s->q) < CHAN_Q_HIGH;
	size_t i, n = 0;

	st->npolled = 0;
	for (i = 0; i < PROTO_MAX_GUEST_STREAMS && n < max && st->alive; i++) {
		struct chan_stream *c = &st->tab[i];
		short ev = 0;

		if (!c->id || c->fd < 0)
			continue;
		if (room && !c->out_eof && c->out_credit)
			ev |= POLLIN;
		if (chan_q_left(&c->to_sock))
			ev |= POLLOUT;
		if (!ev)
			continue;
		pfd[n] = (struct pollfd){ .fd = c->fd, .events = ev };
		st->polled[n++] = (unsigned)i;
	}
	st->npolled = n;
	return n;
}

int chan_streams_io(struct sbx_session *s, const struct pollfd *pfd)
{
	struct chan_streams *st = &s->st;
	size_t i;
	int err;

	for (i = 0; i < st->npolled; i++) {
		struct chan_stream *c = &st->tab[st->polled[i]];

		if (!pfd[i].revents || !c->id || c->fd != pfd[i].fd)
			continue;
		if (pfd[i].revents & (POLLOUT | POLLERR | POLLHUP)) {
			err = sock_write(s, c);
			if (err)
				return err;
		}
		if (c->fd >= 0 && (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) &&
		    (pfd[i].events & POLLIN)) {
			err = sock_read(s, c);
			if (err)
				return err;
		}
	}
	return 0;
}
