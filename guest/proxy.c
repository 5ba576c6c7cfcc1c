// SPDX-License-Identifier: MIT
/*
 * sbx-init's proxy listener.  The VM has no NIC: the only way out is
 * 127.0.0.1:3128, where we accept connections and carry each to the host
 * as a stream the guest opens (protocol v2, sbx/proto.h); the host's policy
 * proxy speaks HTTP to the other end.  Every exec gets HTTP_PROXY and its
 * friends in its environment (proxy_env()); a program that ignores them
 * finds no network at all.
 *
 * Bytes flow with credit like exec output: we read a client only while the
 * host has granted us credit and the channel's queue is short, and grant the
 * host more only as the client takes what it sent.  At most
 * PROTO_MAX_GUEST_STREAMS streams are alive (until both sides' CLOSE); more
 * clients wait in the listen backlog.
 */
#include "guest/sbx-init.h"
#include "guest/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct gstream {
	uint32_t id;		/* 0 = a free slot */
	int fd;			/* the client; -1 once closed */
	struct outbuf to_client; /* host->client bytes not yet written (<= the window) */
	uint32_t credit;	/* what we may still send the host */
	uint32_t host_credit;	/* what the host may still send us */
	uint32_t unacked;	/* written to the client, not yet granted back */
	bool rd_eof;		/* the client's read() gave 0: EOF sent */
	bool host_eof;		/* the host sent EOF */
	bool shut;		/* shutdown(SHUT_WR) done on the client */
	bool sent_close;	/* we sent CLOSE: waiting for the host's */
};

static struct gstream gs[PROTO_MAX_GUEST_STREAMS];
static unsigned alive;
static int listen_fd = -1;
static uint32_t next_id;
static char proxy_url[64];

int proxy_start(const char *addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char *colon = strrchr(addr, ':');
	char host[32];
	unsigned long port;
	char *end;
	size_t i;
	int one = 1;

	for (i = 0; i < PROTO_MAX_GUEST_STREAMS; i++)
		gs[i].fd = -1;
	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		goto bad;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || !colon[1] || port == 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		goto bad;
	sin.sin_port = htons((uint16_t)port);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0) {
		sbx_log("proxy listener: socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(listen_fd, 128)) {
		sbx_log("proxy listener on %s: %s", addr, strerror(errno));
		close_fd(&listen_fd);
		return -1;
	}
	snprintf(proxy_url, sizeof(proxy_url), "http://%s", addr);
	return 0;
bad:
	sbx_log("proxy listener: bad address '%s' (want IPV4:PORT)", addr);
	return -1;
}

static struct gstream *find(uint32_t id)
{
	size_t i;

	for (i = 0; i < PROTO_MAX_GUEST_STREAMS; i++)
		if (gs[i].id == id)
			return &gs[i];
	return NULL;
}

static void release(struct gstream *c)
{
	close_fd(&c->fd);
	free(c->to_client.data);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	alive--;
}

/* Our side failed: tell the host, drop the client; the host's CLOSE frees the slot. */
static void reset(struct gstream *c, const char *why)
{
	uint8_t p[4 + 64];
	size_t n = strlen(why) < 64 ? strlen(why) : 64;

	close_fd(&c->fd);
	free(c->to_client.data);
	memset(&c->to_client, 0, sizeof(c->to_client));
	if (c->sent_close)
		return;
	c->sent_close = true;
	proto_put32(p, PROTO_CLOSE_RESET);
	memcpy(p + 4, why, n);
	send_frame(PROTO_CLOSE, 0, c->id, p, 4 + (uint32_t)n);
}

/* The normal end: both ways saw EOF, the client and the host's socket have every byte. */
static void maybe_done(struct gstream *c)
{
	uint8_t p[4];

	if (c->sent_close || !c->rd_eof || !c->host_eof || c->to_client.len ||
	    c->credit != PROTO_STREAM_WINDOW)
		return;
	close_fd(&c->fd);
	c->sent_close = true;
	proto_put32(p, PROTO_CLOSE_DONE);
	send_frame(PROTO_CLOSE, 0, c->id, p, 4);
}

