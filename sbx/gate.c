// SPDX-License-Identifier: MIT
/* The hook gate: checks on a task's result in a fresh VM, and their results (sbx/gate.h). */
#include "sbx/gate.h"
#include "sbx/config.h"
#include "sbx/fsutil.h"
#include "sbx/hooks.h"
#include "sbx/repo.h"
#include "sbx/task-int.h"
#include "sbx/textrec.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PRE_COMMIT_CONFIG ".pre-commit-config.yaml"
#define PRE_COMMIT_RUN "pre-commit run --all-files"
#define RESULT_MAX (1u << 20)
#define CHECKS_MAX 256

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the result file ---- */

void sbx_check_results_free(struct sbx_check_result *r, size_t n)
{
	size_t i;

	for (i = 0; r && i < n; i++)
		free(r[i].name);
	free(r);
}

int sbx_check_results_format(char **out, size_t *len, const struct sbx_check_result *r, size_t n)
{
	struct textrec_buf b = { 0 };
	size_t i;

	*out = NULL;
	*len = 0;
	textrec_add(&b, "", 0);	/* no results: an empty string, not NULL */
	for (i = 0; i < n; i++) {
		if (!*r[i].name || r[i].status == SBX_CHECK_NONE) {
			free(b.p);
			return sbx_error_set(SBX_EINVAL, "a check result needs a name and a status");
		}
		/* The name escaped as task records escape values. */
		textrec_put_escaped(&b, r[i].name);
		textrec_printf(&b, " %s %llu\n", sbx_check_status_name(r[i].status),
			       (unsigned long long)r[i].duration_ms);
	}
	if (b.oom) {
		free(b.p);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

int sbx_check_results_parse(struct sbx_check_result **out, size_t *nout, const char *buf, size_t len)
{
	struct sbx_check_result *r = NULL;
	const char *p = buf, *end = buf + len;
	size_t n = 0, slots = 0;
	int err = 0;

	*out = NULL;
	*nout = 0;
	if (len > RESULT_MAX)
		return sbx_error_set(SBX_ELIMIT, "check results larger than %u bytes", RESULT_MAX);
	if (memchr(buf, 0, len))
		return SBX_CORRUPT("NUL byte in check results");
	while (p < end && !err) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp2, *sp1;
		char num[24];
		uint64_t ms;
		struct sbx_check_result *nr;

		if (!nl) {
			err = SBX_CORRUPT("check results: line %zu unterminated", n + 1);
			break;
		}
		/* From the right: the duration, the status; the rest is the name. */
		for (sp2 = nl; sp2 > p && sp2[-1] != ' '; sp2--)
			;
		for (sp1 = sp2 > p ? sp2 - 1 : p; sp1 > p && sp1[-1] != ' '; sp1--)
			;
		if (sp2 <= p || sp1 <= p + 1 || (size_t)(nl - sp2) >= sizeof(num) ||
		    (size_t)(sp2 - 1 - sp1) >= sizeof(num) || n >= CHECKS_MAX) {
			err = SBX_CORRUPT("check results: bad line %zu", n + 1);
			break;
		}
		nr = realloc(r, (n + 1) * sizeof(*r));
		if (!nr) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			break;
		}
		r = nr;
		memset(&r[n], 0, sizeof(r[n]));
		slots = n + 1;
		memcpy(num, sp1, (size_t)(sp2 - 1 - sp1));
		num[sp2 - 1 - sp1] = 0;
		if (sbx_check_status_parse(&r[n].status, num)) {
			err = SBX_CORRUPT("check results: bad status on line %zu", n + 1);
			break;
		}
		memcpy(num, sp2, (size_t)(nl - sp2));
		num[nl - sp2] = 0;
		if (task_parse_uint_str(num, UINT64_MAX / 2, &ms)) {
			err = SBX_CORRUPT("check results: bad duration on line %zu", n + 1);
			break;
		}
		r[n].duration_ms = ms;
		if ((err = textrec_unescape(&r[n].name, p, (size_t)(sp1 - 1 - p), TEXTREC_HEX_STRTOL,
					     "a check result")))
			break;
		n++;
		p = nl + 1;
	}
	if (err) {
		sbx_check_results_free(r, slots);
		return err;
	}
	*out = r;
	*nout = n;
	return 0;
}

