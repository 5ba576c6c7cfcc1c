// SPDX-License-Identifier: MIT
/*
 * Unit tests for sbx/proxy.c as the lead wires it: client connections as
 * socketpairs handed to sbx_proxy_accept(), upstreams on 127.0.0.1, the
 * events, the interception hook, the limits and sbx_proxy_free().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sbx/policy.h"
#include "sbx/proxy.h"
#include "sbx/proxy-upstream.h"
#include "sbx/tls-hello.h"
#include "tests/unit/tls-hello-build.h"
#include "util/error.h"

#define MAX_EVENTS 64

struct events {
	pthread_mutex_t lock;
	size_t n;
	struct {
		char host[256], method[32], rule[256], reason[512];
		uint16_t port;
		bool allowed;
		uint64_t up, down;
	} ev[MAX_EVENTS];
};

static struct events events = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_event(void *opaque, const struct sbx_net_event *e)
{
	struct events *es = opaque;

	pthread_mutex_lock(&es->lock);
	if (es->n < MAX_EVENTS) {
		snprintf(es->ev[es->n].host, 256, "%s", e->host);
		snprintf(es->ev[es->n].method, 32, "%s", e->method);
		snprintf(es->ev[es->n].rule, 256, "%s", e->rule);
		snprintf(es->ev[es->n].reason, 512, "%s", e->reason);
		es->ev[es->n].port = e->port;
		es->ev[es->n].allowed = e->allowed;
		es->ev[es->n].up = e->bytes_up;
		es->ev[es->n].down = e->bytes_down;
	}
	es->n++;
	pthread_mutex_unlock(&es->lock);
}

static size_t event_count(void)
{
	size_t n;

	pthread_mutex_lock(&events.lock);
	n = events.n;
	pthread_mutex_unlock(&events.lock);
	return n;
}

static void wait_events(size_t n)
{
	int i;

	for (i = 0; i < 500 && event_count() < n; i++)
		usleep(10 * 1000);
	assert_true(event_count() >= n);
}

static int setup(void **state)
{
	(void)state;
	events.n = 0;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* A client connection handed to the proxy; returns our end. */
static int client(struct sbx_proxy *p)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(sbx_proxy_accept(p, sv[1]), 0);
	return sv[0];
}

/* Read until EOF or `max` bytes, with a 10 s bound. */
static size_t read_all(int fd, char *buf, size_t max)
{
	size_t n = 0;

	while (n < max) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 10000) != 1)
			break;
		r = read(fd, buf + n, max - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	return n;
}

/* Read the response head (to CRLFCRLF) byte by byte, leaving what follows. */
static void read_head(int fd, char *buf, size_t max)
{
	size_t n = 0;

	while (n + 1 < max && (n < 4 || memcmp(buf + n - 4, "\r\n\r\n", 4))) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, 10000) != 1 || read(fd, buf + n, 1) != 1)
			break;
		n++;
	}
	buf[n] = 0;
}

static void write_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static struct sbx_proxy *new_proxy(struct sbx_policy *pol, struct sbx_proxy_config *cfg)
{
	struct sbx_proxy *p = NULL;

	cfg->policy = pol;
	cfg->event = on_event;
	cfg->opaque = &events;
	assert_int_equal(sbx_proxy_new(&p, cfg), 0);
	return p;
}

static struct sbx_policy *new_policy(const char *rule, const char *resolve)
{
	struct sbx_policy *pol = NULL;

	assert_int_equal(sbx_policy_new(&pol), 0);
	if (rule)
		assert_int_equal(sbx_policy_add_rule(pol, rule, "test"), 0);
	if (resolve)
		assert_int_equal(sbx_policy_add_resolve(pol, resolve), 0);
	return pol;
}

