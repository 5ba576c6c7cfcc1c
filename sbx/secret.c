// SPDX-License-Identifier: MIT
#include "sbx/secret.h"
#include "sbx/config.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct sbx_secret_preset presets[] = {
	{ "claude", "anthropic", "api.anthropic.com", "x-api-key", "ANTHROPIC_API_KEY", false },
	{ "codex", "openai", "api.openai.com", "Authorization: Bearer", "OPENAI_API_KEY", false },
	{ "openai", "openai", "api.openai.com", "Authorization: Bearer", "OPENAI_API_KEY", false },
	{ "gemini", "gemini", "generativelanguage.googleapis.com", "x-goog-api-key", "GEMINI_API_KEY", false },
	/* aider talks to whichever model it is given: either key will do. */
	{ "aider", "anthropic", "api.anthropic.com", "x-api-key", "ANTHROPIC_API_KEY", true },
	{ "aider", "openai", "api.openai.com", "Authorization: Bearer", "OPENAI_API_KEY", true },
};

const struct sbx_secret_preset *sbx_secret_presets(const char *agent, size_t *n)
{
	size_t i, j;

	*n = 0;
	for (i = 0; agent && i < sizeof(presets) / sizeof(presets[0]); i++)
		if (!strcmp(presets[i].agent, agent)) {
			for (j = i; j < sizeof(presets) / sizeof(presets[0]) && !strcmp(presets[j].agent, agent); j++)
				;
			*n = j - i;
			return &presets[i];
		}
	return NULL;
}

static bool valid_name(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > SBX_SECRET_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool valid_env(const char *env)
{
	size_t i;

	if (!env[0] || (env[0] >= '0' && env[0] <= '9'))
		return false;
	for (i = 0; env[i]; i++)
		if (!((env[i] >= 'a' && env[i] <= 'z') || (env[i] >= 'A' && env[i] <= 'Z') ||
		      (env[i] >= '0' && env[i] <= '9') || env[i] == '_'))
			return false;
	return i <= 128;
}

void sbx_secret_free(struct sbx_secret *s)
{
	if (!s)
		return;
	if (s->value) {
		explicit_bzero(s->value, s->value_len + 1);
		munlock(s->value, s->value_len + 1);
		free(s->value);
	}
	free(s->name);
	free(s->host);
	free(s->header);
	free(s->prefix);
	free(s->env);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

/* "host" or "host:port" (an IPv6 literal in brackets). */
static int parse_host(struct sbx_secret *s, const char *spec)
{
	const char *colon = strrchr(spec, ':'), *hb = spec, *he;
	char *p;

	if (colon && (spec[0] != '[' || colon > strchr(spec, ']'))) {
		char *end;
		unsigned long port;

		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (!colon[1] || *end || errno || port == 0 || port > 65535)
			return sbx_error_set(SBX_EINVAL, "secret '%s': bad port in host '%s'", s->name, spec);
		s->port = (uint16_t)port;
		he = colon;
	} else {
		he = spec + strlen(spec);
	}
	if (hb < he && *hb == '[' && he[-1] == ']') {
		hb++;
		he--;
	}
	if (hb == he)
		return sbx_error_set(SBX_EINVAL, "secret '%s': empty host", s->name);
	s->host = strndup(hb, (size_t)(he - hb));
	if (!s->host)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	for (p = s->host; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == '/' || *p == '@' || (unsigned char)*p >= 0x7f)
			return sbx_error_set(SBX_EINVAL, "secret '%s': bad host '%s'", s->name, spec);
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	}
	return 0;
}

/* "x-api-key" or "Authorization: Bearer" (header, then a value prefix and a space). */
static int parse_header(struct sbx_secret *s, const char *spec)
{
	const char *colon = strchr(spec, ':'), *p, *rest;
	size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);

	while (nlen && (spec[nlen - 1] == ' ' || spec[nlen - 1] == '\t'))
		nlen--;
	if (!nlen)
		return sbx_error_set(SBX_EINVAL, "secret '%s': empty header name", s->name);
	for (p = spec; p < spec + nlen; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *p)))
			return sbx_error_set(SBX_EINVAL, "secret '%s': bad header name '%s'", s->name, spec);
	s->header = strndup(spec, nlen);
	rest = colon ? colon + 1 : "";
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (*rest) {
		size_t rl = strlen(rest);

		while (rl && (rest[rl - 1] == ' ' || rest[rl - 1] == '\t'))
			rl--;
		for (p = rest; p < rest + rl; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return sbx_error_set(SBX_EINVAL, "secret '%s': bad header '%s'", s->name, spec);
		if (asprintf(&s->prefix, "%.*s ", (int)rl, rest) < 0)
			s->prefix = NULL;
	} else {
		s->prefix = strdup("");
	}
	if (!s->header || !s->prefix)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	return 0;
}

