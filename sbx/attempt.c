// SPDX-License-Identifier: MIT
/*
 * Attempts of a task (sbx/attempt.h): their views, how many run at once,
 * the process that runs them side by side, and the choice of one.
 * Comparing them is sbx/attempt-cmp.c.
 */
#include "sbx/attempt.h"
#include "sbx/agent.h"
#include "sbx/config.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "sbx/task-int.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void sbx_attempt_ref(char *buf, size_t len, unsigned id, unsigned n)
{
	snprintf(buf, len, "refs/sbx/%u/%u", id, n);
}

static char *attempt_dir(const struct sbx_task *t, unsigned n)
{
	char *s;

	if (asprintf(&s, "%s/attempts/%u", t->dir, n) < 0)
		return NULL;
	return s;
}

char *sbx_attempt_file(const struct sbx_task *t, unsigned n, const char *name)
{
	char *dir = attempt_dir(t, n), *p;

	if (!dir)
		return NULL;
	if (n == 1 && !task_path_exists(dir)) {
		free(dir);
		return task_file(t, name);
	}
	p = sbx_path_join(dir, name);
	free(dir);
	return p;
}

static int dup_opt(char **out, const char *s)
{
	*out = NULL;
	if (s && !(*out = strdup(s)))
		return -1;
	return 0;
}

int sbx_attempt_view(struct sbx_task **out, const struct sbx_task *t, unsigned n)
{
	const struct sbx_task_attempt *a = sbx_task_attempt_get(t, n);
	struct sbx_task *v;
	char ref[64];

	*out = NULL;
	if (!a)
		return sbx_error_set(SBX_ENOTFOUND, "task %u has no attempt %u", t->id, n);
	v = calloc(1, sizeof(*v));
	if (!v)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	v->id = t->id;
	v->state = SBX_TASK_CREATED;
	v->base = t->base;
	v->exit_status = -1;
	v->created_ms = task_now_ms();
	v->cpus = t->cpus;
	v->memory = t->memory;
	v->attempt = n;
	sbx_attempt_ref(ref, sizeof(ref), t->id, n);
	if (dup_opt(&v->prompt, a->prompt ? a->prompt : t->prompt) || dup_opt(&v->branch, t->branch) ||
	    dup_opt(&v->agent, t->agent) || dup_opt(&v->image, t->image) ||
	    dup_opt(&v->agent_command, t->agent_command) || dup_opt(&v->result_ref, ref) ||
	    !(v->dir = attempt_dir(t, n))) {
		sbx_task_free(v);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	*out = v;
	return 0;
}

/* ---- how many at once ---- */

/* MemAvailable of /proc/meminfo in bytes; 0 when unknown. */
static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb;
	char line[256];
	uint64_t v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
			v = (uint64_t)kb << 10;
			break;
		}
	fclose(f);
	return v;
}

int sbx_attempts_parallel(unsigned *out, char *why, size_t whylen, struct sbx_repo *repo,
			  uint64_t vm_memory, unsigned count)
{
	struct sbx_config *cfg = NULL;
	char *val = NULL;
	uint64_t p = 0;
	int err;

	*out = 1;
	if ((err = sbx_config_open(&cfg, repo)))
		return err;
	err = sbx_config_string(cfg, "sbx.parallel", &val);
	sbx_config_free(cfg);
	if (err == SBX_ENOTFOUND) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		uint64_t mem = mem_available(), by_mem;

		if (!vm_memory)
			vm_memory = 1ULL << 30;
		if (ncpu < 1)
			ncpu = 1;
		by_mem = mem ? mem / vm_memory : (uint64_t)ncpu;
		if (!by_mem)
			by_mem = 1;
		p = (uint64_t)ncpu < by_mem ? (uint64_t)ncpu : by_mem;
		snprintf(why, whylen, "sbx.parallel unset: %ld CPU%s, %.1f GiB available for %.1f GiB VMs",
			 ncpu, ncpu == 1 ? "" : "s", (double)mem / (1 << 30), (double)vm_memory / (1 << 30));
	} else if (err) {
		return err;
	} else {
		if (task_parse_uint_str(val, SBX_TASK_ATTEMPTS_MAX, &p) || !p) {
			err = sbx_error_set(SBX_EINVAL, "bad config value for 'sbx.parallel': '%s' (1 to %u)",
					    val, SBX_TASK_ATTEMPTS_MAX);
			free(val);
			return err;
		}
		free(val);
		snprintf(why, whylen, "sbx.parallel");
	}
	if (p > count)
		p = count;
	*out = p ? (unsigned)p : 1;
	return 0;
}

