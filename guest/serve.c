// SPDX-License-Identifier: MIT
/*
 * sbx-init's channel server (sbx/proto.h): the frames to and from the host
 * and the one poll loop that also runs the commands (exec.c) and the proxy
 * listener's streams (proxy.c).
 *
 * Everything from the host is checked too (lengths, TLVs, stream ids), but
 * the guest is the untrusted side: the host never relies on sbx-init
 * behaving.
 */
#include "guest/sbx-init.h"
#include "guest/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

static int chan_in = -1, chan_out = -1;
static struct outbuf chan_q;
static uint8_t inbuf[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
static size_t inlen;
static int poweroff_status = -1;
bool session_over;
/* Between QUIESCE and RESUME: nothing of our own goes out (sbx/proto.h, v4). */
static bool quiesced;

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int q_append(struct outbuf *q, const void *p, size_t n)
{
	if (!n)
		return 0;
	if (q->off && q->off == q->len)
		q->off = q->len = 0;
	if (q->len + n > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
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
				return -1;
			q->data = d;
			q->cap = cap;
		}
	}
	memcpy(q->data + q->len, p, n);
	q->len += n;
	return 0;
}

size_t chan_queued(void)
{
	return chan_q.len - chan_q.off;
}

void send_frame(uint8_t type, uint8_t flags, uint32_t stream, const void *payload, uint32_t len)
{
	uint8_t hdr[PROTO_HDR_SIZE];

	proto_hdr_encode(hdr, type, flags, stream, len);
	if (q_append(&chan_q, hdr, sizeof(hdr)) || (len && q_append(&chan_q, payload, len))) {
		sbx_log("out of memory queueing a frame");
		session_over = true;
	}
}

void send_error(uint32_t stream, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sbx_log("%s", msg);
	send_frame(PROTO_ERROR, 0, stream, msg, (uint32_t)strlen(msg));
}

static void flush_chan(bool block)
{
	while (chan_q.off < chan_q.len) {
		ssize_t n = write(chan_out, chan_q.data + chan_q.off, chan_q.len - chan_q.off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = chan_out, .events = POLLOUT };

			if (!block)
				return;
			poll(&p, 1, 1000);
			continue;
		}
		if (n <= 0) {
			sbx_log("channel write failed: %s", strerror(errno));
			session_over = true;
			chan_q.off = chan_q.len = 0;
			return;
		}
		chan_q.off += (size_t)n;
	}
	chan_q.off = chan_q.len = 0;
}

static void handle_frame(const struct proto_hdr *h, const uint8_t *p)
{
	switch (h->type) {
	case PROTO_HELLO:
		if (h->length < 12 || proto_get32(p) != PROTO_VERSION) {
			send_error(0, "the host speaks channel protocol v%u, sbx-init v%u: rebuild the "
				   "image (git sbx image build) with this git-sbx",
				   h->length >= 4 ? proto_get32(p) : 0, PROTO_VERSION);
			session_over = true;
		}
		break;
	case PROTO_ERROR:
		sbx_log("host: %.*s", (int)h->length, (const char *)p);
		session_over = true;
		break;
	case PROTO_TIME:
		if (h->length == 8) {
			uint64_t ns = proto_get64(p);
			struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

			if (!sbx_serve_only)
				clock_settime(CLOCK_REALTIME, &ts);
		}
		break;
	case PROTO_ENTROPY:
		if (h->length >= 32 && h->length <= 256 && !sbx_serve_only)
			sbx_add_entropy(p, h->length);
		break;
	case PROTO_RESEED:
		reseed_frame(h, p);
		break;
	case PROTO_QUIESCE:
		if (h->stream || h->flags || h->length)
			goto bad_session;
		/* QUIESCED goes after every frame queued before it; then silence. */
		quiesced = true;
		send_frame(PROTO_QUIESCED, 0, 0, NULL, 0);
		break;
	case PROTO_RESUME: {
		uint32_t fl;

		if (h->stream || h->flags || h->length != 4)
			goto bad_session;
		fl = proto_get32(p);
		if (fl & ~PROTO_RESUME_RESTORED)
			goto bad_session;
		if (fl & PROTO_RESUME_RESTORED) {
			/* A new host: what the old one ran or carried ends here, unannounced. */
			exec_kill_all();
			proxy_forget_streams();
		}
		quiesced = false;
		break;
	}
	case PROTO_POWEROFF:
		poweroff_status = h->length >= 4 ? (int)(proto_get32(p) & 0xff) : 0;
		session_over = true;
		break;
	case PROTO_EXEC:
		exec_start(h->stream, p, h->length);
		break;
	case PROTO_DATA:
	case PROTO_EOF:
	case PROTO_WINDOW:
	case PROTO_SIGNAL:
	case PROTO_ACCEPT:
	case PROTO_CLOSE:
		if (h->stream & PROTO_STREAM_GUEST)
			proxy_frame(h, p);
		else if (h->type != PROTO_ACCEPT && h->type != PROTO_CLOSE)
			exec_frame(h, p);
		else
			goto bad;
		break;
	default:
	bad:
		send_error(0, "unexpected frame type %#x from the host", h->type);
		session_over = true;
		break;
	bad_session:
		send_error(0, "bad frame type %#x from the host (%u bytes on stream %u)", h->type,
			   h->length, h->stream);
		session_over = true;
	}
}

