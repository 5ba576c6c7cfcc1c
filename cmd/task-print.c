// SPDX-License-Identifier: MIT
#include "cmd/task-print.h"
#include "cmd/builtin.h"
#include "cmd/pager.h"
#include "sbx/audit.h"
#include "sbx/gate.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/json.h"
#include "util/quote.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sbx_task *open_task_or_die(struct cmd_ctx *ctx, const char *arg)
{
	struct sbx_task *t = NULL;
	unsigned id;

	if (sbx_task_parse_id(&id, arg))
		die("%s", sbx_error());
	if (sbx_task_open(&t, ctx->repo, id))
		die("%s", sbx_error());
	return t;
}

const char *task_state_label(const struct sbx_task *t)
{
	if (t->state == SBX_TASK_RUNNING && !sbx_task_running(t))
		return "interrupted";
	return sbx_task_state_name(t->state);
}

const char *task_state_color(const struct sbx_task *t)
{
	const char *label = task_state_label(t);

	if (!strcmp(label, "done"))
		return COLOR_GREEN;
	if (!strcmp(label, "accepted"))
		return COLOR_BOLD COLOR_GREEN;
	if (!strcmp(label, "running") || !strcmp(label, "created"))
		return COLOR_YELLOW;
	if (!strcmp(label, "rejected"))
		return COLOR_FAINT COLOR_RED;
	return COLOR_RED;
}

void print_task_review(const struct sbx_task *t)
{
	char when[64];
	time_t secs = (time_t)(t->reviewed_ms / 1000);
	struct tm tm;

	if (!t->reviewed_ms || (t->state != SBX_TASK_ACCEPTED && t->state != SBX_TASK_REJECTED))
		return;
	localtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
	printf("%-10s%s by ", t->state == SBX_TASK_ACCEPTED ? "accepted:" : "rejected:", when);
	sbx_quote_fputs(t->reviewer ? t->reviewer : "(unknown)", stdout);
	if (t->state == SBX_TASK_ACCEPTED && t->accept_into) {
		const char *into = t->accept_into;

		if (!strncmp(into, "refs/heads/", 11))
			into += 11;
		fputs(" into ", stdout);
		sbx_quote_fputs(into, stdout);
		if (t->accept_mode) {
			fputs(" (", stdout);
			sbx_quote_fputs(t->accept_mode, stdout);
			putchar(')');
		}
		if (t->has_accept_commit)
			printf(" at %.12s", git_oid_tostr_s(&t->accept_commit));
	}
	putchar('\n');
}

