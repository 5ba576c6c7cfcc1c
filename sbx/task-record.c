// SPDX-License-Identifier: MIT
/* Task records: the text format with its checksum (docs/formats.md "Task record"). */
#include "sbx/task.h"
#include "sbx/task-int.h"
#include "sbx/textrec.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *const state_names[] = {
	[SBX_TASK_CREATED] = "created",
	[SBX_TASK_RUNNING] = "running",
	[SBX_TASK_DONE] = "done",
	[SBX_TASK_FAILED] = "failed",
	[SBX_TASK_CANCELLED] = "cancelled",
	[SBX_TASK_REMOVING] = "removing",
	[SBX_TASK_ACCEPTED] = "accepted",
	[SBX_TASK_REJECTED] = "rejected",
	[SBX_TASK_CHECKS_FAILED] = "checks failed",
};

static const char *const check_names[] = {
	[SBX_CHECK_NONE] = "none",
	[SBX_CHECK_PASS] = "pass",
	[SBX_CHECK_FAIL] = "fail",
	[SBX_CHECK_ERROR] = "error",
};

static const char *const step_names[] = {
	[SBX_STEP_START] = "start",
	[SBX_STEP_TRANSFER_IN] = "transfer-in",
	[SBX_STEP_AGENT] = "agent",
	[SBX_STEP_CHECKPOINT] = "checkpoint",
	[SBX_STEP_TRANSFER_OUT] = "transfer-out",
	[SBX_STEP_STOP] = "stop",
	[SBX_STEP_IMPORT] = "import",
	[SBX_STEP_GATE] = "gate",
	[SBX_STEP_PUBLISH] = "publish",
};

const char *sbx_task_step_name(enum sbx_task_step s)
{
	if ((unsigned)s < SBX_STEP_COUNT)
		return step_names[s];
	return "unknown";
}

int sbx_task_step_parse(enum sbx_task_step *out, const char *name)
{
	unsigned i;

	for (i = 0; i < SBX_STEP_COUNT; i++)
		if (!strcmp(name, step_names[i])) {
			*out = (enum sbx_task_step)i;
			return 0;
		}
	return -1;
}

void sbx_task_step_set(struct sbx_task *t, enum sbx_task_step s, uint64_t ms)
{
	if ((unsigned)s >= SBX_STEP_COUNT)
		return;
	t->step_ms[s] = ms;
	t->steps_ran |= 1u << s;
}

void sbx_task_step_add(struct sbx_task *t, enum sbx_task_step s, uint64_t ms)
{
	if ((unsigned)s >= SBX_STEP_COUNT)
		return;
	sbx_task_step_set(t, s, t->step_ms[s] + ms);
}

struct sbx_task_attempt *sbx_task_attempt_get(const struct sbx_task *t, unsigned n)
{
	return n && n <= t->nattempts ? &t->attempts[n - 1] : NULL;
}

int sbx_task_attempt_add(struct sbx_task_attempt **out, struct sbx_task *t, const char *prompt)
{
	struct sbx_task_attempt *v, *a;

	*out = NULL;
	if (t->nattempts >= SBX_TASK_ATTEMPTS_MAX)
		return sbx_error_set(SBX_ELIMIT, "task %u has %u attempts, the most it may have", t->id,
				     SBX_TASK_ATTEMPTS_MAX);
	v = realloc(t->attempts, (t->nattempts + 1) * sizeof(*v));
	if (!v)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	t->attempts = v;
	a = &v[t->nattempts];
	memset(a, 0, sizeof(*a));
	a->n = (unsigned)t->nattempts + 1;
	a->state = SBX_TASK_CREATED;
	a->exit_status = -1;
	if (prompt && !(a->prompt = strdup(prompt)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	t->nattempts++;
	*out = a;
	return 0;
}

static void attempts_free(struct sbx_task_attempt *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].prompt);
		free(v[i].error);
	}
	free(v);
}

const char *sbx_check_status_name(enum sbx_check_status s)
{
	if ((unsigned)s < sizeof(check_names) / sizeof(check_names[0]))
		return check_names[s];
	return "unknown";
}

