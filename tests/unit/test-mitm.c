// SPDX-License-Identifier: MIT
/*
 * Unit tests for sbx/mitm.c and sbx/tls-ca.c: a guest-side TLS client
 * trusting the task CA, the relay in a thread, and an upstream TLS server
 * on 127.0.0.1 whose certificate comes from a CA this test makes (OpenSSL
 * directly, not sbx/tls-ca.c).  All on loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbx/mitm.h"
#include "sbx/secret.h"
#include "sbx/tls-ca.h"
#include "util/error.h"

#define HOST "api.example.test"
#define REAL "sk-REAL-0123456789-very-secret"
#define OTHER_REAL "other-REAL-key-abcdef"
#define RESPONSE "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

static char tmp[256], ca_file[512];
static struct sbx_tls_ca *task_ca;
static struct sbx_secret *sec, *bearer, *other;
/* The upstream's test CA, and leaves: right name, wrong name, from an untrusted CA. */
static EVP_PKEY *up_ca_key, *rogue_key;
static X509 *up_ca, *rogue_ca, *impostor_ca, *leaf_impostor;
static X509 *leaf_ok, *leaf_wrong, *leaf_rogue, *leaf_ip;
static EVP_PKEY *leaf_key;

/* ---- a small CA, made with OpenSSL here ---- */

static void ext(X509 *x, X509 *issuer, int nid, const char *v)
{
	X509V3_CTX c;
	X509_EXTENSION *e;

	X509V3_set_ctx_nodb(&c);
	X509V3_set_ctx(&c, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &c, nid, v);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, const char *san)
{
	static long serial = 1000;
	X509 *x = X509_new();

	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	if (!issuer) {
		ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		ext(x, x, NID_key_usage, "critical,keyCertSign");
	} else {
		ext(x, issuer, NID_subject_alt_name, san);
		ext(x, issuer, NID_ext_key_usage, "serverAuth");
	}
	assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
}

/* ---- the upstream server: records what it receives ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* What /big returns, and what a large upload sends: 3 MiB of a pattern. */
static char big[3 << 20];
static char up_log[256 * 1024];
static size_t up_len;
static unsigned big_uploads;

struct upstream {
	int lfd;
	X509 *cert;
	pthread_t th;
};

/* The length of one full request at buf[0..n), 0 if incomplete. */
static size_t request_len(const char *buf, size_t n)
{
	const char *e = memmem(buf, n, "\r\n\r\n", 4), *cl;
	size_t h;

	if (!e)
		return 0;
	h = (size_t)(e - buf) + 4;
	if ((cl = strcasestr(buf, "\r\nContent-Length:")) && cl < e) {
		size_t len = strtoul(cl + 17, NULL, 10);

		return n >= h + len ? h + len : 0;
	}
	if ((cl = strcasestr(buf, "\r\nTransfer-Encoding: chunked")) && cl < e) {
		/* Good enough for this test's bodies: the last chunk, then trailers to a blank line. */
		const char *last = memmem(buf + h - 2, n - h + 2, "\r\n0\r\n", 5), *end;

		if (!last)
			return 0;
		end = memmem(last + 3, n - (size_t)(last + 3 - buf), "\r\n\r\n", 4);
		return end ? (size_t)(end - buf) + 4 : 0;
	}
	return h;
}

