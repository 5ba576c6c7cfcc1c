/* SPDX-License-Identifier: MIT */
/*
 * The interception relay for a host that carries a secret.  sbx/proxy.c
 * calls it from a connection's thread once it has answered the guest's
 * CONNECT with "200 Connection established", peeked the ClientHello (passed
 * as `prefix`) and connected upstream:
 *
 *   guest --TLS (leaf from the task CA)--> relay --TLS (verified)--> upstream
 *
 * Towards the guest: TLS 1.2+ with a leaf for cfg->host, ALPN http/1.1 only
 * (an HTTP/2 client falls back).  Upstream: TLS 1.2+ with SNI cfg->host
 * (none for an IP literal), the chain and name verified against the host's
 * default trust store plus cfg->extra_ca_file.  In between, each HTTP/1.1
 * request head is parsed and rewritten (sbx_secret_rewrite_head()) and its
 * body relayed by its framing (Content-Length or chunked) while scanned for
 * sentinels; responses go back as bytes, so keep-alive and pipelining work.
 * Any sentinel out of place ends the connection (res->exfil_blocked); when
 * it was the first request and nothing came back yet, the guest gets a 403
 * saying why; a failed upstream handshake gets a 502 saying why.
 *
 * The relay does not close the fds (the caller does) and sets them
 * non-blocking.  Every wait is bounded by cfg->idle_ms; the whole exchange
 * by cfg->max_bytes (application bytes, both ways).
 */
#ifndef SBX_SBX_MITM_H
#define SBX_SBX_MITM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbx_tls_ca;
struct sbx_secret;

struct sbx_mitm_config {
	struct sbx_tls_ca *ca;
	const char *host;		/* the CONNECT host (checked against SNI by the proxy) */
	uint16_t port;
	/* All the task's secrets: those for host are substituted, any other's sentinel refused. */
	const struct sbx_secret *const *secrets;
	size_t nsecrets;
	const char *extra_ca_file;	/* an extra upstream CA (PEM), or NULL */
	unsigned idle_ms;		/* 0: SBX_MITM_IDLE_MS */
	uint64_t max_bytes;		/* 0: no limit */
};
#define SBX_MITM_CONFIG_INIT { NULL, NULL, 443, NULL, 0, NULL, 0, 0 }
#define SBX_MITM_IDLE_MS 60000u

struct sbx_mitm_result {
	uint64_t bytes_up, bytes_down;	/* application bytes sent upstream / to the guest */
	unsigned requests;
	bool exfil_blocked;
	char reason[256];		/* why it ended, when not a clean close */
	char method[16];		/* the first request's, for the audit */
	char path[256];
};

/*
 * 0 when the exchange ended cleanly (either side closed), else an error
 * with res->reason set: SBX_EINVAL (exfiltration or a malformed request),
 * SBX_ETIMEDOUT, SBX_ELIMIT, SBX_EIO (a TLS or socket failure).
 */
int sbx_mitm_relay(int client_fd, int upstream_fd, const uint8_t *prefix, size_t prefix_len,
		   const struct sbx_mitm_config *cfg, struct sbx_mitm_result *res);

#endif