void format_age(char *buf, size_t n, int64_t ms)
{
	struct timespec ts;
	int64_t now, d;

	if (!ms) {
		snprintf(buf, n, "-");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	d = (now - ms) / 1000;
	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(buf, n, "%llds ago", (long long)d);
	else if (d < 3600)
		snprintf(buf, n, "%lldm ago", (long long)(d / 60));
	else if (d < 86400)
		snprintf(buf, n, "%lldh ago", (long long)(d / 3600));
	else
		snprintf(buf, n, "%lldd ago", (long long)(d / 86400));
}

void format_ms(char *buf, size_t n, uint64_t ms)
{
	if (ms < 1000)
		snprintf(buf, n, "%llums", (unsigned long long)ms);
	else
		snprintf(buf, n, "%.1fs", (double)ms / 1000.0);
}

void format_phases(char *buf, size_t n, const struct sbx_task *t)
{
	static const char *const names[SBX_STEP_COUNT] = {
		[SBX_STEP_START] = "boot", [SBX_STEP_TRANSFER_IN] = "transfer in",
		[SBX_STEP_AGENT] = "agent", [SBX_STEP_CHECKPOINT] = "checkpoint",
		[SBX_STEP_TRANSFER_OUT] = "transfer out", [SBX_STEP_STOP] = "stop",
		[SBX_STEP_IMPORT] = "import", [SBX_STEP_GATE] = "checks",
		[SBX_STEP_PUBLISH] = "publish",
	};
	size_t used = 0;
	unsigned i;
	char v[16];

	/*
	 * The steps that ran, in order; those that never ran are not shown as
	 * if they took no time, and a session that ended before the import
	 * says so.
	 */
	buf[0] = 0;
	if (!t->steps_ran) {
		snprintf(buf, n, "none measured (the VM did not start)");
		return;
	}
	for (i = 0; i < SBX_STEP_COUNT && used < n; i++) {
		if (!sbx_task_step_ran(t, (enum sbx_task_step)i))
			continue;
		format_ms(v, sizeof(v), t->step_ms[i]);
		used += (size_t)snprintf(buf + used, n - used, "%s%s %s", used ? ", " : "",
					 i == SBX_STEP_START && t->warm ? "restore" : names[i], v);
	}
	if (!sbx_task_step_ran(t, SBX_STEP_IMPORT) && used < n)
		snprintf(buf + used, n - used, " (then it ended)");
}

void format_start(char *buf, size_t n, const struct sbx_task *t)
{
	char age[32], took[16], agent[16];
	size_t used = 0;

	buf[0] = 0;
	if (t->warm) {
		format_age(age, sizeof(age), t->warm_created_ms);
		used += (size_t)snprintf(buf, n, "restored from warm base %.12s (built %s)", t->warm, age);
		if (t->warm_build_ms && used < n) {
			format_ms(took, sizeof(took), t->warm_build_ms);
			used += (size_t)snprintf(buf + used, n - used, "; this task built it first, in %s", took);
		}
	} else if (t->start_note) {
		/* the record holds what the session said; escaped where it is printed */
		used += (size_t)snprintf(buf, n, "%s", t->start_note);
	} else if (sbx_task_step_ran(t, SBX_STEP_START)) {
		used += (size_t)snprintf(buf, n, "booted cold");
	}
	if (sbx_task_step_ran(t, SBX_STEP_START) && sbx_task_step_ran(t, SBX_STEP_TRANSFER_IN) && used < n) {
		format_ms(agent, sizeof(agent), t->warm_build_ms + t->step_ms[SBX_STEP_START] +
			  t->step_ms[SBX_STEP_TRANSFER_IN]);
		snprintf(buf + used, n - used, "; start to agent %s", agent);
	}
}

static json_t *json_oid(const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];

	return json_string(git_oid_tostr(hex, sizeof(hex), id));
}

/* A uint64_t as a JSON integer (jansson's are long long; ours never come near). */
static json_t *json_u64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/*
 * One task as a jansson object: util/json.c turns guest text that is not
 * UTF-8 into U+FFFD and escapes controls (C1 and DEL too) when printed.
 */
const char *checks_label(const struct sbx_task *t)
{
	return t->checks_run ? sbx_check_status_name(t->checks_status) : "-";
}

void print_checks(FILE *f, const struct sbx_task *t, const char *indent, size_t tail_bytes)
{
	struct sbx_check_result *r = NULL;
	char ms[32], *tail = NULL;
	size_t n = 0, len = 0, i;

	if (!t->checks_run)
		return;
	if (sbx_check_results_read(&r, &n, t, t->checks_run)) {
		fprintf(f, "%s(the results cannot be read: %s)\n", indent, sbx_error());
		return;
	}
	for (i = 0; i < n; i++) {
		format_ms(ms, sizeof(ms), r[i].duration_ms);
		fprintf(f, "%s%-5s ", indent, sbx_check_status_name(r[i].status));
		sbx_quote_fputs(r[i].name, f);
		fprintf(f, " (%s)\n", ms);
	}
	sbx_check_results_free(r, n);
	if (t->state == SBX_TASK_CHECKS_FAILED)
		fprintf(f, "%srejected result: refs/sbx/%u/rejected-%u\n", indent, t->id, t->checks_run);
	if (tail_bytes && t->checks_status != SBX_CHECK_PASS &&
	    !sbx_checks_log_tail(&tail, &len, t, t->checks_run, tail_bytes) && len) {
		char *q = sbx_quote_str(tail), *p, *line;

		fprintf(f, "%sthe log's tail (%s/checks/%u.log):\n", indent, t->dir, t->checks_run);
		for (line = q; line && *line; line = p) {
			p = strchr(line, '\n');
			if (p)
				*p++ = 0;
			else
				p = line + strlen(line);
			fprintf(f, "%s  | %s\n", indent, line);
		}
		free(q);
	}
	free(tail);
}

