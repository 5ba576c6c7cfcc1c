// SPDX-License-Identifier: MIT
/*
 * The channel, both halves for real: the host's session (sbx/channel.c)
 * talks to the real guest/sbx-init in `--serve` mode over a socketpair, and
 * a hostile "guest" (this test writing bytes) meets the host side.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sbx/channel.h"
#include "util/checked.h"
#include "util/error.h"


struct guest {
	pid_t pid;
	int fd;
	struct sbx_session *s;
};

struct capture {
	uint8_t *buf[3];
	size_t len[3], cap[3];
	size_t limit;
};

static int sink(void *opaque, int fd, const uint8_t *p, size_t n)
{
	struct capture *c = opaque;

	if (c->limit && c->len[fd] + n > c->limit)
		return sbx_error_set(SBX_ELIMIT, "output limit");
	if (c->len[fd] + n > c->cap[fd]) {
		c->cap[fd] = (c->len[fd] + n) * 2;
		c->buf[fd] = realloc(c->buf[fd], c->cap[fd]);
		assert_non_null(c->buf[fd]);
	}
	memcpy(c->buf[fd] + c->len[fd], p, n);
	c->len[fd] += n;
	return 0;
}

static void capture_free(struct capture *c)
{
	free(c->buf[1]);
	free(c->buf[2]);
}

static void start_guest(struct guest *g)
{
	const char *build = getenv("SBX_BUILD_DIR");
	char path[4096];
	int sv[2];

	assert_non_null(build);
	snprintf(path, sizeof(path), "%s/guest/sbx-init", build);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	g->pid = fork();
	assert_true(g->pid >= 0);
	if (g->pid == 0) {
		/* sv[1] may itself be 0 or 1 when stdin is closed: move it first. */
		int fd = fcntl(sv[1], F_DUPFD, 10);

		dup2(fd, 0);
		dup2(fd, 1);
		execl(path, "sbx-init", "--serve", (char *)NULL);
		_exit(99);
	}
	close(sv[1]);
	g->fd = sv[0];
	assert_int_equal(sbx_session_start(&g->s, g->fd, 5000), 0);
	assert_string_equal(sbx_session_banner(g->s), "sbx-init");
}

static void stop_guest(struct guest *g)
{
	int status;

	if (g->s)
		sbx_session_poweroff(g->s, 0, 5000);
	sbx_session_free(g->s);
	close(g->fd);
	assert_int_equal(waitpid(g->pid, &status, 0), g->pid);
	assert_true(WIFEXITED(status));
}

static int run(struct guest *g, const char *const *argv, struct capture *c,
	       struct sbx_exec_result *res, uint64_t timeout_ms)
{
	struct sbx_exec_opts o = SBX_EXEC_OPTS_INIT;
	static const char *const env[] = { "PATH=/usr/bin:/bin", "FOO=bar baz", NULL };

	o.argv = argv;
	o.env = env;
	o.sink = sink;
	o.opaque = c;
	o.timeout_ms = timeout_ms;
	return sbx_session_exec(g->s, &o, res);
}

static void test_exec_output_and_status(void **state)
{
	static const char *const echo[] = { "sh", "-c", "echo out; echo err >&2; echo \"$FOO\"; exit 3", NULL };
	struct sbx_exec_result res;
	struct capture c = { 0 };
	struct guest g;

	(void)state;
	start_guest(&g);
	assert_int_equal(run(&g, echo, &c, &res, 0), 0);
	assert_int_equal(res.code, 3);
	assert_int_equal(res.flags, 0);
	assert_int_equal(c.len[1], strlen("out\nbar baz\n"));
	assert_memory_equal(c.buf[1], "out\nbar baz\n", c.len[1]);
	assert_int_equal(c.len[2], 4);
	assert_memory_equal(c.buf[2], "err\n", 4);
	capture_free(&c);

	/* A second command on the same session. */
	memset(&c, 0, sizeof(c));
	{
		static const char *const pwd[] = { "pwd", NULL };
		struct sbx_exec_opts o = SBX_EXEC_OPTS_INIT;

		o.argv = pwd;
		o.cwd = "/tmp";
		o.sink = sink;
		o.opaque = &c;
		assert_int_equal(sbx_session_exec(g.s, &o, &res), 0);
		assert_int_equal(res.code, 0);
		assert_memory_equal(c.buf[1], "/tmp\n", 5);
	}
	capture_free(&c);
	stop_guest(&g);
}