int sbx_secret_new(struct sbx_secret **out, const char *name, const char *host, const char *header,
		   const char *env, const char *value, size_t value_len)
{
	static const char hex[] = "0123456789abcdef";
	struct sbx_secret *s;
	unsigned char rnd[16];
	size_t i;
	int err;

	*out = NULL;
	if (!valid_name(name))
		return sbx_error_set(SBX_EINVAL, "bad secret name '%.80s' (letters, digits, '-', '_')", name);
	if (!valid_env(env))
		return sbx_error_set(SBX_EINVAL, "secret '%s': bad variable name '%.80s'", name, env);
	if (value_len == 0 || value_len > SBX_SECRET_VALUE_MAX)
		return sbx_error_set(SBX_EINVAL, "secret '%s': the value is empty or over %u bytes", name,
				     SBX_SECRET_VALUE_MAX);
	for (i = 0; i < value_len; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return sbx_error_set(SBX_EINVAL, "secret '%s': the value has a control character", name);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return sbx_error_errno(SBX_EIO, "getrandom");
	s = calloc(1, sizeof(*s));
	if (!s)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (!(s->name = strdup(name)) || !(s->env = strdup(env)) || !(s->value = malloc(value_len + 1))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	/* Best effort: kept out of swap where RLIMIT_MEMLOCK allows. */
	(void)mlock(s->value, value_len + 1);
	memcpy(s->value, value, value_len);
	s->value[value_len] = '\0';
	s->value_len = value_len;
	if ((err = parse_host(s, host)) || (err = parse_header(s, header)))
		goto out;
	i = (size_t)snprintf(s->sentinel, sizeof(s->sentinel), SBX_SENTINEL_PREFIX "%s-", name);
	for (size_t k = 0; k < sizeof(rnd); k++) {
		s->sentinel[i++] = hex[rnd[k] >> 4];
		s->sentinel[i++] = hex[rnd[k] & 15];
	}
	s->sentinel[i] = '\0';
	s->sentinel_len = i;
	*out = s;
	s = NULL;
out:
	sbx_secret_free(s);
	return err;
}

bool sbx_secret_for_host(const struct sbx_secret *s, const char *host, uint16_t port)
{
	size_t hl = strlen(host);

	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host++;
		hl -= 2;
	}
	return strlen(s->host) == hl && !strncasecmp(s->host, host, hl) && (!s->port || s->port == port);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Run `command` by /bin/sh -c in its own process group, stdin /dev/null,
 * stderr inherited (a password prompt shows), stdout read into a locked
 * buffer: at most SBX_SECRET_VALUE_MAX bytes and SBX_SECRET_COMMAND_TIMEOUT_MS.
 */
static int run_command(char **out, size_t *out_len, const char *name, const char *command,
		       unsigned timeout_ms)
{
	size_t cap = SBX_SECRET_VALUE_MAX + 1, n = 0;
	char *buf = malloc(cap);
	int fds[2] = { -1, -1 }, status = 0, err = 0;
	uint64_t deadline = now_ms() + timeout_ms;
	pid_t pid = -1;

	*out = NULL;
	if (!buf)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	(void)mlock(buf, cap);
	if (pipe2(fds, O_CLOEXEC)) {
		err = sbx_error_errno(SBX_EIO, "secret '%s': pipe", name);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = sbx_error_errno(SBX_EIO, "secret '%s': fork", name);
		goto out;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(fds[1], 1) < 0)
			_exit(127);
		/* The password manager gets stdin, stdout and stderr, none of our other fds. */
		closefrom(3);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	close(fds[1]);
	fds[1] = -1;
	for (;;) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		uint64_t t = now_ms();
		ssize_t r;
		int pr;

		if (t >= deadline) {
			err = sbx_error_set(SBX_ETIMEDOUT, "secret '%s': command took over %u ms", name, timeout_ms);
			goto out;
		}
		pr = poll(&pfd, 1, (int)(deadline - t));
		if (pr < 0 && errno != EINTR) {
			err = sbx_error_errno(SBX_EIO, "secret '%s': poll", name);
			goto out;
		}
		if (pr <= 0)
			continue;
		r = read(fds[0], buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = sbx_error_errno(SBX_EIO, "secret '%s': reading the command's output", name);
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			err = sbx_error_set(SBX_ELIMIT, "secret '%s': command printed over %u bytes", name,
					    SBX_SECRET_VALUE_MAX);
			goto out;
		}
	}
	/* Output closed: the shell exits soon; it gets the rest of the deadline. */
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			err = sbx_error_errno(SBX_ERROR, "secret '%s': waitpid", name);
			pid = -1;
			goto out;
		}
		if (now_ms() >= deadline) {
			err = sbx_error_set(SBX_ETIMEDOUT, "secret '%s': command took over %u ms", name, timeout_ms);
			goto out;
		}
		usleep(5000);
	}
	pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		err = sbx_error_set(SBX_ERROR, "secret '%s': command failed (%s %d)", name,
				    WIFEXITED(status) ? "exit status" : "signal",
				    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		goto out;
	}
	if (n && buf[n - 1] == '\n')
		n--;
	if (n && buf[n - 1] == '\r')
		n--;
	*out = buf;
	*out_len = n;
	buf = NULL;
