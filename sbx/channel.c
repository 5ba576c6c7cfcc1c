// SPDX-License-Identifier: MIT
/* The host side of the channel: see sbx/channel.h and sbx/proto.h. */
#include "sbx/chan-int.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* write(), without SIGPIPE when the channel is a socket whose peer left. */
static ssize_t chan_write(int fd, const void *p, size_t n)
{
	ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w < 0 && errno == ENOTSOCK)
		w = write(fd, p, n);
	return w;
}

static int flush_some(struct sbx_session *s)
{
	while (s->q.off < s->q.len) {
		ssize_t n = chan_write(s->fd, s->q.data + s->q.off, s->q.len - s->q.off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return sbx_error_errno(SBX_EIO, "writing to the guest channel");
		s->q.off += (size_t)n;
	}
	s->q.off = s->q.len = 0;
	return 0;
}

static struct gone *find_gone(struct sbx_session *s, uint32_t id)
{
	unsigned i;

	for (i = 0; id && i < GONE_MAX; i++)
		if (s->gone[i].id == id)
			return &s->gone[i];
	return NULL;
}

/* A late frame of an abandoned exec: checked as strictly, then dropped. */
static int on_gone_frame(struct gone *g, const struct proto_hdr *h)
{
	int fd = h->flags;

	switch (h->type) {
	case PROTO_STARTED:
	case PROTO_WINDOW:
		return 0;
	case PROTO_DATA:
		if ((fd != 1 && fd != 2) || g->eof[fd] || h->length > g->granted[fd])
			return SBX_CORRUPT("channel: bad DATA for stream %u, which the host gave up on",
					   h->stream);
		g->granted[fd] -= h->length;
		return 0;
	case PROTO_EOF:
		if ((fd != 1 && fd != 2) || h->length || g->eof[fd])
			return SBX_CORRUPT("channel: bad EOF");
		g->eof[fd] = true;
		return 0;
	case PROTO_EXIT:
		g->id = 0;
		return 0;
	default:
		return SBX_CORRUPT("channel: unexpected frame type %#x from the guest", h->type);
	}
}

/* The answer to our RESEED: checked, then kept for sbx_session_reseed(). */
static int on_reseeded(struct sbx_session *s, const struct proto_hdr *h, const uint8_t *p)
{
	uint64_t echo;

	if (h->stream || h->flags || h->length != PROTO_RESEEDED_LEN)
		return SBX_CORRUPT("channel: bad RESEEDED (%u bytes on stream %u)", h->length, h->stream);
	echo = proto_get64(p);
	if (s->rs.late && echo == s->rs.late_ns) {
		s->rs.late = false;	/* the answer to a RESEED we stopped waiting for */
		return 0;
	}
	if (!s->rs.pending || echo != s->rs.host_ns)
		return SBX_CORRUPT("channel: RESEEDED answers no RESEED the host sent");
	s->rs.res.host_ns = echo;
	s->rs.res.guest_before_ns = proto_get64(p + 8);
	s->rs.res.guest_after_ns = proto_get64(p + 16);
	s->rs.res.flags = proto_get32(p + 24);
	s->rs.pending = false;
	s->rs.done = true;
	return 0;
}

static int on_frame(void *opaque, const struct proto_hdr *h, const uint8_t *p)
{
	struct sbx_session *s = opaque;
	struct gone *g;
	int fd;

	if (!s->hello) {
		if (h->type != PROTO_HELLO || h->stream)
			return SBX_CORRUPT("channel: the guest spoke before HELLO (frame type %#x)", h->type);
		if (h->length < 12)
			return SBX_CORRUPT("channel: short HELLO");
		if (proto_get32(p) != PROTO_VERSION)
			return sbx_error_set(SBX_EUNSUPPORTED,
					     "the guest speaks channel protocol v%u, the host v%u: "
					     "rebuild the image (git sbx image build) with this git-sbx",
					     proto_get32(p), PROTO_VERSION);
		snprintf(s->banner, sizeof(s->banner), "%.*s", (int)(h->length - 12 < 63 ? h->length - 12 : 63),
			 (const char *)p + 12);
		for (char *c = s->banner; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
		s->hello = true;
		return 0;
	}
	if (h->type == PROTO_ERROR) {
		char msg[256];
		size_t n = h->length < sizeof(msg) - 1 ? h->length : sizeof(msg) - 1, i;

		for (i = 0; i < n; i++)
			msg[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
		msg[n] = '\0';
		return sbx_error_set(SBX_EIO, "the guest ended the session: %s", msg);
	}
	if (h->type == PROTO_RESEEDED)
		return on_reseeded(s, h, p);
	if (h->type == PROTO_QUIESCED || h->type == PROTO_NOTE)
		return chan_quiesce_frame(s, h, p);
	if ((h->stream & PROTO_STREAM_GUEST) || h->type == PROTO_OPEN || h->type == PROTO_ACCEPT ||
	    h->type == PROTO_CLOSE)
		return chan_stream_frame(s, h, p);
	if (h->stream && (h->stream != s->x.id || s->x.done) && (g = find_gone(s, h->stream)))
		return on_gone_frame(g, h);
	if (!h->stream || h->stream != s->x.id || s->x.done)
		return SBX_CORRUPT("channel: frame type %#x for stream %u, which is not running",
				   h->type, h->stream);
	s->x.heard = true;
	s->x.res->answered = true;
	switch (h->type) {
	case PROTO_STARTED:
		if (h->length != 4 || s->x.started)
			return SBX_CORRUPT("channel: bad STARTED");
		s->x.started = true;
		return 0;
	case PROTO_DATA:
		fd = h->flags;
		if (fd != 1 && fd != 2)
			return SBX_CORRUPT("channel: DATA on fd %d", fd);
		if (s->x.eof[fd])
			return SBX_CORRUPT("channel: DATA after EOF on fd %d", fd);
		if (h->length > s->x.granted[fd])
			return SBX_CORRUPT("channel: the guest sent %u bytes on fd %d with %u of credit",
					   h->length, fd, s->x.granted[fd]);
		s->x.granted[fd] -= h->length;
		s->x.res->out_bytes[fd] += h->length;
		if (s->x.o->sink && h->length) {
			int err = s->x.o->sink(s->x.o->opaque, fd, p, h->length);

			if (err)
				return err;
		}
		/* Consumed: give the credit back once a quarter window is used. */
		if (PROTO_INITIAL_WINDOW - s->x.granted[fd] >= PROTO_INITIAL_WINDOW / 4) {
			uint8_t c[4];

			proto_put32(c, PROTO_INITIAL_WINDOW - s->x.granted[fd]);
			s->x.granted[fd] = PROTO_INITIAL_WINDOW;
			return chan_send_frame(s, PROTO_WINDOW, (uint8_t)fd, s->x.id, c, 4);
		}
		return 0;
	case PROTO_EOF:
		fd = h->flags;
		if ((fd != 1 && fd != 2) || h->length || s->x.eof[fd])
			return SBX_CORRUPT("channel: bad EOF");
		s->x.eof[fd] = true;
		return 0;
	case PROTO_WINDOW: {
		uint64_t c;

		if (h->flags != 0 || h->length != 4)
			return SBX_CORRUPT("channel: bad WINDOW");
		c = (uint64_t)s->x.stdin_credit + proto_get32(p);
		if (c > PROTO_INITIAL_WINDOW)
			return SBX_CORRUPT("channel: the guest granted more stdin credit than it had");
		s->x.stdin_credit = (uint32_t)c;
		return 0;
	}
	case PROTO_EXIT:
		if (h->length != 8)
			return SBX_CORRUPT("channel: bad EXIT");
		s->x.res->code = (int)proto_get32(p);
		s->x.res->flags = proto_get32(p + 4);
		if (s->x.res->code < 0 || s->x.res->code > 255 + 128)
			return SBX_CORRUPT("channel: exit code %d out of range", s->x.res->code);
		s->x.done = true;
		return 0;
	default:
		return SBX_CORRUPT("channel: unexpected frame type %#x from the guest", h->type);
	}
}

static bool serve_forever(struct sbx_session *s)
{
	(void)s;
	return false;
}

/*
 * Move bytes both ways until `until` returns true, the deadline passes
 * (SBX_ETIMEDOUT), or an error.  `extra_fd`, when >= 0, is polled for
 * reading and `on_extra` called when it is readable and we have credit.
 */
static int pump(struct sbx_session *s, uint64_t deadline_ms, bool (*until)(struct sbx_session *),
		int extra_fd, int (*on_extra)(struct sbx_session *))
{
	uint8_t buf[65536];

	while (!until(s)) {
		struct pollfd pfd[2 + PROTO_MAX_GUEST_STREAMS];
		int n = 0, r, timeout = -1, err, extra = -1;
		uint64_t d = deadline_ms;
		size_t ns;

		if (s->x.start_deadline_ms && !s->x.heard && (!d || s->x.start_deadline_ms < d))
			d = s->x.start_deadline_ms;
		if (d) {
			uint64_t now = now_ms();

			if (now >= d && until == serve_forever && d == deadline_ms)
				break;	/* sbx_session_serve(): its time is up */
			if (now >= d)
				return sbx_error_set(SBX_ETIMEDOUT, "the guest stopped responding");
			timeout = (int)(d - now > 1000 ? 1000 : d - now);
		} else {
			timeout = 1000;
		}
		pfd[n++] = (struct pollfd){ .fd = s->fd,
					    .events = POLLIN | (s->q.off < s->q.len ? POLLOUT : 0) };
		if (extra_fd >= 0 && s->x.stdin_credit && !s->held && s->q.len - s->q.off < (256u << 10)) {
			extra = n;
			pfd[n++] = (struct pollfd){ .fd = extra_fd, .events = POLLIN };
		}
		ns = chan_streams_poll(s, pfd + n, PROTO_MAX_GUEST_STREAMS);
		r = poll(pfd, (nfds_t)n + ns, timeout);
		if (r < 0 && errno == EINTR)
			r = 0;
		if (r < 0)
			return sbx_error_errno(SBX_EIO, "poll");
		if (!s->x.done && s->x.o && s->x.o->interrupt && *s->x.o->interrupt) {
			uint8_t sig[4];

			proto_put32(sig, *s->x.o->interrupt == 1 ? SIGTERM : SIGKILL);
			*s->x.o->interrupt = *s->x.o->interrupt == 1 ? 2 : 3;
			err = chan_send_frame(s, PROTO_SIGNAL, 0, s->x.id, sig, 4);
			if (err)
				return err;
		}
		if (pfd[0].revents & POLLOUT) {
			err = flush_some(s);
			if (err)
				return err;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t got = read(s->fd, buf, sizeof(buf));

			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got < 0)
				return sbx_error_errno(SBX_EIO, "reading the guest channel");
			if (got == 0)
				return sbx_error_set(SBX_EIO, "the guest closed the channel");
			err = chan_parser_feed(&s->parser, buf, (size_t)got, on_frame, s);
			if (err)
				return err;
		}
		if (extra >= 0 && (pfd[extra].revents & (POLLIN | POLLHUP | POLLERR))) {
			err = on_extra(s);
			if (err)
				return err;
		}
		if (ns && r > 0) {
			err = chan_streams_io(s, pfd + n);
			if (err)
				return err;
		}
		err = flush_some(s);
		if (err)
			return err;
		if (s->x.between && !s->x.done && !s->in_between && s->x.o && s->x.o->between) {
			s->in_between = true;
			err = s->x.o->between(s->x.o->opaque, s);
			s->in_between = false;
			if (err)
				return err;
		}
	}
	return flush_some(s);
}

int chan_pump(struct sbx_session *s, uint64_t deadline_ms, bool (*until)(struct sbx_session *))
{
	return pump(s, deadline_ms, until, -1, NULL);
}

int chan_flush(struct sbx_session *s)
{
	return flush_some(s);
}

uint64_t chan_now_ms(void)
{
	return now_ms();
}

static bool got_hello(struct sbx_session *s)
{
	return s->hello;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int sbx_session_start(struct sbx_session **out, int fd, uint64_t hello_timeout_ms)
{
	struct sbx_session *s;
	uint8_t hello[12 + 8], t[8], rnd[64];
	struct timespec ts;
	int err;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	s->fd = fd;
	s->next_id = 1;
	chan_streams_init(&s->st);
	if (set_nonblock(fd)) {
		free(s);
		return sbx_error_errno(SBX_EIO, "channel fd");
	}
	err = pump(s, now_ms() + hello_timeout_ms, got_hello, -1, NULL);
	if (err) {
		if (err == SBX_ETIMEDOUT)
			sbx_error_set(err, "sbx-init did not say hello within %llu ms",
				      (unsigned long long)hello_timeout_ms);
		goto fail;
	}
	proto_put32(hello, PROTO_VERSION);
	proto_put32(hello + 4, PROTO_MAX_PAYLOAD);
	proto_put32(hello + 8, PROTO_INITIAL_WINDOW);
	memcpy(hello + 12, "git-sbx", 7);
	clock_gettime(CLOCK_REALTIME, &ts);
	proto_put64(t, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		err = sbx_error_errno(SBX_EIO, "getrandom");
		goto fail;
	}
	err = chan_send_frame(s, PROTO_HELLO, 0, 0, hello, 19);
	if (!err)
		err = chan_send_frame(s, PROTO_TIME, 0, 0, t, sizeof(t));
	if (!err)
		err = chan_send_frame(s, PROTO_ENTROPY, 0, 0, rnd, sizeof(rnd));
	if (!err)
		err = flush_some(s);
	if (err)
		goto fail;
	*out = s;
	return 0;
fail:
	sbx_session_free(s);
	return err;
}

int sbx_session_attach(struct sbx_session **out, int fd)
{
	struct sbx_session *s;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	s->fd = fd;
	/* sbx-init answered a HELLO before the save; it is in its frame loop now. */
	s->hello = true;
	snprintf(s->banner, sizeof(s->banner), "sbx-init (restored)");
	s->next_id = 1;	/* no exec ran at the save: sbx-init refuses only ids in use */
	chan_streams_init(&s->st);
	if (set_nonblock(fd)) {
		free(s);
		return sbx_error_errno(SBX_EIO, "channel fd");
	}
	*out = s;
	return 0;
}

void sbx_session_free(struct sbx_session *s)
{
	if (!s)
		return;
	chan_streams_free(&s->st);
	free(s->q.data);
	free(s->held_q.data);
	free(s);
}

void sbx_session_set_stream_open(struct sbx_session *s, sbx_stream_open_fn fn, void *opaque)
{
	s->st.open = fn;
	s->st.opaque = opaque;
}

int sbx_session_serve(struct sbx_session *s, uint64_t timeout_ms)
{
	if (s->x.o)
		return sbx_error_set(SBX_EINVAL, "an exec is running on this session");
	return pump(s, now_ms() + (timeout_ms ? timeout_ms : 1), serve_forever, -1, NULL);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static bool reseed_answered(struct sbx_session *s)
{
	return s->rs.done;
}

int sbx_session_reseed(struct sbx_session *s, uint64_t timeout_ms, struct sbx_reseed_result *res)
{
	uint8_t p[PROTO_RESEED_LEN];
	struct timespec ts;
	uint64_t t0;
	int err;

	if (res)
		memset(res, 0, sizeof(*res));
	if (s->x.o)
		return sbx_error_set(SBX_EINVAL, "an exec is running on this session");
	if (getrandom(p + 8, PROTO_RESEED_BYTES, 0) != (ssize_t)PROTO_RESEED_BYTES)
		return sbx_error_errno(SBX_EIO, "getrandom");
	clock_gettime(CLOCK_REALTIME, &ts);
	s->rs.pending = true;
	s->rs.done = false;
	s->rs.host_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	memset(&s->rs.res, 0, sizeof(s->rs.res));
	proto_put64(p, s->rs.host_ns);
	t0 = now_us();
	err = chan_send_frame(s, PROTO_RESEED, 0, 0, p, sizeof(p));
	explicit_bzero(p, sizeof(p));
	if (!err)
		err = pump(s, now_ms() + (timeout_ms ? timeout_ms : 1), reseed_answered, -1, NULL);
	if (err == SBX_ETIMEDOUT) {
		sbx_error_set(err, "the guest stopped responding: no answer to RESEED within %llu ms",
			      (unsigned long long)timeout_ms);
		s->rs.late = true;
		s->rs.late_ns = s->rs.host_ns;
	}
	s->rs.pending = false;
	if (err)
		return err;
	s->rs.res.rtt_us = now_us() - t0;
	if (res)
		*res = s->rs.res;
	if (s->rs.res.flags & PROTO_RESEED_DRY)
		return 0;
	if (!(s->rs.res.flags & PROTO_RESEED_RNG))
		return sbx_error_set(SBX_EIO, "the guest could not reseed its random number generator "
				     "after the restore (its console says why)");
	if (!(s->rs.res.flags & PROTO_RESEED_CLOCK))
		return sbx_error_set(SBX_EIO, "the guest could not set its clock after the restore "
				     "(its console says why)");
	return 0;
}

const char *sbx_session_banner(const struct sbx_session *s)
{
	return s->banner;
}

static bool exec_done(struct sbx_session *s)
{
	return s->x.done;
}

static int send_stdin_buf(struct sbx_session *s, const uint8_t **p, size_t *left)
{
	while (*left && s->x.stdin_credit) {
		size_t n = *left;
		int err;

		if (n > PROTO_MAX_PAYLOAD)
			n = PROTO_MAX_PAYLOAD;
		if (n > s->x.stdin_credit)
			n = s->x.stdin_credit;
		err = chan_send_frame(s, PROTO_DATA, PROTO_FD_STDIN, s->x.id, *p, n);
		if (err)
			return err;
		s->x.stdin_credit -= (uint32_t)n;
		*p += n;
		*left -= n;
	}
	return 0;
}

static int stdin_from_fd(struct sbx_session *s)
{
	uint8_t buf[PROTO_MAX_PAYLOAD];
	size_t want = s->x.stdin_credit < sizeof(buf) ? s->x.stdin_credit : sizeof(buf);
	ssize_t n = read(s->x.o->stdin_fd, buf, want);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n < 0)
		return sbx_error_errno(SBX_EIO, "reading stdin for the guest");
	if (n == 0) {
		s->x.eof[0] = true;
		return chan_send_frame(s, PROTO_EOF, PROTO_FD_STDIN, s->x.id, NULL, 0);
	}
	s->x.stdin_credit -= (uint32_t)n;
	return chan_send_frame(s, PROTO_DATA, PROTO_FD_STDIN, s->x.id, buf, (size_t)n);
}

/*
 * Give up on the running exec: ask the guest to kill it (best effort, the
 * frame is only queued) and drop its late frames from now on.
 */
static void abandon(struct sbx_session *s)
{
	struct gone *g = &s->gone[s->next_gone++ % GONE_MAX];
	uint8_t sig[4];

	g->id = s->x.id;
	memcpy(g->granted, s->x.granted, sizeof(g->granted));
	memcpy(g->eof, s->x.eof, sizeof(g->eof));
	s->x.done = true;
	proto_put32(sig, SIGKILL);
	if (!chan_send_frame(s, PROTO_SIGNAL, 0, s->x.id, sig, 4))
		flush_some(s);
}

static int put_tlv(uint8_t *buf, size_t cap, size_t *len, uint8_t tag, const void *v, size_t n)
{
	if (n > PROTO_MAX_STR || *len + 5 + n > cap)
		return sbx_error_set(SBX_ELIMIT, "the command does not fit in one EXEC frame");
	buf[*len] = tag;
	proto_put32(buf + *len + 1, (uint32_t)n);
	memcpy(buf + *len + 5, v, n);
	*len += 5 + n;
	return 0;
}

static bool credit_or_done(struct sbx_session *s)
{
	return s->x.done || s->x.stdin_credit > 0;
}

static bool exec_stdin_sent(struct sbx_session *s)
{
	return s->x.done || s->x.eof[0];
}

int sbx_session_exec(struct sbx_session *s, const struct sbx_exec_opts *o,
		     struct sbx_exec_result *res)
{
	static uint8_t payload[PROTO_MAX_PAYLOAD];
	bool with_stdin = o->stdin_fd >= 0 || o->stdin_buf;
	uint64_t host_timeout = o->host_timeout_ms, deadline;
	size_t len = 0, i;
	uint8_t v[8];
	int err;

	memset(res, 0, sizeof(*res));
	if (!o->argv || !o->argv[0] || !o->argv[0][0])
		return sbx_error_set(SBX_EINVAL, "no command to run");
	for (i = 0; o->argv[i]; i++)
		if ((err = put_tlv(payload, sizeof(payload), &len, PROTO_TLV_ARG, o->argv[i],
				   strlen(o->argv[i]))))
			return err;
	for (i = 0; o->env && o->env[i]; i++)
		if ((err = put_tlv(payload, sizeof(payload), &len, PROTO_TLV_ENV, o->env[i],
				   strlen(o->env[i]))))
			return err;
	if (o->cwd && (err = put_tlv(payload, sizeof(payload), &len, PROTO_TLV_CWD, o->cwd, strlen(o->cwd))))
		return err;
	if (o->set_user) {
		proto_put32(v, o->uid);
		if ((err = put_tlv(payload, sizeof(payload), &len, PROTO_TLV_UID, v, 4)))
			return err;
		proto_put32(v, o->gid);
		if ((err = put_tlv(payload, sizeof(payload), &len, PROTO_TLV_GID, v, 4)))
			return err;
	}
	if (o->timeout_ms) {
		proto_put64(v, o->timeout_ms);
		if ((err = put_tlv(payload, sizeof(payload), &len, PROTO_TLV_TIMEOUT_MS, v, 8)))
			return err;
	}
	v[0] = with_stdin;
	if ((err = put_tlv(payload, sizeof(payload), &len, PROTO_TLV_STDIN, v, 1)))
		return err;

	memset(&s->x, 0, sizeof(s->x));
	if (s->next_id & PROTO_STREAM_GUEST)
		s->next_id = 1;	/* host exec ids never have the guest's bit */
	s->x.id = s->next_id++;
	s->x.o = o;
	s->x.res = res;
	s->x.granted[1] = s->x.granted[2] = PROTO_INITIAL_WINDOW;
	s->x.stdin_credit = PROTO_INITIAL_WINDOW;
	s->x.eof[0] = !with_stdin;
	s->x.between = o->between != NULL;
	err = chan_send_frame(s, PROTO_EXEC, 0, s->x.id, payload, len);
	if (err)
		return err;
	if (!host_timeout && o->timeout_ms)
		host_timeout = o->timeout_ms + 30000;
	deadline = host_timeout ? now_ms() + host_timeout : 0;
	if (o->start_timeout_ms)
		s->x.start_deadline_ms = now_ms() + o->start_timeout_ms;

	if (o->stdin_fd >= 0) {
		set_nonblock(o->stdin_fd);
		err = pump(s, deadline, exec_stdin_sent, o->stdin_fd, stdin_from_fd);
	} else if (o->stdin_buf) {
		const uint8_t *p = o->stdin_buf;
		size_t left = o->stdin_len;

		while (!err && left && !s->x.done) {
			err = send_stdin_buf(s, &p, &left);
			if (!err && left)
				err = pump(s, deadline, credit_or_done, -1, NULL);
		}
		if (!err && !s->x.done)
			err = chan_send_frame(s, PROTO_EOF, PROTO_FD_STDIN, s->x.id, NULL, 0);
	}
	if (!err)
		err = pump(s, deadline, exec_done, -1, NULL);
	if (err == SBX_ETIMEDOUT) {
		if (!s->x.heard && o->start_timeout_ms)
			sbx_error_set(err, "the guest stopped responding: no answer to '%s' in %llu ms",
				      o->argv[0], (unsigned long long)o->start_timeout_ms);
		else
			sbx_error_set(err, "the guest stopped responding: '%s' did not end within "
				      "the host's %llu ms", o->argv[0], (unsigned long long)host_timeout);
		abandon(s);
	}
	s->x.o = NULL;
	s->x.start_deadline_ms = 0;
	return err;
}

int sbx_session_poweroff(struct sbx_session *s, int status, uint64_t timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	uint8_t p[4];
	int err;

	proto_put32(p, (uint32_t)status);
	err = chan_send_frame(s, PROTO_POWEROFF, 0, 0, p, 4);
	/* The frame must leave before we stop reading, but not at any cost. */
	while (!err && (err = flush_some(s)) == 0 && s->q.off < s->q.len) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
		uint64_t now = now_ms();

		if (now >= deadline)
			return sbx_error_set(SBX_ETIMEDOUT, "the guest stopped responding: it did not "
					     "read its channel for %llu ms", (unsigned long long)timeout_ms);
		if (poll(&pfd, 1, deadline - now > 1000 ? 1000 : (int)(deadline - now)) < 0 &&
		    errno != EINTR)
			return sbx_error_errno(SBX_EIO, "poll");
	}
	return err;
}
