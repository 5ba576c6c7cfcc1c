// SPDX-License-Identifier: MIT
/* A task's network: policy, proxy, secrets, CA, audit (sbx/task-net.h). */
#include "sbx/task-net.h"
#include "sbx/audit.h"
#include "sbx/config.h"
#include "sbx/fsutil.h"
#include "sbx/mitm.h"
#include "sbx/policy.h"
#include "sbx/proxy.h"
#include "sbx/proxy-upstream.h"
#include "sbx/secret.h"
#include "sbx/task.h"
#include "sbx/tls-ca.h"
#include "util/error.h"
#include "util/log.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct sbx_task_net {
	struct sbx_policy *policy;
	struct sbx_proxy *proxy;
	struct sbx_audit *audit;
	struct sbx_tls_ca *ca;
	struct sbx_secrets secrets;
	char *extra_ca_file;
	struct sbx_proxy_upstream upstream;	/* the host's own proxy, when has_upstream */
	bool has_upstream;
	/* The sampler: a stats record every SAMPLE_MS while the VM runs. */
	pthread_t sampler;
	bool sampling;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	pid_t pid;
	char *disk;
	uint64_t cpu_ms;	/* the VM's, at the last sample */
};

#define SAMPLE_MS 5000

/* The egress rule an agent's model API needs. */
static const struct {
	const char *agent, *preset;
} agent_presets[] = {
	{ "claude", "anthropic" },
	{ "codex", "openai" },
	{ "gemini", "google" },
	{ "aider", "anthropic" },
	{ "aider", "openai" },
};

static bool intercept(void *opaque, const char *host, uint16_t port)
{
	const struct sbx_task_net *n = opaque;
	size_t i;

	if (!n->ca)
		return false;
	for (i = 0; i < n->secrets.n; i++)
		if (sbx_secret_for_host(n->secrets.v[i], host, port))
			return true;
	return false;
}

static int mitm(void *opaque, struct sbx_proxy_mitm *m)
{
	struct sbx_task_net *n = opaque;
	struct sbx_mitm_config mc = SBX_MITM_CONFIG_INIT;
	struct sbx_mitm_result res;
	int err;

	memset(&res, 0, sizeof(res));
	mc.ca = n->ca;
	mc.host = m->host;
	mc.port = m->port;
	mc.secrets = (const struct sbx_secret *const *)n->secrets.v;
	mc.nsecrets = n->secrets.n;
	mc.extra_ca_file = n->extra_ca_file;
	err = sbx_mitm_relay(m->client_fd, m->upstream_fd, m->first, m->nfirst, &mc, &res);
	m->bytes_up = res.bytes_up;
	m->bytes_down = res.bytes_down;
	if (res.reason[0])
		snprintf(m->reason, sizeof(m->reason), "%s%s", res.exfil_blocked ? "exfiltration: " : "",
			 res.reason);
	else
		snprintf(m->reason, sizeof(m->reason), "intercepted: %u request%s, key added",
			 res.requests, res.requests == 1 ? "" : "s");
	return err;
}

/* Every connection, allowed or not, goes to the audit file. */
static void on_event(void *opaque, const struct sbx_net_event *ev)
{
	struct sbx_task_net *n = opaque;

	sbx_audit_net_event(n->audit, ev);
}

static int add_rules(struct sbx_policy *p, char **v, size_t n, const char *origin, bool preset)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		err = preset ? sbx_policy_add_preset(p, v[i]) : sbx_policy_add_rule(p, v[i], origin);
		if (err)
			return sbx_error_prefix(err, "%s", origin);
	}
	return 0;
}

