// SPDX-License-Identifier: MIT
/*
 * The egress proxy's connections (see proxy.h): the object, its threads
 * and the relay.  The request handling per connection is proxy-conn.c.
 */
#include "sbx/proxy-int.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_STACK (256 * 1024)

int64_t proxy_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int proxy_wait(struct proxy_conn *c, int fd, short events, int64_t deadline)
{
	struct pollfd pfd[2] = { { .fd = fd, .events = events }, { .fd = c->wake, .events = POLLIN } };

	for (;;) {
		int64_t left = deadline - proxy_now_ms();
		int n;

		if (left <= 0)
			return 0;
		n = poll(pfd, 2, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (pfd[1].revents)
			return -1;
		if (pfd[0].revents)
			return 1;
	}
}

int proxy_send_all(struct proxy_conn *c, int fd, const void *buf, size_t len, int64_t deadline)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (proxy_wait(c, fd, POLLOUT, deadline) != 1)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

void proxy_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void proxy_event(struct proxy_conn *c)
{
	struct sbx_proxy *p = c->p;
	struct sbx_net_event ev = {
		.time_ms = c->start_wall_ms,
		.host = c->host,
		.port = c->port,
		.method = c->method,
		.path = c->path ? c->path : "",
		.allowed = c->allowed,
		.rule = c->rule,
		.reason = c->reason,
		.bytes_up = c->bytes_up,
		.bytes_down = c->bytes_down,
		.duration_ms = (uint64_t)(proxy_now_ms() - c->start_ms),
	};

	if (p->cfg.event)
		p->cfg.event(p->cfg.opaque, &ev);
}

/* Count n more payload bytes against the task's cap; false when over it. */
static bool charge(struct proxy_conn *c, size_t n)
{
	uint64_t total = __atomic_add_fetch(&c->p->bytes, n, __ATOMIC_RELAXED);

	return !c->p->cfg.max_bytes || total <= c->p->cfg.max_bytes;
}

bool proxy_charge(struct proxy_conn *c, size_t n)
{
	return charge(c, n);
}

struct dir {
	int from, to;
	uint8_t *buf;
	size_t off, len;
	bool open;		/* still reading `from` */
	uint64_t limit;		/* bytes still allowed from `from` (UINT64_MAX: no limit) */
	uint64_t *count;
	bool shut;		/* `to` has been shut down for writing */
	struct sbx_http_chunked *ck;	/* a chunked request body: stop at its end */
	bool scan;		/* scan what `from` sends with c->scan (the request body) */
};

/* Move what can move in one direction; -1 ends the relay (an error or the cap). */
static int pump(struct proxy_conn *c, struct dir *d, short rev_from, short rev_to, bool half_close)
{
	if (d->len && (rev_to & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t n = send(d->to, d->buf + d->off, d->len, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(c->reason, sizeof(c->reason), "send: %s", strerror(errno));
			return -1;
		}
		if (n > 0) {
			d->off += (size_t)n;
			d->len -= (size_t)n;
		}
	}
	if (!d->len && d->open && (rev_from & (POLLIN | POLLERR | POLLHUP))) {
		size_t want = PROXY_BUF < d->limit ? PROXY_BUF : (size_t)d->limit;
		ssize_t n = recv(d->from, d->buf, want, 0);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(c->reason, sizeof(c->reason), "recv: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			d->open = false;
		if (n > 0 && d->ck) {
			long body = sbx_http_chunked_scan(d->ck, d->buf, (size_t)n);

			if (body < 0) {
				snprintf(c->reason, sizeof(c->reason), "bad request body: %s", sbx_error());
				return -1;
			}
			if (d->ck->done) {
				n = body;	/* bytes after the body are never forwarded */
				d->open = false;
			}
		}
		if (n > 0 && d->scan && c->scanning) {
			const struct sbx_secret *hit = sbx_sentinel_scan_feed(&c->scan, d->buf, (size_t)n);

			if (hit) {
				c->allowed = false;
				snprintf(c->reason, sizeof(c->reason),
					 "exfiltration: the sentinel of secret '%s' in a request body to %s",
					 hit->name, c->host);
				return -1;
			}
		}
		if (n > 0) {
			if (!charge(c, (size_t)n)) {
				snprintf(c->reason, sizeof(c->reason),
					 "the task's network byte limit (%llu) is used up",
					 (unsigned long long)c->p->cfg.max_bytes);
				return -1;
			}
			d->off = 0;
			d->len = (size_t)n;
			*d->count += (uint64_t)n;
			__atomic_add_fetch(d->count == &c->bytes_up ? &c->p->up : &c->p->down,
					   (uint64_t)n, __ATOMIC_RELAXED);
			if (d->limit != UINT64_MAX) {
				d->limit -= (uint64_t)n;
				if (!d->limit)
					d->open = false;
			}
		}
	}
	if (!d->open && !d->len && !d->shut && half_close) {
		shutdown(d->to, SHUT_WR);
		d->shut = true;
	}
	return 0;
}

int proxy_relay(struct proxy_conn *c, uint64_t up_limit, bool http, struct sbx_http_chunked *ck)
{
	struct dir up = { c->client, c->upstream, c->buf_up, 0, 0, up_limit != 0, up_limit,
			  &c->bytes_up, false, ck, true };
	struct dir down = { c->upstream, c->client, c->buf_down, 0, 0, true, UINT64_MAX,
			    &c->bytes_down, false, NULL, false };

	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = c->client }, { .fd = c->upstream }, { .fd = c->wake, .events = POLLIN },
		};
		bool up_done = !up.open && !up.len, down_done = !down.open && !down.len;
		int n;

		/* Plain HTTP ends with the response; a tunnel when both ways are done. */
		if (down_done && (http || up_done))
			break;
		if (up.open && !up.len)
			pfd[0].events |= POLLIN;
		if (down.len)
			pfd[0].events |= POLLOUT;
		if (down.open && !down.len)
			pfd[1].events |= POLLIN;
		if (up.len)
			pfd[1].events |= POLLOUT;
		/* A hung-up socket we wait for nothing on would wake poll at once, again and again. */
		if (!pfd[0].events)
			pfd[0].fd = -1;
		if (!pfd[1].events)
			pfd[1].fd = -1;
		n = poll(pfd, 3, (int)c->p->cfg.idle_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(c->reason, sizeof(c->reason), "poll: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			snprintf(c->reason, sizeof(c->reason), "idle for %u ms", c->p->cfg.idle_ms);
			return -1;
		}
		if (pfd[2].revents) {
			snprintf(c->reason, sizeof(c->reason), "the proxy stopped");
			return -1;
		}
		if (pump(c, &up, pfd[0].revents, pfd[1].revents, !http) < 0 ||
		    pump(c, &down, pfd[1].revents, pfd[0].revents, true) < 0)
			return -1;
	}
	return 0;
}

int proxy_connect(struct proxy_conn *c, const struct sbx_policy_addr *addrs, size_t n)
{
	int64_t deadline = proxy_now_ms() + c->p->cfg.connect_ms;
	int err = ETIMEDOUT;
	size_t i;

	for (i = 0; i < n; i++) {
		int fd = socket(addrs[i].ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int one = 1, r;
		socklen_t el = sizeof(err);

		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_mutex_lock(&c->p->lock);
		c->upstream = fd;
		pthread_mutex_unlock(&c->p->lock);
		r = connect(fd, (const struct sockaddr *)&addrs[i].ss, addrs[i].len);
		if (r < 0 && errno == EINPROGRESS) {
			r = proxy_wait(c, fd, POLLOUT, deadline);
			if (r == 1 && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) && !err)
				r = 0;
			else if (r == 0)
				err = ETIMEDOUT, r = -1;
			else if (r == -1)
				err = ECANCELED;
			else
				r = -1;
		} else if (r < 0) {
			err = errno;
		}
		if (r == 0) {
			snprintf(c->addr, sizeof(c->addr), "%s", addrs[i].text);
			return 0;
		}
		proxy_close_upstream(c);
		snprintf(c->addr, sizeof(c->addr), "%s", addrs[i].text);
		if (proxy_now_ms() >= deadline)
			break;
	}
	snprintf(c->reason, sizeof(c->reason), "cannot connect to %s:%u (%s): %s", c->host,
		 c->port, c->addr, strerror(err));
	return -1;
}

void proxy_close_upstream(struct proxy_conn *c)
{
	pthread_mutex_lock(&c->p->lock);
	if (c->upstream >= 0)
		close(c->upstream);
	c->upstream = -1;
	pthread_mutex_unlock(&c->p->lock);
}

static void *conn_thread(void *arg)
{
	struct proxy_conn *c = arg;

	proxy_serve(c);
	proxy_event(c);
	proxy_close_upstream(c);
	pthread_mutex_lock(&c->p->lock);
	close(c->client);
	c->client = -1;
	free(c->buf_up);
	free(c->buf_down);
	c->buf_up = c->buf_down = NULL;
	c->done = true;
	pthread_mutex_unlock(&c->p->lock);
	return NULL;
}

static void conn_free(struct proxy_conn *c)
{
	if (c->wake >= 0)
		close(c->wake);
	free(c->buf_up);
	free(c->buf_down);
	free(c->path);
	free(c->foreign);
	free(c);
}

/* Join the threads that have finished; called with the lock held. */
static void reap(struct sbx_proxy *p)
{
	struct proxy_conn **pp = &p->conns;

	while (*pp) {
		struct proxy_conn *c = *pp;

		if (!c->done) {
			pp = &c->next;
			continue;
		}
		pthread_join(c->thread, NULL);
		*pp = c->next;
		p->nconns--;
		conn_free(c);
	}
}

int sbx_proxy_new(struct sbx_proxy **out, const struct sbx_proxy_config *cfg)
{
	struct sbx_proxy *p;

	*out = NULL;
	if (!cfg->policy || !cfg->max_conns || !cfg->idle_ms || !cfg->connect_ms || !cfg->head_ms)
		return sbx_error_set(SBX_EINVAL, "proxy config without a policy or with a zero limit");
	if (cfg->idle_ms > INT32_MAX)
		return sbx_error_set(SBX_EINVAL, "proxy idle time too long");
	p = calloc(1, sizeof(*p));
	if (!p)
		return sbx_error_set(SBX_ENOMEM, "out of memory for a proxy");
	p->cfg = *cfg;
	pthread_mutex_init(&p->lock, NULL);
	*out = p;
	return 0;
}

uint64_t sbx_proxy_bytes(const struct sbx_proxy *p)
{
	return __atomic_load_n(&p->bytes, __ATOMIC_RELAXED);
}

void sbx_proxy_bytes_split(const struct sbx_proxy *p, uint64_t *up, uint64_t *down)
{
	*up = __atomic_load_n(&p->up, __ATOMIC_RELAXED);
	*down = __atomic_load_n(&p->down, __ATOMIC_RELAXED);
}

static void refuse_busy(struct sbx_proxy *p, int fd)
{
	static const char body[] = "git-sbx: too many connections at once for this task\n";
	struct sbx_net_event ev = {
		.time_ms = wall_ms(), .host = "", .method = "", .path = "", .rule = "",
		.reason = "too many connections at once",
	};
	char resp[256];
	int len;
	ssize_t n;

	len = snprintf(resp, sizeof(resp), "HTTP/1.1 503 Service Unavailable\r\n"
		       "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\n\r\n%s", sizeof(body) - 1, body);
	n = send(fd, resp, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n;
	close(fd);
	if (p->cfg.event)
		p->cfg.event(p->cfg.opaque, &ev);
}

int sbx_proxy_accept(struct sbx_proxy *p, int fd)
{
	struct proxy_conn *c = NULL;
	pthread_attr_t attr;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	reap(p);
	if (p->stopping) {
		pthread_mutex_unlock(&p->lock);
		close(fd);
		return sbx_error_set(SBX_EINVAL, "the proxy is stopping");
	}
	if (p->nconns >= p->cfg.max_conns) {
		pthread_mutex_unlock(&p->lock);
		refuse_busy(p, fd);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (c) {
		c->p = p;
		c->client = fd;
		c->upstream = -1;
		c->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		c->start_ms = proxy_now_ms();
		c->start_wall_ms = wall_ms();
		c->buf_up = malloc(PROXY_BUF);
		c->buf_down = malloc(PROXY_BUF);
	}
	if (!c || c->wake < 0 || !c->buf_up || !c->buf_down) {
		pthread_mutex_unlock(&p->lock);
		if (c)
			conn_free(c);
		refuse_busy(p, fd);
		return sbx_error_set(SBX_ENOMEM, "out of memory for a proxy connection");
	}
	proxy_set_nonblock(fd);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, CONN_STACK);
	if (pthread_create(&c->thread, &attr, conn_thread, c)) {
		pthread_mutex_unlock(&p->lock);
		pthread_attr_destroy(&attr);
		conn_free(c);
		refuse_busy(p, fd);
		return 0;
	}
	pthread_attr_destroy(&attr);
	c->next = p->conns;
	p->conns = c;
	p->nconns++;
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void sbx_proxy_free(struct sbx_proxy *p)
{
	struct proxy_conn *c;
	uint64_t one = 1;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	for (c = p->conns; c; c = c->next) {
		ssize_t n = write(c->wake, &one, sizeof(one));

		(void)n;
	}
	pthread_mutex_unlock(&p->lock);
	while (p->conns) {
		c = p->conns;
		pthread_join(c->thread, NULL);
		p->conns = c->next;
		conn_free(c);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}