/* ---- one attempt's process ---- */

#define LINE_MAX_BYTES 4096

/* The agent's output of one attempt, cut into lines for the caller. */
struct lines {
	const struct sbx_attempts_opts *o;
	unsigned n;
	char buf[2][LINE_MAX_BYTES + 1];
	size_t len[2];
};

static int lines_emit(struct lines *l, int i)
{
	int err = 0;

	if (!l->len[i])
		return 0;
	if (l->buf[i][l->len[i] - 1] != '\n')
		l->buf[i][l->len[i]++] = '\n';
	err = l->o->output(l->o->opaque, l->n, i ? 2 : 1, (const uint8_t *)l->buf[i], l->len[i]);
	l->len[i] = 0;
	return err;
}

static int lines_sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct lines *l = opaque;
	int i = fd == 2, err = 0;

	while (len && !err) {
		size_t room = LINE_MAX_BYTES - l->len[i], take = len < room ? len : room;
		const uint8_t *nl = memchr(data, '\n', take);

		if (nl)
			take = (size_t)(nl - data) + 1;
		memcpy(l->buf[i] + l->len[i], data, take);
		l->len[i] += take;
		data += take;
		len -= take;
		if (nl || l->len[i] == LINE_MAX_BYTES)
			err = lines_emit(l, i);
	}
	return err;
}

static void lines_progress(void *opaque, const char *what)
{
	struct lines *l = opaque;

	l->o->progress(l->o->opaque, l->n, what);
}

/* In the forked process: attempt n's session on its view of the task. */
static void __attribute__((noreturn))
run_child(struct sbx_task *t, unsigned n, const struct sbx_attempts_opts *o,
	  const struct sbx_task_run_opts *base_ro)
{
	struct sbx_task_run_opts ro = *base_ro;
	struct sbx_task_run_result res;
	struct sbx_repo *repo = NULL;
	struct sbx_task *view = NULL;
	static struct lines l;
	int err;

	l.o = o;
	l.n = n;
	ro.output = o->output ? lines_sink : NULL;
	ro.output_opaque = &l;
	ro.progress = o->progress ? lines_progress : NULL;
	ro.progress_opaque = &l;
	/* Our own repository handle: the parent's shares file offsets with us. */
	err = sbx_repo_open(&repo);
	if (!err)
		err = sbx_attempt_view(&view, t, n);
	if (!err)
		err = sbx_task_run(&res, repo, view, &ro);
	if (o->output) {
		lines_emit(&l, 0);
		lines_emit(&l, 1);
	}
	if (err && o->progress)
		o->progress(o->opaque, n, sbx_error());
	_exit(err ? 2 : 0);
}

/* ---- the task's process ---- */

struct coord {
	const struct sbx_attempts_opts *o;
	struct sbx_task_run_opts ro;	/* o->run with the task's own progress */
	struct sbx_repo *repo;
	struct sbx_task *t;
	struct sbx_attempts_result *res;
};