static int read_config(struct sbx_task_net *n, struct sbx_config *cfg)
{
	char **v = NULL;
	size_t nv = 0;
	int err;

	if (!cfg)
		return 0;
	err = sbx_config_strings(cfg, "sbx.allow", &v, &nv);
	if (!err)
		err = add_rules(n->policy, v, nv, "sbx.allow", false);
	sbx_strv_free(v, nv);
	if (err && err != SBX_ENOTFOUND)
		return err;
	v = NULL;
	nv = 0;
	err = sbx_config_strings(cfg, "sbx.allowPreset", &v, &nv);
	if (!err)
		err = add_rules(n->policy, v, nv, "sbx.allowPreset", true);
	sbx_strv_free(v, nv);
	if (err && err != SBX_ENOTFOUND)
		return err;
	v = NULL;
	nv = 0;
	err = sbx_config_strings(cfg, "sbx.resolve", &v, &nv);
	if (!err) {
		size_t i;

		for (i = 0; i < nv && !err; i++)
			if ((err = sbx_policy_add_resolve(n->policy, v[i])))
				sbx_error_prefix(err, "sbx.resolve");
	}
	sbx_strv_free(v, nv);
	if (err && err != SBX_ENOTFOUND)
		return err;
	err = sbx_config_string(cfg, "sbx.upstreamCA", &n->extra_ca_file);
	if (err && err != SBX_ENOTFOUND)
		return err;
	return 0;
}

int sbx_task_net_open(struct sbx_task_net **out, struct sbx_config *cfg,
		      const struct sbx_task *task, const struct sbx_task_net_opts *o)
{
	struct sbx_proxy_config pc = SBX_PROXY_CONFIG_INIT;
	struct sbx_task_net *n;
	char id[16], *path = NULL;
	size_t i;
	int err;

	*out = NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	if ((err = sbx_policy_new(&n->policy)))
		goto fail;
	for (i = 0; o->agent && i < sizeof(agent_presets) / sizeof(agent_presets[0]); i++)
		if (!strcmp(o->agent, agent_presets[i].agent) &&
		    (err = sbx_policy_add_preset(n->policy, agent_presets[i].preset)))
			goto fail;
	if ((err = read_config(n, cfg)))
		goto fail;
	for (i = 0; i < o->nallow; i++)
		if ((err = sbx_policy_add_rule(n->policy, o->allow[i], "--allow"))) {
			sbx_error_prefix(err, "--allow");
			goto fail;
		}
	for (i = 0; i < o->npresets; i++)
		if ((err = sbx_policy_add_preset(n->policy, o->presets[i]))) {
			sbx_error_prefix(err, "--allow-preset");
			goto fail;
		}
	if (!task && !o->audit_path) {
		err = sbx_error_set(SBX_EINVAL, "a network without a task needs an audit file");
		goto fail;
	}
	if (!o->no_secrets && (err = sbx_secrets_load(&n->secrets, cfg, o->agent)))
		goto fail;
	snprintf(id, sizeof(id), "%u", task ? task->id : 0);
	if (n->secrets.n && (err = sbx_tls_ca_new(&n->ca, id)))
		goto fail;

	path = task ? sbx_audit_path(task) : strdup(o->audit_path);
	if (!path) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = sbx_audit_open(&n->audit, path)))
		goto fail;
	for (i = 0; i < n->secrets.n; i++)
		if ((err = sbx_audit_redact(n->audit, n->secrets.v[i]->value)))
			goto fail;

	pc.policy = n->policy;
	pc.event = on_event;
	pc.opaque = n;
	pc.intercept = intercept;
	pc.mitm = mitm;
	err = sbx_proxy_upstream_from_env(&n->upstream);
	if (err < 0)
		goto fail;
	n->has_upstream = err == 1;
	pc.upstream = n->has_upstream ? &n->upstream : NULL;
	pc.secrets = (const struct sbx_secret *const *)n->secrets.v;
	pc.nsecrets = n->secrets.n;
	if ((err = sbx_proxy_new(&n->proxy, &pc)))
		goto fail;
	free(path);
	*out = n;
	return 0;
fail:
	free(path);
	sbx_task_net_free(n);
	return err;
}