static void test_stdin_8mib_round_trip(void **state)
{
	static const char *const cat[] = { "cat", NULL };
	size_t n = 8u << 20;
	uint8_t *data = malloc(n);
	struct sbx_exec_opts o = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	struct capture c = { 0 };
	struct guest g;
	size_t i;

	(void)state;
	assert_non_null(data);
	for (i = 0; i < n; i += 256)
		assert_int_equal(getrandom(data + i, 256, 0), 256);
	start_guest(&g);
	o.argv = cat;
	o.stdin_buf = data;
	o.stdin_len = n;
	o.sink = sink;
	o.opaque = &c;
	assert_int_equal(sbx_session_exec(g.s, &o, &res), 0);
	assert_int_equal(res.code, 0);
	assert_true(c.len[1] == n);
	assert_memory_equal(c.buf[1], data, n);
	capture_free(&c);
	stop_guest(&g);
	free(data);
}

static void test_timeout_kills(void **state)
{
	static const char *const slow[] = { "sleep", "30", NULL };
	struct sbx_exec_result res;
	struct capture c = { 0 };
	struct timespec t0, t1;
	struct guest g;

	(void)state;
	start_guest(&g);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run(&g, slow, &c, &res, 300), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(res.flags & PROTO_EXIT_TIMEOUT);
	assert_true(res.flags & PROTO_EXIT_SIGNALED);
	assert_int_equal(res.code, 128 + SIGKILL);
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	stop_guest(&g);
}

static void test_not_found_is_127(void **state)
{
	static const char *const nope[] = { "/no/such/program", NULL };
	struct sbx_exec_result res;
	struct capture c = { 0 };
	struct guest g;

	(void)state;
	start_guest(&g);
	assert_int_equal(run(&g, nope, &c, &res, 0), 0);
	assert_int_equal(res.code, 127);
	assert_non_null(c.buf[2]);
	capture_free(&c);
	stop_guest(&g);
}

