// SPDX-License-Identifier: MIT
/* Task ids, records, branches and worktrees.  Layout and rules in sbx/task.h. */
#include "sbx/task.h"
#include "sbx/bundle.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "util/error.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static const char *const state_names[] = {
	[SBX_TASK_CREATED] = "created",
	[SBX_TASK_RUNNING] = "running",
	[SBX_TASK_DONE] = "done",
	[SBX_TASK_FAILED] = "failed",
	[SBX_TASK_CANCELLED] = "cancelled",
	[SBX_TASK_REMOVING] = "removing",
};

const char *sbx_task_state_name(enum sbx_task_state s)
{
	if ((unsigned)s < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[s];
	return "unknown";
}

static int parse_uint_str(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	if (s[0] == '0' && s[1])
		return -1;	/* one spelling per number */
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int sbx_task_parse_id(unsigned *out, const char *s)
{
	uint64_t v;

	if (parse_uint_str(s, SBX_TASK_ID_MAX, &v) || v == 0)
		return sbx_error_set(SBX_EINVAL, "'%s' is not a task id", s);
	*out = (unsigned)v;
	return 0;
}

void sbx_task_free(struct sbx_task *t)
{
	if (!t)
		return;
	free(t->prompt);
	free(t->branch);
	free(t->worktree);
	free(t->agent);
	free(t->image);
	free(t->error);
	free(t->dir);
	free(t);
}

void sbx_task_list_free(struct sbx_task **tasks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sbx_task_free(tasks[i]);
	free(tasks);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *sbx_dir(struct sbx_repo *repo, const char *sub)
{
	char *s;

	if (asprintf(&s, "%s/sbx%s%s", repo->commondir, sub ? "/" : "", sub ? sub : "") < 0)
		return NULL;
	return s;
}

static char *task_dir(struct sbx_repo *repo, unsigned id)
{
	char *s;

	if (asprintf(&s, "%s/sbx/tasks/%u", repo->commondir, id) < 0)
		return NULL;
	return s;
}

static char *task_file(const struct sbx_task *t, const char *name)
{
	return sbx_path_join(t->dir, name);
}

char *sbx_task_log_path(const struct sbx_task *task)
{
	return task_file(task, "log");
}

/* ---- the record file ---- */

struct sbuf {
	char *p;
	size_t len, alloc;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->alloc) {
		size_t na = (b->len + n + 1) * 2;
		char *p = realloc(b->p, na);

		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->alloc = na;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) SBX_PRINTF(2, 3);
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->oom = true;
		return;
	}
	sb_add(b, tmp, (size_t)n);
}

/* key, a space, the value with \\, \n and other control bytes escaped, "\n". */
static void put_str(struct sbuf *b, const char *key, const char *v)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s;

	if (!v)
		return;
	sb_add(b, key, strlen(key));
	sb_add(b, " ", 1);
	for (s = (const unsigned char *)v; *s; s++) {
		if (*s == '\\')
			sb_add(b, "\\\\", 2);
		else if (*s == '\n')
			sb_add(b, "\\n", 2);
		else if (*s < 0x20 || *s == 0x7f) {
			char e[4] = { '\\', 'x', hex[*s >> 4], hex[*s & 15] };

			sb_add(b, e, 4);
		} else
			sb_add(b, (const char *)s, 1);
	}
	sb_add(b, "\n", 1);
}