static void say(struct coord *c, unsigned n, const char *fmt, ...) SBX_PRINTF(3, 4);
static void say(struct coord *c, unsigned n, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	if (!c->o->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->o->progress(c->o->opaque, n, buf);
}

static void coord_progress(void *opaque, const char *what)
{
	say(opaque, 0, "%s", what);
}

static bool interrupted(const struct coord *c)
{
	return c->o->run->interrupt && *c->o->run->interrupt;
}

static bool succeeded(const struct sbx_task_attempt *a)
{
	return a->state == SBX_TASK_DONE && a->exit_status == 0;
}

static int set_ref(struct sbx_repo *repo, const char *name, const git_oid *to, const char *msg)
{
	git_reference *ref = NULL;

	if (git_reference_create(&ref, repo->git, name, to, 1, msg) < 0)
		return sbx_git_error(SBX_ERROR, "cannot write the attempt's ref");
	git_reference_free(ref);
	return 0;
}

/* The view's record after its session: what the attempt line keeps. */
static void collect(struct coord *c, unsigned n, int status)
{
	struct sbx_task_attempt *a = sbx_task_attempt_get(c->t, n);
	struct sbx_task *v = NULL;
	char *dir = attempt_dir(c->t, n), ref[64], how[64];
	int err;

	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(status));
	err = dir ? task_open_dir(&v, dir, c->t->id) : sbx_error_set(SBX_ENOMEM, "out of memory");
	free(dir);
	free(a->error);
	a->error = NULL;
	a->finished_ms = task_now_ms();
	if (err) {
		a->state = SBX_TASK_FAILED;
		if (asprintf(&a->error, "the attempt did not start (%s): %s", how, sbx_error()) < 0)
			a->error = NULL;
		return;
	}
	a->state = v->state;
	a->exit_status = v->exit_status;
	if (v->started_ms)
		a->started_ms = v->started_ms;
	if (v->finished_ms)
		a->finished_ms = v->finished_ms;
	a->agent_ms = v->step_ms[SBX_STEP_AGENT];
	a->warm[0] = 0;
	if (v->warm)
		snprintf(a->warm, sizeof(a->warm), "%s", v->warm);
	if (v->error)
		a->error = strdup(v->error);
	if (a->state == SBX_TASK_RUNNING || a->state == SBX_TASK_CREATED) {
		a->state = SBX_TASK_FAILED;
		free(a->error);
		if (asprintf(&a->error, "the attempt's process ended before its session did (%s)", how) < 0)
			a->error = NULL;
	}
	sbx_attempt_ref(ref, sizeof(ref), c->t->id, n);
	a->has_tip = (v->has_result || a->state == SBX_TASK_DONE || a->state == SBX_TASK_CHECKS_FAILED) &&
		     git_reference_name_to_id(&a->tip, c->repo->git, ref) == 0;
	sbx_task_free(v);
}

void sbx_attempt_copy_session(struct sbx_task *t, unsigned n)
{
	struct sbx_task *v = NULL;
	char *dir = attempt_dir(t, n);

	if (!dir || task_path_exists(dir) == false || task_open_dir(&v, dir, t->id)) {
		free(dir);
		return;
	}
	free(dir);
	memcpy(t->step_ms, v->step_ms, sizeof(t->step_ms));
	t->steps_ran = v->steps_ran;
	free(t->warm);
	t->warm = v->warm;
	v->warm = NULL;
	t->warm_created_ms = v->warm_created_ms;
	free(t->start_note);
	t->start_note = v->start_note;
	v->start_note = NULL;
	sbx_task_free(v);
}

bool sbx_attempt_known_tip(const struct sbx_task *t, const git_oid *id)
{
	size_t i;

	if (git_oid_equal(id, &t->base))
		return true;
	for (i = 0; i < t->nattempts; i++)
		if (t->attempts[i].has_tip && git_oid_equal(id, &t->attempts[i].tip))
			return true;
	return false;
}