static void *upstream_main(void *arg)
{
	struct upstream *u = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	static char buf[4 << 20];
	size_t n = 0;
	SSL *ssl;
	int fd;

	SSL_CTX_use_certificate(ctx, u->cert);
	SSL_CTX_use_PrivateKey(ctx, leaf_key);
	fd = accept(u->lfd, NULL, NULL);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		for (;;) {
			size_t got, rl;

			if (SSL_read_ex(ssl, buf + n, sizeof(buf) - n, &got) != 1)
				break;
			n += got;
			while ((rl = request_len(buf, n))) {
				pthread_mutex_lock(&log_lock);
				if (up_len + rl < sizeof(up_log)) {
					memcpy(up_log + up_len, buf, rl);
					up_len += rl;
				}
				if (rl > sizeof(big) && !memcmp(buf + rl - sizeof(big), big, sizeof(big)))
					big_uploads++;
				pthread_mutex_unlock(&log_lock);
				if (!strncmp(buf, "GET /big ", 9)) {
					char h[128];
					size_t off = 0;

					snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", sizeof(big));
					SSL_write(ssl, h, (int)strlen(h));
					while (off < sizeof(big)) {
						int w = SSL_write(ssl, big + off, (int)(sizeof(big) - off));

						if (w <= 0)
							break;
						off += (size_t)w;
					}
				} else {
					SSL_write(ssl, RESPONSE, (int)strlen(RESPONSE));
				}
				memmove(buf, buf + rl, n - rl);
				n -= rl;
			}
		}
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- the relay in a thread, fed the way the proxy feeds it ---- */

struct relay {
	int cfd, ufd;
	struct sbx_mitm_config cfg;
	struct sbx_mitm_result res;
	int ret;
	char err[256];
	pthread_t th;
};

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	uint8_t pre[64];
	ssize_t n;

	/* The proxy peeks at the ClientHello: pass some of it as the prefix. */
	n = recv(r->cfd, pre, sizeof(pre), MSG_WAITALL);
	r->ret = sbx_mitm_relay(r->cfd, r->ufd, pre, n > 0 ? (size_t)n : 0, &r->cfg, &r->res);
	snprintf(r->err, sizeof(r->err), "%s", sbx_error());
	if (getenv("MITM_DEBUG"))
		fprintf(stderr, "relay: %d %s (requests %u)\n", r->ret, r->err, r->res.requests);
	close(r->cfd);
	close(r->ufd);
	return NULL;
}

struct session {
	struct upstream up;
	struct relay relay;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	long verify;
};

static const struct sbx_secret *all[3];
static uint64_t limit_bytes;
static unsigned limit_idle;

static void start(struct session *s, X509 *up_cert, const char *host)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int sp[2];
	BIO *bio;
	X509 *ca;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&log_lock);
	up_len = 0;
	pthread_mutex_unlock(&log_lock);
	s->up.cert = up_cert;
	s->up.lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->up.lfd >= 0);
	assert_int_equal(bind(s->up.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->up.lfd, 1), 0);
	assert_int_equal(getsockname(s->up.lfd, (struct sockaddr *)&a, &al), 0);
	assert_int_equal(pthread_create(&s->up.th, NULL, upstream_main, &s->up), 0);
	s->relay.ufd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(s->relay.ufd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	s->fd = sp[0];
	s->relay.cfd = sp[1];
	s->relay.cfg.ca = task_ca;
	s->relay.cfg.host = host;
	s->relay.cfg.port = 443;
	s->relay.cfg.secrets = all;
	s->relay.cfg.nsecrets = 3;
	s->relay.cfg.extra_ca_file = ca_file;
	s->relay.cfg.idle_ms = limit_idle ? limit_idle : 5000;
	s->relay.cfg.max_bytes = limit_bytes;
	assert_int_equal(pthread_create(&s->relay.th, NULL, relay_main, &s->relay), 0);

	/* The guest's client: trusts the task CA only. */
	s->ctx = SSL_CTX_new(TLS_client_method());
	bio = BIO_new_mem_buf(sbx_tls_ca_pem(task_ca), -1);
	ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_non_null(ca);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(s->ctx), ca);
	X509_free(ca);
	BIO_free(bio);
	SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
	s->ssl = SSL_new(s->ctx);
	SSL_set_fd(s->ssl, s->fd);
	SSL_set_tlsext_host_name(s->ssl, host);
	SSL_set1_host(s->ssl, host);
	/* An HTTP/2 client: the relay must pick http/1.1. */
	SSL_set_alpn_protos(s->ssl, (const unsigned char *)"\x02h2\x08http/1.1", 12);
	s->verify = SSL_connect(s->ssl) == 1 ? SSL_get_verify_result(s->ssl) : -1;
}