/* A listening socket on 127.0.0.1; its port in *port. */
static int upstream_listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_config_checked(void **state)
{
	struct sbx_proxy_config cfg = SBX_PROXY_CONFIG_INIT;
	struct sbx_proxy *p = NULL;

	(void)state;
	assert_int_equal(cfg.max_conns, 128);
	assert_int_equal(cfg.idle_ms, 300000);
	assert_int_equal(cfg.connect_ms, 10000);
	assert_int_equal(sbx_proxy_new(&p, &cfg), SBX_EINVAL);
	assert_null(p);
	sbx_proxy_free(NULL);
}

static void test_deny_answers_403_with_the_rule_to_add(void **state)
{
	struct sbx_proxy_config cfg = SBX_PROXY_CONFIG_INIT;
	struct sbx_policy *pol = new_policy("api.example.com", NULL);
	struct sbx_proxy *p = new_proxy(pol, &cfg);
	char buf[4096];
	int c = client(p);
	size_t n;

	(void)state;
	write_str(c, "CONNECT api.evil.com:443 HTTP/1.1\r\nHost: api.evil.com:443\r\n\r\n");
	n = read_all(c, buf, sizeof(buf) - 1);
	buf[n] = 0;
	assert_non_null(strstr(buf, "HTTP/1.1 403 Forbidden\r\n"));
	assert_non_null(strstr(buf, "git-sbx: api.evil.com:443 is not allowed by this task's policy; "
			       "allow it with --allow api.evil.com or git config --add sbx.allow api.evil.com\n"));
	close(c);
	wait_events(1);
	assert_string_equal(events.ev[0].host, "api.evil.com");
	assert_int_equal(events.ev[0].port, 443);
	assert_string_equal(events.ev[0].method, "CONNECT");
	assert_false(events.ev[0].allowed);
	assert_string_equal(events.ev[0].rule, "");
	sbx_proxy_free(p);
	sbx_policy_free(pol);
}

static void test_free_ends_every_connection(void **state)
{
	struct sbx_proxy_config cfg = SBX_PROXY_CONFIG_INIT;
	struct sbx_policy *pol = new_policy(NULL, NULL);
	struct sbx_proxy *p = new_proxy(pol, &cfg);
	int c[5], i;
	struct timespec t0, t1;

	(void)state;
	for (i = 0; i < 5; i++)
		c[i] = client(p);
	write_str(c[0], "CONNECT a.example:443 HTTP/1.1\r\n");	/* half a head */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sbx_proxy_free(p);	/* the heads would take 30 s: the wake fd ends them */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	assert_int_equal(event_count(), 5);
	for (i = 0; i < 5; i++) {
		assert_string_equal(events.ev[i].reason, "the proxy stopped");
		close(c[i]);
	}
	sbx_policy_free(pol);
}

static void test_over_the_limit_503(void **state)
{
	struct sbx_proxy_config cfg = SBX_PROXY_CONFIG_INIT;
	struct sbx_policy *pol = new_policy(NULL, NULL);
	struct sbx_proxy *p;
	char buf[1024];
	int c1, c2;
	size_t n;

	(void)state;
	cfg.max_conns = 1;
	p = new_proxy(pol, &cfg);
	c1 = client(p);
	c2 = client(p);
	n = read_all(c2, buf, sizeof(buf) - 1);
	buf[n] = 0;
	assert_non_null(strstr(buf, "HTTP/1.1 503 "));
	wait_events(1);
	assert_string_equal(events.ev[0].reason, "too many connections at once");
	sbx_proxy_free(p);
	close(c1);
	close(c2);
	sbx_policy_free(pol);
}

struct mitm_seen {
	char host[256];
	uint16_t port;
	size_t nfirst;
	bool sni_ok;
	int calls;
};

static bool intercept(void *opaque, const char *host, uint16_t port)
{
	(void)opaque;
	return !strcmp(host, "secret.example");
}

static struct mitm_seen mitm_seen;