out:
	if (pid > 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (buf) {
		explicit_bzero(buf, cap);
		munlock(buf, cap);
		free(buf);
	}
	return err;
}

static int add(struct sbx_secrets *ss, struct sbx_secret *s)
{
	struct sbx_secret **nv = realloc(ss->v, (ss->n + 1) * sizeof(*nv));

	if (!nv) {
		sbx_secret_free(s);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	ss->v = nv;
	ss->v[ss->n++] = s;
	return 0;
}

/* The value from $var: SBX_ENOTFOUND (with the message users see) when unset or empty. */
static int from_env(const char **out, const char *name, const char *var)
{
	const char *v = getenv(var);

	if (!v || !*v)
		return sbx_error_set(SBX_ENOTFOUND, "secret '%s': $%s is not set on the host", name, var);
	*out = v;
	return 0;
}

static int cfg_str(struct sbx_config *cfg, const char *name, const char *var, char **out)
{
	char key[256];
	int err;

	snprintf(key, sizeof(key), "sbx-secret.%s.%s", name, var);
	err = sbx_config_string(cfg, key, out);
	return err == SBX_ENOTFOUND ? (*out = NULL, 0) : err;
}

static int load_one(struct sbx_secrets *ss, struct sbx_config *cfg, const char *name)
{
	char *host = NULL, *header = NULL, *env = NULL, *from = NULL, *command = NULL, *value = NULL;
	const char *v = NULL;
	size_t vlen = 0;
	struct sbx_secret *s = NULL;
	bool allow_http = false;
	uint64_t timeout_ms = SBX_SECRET_COMMAND_TIMEOUT_MS;
	char key[256];
	int err;

	if (!valid_name(name))
		return sbx_error_set(SBX_EINVAL, "bad secret name 'sbx-secret.%.80s' (letters, digits, '-', '_')", name);
	if ((err = cfg_str(cfg, name, "host", &host)) || (err = cfg_str(cfg, name, "header", &header)) ||
	    (err = cfg_str(cfg, name, "env", &env)) || (err = cfg_str(cfg, name, "fromenv", &from)) ||
	    (err = cfg_str(cfg, name, "command", &command)))
		goto out;
	snprintf(key, sizeof(key), "sbx-secret.%s.allowhttp", name);
	if ((err = sbx_config_bool(cfg, key, &allow_http)) && err != SBX_ENOTFOUND)
		goto out;
	snprintf(key, sizeof(key), "sbx-secret.%s.timeout", name);
	if ((err = sbx_config_duration_ms(cfg, key, &timeout_ms)) && err != SBX_ENOTFOUND)
		goto out;
	if (timeout_ms == 0 || timeout_ms > 600000) {
		err = sbx_error_set(SBX_EINVAL, "secret '%s': timeout must be within 10 minutes", name);
		goto out;
	}
	if (!host || !header || !env) {
		err = sbx_error_set(SBX_EINVAL, "secret '%s': sbx-secret.%s.%s is not set", name, name,
				    !host ? "host" : !header ? "header" : "env");
		goto out;
	}
	if (from && command) {
		err = sbx_error_set(SBX_EINVAL, "secret '%s': both fromEnv and command are set", name);
		goto out;
	}
	if (command) {
		if ((err = run_command(&value, &vlen, name, command, (unsigned)timeout_ms)))
			goto out;
		v = value;
		if (!vlen) {
			err = sbx_error_set(SBX_ENOTFOUND, "secret '%s': its command printed nothing", name);
			goto out;
		}
	} else {
		if ((err = from_env(&v, name, from ? from : env)))
			goto out;
		vlen = strlen(v);
	}
	if ((err = sbx_secret_new(&s, name, host, header, env, v, vlen)))
		goto out;
	s->allow_http = allow_http;
	err = add(ss, s);
out:
	if (value) {
		explicit_bzero(value, SBX_SECRET_VALUE_MAX + 1);
		munlock(value, SBX_SECRET_VALUE_MAX + 1);
		free(value);
	}
	free(host);
	free(header);
	free(env);
	free(from);
	free(command);
	return err;
}

static bool named(const struct sbx_secrets *ss, const char *name, const char *env)
{
	size_t i;

	for (i = 0; i < ss->n; i++)
		if (!strcmp(ss->v[i]->name, name) || !strcmp(ss->v[i]->env, env))
			return true;
	return false;
}

int sbx_secrets_load(struct sbx_secrets *out, struct sbx_config *cfg, const char *agent)
{
	struct sbx_secrets ss = SBX_SECRETS_INIT;
	const struct sbx_secret_preset *p;
	char **names = NULL;
	size_t nnames = 0, np, i, optional_found = 0, optional_total = 0;
	int err = 0;

	out->v = NULL;
	out->n = 0;
	if (cfg && (err = sbx_config_subsections(cfg, "sbx-secret", &names, &nnames)))
		return err;
	for (i = 0; i < nnames; i++)
		if ((err = load_one(&ss, cfg, names[i])))
			goto out;
	p = sbx_secret_presets(agent, &np);
	for (i = 0; i < np; i++) {
		struct sbx_secret *s;
		const char *v = NULL;

		if (named(&ss, p[i].name, p[i].env))
			continue;
		if (p[i].optional) {
			optional_total++;
			if (!getenv(p[i].env) || !*getenv(p[i].env))
				continue;
			optional_found++;
		}
		if ((err = from_env(&v, p[i].name, p[i].env)))
			goto out;
		if ((err = sbx_secret_new(&s, p[i].name, p[i].host, p[i].header, p[i].env, v, strlen(v))) ||
		    (err = add(&ss, s)))
			goto out;
	}
	if (optional_total && !optional_found) {
		err = sbx_error_set(SBX_ENOTFOUND, "agent '%s' needs one of its model API keys: none of "
				    "%s%s%s is set on the host", agent, p[0].env, np > 1 ? ", " : "",
				    np > 1 ? p[1].env : "");
		goto out;
	}
	*out = ss;
	ss.v = NULL;
	ss.n = 0;
out:
	sbx_strv_free(names, nnames);
	sbx_secrets_clear(&ss);
	return err;
}

void sbx_secrets_clear(struct sbx_secrets *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		sbx_secret_free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}