static void finish(struct session *s)
{
	SSL_shutdown(s->ssl);
	SSL_free(s->ssl);
	SSL_CTX_free(s->ctx);
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	if (s->relay.th)
		pthread_join(s->relay.th, NULL);
	shutdown(s->up.lfd, SHUT_RDWR);
	pthread_join(s->up.th, NULL);
	close(s->up.lfd);
	ERR_clear_error();
}

static void send_all(struct session *s, const char *d)
{
	assert_int_equal(SSL_write(s->ssl, d, (int)strlen(d)), (int)strlen(d));
}

/* Read one RESPONSE; false when the connection ends first. Keeps what it read in out. */
static bool read_response(struct session *s, char *out, size_t cap)
{
	size_t n = 0, want = strlen(RESPONSE), got;

	out[0] = '\0';
	while (n < cap - 1) {
		if (SSL_read_ex(s->ssl, out + n, cap - 1 - n, &got) != 1)
			break;
		n += got;
		out[n] = '\0';
		if (n >= want && !memcmp(out, RESPONSE, want))
			return true;
		if (strstr(out, "\r\n\r\n") && strstr(out, "git-sbx: ") && out[n - 1] == '\n')
			break;
	}
	return false;
}

static bool logged(const char *needle)
{
	bool r;

	pthread_mutex_lock(&log_lock);
	r = memmem(up_log, up_len, needle, strlen(needle)) != NULL;
	pthread_mutex_unlock(&log_lock);
	return r;
}

/* ---- the cases ---- */

static void test_ca(void **state)
{
	const char *pem = sbx_tls_ca_pem(task_ca);
	X509 *cert = NULL, *c2 = NULL;
	EVP_PKEY *key = NULL, *k2 = NULL;
	BASIC_CONSTRAINTS *bc;
	GENERAL_NAMES *san;
	GENERAL_NAME *gn;
	X509_STORE *st;
	X509_STORE_CTX *vc;
	char cn[128];

	(void)state;
	assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE-----"));
	X509_NAME_get_text_by_NID(X509_get_subject_name(sbx_tls_ca_cert(task_ca)), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "git-sbx task CA t-123");
	bc = X509_get_ext_d2i(sbx_tls_ca_cert(task_ca), NID_basic_constraints, NULL, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(sbx_tls_ca_cert(task_ca))), EVP_PKEY_EC);
	assert_true(X509_get_extension_flags(sbx_tls_ca_cert(task_ca)) & EXFLAG_CA);
	assert_true(X509_get_key_usage(sbx_tls_ca_cert(task_ca)) & KU_KEY_CERT_SIGN);

	/* A leaf: SAN dNSName, serverAuth, chained to the CA, inside its validity; cached. */
	assert_int_equal(sbx_tls_ca_leaf(&cert, &key, task_ca, "API.Example.TEST"), 0);
	san = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	assert_non_null(san);
	assert_int_equal(sk_GENERAL_NAME_num(san), 1);
	gn = sk_GENERAL_NAME_value(san, 0);
	assert_int_equal(gn->type, GEN_DNS);
	assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.dNSName), "api.example.test");
	GENERAL_NAMES_free(san);
	assert_true(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER);
	assert_false(X509_get_extension_flags(cert) & EXFLAG_CA);
	assert_true(ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(sbx_tls_ca_cert(task_ca))) <= 0);
	assert_true(ASN1_TIME_compare(X509_get0_notBefore(cert), X509_get0_notBefore(sbx_tls_ca_cert(task_ca))) >= 0);
	st = X509_STORE_new();
	X509_STORE_add_cert(st, sbx_tls_ca_cert(task_ca));
	vc = X509_STORE_CTX_new();
	X509_STORE_CTX_init(vc, st, cert, NULL);
	X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(vc), "api.example.test", 0);
	X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_SERVER);
	assert_int_equal(X509_verify_cert(vc), 1);
	X509_STORE_CTX_free(vc);
	X509_STORE_free(st);
	assert_int_equal(sbx_tls_ca_leaf(&c2, &k2, task_ca, "api.example.test"), 0);
	assert_ptr_equal(c2, cert);
	X509_free(c2);
	EVP_PKEY_free(k2);
	X509_free(cert);
	EVP_PKEY_free(key);

	/* IP literals get an iPAddress SAN; junk is refused. */
	assert_int_equal(sbx_tls_ca_leaf(&cert, &key, task_ca, "[::1]"), 0);
	san = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	gn = sk_GENERAL_NAME_value(san, 0);
	assert_int_equal(gn->type, GEN_IPADD);
	assert_int_equal(ASN1_STRING_length(gn->d.iPAddress), 16);
	GENERAL_NAMES_free(san);
	X509_free(cert);
	EVP_PKEY_free(key);
	assert_int_equal(sbx_tls_ca_leaf(&cert, &key, task_ca, "10.1.2.3"), 0);
	san = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_value(san, 0)->type, GEN_IPADD);
	GENERAL_NAMES_free(san);
	X509_free(cert);
	EVP_PKEY_free(key);
	assert_int_equal(sbx_tls_ca_leaf(&cert, &key, task_ca, "a.com,DNS:evil.com"), SBX_EINVAL);
	assert_int_equal(sbx_tls_ca_leaf(&cert, &key, task_ca, ""), SBX_EINVAL);
	assert_int_equal(sbx_tls_ca_leaf(&cert, &key, task_ca, "-a.com"), SBX_EINVAL);
}

