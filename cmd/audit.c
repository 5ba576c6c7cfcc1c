// SPDX-License-Identifier: MIT
/*
 * git sbx audit ID [--json] [-f]: the task's audit trail (sbx/audit.h).
 * One line per record: connections (allow or deny, host:port, method and
 * path, bytes, the rule or the reason), commands run in the VM, resource
 * samples, the import's verdict; --json prints the records as JSON lines,
 * re-serialised; -f follows a running task as `git sbx logs -f` does.
 */
#include "cmd/builtin.h"
#include "cmd/task-print.h"
#include "sbx/audit.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/json.h"
#include "util/quote.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const audit_usage[] = {
	"git sbx audit [--json] [-f | --follow] <id>",
	NULL,
};

/*
 * Guest text, escaped as everywhere (util/quote.h), and a newline as "^J"
 * too: one record is one line.
 */
static void put(const char *s)
{
	char *q = sbx_quote_str(s), *p;

	if (!q)
		die("out of memory");
	for (p = q; *p; p++)
		if (*p == '\n')
			fputs("^J", stdout);
		else
			putchar(*p);
	free(q);
}

static void put_bytes(uint64_t n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (!u)
		printf("%" PRIu64 " B", n);
	else
		printf("%.1f %s", v, units[u]);
}

static uint64_t get_u64(const json_t *rec, const char *key)
{
	int64_t v = sbx_audit_get_int(rec, key, 0);

	return v > 0 ? (uint64_t)v : 0;
}

static void put_ms(uint64_t ms)
{
	char buf[32];

	format_ms(buf, sizeof(buf), ms);
	fputs(buf, stdout);
}

static void print_conn(const json_t *rec)
{
	const char *decision = sbx_audit_get_str(rec, "decision");
	const char *host = sbx_audit_get_str(rec, "host"), *method = sbx_audit_get_str(rec, "method");
	const char *path = sbx_audit_get_str(rec, "path"), *rule = sbx_audit_get_str(rec, "rule");
	const char *reason = sbx_audit_get_str(rec, "reason");
	bool allowed = decision && !strcmp(decision, "allow");

	printf("%-6s ", allowed ? "allow" : "deny");
	put(host ? host : "?");
	printf(":%" PRId64, sbx_audit_get_int(rec, "port", 0));
	if (method) {
		putchar(' ');
		put(method);
	}
	if (path) {
		putchar(' ');
		put(path);
	}
	if (allowed) {
		fputs("  up ", stdout);
		put_bytes(get_u64(rec, "bytes_up"));
		fputs(", down ", stdout);
		put_bytes(get_u64(rec, "bytes_down"));
		fputs(", ", stdout);
		put_ms(get_u64(rec, "duration_ms"));
	}
	if (reason) {
		fputs("  ", stdout);
		put(reason);
	}
	if (rule) {
		fputs("  [rule ", stdout);
		put(rule);
		putchar(']');
	} else if (!allowed && !reason) {
		fputs("  [default: deny]", stdout);
	}
}

static void print_exec(const json_t *rec)
{
	const json_t *argv = json_object_get(rec, "argv"), *v, *code = json_object_get(rec, "exit_code");
	size_t i;

	fputs("exec  ", stdout);
	json_array_foreach(argv, i, v) {
		putchar(' ');
		put(json_is_string(v) ? json_string_value(v) : "?");
	}
	if (sbx_audit_get_bool(rec, "timed_out"))
		fputs("  timed out after ", stdout);
	else if (json_is_integer(code))
		printf("  exit %" JSON_INTEGER_FORMAT " after ", json_integer_value(code));
	else
		fputs("  killed after ", stdout);
	put_ms(get_u64(rec, "duration_ms"));
}

static void print_stats(const json_t *rec)
{
	fputs("stats  cpu ", stdout);
	put_ms(get_u64(rec, "cpu_ms"));
	fputs(", memory ", stdout);
	put_bytes(get_u64(rec, "mem_bytes"));
	fputs(", disk ", stdout);
	put_bytes(get_u64(rec, "disk_bytes"));
	fputs(", network up ", stdout);
	put_bytes(get_u64(rec, "net_up"));
	fputs(", down ", stdout);
	put_bytes(get_u64(rec, "net_down"));
}

