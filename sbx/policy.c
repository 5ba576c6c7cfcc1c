// SPDX-License-Identifier: MIT
/* Egress policy: rules, presets, resolution and address checks (see policy.h). */
#include "sbx/policy.h"
#include "sbx/http-req.h"
#include "util/checked.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PORT_DEFAULT 0		/* no port in the rule: 443 and 80 */
#define PORT_ANY -1

struct rule {
	char text[SBX_POLICY_TEXT_MAX];
	char origin[64];
	char method[SBX_HTTP_METHOD_MAX];	/* "" for any */
	char path[SBX_POLICY_TEXT_MAX];		/* "" for any */
	bool path_prefix;			/* path ended in '*' */
	bool wildcard;				/* host is the suffix of "*.suffix" */
	int host_type;
	char host[SBX_HTTP_HOST_MAX];
	int port;
};

struct override {
	char host[SBX_HTTP_HOST_MAX];
	uint16_t port;
	struct sbx_policy_addr addr;
};

struct sbx_policy {
	struct rule *rules;
	size_t nrules, arules;
	struct override *overrides;
	size_t noverrides, aoverrides;
};

/*
 * Presets: the hosts each service's clients talk to.  Hosts only; a
 * preset never opens a whole suffix it does not own.
 */
static const char *const preset_anthropic[] = { "api.anthropic.com", NULL };
static const char *const preset_openai[] = { "api.openai.com", NULL };
static const char *const preset_google[] = {
	"generativelanguage.googleapis.com", "oauth2.googleapis.com",
	"cloudcode-pa.googleapis.com", NULL };
static const char *const preset_github[] = {
	"github.com", "api.github.com", "codeload.github.com",
	"objects.githubusercontent.com", "raw.githubusercontent.com", NULL };
static const char *const preset_npm[] = { "registry.npmjs.org", NULL };
static const char *const preset_pypi[] = { "pypi.org", "files.pythonhosted.org", NULL };
static const char *const preset_debian[] = {
	"deb.debian.org", "security.debian.org", NULL };

static const struct {
	const char *name;
	const char *const *rules;
} presets[] = {
	{ "anthropic", preset_anthropic },
	{ "openai", preset_openai },
	{ "google", preset_google },
	{ "github", preset_github },
	{ "npm", preset_npm },
	{ "pypi", preset_pypi },
	{ "debian", preset_debian },
};

static const char *const preset_name_list[] = {
	"anthropic", "openai", "google", "github", "npm", "pypi", "debian", NULL };

const char *const *sbx_policy_preset_names(void)
{
	return preset_name_list;
}

const char *const *sbx_policy_preset_rules(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(presets); i++)
		if (!strcmp(presets[i].name, name))
			return presets[i].rules;
	return NULL;
}

int sbx_policy_new(struct sbx_policy **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : sbx_error_set(SBX_ENOMEM, "out of memory for a policy");
}

void sbx_policy_free(struct sbx_policy *p)
{
	if (!p)
		return;
	free(p->rules);
	free(p->overrides);
	free(p);
}

size_t sbx_policy_rule_count(const struct sbx_policy *p)
{
	return p->nrules;
}

static int grow(void **arr, size_t *alloc, size_t n, size_t size)
{
	void *q;
	size_t na;

	if (n < *alloc)
		return 0;
	na = *alloc ? 2 * *alloc : 8;
	q = realloc(*arr, na * size);
	if (!q)
		return sbx_error_set(SBX_ENOMEM, "out of memory for a policy");
	*arr = q;
	*alloc = na;
	return 0;
}