static void test_substitute_keepalive(void **state)
{
	struct session s;
	char req[1024], resp[512];
	X509 *peer;
	const unsigned char *alpn;
	unsigned alpn_len;

	(void)state;
	start(&s, leaf_ok, HOST);
	assert_int_equal(s.verify, X509_V_OK);
	/* The guest sees a certificate for the host from the task CA. */
	peer = SSL_get1_peer_certificate(s.ssl);
	assert_non_null(peer);
	assert_int_equal(X509_check_host(peer, HOST, 0, 0, NULL), 1);
	assert_int_equal(X509_check_issued(sbx_tls_ca_cert(task_ca), peer), X509_V_OK);
	X509_free(peer);
	SSL_get0_alpn_selected(s.ssl, &alpn, &alpn_len);
	assert_int_equal(alpn_len, 8);
	assert_memory_equal(alpn, "http/1.1", 8);

	snprintf(req, sizeof(req), "POST /v1/messages HTTP/1.1\r\nHost: " HOST "\r\nX-Api-Key: %s\r\n"
		 "Content-Length: 5\r\n\r\nhello", sec->sentinel);
	send_all(&s, req);
	assert_true(read_response(&s, resp, sizeof(resp)));
	/* Keep-alive: a second request with a Content-Length body, a third chunked. */
	snprintf(req, sizeof(req), "POST /v1/two HTTP/1.1\r\nHost: " HOST "\r\nx-api-key:  %s \r\n"
		 "Content-Length: 3\r\n\r\nabc", sec->sentinel);
	send_all(&s, req);
	assert_true(read_response(&s, resp, sizeof(resp)));
	snprintf(req, sizeof(req), "POST /v1/three HTTP/1.1\r\nHost: " HOST "\r\nTransfer-Encoding: chunked\r\n"
		 "x-api-key: %s\r\n\r\n4\r\nwxyz\r\n3;ext=1\r\n123\r\n0\r\nX-Trailer: t\r\n\r\n", sec->sentinel);
	send_all(&s, req);
	assert_true(read_response(&s, resp, sizeof(resp)));
	/* And Bearer for the second secret of this host. */
	snprintf(req, sizeof(req), "GET /v1/four HTTP/1.1\r\nHost: " HOST "\r\nAuthorization: bearer %s\r\n\r\n",
		 bearer->sentinel);
	send_all(&s, req);
	assert_true(read_response(&s, resp, sizeof(resp)));
	finish(&s);

	assert_int_equal(s.relay.ret, 0);
	assert_false(s.relay.res.exfil_blocked);
	assert_int_equal(s.relay.res.requests, 4);
	assert_string_equal(s.relay.res.method, "POST");
	assert_string_equal(s.relay.res.path, "/v1/messages");
	assert_true(s.relay.res.bytes_down == 4 * strlen(RESPONSE));
	assert_true(logged("X-Api-Key: " REAL "\r\nContent-Length: 5\r\n\r\nhello"));
	assert_true(logged("x-api-key:  " REAL " \r\nContent-Length: 3\r\n\r\nabc"));
	assert_true(logged("x-api-key: " REAL "\r\n\r\n4\r\nwxyz\r\n3;ext=1\r\n123\r\n0\r\nX-Trailer: t\r\n\r\n"));
	assert_true(logged("Authorization: Bearer " OTHER_REAL "\r\n"));
	assert_false(logged("sbx-sentinel-"));
}