static void print_import(const json_t *rec)
{
	const char *verdict = sbx_audit_get_str(rec, "verdict"), *tip = sbx_audit_get_str(rec, "tip");
	const char *reason = sbx_audit_get_str(rec, "reason");
	int64_t n = sbx_audit_get_int(rec, "commits", 0);

	fputs("import ", stdout);
	put(verdict ? verdict : "?");
	printf(", %" PRId64 " commit%s", n, n == 1 ? "" : "s");
	if (tip) {
		fputs(", tip ", stdout);
		put(tip);
	}
	if (reason) {
		fputs(": ", stdout);
		put(reason);
	}
}

static void print_start_end(const json_t *rec, bool start)
{
	const char *a = sbx_audit_get_str(rec, start ? "agent" : "state");
	const char *b = sbx_audit_get_str(rec, start ? "image" : "error");
	const json_t *status = json_object_get(rec, "exit_status");

	if (start) {
		printf("start  task %" PRId64, sbx_audit_get_int(rec, "task", 0));
		if (a) {
			fputs(", agent ", stdout);
			put(a);
		}
		if (b) {
			fputs(", image ", stdout);
			put(b);
		}
		return;
	}
	fputs("end    ", stdout);
	put(a ? a : "?");
	if (json_is_integer(status))
		printf(", agent exit status %" JSON_INTEGER_FORMAT, json_integer_value(status));
	if (b) {
		fputs(": ", stdout);
		put(b);
	}
}

static void print_record(const json_t *rec)
{
	const char *kind = sbx_audit_get_str(rec, "kind");
	int64_t ms = sbx_audit_get_int(rec, "time_ms", 0);
	time_t secs = (time_t)(ms / 1000);
	char when[32] = "--:--:--";
	struct tm tm;

	if (ms > 0 && localtime_r(&secs, &tm))
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
	printf("%s  ", when);
	if (!strcmp(kind, "conn"))
		print_conn(rec);
	else if (!strcmp(kind, "exec"))
		print_exec(rec);
	else if (!strcmp(kind, "stats"))
		print_stats(rec);
	else if (!strcmp(kind, "import"))
		print_import(rec);
	else if (!strcmp(kind, "start") || !strcmp(kind, "end"))
		print_start_end(rec, kind[0] == 's');
	else
		put(kind);	/* a kind from a newer git-sbx */
	putchar('\n');
}

/* Print every whole record there now; 0 or a negative code. */
static int drain(struct sbx_audit_reader *r, bool json)
{
	json_t *rec;
	int ret;

	while ((ret = sbx_audit_reader_next(&rec, r)) == 1) {
		if (json) {
			if (sbx_json_print(stdout, rec, JSON_COMPACT))
				ret = -1;
			putchar('\n');
		} else {
			print_record(rec);
		}
		json_decref(rec);
		if (ret < 0)
			return ret;
	}
	return ret;
}

int cmd_audit(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_audit_reader *r = NULL;
	struct sbx_task *t;
	bool follow = false, json = false;
	const char *note;
	char *path;
	int ret = 0, err;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print the records as JSON lines"),
		OPT_BOOL('f', "follow", &follow, "keep printing records while the task runs"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, audit_usage, 0) != 1)
		usage_with_options(audit_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	path = sbx_audit_path(t);
	if (!path)
		die("out of memory");
	for (;;) {
		/* Was it running before this read?  Then read once more after it stops. */
		bool running = follow && sbx_task_running(t);

		if (!r) {
			err = sbx_audit_reader_open(&r, path);
			if (err && err != SBX_ENOTFOUND) {
				ret = error_sbx("cannot read the audit trail");
				goto out;
			}
		}
		err = r ? drain(r, json) : 0;
		fflush(stdout);
		if (err < 0) {
			ret = error_sbx("cannot read the audit trail");
			goto out;
		}
		if (!running)
			break;
		nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);
	}
	if (!r)
		fprintf(stderr, "warning: task %u has no audit trail\n", t->id);
	else if (sbx_audit_reader_finish(&note, r) == 1)
		fprintf(stderr, "warning: %s\n", note);
out:
	sbx_audit_reader_free(r);
	free(path);
	sbx_task_free(t);
	return ret;
}