int sbx_attempt_choose(bool *worktree_kept, struct sbx_repo *repo, struct sbx_task *t, unsigned n)
{
	struct sbx_task_attempt *a = sbx_task_attempt_get(t, n);
	git_reference *ref = NULL;
	char name[64], msg[64];
	git_oid old;
	int rc, err = 0;

	*worktree_kept = false;
	if (!a || !a->has_tip)
		return sbx_error_set(SBX_ENOTFOUND, "attempt %u of task %u has no result", n, t->id);
	snprintf(name, sizeof(name), "refs/heads/%s", t->branch);
	if (git_reference_name_to_id(&old, repo->git, name) < 0)
		return sbx_error_set(SBX_ENOTFOUND, "task %u's branch '%s' is gone", t->id, t->branch);
	if (!sbx_attempt_known_tip(t, &old))
		return sbx_error_set(SBX_EEXISTS, "%s is at %.12s, which no attempt made (commits of yours?): "
				     "left it there (git sbx pick --force %u %u moves it)", t->branch,
				     git_oid_tostr_s(&old), t->id, n);
	snprintf(msg, sizeof(msg), "sbx: attempt %u chosen", n);
	if (git_oid_cmp(&old, &a->tip)) {
		rc = git_reference_create_matching(&ref, repo->git, name, &a->tip, 1, &old, msg);
		git_reference_free(ref);
		if (rc < 0)
			return sbx_git_error(SBX_ERROR, "cannot move the task's branch");
		err = sbx_task_update_worktree(worktree_kept, t, &old, &a->tip);
	}
	t->chosen = n;
	t->picked = false;
	t->has_result = true;
	t->result = a->tip;
	sbx_attempt_copy_session(t, n);
	return err;
}

static int choose(struct coord *c, unsigned n)
{
	int err = sbx_attempt_choose(&c->res->worktree_kept, c->repo, c->t, n);

	if (!err)
		say(c, n, "chosen: %s now points at attempt %u's result %.12s", c->t->branch, n,
		    git_oid_tostr_s(&c->t->result));
	return err;
}

/* What a task that ran once was before the attempts' run started it again. */
struct first_run {
	enum sbx_task_state state;
	int64_t started_ms, finished_ms;
};