char *sbx_checks_path(const struct sbx_task *t, unsigned run, const char *ext)
{
	char *p = NULL;

	if (asprintf(&p, "%s/checks/%u.%s", t->dir, run, ext) < 0)
		return NULL;
	return p;
}

int sbx_check_results_read(struct sbx_check_result **out, size_t *n, const struct sbx_task *t,
			   unsigned run)
{
	char *path = sbx_checks_path(t, run, "result"), *buf = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	*n = 0;
	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_read_file(&buf, &len, path, RESULT_MAX);
	free(path);
	if (err)
		return err;
	err = sbx_check_results_parse(out, n, buf, len);
	free(buf);
	return err;
}

int sbx_checks_log_tail(char **out, size_t *len, const struct sbx_task *t, unsigned run, size_t max)
{
	char *path = sbx_checks_path(t, run, "log"), *buf;
	struct stat st;
	off_t from;
	ssize_t got;
	int fd;

	*out = NULL;
	*len = 0;
	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return errno == ENOENT ? SBX_ENOTFOUND : sbx_error_errno(SBX_EIO, "cannot open the check log");
	if (fstat(fd, &st) < 0 || !(buf = malloc(max + 1))) {
		close(fd);
		return sbx_error_set(SBX_ENOMEM, "cannot read the check log");
	}
	from = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
	got = pread(fd, buf, max, from);
	close(fd);
	if (got < 0) {
		free(buf);
		return sbx_error_errno(SBX_EIO, "cannot read the check log");
	}
	buf[got] = 0;
	if (from > 0) {
		char *nl = memchr(buf, '\n', (size_t)got);

		if (nl && nl + 1 < buf + got) {
			got -= nl + 1 - buf;
			memmove(buf, nl + 1, (size_t)got + 1);
		}
	}
	*out = buf;
	*len = (size_t)got;
	return 0;
}

/* ---- which checks ---- */

int sbx_gate_host_hook(char **out, struct sbx_repo *repo)
{
	return sbx_hooks_user_hook(out, repo, "pre-commit");
}

static bool tree_has_pre_commit_config(struct sbx_repo *repo, const git_oid *commit)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	bool yes = false;

	if (git_commit_lookup(&c, repo->git, commit) == 0 && git_commit_tree(&t, c) == 0) {
		const git_tree_entry *e = git_tree_entry_byname(t, PRE_COMMIT_CONFIG);

		yes = e && git_tree_entry_type(e) == GIT_OBJECT_BLOB;
	}
	git_tree_free(t);
	git_commit_free(c);
	return yes;
}

bool sbx_gate_wanted(struct sbx_repo *repo, const struct sbx_settings *set, const git_oid *commit)
{
	char *hook = NULL;
	bool yes;

	if (set->gate == SBX_GATE_OFF)
		return false;
	if (set->nchecks || (commit && tree_has_pre_commit_config(repo, commit)))
		return true;
	yes = !sbx_gate_host_hook(&hook, repo) && hook;
	free(hook);
	return yes;
}

/* ---- running them ---- */

struct gate_log {
	int fd;
	uint64_t bytes, max;
	bool full;
};

