// SPDX-License-Identifier: MIT
/*
 * The audit trail, writing side (sbx/audit.h): records built with jansson,
 * one compact line each, written whole with one write() to an O_APPEND file
 * under a mutex, so lines from the proxy's threads never interleave.
 */
#include "sbx/audit.h"
#include "sbx/fsutil.h"
#include "sbx/task.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct sbx_audit {
	pthread_mutex_t lock;
	int fd;
	char *redact[SBX_AUDIT_REDACT_MAX];
	size_t nredact;
};

char *sbx_audit_path(const struct sbx_task *task)
{
	return sbx_path_join(task->dir, "audit.jsonl");
}

/*
 * A line cut short by a crash would run into the first record appended
 * after it and make both unreadable: cut the file back to its last
 * newline (the cut line is not a record anyway).
 */
static int drop_cut_line(int fd, const char *path)
{
	char buf[4096];
	off_t end = lseek(fd, 0, SEEK_END), pos = end;

	if (end < 0)
		return sbx_error_errno(SBX_EIO, "cannot seek in '%s'", path);
	while (pos > 0) {
		size_t n = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
		off_t start = pos - (off_t)n;

		if (pread(fd, buf, n, start) != (ssize_t)n)
			return sbx_error_errno(SBX_EIO, "cannot read '%s'", path);
		while (n && buf[n - 1] != '\n')
			n--;
		pos = start + (off_t)n;
		if (n)
			break;
	}
	if (pos != end && ftruncate(fd, pos))
		return sbx_error_errno(SBX_EIO, "cannot truncate '%s'", path);
	return 0;
}

int sbx_audit_open(struct sbx_audit **out, const char *path)
{
	int err;

	struct sbx_audit *a;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	a->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->fd < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot open the audit file '%s'", path);
		free(a);
		return err;
	}
	err = drop_cut_line(a->fd, path);
	if (err) {
		close(a->fd);
		free(a);
		return err;
	}
	pthread_mutex_init(&a->lock, NULL);
	*out = a;
	return 0;
}

void sbx_audit_close(struct sbx_audit *a)
{
	size_t i;

	if (!a)
		return;
	close(a->fd);
	for (i = 0; i < a->nredact; i++) {
		/* A secret: do not leave it in freed memory. */
		explicit_bzero(a->redact[i], strlen(a->redact[i]));
		free(a->redact[i]);
	}
	pthread_mutex_destroy(&a->lock);
	free(a);
}

int sbx_audit_redact(struct sbx_audit *a, const char *value)
{
	int err = 0;
	size_t i;

	if (!value || strlen(value) < SBX_AUDIT_REDACT_MINLEN)
		return sbx_error_set(SBX_EINVAL, "a value to redact must have at least %u bytes",
				     SBX_AUDIT_REDACT_MINLEN);
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < a->nredact; i++)
		if (!strcmp(a->redact[i], value))
			goto out;
	if (a->nredact == SBX_AUDIT_REDACT_MAX) {
		err = sbx_error_set(SBX_ELIMIT, "more than %u values to redact", SBX_AUDIT_REDACT_MAX);
		goto out;
	}
	a->redact[a->nredact] = strdup(value);
	if (!a->redact[a->nredact])
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
	else
		a->nredact++;
out:
	pthread_mutex_unlock(&a->lock);
	return err;
}

/* Every registered value in `s` replaced; malloc'd, NULL when out of memory.  Under the lock. */
static char *redacted(const struct sbx_audit *a, const char *s)
{
	char *cur = strdup(s);
	size_t i;

	for (i = 0; cur && i < a->nredact; i++) {
		const char *v = a->redact[i], *p, *from;
		size_t vlen = strlen(v), rlen = strlen(SBX_AUDIT_REDACTED), n = 0, len;
		char *next, *o;

		for (p = cur; (p = strstr(p, v)); p += vlen)
			n++;
		if (!n)
			continue;
		len = strlen(cur) - n * vlen + n * rlen;
		next = malloc(len + 1);
		if (next) {
			for (from = cur, o = next; (p = strstr(from, v)); from = p + vlen) {
				memcpy(o, from, (size_t)(p - from));
				o += p - from;
				memcpy(o, SBX_AUDIT_REDACTED, rlen);
				o += rlen;
			}
			strcpy(o, from);
		}
		explicit_bzero(cur, strlen(cur));
		free(cur);
		cur = next;
	}
	return cur;
}