static void sample(struct sbx_task_net *n)
{
	struct sbx_audit_stats st;

	if (sbx_audit_sample(&st, n->pid, n->disk))
		return;	/* the VM may just have ended */
	if (n->pid)
		n->cpu_ms = st.cpu_ms;
	else
		st.cpu_ms = n->cpu_ms;	/* the last record: the VM's CPU time in all */
	sbx_proxy_bytes_split(n->proxy, &st.net_up, &st.net_down);
	sbx_audit_stats(n->audit, &st);
}

static void *sampler(void *arg)
{
	struct sbx_task_net *n = arg;

	pthread_mutex_lock(&n->lock);
	while (!n->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += SAMPLE_MS / 1000;
		if (pthread_cond_timedwait(&n->cond, &n->lock, &ts) == 0 && n->stop)
			break;
		pthread_mutex_unlock(&n->lock);
		sample(n);
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int sbx_task_net_sample_start(struct sbx_task_net *n, pid_t pid, const char *disk)
{
	n->pid = pid;
	n->disk = disk ? strdup(disk) : NULL;
	if (pthread_create(&n->sampler, NULL, sampler, n))
		return sbx_error_set(SBX_ERROR, "cannot start the resource sampler");
	n->sampling = true;
	return 0;
}

void sbx_task_net_sample_stop(struct sbx_task_net *n)
{
	if (!n || !n->sampling)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->sampler, NULL);
	n->sampling = false;
	n->pid = 0;
	sample(n);	/* the last word: the disk and the network totals */
}

void sbx_task_net_free(struct sbx_task_net *n)
{
	if (!n)
		return;
	sbx_task_net_sample_stop(n);
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->cond);
	free(n->disk);
	sbx_proxy_free(n->proxy);
	sbx_audit_close(n->audit);
	sbx_tls_ca_free(n->ca);
	sbx_secrets_clear(&n->secrets);
	sbx_policy_free(n->policy);
	free(n->extra_ca_file);
	free(n);
}

int sbx_task_net_stream_open(void *opaque, uint32_t stream, int *fd_out)
{
	struct sbx_task_net *n = opaque;
	int sv[2], err;

	(void)stream;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return sbx_error_errno(SBX_EIO, "cannot make a socket pair for a guest connection");
	if ((err = sbx_proxy_accept(n->proxy, sv[1]))) {
		close(sv[0]);
		return err;
	}
	*fd_out = sv[0];
	return 0;
}

int sbx_task_net_env(const struct sbx_task_net *n,
		     int (*add)(void *opaque, const char *name, const char *value), void *opaque)
{
	size_t i;
	int err;

	for (i = 0; i < n->secrets.n; i++)
		if ((err = add(opaque, n->secrets.v[i]->env, n->secrets.v[i]->sentinel)))
			return err;
	if (!n->ca)
		return 0;
	if ((err = add(opaque, "NODE_EXTRA_CA_CERTS", SBX_TASK_NET_GUEST_CA)) ||
	    (err = add(opaque, "SSL_CERT_FILE", SBX_TASK_NET_GUEST_BUNDLE)) ||
	    (err = add(opaque, "REQUESTS_CA_BUNDLE", SBX_TASK_NET_GUEST_BUNDLE)) ||
	    (err = add(opaque, "CURL_CA_BUNDLE", SBX_TASK_NET_GUEST_BUNDLE)) ||
	    (err = add(opaque, "GIT_SSL_CAINFO", SBX_TASK_NET_GUEST_BUNDLE)))
		return err;
	return 0;
}

const char *sbx_task_net_ca_pem(const struct sbx_task_net *n)
{
	return n->ca ? sbx_tls_ca_pem(n->ca) : NULL;
}

struct sbx_audit *sbx_task_net_audit(const struct sbx_task_net *n)
{
	return n->audit;
}

size_t sbx_task_net_rules(const struct sbx_task_net *n)
{
	return sbx_policy_rule_count(n->policy);
}

uint64_t sbx_task_net_bytes(const struct sbx_task_net *n)
{
	return sbx_proxy_bytes(n->proxy);
}