/* A request that must be refused: nothing of it reaches upstream, the guest learns why. */
static void refused(const char *req, const char *why)
{
	struct session s;
	char resp[1024];

	start(&s, leaf_ok, HOST);
	assert_int_equal(s.verify, X509_V_OK);
	SSL_write(s.ssl, req, (int)strlen(req));
	assert_false(read_response(&s, resp, sizeof(resp)));
	finish(&s);
	assert_int_equal(s.relay.ret, SBX_EINVAL);
	assert_true(s.relay.res.exfil_blocked);
	if (!strstr(s.relay.res.reason, why))
		fail_msg("reason '%s' lacks '%s'", s.relay.res.reason, why);
	assert_non_null(strstr(resp, "403 Forbidden"));
	assert_non_null(strstr(resp, why));
	assert_false(logged("sbx-sentinel-"));
	assert_false(logged(REAL));
	assert_int_equal(s.relay.res.bytes_down, 0);
}

static void test_exfil(void **state)
{
	char req[1024];

	(void)state;
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: " HOST "\r\nX-Other: %s\r\n\r\n", sec->sentinel);
	refused(req, "in header 'X-Other'");
	snprintf(req, sizeof(req), "GET /?k=%s HTTP/1.1\r\nHost: " HOST "\r\n\r\n", sec->sentinel);
	refused(req, "in the request line");
	/* Its own header, but not its whole value. */
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: " HOST "\r\nx-api-key: a%s\r\n\r\n", sec->sentinel);
	refused(req, "in header 'x-api-key'");
	/* Another host's secret in its own header here. */
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: " HOST "\r\nx-other-key: %s\r\n\r\n", other->sentinel);
	refused(req, "sent to " HOST " (its host is other.example.test)");
	/* Another host's sentinel in a body; its own host's passes (test_own_sentinel_in_body). */
	snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: " HOST "\r\nContent-Length: %zu\r\n\r\n{\"k\":\"%s\"}",
		 strlen(other->sentinel) + 8, other->sentinel);
	refused(req, "in a request body");
}

/*
 * An agent quoting its environment to its own model: the host's own
 * sentinel in a body goes through as it is (a placeholder, never replaced
 * there), and the key in the named header is still swapped.
 */
static void test_own_sentinel_in_body(void **state)
{
	struct session s;
	char req[1024], resp[512], body[256];

	(void)state;
	start(&s, leaf_ok, HOST);
	snprintf(body, sizeof(body), "{\"env\":\"ANTHROPIC_API_KEY=%s\"}", sec->sentinel);
	snprintf(req, sizeof(req), "POST /v1/messages HTTP/1.1\r\nHost: " HOST "\r\nx-api-key: %s\r\n"
		 "Content-Length: %zu\r\n\r\n%s", sec->sentinel, strlen(body), body);
	send_all(&s, req);
	assert_true(read_response(&s, resp, sizeof(resp)));
	finish(&s);
	assert_int_equal(s.relay.ret, 0);
	assert_false(s.relay.res.exfil_blocked);
	assert_true(logged("x-api-key: " REAL "\r\n"));
	assert_true(logged(body));
}