static void log_write(struct gate_log *l, const void *data, size_t len)
{
	const char *p = data;

	if (l->fd < 0 || l->full)
		return;
	if (l->bytes + len > l->max) {
		static const char note[] = "\n[git-sbx: check output over sbx.maxLogSize; the rest was discarded]\n";

		len = (size_t)(l->max - l->bytes);
		l->full = true;
		if (len && write(l->fd, p, len) < 0)
			return;
		if (write(l->fd, note, sizeof(note) - 1) < 0)
			return;
		return;
	}
	while (len) {
		ssize_t w = write(l->fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
		l->bytes += (uint64_t)w;
	}
}

static void log_printf(struct gate_log *l, const char *fmt, ...) SBX_PRINTF(2, 3);
static void log_printf(struct gate_log *l, const char *fmt, ...)
{
	char buf[1400];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		log_write(l, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Both of a check's streams into the log: it is guest output, kept as bytes. */
static int check_sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	(void)fd;
	log_write(opaque, data, len);
	return 0;
}

static void say(const struct sbx_gate_opts *o, const char *fmt, ...) SBX_PRINTF(2, 3);
static void say(const struct sbx_gate_opts *o, const char *fmt, ...)
{
	char buf[1200];
	va_list ap;

	if (!o->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	o->progress(o->progress_opaque, buf);
}

struct check {
	char *name;
	const char *const *argv;	/* NULL: the pre-commit tool, probed first */
	const char *cmd;
};

static int add_result(struct sbx_check_result **r, size_t *n, const char *name,
		      enum sbx_check_status st, uint64_t ms)
{
	struct sbx_check_result *nr = realloc(*r, (*n + 1) * sizeof(**r));

	if (!nr)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	*r = nr;
	nr[*n].name = strdup(name);
	if (!nr[*n].name)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	nr[*n].status = st;
	nr[*n].duration_ms = ms;
	(*n)++;
	return 0;
}

static const char *status_word(enum sbx_check_status s)
{
	return s == SBX_CHECK_PASS ? "passed" : s == SBX_CHECK_FAIL ? "failed" : "could not run";
}

int sbx_gate_run(struct sbx_repo *repo, struct sbx_task *task, const git_oid *commit,
		 const struct sbx_gate_opts *o)
{
	struct sbx_check_vm_opts vo = SBX_CHECK_VM_OPTS_INIT;
	const struct sbx_settings *set = o->set;
	struct sbx_check_result *res = NULL;
	struct sbx_check_vm *vm = NULL;
	struct gate_log log = { -1, 0, 0, false };
	char *dir = NULL, *vmdir = NULL, *logp = NULL, *resp = NULL, *hook = NULL, *out = NULL;
	char *console = NULL, msg[1024];
	const char *hook_argv[] = { "/run/sbx/pre-commit", NULL };
	enum sbx_check_status overall = SBX_CHECK_PASS;
	unsigned run = task->checks_run + 1;
	uint64_t t0 = mono_ms();
	size_t nres = 0, outlen = 0, i;
	bool vm_dead = false, framework;
	int err;

	if ((err = sbx_gate_host_hook(&hook, repo)))
		return err;
	framework = tree_has_pre_commit_config(repo, commit);
	dir = task_file(task, "checks");
	vmdir = dir ? sbx_path_join(dir, "vm") : NULL;
	logp = sbx_checks_path(task, run, "log");
	resp = sbx_checks_path(task, run, "result");
	console = vmdir ? sbx_path_join(vmdir, "console.log") : NULL;
	if (!dir || !vmdir || !logp || !resp || !console) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = sbx_mkdirs(vmdir)))
		goto out;
	log.max = set->log_max ? set->log_max : (64ull << 20);
	log.fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log.fd < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot create '%s'", logp);
		goto out;
	}

	vo.image = o->image;
	vo.backend = o->backend;
	vo.cpus = o->cpus;
	vo.memory = o->memory;
	vo.boot_timeout_ms = set->boot_timeout_ms;
	vo.quiet = true;	/* the task said it once */
	vo.dir = vmdir;
	vo.console_log = console;
	vo.base = &task->base;
	vo.hook = hook;
	vo.user_name = set->user_name;
	vo.user_email = set->user_email;
	vo.progress = o->progress;
	vo.progress_opaque = o->progress_opaque;
	if (sbx_check_vm_start(&vm, repo, commit, &vo)) {
		snprintf(msg, sizeof(msg), "%s", sbx_error());
		log_printf(&log, "=== git-sbx: the check VM did not start: %s\n", msg);
		say(o, "the check VM did not start: %s", msg);
		vm_dead = true;
	}

	/* The hook, each sbx.check, the pre-commit tool: in that order. */
	for (i = 0; i < (hook ? 1 : 0) + set->nchecks + (framework ? 1 : 0); i++) {
		const char *name, *sh_argv[] = { "sh", "-c", NULL, NULL };
		const char *const *argv;
		enum sbx_check_status st;
		struct sbx_exec_result xr;
		uint64_t t;
		size_t k = i - (hook ? 1 : 0);

		if (hook && i == 0) {
			name = "pre-commit";
			argv = hook_argv;
		} else if (k < set->nchecks) {
			name = set->checks[k];
			sh_argv[2] = set->checks[k];
			argv = sh_argv;
		} else {
			const char *probe[] = { "sh", "-c", "command -v pre-commit >/dev/null 2>&1", NULL };

			name = PRE_COMMIT_RUN;
			sh_argv[2] = PRE_COMMIT_RUN;
			argv = sh_argv;
			if (!vm_dead && !sbx_check_vm_exec(vm, probe, 60000, NULL, NULL, o->interrupt, &xr) &&
			    xr.code != 0) {
				log_printf(&log, "=== %s: skipped: the image has no pre-commit tool\n", name);
				say(o, "check '%s': skipped (the image has no pre-commit tool)", name);
				continue;
			}
		}
		if (o->interrupt && *o->interrupt && !vm_dead) {
			log_printf(&log, "=== git-sbx: stopped by the user\n");
			vm_dead = true;
		}
		log_printf(&log, "=== %s\n", name);
		t = mono_ms();
		if (vm_dead) {
			st = SBX_CHECK_ERROR;
			log_printf(&log, "[git-sbx: not run: no check VM]\n");
		} else if (sbx_check_vm_exec(vm, argv, set->check_timeout_ms, check_sink, &log,
					     o->interrupt, &xr)) {
			snprintf(msg, sizeof(msg), "%s", sbx_error());
			log_printf(&log, "\n[git-sbx: %s]\n", msg);
			st = SBX_CHECK_ERROR;
			vm_dead = true;
		} else if (xr.flags & PROTO_EXIT_TIMEOUT) {
			log_printf(&log, "\n[git-sbx: timed out after sbx.checkTimeout (%llu s)]\n",
				   (unsigned long long)set->check_timeout_ms / 1000);
			st = SBX_CHECK_ERROR;
		} else if (xr.flags & PROTO_EXIT_SPAWN_FAILED) {
			log_printf(&log, "\n[git-sbx: the guest could not start it (status %d)]\n", xr.code);
			st = SBX_CHECK_ERROR;
		} else {
			st = xr.code ? SBX_CHECK_FAIL : SBX_CHECK_PASS;
			if (xr.code)
				log_printf(&log, "\n[git-sbx: exit status %d]\n", xr.code);
		}
		t = mono_ms() - t;
		log_printf(&log, "=== %s: %s (%llu ms)\n", name, sbx_check_status_name(st),
			   (unsigned long long)t);
		say(o, "check '%s' %s (%llu.%llu s, in a fresh VM)", name, status_word(st),
		    (unsigned long long)t / 1000, (unsigned long long)t % 1000 / 100);
		if ((err = add_result(&res, &nres, name, st, t)))
			goto out;
		if (st == SBX_CHECK_ERROR)
			overall = SBX_CHECK_ERROR;
		else if (st == SBX_CHECK_FAIL && overall == SBX_CHECK_PASS)
			overall = SBX_CHECK_FAIL;
	}
	if (!nres) {
		/* Nothing ran (the tool was missing): nothing to gate on. */
		overall = vm_dead ? SBX_CHECK_ERROR : SBX_CHECK_PASS;
		if (vm_dead && (err = add_result(&res, &nres, "check VM", SBX_CHECK_ERROR, 0)))
			goto out;
	}
	if ((err = sbx_check_results_format(&out, &outlen, res, nres)) ||
	    (err = sbx_write_atomic(resp, out, outlen)))
		goto out;
	task->checks_run = run;
	task->checks_status = overall;
	task->checks_ms = mono_ms() - t0;
out:
	sbx_check_vm_stop(vm);
	if (log.fd >= 0)
		close(log.fd);
	if (vmdir)
		sbx_rmtree(vmdir);
	sbx_check_results_free(res, nres);
	free(out);
	free(dir);
	free(vmdir);
	free(logp);
	free(resp);
	free(hook);
	free(console);
	return err;
}

int sbx_gate_keep_rejected(char *refname, size_t len, struct sbx_repo *repo,
			   const struct sbx_task *task, const git_oid *commit)
{
	git_reference *ref = NULL;

	snprintf(refname, len, "refs/sbx/%u/rejected-%u", task->id, task->checks_run);
	if (git_reference_create(&ref, repo->git, refname, commit, 1,
				 "sbx: result rejected by the checks") < 0)
		return sbx_git_error(SBX_ERROR, "cannot keep the rejected result");
	git_reference_free(ref);
	return 0;
}