static int mitm(void *opaque, struct sbx_proxy_mitm *m)
{
	(void)opaque;
	mitm_seen.calls++;
	snprintf(mitm_seen.host, sizeof(mitm_seen.host), "%s", m->host);
	mitm_seen.port = m->port;
	mitm_seen.nfirst = m->nfirst;
	mitm_seen.sni_ok = m->hello && m->hello->has_sni && !strcmp(m->hello->sni, "secret.example");
	if (send(m->client_fd, "MITM", 4, MSG_NOSIGNAL) != 4)
		return -1;
	m->bytes_down = 4;
	m->bytes_up = m->nfirst;
	snprintf(m->reason, sizeof(m->reason), "intercepted for the test");
	return 0;
}

static void test_intercept_hook_gets_the_checked_hello(void **state)
{
	struct sbx_proxy_config cfg = SBX_PROXY_CONFIG_INIT;
	struct hello_opts o = { .sni = "secret.example" };
	static struct buf hm, hr;
	struct sbx_policy *pol;
	struct sbx_proxy *p;
	uint16_t port;
	int l = upstream_listener(&port), c;
	char rule[64], resolve[64], head[512], buf[64];
	size_t n;

	(void)state;
	snprintf(rule, sizeof(rule), "secret.example:%u", port);
	snprintf(resolve, sizeof(resolve), "secret.example:%u:127.0.0.1", port);
	pol = new_policy(rule, resolve);
	cfg.intercept = intercept;
	cfg.mitm = mitm;
	p = new_proxy(pol, &cfg);
	c = client(p);
	snprintf(head, sizeof(head), "CONNECT secret.example:%u HTTP/1.1\r\nHost: secret.example:%u\r\n\r\n",
		 port, port);
	write_str(c, head);
	read_head(c, head, sizeof(head));
	assert_string_equal(head, "HTTP/1.1 200 Connection established\r\n\r\n");
	build_hello(&hm, &o);
	records(&hr, &hm, 100);	/* in several records */
	assert_int_equal(write(c, hr.d, hr.n), (ssize_t)hr.n);
	n = read_all(c, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "MITM", 4);
	close(c);
	wait_events(1);
	assert_int_equal(mitm_seen.calls, 1);
	assert_string_equal(mitm_seen.host, "secret.example");
	assert_int_equal(mitm_seen.port, port);
	assert_int_equal(mitm_seen.nfirst, hr.n);
	assert_true(mitm_seen.sni_ok);
	assert_true(events.ev[0].allowed);
	assert_string_equal(events.ev[0].rule, rule);
	assert_string_equal(events.ev[0].reason, "intercepted for the test");
	assert_int_equal(events.ev[0].down, 4);
	sbx_proxy_free(p);
	sbx_policy_free(pol);
	close(l);
}

