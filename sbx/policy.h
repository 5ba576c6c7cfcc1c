/* SPDX-License-Identifier: MIT */
/*
 * A task's egress policy: allow rules (default deny), presets, name
 * resolution by the proxy itself and the checks on every address it would
 * connect to.
 *
 * Rule syntax (one rule per --allow / sbx.allow value):
 *
 *     [METHOD ]HOST[:PORT][/PATH]
 *
 *   HOST    a name ("api.example.com"), "*.suffix" (any name that ends in
 *           ".suffix", not "suffix" itself), a dotted-quad IPv4 address or
 *           an IPv6 address in brackets ("[2001:db8::1]").  Names compare
 *           case-insensitively, without a trailing dot.
 *   PORT    a number, or "*" for any port.  Without one, a rule allows 443
 *           (HTTPS through CONNECT) and 80 (plain HTTP) only.
 *   METHOD  "GET", "POST", ... (case-sensitive, as HTTP methods are).
 *   PATH    "/v1/messages" (that path, any query), or a prefix ending in
 *           '*' ("/v1/" followed by '*': everything under /v1/).  A path with dot segments or encoded separators
 *           ("/v1/../x", "%2e", "%2f", "%5c", "\") never matches a path rule.
 *
 * A rule with a METHOD or PATH only matches requests whose method and path
 * the proxy sees: plain HTTP, or HTTPS that the proxy terminates (hosts
 * with a secret).  It never allows a CONNECT tunnel, whose contents are
 * opaque.  Examples: "api.anthropic.com", "registry.npmjs.org:443",
 * "*.githubusercontent.com", "127.0.0.1:8080", "GET deb.debian.org/debian/" + '*'.
 *
 * Address checks (sbx_policy_resolve): the proxy resolves names itself and
 * connects only to the addresses it checked.  Every address a name
 * resolves to must be public: loopback, unspecified, private (RFC 1918,
 * ULA, CGNAT), link-local (with 169.254.169.254, the cloud metadata
 * service), multicast, reserved and documentation ranges, and the host's
 * own interface addresses are refused unless a rule names that exact
 * address and port; one such address refuses the whole name.
 *
 * Resolve overrides ("HOST:PORT:IP[:TOPORT]", like curl --resolve, or with
 * TOPORT like curl --connect-to; an IPv6 address in brackets): the proxy uses
 * IP for HOST:PORT without asking DNS.  The name still needs a rule that
 * allows it; the address is not checked, not even for loopback, because
 * the user configured it explicitly (a test server, a local mirror).
 */
#ifndef SBX_POLICY_H
#define SBX_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SBX_POLICY_TEXT_MAX 512
#define SBX_POLICY_ADDRS_MAX 16

struct sbx_policy;

/* What the proxy saw: method and path are NULL in a CONNECT tunnel. */
struct sbx_policy_query {
	const char *host;	/* normalised (sbx_http_host_normalize) */
	uint16_t port;
	const char *method;
	const char *path;	/* origin form, with the query */
};

struct sbx_policy_verdict {
	bool allowed;
	char rule[SBX_POLICY_TEXT_MAX];		/* the rule that decided; "" for the default deny */
	char reason[SBX_POLICY_TEXT_MAX];	/* for the user and the audit file */
	char hint[SBX_POLICY_TEXT_MAX];		/* the --allow argument that would allow it, or "" */
};

struct sbx_policy_addr {
	struct sockaddr_storage ss;	/* port set */
	socklen_t len;
	char text[64];			/* "192.0.2.1", "2001:db8::1" */
};

int sbx_policy_new(struct sbx_policy **out);
void sbx_policy_free(struct sbx_policy *p);

/* Add one allow rule; `origin` says where it came from ("--allow", "sbx.allow", "preset npm"). */
int sbx_policy_add_rule(struct sbx_policy *p, const char *rule, const char *origin);
/* Add a preset's rules (SBX_ENOTFOUND for an unknown name). */
int sbx_policy_add_preset(struct sbx_policy *p, const char *name);
/* The preset names, NULL-terminated; and one preset's rules (NULL if unknown). */
const char *const *sbx_policy_preset_names(void);
const char *const *sbx_policy_preset_rules(const char *name);
/* Add a "HOST:PORT:IP[:TOPORT]" resolve override. */
int sbx_policy_add_resolve(struct sbx_policy *p, const char *spec);
size_t sbx_policy_rule_count(const struct sbx_policy *p);
/* Is there a resolve override for host:port? */
bool sbx_policy_has_override(const struct sbx_policy *p, const char *host, uint16_t port);

/* Decide by host, port and (when seen) method and path.  Never fails. */
void sbx_policy_check(const struct sbx_policy *p, const struct sbx_policy_query *q,
		      struct sbx_policy_verdict *v);

/*
 * Resolve an allowed host (an override, an IP literal, or getaddrinfo())
 * and check every address.  Returns 0 with v->allowed and, when allowed,
 * the addresses to connect to in addrs[0..*naddrs); SBX_ENOTFOUND when the
 * name does not resolve (a 502, not a policy decision).
 */
int sbx_policy_resolve(const struct sbx_policy *p, const char *host, uint16_t port,
		       struct sbx_policy_addr *addrs, size_t *naddrs,
		       struct sbx_policy_verdict *v);

/* Why an address may not be used without a rule naming it ("loopback", ...), or NULL. */
const char *sbx_policy_addr_special(const struct sockaddr *sa);

#endif
