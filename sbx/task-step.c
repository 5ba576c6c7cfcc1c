// SPDX-License-Identifier: MIT
/*
 * What every step of a task's session uses (sbx/task-run-int.h): the
 * clock, progress lines, the task log with its cap and the tail of a
 * step's stderr, and running one step's command in the guest with its
 * deadlines and audit record.
 */
#include "sbx/task-run-int.h"
#include "sbx/audit.h"
#include "sbx/sandbox.h"
#include "sbx/task.h"
#include "sbx/task-env.h"
#include "sbx/task-net.h"
#include "util/error.h"
#include "util/log.h"
#include "util/quote.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t run_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void run_progress(struct run *r, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!r->o->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->o->progress(r->o->progress_opaque, buf);
}

void run_write_log(struct run *r, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (r->log_fd < 0 || r->res->log_truncated)
		return;
	if (r->log_bytes + len > r->log_max) {
		char note[160];
		int n;

		len = (size_t)(r->log_max - r->log_bytes);
		r->res->log_truncated = true;
		n = snprintf(note, sizeof(note),
			     "\n[git-sbx: output over sbx.maxLogSize (%llu bytes); the rest was discarded]\n",
			     (unsigned long long)r->log_max);
		if (len && write(r->log_fd, p, len) < 0)
			return;
		if (write(r->log_fd, note, (size_t)n) < 0)
			return;
		if (r->o->output)
			r->o->output(r->o->output_opaque, 2, (const uint8_t *)note, (size_t)n);
		r->log_bytes = r->log_max;
		return;
	}
	while (len) {
		ssize_t w = write(r->log_fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;	/* the log is best effort; the task goes on */
		p += w;
		len -= (size_t)w;
		r->log_bytes += (uint64_t)w;
	}
}

/* The last line of a step's stderr, printable, for an error message. */
const char *run_tail_line(struct run *r)
{
	return sbx_tail_last_line(r->tail, r->tail_len);
}

/* A step's output: stderr into the log and the tail; stdout discarded. */
int run_step_sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct run *r = opaque;

	if (fd == 2) {
		sbx_tail_add(r->tail, &r->tail_len, TAIL_MAX, data, len);
		run_write_log(r, data, len);
	}
	return 0;
}


int run_env_init(struct envb *e, struct run *r)
{
	size_t i;
	int err = 0;

	memset(e, 0, sizeof(*e));
	for (i = 0; i < NBASE_ENV; i++)
		e->v[e->n++] = (char *)sbx_task_base_env[i];
	if ((err = env_add(e, "SBX_TASK_ID", r->id)) || (err = env_add(e, "SBX_BASE", r->base_hex)) ||
	    (err = env_add(e, "SBX_BRANCH", r->task->branch)) ||
	    (err = env_add(e, "SBX_PROMPT_FILE", "/run/sbx/prompt")))
		env_free(e);
	return err;
}

int run_exec_step_timeout(struct run *r, const char *what, const char *const *argv,
			     const char *const *env, bool as_agent, const uint8_t *in,
			     size_t in_len, int in_fd, sbx_sink_fn sink,
			     struct sbx_exec_result *res, uint64_t timeout_ms)
{
	struct sbx_exec_opts eo = SBX_EXEC_OPTS_INIT;
	uint64_t t0;
	int err;

	/*
	 * A task disk at sbx.diskLimit answers every write with an I/O error,
	 * and the guest's file system can then sit in writeback for as long
	 * as it is given: past that point a step gets the sweep's minute, not
	 * the transfer's ten.
	 */
	if (r->sb && sbx_sandbox_disk_full(r->sb) && timeout_ms > SWEEP_TIMEOUT_MS)
		timeout_ms = SWEEP_TIMEOUT_MS;
	eo.argv = argv;
	eo.env = env;
	eo.cwd = as_agent ? "/workspace" : "/";
	eo.set_user = as_agent;
	eo.uid = eo.gid = AGENT_UID;
	eo.timeout_ms = timeout_ms;
	eo.host_timeout_ms = timeout_ms + HOST_GRACE_MS;
	eo.start_timeout_ms = START_TIMEOUT_MS;
	eo.stdin_fd = in_fd;
	eo.stdin_buf = in;
	eo.stdin_len = in_len;
	eo.sink = sink ? sink : run_step_sink;
	eo.opaque = r;
	r->tail_len = 0;
	r->tail[0] = 0;
	t0 = run_mono_ms();
	err = sbx_session_exec(r->s, &eo, res);
	if (r->net) {
		/* git-sbx's own steps are recorded by what they do, not by their scripts. */
		const char *shown[] = { "git-sbx:", what, NULL };
		struct sbx_audit_exec ae = { 0 };

		ae.argv = shown;
		ae.exit_code = err ? -1 : res->code;
		ae.duration_ms = run_mono_ms() - t0;
		ae.timed_out = err == SBX_ETIMEDOUT || (res->flags & PROTO_EXIT_TIMEOUT);
		sbx_audit_exec(sbx_task_net_audit(r->net), &ae);
	}
	if (err == SBX_ETIMEDOUT) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", sbx_error());
		return sbx_error_set(err, "%s (while %s)", msg, what);
	}
	if (err)
		return sbx_error_prefix(err, "%s", what);
	return 0;
}

int run_exec_step(struct run *r, const char *what, const char *const *argv,
		     const char *const *env, bool as_agent, const uint8_t *in, size_t in_len,
		     int in_fd, sbx_sink_fn sink, struct sbx_exec_result *res)
{
	return run_exec_step_timeout(r, what, argv, env, as_agent, in, in_len, in_fd, sink, res,
				 SBX_TASK_TRANSFER_TIMEOUT_MS);
}