/* ECH and a missing SNI close the tunnel before a byte goes upstream; the hook is not called. */
static void test_hello_checks_before_upstream(void **state)
{
	struct sbx_proxy_config cfg = SBX_PROXY_CONFIG_INIT;
	static struct buf hm, hr;
	struct sbx_policy *pol;
	struct sbx_proxy *p;
	uint16_t port;
	int l = upstream_listener(&port), c, i;
	char rule[64], resolve[64], head[512], buf[64];
	static const char *const why[] = { "encrypted client hello", "no server name", "differs" };

	(void)state;
	snprintf(rule, sizeof(rule), "secret.example:%u", port);
	snprintf(resolve, sizeof(resolve), "secret.example:%u:127.0.0.1", port);
	pol = new_policy(rule, resolve);
	cfg.intercept = intercept;
	cfg.mitm = mitm;
	p = new_proxy(pol, &cfg);
	mitm_seen.calls = 0;
	for (i = 0; i < 3; i++) {
		struct hello_opts o = { .sni = i == 1 ? NULL : i == 2 ? "other.example" : "secret.example",
					.ech = i == 0 };
		int up;

		c = client(p);
		snprintf(head, sizeof(head), "CONNECT secret.example:%u HTTP/1.1\r\n"
			 "Host: secret.example:%u\r\n\r\n", port, port);
		write_str(c, head);
		read_head(c, head, sizeof(head));
		assert_string_equal(head, "HTTP/1.1 200 Connection established\r\n\r\n");
		build_hello(&hm, &o);
		records(&hr, &hm, 16384);
		assert_int_equal(write(c, hr.d, hr.n), (ssize_t)hr.n);
		assert_int_equal(read_all(c, buf, sizeof(buf)), 0);	/* closed, nothing sent */
		close(c);
		wait_events((size_t)i + 1);
		assert_false(events.ev[i].allowed);
		assert_string_equal(events.ev[i].rule, "");
		if (!strstr(events.ev[i].reason, why[i]))
			fail_msg("reason '%s' lacks '%s'", events.ev[i].reason, why[i]);
		assert_int_equal(events.ev[i].up, 0);
		/* the upstream saw a connection and not one byte */
		up = accept(l, NULL, NULL);
		assert_true(up >= 0);
		assert_int_equal(read_all(up, buf, sizeof(buf)), 0);
		close(up);
	}
	assert_int_equal(mitm_seen.calls, 0);
	sbx_proxy_free(p);
	sbx_policy_free(pol);
	close(l);
}

/* An upstream that sends `n` bytes to its first connection, then closes. */
struct sender {
	int listener;
	size_t n;
};

static void *send_bytes(void *arg)
{
	struct sender *s = arg;
	static char block[65536];
	int fd = accept(s->listener, NULL, NULL);
	size_t sent = 0;

	memset(block, 'x', sizeof(block));
	while (fd >= 0 && sent < s->n) {
		ssize_t w = send(fd, block, s->n - sent < sizeof(block) ? s->n - sent : sizeof(block),
				 MSG_NOSIGNAL);

		if (w <= 0)
			break;
		sent += (size_t)w;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void test_tunnel_relay_and_byte_cap(void **state)
{
	struct sbx_proxy_config cfg = SBX_PROXY_CONFIG_INIT;
	struct sender s = { .n = 300000 };
	struct sbx_policy *pol;
	struct sbx_proxy *p;
	pthread_t t;
	uint16_t port;
	char rule[64], head[512];
	static char buf[400000];
	int c, round;
	size_t n;

	(void)state;
	s.listener = upstream_listener(&port);
	snprintf(rule, sizeof(rule), "127.0.0.1:%u", port);
	pol = new_policy(rule, NULL);
	for (round = 0; round < 2; round++) {
		/* round 0: no cap, every byte arrives; round 1: a 100000-byte cap ends it */
		events.n = 0;
		cfg.max_bytes = round ? 100000 : 0;
		p = new_proxy(pol, &cfg);
		assert_int_equal(pthread_create(&t, NULL, send_bytes, &s), 0);
		c = client(p);
		snprintf(head, sizeof(head), "CONNECT 127.0.0.1:%u HTTP/1.0\r\n\r\n", port);
		write_str(c, head);
		read_head(c, head, sizeof(head));
		assert_string_equal(head, "HTTP/1.1 200 Connection established\r\n\r\n");
		/* a server-speaks-first protocol: nothing from the client */
		n = read_all(c, buf, sizeof(buf));
		if (round == 0)
			assert_int_equal(n, s.n);
		else
			assert_true(n <= 100000);
		close(c);
		pthread_join(t, NULL);
		wait_events(1);
		assert_true(events.ev[0].allowed);
		assert_int_equal(events.ev[0].down, round ? events.ev[0].down : s.n);
		if (round)
			assert_non_null(strstr(events.ev[0].reason, "byte limit"));
		assert_int_equal(sbx_proxy_bytes(p) >= n, 1);
		sbx_proxy_free(p);
	}
	sbx_policy_free(pol);
	close(s.listener);
}

/* An upstream that records what one connection sends (until 300 ms of quiet), then answers. */
struct recorder {
	int listener;
	char got[8192];
	size_t n;
};

static void *record(void *arg)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	struct recorder *r = arg;
	int fd = accept(r->listener, NULL, NULL);

	r->n = 0;
	while (fd >= 0 && r->n < sizeof(r->got) - 1) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 300) != 1)
			break;
		n = read(fd, r->got + r->n, sizeof(r->got) - 1 - r->n);
		if (n <= 0)
			break;
		r->n += (size_t)n;
	}
	r->got[r->n] = 0;
	if (fd >= 0) {
		if (write(fd, resp, sizeof(resp) - 1) < 0)
			r->n = 0;
		close(fd);
	}
	return NULL;
}