int sbx_check_status_parse(enum sbx_check_status *out, const char *s)
{
	size_t i;

	for (i = 1; i < sizeof(check_names) / sizeof(check_names[0]); i++)
		if (!strcmp(s, check_names[i])) {
			*out = (enum sbx_check_status)i;
			return 0;
		}
	return -1;
}

const char *sbx_task_state_name(enum sbx_task_state s)
{
	if ((unsigned)s < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[s];
	return "unknown";
}

int task_parse_uint_str(const char *s, uint64_t max, uint64_t *out)
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

	if (task_parse_uint_str(s, SBX_TASK_ID_MAX, &v) || v == 0)
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
	free(t->warm);
	free(t->start_note);
	free(t->reviewer);
	free(t->accept_mode);
	free(t->accept_into);
	free(t->agent_command);
	attempts_free(t->attempts, t->nattempts);
	free(t->dir);
	free(t->result_ref);
	free(t);
}

void sbx_task_list_free(struct sbx_task **tasks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sbx_task_free(tasks[i]);
	free(tasks);
}

/* ---- the record file ---- */

/* "attempt <n> <started> <finished> <agent ms> <exit|-> <tip|-> <warm|-> <state>", then its texts. */
static void format_attempt(struct textrec_buf *b, const struct sbx_task_attempt *a)
{
	char hex[GIT_OID_HEXSZ + 1], exit_s[8];

	snprintf(exit_s, sizeof(exit_s), "%d", a->exit_status);
	textrec_printf(b, "attempt %u %lld %lld %llu %s %s %s %s\n", a->n, (long long)a->started_ms,
		       (long long)a->finished_ms, (unsigned long long)a->agent_ms,
		       a->exit_status >= 0 ? exit_s : "-",
		       a->has_tip ? git_oid_tostr(hex, sizeof(hex), &a->tip) : "-",
		       a->warm[0] ? a->warm : "-", sbx_task_state_name(a->state));
	if (a->prompt) {
		textrec_printf(b, "attempt-prompt %u ", a->n);
		textrec_put_escaped(b, a->prompt);
		textrec_add(b, "\n", 1);
	}
	if (a->error) {
		textrec_printf(b, "attempt-error %u ", a->n);
		textrec_put_escaped(b, a->error);
		textrec_add(b, "\n", 1);
	}
}