int sbx_task_record_format(char **out, size_t *len, const struct sbx_task *t)
{
	struct sbuf b = { 0 };
	char hex[GIT_OID_HEXSZ + 1];

	*out = NULL;
	sb_printf(&b, "sbx-task-record %d\n", SBX_TASK_RECORD_VERSION);
	sb_printf(&b, "id %u\n", t->id);
	sb_printf(&b, "state %s\n", sbx_task_state_name(t->state));
	sb_printf(&b, "base %s\n", git_oid_tostr(hex, sizeof(hex), &t->base));
	put_str(&b, "branch", t->branch);
	put_str(&b, "worktree", t->worktree);
	put_str(&b, "agent", t->agent);
	put_str(&b, "image", t->image);
	sb_printf(&b, "created %lld\n", (long long)t->created_ms);
	if (t->started_ms)
		sb_printf(&b, "started %lld\n", (long long)t->started_ms);
	if (t->finished_ms)
		sb_printf(&b, "finished %lld\n", (long long)t->finished_ms);
	sb_printf(&b, "timing %llu %llu %llu %llu %llu\n",
		  (unsigned long long)t->boot_ms, (unsigned long long)t->transfer_in_ms,
		  (unsigned long long)t->agent_ms, (unsigned long long)t->transfer_out_ms,
		  (unsigned long long)t->import_ms);
	if (t->exit_status >= 0)
		sb_printf(&b, "exit %d\n", t->exit_status);
	if (t->has_result)
		sb_printf(&b, "result %s\n", git_oid_tostr(hex, sizeof(hex), &t->result));
	put_str(&b, "error", t->error);
	put_str(&b, "prompt", t->prompt);
	if (!b.oom)
		sb_printf(&b, "checksum %08lx\n", crc32(0, (const Bytef *)b.p, (uInt)b.len));
	if (b.oom) {
		free(b.p);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	if (b.len > SBX_TASK_RECORD_MAX) {
		free(b.p);
		return sbx_error_set(SBX_ELIMIT, "task record larger than %u bytes", SBX_TASK_RECORD_MAX);
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

static int unescape(char **out, const char *s, size_t n)
{
	char *d = malloc(n + 1), *p = d;
	size_t i;

	if (!d)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (s[i] != '\\') {
			*p++ = s[i];
			continue;
		}
		if (i + 1 < n && s[i + 1] == '\\') {
			*p++ = '\\';
			i++;
		} else if (i + 1 < n && s[i + 1] == 'n') {
			*p++ = '\n';
			i++;
		} else if (i + 3 < n && s[i + 1] == 'x') {
			char h[3] = { s[i + 2], s[i + 3], 0 }, *end;
			long v = strtol(h, &end, 16);

			if (*end || v <= 0) {
				free(d);
				return SBX_CORRUPT("bad escape in the task record");
			}
			*p++ = (char)v;
			i += 3;
		} else {
			free(d);
			return SBX_CORRUPT("bad escape in the task record");
		}
	}
	*p = '\0';
	*out = d;
	return 0;
}

static int parse_state(enum sbx_task_state *out, const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (!strcmp(v, state_names[i])) {
			*out = (enum sbx_task_state)i;
			return 0;
		}
	return -1;
}

static int parse_oid(git_oid *out, const char *v)
{
	size_t i;

	if (strlen(v) != GIT_OID_HEXSZ)
		return -1;
	for (i = 0; i < GIT_OID_HEXSZ; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return -1;
	return git_oid_fromstr(out, v) ? -1 : 0;
}

static int parse_i64(int64_t *out, const char *v)
{
	uint64_t u;

	if (parse_uint_str(v, INT64_MAX, &u))
		return -1;
	*out = (int64_t)u;
	return 0;
}

static int parse_timing(struct sbx_task *t, const char *v)
{
	uint64_t *f[] = { &t->boot_ms, &t->transfer_in_ms, &t->agent_ms,
			  &t->transfer_out_ms, &t->import_ms };
	char buf[128], *save = NULL, *tok;
	size_t i = 0;

	if (strlen(v) >= sizeof(buf))
		return -1;
	strcpy(buf, v);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (i >= 5 || parse_uint_str(tok, UINT64_MAX / 2, f[i]))
			return -1;
		i++;
	}
	return i == 5 ? 0 : -1;
}

int sbx_task_record_parse(struct sbx_task **out, const char *buf, size_t len)
{
	enum { K_ID = 1, K_STATE = 2, K_BASE = 4, K_BRANCH = 8, K_CREATED = 16 };
	struct sbx_task *t;
	const char *p = buf, *end = buf + len, *sum_at;
	unsigned seen = 0, line = 0;
	unsigned long want, got;
	int err = 0;

	*out = NULL;
	if (len > SBX_TASK_RECORD_MAX)
		return sbx_error_set(SBX_ELIMIT, "task record larger than %u bytes", SBX_TASK_RECORD_MAX);
	if (memchr(buf, '\0', len))
		return SBX_CORRUPT("NUL byte in the task record");
	/* The last line is "checksum <crc32 of everything before it>". */
	if (len < 18 || buf[len - 1] != '\n')
		return SBX_CORRUPT("task record truncated");
	sum_at = buf + len - 18;
	if (memcmp(sum_at, "checksum ", 9) || (sum_at > buf && sum_at[-1] != '\n'))
		return SBX_CORRUPT("task record has no checksum line");
	{
		char hex[9], *e;

		memcpy(hex, sum_at + 9, 8);
		hex[8] = '\0';
		want = strtoul(hex, &e, 16);
		if (*e)
			return SBX_CORRUPT("bad checksum line in the task record");
	}
	got = crc32(0, (const Bytef *)buf, (uInt)(sum_at - buf));
	if (got != want)
		return SBX_CORRUPT("task record checksum mismatch (%08lx, expected %08lx)", got, want);
	end = sum_at;

	t = calloc(1, sizeof(*t));
	if (!t)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	t->exit_status = -1;
	while (p < end && !err) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		char *key = NULL, *val = NULL;
		unsigned bit = 0;

		if (!nl) {
			err = SBX_CORRUPT("task record line %u unterminated", line + 1);
			break;
		}
		line++;
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (!sp) {
			err = SBX_CORRUPT("task record line %u has no value", line);
			break;
		}
		key = strndup(p, (size_t)(sp - p));
		if (!key) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			break;
		}
		err = unescape(&val, sp + 1, (size_t)(nl - sp - 1));
		if (err) {
			free(key);
			break;
		}
		if (line == 1) {
			if (strcmp(key, "sbx-task-record"))
				err = SBX_CORRUPT("not a task record");
			else if (strcmp(val, "1"))
				err = sbx_error_set(SBX_EUNSUPPORTED, "task record version %s (this git-sbx reads version %d)",
						    val, SBX_TASK_RECORD_VERSION);
		} else if (!strcmp(key, "id")) {
			uint64_t v;

			bit = K_ID;
			if (parse_uint_str(val, SBX_TASK_ID_MAX, &v) || !v)
				err = SBX_CORRUPT("bad id in the task record");
			t->id = (unsigned)v;
		} else if (!strcmp(key, "state")) {
			bit = K_STATE;
			if (parse_state(&t->state, val))
				err = SBX_CORRUPT("unknown state '%.32s' in the task record", val);
		} else if (!strcmp(key, "base")) {
			bit = K_BASE;
			if (parse_oid(&t->base, val))
				err = SBX_CORRUPT("bad base in the task record");
		} else if (!strcmp(key, "result")) {
			if (t->has_result || parse_oid(&t->result, val))
				err = SBX_CORRUPT("bad result in the task record");
			t->has_result = true;
		} else if (!strcmp(key, "created")) {
			bit = K_CREATED;
			if (parse_i64(&t->created_ms, val))
				err = SBX_CORRUPT("bad time in the task record");
		} else if (!strcmp(key, "started")) {
			if (parse_i64(&t->started_ms, val))
				err = SBX_CORRUPT("bad time in the task record");
		} else if (!strcmp(key, "finished")) {
			if (parse_i64(&t->finished_ms, val))
				err = SBX_CORRUPT("bad time in the task record");
		} else if (!strcmp(key, "timing")) {
			if (parse_timing(t, val))
				err = SBX_CORRUPT("bad timing in the task record");
		} else if (!strcmp(key, "exit")) {
			uint64_t v;

			if (parse_uint_str(val, 255, &v))
				err = SBX_CORRUPT("bad exit status in the task record");
			t->exit_status = (int)v;
		} else {
			char **slot = !strcmp(key, "branch") ? &t->branch
				    : !strcmp(key, "worktree") ? &t->worktree
				    : !strcmp(key, "agent") ? &t->agent
				    : !strcmp(key, "image") ? &t->image
				    : !strcmp(key, "error") ? &t->error
				    : !strcmp(key, "prompt") ? &t->prompt : NULL;

			if (!strcmp(key, "branch"))
				bit = K_BRANCH;
			/* Unknown keys are for later minor additions: skipped. */
			if (slot && *slot)
				err = SBX_CORRUPT("'%s' twice in the task record", key);
			else if (slot) {
				*slot = val;
				val = NULL;
			}
		}
		if (!err && line == 1 && bit)
			err = SBX_CORRUPT("not a task record");
		if (!err && bit && (seen & bit))
			err = SBX_CORRUPT("'%s' twice in the task record", key);
		seen |= bit;
		free(key);
		free(val);
		p = nl + 1;
	}
	if (!err && seen != (K_ID | K_STATE | K_BASE | K_BRANCH | K_CREATED))
		err = SBX_CORRUPT("task record lacks a required field");
	if (err) {
		sbx_task_free(t);
		return err;
	}
	if (!t->prompt && !(t->prompt = strdup(""))) {
		sbx_task_free(t);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	*out = t;
	return 0;
}

int sbx_task_save(struct sbx_task *t)
{
	char *buf = NULL, *path = task_file(t, "record");
	size_t len;
	int err;

	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_task_record_format(&buf, &len, t);
	if (!err)
		err = sbx_write_atomic(path, buf, len);
	free(buf);
	free(path);
	return err;
}

static int open_dir(struct sbx_task **out, const char *dir, unsigned id)
{
	char *path = sbx_path_join(dir, "record"), *buf = NULL;
	size_t len;
	int err;

	*out = NULL;
	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_read_file(&buf, &len, path, SBX_TASK_RECORD_MAX);
	free(path);
	if (err == SBX_ENOTFOUND)
		return sbx_error_set(SBX_ENOTFOUND, "no task %u", id);
	if (!err)
		err = sbx_task_record_parse(out, buf, len);
	free(buf);
	if (err)
		return sbx_error_prefix(err, "task %u", id);
	if ((*out)->id != id) {
		unsigned says = (*out)->id;

		sbx_task_free(*out);
		*out = NULL;
		return SBX_CORRUPT("task %u: the record says it is task %u", id, says);
	}
	(*out)->dir = strdup(dir);
	if (!(*out)->dir) {
		sbx_task_free(*out);
		*out = NULL;
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	return 0;
}

int sbx_task_open(struct sbx_task **out, struct sbx_repo *repo, unsigned id)
{
	char *dir = task_dir(repo, id);
	int err;

	if (!dir)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = open_dir(out, dir, id);
	free(dir);
	return err;
}

static int cmp_task(const void *a, const void *b)
{
	const struct sbx_task *x = *(struct sbx_task *const *)a, *y = *(struct sbx_task *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Names in sbx/tasks/ that are task ids. */
static bool id_name(const char *name, unsigned *id)
{
	uint64_t v;

	if (parse_uint_str(name, SBX_TASK_ID_MAX, &v) || !v)
		return false;
	*id = (unsigned)v;
	return true;
}

int sbx_task_list(struct sbx_task ***out, size_t *n, size_t *nbad, struct sbx_repo *repo)
{
	struct sbx_task **v = NULL;
	size_t alloc = 0;
	char *dir = sbx_dir(repo, "tasks");
	struct dirent *e;
	DIR *d;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (nbad)
		*nbad = 0;
	if (!dir)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	d = opendir(dir);
	if (!d) {
		free(dir);
		return errno == ENOENT ? 0 : sbx_error_errno(SBX_EIO, "cannot read the task list");
	}
	while (!err && (e = readdir(d))) {
		struct sbx_task *t = NULL;
		unsigned id;

		if (!id_name(e->d_name, &id))
			continue;
		if (sbx_task_open(&t, repo, id)) {
			if (nbad)
				(*nbad)++;
			continue;
		}
		if (*n == alloc) {
			size_t na = alloc ? alloc * 2 : 16;
			struct sbx_task **nv = realloc(v, na * sizeof(*nv));

			if (!nv) {
				sbx_task_free(t);
				err = sbx_error_set(SBX_ENOMEM, "out of memory");
				break;
			}
			v = nv;
			alloc = na;
		}
		v[(*n)++] = t;
	}
	closedir(d);
	free(dir);
	if (err) {
		sbx_task_list_free(v, *n);
		*n = 0;
		return err;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_task);
	*out = v;
	return 0;
}

/* ---- creating ---- */

static bool branch_exists(git_repository *git, unsigned id)
{
	char name[64];
	git_reference *ref = NULL;

	snprintf(name, sizeof(name), "refs/heads/sbx/%u", id);
	if (git_reference_lookup(&ref, git, name))
		return false;
	git_reference_free(ref);
	return true;
}

static bool path_exists(const char *p)
{
	struct stat st;

	return p && lstat(p, &st) == 0;
}

/* Under sbx/lock: the next id no task, branch or directory uses. */
static int next_id(unsigned *out, struct sbx_repo *repo)
{
	char *path = sbx_dir(repo, "next-id"), *buf = NULL, *tasks = sbx_dir(repo, "tasks");
	uint64_t v = 1;
	unsigned id;
	struct dirent *e;
	DIR *d;
	int err = 0;

	if (!path || !tasks) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	err = sbx_read_file(&buf, NULL, path, 64);
	if (!err) {
		char *nl = strchr(buf, '\n');

		if (nl)
			*nl = '\0';
		if (parse_uint_str(buf, SBX_TASK_ID_MAX, &v) || !v) {
			pr_warn("ignoring a bad '%s'", path);
			v = 1;
		}
	} else if (err != SBX_ENOTFOUND) {
		goto out;
	}
	err = 0;
	/* Never reuse an id a record still has, even if next-id was lost. */
	d = opendir(tasks);
	while (d && (e = readdir(d)))
		if (id_name(e->d_name, &id) && id >= v)
			v = (uint64_t)id + 1;
	if (d)
		closedir(d);
	for (;; v++) {
		char *dir, *wt;
		bool used;

		if (v > SBX_TASK_ID_MAX) {
			err = sbx_error_set(SBX_ELIMIT, "no task ids left");
			goto out;
		}
		dir = task_dir(repo, (unsigned)v);
		if (asprintf(&wt, "%s/sbx/worktrees/%u", repo->commondir, (unsigned)v) < 0)
			wt = NULL;
		used = path_exists(dir) || path_exists(wt) || branch_exists(repo->git, (unsigned)v);
		free(dir);
		free(wt);
		if (!used)
			break;
	}
	*out = (unsigned)v;
	{
		char num[32];

		snprintf(num, sizeof(num), "%u\n", *out + 1);
		err = sbx_write_atomic(path, num, strlen(num));
	}
out:
	free(path);
	free(tasks);
	free(buf);
	return err;
}

static int lock_repo(int *fd, struct sbx_repo *repo)
{
	char *dir = sbx_dir(repo, NULL), *path = sbx_dir(repo, "lock");
	int err;

	if (!dir || !path)
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
	else if (!(err = sbx_mkdirs(dir)))
		err = sbx_lock(fd, path, true, true);
	free(dir);
	free(path);
	return err;
}

static int add_worktree(struct sbx_repo *repo, struct sbx_task *t)
{
	git_worktree_add_options opts;
	git_reference *ref = NULL;
	git_worktree *wt = NULL;
	char name[32], *parent = sbx_dir(repo, "worktrees");
	int err = 0;

	if (!parent)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if ((err = sbx_mkdirs(parent)))
		goto out;
	snprintf(name, sizeof(name), "sbx-%u", t->id);
	{
		char refname[64];

		snprintf(refname, sizeof(refname), "refs/heads/%s", t->branch);
		if (git_reference_lookup(&ref, repo->git, refname) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot find the task's branch");
			goto out;
		}
	}
	git_worktree_add_options_init(&opts, GIT_WORKTREE_ADD_OPTIONS_VERSION);
	opts.ref = ref;
	/* A new, empty directory: write every file. */
	opts.checkout_options.checkout_strategy = GIT_CHECKOUT_FORCE;
	if (git_worktree_add(&wt, repo->git, name, t->worktree, &opts) < 0)
		err = sbx_git_error(SBX_ERROR, "cannot create the task's worktree");
out:
	git_worktree_free(wt);
	git_reference_free(ref);
	free(parent);
	return err;
}

static void prune_worktree(struct sbx_repo *repo, unsigned id, const char *path)
{
	git_worktree_prune_options popts;
	git_worktree *wt = NULL;
	char name[32];

	snprintf(name, sizeof(name), "sbx-%u", id);
	if (git_worktree_lookup(&wt, repo->git, name) == 0) {
		git_worktree_prune_options_init(&popts, GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
		popts.flags = GIT_WORKTREE_PRUNE_VALID | GIT_WORKTREE_PRUNE_LOCKED |
			      GIT_WORKTREE_PRUNE_WORKING_TREE;
		if (git_worktree_prune(wt, &popts) < 0)
			pr_warn("cannot prune worktree '%s': %s", name,
				git_error_last() ? git_error_last()->message : "unknown error");
		git_worktree_free(wt);
	}
	if (path)
		sbx_rmtree(path);
}

static int delete_branch(bool *kept, struct sbx_repo *repo, const char *branch)
{
	git_reference *ref = NULL;
	int err;

	*kept = false;
	err = git_branch_lookup(&ref, repo->git, branch, GIT_BRANCH_LOCAL);
	if (err == GIT_ENOTFOUND)
		return 0;
	if (err < 0)
		return sbx_git_error(SBX_ERROR, "cannot read the task's branch");
	if (git_branch_is_checked_out(ref) == 1) {
		pr_warn("branch '%s' is checked out; keeping it", branch);
		*kept = true;
		git_reference_free(ref);
		return 0;
	}
	err = git_branch_delete(ref);
	git_reference_free(ref);
	if (err < 0)
		return sbx_git_error(SBX_ERROR, "cannot delete the task's branch");
	return 0;
}

int sbx_task_create(struct sbx_task **out, struct sbx_repo *repo,
		    const struct sbx_task_create_opts *opts)
{
	struct sbx_task *t = NULL;
	git_commit *base = NULL;
	git_reference *branch = NULL;
	int lock = -1, err;
	bool made_dir = false, made_branch = false, made_wt = false;

	*out = NULL;
	if (!opts->prompt)
		return sbx_error_set(SBX_EINVAL, "a task needs a prompt");
	if (strlen(opts->prompt) > SBX_TASK_PROMPT_MAX)
		return sbx_error_set(SBX_ELIMIT, "the prompt is longer than %u bytes", SBX_TASK_PROMPT_MAX);
	t = calloc(1, sizeof(*t));
	if (!t)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	t->exit_status = -1;
	t->state = SBX_TASK_CREATED;
	t->created_ms = now_ms();
	if (opts->base) {
		git_oid_cpy(&t->base, opts->base);
	} else if (git_reference_name_to_id(&t->base, repo->git, "HEAD") < 0) {
		err = sbx_git_error(SBX_EINVAL, "HEAD does not name a commit");
		goto fail;
	}
	if (git_commit_lookup(&base, repo->git, &t->base) < 0) {
		err = sbx_git_error(SBX_EINVAL, "the base is not a commit");
		goto fail;
	}
	t->prompt = strdup(opts->prompt);
	t->agent = opts->agent ? strdup(opts->agent) : NULL;
	t->image = opts->image ? strdup(opts->image) : NULL;
	if (!t->prompt || (opts->agent && !t->agent) || (opts->image && !t->image)) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}

	if ((err = lock_repo(&lock, repo)) || (err = next_id(&t->id, repo)))
		goto fail;
	if (asprintf(&t->branch, "sbx/%u", t->id) < 0 || !(t->dir = task_dir(repo, t->id))) {
		t->branch = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	if (!opts->no_worktree && !git_repository_is_bare(repo->git) &&
	    asprintf(&t->worktree, "%s/sbx/worktrees/%u", repo->commondir, t->id) < 0) {
		t->worktree = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = sbx_mkdirs(t->dir)))
		goto fail;
	made_dir = true;
	if ((err = sbx_task_save(t)))
		goto fail;
	if (git_branch_create(&branch, repo->git, t->branch, base, 0) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot create the task's branch");
		goto fail;
	}
	made_branch = true;
	if (t->worktree) {
		made_wt = true;
		if ((err = add_worktree(repo, t)))
			goto fail;
	}
	git_reference_free(branch);
	git_commit_free(base);
	sbx_unlock(lock);
	*out = t;
	return 0;
fail:
	if (made_wt)
		prune_worktree(repo, t->id, t->worktree);
	if (made_branch) {
		bool kept;

		git_reference_free(branch);
		branch = NULL;
		delete_branch(&kept, repo, t->branch);
	}
	if (made_dir)
		sbx_rmtree(t->dir);
	git_reference_free(branch);
	git_commit_free(base);
	sbx_unlock(lock);
	sbx_task_free(t);
	return err;
}

/* ---- running ---- */

bool sbx_task_running(const struct sbx_task *t)
{
	char *path = task_file(t, "lock");
	bool held = path && sbx_lock_held(path);

	free(path);
	return held;
}

int sbx_task_start(int *lock_fd, struct sbx_task *t)
{
	char *path = task_file(t, "lock");
	int err;

	*lock_fd = -1;
	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_lock(lock_fd, path, true, false);
	free(path);
	if (err == SBX_ELOCKED)
		return sbx_error_set(SBX_ELOCKED, "task %u is already running", t->id);
	if (err)
		return err;
	t->state = SBX_TASK_RUNNING;
	t->started_ms = now_ms();
	t->finished_ms = 0;
	err = sbx_task_save(t);
	if (err) {
		sbx_unlock(*lock_fd);
		*lock_fd = -1;
	}
	return err;
}

int sbx_task_finish(int lock_fd, struct sbx_task *t, enum sbx_task_state state,
		    int exit_status, const char *error)
{
	int err;

	t->state = state;
	t->exit_status = exit_status;
	t->finished_ms = now_ms();
	free(t->error);
	t->error = error ? strdup(error) : NULL;
	err = sbx_task_save(t);
	sbx_unlock(lock_fd);
	return err;
}

/* ---- results ---- */

int sbx_task_update_worktree(bool *kept, const struct sbx_task *t,
			     const git_oid *old_tip, const git_oid *new_tip)
{
	git_checkout_options copts;
	git_repository *wrepo = NULL;
	git_commit *oldc = NULL, *newc = NULL;
	git_tree *oldt = NULL;
	int err = 0, rc;

	*kept = false;
	if (!t->worktree)
		return 0;
	if (git_repository_open(&wrepo, t->worktree) < 0)
		return sbx_git_error(SBX_ERROR, "cannot open the task's worktree");
	if (git_commit_lookup(&oldc, wrepo, old_tip) < 0 || git_commit_lookup(&newc, wrepo, new_tip) < 0 ||
	    git_commit_tree(&oldt, oldc) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot read the result");
		goto out;
	}
	git_checkout_options_init(&copts, GIT_CHECKOUT_OPTIONS_VERSION);
	/* From the old tip's tree to the new one; never over the user's changes. */
	copts.checkout_strategy = GIT_CHECKOUT_SAFE;
	copts.baseline = oldt;
	rc = git_checkout_tree(wrepo, (const git_object *)newc, &copts);
	if (rc == GIT_ECONFLICT) {
		/* Nothing was written.  Keep HEAD where the files are. */
		if (git_repository_set_head_detached(wrepo, old_tip) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot detach the task's worktree");
			goto out;
		}
		*kept = true;
	} else if (rc < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot update the task's worktree");
	}
out:
	git_tree_free(oldt);
	git_commit_free(oldc);
	git_commit_free(newc);
	git_repository_free(wrepo);
	return err;
}

int sbx_task_import_begin(struct sbx_bundle_import **imp, git_oid *old_tip,
			  struct sbx_repo *repo, const struct sbx_task *t)
{
	struct sbx_bundle_import_opts opts = SBX_BUNDLE_IMPORT_OPTS_INIT;
	char refname[64];
	int err;

	*imp = NULL;
	snprintf(refname, sizeof(refname), "refs/heads/%s", t->branch);
	if (git_reference_name_to_id(old_tip, repo->git, refname) < 0)
		return sbx_error_set(SBX_ENOTFOUND, "task %u's branch '%s' is gone", t->id, t->branch);
	if ((err = sbx_bundle_config_max_size(repo->git, &opts.max_size)))
		return err;
	opts.branch = t->branch;
	opts.base = t->base;
	opts.expected_old = old_tip;
	return sbx_bundle_import_begin(imp, repo->git, &opts);
}

int sbx_task_import_finish(git_oid *tip, bool *worktree_kept, struct sbx_bundle_import *imp,
			   const git_oid *old_tip, struct sbx_task *t)
{
	int err = sbx_bundle_import_finish(imp, tip);

	sbx_bundle_import_free(imp);
	*worktree_kept = false;
	if (err)
		return err;
	t->has_result = true;
	t->result = *tip;
	if (git_oid_cmp(old_tip, tip))
		err = sbx_task_update_worktree(worktree_kept, t, old_tip, tip);
	if (!err)
		err = sbx_task_save(t);
	return err;
}

int sbx_task_import_fd(git_oid *tip, bool *worktree_kept, struct sbx_repo *repo,
		       struct sbx_task *t, int fd)
{
	struct sbx_bundle_import *imp = NULL;
	char *buf;
	git_oid old;
	int err;

	*worktree_kept = false;
	if ((err = sbx_task_import_begin(&imp, &old, repo, t)))
		return err;
	buf = malloc(1 << 16);
	if (!buf) {
		sbx_bundle_import_free(imp);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 16);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = sbx_error_errno(SBX_EIO, "cannot read the bundle");
		else if (n > 0 && (err = sbx_bundle_import_write(imp, buf, (size_t)n)))
			sbx_error_prefix(err, "rejected the result bundle");
		if (n <= 0 || err)
			break;
	}
	free(buf);
	if (err) {
		sbx_bundle_import_free(imp);
		return err;
	}
	return sbx_task_import_finish(tip, worktree_kept, imp, &old, t);
}

/* ---- summaries ---- */

void sbx_task_summary_clear(struct sbx_task_summary *s)
{
	size_t i;

	for (i = 0; i < s->ncommits_listed; i++)
		free(s->commits[i]);
	free(s->commits);
	free(s->base_subject);
	memset(s, 0, sizeof(*s));
}

static char *oneline(git_commit *c)
{
	char hex[8], *s;
	const char *subj = git_commit_summary(c);

	git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
	if (asprintf(&s, "%s %s", hex, subj ? subj : "") < 0)
		return NULL;
	return s;
}

static int diffstat(struct sbx_task_summary *s, git_repository *git, const git_oid *a, const git_oid *b)
{
	git_commit *ca = NULL, *cb = NULL;
	git_tree *ta = NULL, *tb = NULL;
	git_diff *diff = NULL;
	git_diff_stats *stats = NULL;
	git_diff_options dopts;
	git_diff_find_options fopts;
	int err = 0;

	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	git_diff_find_options_init(&fopts, GIT_DIFF_FIND_OPTIONS_VERSION);
	if (git_commit_lookup(&ca, git, a) < 0 || git_commit_lookup(&cb, git, b) < 0 ||
	    git_commit_tree(&ta, ca) < 0 || git_commit_tree(&tb, cb) < 0 ||
	    git_diff_tree_to_tree(&diff, git, ta, tb, &dopts) < 0 ||
	    git_diff_find_similar(diff, &fopts) < 0 || git_diff_get_stats(&stats, diff) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot compute the diffstat");
		goto out;
	}
	s->files_changed = git_diff_stats_files_changed(stats);
	s->insertions = git_diff_stats_insertions(stats);
	s->deletions = git_diff_stats_deletions(stats);
out:
	git_diff_stats_free(stats);
	git_diff_free(diff);
	git_tree_free(ta);
	git_tree_free(tb);
	git_commit_free(ca);
	git_commit_free(cb);
	return err;
}

int sbx_task_summarize(struct sbx_task_summary *s, struct sbx_repo *repo,
		       const struct sbx_task *t, bool with_diffstat)
{
	git_revwalk *walk = NULL;
	git_commit *base = NULL;
	char refname[64];
	git_oid id;
	int err = 0;

	memset(s, 0, sizeof(*s));
	snprintf(refname, sizeof(refname), "refs/heads/%s", t->branch);
	if (git_reference_name_to_id(&s->tip, repo->git, refname) == 0)
		s->branch_exists = true;
	else if (t->has_result)
		s->tip = t->result;
	else
		s->tip = t->base;
	if (git_commit_lookup(&base, repo->git, &t->base) == 0) {
		s->base_subject = strdup(git_commit_summary(base) ? git_commit_summary(base) : "");
		git_commit_free(base);
	}
	s->commits = calloc(SBX_TASK_SUMMARY_MAX_COMMITS, sizeof(*s->commits));
	if (!s->commits)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (git_revwalk_new(&walk, repo->git) < 0 || git_revwalk_push(walk, &s->tip) < 0 ||
	    git_revwalk_hide(walk, &t->base) < 0) {
		/* a tip or base that is gone: nothing to count */
		git_revwalk_free(walk);
		return 0;
	}
	while (git_revwalk_next(&id, walk) == 0) {
		s->ncommits++;
		if (s->ncommits_listed < SBX_TASK_SUMMARY_MAX_COMMITS) {
			git_commit *c = NULL;

			if (git_commit_lookup(&c, repo->git, &id) == 0) {
				s->commits[s->ncommits_listed] = oneline(c);
				if (s->commits[s->ncommits_listed])
					s->ncommits_listed++;
				git_commit_free(c);
			}
		}
	}
	git_revwalk_free(walk);
	if (with_diffstat && git_oid_cmp(&s->tip, &t->base))
		err = diffstat(s, repo->git, &t->base, &s->tip);
	return err;
}

/* ---- removing ---- */

static int worktree_dirty(bool *dirty, const char *path)
{
	git_status_options sopts;
	git_status_list *st = NULL;
	git_repository *w = NULL;

	*dirty = false;
	if (!path_exists(path))
		return 0;
	if (git_repository_open(&w, path) < 0)
		return 0;	/* not a worktree any more: nothing of the user's to lose */
	git_status_options_init(&sopts, GIT_STATUS_OPTIONS_VERSION);
	sopts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
	if (git_status_list_new(&st, w, &sopts) < 0) {
		git_repository_free(w);
		return sbx_git_error(SBX_ERROR, "cannot read the worktree's status");
	}
	*dirty = git_status_list_entrycount(st) > 0;
	git_status_list_free(st);
	git_repository_free(w);
	return 0;
}

static int remove_locked(bool *branch_kept, struct sbx_repo *repo, struct sbx_task *t,
			 unsigned flags)
{
	int err;

	*branch_kept = (flags & SBX_TASK_RM_KEEP_BRANCH) != 0;
	if (t->state != SBX_TASK_REMOVING) {
		t->state = SBX_TASK_REMOVING;
		if ((err = sbx_task_save(t)))
			return err;
	}
	prune_worktree(repo, t->id, t->worktree);
	if (!(flags & SBX_TASK_RM_KEEP_BRANCH) && (err = delete_branch(branch_kept, repo, t->branch)))
		return err;
	return sbx_rmtree(t->dir);
}

int sbx_task_remove(bool *branch_kept, struct sbx_repo *repo, unsigned id, unsigned flags)
{
	struct sbx_task *t = NULL;
	int lock = -1, err;
	bool dirty;

	*branch_kept = false;
	if ((err = lock_repo(&lock, repo)))
		return err;
	err = sbx_task_open(&t, repo, id);
	if (err && err != SBX_ENOTFOUND && (flags & SBX_TASK_RM_FORCE)) {
		/* An unreadable record: remove what a task with this id must have. */
		pr_warn("%s; removing it by name", sbx_error());
		t = calloc(1, sizeof(*t));
		if (!t || asprintf(&t->branch, "sbx/%u", id) < 0 || !(t->dir = task_dir(repo, id)) ||
		    (!git_repository_is_bare(repo->git) &&
		     asprintf(&t->worktree, "%s/sbx/worktrees/%u", repo->commondir, id) < 0)) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		t->id = id;
		t->state = SBX_TASK_REMOVING;	/* nothing to save: the record goes */
		err = 0;
	}
	if (err)
		goto out;
	if (!(flags & SBX_TASK_RM_FORCE)) {
		if (sbx_task_running(t)) {
			err = sbx_error_set(SBX_ELOCKED, "task %u is running", id);
			goto out;
		}
		if ((err = worktree_dirty(&dirty, t->worktree)))
			goto out;
		if (dirty) {
			err = sbx_error_set(SBX_EEXISTS, "task %u's worktree '%s' has local changes",
					    id, t->worktree);
			goto out;
		}
	}
	err = remove_locked(branch_kept, repo, t, flags);
out:
	sbx_task_free(t);
	sbx_unlock(lock);
	return err;
}

/* ---- gc ---- */

static bool dead_temp(const char *name)
{
	const char *p = strstr(name, ".tmp.");
	char *end;
	long pid;

	if (!p)
		return false;
	pid = strtol(p + 5, &end, 10);
	return !*end && !sbx_pid_alive(pid);
}

static int gc_temp_files(struct sbx_task_gc_stats *st, const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char *p;

		if (!dead_temp(e->d_name) || !(p = sbx_path_join(dir, e->d_name)))
			continue;
		if (!unlink(p))
			st->temp_files++;
		free(p);
	}
	closedir(d);
	return 0;
}

static int gc_tasks(struct sbx_task_gc_stats *st, struct sbx_repo *repo)
{
	char *tasks = sbx_dir(repo, "tasks");
	struct dirent *e;
	DIR *d;
	int err = 0;

	if (!tasks)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	d = opendir(tasks);
	while (!err && d && (e = readdir(d))) {
		struct sbx_task *t = NULL;
		char *dir, *rec;
		unsigned id;
		bool kept;

		if (!id_name(e->d_name, &id) || !(dir = sbx_path_join(tasks, e->d_name)))
			continue;
		gc_temp_files(st, dir);
		rec = sbx_path_join(dir, "record");
		if (rec && !path_exists(rec)) {
			/* A create that died before its record: nothing refers to it. */
			if (!sbx_rmtree(dir))
				st->stray_dirs++;
		} else if (sbx_task_open(&t, repo, id) == 0) {
			if (t->state == SBX_TASK_REMOVING) {
				/* The branch stays: we no longer know if the user asked to keep it. */
				if (!remove_locked(&kept, repo, t, SBX_TASK_RM_KEEP_BRANCH))
					st->finished_removals++;
			} else if (t->state == SBX_TASK_RUNNING && !sbx_task_running(t)) {
				t->state = SBX_TASK_FAILED;
				free(t->error);
				t->error = strdup("interrupted: the process running the task died");
				if (!t->finished_ms)
					t->finished_ms = now_ms();
				if (!(err = sbx_task_save(t)))
					st->interrupted++;
			}
		} else {
			pr_warn("%s", sbx_error());
		}
		sbx_task_free(t);
		free(rec);
		free(dir);
	}
	if (d)
		closedir(d);
	free(tasks);
	return err;
}

static int gc_worktrees(struct sbx_task_gc_stats *st, struct sbx_repo *repo)
{
	git_strarray names = { 0 };
	char *wtdir = sbx_dir(repo, "worktrees");
	struct dirent *e;
	size_t i;
	DIR *d;

	if (!wtdir)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	/* git's admin dirs for our worktrees whose task is gone, or whose files are. */
	if (git_worktree_list(&names, repo->git) == 0) {
		for (i = 0; i < names.count; i++) {
			git_worktree *wt = NULL;
			struct sbx_task *t = NULL;
			unsigned id;

			if (strncmp(names.strings[i], "sbx-", 4) || !id_name(names.strings[i] + 4, &id))
				continue;
			if (sbx_task_open(&t, repo, id) == SBX_ENOTFOUND) {
				char *path;

				if (asprintf(&path, "%s/%u", wtdir, id) < 0)
					path = NULL;
				prune_worktree(repo, id, path);
				free(path);
				st->pruned_worktrees++;
			} else if (git_worktree_lookup(&wt, repo->git, names.strings[i]) == 0 &&
				   git_worktree_validate(wt) < 0) {
				git_worktree_prune_options popts;

				git_worktree_prune_options_init(&popts, GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
				if (git_worktree_prune(wt, &popts) == 0)
					st->pruned_worktrees++;
			}
			git_worktree_free(wt);
			sbx_task_free(t);
		}
		git_strarray_dispose(&names);
	}
	/* Worktree directories no task owns. */
	d = opendir(wtdir);
	while (d && (e = readdir(d))) {
		struct sbx_task *t = NULL;
		unsigned id;
		char *p;

		if (!id_name(e->d_name, &id))
			continue;
		if (sbx_task_open(&t, repo, id) == SBX_ENOTFOUND && (p = sbx_path_join(wtdir, e->d_name))) {
			if (!sbx_rmtree(p))
				st->stray_dirs++;
			free(p);
		}
		sbx_task_free(t);
	}
	if (d)
		closedir(d);
	free(wtdir);
	return 0;
}

int sbx_task_gc(struct sbx_task_gc_stats *st, struct sbx_repo *repo)
{
	char *sbx = sbx_dir(repo, NULL);
	unsigned q = 0;
	int lock = -1, err;

	memset(st, 0, sizeof(*st));
	if (!sbx)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if ((err = lock_repo(&lock, repo)))
		goto out;
	gc_temp_files(st, sbx);
	if ((err = gc_tasks(st, repo)) || (err = gc_worktrees(st, repo)))
		goto out;
	if ((err = sbx_bundle_gc(repo->git, &q)))
		goto out;
	st->temp_files += q;
out:
	sbx_unlock(lock);
	free(sbx);
	return err;
}