static json_t *checks_json(const struct sbx_task *t)
{
	struct sbx_check_result *r = NULL;
	json_t *o = json_object(), *a = json_array();
	size_t n = 0, i;
	int err = !o || !a;

	if (!err && !sbx_check_results_read(&r, &n, t, t->checks_run))
		for (i = 0; i < n && !err; i++) {
			json_t *c = json_object();

			err = !c;
			err = err ?: sbx_json_set(c, "name", sbx_json_str(r[i].name));
			err = err ?: sbx_json_set(c, "status", sbx_json_str(sbx_check_status_name(r[i].status)));
			err = err ?: sbx_json_set(c, "duration_ms", json_integer((json_int_t)r[i].duration_ms));
			err = err ?: json_array_append_new(a, c);
		}
	sbx_check_results_free(r, n);
	err = err ?: sbx_json_set(o, "run", json_integer(t->checks_run));
	err = err ?: sbx_json_set(o, "status", sbx_json_str(sbx_check_status_name(t->checks_status)));
	err = err ?: sbx_json_set(o, "duration_ms", json_integer((json_int_t)t->checks_ms));
	if (t->state == SBX_TASK_CHECKS_FAILED) {
		char ref[64];

		snprintf(ref, sizeof(ref), "refs/sbx/%u/rejected-%u", t->id, t->checks_run);
		err = err ?: sbx_json_set(o, "rejected", sbx_json_str(ref));
	}
	err = err ?: sbx_json_set(o, "results", a);
	if (err)
		die("out of memory");
	return o;
}

json_t *task_json(const struct sbx_task *t, const struct sbx_task_summary *s)
{
	json_t *o = json_object(), *timing = json_object(), *log;
	int err = 0;
	size_t i;

	if (!o || !timing)
		goto oom;
	err |= sbx_json_set(timing, "boot", json_u64(t->step_ms[SBX_STEP_START]));
	err |= sbx_json_set(timing, "transfer_in", json_u64(t->step_ms[SBX_STEP_TRANSFER_IN]));
	err |= sbx_json_set(timing, "agent", json_u64(t->step_ms[SBX_STEP_AGENT]));
	err |= sbx_json_set(timing, "transfer_out", json_u64(t->step_ms[SBX_STEP_TRANSFER_OUT]));
	/* the import as version 1 records counted it: the objects and the ref */
	err |= sbx_json_set(timing, "import", json_u64(t->step_ms[SBX_STEP_IMPORT] + t->step_ms[SBX_STEP_PUBLISH]));
	{
		json_t *steps = json_object();
		unsigned k;

		if (!steps)
			goto oom;
		for (k = 0; k < SBX_STEP_COUNT; k++)
			if (sbx_task_step_ran(t, (enum sbx_task_step)k))
				err |= sbx_json_set(steps, sbx_task_step_name((enum sbx_task_step)k),
						    json_u64(t->step_ms[k]));
		err |= sbx_json_set(timing, "steps", steps);
	}
	err |= sbx_json_set(o, "id", json_integer(t->id));
	err |= sbx_json_set(o, "state", sbx_json_str(task_state_label(t)));
	err |= sbx_json_set(o, "prompt", sbx_json_str(t->prompt));
	err |= sbx_json_set(o, "base", json_oid(&t->base));
	err |= sbx_json_set(o, "branch", sbx_json_str(t->branch));
	err |= sbx_json_set(o, "worktree", sbx_json_str(t->worktree));
	err |= sbx_json_set(o, "agent", sbx_json_str(t->agent));
	err |= sbx_json_set(o, "image", sbx_json_str(t->image));
	err |= sbx_json_set(o, "created_ms", json_integer(t->created_ms));
	err |= sbx_json_set(o, "started_ms", json_integer(t->started_ms));
	err |= sbx_json_set(o, "finished_ms", json_integer(t->finished_ms));
	err |= sbx_json_set(timing, "start_to_agent",
			    json_u64(t->warm_build_ms + t->step_ms[SBX_STEP_START] +
				     t->step_ms[SBX_STEP_TRANSFER_IN]));
	err |= sbx_json_set(o, "timing_ms", timing);
	timing = NULL;
	if (t->warm) {
		json_t *w = json_object();

		if (!w)
			goto oom;
		err |= sbx_json_set(w, "key", sbx_json_str(t->warm));
		err |= sbx_json_set(w, "created_ms", json_integer(t->warm_created_ms));
		err |= sbx_json_set(w, "build_ms", json_u64(t->warm_build_ms));
		err |= sbx_json_set(o, "warm", w);
	} else {
		err |= sbx_json_set(o, "warm", json_null());
	}
	err |= sbx_json_set(o, "start_note", sbx_json_str(t->start_note));
	err |= sbx_json_set(o, "exit_status", t->exit_status >= 0 ? json_integer(t->exit_status) : json_null());
	err |= sbx_json_set(o, "result", t->has_result ? json_oid(&t->result) : json_null());
	err |= sbx_json_set(o, "error", sbx_json_str(t->error));
	if (t->reviewed_ms) {
		json_t *rv = json_object();

		if (!rv)
			goto oom;
		err |= sbx_json_set(rv, "by", sbx_json_str(t->reviewer));
		err |= sbx_json_set(rv, "at_ms", json_integer(t->reviewed_ms));
		err |= sbx_json_set(rv, "mode", sbx_json_str(t->accept_mode));
		err |= sbx_json_set(rv, "into", sbx_json_str(t->accept_into));
		err |= sbx_json_set(rv, "commit", t->has_accept_commit ? json_oid(&t->accept_commit) : json_null());
		err |= sbx_json_set(o, "review", rv);
	} else {
		err |= sbx_json_set(o, "review", json_null());
	}
	err |= sbx_json_set(o, "checks", t->checks_run ? checks_json(t) : json_null());
	err |= sbx_json_set(o, "attempts", json_integer((json_int_t)t->nattempts));
	err |= sbx_json_set(o, "chosen", t->chosen ? json_integer(t->chosen) : json_null());
	if (s) {
		err |= sbx_json_set(o, "branch_exists", json_boolean(s->branch_exists));
		err |= sbx_json_set(o, "tip", json_oid(&s->tip));
		err |= sbx_json_set(o, "commits", json_u64(s->ncommits));
		err |= sbx_json_set(o, "files_changed", json_u64(s->files_changed));
		err |= sbx_json_set(o, "insertions", json_u64(s->insertions));
		err |= sbx_json_set(o, "deletions", json_u64(s->deletions));
		log = json_array();
		for (i = 0; log && i < s->ncommits_listed; i++)
			if (json_array_append_new(log, sbx_json_str(s->commits[i])))
				err = -1;
		err |= sbx_json_set(o, "log", log);
	}
	if (!err)
		return o;
oom:
	json_decref(timing);
	json_decref(o);
	die("out of memory");
}

