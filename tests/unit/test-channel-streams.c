// SPDX-License-Identifier: MIT
/*
 * Streams the guest opens (channel protocol v2), both halves for real: the
 * real guest/sbx-init runs `--serve --proxy-listen 127.0.0.1:PORT` over a
 * socketpair, clients (threads of this test) connect to its listener, and
 * the host session's open callback connects each stream to an echo server
 * this test runs on 127.0.0.1.  Then a hostile "guest" (raw frames) meets
 * the host side.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sbx/channel.h"
#include "util/error.h"

/* ---- an echo server on 127.0.0.1: what the host connects each stream to ---- */

static int echo_listen = -1;
static uint16_t echo_port;

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static _Thread_local uint8_t buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		ssize_t off = 0;

		while (off < n) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w <= 0)
				goto out;
			off += w;
		}
	}
	shutdown(fd, SHUT_WR);
out:
	close(fd);
	return NULL;
}

static void *echo_accept(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(echo_listen, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			return NULL;
		if (pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd) == 0)
			pthread_detach(t);
		else
			close(fd);
	}
}

static int listen_any(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 512) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len))
		return -1;
	*port = ntohs(sin.sin_port);
	return fd;
}

static int connect_port(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the host's open callback ---- */

enum open_mode { OPEN_ECHO, OPEN_REFUSE, OPEN_BROKEN, OPEN_ANSWER_CLOSE };

#define ANSWER "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"

struct host {
	_Atomic int mode;
	_Atomic int opened, refused;
	struct sbx_session *s;
	_Atomic int bad_port;	/* the callback saw no client port */
};

static int open_stream(void *opaque, uint32_t stream, int *fd_out)
{
	struct host *h = opaque;
	int sv[2];

	if (!(stream & PROTO_STREAM_GUEST))
		return sbx_error_set(SBX_EINVAL, "not a guest stream");
	if (h->s && sbx_session_stream_port(h->s, stream) <= 0)
		h->bad_port++;
	switch (h->mode) {
	case OPEN_REFUSE:
		h->refused++;
		return sbx_error_set(SBX_EINVAL, "refused by the test");
	case OPEN_BROKEN:
		/* A socket whose other end is gone: writing to it fails. */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			return sbx_error_set(SBX_EIO, "socketpair");
		close(sv[1]);
		*fd_out = sv[0];
		h->opened++;
		return 0;
	case OPEN_ANSWER_CLOSE:
		/* Like a proxy that refuses a request: it answers and closes, reading nothing. */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			return sbx_error_set(SBX_EIO, "socketpair");
		if (write(sv[1], ANSWER, strlen(ANSWER)) != (ssize_t)strlen(ANSWER))
			return sbx_error_set(SBX_EIO, "write");
		close(sv[1]);
		*fd_out = sv[0];
		h->opened++;
		return 0;
	default:
		*fd_out = connect_port(echo_port);
		if (*fd_out < 0)
			return sbx_error_set(SBX_EIO, "cannot reach the echo server");
		h->opened++;
		return 0;
	}
}

/* ---- the real guest ---- */

struct guest {
	pid_t pid;
	int fd;
	uint16_t port;		/* its proxy listener */
	struct sbx_session *s;
	struct host host;
};

static void start_guest(struct guest *g)
{
	const char *build = getenv("SBX_BUILD_DIR");
	char path[4096], addr[64];
	int sv[2], probe;

	assert_non_null(build);
	snprintf(path, sizeof(path), "%s/guest/sbx-init", build);
	/* A free port: bound and released (sbx-init sets SO_REUSEADDR). */
	probe = listen_any(&g->port);
	assert_true(probe >= 0);
	close(probe);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", g->port);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	g->pid = fork();
	assert_true(g->pid >= 0);
	if (g->pid == 0) {
		int fd = fcntl(sv[1], F_DUPFD, 10);

		dup2(fd, 0);
		dup2(fd, 1);
		execl(path, "sbx-init", "--serve", "--proxy-listen", addr, (char *)NULL);
		_exit(99);
	}
	close(sv[1]);
	g->fd = sv[0];
	memset(&g->host, 0, sizeof(g->host));
	assert_int_equal(sbx_session_start(&g->s, g->fd, 5000), 0);
	g->host.s = g->s;
	sbx_session_set_stream_open(g->s, open_stream, &g->host);
}

static void stop_guest(struct guest *g)
{
	int status;

	if (g->s)
		assert_int_equal(sbx_session_poweroff(g->s, 0, 5000), 0);
	sbx_session_free(g->s);
	close(g->fd);
	assert_int_equal(waitpid(g->pid, &status, 0), g->pid);
	assert_true(WIFEXITED(status));
}

/* Pump the session until *done (or 60 s); every stream closed at the end. */
static void serve_until(struct guest *g, atomic_int *done, int want)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int err = sbx_session_serve(g->s, 20);

		if (err)
			fail_msg("serve: %s", sbx_error());
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 60)
			fail_msg("clients did not finish in 60 s");
	} while (*done < want);
	/* The last CLOSEs cross; a little more pumping settles them. */
	for (int i = 0; i < 100 && sbx_session_streams(g->s); i++)
		assert_int_equal(sbx_session_serve(g->s, 10), 0);
	assert_int_equal(sbx_session_streams(g->s), 0);
}