static int parse_port(const char *s, size_t n, int *port)
{
	unsigned v = 0;
	size_t i;

	if (n == 1 && s[0] == '*') {
		*port = PORT_ANY;
		return 0;
	}
	if (!n || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (!v || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static int parse_rule(struct rule *r, const char *text)
{
	const char *sp = strchr(text, ' '), *h = text, *slash, *colon = NULL, *hend;
	int ret;

	memset(r, 0, sizeof(*r));
	if (strlen(text) >= SBX_POLICY_TEXT_MAX)
		return sbx_error_set(SBX_EINVAL, "rule too long");
	snprintf(r->text, sizeof(r->text), "%s", text);
	if (sp) {
		size_t mlen = (size_t)(sp - text);

		if (!mlen || mlen >= sizeof(r->method))
			return sbx_error_set(SBX_EINVAL, "bad method in rule '%s'", text);
		for (size_t i = 0; i < mlen; i++)
			if (text[i] < 'A' || text[i] > 'Z')
				return sbx_error_set(SBX_EINVAL,
						     "method in rule '%s' is not an upper-case word",
						     text);
		memcpy(r->method, text, mlen);
		h = sp + 1;
	}
	slash = strchr(h, '/');
	hend = slash ? slash : h + strlen(h);
	if (slash) {
		size_t plen = strlen(slash);
		const char *star = strchr(slash, '*');

		if (star && star != slash + plen - 1)
			return sbx_error_set(SBX_EINVAL, "'*' only at the end of a path in rule '%s'", text);
		for (const char *c = slash; *c; c++)
			if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
				return sbx_error_set(SBX_EINVAL, "bad character in the path of rule '%s'", text);
		r->path_prefix = star != NULL;
		memcpy(r->path, slash, plen - r->path_prefix);
	}
	if (h < hend && h[0] == '[') {
		const char *close = memchr(h, ']', (size_t)(hend - h));

		if (!close)
			return sbx_error_set(SBX_EINVAL, "no ']' in rule '%s'", text);
		if (close + 1 < hend && close[1] != ':')
			return sbx_error_set(SBX_EINVAL, "junk after ']' in rule '%s'", text);
		colon = close + 1 < hend ? close + 1 : NULL;
		ret = sbx_http_host_normalize(r->host, h + 1, (size_t)(close - h - 1));
		if (ret >= 0 && ret != SBX_HOST_IPV6)
			ret = sbx_error_set(SBX_EINVAL, "brackets around a non-IPv6 host");
	} else {
		colon = memchr(h, ':', (size_t)(hend - h));
		if (colon && memchr(colon + 1, ':', (size_t)(hend - colon - 1)))
			return sbx_error_set(SBX_EINVAL, "IPv6 address without brackets in rule '%s'", text);
		if ((colon ? colon : hend) - h > 2 && h[0] == '*' && h[1] == '.') {
			r->wildcard = true;
			h += 2;
		}
		ret = sbx_http_host_normalize(r->host, h, (size_t)((colon ? colon : hend) - h));
		if (ret >= 0 && r->wildcard && ret != SBX_HOST_NAME)
			ret = sbx_error_set(SBX_EINVAL, "'*.' before an address");
	}
	if (ret < 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", sbx_error());
		return sbx_error_set(SBX_EINVAL, "bad host in rule '%s': %s", text, why);
	}
	r->host_type = ret;
	r->port = PORT_DEFAULT;
	if (colon && parse_port(colon + 1, (size_t)(hend - colon - 1), &r->port))
		return sbx_error_set(SBX_EINVAL, "bad port in rule '%s'", text);
	return 0;
}

int sbx_policy_add_rule(struct sbx_policy *p, const char *text, const char *origin)
{
	struct rule r;
	int ret;

	ret = parse_rule(&r, text);
	if (ret < 0)
		return ret;
	snprintf(r.origin, sizeof(r.origin), "%s", origin ? origin : "rule");
	ret = grow((void **)&p->rules, &p->arules, p->nrules, sizeof(r));
	if (ret < 0)
		return ret;
	p->rules[p->nrules++] = r;
	return 0;
}

int sbx_policy_add_preset(struct sbx_policy *p, const char *name)
{
	const char *const *rules = sbx_policy_preset_rules(name);
	char origin[64];
	int ret;

	if (!rules)
		return sbx_error_set(SBX_ENOTFOUND, "no preset '%s' (presets: anthropic, openai, "
				     "google, github, npm, pypi, debian)", name);
	snprintf(origin, sizeof(origin), "preset %s", name);
	for (; *rules; rules++) {
		ret = sbx_policy_add_rule(p, *rules, origin);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int text_to_addr(struct sbx_policy_addr *a, const char *ip, uint16_t port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		a->len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		a->len = sizeof(*s6);
	} else {
		return -1;
	}
	snprintf(a->text, sizeof(a->text), "%s", ip);
	return 0;
}

int sbx_policy_add_resolve(struct sbx_policy *p, const char *spec)
{
	struct override o;
	const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char ip[64];
	size_t n;
	int port, to, ret;

	memset(&o, 0, sizeof(o));
	if (!c1 || !c2)
		return sbx_error_set(SBX_EINVAL, "resolve override '%s' is not HOST:PORT:IP[:PORT]", spec);
	if (sbx_http_host_normalize(o.host, spec, (size_t)(c1 - spec)) < 0)
		return sbx_error_set(SBX_EINVAL, "bad host in resolve override '%s'", spec);
	if (parse_port(c1 + 1, (size_t)(c2 - c1 - 1), &port) || port == PORT_ANY)
		return sbx_error_set(SBX_EINVAL, "bad port in resolve override '%s'", spec);
	/* IP, [IPv6], or either with ":TOPORT": connect there instead of PORT. */
	to = port;
	n = strlen(c2 + 1);
	if (c2[1] == '[') {
		const char *close = strchr(c2 + 1, ']');

		if (!close)
			return sbx_error_set(SBX_EINVAL, "bad address in resolve override '%s'", spec);
		snprintf(ip, sizeof(ip), "%.*s", (int)(close - c2 - 2), c2 + 2);
		if (close[1] && (close[1] != ':' || parse_port(close + 2, strlen(close + 2), &to) ||
				 to == PORT_ANY))
			return sbx_error_set(SBX_EINVAL, "bad port in resolve override '%s'", spec);
	} else if (strchr(c2 + 1, ':') && strchr(c2 + 1, '.')) {
		const char *c3 = strchr(c2 + 1, ':');

		snprintf(ip, sizeof(ip), "%.*s", (int)(c3 - c2 - 1), c2 + 1);
		if (parse_port(c3 + 1, strlen(c3 + 1), &to) || to == PORT_ANY)
			return sbx_error_set(SBX_EINVAL, "bad port in resolve override '%s'", spec);
	} else {
		snprintf(ip, sizeof(ip), "%.*s", (int)n, c2 + 1);
	}
	o.port = (uint16_t)port;
	if (text_to_addr(&o.addr, ip, (uint16_t)to))
		return sbx_error_set(SBX_EINVAL, "bad address in resolve override '%s'", spec);
	ret = grow((void **)&p->overrides, &p->aoverrides, p->noverrides, sizeof(o));
	if (ret < 0)
		return ret;
	p->overrides[p->noverrides++] = o;
	return 0;
}

bool sbx_policy_has_override(const struct sbx_policy *p, const char *host, uint16_t port)
{
	char norm[SBX_HTTP_HOST_MAX];
	size_t i;

	if (sbx_http_host_normalize(norm, host, strlen(host)) < 0)
		return false;
	for (i = 0; i < p->noverrides; i++)
		if (!strcmp(p->overrides[i].host, norm) && p->overrides[i].port == port)
			return true;
	return false;
}

static bool host_matches(const struct rule *r, const char *host)
{
	size_t hl, sl;

	if (!r->wildcard)
		return !strcmp(r->host, host);
	hl = strlen(host);
	sl = strlen(r->host);
	return hl > sl + 1 && host[hl - sl - 1] == '.' && !strcmp(host + hl - sl, r->host);
}

static bool port_matches(const struct rule *r, uint16_t port)
{
	if (r->port == PORT_ANY)
		return true;
	if (r->port == PORT_DEFAULT)
		return port == 443 || port == 80;
	return r->port == port;
}

/* Dot segments and encoded separators make a path mean something else to the server. */
static bool path_is_plain(const char *path, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (path[i] == '\\')
			return false;
		if (path[i] == '%' && i + 2 < n) {
			char e[3] = { path[i + 1], path[i + 2], 0 };

			if (!strcasecmp(e, "2e") || !strcasecmp(e, "2f") || !strcasecmp(e, "5c"))
				return false;
		}
		if (path[i] == '.' && i > 0 && path[i - 1] == '/' &&
		    (i + 1 == n || path[i + 1] == '/' ||
		     (path[i + 1] == '.' && (i + 2 == n || path[i + 2] == '/'))))
			return false;
	}
	return true;
}

static bool path_matches(const struct rule *r, const char *path)
{
	size_t n = strcspn(path, "?"), rl = strlen(r->path);

	if (!path_is_plain(path, n))
		return false;
	if (r->path_prefix)
		return n >= rl && !memcmp(path, r->path, rl);
	return n == rl && !memcmp(path, r->path, rl);
}

static void default_hint(char *hint, size_t size, const char *host, int type, uint16_t port)
{
	const char *lb = type == SBX_HOST_IPV6 ? "[" : "", *rb = type == SBX_HOST_IPV6 ? "]" : "";

	if (port == 443 || port == 80)
		snprintf(hint, size, "%s%s%s", lb, host, rb);
	else
		snprintf(hint, size, "%s%s%s:%u", lb, host, rb, port);
}

void sbx_policy_check(const struct sbx_policy *p, const struct sbx_policy_query *q,
		      struct sbx_policy_verdict *v)
{
	const struct rule *near = NULL;
	char norm[SBX_HTTP_HOST_MAX];
	int type;
	size_t i;

	memset(v, 0, sizeof(*v));
	type = sbx_http_host_normalize(norm, q->host, strlen(q->host));
	if (type < 0) {
		snprintf(v->reason, sizeof(v->reason), "bad host: %s", sbx_error());
		return;
	}
	for (i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];

		if (!host_matches(r, norm) || !port_matches(r, q->port))
			continue;
		if (r->method[0] || r->path[0]) {
			if (!q->method || !q->path ||
			    (r->method[0] && strcmp(r->method, q->method)) ||
			    (r->path[0] && !path_matches(r, q->path))) {
				near = near ? near : r;
				continue;
			}
		}
		v->allowed = true;
		snprintf(v->rule, sizeof(v->rule), "%s", r->text);
		snprintf(v->reason, sizeof(v->reason), "allowed by %s rule '%s'", r->origin, r->text);
		return;
	}
	default_hint(v->hint, sizeof(v->hint), norm, type, q->port);
	if (near && !q->method)
		snprintf(v->reason, sizeof(v->reason),
			 "%s:%u only has a method/path rule ('%s'), which a CONNECT tunnel cannot be held to",
			 norm, q->port, near->text);
	else if (near) {
		size_t n = strcspn(q->path, "?");
		char hp[SBX_POLICY_TEXT_MAX];

		snprintf(v->reason, sizeof(v->reason),
			 "%s %s on %s:%u is not allowed by rule '%s'", q->method,
			 q->path, norm, q->port, near->text);
		/* the narrowest rule that would allow it: this method on this path */
		snprintf(hp, sizeof(hp), "%s", v->hint);
		if (path_is_plain(q->path, n) && n < 200)
			snprintf(v->hint, sizeof(v->hint), "'%s %s%.*s'", q->method, hp, (int)n, q->path);
	}
	else
		snprintf(v->reason, sizeof(v->reason),
			 "%s:%u is not allowed by this task's policy", norm, q->port);
}

static const char *special_v4(uint32_t a)
{
	if (a == 0xa9fea9fe)
		return "the cloud metadata service";
	if ((a >> 24) == 0)
		return "the unspecified network";
	if ((a >> 24) == 127)
		return "loopback";
	if ((a >> 24) == 10 || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8)
		return "private (RFC 1918)";
	if ((a >> 22) == (100 << 2 | 1))
		return "shared (carrier-grade NAT)";
	if ((a >> 16) == 0xa9fe)
		return "link-local";
	if ((a >> 8) == 0xc00000)
		return "IETF protocol assignments";
	if ((a >> 17) == (0xc612 >> 1))
		return "benchmarking";
	if ((a >> 8) == 0xc00002 || (a >> 8) == 0xc63364 || (a >> 8) == 0xcb0071)
		return "documentation";
	if ((a >> 28) == 0xe)
		return "multicast";
	if ((a >> 28) == 0xf)
		return "reserved";
	return NULL;
}

static const char *special_v6(const uint8_t *b)
{
	static const uint8_t zero[16], mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

	if (!memcmp(b, zero, 16))
		return "the unspecified address";
	if (!memcmp(b, zero, 15) && b[15] == 1)
		return "loopback";
	/* IPv4-mapped, NAT64 and IPv4-compatible: judge the IPv4 address inside */
	if (!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12) || !memcmp(b, zero, 12))
		return special_v4((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
				  (uint32_t)b[14] << 8 | b[15]);
	if ((b[0] & 0xfe) == 0xfc)
		return "private (unique local)";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "link-local";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return "site-local";
	if (b[0] == 0xff)
		return "multicast";
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
		return "documentation";
	return NULL;
}

const char *sbx_policy_addr_special(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return special_v6(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
	if (sa->sa_family == AF_INET)
		return special_v4(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	return "not an IP address";
}

static bool same_ip(const struct sockaddr *x, const struct sockaddr *y)
{
	if (x->sa_family != y->sa_family)
		return false;
	if (x->sa_family == AF_INET)
		return ((const struct sockaddr_in *)x)->sin_addr.s_addr ==
			((const struct sockaddr_in *)y)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)x)->sin6_addr,
		       &((const struct sockaddr_in6 *)y)->sin6_addr, 16);
}

/* Is this one of the host's own interface addresses? */
static bool is_own_address(const struct sockaddr *sa)
{
	struct ifaddrs *ifs = NULL, *i;
	bool own = false;

	if (getifaddrs(&ifs))
		return false;
	for (i = ifs; i && !own; i = i->ifa_next)
		if (i->ifa_addr && (i->ifa_addr->sa_family == AF_INET ||
				    i->ifa_addr->sa_family == AF_INET6))
			own = same_ip(i->ifa_addr, sa);
	freeifaddrs(ifs);
	return own;
}

/* Does a rule name exactly this address (and port)? */
static const struct rule *rule_names(const struct sbx_policy *p, const char *ip, uint16_t port)
{
	size_t i;

	for (i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];

		if (r->host_type != SBX_HOST_NAME && !strcmp(r->host, ip) && port_matches(r, port))
			return r;
	}
	return NULL;
}