int sbx_task_record_format(char **out, size_t *len, const struct sbx_task *t)
{
	struct textrec_buf b = { 0 };
	char hex[GIT_OID_HEXSZ + 1];
	size_t i;

	*out = NULL;
	textrec_printf(&b, "sbx-task-record %d\n", SBX_TASK_RECORD_VERSION);
	textrec_printf(&b, "id %u\n", t->id);
	textrec_printf(&b, "state %s\n", sbx_task_state_name(t->state));
	textrec_printf(&b, "base %s\n", git_oid_tostr(hex, sizeof(hex), &t->base));
	textrec_put_str(&b, "branch", t->branch);
	textrec_put_str(&b, "worktree", t->worktree);
	textrec_put_str(&b, "agent", t->agent);
	textrec_put_str(&b, "image", t->image);
	textrec_printf(&b, "created %lld\n", (long long)t->created_ms);
	if (t->started_ms)
		textrec_printf(&b, "started %lld\n", (long long)t->started_ms);
	if (t->finished_ms)
		textrec_printf(&b, "finished %lld\n", (long long)t->finished_ms);
	for (i = 0; i < SBX_STEP_COUNT; i++)
		if (sbx_task_step_ran(t, (enum sbx_task_step)i))
			textrec_printf(&b, "step %s %llu\n", step_names[i], (unsigned long long)t->step_ms[i]);
	if (t->cpus || t->memory)
		textrec_printf(&b, "machine %u %llu\n", t->cpus, (unsigned long long)t->memory);
	textrec_put_str(&b, "agent-command", t->agent_command);
	if (t->warm)
		textrec_printf(&b, "warm %s %lld\n", t->warm, (long long)t->warm_created_ms);
	if (t->warm_build_ms)
		textrec_printf(&b, "warm-built %llu\n", (unsigned long long)t->warm_build_ms);
	textrec_put_str(&b, "start-note", t->start_note);
	if (t->exit_status >= 0)
		textrec_printf(&b, "exit %d\n", t->exit_status);
	if (t->has_result)
		textrec_printf(&b, "result %s\n", git_oid_tostr(hex, sizeof(hex), &t->result));
	if (t->checks_run)
		textrec_printf(&b, "checks %u %s %llu\n", t->checks_run,
			  sbx_check_status_name(t->checks_status), (unsigned long long)t->checks_ms);
	textrec_put_str(&b, "error", t->error);
	if (t->reviewed_ms)
		textrec_printf(&b, "reviewed %lld\n", (long long)t->reviewed_ms);
	textrec_put_str(&b, "reviewer", t->reviewer);
	textrec_put_str(&b, "accept-mode", t->accept_mode);
	textrec_put_str(&b, "accept-into", t->accept_into);
	if (t->has_accept_commit)
		textrec_printf(&b, "accept-commit %s\n", git_oid_tostr(hex, sizeof(hex), &t->accept_commit));
	for (i = 0; i < t->nattempts; i++)
		format_attempt(&b, &t->attempts[i]);
	if (t->chosen)
		textrec_printf(&b, "chosen %u %s\n", t->chosen, t->picked ? "picked" : "auto");
	textrec_put_str(&b, "prompt", t->prompt);
	if (!b.oom)
		textrec_printf(&b, "checksum %08lx\n", crc32(0, (const Bytef *)b.p, (uInt)b.len));
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

	if (task_parse_uint_str(v, INT64_MAX, &u))
		return -1;
	*out = (int64_t)u;
	return 0;
}

/* "<64 hex> <created ms>" */
static int parse_warm(struct sbx_task *t, const char *v)
{
	size_t i;

	if (strlen(v) < 66 || v[64] != ' ')
		return -1;
	for (i = 0; i < 64; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return -1;
	if (parse_i64(&t->warm_created_ms, v + 65))
		return -1;
	t->warm = strndup(v, 64);
	return t->warm ? 0 : -1;
}

/* Version 1: "boot transfer-in agent transfer-out import", ms; a step ran when not 0. */
static int parse_timing(struct sbx_task *t, const char *v)
{
	static const enum sbx_task_step f[] = { SBX_STEP_START, SBX_STEP_TRANSFER_IN, SBX_STEP_AGENT,
						SBX_STEP_TRANSFER_OUT, SBX_STEP_IMPORT };
	char buf[128], *save = NULL, *tok;
	uint64_t ms;
	size_t i = 0;

	if (strlen(v) >= sizeof(buf))
		return -1;
	strcpy(buf, v);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (i >= 5 || task_parse_uint_str(tok, UINT64_MAX / 2, &ms))
			return -1;
		if (ms)
			sbx_task_step_set(t, f[i], ms);
		i++;
	}
	return i == 5 ? 0 : -1;
}

/* Split "<word> <rest>" in place: *rest after the first space; -1 without one. */
static int split1(char *v, char **rest)
{
	char *sp = strchr(v, ' ');

	if (!sp)
		return -1;
	*sp = 0;
	*rest = sp + 1;
	return 0;
}

/* "<name> <ms>"; a name this version does not know is skipped (*known false). */
static int parse_step(struct sbx_task *t, char *v)
{
	enum sbx_task_step s;
	uint64_t ms;
	char *num;

	if (split1(v, &num) || task_parse_uint_str(num, UINT64_MAX / 2, &ms))
		return -1;
	if (sbx_task_step_parse(&s, v))
		return 0;
	if (sbx_task_step_ran(t, s))
		return -1;
	sbx_task_step_set(t, s, ms);
	return 0;
}