/* ---- clients of the guest's listener ---- */

struct client {
	uint16_t port;
	size_t bytes;		/* to send and expect back */
	uint32_t seed;
	bool half_close;	/* shutdown(SHUT_WR) after sending, then read the echo */
	atomic_int *done;
	int ok;			/* 1 = every byte came back, in order */
	int fd;
};

static uint8_t prng_byte(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return (uint8_t)*x;
}

static void fill(uint8_t *b, size_t n, uint32_t *x)
{
	for (size_t i = 0; i < n; i++)
		b[i] = prng_byte(x);
}

static void *client_writer(void *arg)
{
	struct client *c = arg;
	uint8_t *buf = malloc(65536);
	uint32_t x = c->seed;
	size_t left = c->bytes;

	while (buf && left) {
		size_t n = left < 65536 ? left : 65536, off = 0;

		fill(buf, n, &x);
		while (off < n) {
			ssize_t w = write(c->fd, buf + off, n - off);

			if (w <= 0)
				goto out;
			off += (size_t)w;
		}
		left -= n;
	}
	shutdown(c->fd, SHUT_WR);
out:
	free(buf);
	return NULL;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	uint8_t *buf = malloc(65536), *want = malloc(65536);
	uint32_t x = c->seed;
	size_t got = 0;
	pthread_t w;
	bool writer = false;

	c->ok = 0;
	c->fd = connect_port(c->port);
	if (c->fd < 0 || !buf || !want)
		goto out;
	if (pthread_create(&w, NULL, client_writer, c) == 0)
		writer = true;
	if (writer && c->half_close) {
		/* Everything sent and our side shut down before we read a byte. */
		pthread_join(w, NULL);
		writer = false;
	}
	for (;;) {
		ssize_t n = read(c->fd, buf, 65536);

		if (n <= 0) {
			c->ok = n == 0 && got == c->bytes;
			break;
		}
		fill(want, (size_t)n, &x);
		if (got + (size_t)n > c->bytes || memcmp(buf, want, (size_t)n))
			break;
		got += (size_t)n;
	}
	if (writer)
		pthread_join(w, NULL);
	close(c->fd);
out:
	free(buf);
	free(want);
	(*c->done)++;
	return NULL;
}