static void read_chan(void)
{
	struct proto_hdr h;
	const char *why;
	ssize_t n;

	n = read(chan_in, inbuf + inlen, sizeof(inbuf) - inlen);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (sbx_serve_only)
			session_over = true;
		else
			usleep(10000);	/* hvc0 with nobody attached reads EOF: wait for a host */
		return;
	}
	inlen += (size_t)n;
	while (inlen >= PROTO_HDR_SIZE && !session_over) {
		if (proto_hdr_decode(&h, inbuf, &why)) {
			send_error(0, "bad frame from the host: %s", why);
			session_over = true;
			return;
		}
		if (inlen < PROTO_HDR_SIZE + h.length)
			break;
		handle_frame(&h, inbuf + PROTO_HDR_SIZE);
		memmove(inbuf, inbuf + PROTO_HDR_SIZE + h.length, inlen - PROTO_HDR_SIZE - h.length);
		inlen -= PROTO_HDR_SIZE + h.length;
	}
}

int sbx_serve(int in_fd, int out_fd)
{
	static struct pollfd pfd[4 + EXEC_POLL_MAX + PROXY_POLL_MAX];
	uint8_t hello[64];
	const char *banner = "sbx-init";
	sigset_t mask;
	int sfd;

	chan_in = in_fd;
	chan_out = out_fd;
	exec_init();
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		sbx_log("signalfd: %s", strerror(errno));
		return -1;
	}
	set_nonblock(chan_in);
	if (chan_out != chan_in)
		set_nonblock(chan_out);
	/* Without the listener execs get no proxy settings; no network either way. */
	if (sbx_proxy_listen)
		proxy_start(sbx_proxy_listen);
	if (!sbx_serve_only)
		note_install();
	if (sbx_note_socket)
		note_start(sbx_note_socket);

	proto_put32(hello, PROTO_VERSION);
	proto_put32(hello + 4, PROTO_MAX_PAYLOAD);
	proto_put32(hello + 8, PROTO_INITIAL_WINDOW);
	memcpy(hello + 12, banner, strlen(banner));
	send_frame(PROTO_HELLO, 0, 0, hello, 12 + (uint32_t)strlen(banner));

	while (!session_over) {
		size_t n = 0, ne = 0, np = 0, nn = 0;
		int r, timeout = 1000;

		flush_chan(false);
		pfd[n++] = (struct pollfd){ .fd = chan_in, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = chan_q.off < chan_q.len ? chan_out : -1,
					    .events = POLLOUT };
		/* Quiesced: only the host's frames are read (the commands wait on their pipes). */
		if (!quiesced) {
			ne = exec_poll(pfd + n);
			np = proxy_poll(pfd + n + ne);
			nn = note_poll(pfd + n + ne + np);
			timeout = exec_next_timeout();
		}
		r = poll(pfd, (nfds_t)(n + ne + np + nn), timeout);
		if (r < 0 && errno != EINTR) {
			sbx_log("poll: %s", strerror(errno));
			break;
		}
		if (r > 0) {
			if (pfd[0].revents)
				read_chan();
			if (pfd[1].revents) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si))
					;
			}
			if (!session_over && !quiesced && ne)
				exec_io(pfd + n);
			if (!session_over && !quiesced && np)
				proxy_io(pfd + n + ne);
			if (!session_over && !quiesced && nn)
				note_io(pfd + n + ne + np, nn);
		}
		if (!quiesced) {
			exec_reap();
			exec_check_deadlines();
		}
	}
	flush_chan(true);
	exec_kill_all();
	proxy_stop();
	note_stop();
	close(sfd);
	return poweroff_status;
}