/*
 * Plain HTTP: origin form, Host from the target, hop-by-hop and Proxy-*
 * fields gone, Connection: close, the body (Content-Length or chunked)
 * and not one byte of a request pipelined after it.
 */
static void test_http_rewrite_and_no_smuggling(void **state)
{
	struct sbx_proxy_config cfg = SBX_PROXY_CONFIG_INIT;
	struct recorder rec;
	struct sbx_policy *pol;
	struct sbx_proxy *p;
	pthread_t t;
	uint16_t port;
	char rule[64], resolve[64], req[1024], want[1024], buf[1024];
	int c, round;
	size_t n;

	(void)state;
	rec.listener = upstream_listener(&port);
	snprintf(rule, sizeof(rule), "POST up.example:%u/x", port);
	snprintf(resolve, sizeof(resolve), "up.example:%u:127.0.0.1", port);
	pol = new_policy(rule, resolve);
	p = new_proxy(pol, &cfg);
	for (round = 0; round < 2; round++) {
		const char *framing = round ? "Transfer-Encoding: chunked" : "Content-Length: 5";
		const char *body = round ? "5\r\nhello\r\n0\r\n\r\n" : "hello";

		assert_int_equal(pthread_create(&t, NULL, record, &rec), 0);
		c = client(p);
		snprintf(req, sizeof(req),
			 "POST http://up.example:%u/x HTTP/1.1\r\nHost: up.example:%u\r\n"
			 "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nProxy-Authorization: Basic eA==\r\n"
			 "Keep-Alive: 5\r\nX-Kept: yes\r\n%s\r\n\r\n%s"
			 "GET http://up.example:%u/smuggled HTTP/1.1\r\nHost: up.example:%u\r\n\r\n",
			 port, port, framing, body, port, port);
		write_str(c, req);
		n = read_all(c, buf, sizeof(buf) - 1);
		buf[n] = 0;
		pthread_join(t, NULL);
		snprintf(want, sizeof(want), "POST /x HTTP/1.1\r\nHost: up.example:%u\r\nX-Kept: yes\r\n"
			 "%s\r\nConnection: close\r\n\r\n%s", port, framing, body);
		assert_string_equal(rec.got, want);
		assert_non_null(strstr(buf, "\r\n\r\nok"));
		close(c);
	}
	wait_events(2);
	assert_true(events.ev[0].allowed);
	assert_string_equal(events.ev[1].reason, "response complete");
	sbx_proxy_free(p);
	sbx_policy_free(pol);
	close(rec.listener);
}