static void accept_some(void)
{
	while (alive < PROTO_MAX_GUEST_STREAMS) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		struct gstream *c = NULL;
		uint8_t p[3];
		size_t i;
		int fd = accept4(listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;	/* EAGAIN, or a client that left: try again at the next poll */
		for (i = 0; i < PROTO_MAX_GUEST_STREAMS && !c; i++)
			if (!gs[i].id)
				c = &gs[i];
		do
			next_id = (next_id + 1) & ~PROTO_STREAM_GUEST;
		while (find(next_id | PROTO_STREAM_GUEST));
		c->id = next_id | PROTO_STREAM_GUEST;
		c->fd = fd;
		c->credit = c->host_credit = PROTO_STREAM_WINDOW;
		alive++;
		p[0] = PROTO_OPEN_PROXY;
		proto_put16(p + 1, ntohs(peer.sin_port));
		send_frame(PROTO_OPEN, 0, c->id, p, sizeof(p));
	}
}

static void client_write(struct gstream *c)
{
	struct outbuf *q = &c->to_client;

	while (c->fd >= 0 && q->off < q->len) {
		ssize_t n = send(c->fd, q->data + q->off, q->len - q->off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			reset(c, "the client went away");
			return;
		}
		q->off += (size_t)n;
		c->unacked += (uint32_t)n;
	}
	if (c->fd < 0)
		return;
	if (q->off == q->len) {
		q->off = q->len = 0;
		if (c->host_eof && !c->shut) {
			c->shut = true;
			shutdown(c->fd, SHUT_WR);
		}
	}
	if (c->unacked && (c->unacked >= PROTO_STREAM_WINDOW / 4 || !q->len) && !c->sent_close) {
		uint8_t p[4];

		proto_put32(p, c->unacked);
		c->host_credit += c->unacked;
		c->unacked = 0;
		send_frame(PROTO_WINDOW, 0, c->id, p, 4);
	}
	maybe_done(c);
}

static void client_read(struct gstream *c)
{
	static uint8_t buf[PROTO_MAX_PAYLOAD];
	size_t want = c->credit < sizeof(buf) ? c->credit : sizeof(buf);
	ssize_t n;

	if (c->fd < 0 || c->rd_eof || !want || chan_queued() >= CHAN_Q_HIGH)
		return;
	n = read(c->fd, buf, want);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n < 0) {
		reset(c, "the client's connection failed");
		return;
	}
	if (n == 0) {
		c->rd_eof = true;
		send_frame(PROTO_EOF, 0, c->id, NULL, 0);
		maybe_done(c);
		return;
	}
	c->credit -= (uint32_t)n;
	send_frame(PROTO_DATA, 0, c->id, buf, (uint32_t)n);
}

static void host_broke(uint32_t id, const char *why)
{
	send_error(id, "%s on stream %#x", why, id);
	session_over = true;
}

void proxy_frame(const struct proto_hdr *h, const uint8_t *p)
{
	struct gstream *c = find(h->stream);
	uint64_t credit;

	if (!c) {
		host_broke(h->stream, "a frame from the host for a stream that is not open");
		return;
	}
	switch (h->type) {
	case PROTO_ACCEPT:
		break;
	case PROTO_DATA:
		if (h->flags || c->host_eof || h->length > c->host_credit) {
			host_broke(h->stream, "DATA beyond credit or after EOF");
			return;
		}
		c->host_credit -= h->length;
		if (c->sent_close)
			break;	/* in flight when we reset it */
		if (q_append(&c->to_client, p, h->length)) {
			reset(c, "out of memory");
			break;
		}
		client_write(c);
		break;
	case PROTO_EOF:
		if (c->host_eof) {
			host_broke(h->stream, "a second EOF");
			return;
		}
		c->host_eof = true;
		if (!c->sent_close)
			client_write(c);
		break;
	case PROTO_WINDOW:
		if (h->length != 4) {
			host_broke(h->stream, "a bad WINDOW");
			return;
		}
		credit = (uint64_t)c->credit + proto_get32(p);
		if (credit > PROTO_STREAM_WINDOW) {
			host_broke(h->stream, "more credit than the window");
			return;
		}
		c->credit = (uint32_t)credit;
		if (!c->sent_close)
			maybe_done(c);
		break;
	case PROTO_CLOSE:
		if (!c->sent_close) {
			uint8_t r[4];

			if (h->length >= 4 && proto_get32(p) == PROTO_CLOSE_REFUSED && sbx_serve_only)
				sbx_log("the host refused stream %#x: %.*s", h->stream,
					(int)(h->length - 4), (const char *)p + 4);
			proto_put32(r, PROTO_CLOSE_DONE);
			send_frame(PROTO_CLOSE, 0, c->id, r, 4);
		}
		release(c);
		break;
	default:
		host_broke(h->stream, "an unexpected frame");
	}
}