/*
 * A string field: redacted, cut to SBX_AUDIT_FIELD_MAX bytes at a
 * character with "..." added, made UTF-8 (util/json.c).  JSON null for
 * NULL; NULL when out of memory.  Under the lock.
 */
static json_t *field(const struct sbx_audit *a, const char *s)
{
	char *r;
	size_t len;
	json_t *v;

	if (!s)
		return json_null();
	r = redacted(a, s);
	if (!r)
		return NULL;
	len = strlen(r);
	if (len > SBX_AUDIT_FIELD_MAX) {
		len = SBX_AUDIT_FIELD_MAX - 3;
		/* Back to the start of a UTF-8 character (at most three continuation bytes). */
		while (len > SBX_AUDIT_FIELD_MAX - 6 && ((unsigned char)r[len] & 0xc0) == 0x80)
			len--;
		memcpy(r + len, "...", 4);
		len += 3;
	}
	v = sbx_json_strn(r, len);
	free(r);
	return v;
}

/* Set key to a string field unless s is NULL. */
static int set_field(const struct sbx_audit *a, json_t *o, const char *key, const char *s)
{
	/* NULL or "" (the proxy's "unknown"): the key is left out. */
	return s && *s ? sbx_json_set(o, key, field(a, s)) : 0;
}

static json_t *u64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* {"v":1,"kind":kind,"time_ms":t}; NULL when out of memory. */
static json_t *record(const char *kind, int64_t time_ms)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (sbx_json_set(o, "v", json_integer(SBX_AUDIT_VERSION)) ||
	    sbx_json_set(o, "kind", json_string(kind)) ||
	    sbx_json_set(o, "time_ms", json_integer(time_ms ? time_ms : now_ms()))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* One line, one write(); takes `o`.  Under the lock. */
static int emit(struct sbx_audit *a, json_t *o, int err)
{
	char *line = NULL;
	size_t len, done = 0;

	if (!o)
		return sbx_error_set(SBX_ENOMEM, "out of memory writing an audit record");
	if (err)
		goto out;
	line = json_dumps(o, JSON_COMPACT);
	if (!line) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory writing an audit record");
		goto out;
	}
	len = strlen(line);
	if (len + 1 > SBX_AUDIT_LINE_MAX) {
		err = sbx_error_set(SBX_ELIMIT, "an audit record of %zu bytes is too long", len);
		goto out;
	}
	line[len++] = '\n';	/* over the NUL: json_dumps' buffer holds len + 1 */
	while (done < len) {
		ssize_t n = write(a->fd, line + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = sbx_error_errno(SBX_EIO, "cannot write the audit file");
			goto out;
		}
		done += (size_t)n;
	}
out:
	free(line);
	json_decref(o);
	return err;
}

int sbx_audit_conn(struct sbx_audit *a, const struct sbx_net_event *ev)
{
	json_t *o;
	int err;

	pthread_mutex_lock(&a->lock);
	o = record("conn", ev->time_ms);
	err = !o;
	err = err ?: set_field(a, o, "host", ev->host);
	err = err ?: sbx_json_set(o, "port", json_integer(ev->port));
	err = err ?: set_field(a, o, "method", ev->method);
	err = err ?: set_field(a, o, "path", ev->path);
	err = err ?: sbx_json_set(o, "decision", json_string(ev->allowed ? "allow" : "deny"));
	err = err ?: set_field(a, o, "rule", ev->rule);
	err = err ?: set_field(a, o, "reason", ev->reason);
	err = err ?: sbx_json_set(o, "bytes_up", u64(ev->bytes_up));
	err = err ?: sbx_json_set(o, "bytes_down", u64(ev->bytes_down));
	err = err ?: sbx_json_set(o, "duration_ms", u64(ev->duration_ms));
	err = emit(a, o, err);
	pthread_mutex_unlock(&a->lock);
	return err;
}

