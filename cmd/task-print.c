// SPDX-License-Identifier: MIT
#include "cmd/task-print.h"
#include "cmd/builtin.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/quote.h"

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
	const uint64_t ms[] = { t->boot_ms, t->transfer_in_ms, t->agent_ms, t->transfer_out_ms,
				t->import_ms };
	static const char *const names[] = { "boot", "transfer in", "agent", "transfer out", "import" };
	size_t i, last = 0, used = 0;
	char v[16];

	/*
	 * The phases run in order and a measured one is never 0 ms except by
	 * rounding; those after the last measured one never ran, and are not
	 * shown as if they took no time.
	 */
	for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		if (ms[i])
			last = i + 1;
	buf[0] = 0;
	if (!last) {
		snprintf(buf, n, "none measured (the VM did not start)");
		return;
	}
	for (i = 0; i < last && used < n; i++) {
		format_ms(v, sizeof(v), ms[i]);
		used += (size_t)snprintf(buf + used, n - used, "%s%s %s", i ? ", " : "", names[i], v);
	}
	if (last < sizeof(ms) / sizeof(ms[0]) && used < n)
		snprintf(buf + used, n - used, " (then it ended)");
}

/*
 * Controls (C0, DEL and C1) as \u escapes, so the JSON is safe on a
 * terminal too; bytes that are not UTF-8 (JSON text must be) as U+FFFD.
 */
void json_str(FILE *f, const char *s)
{
	const unsigned char *p;
	size_t n;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	p = (const unsigned char *)s;
	n = strlen(s);
	while (n) {
		uint32_t cp;
		int len = sbx_utf8_char(p, n, &cp);

		if (len <= 0) {
			fputs("\\ufffd", f);
			p++;
			n--;
			continue;
		}
		switch (cp) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		default:
			if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
				fprintf(f, "\\u%04x", (unsigned)cp);
			else
				fwrite(p, 1, (size_t)len, f);
		}
		p += len;
		n -= (size_t)len;
	}
	fputc('"', f);
}

static void json_oid(FILE *f, const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];

	fprintf(f, "\"%s\"", git_oid_tostr(hex, sizeof(hex), id));
}

void print_task_json(FILE *f, const struct sbx_task *t, const struct sbx_task_summary *s)
{
	size_t i;

	fprintf(f, "{\"id\": %u, \"state\": ", t->id);
	json_str(f, task_state_label(t));
	fputs(", \"prompt\": ", f);
	json_str(f, t->prompt);
	fputs(", \"base\": ", f);
	json_oid(f, &t->base);
	fputs(", \"branch\": ", f);
	json_str(f, t->branch);
	fputs(", \"worktree\": ", f);
	json_str(f, t->worktree);
	fputs(", \"agent\": ", f);
	json_str(f, t->agent);
	fputs(", \"image\": ", f);
	json_str(f, t->image);
	fprintf(f, ", \"created_ms\": %lld, \"started_ms\": %lld, \"finished_ms\": %lld",
		(long long)t->created_ms, (long long)t->started_ms, (long long)t->finished_ms);
	fprintf(f, ", \"timing_ms\": {\"boot\": %llu, \"transfer_in\": %llu, \"agent\": %llu, "
		"\"transfer_out\": %llu, \"import\": %llu}",
		(unsigned long long)t->boot_ms, (unsigned long long)t->transfer_in_ms,
		(unsigned long long)t->agent_ms, (unsigned long long)t->transfer_out_ms,
		(unsigned long long)t->import_ms);
	if (t->exit_status >= 0)
		fprintf(f, ", \"exit_status\": %d", t->exit_status);
	else
		fputs(", \"exit_status\": null", f);
	fputs(", \"result\": ", f);
	if (t->has_result)
		json_oid(f, &t->result);
	else
		fputs("null", f);
	fputs(", \"error\": ", f);
	json_str(f, t->error);
	if (s) {
		fprintf(f, ", \"branch_exists\": %s, \"tip\": ", s->branch_exists ? "true" : "false");
		json_oid(f, &s->tip);
		fprintf(f, ", \"commits\": %zu, \"files_changed\": %zu, \"insertions\": %zu, \"deletions\": %zu",
			s->ncommits, s->files_changed, s->insertions, s->deletions);
		fputs(", \"log\": [", f);
		for (i = 0; i < s->ncommits_listed; i++) {
			if (i)
				fputs(", ", f);
			json_str(f, s->commits[i]);
		}
		fputc(']', f);
	}
	fputc('}', f);
}