static void test_background_child_does_not_hang(void **state)
{
	/* The leader exits; a child in its group holds stdout open. */
	static const char *const bg[] = { "sh", "-c", "sleep 100 & echo started", NULL };
	struct sbx_exec_result res;
	struct capture c = { 0 };
	struct timespec t0, t1;
	struct guest g;

	(void)state;
	start_guest(&g);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run(&g, bg, &c, &res, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(res.code, 0);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	capture_free(&c);
	stop_guest(&g);
}

static void test_sink_limit_aborts(void **state)
{
	static const char *const flood[] = { "sh", "-c", "yes flood", NULL };
	struct sbx_exec_result res;
	struct capture c = { .limit = 1 << 20 };
	struct guest g;

	(void)state;
	start_guest(&g);
	assert_int_equal(run(&g, flood, &c, &res, 0), SBX_ELIMIT);
	assert_true(c.len[1] <= 1 << 20);
	capture_free(&c);
	/* The session is not trusted after an abort: kill the guest. */
	kill(g.pid, SIGKILL);
	sbx_session_free(g.s);
	g.s = NULL;
	close(g.fd);
	waitpid(g.pid, NULL, 0);
}

/* A hostile guest: the test writes raw bytes where sbx-init would. */
static int hostile(const uint8_t *bytes, size_t n, bool with_hello, bool with_exec)
{
	static const char *const argv[] = { "true", NULL };
	struct sbx_exec_opts o = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	struct sbx_session *s = NULL;
	uint8_t hello[PROTO_HDR_SIZE + 20];
	int sv[2], err;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	if (with_hello) {
		proto_hdr_encode(hello, PROTO_HELLO, 0, 0, 12);
		proto_put32(hello + PROTO_HDR_SIZE, PROTO_VERSION);
		proto_put32(hello + PROTO_HDR_SIZE + 4, PROTO_MAX_PAYLOAD);
		proto_put32(hello + PROTO_HDR_SIZE + 8, PROTO_INITIAL_WINDOW);
		assert_int_equal(write(sv[1], hello, PROTO_HDR_SIZE + 12), PROTO_HDR_SIZE + 12);
	}
	if (!with_exec)
		assert_int_equal(write(sv[1], bytes, n), (ssize_t)n);
	err = sbx_session_start(&s, sv[0], 2000);
	if (!err && with_exec) {
		/* A writer process: the bytes may not fit in the socket buffer. */
		pid_t w = fork();

		assert_true(w >= 0);
		if (w == 0) {
			close(sv[0]);
			_exit(write(sv[1], bytes, n) == (ssize_t)n ? 0 : 1);
		}
		o.argv = argv;
		o.host_timeout_ms = 2000;
		err = sbx_session_exec(s, &o, &res);
		close(sv[0]);
		sv[0] = -1;
		waitpid(w, NULL, 0);
	}
	sbx_session_free(s);
	if (sv[0] >= 0)
		close(sv[0]);
	close(sv[1]);
	return err;
}

static size_t frame(uint8_t *buf, uint8_t type, uint8_t flags, uint32_t stream, const void *p,
		    uint32_t len)
{
	proto_hdr_encode(buf, type, flags, stream, len);
	if (len)
		memcpy(buf + PROTO_HDR_SIZE, p, len);
	return PROTO_HDR_SIZE + len;
}

static void test_hostile_guest(void **state)
{
	uint8_t b[256], v[8];
	size_t n;

	(void)state;
	/* Garbage instead of HELLO. */
	memcpy(b, "GARBAGE GARBAGE GARBAGE", 23);
	assert_int_equal(hostile(b, 23, false, false), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "bad frame magic"));
	/* A length over the limit. */
	proto_hdr_encode(b, PROTO_DATA, 1, 1, PROTO_MAX_PAYLOAD + 1);
	assert_int_equal(hostile(b, PROTO_HDR_SIZE, true, false), SBX_ECORRUPT);
	/* An unknown frame type. */
	proto_hdr_encode(b, 0x7f, 0, 0, 0);
	assert_int_equal(hostile(b, PROTO_HDR_SIZE, true, false), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "unknown frame type"));
	/* The wrong protocol version. */
	proto_put32(v, 99);
	n = frame(b, PROTO_HELLO, 0, 0, v, 4);
	memset(b + n, 0, 8);
	proto_hdr_encode(b, PROTO_HELLO, 0, 0, 12);
	assert_int_equal(hostile(b, PROTO_HDR_SIZE + 12, false, false), SBX_EUNSUPPORTED);
	/* Silence: the host gives up. */
	assert_int_equal(hostile(b, 0, false, false), SBX_ETIMEDOUT);
	/* During an exec: data for a stream that is not running. */
	n = frame(b, PROTO_DATA, 1, 77, "x", 1);
	assert_int_equal(hostile(b, n, true, true), SBX_ECORRUPT);
	/* Data on a bad fd. */
	n = frame(b, PROTO_DATA, 5, 1, "x", 1);
	assert_int_equal(hostile(b, n, true, true), SBX_ECORRUPT);
	/* An exit code out of range. */
	proto_put32(v, 100000);
	proto_put32(v + 4, 0);
	n = frame(b, PROTO_EXIT, 0, 1, v, 8);
	assert_int_equal(hostile(b, n, true, true), SBX_ECORRUPT);
	/* Data after EOF on the same fd. */
	n = frame(b, PROTO_EOF, 1, 1, NULL, 0);
	n += frame(b + n, PROTO_DATA, 1, 1, "x", 1);
	assert_int_equal(hostile(b, n, true, true), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "after EOF"));
	/* A second STARTED. */
	proto_put32(v, 1);
	n = frame(b, PROTO_STARTED, 0, 1, v, 4);
	n += frame(b + n, PROTO_STARTED, 0, 1, v, 4);
	assert_int_equal(hostile(b, n, true, true), SBX_ECORRUPT);
	/* A frame split across writes still parses: a good EXIT ends the exec. */
	proto_put32(v, 0);
	proto_put32(v + 4, 0);
	n = frame(b, PROTO_EOF, 1, 1, NULL, 0);
	n += frame(b + n, PROTO_EOF, 2, 1, NULL, 0);
	n += frame(b + n, PROTO_EXIT, 0, 1, v, 8);
	assert_int_equal(hostile(b, n, true, true), 0);
	/* The guest ends the session with an ERROR. */
	n = frame(b, PROTO_ERROR, 0, 0, "no", 2);
	assert_int_equal(hostile(b, n, true, true), SBX_EIO);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A fake guest on sv[1]: it says HELLO and then whatever `behave` does. */
