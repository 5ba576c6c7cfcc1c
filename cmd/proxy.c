// SPDX-License-Identifier: MIT
/*
 * git sbx proxy: the task egress proxy (sbx/proxy.c) on a host TCP port,
 * for benchmarks and for trying a policy out with curl.  Not listed in
 * `git sbx -h`; each connection's event is one line on stderr.
 */
#include "cmd/builtin.h"
#include "sbx/policy.h"
#include "sbx/proxy.h"
#include "sbx/proxy-upstream.h"
#include "util/parse.h"
#include "util/quote.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const proxy_usage[] = {
	"git sbx proxy --listen <addr>:<port> [--allow <rule>]... [--allow-preset <name>]...",
	"    [--resolve <host>:<port>:<ip>[:<port>]]... [--max-conns <n>] [--max-bytes <size>]",
	"    [--idle <duration>]",
	"",
	"Runs a task's egress proxy on a host TCP port (CONNECT and plain HTTP),",
	"with the same policy checks a task gets, and prints one line per",
	"connection on stderr.  Rules: [METHOD ]HOST[:PORT][/PATH], HOST a name,",
	"*.suffix, an IPv4 address or [IPv6]; no port means 443 and 80.",
	"Presets: anthropic, openai, google, github, npm, pypi, debian.",
	"Upstream connections go through the host's own proxy when https_proxy",
	"(or HTTPS_PROXY, http_proxy) is set, except for no_proxy's names.",
	"For benchmarks and for trying a policy out; see docs/design.md.",
	NULL,
};

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void print_event(void *opaque, const struct sbx_net_event *ev)
{
	char *host = sbx_quote_str(ev->host), *path = sbx_quote_str(ev->path);

	(void)opaque;
	pthread_mutex_lock(&print_lock);
	fprintf(stderr, "%s %s %s%s%s:%u%s%s up=%llu down=%llu %llums rule='%s' (%s)\n",
		ev->allowed ? "allow" : "deny", ev->method[0] ? ev->method : "-",
		strchr(ev->host, ':') ? "[" : "", host ? host : "", strchr(ev->host, ':') ? "]" : "",
		ev->port, ev->path[0] ? " " : "", path ? path : "",
		(unsigned long long)ev->bytes_up, (unsigned long long)ev->bytes_down,
		(unsigned long long)ev->duration_ms, ev->rule, ev->reason);
	fflush(stderr);
	pthread_mutex_unlock(&print_lock);
	free(host);
	free(path);
}

static int listen_on(const char *spec)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	const char *colon = strrchr(spec, ':');
	char host[64], shown[80];
	socklen_t len;
	uint64_t port;
	int fd, one = 1;

	if (!colon || (size_t)(colon - spec) >= sizeof(host) ||
	    parse_uint(colon + 1, 0, 65535, &port))
		die("bad --listen '%s' (want ADDR:PORT, e.g. 127.0.0.1:3128)", spec);
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof(*s6);
	} else {
		die("bad --listen address '%s' (an IP address)", host);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 512))
		die("cannot listen on %s: %s", spec, strerror(errno));
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	if (ss.ss_family == AF_INET)
		snprintf(shown, sizeof(shown), "%s:%u", host, ntohs(s4->sin_port));
	else
		snprintf(shown, sizeof(shown), "[%s]:%u", host, ntohs(s6->sin6_port));
	fprintf(stderr, "git sbx proxy: listening on %s\n", shown);
	fflush(stderr);
	return fd;
}

int cmd_proxy(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct string_list allow = { 0 }, presets = { 0 }, resolve = { 0 };
	struct sbx_proxy_config cfg = SBX_PROXY_CONFIG_INIT;
	struct sbx_proxy_upstream upstream;
	const char *listen_spec = NULL, *max_bytes = NULL, *idle = NULL;
	struct sbx_policy *policy = NULL;
	struct sbx_proxy *proxy = NULL;
	int max_conns = 0, fd;
	size_t i;
	const struct option opts[] = {
		OPT_STRING(0, "listen", &listen_spec, "addr:port", "where to listen (port 0: any)"),
		OPT_STRING_LIST(0, "allow", &allow, "rule", "allow a host (repeatable)"),
		OPT_STRING_LIST(0, "allow-preset", &presets, "name", "allow a preset's hosts"),
		OPT_STRING_LIST(0, "resolve", &resolve, "host:port:ip[:port]", "use ip (and that port) for host:port"),
		OPT_INT(0, "max-conns", &max_conns, "n", "connections at once (default 128)"),
		OPT_STRING(0, "max-bytes", &max_bytes, "size", "bytes in all (default: no cap)"),
		OPT_STRING(0, "idle", &idle, "duration", "idle time per connection (default 5m)"),
		OPT_END(),
	};

	(void)ctx;
	if (parse_options(argc, argv, opts, proxy_usage, 0) > 0)
		usage_with_options(proxy_usage, opts);
	if (!listen_spec)
		usage_msg_opt("--listen is required", proxy_usage, opts);
	if (sbx_policy_new(&policy))
		die_sbx("cannot make a policy");
	for (i = 0; i < allow.nr; i++)
		if (sbx_policy_add_rule(policy, allow.items[i], "--allow"))
			die_sbx("bad --allow");
	for (i = 0; i < presets.nr; i++)
		if (sbx_policy_add_preset(policy, presets.items[i]))
			die_sbx("bad --allow-preset");
	for (i = 0; i < resolve.nr; i++)
		if (sbx_policy_add_resolve(policy, resolve.items[i]))
			die_sbx("bad --resolve");
	cfg.policy = policy;
	cfg.event = print_event;
	if (max_conns > 0)
		cfg.max_conns = (unsigned)max_conns;
	if (max_bytes && parse_size(max_bytes, 1, &cfg.max_bytes))
		die_sbx("bad --max-bytes");
	if (idle) {
		uint64_t ms;

		if (parse_duration_ms(idle, &ms) || !ms || ms > INT32_MAX)
			die("bad --idle '%s'", idle);
		cfg.idle_ms = (unsigned)ms;
	}
	switch (sbx_proxy_upstream_from_env(&upstream)) {
	case 0:
		break;
	case 1:
		cfg.upstream = &upstream;
		fprintf(stderr, "proxy: through the host's proxy %s:%u\n", upstream.host, upstream.port);
		break;
	default:
		die_sbx("the host's proxy");
	}
	signal(SIGPIPE, SIG_IGN);
	fd = listen_on(listen_spec);
	if (sbx_proxy_new(&proxy, &cfg))
		die_sbx("cannot start the proxy");
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				usleep(100 * 1000);
				continue;
			}
			error_msg("accept: %s", strerror(errno));
			break;
		}
		if (sbx_proxy_accept(proxy, c))
			error_sbx("accept");
	}
	sbx_proxy_free(proxy);
	sbx_policy_free(policy);
	close(fd);
	string_list_clear(&allow);
	string_list_clear(&presets);
	string_list_clear(&resolve);
	return 128;
}
