/* SPDX-License-Identifier: MIT */
/*
 * A task's network: the policy, the egress proxy its guest's connections
 * reach through the channel, the secrets and the per-task CA that
 * intercepts the hosts carrying one, and the audit file every connection
 * is recorded in (docs/design.md, "The network of a task").
 *
 * Rules come from, in order: the agent's preset (claude: anthropic, ...),
 * git config sbx.allow and sbx.allowPreset (multi-valued), then --allow
 * and --allow-preset.  sbx.resolve (HOST:PORT:IP, multi-valued) points a
 * name at an address the way curl --resolve does; sbx.upstreamCA names a
 * PEM file of extra CAs trusted upstream (a company proxy's, a test's).
 */
#ifndef SBX_SBX_TASK_NET_H
#define SBX_SBX_TASK_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sbx_config;
struct sbx_task;
struct sbx_audit;

struct sbx_task_net_opts {
	const char *const *allow;	/* --allow HOST[:PORT] */
	size_t nallow;
	const char *const *presets;	/* --allow-preset NAME */
	size_t npresets;
	const char *agent;		/* the agent's label: a preset name brings its rule and secret */
	/*
	 * A warm base's build (sbx/warm-build.c) has no task: its audit file
	 * is this path, and it gets git config's rules only, no secret.
	 */
	const char *audit_path;		/* with task NULL */
	bool no_secrets;
};
#define SBX_TASK_NET_OPTS_INIT { NULL, 0, NULL, 0, NULL, NULL, false }

struct sbx_task_net;

/*
 * Everything is made here, the secrets' values read (a missing one is an
 * error).  `task` may be NULL with o->audit_path.
 */
int sbx_task_net_open(struct sbx_task_net **out, struct sbx_config *cfg,
		      const struct sbx_task *task, const struct sbx_task_net_opts *o);
/* Ends every connection first, then the audit file. */
void sbx_task_net_free(struct sbx_task_net *n);

/* An sbx_stream_open_fn (sbx/channel.h): opaque is the struct sbx_task_net. */
int sbx_task_net_stream_open(void *opaque, uint32_t stream, int *fd_out);

/* The agent's environment: the secrets' sentinels and where the CA is. */
int sbx_task_net_env(const struct sbx_task_net *n,
		     int (*add)(void *opaque, const char *name, const char *value), void *opaque);
/* The task CA's certificate (PEM) to install in the guest, or NULL when no secret needs it. */
const char *sbx_task_net_ca_pem(const struct sbx_task_net *n);
/* Where the guest keeps it (the agent's NODE_EXTRA_CA_CERTS). */
#define SBX_TASK_NET_GUEST_CA "/usr/local/share/ca-certificates/git-sbx-task.crt"
#define SBX_TASK_NET_GUEST_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/*
 * While the VM runs: a stats record (the VM process's CPU and memory, the
 * task disk's size, the proxy's bytes) every 5 s; stop (before the VM's,
 * which counts our threads) writes a last one.
 */
int sbx_task_net_sample_start(struct sbx_task_net *n, pid_t pid, const char *disk);
void sbx_task_net_sample_stop(struct sbx_task_net *n);

struct sbx_audit *sbx_task_net_audit(const struct sbx_task_net *n);
size_t sbx_task_net_rules(const struct sbx_task_net *n);
uint64_t sbx_task_net_bytes(const struct sbx_task_net *n);

#endif