/* "<cpus> <memory bytes>" */
static int parse_machine(struct sbx_task *t, char *v)
{
	uint64_t cpus;
	char *mem;

	if (t->cpus || t->memory || split1(v, &mem) || task_parse_uint_str(v, 1024, &cpus) ||
	    task_parse_uint_str(mem, UINT64_MAX / 2, &t->memory) || (!cpus && !t->memory))
		return -1;
	t->cpus = (unsigned)cpus;
	return 0;
}

static bool hex_ok(const char *v, size_t n)
{
	size_t i;

	if (strlen(v) != n)
		return false;
	for (i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return false;
	return true;
}

/*
 * "<n> <started> <finished> <agent ms> <exit|-> <tip|-> <warm|-> <state>":
 * attempt n must be the next one (1, 2, ...).
 */
static int parse_attempt(struct sbx_task *t, char *v)
{
	struct sbx_task_attempt *a;
	char *f[8];
	uint64_t n, u;
	int i;

	f[0] = v;
	for (i = 1; i < 8; i++)
		if (split1(f[i - 1], &f[i]))
			return -1;
	if (task_parse_uint_str(f[0], SBX_TASK_ATTEMPTS_MAX, &n) || n != t->nattempts + 1 ||
	    sbx_task_attempt_add(&a, t, NULL))
		return -1;
	if (parse_i64(&a->started_ms, f[1]) || parse_i64(&a->finished_ms, f[2]) ||
	    task_parse_uint_str(f[3], UINT64_MAX / 2, &a->agent_ms) || parse_state(&a->state, f[7]))
		return -1;
	if (strcmp(f[4], "-")) {
		if (task_parse_uint_str(f[4], 255, &u))
			return -1;
		a->exit_status = (int)u;
	}
	if (strcmp(f[5], "-")) {
		if (parse_oid(&a->tip, f[5]))
			return -1;
		a->has_tip = true;
	}
	if (strcmp(f[6], "-")) {
		if (!hex_ok(f[6], 64))
			return -1;
		memcpy(a->warm, f[6], 65);
	}
	return 0;
}

/* "attempt-prompt <n> <text>" / "attempt-error <n> <text>": the attempt's line came first. */
static int parse_attempt_text(struct sbx_task *t, char *v, bool prompt)
{
	struct sbx_task_attempt *a;
	char *text, **slot;
	uint64_t n;

	if (split1(v, &text) || task_parse_uint_str(v, SBX_TASK_ATTEMPTS_MAX, &n) ||
	    !(a = sbx_task_attempt_get(t, (unsigned)n)))
		return -1;
	slot = prompt ? &a->prompt : &a->error;
	if (*slot || !(*slot = strdup(text)))
		return -1;
	return 0;
}

/* "<n> auto|picked" */
static int parse_chosen(struct sbx_task *t, char *v)
{
	char *how;
	uint64_t n;

	if (t->chosen || split1(v, &how) || task_parse_uint_str(v, SBX_TASK_ATTEMPTS_MAX, &n) || !n)
		return -1;
	if (!strcmp(how, "picked"))
		t->picked = true;
	else if (strcmp(how, "auto"))
		return -1;
	t->chosen = (unsigned)n;
	return 0;
}

/* "<n> <pass|fail|error> <ms>" */
static int parse_checks(struct sbx_task *t, const char *v)
{
	char buf[64], *a, *b;
	uint64_t n;

	if (strlen(v) >= sizeof(buf))
		return -1;
	strcpy(buf, v);
	a = strchr(buf, ' ');
	if (!a)
		return -1;
	*a++ = 0;
	b = strchr(a, ' ');
	if (!b)
		return -1;
	*b++ = 0;
	if (task_parse_uint_str(buf, 1000000, &n) || !n || sbx_check_status_parse(&t->checks_status, a) ||
	    task_parse_uint_str(b, UINT64_MAX / 2, &t->checks_ms))
		return -1;
	t->checks_run = (unsigned)n;
	return 0;
}

int sbx_task_record_parse(struct sbx_task **out, const char *buf, size_t len)
{
	enum { K_ID = 1, K_STATE = 2, K_BASE = 4, K_BRANCH = 8, K_CREATED = 16 };
	struct sbx_task *t;
	const char *p = buf, *end = buf + len, *sum_at;
	unsigned seen = 0, line = 0, seen_timing = 0, version = 2;
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
		err = textrec_unescape(&val, sp + 1, (size_t)(nl - sp - 1), TEXTREC_HEX_STRTOL,
				       "the task record");
		if (err) {
			free(key);
			break;
		}
		if (line == 1) {
			if (strcmp(key, "sbx-task-record"))
				err = SBX_CORRUPT("not a task record");
			else if (!strcmp(val, "1"))
				version = 1;
			else if (strcmp(val, "2"))
				err = sbx_error_set(SBX_EUNSUPPORTED, "task record version %s (this git-sbx reads versions 1 and %d)",
						    val, SBX_TASK_RECORD_VERSION);
		} else if (!strcmp(key, "id")) {
			uint64_t v;

			bit = K_ID;
			if (task_parse_uint_str(val, SBX_TASK_ID_MAX, &v) || !v)
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
		} else if (!strcmp(key, "accept-commit")) {
			if (t->has_accept_commit || parse_oid(&t->accept_commit, val))
				err = SBX_CORRUPT("bad accept-commit in the task record");
			t->has_accept_commit = true;
		} else if (!strcmp(key, "reviewed")) {
			if (t->reviewed_ms || parse_i64(&t->reviewed_ms, val) || !t->reviewed_ms)
				err = SBX_CORRUPT("bad time in the task record");
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
			if (version != 1 || seen_timing++ || parse_timing(t, val))
				err = SBX_CORRUPT("bad timing in the task record");
		} else if (!strcmp(key, "step")) {
			if (version == 1 || parse_step(t, val))
				err = SBX_CORRUPT("bad step in the task record");
		} else if (!strcmp(key, "machine")) {
			if (parse_machine(t, val))
				err = SBX_CORRUPT("bad machine in the task record");
		} else if (!strcmp(key, "attempt")) {
			if (parse_attempt(t, val))
				err = SBX_CORRUPT("bad attempt %u in the task record", (unsigned)t->nattempts + 1);
		} else if (!strcmp(key, "attempt-prompt") || !strcmp(key, "attempt-error")) {
			if (parse_attempt_text(t, val, key[8] == 'p'))
				err = SBX_CORRUPT("bad %s in the task record", key);
		} else if (!strcmp(key, "chosen")) {
			if (parse_chosen(t, val))
				err = SBX_CORRUPT("bad chosen attempt in the task record");
		} else if (!strcmp(key, "warm")) {
			if (t->warm || parse_warm(t, val))
				err = SBX_CORRUPT("bad warm base in the task record");
		} else if (!strcmp(key, "warm-built")) {
			if (task_parse_uint_str(val, UINT64_MAX / 2, &t->warm_build_ms))
				err = SBX_CORRUPT("bad warm-built in the task record");
		} else if (!strcmp(key, "checks")) {
			if (t->checks_run || parse_checks(t, val))
				err = SBX_CORRUPT("bad checks in the task record");
		} else if (!strcmp(key, "exit")) {
			uint64_t v;

			if (task_parse_uint_str(val, 255, &v))
				err = SBX_CORRUPT("bad exit status in the task record");
			t->exit_status = (int)v;
		} else {
			char **slot = !strcmp(key, "branch") ? &t->branch
				    : !strcmp(key, "worktree") ? &t->worktree
				    : !strcmp(key, "agent") ? &t->agent
				    : !strcmp(key, "image") ? &t->image
				    : !strcmp(key, "error") ? &t->error
				    : !strcmp(key, "start-note") ? &t->start_note
				    : !strcmp(key, "reviewer") ? &t->reviewer
				    : !strcmp(key, "accept-mode") ? &t->accept_mode
				    : !strcmp(key, "accept-into") ? &t->accept_into
				    : !strcmp(key, "agent-command") ? &t->agent_command
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
	if (!err && t->chosen > t->nattempts)
		err = SBX_CORRUPT("the task record chooses attempt %u of %zu", t->chosen, t->nattempts);
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