static void fake_guest_hello(int fd)
{
	uint8_t hello[PROTO_HDR_SIZE + 12];

	proto_hdr_encode(hello, PROTO_HELLO, 0, 0, 12);
	proto_put32(hello + PROTO_HDR_SIZE, PROTO_VERSION);
	proto_put32(hello + PROTO_HDR_SIZE + 4, PROTO_MAX_PAYLOAD);
	proto_put32(hello + PROTO_HDR_SIZE + 8, PROTO_INITIAL_WINDOW);
	assert_int_equal(write(fd, hello, sizeof(hello)), (ssize_t)sizeof(hello));
}

/*
 * A guest that stops reading its channel at power-off (here: never reads),
 * with the host's direction full: the POWEROFF frame cannot leave, and the
 * host gives up at its deadline instead of blocking for ever.
 */
static void test_poweroff_guest_not_reading(void **state)
{
	struct sbx_session *s = NULL;
	uint8_t junk[4096] = { 0 };
	uint64_t t0, took;
	int sv[2], fl;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fake_guest_hello(sv[1]);
	assert_int_equal(sbx_session_start(&s, sv[0], 2000), 0);
	/* Fill the socket towards the guest, which reads nothing. */
	fl = fcntl(sv[0], F_GETFL);
	assert_true(fl & O_NONBLOCK);
	while (write(sv[0], junk, sizeof(junk)) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	t0 = mono_ms();
	assert_int_equal(sbx_session_poweroff(s, 0, 300), SBX_ETIMEDOUT);
	took = mono_ms() - t0;
	assert_non_null(strstr(sbx_error(), "stopped responding"));
	assert_true(took >= 250 && took < 3000);
	/* The channel fd is left non-blocking, as the session found it. */
	assert_int_equal(fcntl(sv[0], F_GETFL), fl);
	sbx_session_free(s);
	close(sv[0]);
	close(sv[1]);
}

/* A reader that drops everything: the guest hears the host, never answers. */
static pid_t silent_guest(int fd, int other)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[65536];

		close(other);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	return pid;
}