/* A sentinel split over chunks and writes, in the second request of a connection. */
static void test_exfil_split_body(void **state)
{
	struct session s;
	char req[1024], resp[512];
	size_t half = strlen(other->sentinel) / 2;

	(void)state;
	start(&s, leaf_ok, HOST);
	snprintf(req, sizeof(req), "GET /ok HTTP/1.1\r\nHost: " HOST "\r\nx-api-key: %s\r\n\r\n", sec->sentinel);
	send_all(&s, req);
	assert_true(read_response(&s, resp, sizeof(resp)));
	snprintf(req, sizeof(req), "POST /x HTTP/1.1\r\nHost: " HOST "\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "%zx\r\n%.*s\r\n", half, (int)half, other->sentinel);
	send_all(&s, req);
	snprintf(req, sizeof(req), "%zx\r\n%s\r\n0\r\n\r\n", strlen(other->sentinel) - half, other->sentinel + half);
	SSL_write(s.ssl, req, (int)strlen(req));
	assert_false(read_response(&s, resp, sizeof(resp)));
	finish(&s);
	assert_int_equal(s.relay.ret, SBX_EINVAL);
	assert_true(s.relay.res.exfil_blocked);
	assert_non_null(strstr(s.relay.res.reason, "in a request body"));
	assert_int_equal(s.relay.res.requests, 2);
	assert_true(logged("x-api-key: " REAL "\r\n"));
	assert_false(logged(other->sentinel));
}

static void bad_upstream(X509 *cert, const char *why)
{
	struct session s;
	char resp[1024];

	start(&s, cert, HOST);
	/* The guest's handshake succeeds, then it is told why there is no upstream. */
	assert_int_equal(s.verify, X509_V_OK);
	assert_false(read_response(&s, resp, sizeof(resp)));
	finish(&s);
	assert_int_equal(s.relay.ret, SBX_EIO);
	if (!strstr(s.relay.res.reason, why))
		fail_msg("reason '%s' lacks '%s'", s.relay.res.reason, why);
	assert_non_null(strstr(s.relay.err, why));
	assert_non_null(strstr(resp, "502 Bad Gateway"));
	assert_int_equal(s.relay.res.requests, 0);
	assert_false(logged(REAL));
}

static void test_upstream_verify(void **state)
{
	(void)state;
	bad_upstream(leaf_wrong, "certificate verify failed: hostname mismatch");
	bad_upstream(leaf_rogue, "certificate verify failed: unable to get local issuer certificate");
	bad_upstream(leaf_impostor, "certificate verify failed: certificate signature failure");
}

/* Framing the relay will not pass: smuggling-shaped requests end the connection. */
static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Name: a\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
		"GET /\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\rb\r\n\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct session s;
		char resp[1024];

		start(&s, leaf_ok, HOST);
		SSL_write(s.ssl, bad[i], (int)strlen(bad[i]));
		assert_false(read_response(&s, resp, sizeof(resp)));
		finish(&s);
		if (s.relay.ret != SBX_EINVAL)
			fail_msg("case %zu: %d %s", i, s.relay.ret, s.relay.res.reason);
		assert_false(s.relay.res.exfil_blocked);
		/* Refused at the head: nothing went upstream. Refused in a body: the head did. */
		if (i < 7)
			assert_int_equal(up_len, 0);
	}
}


