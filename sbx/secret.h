/* SPDX-License-Identifier: MIT */
/*
 * Secrets: credentials that the host adds to a guest's requests, so that
 * they never exist inside the VM.
 *
 *   git config sbx-secret.<name>.host       the only host it is sent to
 *                                           ("host" or "host:port")
 *   git config sbx-secret.<name>.header     "x-api-key", or "Authorization: Bearer"
 *                                           (header Authorization, value "Bearer <key>")
 *   git config sbx-secret.<name>.env        the variable the agent reads
 *   git config sbx-secret.<name>.allowHttp  also over plain HTTP (default false)
 *   git config sbx-secret.<name>.fromEnv    the host variable with the value
 *                                           (default: the .env name)
 *   git config sbx-secret.<name>.command    or a command printing it (/bin/sh -c;
 *                                           stdout less its final newline;
 *                                           64 KiB at most)
 *   git config sbx-secret.<name>.timeout    the command's deadline (default 10s)
 *
 * The command runs in a process group of its own (so the deadline kills
 * all of it), stdin /dev/null, stderr shown: a password manager that asks
 * through its agent (gpg-agent's pinentry) works; one that reads the
 * terminal itself is stopped by SIGTTIN and runs into the deadline.
 *
 * An agent preset (claude, codex, openai, gemini, aider) brings its model
 * API's secret unless the config names one with the same name or .env.
 *
 * The guest sees only a per-task sentinel, "sbx-sentinel-<name>-<32 hex>",
 * in .env.  The real value lives in this process's memory only (mlock()ed
 * where the limit allows, cleared on free): never in a file, a log, the task
 * record or the audit.  Nothing here prints it.
 */
#ifndef SBX_SBX_SECRET_H
#define SBX_SBX_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/http-req.h"

struct sbx_config;

#define SBX_SENTINEL_PREFIX "sbx-sentinel-"
/* Secret names: [A-Za-z0-9_-], 1..64 bytes, so a sentinel is at most 111 bytes. */
#define SBX_SECRET_NAME_MAX 64
#define SBX_SENTINEL_MAX 128
#define SBX_SECRET_VALUE_MAX (64u * 1024)
#define SBX_SECRET_COMMAND_TIMEOUT_MS 10000u

struct sbx_secret {
	char *name;
	char *host;		/* lower case, no port */
	uint16_t port;		/* 0: any port */
	char *header;		/* header name, e.g. "x-api-key" */
	char *prefix;		/* value prefix, e.g. "Bearer ", or "" */
	char *env;		/* the guest's variable */
	bool allow_http;
	char sentinel[SBX_SENTINEL_MAX];
	size_t sentinel_len;
	char *value;		/* the real value, NUL-terminated; never printed */
	size_t value_len;
};

/*
 * One secret with a fresh sentinel.  `header` as in .header; `host` as in
 * .host.  The value is copied (and checked: 1..64 KiB, no control
 * characters, as it goes into a header).  For the config loader and tests.
 */
int sbx_secret_new(struct sbx_secret **out, const char *name, const char *host, const char *header,
		   const char *env, const char *value, size_t value_len);
/* Clears the value before freeing it. */
void sbx_secret_free(struct sbx_secret *s);

/* Whether `s` is meant for `host` (case-insensitive) on `port`. */
bool sbx_secret_for_host(const struct sbx_secret *s, const char *host, uint16_t port);

struct sbx_secrets {
	struct sbx_secret **v;
	size_t n;
};
#define SBX_SECRETS_INIT { NULL, 0 }

/*
 * Every configured secret (sbx-secret.*), plus those of the preset for
 * `agent` (may be NULL) that the config does not already name.  A secret
 * whose value is missing is an error (SBX_ENOTFOUND, "secret 'anthropic':
 * $ANTHROPIC_API_KEY is not set on the host").  `cfg` may be NULL (presets
 * only).
 */
int sbx_secrets_load(struct sbx_secrets *out, struct sbx_config *cfg, const char *agent);
void sbx_secrets_clear(struct sbx_secrets *s);

/* A built-in agent preset's secret. */
struct sbx_secret_preset {
	const char *agent;
	const char *name;
	const char *host;
	const char *header;
	const char *env;
	bool optional;		/* loaded when its variable is set; one of the agent's must be */
};
/* The presets for `agent` (*n may be 0: no preset). */
const struct sbx_secret_preset *sbx_secret_presets(const char *agent, size_t *n);

/*
 * ---- HTTP (sbx/secret-http.c) ----
 * The length of the request head at the start of buf[0..len) including its
 * blank line, 0 while it is incomplete.  SBX_ELIMIT past `max` bytes.
 */
/* SBX_HTTP_HEAD_MAX (64 KiB, the whole head) is sbx/http-req.h's, shared with the proxy. */
#define SBX_HTTP_HEADERS_MAX 100
int sbx_http_head_len(size_t *out, const char *buf, size_t len, size_t max);

enum sbx_http_body { SBX_BODY_NONE, SBX_BODY_LENGTH, SBX_BODY_CHUNKED };

struct sbx_secret_verdict {
	bool blocked;		/* refuse the request (and the connection) */
	bool exfil;		/* ... because a sentinel was where it may not go */
	char reason[256];
	char method[16];
	char path[256];		/* the request target, cut to fit */
	enum sbx_http_body body;
	uint64_t length;	/* SBX_BODY_LENGTH */
	bool upgrade;		/* Upgrade: asked for (refused by the relay) */
	unsigned substituted;	/* headers whose sentinel was replaced */
};

/*
 * Rewrite one request head (head[0..len), as sbx_http_head_len() found it)
 * going to `host`:`port`: the sentinel of a secret for that host, in that
 * secret's header, as that header's whole value (after the prefix), becomes
 * the real value; a sentinel of any secret anywhere else blocks the request
 * (v->exfil).  `tls` false means plain HTTP: only secrets with allow_http
 * are added, and the sentinel of another one in its own header blocks.
 * Also parses the framing (Content-Length, Transfer-Encoding: chunked; both,
 * or another coding, block) and the method and target for the audit.
 * On 0, unless v->blocked, *out (malloc'd, *out_len bytes) is the head to
 * send; it holds a real value: clear it (explicit_bzero) before freeing.
 */
int sbx_secret_rewrite_head(char **out, size_t *out_len, struct sbx_secret_verdict *v,
			    const char *head, size_t len, const char *host, uint16_t port, bool tls,
			    const struct sbx_secret *const *secrets, size_t nsecrets);

/* The first secret whose sentinel occurs in buf[0..len), or NULL. */
const struct sbx_secret *sbx_secret_find_sentinel(const char *buf, size_t len,
						  const struct sbx_secret *const *secrets,
						  size_t nsecrets);

/* A sliding-window sentinel scan over a byte stream (a body). */
struct sbx_sentinel_scan {
	const struct sbx_secret *const *secrets;
	size_t nsecrets;
	char tail[SBX_SENTINEL_MAX];
	size_t ntail;
};
void sbx_sentinel_scan_init(struct sbx_sentinel_scan *s, const struct sbx_secret *const *secrets,
			    size_t nsecrets);
/* The secret whose sentinel the stream holds so far (split or not), or NULL. */
const struct sbx_secret *sbx_sentinel_scan_feed(struct sbx_sentinel_scan *s, const void *data,
						size_t len);

#endif