static void test_malformed_ends_only_that_connection(void **state)
{
	struct sbx_proxy_config cfg = SBX_PROXY_CONFIG_INIT;
	struct sbx_policy *pol = new_policy(NULL, NULL);
	struct sbx_proxy *p = new_proxy(pol, &cfg);
	static const char *const bad[] = {
		"CONNECT nonsense HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x02\x05hello\r\n\r\n",
		"GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\nX: a\r\n b\r\n\r\n",
		NULL };
	char buf[2048];
	int c, i, quiet;
	size_t n;

	(void)state;
	quiet = client(p);	/* stays open through all of this */
	for (i = 0; bad[i]; i++) {
		c = client(p);
		write_str(c, bad[i]);
		n = read_all(c, buf, sizeof(buf) - 1);
		buf[n] = 0;
		assert_non_null(strstr(buf, "HTTP/1.1 400 Bad Request\r\n"));
		assert_non_null(strstr(buf, "git-sbx: bad request: "));
		close(c);
	}
	wait_events(3);
	assert_int_equal(event_count(), 3);
	for (i = 0; i < 3; i++)
		assert_false(events.ev[i].allowed);
	close(quiet);
	wait_events(4);
	sbx_proxy_free(p);
	sbx_policy_free(pol);
}

/* The host's own proxy: its URL and no_proxy. */
static void test_upstream_parse(void **state)
{
	struct sbx_proxy_upstream u;

	(void)state;
	assert_int_equal(sbx_proxy_upstream_parse(&u, "http://proxy.corp:3128/"), 0);
	assert_string_equal(u.host, "proxy.corp");
	assert_int_equal(u.port, 3128);
	assert_string_equal(u.auth, "");
	assert_int_equal(sbx_proxy_upstream_parse(&u, "proxy.corp"), 0);
	assert_int_equal(u.port, 1080);
	assert_int_equal(sbx_proxy_upstream_parse(&u, "http://user:pa%3Ass@[::1]:8080"), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 8080);
	assert_string_equal(u.auth, "Basic dXNlcjpwYTpzcw==");	/* user:pa:ss */
	assert_int_equal(sbx_proxy_upstream_parse(&u, "socks5://proxy:1080"), SBX_EINVAL);
	assert_int_equal(sbx_proxy_upstream_parse(&u, "http://proxy:0"), SBX_EINVAL);
	assert_int_equal(sbx_proxy_upstream_parse(&u, "http://proxy:99999"), SBX_EINVAL);
	assert_int_equal(sbx_proxy_upstream_parse(&u, "http://proxy:80/path"), SBX_EINVAL);
	assert_int_equal(sbx_proxy_upstream_parse(&u, "http://:80"), SBX_EINVAL);
	assert_int_equal(sbx_proxy_upstream_parse(&u, "http://[::1"), SBX_EINVAL);

	snprintf(u.no_proxy, sizeof(u.no_proxy), "localhost, .corp.example,internal.test");
	assert_true(sbx_proxy_upstream_bypass(&u, "localhost"));
	assert_true(sbx_proxy_upstream_bypass(&u, "a.corp.example"));
	assert_true(sbx_proxy_upstream_bypass(&u, "corp.example"));
	assert_true(sbx_proxy_upstream_bypass(&u, "x.internal.test"));
	assert_false(sbx_proxy_upstream_bypass(&u, "notinternal.test"));
	assert_false(sbx_proxy_upstream_bypass(&u, "api.anthropic.com"));
	snprintf(u.no_proxy, sizeof(u.no_proxy), "*");
	assert_true(sbx_proxy_upstream_bypass(&u, "api.anthropic.com"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_config_checked, setup),
		cmocka_unit_test_setup(test_deny_answers_403_with_the_rule_to_add, setup),
		cmocka_unit_test_setup(test_free_ends_every_connection, setup),
		cmocka_unit_test_setup(test_over_the_limit_503, setup),
		cmocka_unit_test_setup(test_intercept_hook_gets_the_checked_hello, setup),
		cmocka_unit_test_setup(test_hello_checks_before_upstream, setup),
		cmocka_unit_test_setup(test_tunnel_relay_and_byte_cap, setup),
		cmocka_unit_test_setup(test_http_rewrite_and_no_smuggling, setup),
		cmocka_unit_test_setup(test_malformed_ends_only_that_connection, setup),
		cmocka_unit_test(test_upstream_parse),
	};

	return cmocka_run_group_tests_name("proxy", tests, NULL, NULL);
}