static void test_guest_never_answers(void **state)
{
	static const char *const argv[] = { "true", NULL };
	struct sbx_exec_opts o = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	struct sbx_session *s = NULL;
	uint8_t started[PROTO_HDR_SIZE + 4];
	uint64_t t0, took;
	int sv[2];
	pid_t pid;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fake_guest_hello(sv[1]);
	assert_int_equal(sbx_session_start(&s, sv[0], 2000), 0);
	pid = silent_guest(sv[1], sv[0]);

	/* No sign of life at all: the start deadline ends it. */
	o.argv = argv;
	o.timeout_ms = 60000;		/* the host's own deadline would be 90 s */
	o.start_timeout_ms = 300;
	t0 = mono_ms();
	assert_int_equal(sbx_session_exec(s, &o, &res), SBX_ETIMEDOUT);
	took = mono_ms() - t0;
	assert_true(took >= 250 && took < 3000);
	assert_non_null(strstr(sbx_error(), "the guest stopped responding: no answer to 'true'"));

	/* STARTED, then silence: the host's deadline ends it. */
	proto_hdr_encode(started, PROTO_STARTED, 0, 2, 4);
	proto_put32(started + PROTO_HDR_SIZE, 1234);
	assert_int_equal(write(sv[1], started, sizeof(started)), (ssize_t)sizeof(started));
	o.timeout_ms = 0;
	o.host_timeout_ms = 400;
	o.start_timeout_ms = 5000;
	t0 = mono_ms();
	assert_int_equal(sbx_session_exec(s, &o, &res), SBX_ETIMEDOUT);
	took = mono_ms() - t0;
	assert_true(took >= 350 && took < 3000);
	assert_non_null(strstr(sbx_error(), "did not end within the host's 400 ms"));

	/* And power-off, which the silent guest reads, still returns. */
	assert_int_equal(sbx_session_poweroff(s, 0, 1000), 0);
	sbx_session_free(s);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

/*
 * The host gives up on a command the guest does not end (its late frames
 * are dropped), and the session carries on: the next command runs.
 */
static void test_abandoned_exec(void **state)
{
	static const char *const slow[] = { "sh", "-c", "echo started; exec sleep 30", NULL };
	static const char *const next[] = { "echo", "after", NULL };
	struct sbx_exec_opts o = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	struct capture c = { 0 };
	struct guest g;
	uint64_t t0;

	(void)state;
	start_guest(&g);
	o.argv = slow;
	o.sink = sink;
	o.opaque = &c;
	o.host_timeout_ms = 500;
	o.start_timeout_ms = 5000;
	t0 = mono_ms();
	assert_int_equal(sbx_session_exec(g.s, &o, &res), SBX_ETIMEDOUT);
	assert_true(mono_ms() - t0 < 5000);
	capture_free(&c);
	memset(&c, 0, sizeof(c));
	/* The killed command's EOFs and EXIT arrive during this one and are dropped. */
	assert_int_equal(run(&g, next, &c, &res, 10000), 0);
	assert_int_equal(res.code, 0);
	assert_int_equal(c.len[1], 6);
	assert_memory_equal(c.buf[1], "after\n", 6);
	capture_free(&c);
	stop_guest(&g);
	assert_true(mono_ms() - t0 < 10000);	/* sleep 30 was killed */
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * RESEED against the real sbx-init (--serve: it checks, parses and answers
 * but changes nothing, PROTO_RESEED_DRY): the answer echoes the host's time
 * as the guest parsed it, carries the guest's clock before and after, and
 * the session goes on (execs, a second reseed).
 */
static void test_reseed_real_guest(void **state)
{
	static const char *const echo[] = { "echo", "after", NULL };
	struct sbx_reseed_result r, r2;
	struct sbx_exec_result res;
	struct capture c = { 0 };
	uint64_t t0, t1;
	struct guest g;

	(void)state;
	start_guest(&g);
	t0 = real_ns();
	assert_int_equal(sbx_session_reseed(g.s, 5000, &r), 0);
	t1 = real_ns();
	assert_int_equal(r.flags, PROTO_RESEED_DRY);
	assert_true(r.host_ns >= t0 && r.host_ns <= t1);
	assert_true(r.guest_before_ns >= t0 && r.guest_before_ns <= r.guest_after_ns);
	assert_true(r.guest_after_ns <= t1);
	assert_true(r.rtt_us > 0 && r.rtt_us < 5000000);
	/* The host's time minus the guest's: a few µs here, both clocks being the host's. */
	assert_true(sbx_reseed_clock_step_ns(&r) <= 0);
	assert_int_equal(run(&g, echo, &c, &res, 10000), 0);
	assert_int_equal(c.len[1], 6);
	capture_free(&c);
	assert_int_equal(sbx_session_reseed(g.s, 5000, &r2), 0);
	assert_true(r2.host_ns > r.host_ns);
	stop_guest(&g);
}

/* sbx-init refuses a malformed RESEED (wrong length, or on a stream) like any bad frame. */
static void test_reseed_malformed_to_guest(void **state)
{
	uint8_t b[PROTO_HDR_SIZE + PROTO_RESEED_LEN + 1] = { 0 };
	static const struct { uint32_t stream, len; } bad[] = {
		{ 0, PROTO_RESEED_LEN - 1 }, { 0, PROTO_RESEED_LEN + 1 }, { 0, 0 }, { 3, PROTO_RESEED_LEN },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct guest g;

		start_guest(&g);
		proto_hdr_encode(b, PROTO_RESEED, 0, bad[i].stream, bad[i].len);
		assert_int_equal(write(g.fd, b, PROTO_HDR_SIZE + bad[i].len),
				 (ssize_t)(PROTO_HDR_SIZE + bad[i].len));
		assert_int_equal(sbx_session_serve(g.s, 5000), SBX_EIO);
		assert_non_null(strstr(sbx_error(), "the guest ended the session: bad RESEED"));
		sbx_session_free(g.s);
		close(g.fd);
		assert_int_equal(waitpid(g.pid, NULL, 0), g.pid);
	}
}

/* How the fake guest answers a RESEED. */
enum fake_reseed {
	FR_GOOD,		/* RNG | CLOCK, the right echo */
	FR_NO_RNG,		/* CLOCK only */
	FR_NO_CLOCK,		/* RNG only */
	FR_SHORT,		/* 27 bytes */
	FR_WRONG_ECHO,		/* another host time */
	FR_ON_STREAM,		/* stream 5 */
	FR_TWICE,		/* the answer, then the same answer again */
	FR_LATE,		/* the answer after 600 ms (the host waits 200), then answer the next */
};

/* A fake guest process on `fd`: HELLO, then answers each RESEED as `mode` says, until EOF. */
static pid_t fake_reseed_guest(int fd, int other, enum fake_reseed mode)
{
	pid_t pid;

	fake_guest_hello(fd);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t buf[4096], out[2 * (PROTO_HDR_SIZE + PROTO_RESEEDED_LEN)];
		size_t len = 0, n;
		ssize_t got;

		close(other);
		while ((got = read(fd, buf + len, sizeof(buf) - len)) > 0) {
			len += (size_t)got;
			while (len >= PROTO_HDR_SIZE) {
				uint32_t flen = proto_get32(buf + 8), flags = PROTO_RESEED_RNG | PROTO_RESEED_CLOCK;
				uint64_t echo;

				if (len < PROTO_HDR_SIZE + flen)
					break;
				if (buf[2] == PROTO_RESEED && flen == PROTO_RESEED_LEN) {
					echo = proto_get64(buf + PROTO_HDR_SIZE);
					if (mode == FR_NO_RNG)
						flags = PROTO_RESEED_CLOCK;
					if (mode == FR_NO_CLOCK)
						flags = PROTO_RESEED_RNG;
					if (mode == FR_WRONG_ECHO)
						echo++;
					proto_hdr_encode(out, PROTO_RESEEDED, 0, mode == FR_ON_STREAM ? 5 : 0,
							 mode == FR_SHORT ? PROTO_RESEEDED_LEN - 1 : PROTO_RESEEDED_LEN);
					proto_put64(out + PROTO_HDR_SIZE, echo);
					proto_put64(out + PROTO_HDR_SIZE + 8, 1000);
					proto_put64(out + PROTO_HDR_SIZE + 16, echo + 5);
					proto_put32(out + PROTO_HDR_SIZE + 24, flags);
					n = PROTO_HDR_SIZE + (mode == FR_SHORT ? PROTO_RESEEDED_LEN - 1 : PROTO_RESEEDED_LEN);
					if (mode == FR_TWICE) {
						memcpy(out + n, out, n);
						n *= 2;
					}
					if (mode == FR_LATE) {
						usleep(600000);
						mode = FR_GOOD;
					}
					if (write(fd, out, n) != (ssize_t)n)
						_exit(1);
				}
				memmove(buf, buf + PROTO_HDR_SIZE + flen, len - PROTO_HDR_SIZE - flen);
				len -= PROTO_HDR_SIZE + flen;
			}
		}
		_exit(0);
	}
	return pid;
}

/* The host's checks of RESEEDED: a hostile or failing guest. */
static void test_reseed_hostile_guest(void **state)
{
	static const struct { enum fake_reseed mode; int err; const char *msg; } cases[] = {
		{ FR_GOOD, 0, NULL },
		{ FR_NO_RNG, SBX_EIO, "could not reseed its random number generator" },
		{ FR_NO_CLOCK, SBX_EIO, "could not set its clock" },
		{ FR_SHORT, SBX_ECORRUPT, "bad RESEEDED" },
		{ FR_WRONG_ECHO, SBX_ECORRUPT, "answers no RESEED the host sent" },
		{ FR_ON_STREAM, SBX_ECORRUPT, "bad RESEEDED" },
	};
	struct sbx_reseed_result r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sbx_session *s = NULL;
		int sv[2];
		pid_t pid;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		pid = fake_reseed_guest(sv[1], sv[0], cases[i].mode);
		assert_int_equal(sbx_session_start(&s, sv[0], 2000), 0);
		assert_int_equal(sbx_session_reseed(s, 2000, &r), cases[i].err);
		if (cases[i].msg)
			assert_non_null(strstr(sbx_error(), cases[i].msg));
		if (cases[i].mode == FR_GOOD || cases[i].mode == FR_NO_RNG) {
			assert_int_equal(r.guest_before_ns, 1000);
			assert_int_equal(r.guest_after_ns, r.host_ns + 5);
		}
		sbx_session_free(s);
		close(sv[0]);
		close(sv[1]);
		assert_int_equal(waitpid(pid, NULL, 0), pid);
	}
}