/* Which slot each entry proxy_poll() added is for; the listener is entry 0. */
static unsigned polled[PROXY_POLL_MAX];
static size_t npolled;

size_t proxy_poll(struct pollfd *pfd)
{
	bool room = chan_queued() < CHAN_Q_HIGH;
	size_t i, n = 0;

	npolled = 0;
	if (listen_fd < 0)
		return 0;
	pfd[n++] = (struct pollfd){ .fd = alive < PROTO_MAX_GUEST_STREAMS && room ? listen_fd : -1,
				    .events = POLLIN };
	for (i = 0; i < PROTO_MAX_GUEST_STREAMS; i++) {
		struct gstream *c = &gs[i];
		short ev = 0;

		if (!c->id || c->fd < 0)
			continue;
		if (room && !c->rd_eof && c->credit)
			ev |= POLLIN;
		if (c->to_client.off < c->to_client.len)
			ev |= POLLOUT;
		if (!ev)
			continue;
		pfd[n] = (struct pollfd){ .fd = c->fd, .events = ev };
		polled[n++] = (unsigned)i;
	}
	npolled = n;
	return n;
}

void proxy_io(const struct pollfd *pfd)
{
	size_t i;

	if (!npolled)
		return;
	for (i = 1; i < npolled && !session_over; i++) {
		struct gstream *c = &gs[polled[i]];

		if (!pfd[i].revents || !c->id || c->fd != pfd[i].fd)
			continue;
		if (pfd[i].revents & (POLLOUT | POLLERR | POLLHUP))
			client_write(c);
		if (c->fd >= 0 && (pfd[i].events & POLLIN) &&
		    (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
			client_read(c);
	}
	if (pfd[0].revents & POLLIN)
		accept_some();
}

void proxy_forget_streams(void)
{
	size_t i;

	for (i = 0; i < PROTO_MAX_GUEST_STREAMS; i++)
		if (gs[i].id)
			release(&gs[i]);
}

void proxy_stop(void)
{
	size_t i;

	for (i = 0; i < PROTO_MAX_GUEST_STREAMS; i++)
		if (gs[i].id)
			release(&gs[i]);
	close_fd(&listen_fd);
}

int proxy_env(char **envp, size_t *envc)
{
	static const char *const url_vars[] = {
		"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
		"npm_config_proxy", "npm_config_https_proxy",
	};
	static const char *const no_vars[] = { "NO_PROXY", "no_proxy" };
	size_t i, base = *envc;

	if (listen_fd < 0)
		return 0;
	for (i = 0; i < sizeof(url_vars) / sizeof(url_vars[0]) + 3; i++) {
		const char *name, *val;
		size_t j, nl;
		char *e;

		if (i < 8) {
			name = url_vars[i];
			val = proxy_url;
		} else if (i < 10) {
			name = no_vars[i - 8];
			val = "localhost,127.0.0.1,::1";
		} else {
			name = "NODE_USE_ENV_PROXY";	/* Node's own fetch honours HTTP(S)_PROXY */
			val = "1";
		}
		nl = strlen(name);
		for (j = 0; j < base; j++)
			if (!strncmp(envp[j], name, nl) && envp[j][nl] == '=')
				break;
		if (j < base)
			continue;	/* the host set it */
		e = malloc(nl + 1 + strlen(val) + 1);
		if (!e)
			return -1;
		sprintf(e, "%s=%s", name, val);
		envp[(*envc)++] = e;
	}
	return 0;
}