void sbx_audit_net_event(void *opaque, const struct sbx_net_event *ev)
{
	if (sbx_audit_conn(opaque, ev))
		pr_warn("cannot record a connection in the audit file: %s", sbx_error());
}

int sbx_audit_exec(struct sbx_audit *a, const struct sbx_audit_exec *e)
{
	json_t *o, *argv = json_array();
	size_t i;
	int err;

	pthread_mutex_lock(&a->lock);
	o = record("exec", e->time_ms);
	err = !o || !argv;
	for (i = 0; !err && e->argv && e->argv[i]; i++) {
		if (i == SBX_AUDIT_ARGV_MAX) {
			err = json_array_append_new(argv, json_string("..."));
			break;
		}
		err = json_array_append_new(argv, field(a, e->argv[i]));
	}
	if (err)
		err = sbx_error_set(SBX_ENOMEM, "out of memory writing an audit record");
	err = err ?: sbx_json_set(o, "argv", argv);
	argv = NULL;
	err = err ?: sbx_json_set(o, "exit_code", e->exit_code >= 0 ? json_integer(e->exit_code) : json_null());
	err = err ?: sbx_json_set(o, "duration_ms", u64(e->duration_ms));
	err = err ?: sbx_json_set(o, "timed_out", json_boolean(e->timed_out));
	json_decref(argv);
	err = emit(a, o, err);
	pthread_mutex_unlock(&a->lock);
	return err;
}

int sbx_audit_import(struct sbx_audit *a, const struct sbx_audit_import *imp)
{
	char hex[GIT_OID_HEXSZ + 1];
	json_t *o;
	int err;

	pthread_mutex_lock(&a->lock);
	o = record("import", 0);
	err = !o;
	err = err ?: sbx_json_set(o, "verdict", json_string(imp->accepted ? "accepted" : "rejected"));
	err = err ?: sbx_json_set(o, "commits", u64(imp->commits));
	if (imp->tip)
		err = err ?: sbx_json_set(o, "tip", json_string(git_oid_tostr(hex, sizeof(hex), imp->tip)));
	err = err ?: set_field(a, o, "reason", imp->reason);
	err = emit(a, o, err);
	pthread_mutex_unlock(&a->lock);
	return err;
}

int sbx_audit_stats(struct sbx_audit *a, const struct sbx_audit_stats *st)
{
	json_t *o;
	int err;

	pthread_mutex_lock(&a->lock);
	o = record("stats", 0);
	err = !o;
	err = err ?: sbx_json_set(o, "cpu_ms", u64(st->cpu_ms));
	err = err ?: sbx_json_set(o, "mem_bytes", u64(st->mem_bytes));
	err = err ?: sbx_json_set(o, "disk_bytes", u64(st->disk_bytes));
	err = err ?: sbx_json_set(o, "net_up", u64(st->net_up));
	err = err ?: sbx_json_set(o, "net_down", u64(st->net_down));
	err = emit(a, o, err);
	pthread_mutex_unlock(&a->lock);
	return err;
}

int sbx_audit_start(struct sbx_audit *a, unsigned task_id, const char *agent, const char *image)
{
	json_t *o;
	int err;

	pthread_mutex_lock(&a->lock);
	o = record("start", 0);
	err = !o;
	err = err ?: sbx_json_set(o, "task", json_integer(task_id));
	err = err ?: set_field(a, o, "agent", agent);
	err = err ?: set_field(a, o, "image", image);
	err = emit(a, o, err);
	pthread_mutex_unlock(&a->lock);
	return err;
}

int sbx_audit_end(struct sbx_audit *a, const char *state, int exit_status, const char *error)
{
	json_t *o;
	int err;

	pthread_mutex_lock(&a->lock);
	o = record("end", 0);
	err = !o;
	err = err ?: set_field(a, o, "state", state);
	err = err ?: sbx_json_set(o, "exit_status", exit_status >= 0 ? json_integer(exit_status) : json_null());
	err = err ?: set_field(a, o, "error", error);
	err = emit(a, o, err);
	pthread_mutex_unlock(&a->lock);
	return err;
}