/*
 * A RESEEDED the host did not ask for (a second answer) ends the session;
 * an answer that comes after the host stopped waiting is dropped, and the
 * next reseed works.
 */
static void test_reseed_unasked_and_late(void **state)
{
	struct sbx_reseed_result r;
	struct sbx_session *s = NULL;
	int sv[2], err;
	pid_t pid;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fake_reseed_guest(sv[1], sv[0], FR_TWICE);
	assert_int_equal(sbx_session_start(&s, sv[0], 2000), 0);
	/* Both answers come in one write: the second ends the reseed's own wait, or the next. */
	err = sbx_session_reseed(s, 2000, &r);
	if (!err)
		err = sbx_session_serve(s, 300);
	assert_int_equal(err, SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "answers no RESEED the host sent"));
	sbx_session_free(s);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fake_reseed_guest(sv[1], sv[0], FR_LATE);
	assert_int_equal(sbx_session_start(&s, sv[0], 2000), 0);
	assert_int_equal(sbx_session_reseed(s, 200, &r), SBX_ETIMEDOUT);
	assert_non_null(strstr(sbx_error(), "no answer to RESEED within 200 ms"));
	/* The late answer arrives while the host waits for the next one: dropped. */
	assert_int_equal(sbx_session_reseed(s, 3000, &r), 0);
	assert_int_equal(r.flags, PROTO_RESEED_RNG | PROTO_RESEED_CLOCK);
	sbx_session_free(s);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