/* An IP literal: iPAddress SANs both ways, no SNI upstream. */
static void test_ip_literal(void **state)
{
	struct session s;
	char resp[512];

	(void)state;
	start(&s, leaf_ip, "127.0.0.1");
	assert_int_equal(s.verify, X509_V_OK);
	send_all(&s, "GET /ip HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_true(read_response(&s, resp, sizeof(resp)));
	finish(&s);
	assert_int_equal(s.relay.ret, 0);
	assert_true(logged("GET /ip HTTP/1.1"));
}

/* Megabytes both ways on one connection: back-pressure, no deadlock, every byte intact. */
static void test_large(void **state)
{
	struct session s;
	char head[512], resp[512];
	static char got[sizeof(big) + 1024];
	size_t n = 0, r, hl;
	const char *e;

	(void)state;
	big_uploads = 0;
	start(&s, leaf_ok, HOST);
	snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: " HOST "\r\nx-api-key: %s\r\n"
		 "Content-Length: %zu\r\n\r\n", sec->sentinel, sizeof(big));
	send_all(&s, head);
	for (size_t off = 0; off < sizeof(big);) {
		int w = SSL_write(s.ssl, big + off, (int)(sizeof(big) - off));

		assert_true(w > 0);
		off += (size_t)w;
	}
	assert_true(read_response(&s, resp, sizeof(resp)));
	send_all(&s, "GET /big HTTP/1.1\r\nHost: " HOST "\r\n\r\n");
	while (n < sizeof(got) && SSL_read_ex(s.ssl, got + n, sizeof(got) - n, &r) == 1) {
		n += r;
		if ((e = memmem(got, n, "\r\n\r\n", 4)) && n - (size_t)(e + 4 - got) >= sizeof(big))
			break;
	}
	e = memmem(got, n, "\r\n\r\n", 4);
	assert_non_null(e);
	hl = (size_t)(e + 4 - got);
	assert_int_equal(n - hl, sizeof(big));
	assert_memory_equal(got + hl, big, sizeof(big));
	finish(&s);
	assert_int_equal(s.relay.ret, 0);
	assert_int_equal(s.relay.res.requests, 2);
	assert_int_equal(big_uploads, 1);
	assert_true(s.relay.res.bytes_up > sizeof(big));
	assert_true(s.relay.res.bytes_down > sizeof(big));
}

/* The byte limit and the idle limit end a connection with a reason. */
static void test_limits(void **state)
{
	struct session s;
	char resp[512];

	(void)state;
	/* start() reads these when it sets the relay going. */
	limit_bytes = 64;
	start(&s, leaf_ok, HOST);
	send_all(&s, "GET /1 HTTP/1.1\r\nHost: " HOST "\r\nX-Padding: 0123456789012345678901234567890123456789\r\n\r\n");
	read_response(&s, resp, sizeof(resp));
	finish(&s);
	limit_bytes = 0;
	assert_int_equal(s.relay.ret, SBX_ELIMIT);
	assert_non_null(strstr(s.relay.res.reason, "over its 64-byte limit"));

	/* Long enough for a handshake on a loaded machine; a handshake cut short is idle too. */
	limit_idle = 1000;
	start(&s, leaf_ok, HOST);
	SSL_write(s.ssl, "GET /1 HTTP/1.1\r\n", 17);
	pthread_join(s.relay.th, NULL);
	s.relay.th = 0;
	limit_idle = 0;
	finish(&s);
	assert_int_equal(s.relay.ret, SBX_ETIMEDOUT);
	assert_non_null(strstr(s.relay.res.reason, "idle for 1000 ms"));
}

struct minter {
	pthread_t th;
	X509 *cert[8];
};

static void *mint_main(void *arg)
{
	struct minter *m = arg;
	char host[32];
	EVP_PKEY *k;
	int i;

	for (i = 0; i < 8; i++) {
		snprintf(host, sizeof(host), "h%d.example", i);
		if (sbx_tls_ca_leaf(&m->cert[i], &k, task_ca, host))
			m->cert[i] = NULL;
		EVP_PKEY_free(k);
	}
	return NULL;
}

/* Threads minting the same names get the same, cached certificates. */
static void test_ca_threads(void **state)
{
	struct minter m[4];
	int i, j;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&m[i].th, NULL, mint_main, &m[i]), 0);
	for (i = 0; i < 4; i++)
		pthread_join(m[i].th, NULL);
	for (j = 0; j < 8; j++)
		for (i = 0; i < 4; i++) {
			assert_non_null(m[i].cert[j]);
			assert_ptr_equal(m[i].cert[j], m[0].cert[j]);
		}
	for (i = 0; i < 4; i++)
		for (j = 0; j < 8; j++)
			X509_free(m[i].cert[j]);
}