static void check_addr(const struct sbx_policy *p, const char *host, struct sbx_policy_addr *a,
		       uint16_t port, struct sbx_policy_verdict *v)
{
	const char *why = sbx_policy_addr_special((const struct sockaddr *)&a->ss);
	const struct rule *r;

	if (!why && is_own_address((const struct sockaddr *)&a->ss))
		why = "one of this host's own addresses";
	if (!why)
		return;
	r = rule_names(p, a->text, port);
	if (r) {
		snprintf(v->reason, sizeof(v->reason), "%s (%s) allowed by %s rule '%s'",
			 a->text, why, r->origin, r->text);
		snprintf(v->rule, sizeof(v->rule), "%s", r->text);
		return;
	}
	v->allowed = false;
	if (strcmp(host, a->text))
		snprintf(v->reason, sizeof(v->reason), "%s resolves to %s, %s, which no rule names",
			 host, a->text, why);
	else
		snprintf(v->reason, sizeof(v->reason), "%s is %s, which no rule names", a->text, why);
	default_hint(v->hint, sizeof(v->hint), a->text,
		     a->ss.ss_family == AF_INET6 ? SBX_HOST_IPV6 : SBX_HOST_IPV4, port);
}

int sbx_policy_resolve(const struct sbx_policy *p, const char *host, uint16_t port,
		       struct sbx_policy_addr *addrs, size_t *naddrs,
		       struct sbx_policy_verdict *v)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	char norm[SBX_HTTP_HOST_MAX];
	int type, err;
	size_t i;

	memset(v, 0, sizeof(*v));
	*naddrs = 0;
	type = sbx_http_host_normalize(norm, host, strlen(host));
	if (type < 0) {
		snprintf(v->reason, sizeof(v->reason), "bad host: %s", sbx_error());
		return 0;
	}
	v->allowed = true;
	for (i = 0; i < p->noverrides; i++) {
		if (strcmp(p->overrides[i].host, norm) || p->overrides[i].port != port)
			continue;
		addrs[0] = p->overrides[i].addr;
		*naddrs = 1;
		snprintf(v->reason, sizeof(v->reason), "resolved by override to %s", addrs[0].text);
		return 0;
	}
	if (type != SBX_HOST_NAME)
		hints.ai_flags = AI_NUMERICHOST;
	err = getaddrinfo(norm, NULL, &hints, &res);
	if (err) {
		v->allowed = false;
		snprintf(v->reason, sizeof(v->reason), "cannot resolve %s: %s", norm, gai_strerror(err));
		return sbx_error_set(SBX_ENOTFOUND, "%s", v->reason);
	}
	for (ai = res; ai && v->allowed; ai = ai->ai_next) {
		struct sbx_policy_addr *a;

		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(a->ss))
			continue;
		if (*naddrs == SBX_POLICY_ADDRS_MAX)
			break;
		a = &addrs[*naddrs];
		memset(a, 0, sizeof(*a));
		memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
		a->len = ai->ai_addrlen;
		if (ai->ai_family == AF_INET) {
			((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
			inet_ntop(AF_INET, &((struct sockaddr_in *)&a->ss)->sin_addr, a->text, sizeof(a->text));
		} else {
			((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
			((struct sockaddr_in6 *)&a->ss)->sin6_scope_id = 0;
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->ss)->sin6_addr, a->text, sizeof(a->text));
		}
		/* A duplicate (one per socket type) is checked once. */
		for (i = 0; i < *naddrs; i++)
			if (same_ip((struct sockaddr *)&addrs[i].ss, (struct sockaddr *)&a->ss))
				break;
		if (i < *naddrs)
			continue;
		check_addr(p, norm, a, port, v);
		(*naddrs)++;
	}
	freeaddrinfo(res);
	if (v->allowed && !*naddrs) {
		v->allowed = false;
		snprintf(v->reason, sizeof(v->reason), "%s has no IPv4 or IPv6 address", norm);
	}
	if (!v->allowed)
		*naddrs = 0;
	return 0;
}