/* No reseed while an exec runs is possible from one thread; the session says so from a sink. */
static int reseed_from_sink(void *opaque, int fd, const uint8_t *p, size_t n)
{
	struct guest *g = opaque;

	(void)fd;
	(void)p;
	(void)n;
	assert_int_equal(sbx_session_reseed(g->s, 1000, NULL), SBX_EINVAL);
	return 0;
}

static void test_reseed_not_during_exec(void **state)
{
	static const char *const argv[] = { "echo", "x", NULL };
	struct sbx_exec_opts o = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	struct guest g;

	(void)state;
	start_guest(&g);
	o.argv = argv;
	o.sink = reseed_from_sink;
	o.opaque = &g;
	o.timeout_ms = 10000;
	assert_int_equal(sbx_session_exec(g.s, &o, &res), 0);
	assert_int_equal(res.out_bytes[1], 2);
	stop_guest(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_output_and_status),
		cmocka_unit_test(test_stdin_8mib_round_trip),
		cmocka_unit_test(test_timeout_kills),
		cmocka_unit_test(test_not_found_is_127),
		cmocka_unit_test(test_background_child_does_not_hang),
		cmocka_unit_test(test_sink_limit_aborts),
		cmocka_unit_test(test_hostile_guest),
		cmocka_unit_test(test_poweroff_guest_not_reading),
		cmocka_unit_test(test_guest_never_answers),
		cmocka_unit_test(test_abandoned_exec),
		cmocka_unit_test(test_reseed_real_guest),
		cmocka_unit_test(test_reseed_malformed_to_guest),
		cmocka_unit_test(test_reseed_hostile_guest),
		cmocka_unit_test(test_reseed_unasked_and_late),
		cmocka_unit_test(test_reseed_not_during_exec),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("channel", tests, NULL, NULL);
}