/* A task that ran once becomes attempt 1 (its files stay where they are). */
static int adopt_first(struct coord *c, const struct first_run *was)
{
	struct sbx_task *t = c->t;
	struct sbx_task_attempt *a;
	char ref[64], name[64];
	git_oid branch;
	int err;

	if ((err = sbx_task_attempt_add(&a, t, NULL)))
		return err;
	a->state = was->state;
	a->exit_status = t->exit_status;
	a->started_ms = was->started_ms;
	a->finished_ms = was->finished_ms;
	a->agent_ms = t->step_ms[SBX_STEP_AGENT];
	if (t->warm)
		snprintf(a->warm, sizeof(a->warm), "%s", t->warm);
	if (t->error && !(a->error = strdup(t->error)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	a->has_tip = t->has_result || a->state == SBX_TASK_DONE;
	a->tip = t->has_result ? t->result : t->base;
	sbx_attempt_ref(ref, sizeof(ref), t->id, 1);
	if ((err = set_ref(c->repo, ref, &a->tip, "sbx: the task's first run is attempt 1")))
		return err;
	snprintf(name, sizeof(name), "refs/heads/%s", t->branch);
	if (a->has_tip && git_reference_name_to_id(&branch, c->repo->git, name) == 0 &&
	    !git_oid_cmp(&branch, &a->tip))
		t->chosen = 1;
	return 0;
}

static int start_child(struct coord *c, pid_t *pid, unsigned n)
{
	struct sbx_task_attempt *a = sbx_task_attempt_get(c->t, n);

	a->state = SBX_TASK_RUNNING;
	a->started_ms = task_now_ms();
	fflush(NULL);
	*pid = fork();
	if (*pid < 0) {
		a->state = SBX_TASK_FAILED;
		a->finished_ms = task_now_ms();
		a->error = strdup("cannot fork a process for it");
		return sbx_error_errno(SBX_ERROR, "cannot fork a process for attempt %u", n);
	}
	if (*pid == 0)
		run_child(c->t, n, c->o, &c->ro);
	return 0;
}

/* Run attempts first..last, `parallel` at a time, choosing as they end. */
static int run_all(struct coord *c, unsigned parallel)
{
	struct {
		pid_t pid;
		unsigned n;
	} kids[SBX_TASK_ATTEMPTS_MAX];
	unsigned nkids = 0, next = c->res->first, i;
	int err = 0;

	for (;;) {
		while (nkids < parallel && next <= c->res->last && !interrupted(c)) {
			pid_t pid;

			if (start_child(c, &pid, next)) {
				pr_warn("%s", sbx_error());
				next++;
				continue;
			}
			kids[nkids].pid = pid;
			kids[nkids++].n = next++;
			if (sbx_task_save(c->t))
				pr_warn("%s", sbx_error());
		}
		if (!nkids)
			break;
		for (i = 0; i < nkids; i++) {
			int status;
			pid_t w = waitpid(kids[i].pid, &status, WNOHANG);
			unsigned n = kids[i].n;

			if (w == 0 || (w < 0 && errno == EINTR))
				continue;
			kids[i] = kids[--nkids];
			i--;
			collect(c, n, w < 0 ? 0 : status);
			if (succeeded(sbx_task_attempt_get(c->t, n))) {
				c->res->succeeded++;
				if (!c->t->chosen && (err = choose(c, n)))
					pr_warn("cannot choose attempt %u: %s", n, sbx_error());
			}
			if ((err = sbx_task_save(c->t)))
				pr_warn("%s", sbx_error());
		}
		usleep(50 * 1000);
	}
	/* Those never started (an interrupt): cancelled. */
	for (i = next; i <= c->res->last; i++) {
		struct sbx_task_attempt *a = sbx_task_attempt_get(c->t, i);

		a->state = SBX_TASK_CANCELLED;
		free(a->error);
		a->error = strdup("not started: interrupted");
	}
	return 0;
}

/* The end of the task: its state from the attempts and the chosen one. */
static void outcome(struct coord *c, enum sbx_task_state *state, int *exit_status, char *msg, size_t n)
{
	struct sbx_task *t = c->t;
	size_t i, used = 0, blocked = 0;

	msg[0] = 0;
	*exit_status = -1;
	if (t->chosen) {
		const struct sbx_task_attempt *a = sbx_task_attempt_get(t, t->chosen);

		*exit_status = a->exit_status;
		*state = SBX_TASK_DONE;
		if (interrupted(c)) {
			*state = SBX_TASK_CANCELLED;
			snprintf(msg, n, "stopped by the user; attempt %u is chosen", t->chosen);
		}
		return;
	}
	*state = interrupted(c) ? SBX_TASK_CANCELLED : SBX_TASK_FAILED;
	for (i = 0; i < t->nattempts; i++)
		if (t->attempts[i].state == SBX_TASK_CHECKS_FAILED)
			blocked++;
	if (!interrupted(c) && blocked)
		*state = SBX_TASK_CHECKS_FAILED;
	used = (size_t)snprintf(msg, n, "%s", interrupted(c) ? "stopped by the user; no attempt brought a result back"
				: blocked ? "the checks blocked every result that came back (sbx.gate=block)"
				: "no attempt brought a result back");
	for (i = 0; i < t->nattempts && used < n; i++)
		if (t->attempts[i].error)
			used += (size_t)snprintf(msg + used, n - used, "; [%u] %s", t->attempts[i].n,
						 t->attempts[i].error);
}

int sbx_task_run_attempts(struct sbx_attempts_result *res, struct sbx_repo *repo,
			  struct sbx_task *t, const struct sbx_attempts_opts *o)
{
	struct coord c = { .o = o, .repo = repo, .t = t, .res = res };
	struct first_run was;
	enum sbx_task_state state;
	char key[65], why[640], pwhy[256], msg[1200], ref[64];
	unsigned parallel, i;
	int lock = -1, err, ferr, exit_status;
	bool retry;

	memset(res, 0, sizeof(*res));
	if (!o->run || !o->run->agent || !o->run->agent->command)
		return sbx_error_set(SBX_EINVAL, "no agent to run");
	if (!o->count)
		return sbx_error_set(SBX_EINVAL, "no attempts to run");
	switch (t->state) {
	case SBX_TASK_CREATED:
		retry = false;
		break;
	case SBX_TASK_DONE:
	case SBX_TASK_FAILED:
	case SBX_TASK_CANCELLED:
	case SBX_TASK_CHECKS_FAILED:
		retry = true;
		break;
	default:
		return sbx_error_set(SBX_EINVAL, "task %u is %s; only a new task or one that ended can run attempts",
				     t->id, sbx_task_state_name(t->state));
	}
	if (t->nattempts + o->count + (retry && !t->nattempts) > SBX_TASK_ATTEMPTS_MAX)
		return sbx_error_set(SBX_ELIMIT, "a task has at most %u attempts", SBX_TASK_ATTEMPTS_MAX);
	c.ro = *o->run;
	c.ro.progress = coord_progress;
	c.ro.progress_opaque = &c;
	was.state = t->state;
	was.started_ms = t->started_ms;
	was.finished_ms = t->finished_ms;
	if ((err = sbx_task_start(&lock, t)))
		return err;
	if (retry && !t->nattempts && (err = adopt_first(&c, &was)))
		goto finish;
	if (o->parallel)
		parallel = o->parallel < o->count ? o->parallel : o->count;
	else if ((err = sbx_attempts_parallel(&parallel, pwhy, sizeof(pwhy), repo,
					      o->run->memory ? o->run->memory : t->memory, o->count)))
		goto finish;
	if (o->parallel)
		snprintf(pwhy, sizeof(pwhy), "as asked");
	res->parallel = parallel;
	/* One warm start for all: built here once, not by each attempt. */
	if ((err = sbx_task_prepare_warm(key, why, sizeof(why), repo, t, &c.ro)))
		goto finish;
	c.ro.progress = NULL;
	c.ro.cold_note = why[0] ? why : NULL;
	if (!(c.ro.import_lock = task_file(t, "import.lock"))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto finish;
	}
	res->first = (unsigned)t->nattempts + 1;
	for (i = 0; i < o->count; i++) {
		struct sbx_task_attempt *a;
		char *dir;

		if ((err = sbx_task_attempt_add(&a, t, o->prompt)))
			goto finish;
		sbx_attempt_ref(ref, sizeof(ref), t->id, a->n);
		dir = attempt_dir(t, a->n);
		err = dir ? sbx_rmtree(dir) : sbx_error_set(SBX_ENOMEM, "out of memory");
		if (!err)
			err = sbx_mkdirs(dir);
		free(dir);
		if (!err)
			err = set_ref(repo, ref, &t->base, "sbx: a new attempt starts at the base");
		if (err)
			goto finish;
	}
	res->last = (unsigned)t->nattempts;
	if ((err = sbx_task_save(t)))
		goto finish;
	say(&c, 0, "%u attempt%s (%u..%u) from %s%.12s, %u at a time (%s)", o->count,
	    o->count == 1 ? "" : "s", res->first, res->last, key[0] ? "warm base " : "a cold boot each",
	    key, parallel, pwhy);
	err = run_all(&c, parallel);
	/* none succeeded: the first whose result came back */
	for (i = 0; i < t->nattempts && !err && !t->chosen; i++)
		if (t->attempts[i].state == SBX_TASK_DONE && t->attempts[i].has_tip) {
			if (choose(&c, t->attempts[i].n))
				pr_warn("cannot choose attempt %u: %s", t->attempts[i].n, sbx_error());
			break;
		}
finish:
	free((char *)c.ro.import_lock);
	if (err) {
		snprintf(msg, sizeof(msg), "%s", sbx_error());
		state = SBX_TASK_FAILED;
		exit_status = -1;
	} else {
		outcome(&c, &state, &exit_status, msg, sizeof(msg));
	}
	res->chosen = t->chosen;
	ferr = sbx_task_finish(lock, t, state, exit_status, msg[0] ? msg : NULL);
	if (err)
		return sbx_error_set(err, "%s", msg);
	return ferr;
}