void print_task_json(FILE *f, const struct sbx_task *t, const struct sbx_task_summary *s)
{
	print_json_value(f, task_json(t, s));
}

void print_json_value(FILE *f, json_t *o)
{
	if (sbx_json_print(f, o, 0))
		die_sbx("cannot print the task");
	json_decref(o);
}

void print_task_time(const char *label, int64_t ms)
{
	char buf[64], age[32];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms)
		return;
	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %z", &tm);
	format_age(age, sizeof(age), ms);
	printf("%-10s%s (%s)\n", label, buf, age);
}

/* "label:    value", the value escaped: records and commits carry guest text. */
void print_task_field(const char *label, const char *value)
{
	printf("%-10s", label);
	sbx_quote_fputs(value, stdout);
	putchar('\n');
}

void print_task_prompt(const char *prompt)
{
	char *q = sbx_quote_str(prompt), *p;

	if (!q)
		die("out of memory");
	fputs("prompt:\n    ", stdout);
	for (p = q; *p; p++) {
		putchar(*p);
		if (*p == '\n' && p[1])
			fputs("    ", stdout);
	}
	putchar('\n');
	free(q);
}

json_t *task_audit_json(const struct sbx_audit_summary *a)
{
	json_t *o = json_object();
	int err = !o;

	err = err ?: sbx_json_set(o, "allowed", json_integer((json_int_t)a->conns_allowed));
	err = err ?: sbx_json_set(o, "denied", json_integer((json_int_t)a->conns_denied));
	err = err ?: sbx_json_set(o, "bytes_up", json_integer((json_int_t)a->bytes_up));
	err = err ?: sbx_json_set(o, "bytes_down", json_integer((json_int_t)a->bytes_down));
	err = err ?: sbx_json_set(o, "commands", json_integer((json_int_t)a->execs));
	if (err)
		die("out of memory");
	return o;
}