static void run_clients(struct guest *g, size_t nclients, size_t bytes)
{
	struct client *c = calloc(nclients, sizeof(*c));
	pthread_t *t = calloc(nclients, sizeof(*t));
	atomic_int done = 0;
	size_t i;

	assert_non_null(c);
	assert_non_null(t);
	for (i = 0; i < nclients; i++) {
		c[i] = (struct client){ .port = g->port, .bytes = bytes, .seed = (uint32_t)(i * 7919 + 1),
					.done = &done };
		assert_int_equal(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
	}
	serve_until(g, &done, (int)nclients);
	for (i = 0; i < nclients; i++) {
		pthread_join(t[i], NULL);
		if (!c[i].ok)
			fail_msg("client %zu: the echo did not come back intact", i);
	}
	free(c);
	free(t);
}

static void test_round_trip(void **state)
{
	struct guest g;

	(void)state;
	start_guest(&g);
	run_clients(&g, 1, 11);
	run_clients(&g, 1, 1 << 20);
	assert_int_equal(g.host.opened, 2);
	stop_guest(&g);
}

static void test_100_concurrent(void **state)
{
	struct guest g;

	(void)state;
	start_guest(&g);
	run_clients(&g, 100, 300000);	/* more than the window each way */
	assert_int_equal(g.host.opened, 100);
	assert_int_equal(g.host.bad_port, 0);	/* each came with its client's port */
	stop_guest(&g);
}

static void test_200mb_each_way(void **state)
{
	struct guest g;
	struct timespec t0, t1;

	(void)state;
	start_guest(&g);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run_clients(&g, 1, 200u << 20);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("200 MiB each way in %.2f s\n",
		      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	stop_guest(&g);
}

/* The client half-closes; the reply still arrives, then EOF. */
static void test_half_close(void **state)
{
	struct guest g;
	atomic_int done = 0;
	struct client c = { 0 };
	pthread_t t;

	(void)state;
	start_guest(&g);
	c.port = g.port;
	c.bytes = 5;
	c.seed = 42;
	c.half_close = true;	/* the writer shuts down its side after sending */
	c.done = &done;
	assert_int_equal(pthread_create(&t, NULL, client_main, &c), 0);
	serve_until(&g, &done, 1);
	pthread_join(t, NULL);
	assert_int_equal(c.ok, 1);
	stop_guest(&g);
}

/* What a refused (or broken) stream's client sees: its connection ends, others go on. */
static void *refused_client(void *arg)
{
	struct client *c = arg;
	char buf[16];
	ssize_t n;

	c->ok = 0;
	c->fd = connect_port(c->port);
	if (c->fd >= 0) {
		if (write(c->fd, "GET / HTTP/1.1\r\n\r\n", 18) != 18) {
			c->ok = 1;	/* already closed is fine too */
		} else {
			n = read(c->fd, buf, sizeof(buf));
			c->ok = n <= 0;
		}
		close(c->fd);
	}
	(*c->done)++;
	return NULL;
}

static void test_refused_and_broken_streams(void **state)
{
	int modes[] = { OPEN_REFUSE, OPEN_BROKEN };
	struct guest g;

	(void)state;
	start_guest(&g);
	for (size_t m = 0; m < 2; m++) {
		atomic_int done = 0;
		struct client c = { .port = g.port, .done = &done };
		pthread_t t;

		g.host.mode = modes[m];
		assert_int_equal(pthread_create(&t, NULL, refused_client, &c), 0);
		serve_until(&g, &done, 1);
		pthread_join(t, NULL);
		assert_int_equal(c.ok, 1);
		/* The session goes on: the next stream works. */
		g.host.mode = OPEN_ECHO;
		run_clients(&g, 1, 1000);
	}
	assert_int_equal(g.host.refused, 1);
	stop_guest(&g);
}

/* The client sends 1 MiB; the other side answered and closed at once: the answer arrives. */
static void *answered_client(void *arg)
{
	struct client *c = arg;
	static uint8_t big[1 << 20];
	char buf[256];
	size_t got = 0, off = 0;
	ssize_t n;

	c->ok = 0;
	c->fd = connect_port(c->port);
	if (c->fd >= 0) {
		while (off < sizeof(big) && (n = write(c->fd, big + off, sizeof(big) - off)) > 0)
			off += (size_t)n;
		shutdown(c->fd, SHUT_WR);
		while (got < sizeof(buf) - 1 && (n = read(c->fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
		c->ok = off == sizeof(big) && !strcmp(buf, ANSWER);
		close(c->fd);
	}
	(*c->done)++;
	return NULL;
}

static void test_answer_then_close(void **state)
{
	atomic_int done = 0;
	struct guest g;
	struct client c;
	pthread_t t;

	(void)state;
	start_guest(&g);
	g.host.mode = OPEN_ANSWER_CLOSE;
	c = (struct client){ .port = g.port, .done = &done };
	assert_int_equal(pthread_create(&t, NULL, answered_client, &c), 0);
	serve_until(&g, &done, 1);
	pthread_join(t, NULL);
	assert_int_equal(c.ok, 1);
	stop_guest(&g);
}

/* Without a callback the host refuses every stream, and the session is fine. */
static void test_no_callback_refuses(void **state)
{
	atomic_int done = 0;
	struct guest g;
	struct client c;
	pthread_t t;

	(void)state;
	start_guest(&g);
	sbx_session_set_stream_open(g.s, NULL, NULL);
	c = (struct client){ .port = g.port, .done = &done };
	assert_int_equal(pthread_create(&t, NULL, refused_client, &c), 0);
	serve_until(&g, &done, 1);
	pthread_join(t, NULL);
	assert_int_equal(c.ok, 1);
	stop_guest(&g);
}

struct capture {
	char buf[8192];
	size_t len;
};

static int sink(void *opaque, int fd, const uint8_t *p, size_t n)
{
	struct capture *c = opaque;

	(void)fd;
	if (c->len + n >= sizeof(c->buf))
		return sbx_error_set(SBX_ELIMIT, "too much output");
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return 0;
}

/*
 * An exec runs while streams flow (the session services both), and it sees
 * the proxy settings, except where the host's environment sets its own.
 */
static void test_exec_alongside_streams(void **state)
{
	static const char *const argv[] = { "sh", "-c", "sleep 1; env", NULL };
	static const char *const env[] = { "PATH=/usr/bin:/bin", "no_proxy=example.org", NULL };
	struct sbx_exec_opts o = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	struct capture cap = { .buf = "\n", .len = 1 };	/* every line starts with \n */
	struct client c[8];
	pthread_t t[8];
	atomic_int done = 0;
	char want[128];
	struct guest g;
	size_t i;

	(void)state;
	start_guest(&g);
	for (i = 0; i < 8; i++) {
		c[i] = (struct client){ .port = g.port, .bytes = 2u << 20, .seed = (uint32_t)i + 9,
					.done = &done };
		assert_int_equal(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
	}
	o.argv = argv;
	o.env = env;
	o.sink = sink;
	o.opaque = &cap;
	o.timeout_ms = 30000;
	assert_int_equal(sbx_session_exec(g.s, &o, &res), 0);
	assert_int_equal(res.code, 0);
	serve_until(&g, &done, 8);
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(c[i].ok, 1);
	}
	snprintf(want, sizeof(want), "\nHTTPS_PROXY=http://127.0.0.1:%u\n", g.port);
	if (!strstr(cap.buf, want))
		fail_msg("no '%s' in the exec's environment:%s", want + 1, cap.buf);
	snprintf(want, sizeof(want), "\nhttp_proxy=http://127.0.0.1:%u\n", g.port);
	assert_non_null(strstr(cap.buf, want));
	assert_non_null(strstr(cap.buf, "\nNO_PROXY=localhost,127.0.0.1,::1\n"));
	assert_non_null(strstr(cap.buf, "\nnpm_config_https_proxy=http://127.0.0.1:"));
	/* The host's own value wins, and is there once. */
	assert_non_null(strstr(cap.buf, "\nno_proxy=example.org\n"));
	assert_null(strstr(cap.buf, "no_proxy=localhost"));
	stop_guest(&g);
}

/* ---- frames by hand ---- */

static size_t frame(uint8_t *buf, uint8_t type, uint8_t flags, uint32_t stream, const void *p,
		    uint32_t len)
{
	proto_hdr_encode(buf, type, flags, stream, len);
	if (len)
		memcpy(buf + PROTO_HDR_SIZE, p, len);
	return PROTO_HDR_SIZE + len;
}

static size_t open_frame(uint8_t *buf, uint32_t stream, uint8_t kind)
{
	uint8_t p[3] = { kind, 0x39, 0x30 };

	return frame(buf, PROTO_OPEN, 0, stream, p, 3);
}

/* sbx-init refuses a host that speaks another version, and says what to do. */
static void test_guest_refuses_old_host(void **state)
{
	const char *build = getenv("SBX_BUILD_DIR");
	uint8_t b[PROTO_HDR_SIZE + 1024], v[12];
	char path[4096];
	size_t len = 0;
	int sv[2], status;
	pid_t pid;

	(void)state;
	assert_non_null(build);
	snprintf(path, sizeof(path), "%s/guest/sbx-init", build);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = fcntl(sv[1], F_DUPFD, 10);

		dup2(fd, 0);
		dup2(fd, 1);
		execl(path, "sbx-init", "--serve", (char *)NULL);
		_exit(99);
	}
	close(sv[1]);
	/* Its HELLO says v4. */
	while (len < PROTO_HDR_SIZE + 12) {
		ssize_t n = read(sv[0], b + len, sizeof(b) - len);

		assert_true(n > 0);
		len += (size_t)n;
	}
	assert_int_equal(b[2], PROTO_HELLO);
	assert_int_equal(proto_get32(b + PROTO_HDR_SIZE), PROTO_VERSION);
	proto_put32(v, 1);
	proto_put32(v + 4, PROTO_MAX_PAYLOAD);
	proto_put32(v + 8, PROTO_INITIAL_WINDOW);
	len = frame(b, PROTO_HELLO, 0, 0, v, 12);
	assert_int_equal(write(sv[0], b, len), (ssize_t)len);
	/* It answers ERROR and ends the session. */
	len = 0;
	for (;;) {
		ssize_t n = read(sv[0], b + len, sizeof(b) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	assert_true(len > PROTO_HDR_SIZE);
	assert_int_equal(b[2], PROTO_ERROR);
	b[len] = '\0';
	assert_non_null(strstr((char *)b + PROTO_HDR_SIZE, "host speaks channel protocol v1, sbx-init v4"));
	assert_non_null(strstr((char *)b + PROTO_HDR_SIZE, "rebuild the image"));
	close(sv[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

/*
 * A hostile guest: HELLO, then `bytes` (from a writer process: they may not
 * fit the socket buffer), while the host serves for up to 1 s.  Returns the
 * session's error; *left = the streams alive at the end.  With `ack`, a
 * reader answers nothing but drains what the host sends.
 */
static int hostile(const uint8_t *bytes, size_t n, bool with_callback, unsigned *left,
		   uint8_t *host_sent, size_t *host_sent_len)
{
	struct sbx_session *s = NULL;
	struct host h = { .mode = OPEN_ECHO };
	uint8_t hello[PROTO_HDR_SIZE + 12];
	int sv[2], err;
	pid_t w;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	proto_hdr_encode(hello, PROTO_HELLO, 0, 0, 12);
	proto_put32(hello + PROTO_HDR_SIZE, PROTO_VERSION);
	proto_put32(hello + PROTO_HDR_SIZE + 4, PROTO_MAX_PAYLOAD);
	proto_put32(hello + PROTO_HDR_SIZE + 8, PROTO_INITIAL_WINDOW);
	assert_int_equal(write(sv[1], hello, sizeof(hello)), (ssize_t)sizeof(hello));
	assert_int_equal(sbx_session_start(&s, sv[0], 2000), 0);
	if (with_callback)
		sbx_session_set_stream_open(s, open_stream, &h);
	w = fork();
	assert_true(w >= 0);
	if (w == 0) {
		close(sv[0]);
		_exit(write(sv[1], bytes, n) == (ssize_t)n ? 0 : 1);
	}
	err = sbx_session_serve(s, 1000);
	*left = sbx_session_streams(s);
	sbx_session_free(s);
	close(sv[0]);
	if (host_sent) {
		ssize_t got = 0, r;

		fcntl(sv[1], F_SETFL, O_NONBLOCK);
		while (*host_sent_len - (size_t)got > 0 &&
		       (r = read(sv[1], host_sent + got, *host_sent_len - (size_t)got)) > 0)
			got += r;
		*host_sent_len = (size_t)got;
	}
	close(sv[1]);
	waitpid(w, NULL, 0);
	return err;
}

/* Find the first frame of `type` for `stream` in what the host sent. */
static const uint8_t *find_frame(const uint8_t *b, size_t len, uint8_t type, uint32_t stream)
{
	size_t off = 0;

	while (off + PROTO_HDR_SIZE <= len) {
		uint32_t l = proto_get32(b + off + 8);

		if (b[off + 2] == type && proto_get32(b + off + 4) == stream)
			return b + off;
		off += PROTO_HDR_SIZE + l;
	}
	return NULL;
}

static void test_hostile_guest_streams(void **state)
{
	static uint8_t b[PROTO_HDR_SIZE * 300 + 4 * PROTO_MAX_PAYLOAD + 4096];
	static uint8_t sent[65536];
	const uint32_t G = PROTO_STREAM_GUEST;
	size_t n, i, sent_len;
	unsigned left;
	uint8_t v[4];

	(void)state;
	memset(b, 'x', sizeof(b));
	/* An OPEN with a host-side id. */
	n = open_frame(b, 5, PROTO_OPEN_PROXY);
	assert_int_equal(hostile(b, n, true, &left, NULL, NULL), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "not the guest's"));
	/* An OPEN with id 0. */
	n = open_frame(b, 0, PROTO_OPEN_PROXY);
	assert_int_equal(hostile(b, n, true, &left, NULL, NULL), SBX_ECORRUPT);
	/* A malformed OPEN. */
	n = frame(b, PROTO_OPEN, 0, G | 1, "\1", 1);
	assert_int_equal(hostile(b, n, true, &left, NULL, NULL), SBX_ECORRUPT);
	/* The same id twice. */
	n = open_frame(b, G | 1, PROTO_OPEN_PROXY);
	n += open_frame(b + n, G | 1, PROTO_OPEN_PROXY);
	assert_int_equal(hostile(b, n, true, &left, NULL, NULL), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "in use"));
	/* A flood of OPENs (refused: no callback), never closed: one past the limit ends it. */
	for (n = 0, i = 0; i <= PROTO_MAX_GUEST_STREAMS; i++)
		n += open_frame(b + n, G | (uint32_t)(i + 1), PROTO_OPEN_PROXY);
	assert_int_equal(hostile(b, n, false, &left, NULL, NULL), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "more than 256 streams"));
	/* Exactly the limit is fine: every one refused, not a session error. */
	n -= PROTO_HDR_SIZE + 3;
	assert_int_equal(hostile(b, n, false, &left, NULL, NULL), 0);
	assert_int_equal(left, PROTO_MAX_GUEST_STREAMS);
	/* Data beyond credit (the window is 128 KiB; three 64 KiB frames). */
	n = open_frame(b, G | 1, PROTO_OPEN_PROXY);
	for (i = 0; i < 3; i++) {
		proto_hdr_encode(b + n, PROTO_DATA, 0, G | 1, PROTO_MAX_PAYLOAD);
		n += PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD;
	}
	assert_int_equal(hostile(b, n, false, &left, NULL, NULL), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "credit"));
	/* DATA for a stream the guest closed. */
	proto_put32(v, PROTO_CLOSE_DONE);
	n = open_frame(b, G | 1, PROTO_OPEN_PROXY);
	n += frame(b + n, PROTO_CLOSE, 0, G | 1, v, 4);
	n += frame(b + n, PROTO_DATA, 0, G | 1, "x", 1);
	assert_int_equal(hostile(b, n, true, &left, NULL, NULL), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "not open"));
	/* DATA for a guest id never opened. */
	n = frame(b, PROTO_DATA, 0, G | 9, "x", 1);
	assert_int_equal(hostile(b, n, true, &left, NULL, NULL), SBX_ECORRUPT);
	/* DATA with an fd in flags. */
	n = open_frame(b, G | 1, PROTO_OPEN_PROXY);
	n += frame(b + n, PROTO_DATA, 1, G | 1, "x", 1);
	assert_int_equal(hostile(b, n, true, &left, NULL, NULL), SBX_ECORRUPT);
	/* More credit granted back than the window. */
	proto_put32(v, 1);
	n = open_frame(b, G | 1, PROTO_OPEN_PROXY);
	n += frame(b + n, PROTO_WINDOW, 0, G | 1, v, 4);
	assert_int_equal(hostile(b, n, true, &left, NULL, NULL), SBX_ECORRUPT);
	/* DATA after EOF. */
	n = open_frame(b, G | 1, PROTO_OPEN_PROXY);
	n += frame(b + n, PROTO_EOF, 0, G | 1, NULL, 0);
	n += frame(b + n, PROTO_DATA, 0, G | 1, "x", 1);
	assert_int_equal(hostile(b, n, true, &left, NULL, NULL), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "after EOF"));
	/* An ACCEPT from the guest. */
	n = open_frame(b, G | 1, PROTO_OPEN_PROXY);
	n += frame(b + n, PROTO_ACCEPT, 0, G | 1, NULL, 0);
	assert_int_equal(hostile(b, n, true, &left, NULL, NULL), SBX_ECORRUPT);

	/*
	 * Kinder: an unknown kind is refused, and data the guest sent before it
	 * heard (within credit) is dropped; the guest's CLOSE frees the id,
	 * which it may then open again.
	 */
	proto_put32(v, PROTO_CLOSE_DONE);
	n = open_frame(b, G | 7, 99);
	n += frame(b + n, PROTO_DATA, 0, G | 7, "abc", 3);
	n += frame(b + n, PROTO_EOF, 0, G | 7, NULL, 0);
	n += frame(b + n, PROTO_CLOSE, 0, G | 7, v, 4);
	n += open_frame(b + n, G | 7, PROTO_OPEN_PROXY);
	sent_len = sizeof(sent);
	assert_int_equal(hostile(b, n, false, &left, sent, &sent_len), 0);
	assert_int_equal(left, 1);	/* the second OPEN, refused, awaits the guest's CLOSE */
	{
		const uint8_t *f = find_frame(sent, sent_len, PROTO_CLOSE, G | 7);

		assert_non_null(f);
		assert_int_equal(proto_get32(f + PROTO_HDR_SIZE), PROTO_CLOSE_REFUSED);
		assert_null(find_frame(sent, sent_len, PROTO_ACCEPT, G | 7));
	}
	/* With a callback, OPEN gets ACCEPT. */
	n = open_frame(b, G | 3, PROTO_OPEN_PROXY);
	sent_len = sizeof(sent);
	assert_int_equal(hostile(b, n, true, &left, sent, &sent_len), 0);
	assert_non_null(find_frame(sent, sent_len, PROTO_ACCEPT, G | 3));
	assert_int_equal(left, 1);
}

/* The host refuses a guest that speaks v1. */
static void test_host_refuses_old_guest(void **state)
{
	struct sbx_session *s = NULL;
	uint8_t hello[PROTO_HDR_SIZE + 12];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	proto_hdr_encode(hello, PROTO_HELLO, 0, 0, 12);
	proto_put32(hello + PROTO_HDR_SIZE, 1);
	proto_put32(hello + PROTO_HDR_SIZE + 4, PROTO_MAX_PAYLOAD);
	proto_put32(hello + PROTO_HDR_SIZE + 8, PROTO_INITIAL_WINDOW);
	assert_int_equal(write(sv[1], hello, sizeof(hello)), (ssize_t)sizeof(hello));
	assert_int_equal(sbx_session_start(&s, sv[0], 2000), SBX_EUNSUPPORTED);
	assert_non_null(strstr(sbx_error(), "the guest speaks channel protocol v1, the host v4"));
	assert_non_null(strstr(sbx_error(), "rebuild the image"));
	close(sv[0]);
	close(sv[1]);
}

static int setup(void **state)
{
	pthread_t t;

	(void)state;
	echo_listen = listen_any(&echo_port);
	if (echo_listen < 0)
		return -1;
	return pthread_create(&t, NULL, echo_accept, NULL) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_100_concurrent),
		cmocka_unit_test(test_200mb_each_way),
		cmocka_unit_test(test_refused_and_broken_streams),
		cmocka_unit_test(test_no_callback_refuses),
		cmocka_unit_test(test_answer_then_close),
		cmocka_unit_test(test_exec_alongside_streams),
		cmocka_unit_test(test_guest_refuses_old_host),
		cmocka_unit_test(test_host_refuses_old_guest),
		cmocka_unit_test(test_hostile_guest_streams),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("channel-streams", tests, setup, NULL);
}