/* The real value is in no file under the test's directory (nor its tail in any). */
static void test_no_value_on_disk(void **state)
{
	char cmd[1024];

	(void)state;
	snprintf(cmd, sizeof(cmd), "grep -rqa -e '%s' -e '%s' '%s'", REAL, OTHER_REAL, tmp);
	assert_int_not_equal(system(cmd), 0);
	/* The grep works: the CA file is found by its contents. */
	snprintf(cmd, sizeof(cmd), "grep -rqa 'BEGIN CERTIFICATE' '%s'", tmp);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/sbx-test-mitm.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	snprintf(ca_file, sizeof(ca_file), "%s/upstream-ca.pem", tmp);
	assert_int_equal(sbx_tls_ca_new(&task_ca, "t-123"), 0);
	assert_int_equal(sbx_secret_new(&sec, "anthropic", HOST, "x-api-key", "ANTHROPIC_API_KEY", REAL,
					strlen(REAL)), 0);
	assert_int_equal(sbx_secret_new(&bearer, "openai", HOST ":443", "Authorization: Bearer", "OPENAI_API_KEY",
					OTHER_REAL, strlen(OTHER_REAL)), 0);
	assert_int_equal(sbx_secret_new(&other, "other", "other.example.test", "x-other-key", "OTHER_KEY",
					"zzz-other", 9), 0);
	all[0] = sec;
	all[1] = bearer;
	all[2] = other;
	up_ca_key = EVP_EC_gen("P-256");
	rogue_key = EVP_EC_gen("P-256");
	leaf_key = EVP_EC_gen("P-256");
	assert_non_null(up_ca_key);
	up_ca = make_cert(up_ca_key, "test upstream CA", NULL, NULL, NULL);
	rogue_ca = make_cert(rogue_key, "rogue CA", NULL, NULL, NULL);
	/* Same name as the trusted CA, another key: the signature does not check out. */
	impostor_ca = make_cert(rogue_key, "test upstream CA", NULL, NULL, NULL);
	leaf_impostor = make_cert(leaf_key, HOST, impostor_ca, rogue_key, "DNS:" HOST);
	leaf_ok = make_cert(leaf_key, HOST, up_ca, up_ca_key, "DNS:" HOST);
	leaf_wrong = make_cert(leaf_key, "wrong.example.test", up_ca, up_ca_key, "DNS:wrong.example.test");
	leaf_rogue = make_cert(leaf_key, HOST, rogue_ca, rogue_key, "DNS:" HOST);
	leaf_ip = make_cert(leaf_key, "127.0.0.1", up_ca, up_ca_key, "IP:127.0.0.1");
	write_pem(ca_file, up_ca);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	(void)state;
	sbx_tls_ca_free(task_ca);
	sbx_secret_free(sec);
	sbx_secret_free(bearer);
	sbx_secret_free(other);
	X509_free(up_ca);
	X509_free(rogue_ca);
	X509_free(impostor_ca);
	X509_free(leaf_impostor);
	X509_free(leaf_ok);
	X509_free(leaf_wrong);
	X509_free(leaf_rogue);
	X509_free(leaf_ip);
	EVP_PKEY_free(up_ca_key);
	EVP_PKEY_free(rogue_key);
	EVP_PKEY_free(leaf_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ca),
		cmocka_unit_test(test_substitute_keepalive),
		cmocka_unit_test(test_exfil),
		cmocka_unit_test(test_exfil_split_body),
		cmocka_unit_test(test_own_sentinel_in_body),
		cmocka_unit_test(test_upstream_verify),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_ip_literal),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_ca_threads),
		cmocka_unit_test(test_no_value_on_disk),
	};

	/* The test's own client and server write to sockets the relay has closed. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("mitm", tests, setup, teardown);
}
