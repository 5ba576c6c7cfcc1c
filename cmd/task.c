// SPDX-License-Identifier: MIT
/* git sbx task PROMPT: an agent in a microVM, its work on branch sbx/<id>. */
#include "cmd/builtin.h"
#include "cmd/task-print.h"
#include "sbx/gate.h"
#include "cmd/task-cmd.h"
#include "sbx/agent.h"
#include "sbx/attempt.h"
#include "sbx/config.h"
#include "sbx/settings.h"
#include "sbx/repo.h"
#include "sbx/sysinfo.h"
#include "sbx/task.h"
#include "sbx/task-run.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/quote.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const task_usage[] = {
	"git sbx task [<options>] [--] <prompt>...",
	"git sbx task [<options>] --prompt-file <file>",
	NULL,
};


static volatile int interrupted;

static void on_signal(int sig)
{
	if (interrupted) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	interrupted = 1;
	{
		static const char msg[] = "\ngit-sbx: stopping the agent; its work so far will be "
					  "imported (interrupt again to abort)\n";

		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
			return;
	}
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EPIPE ? 0 : sbx_error_errno(SBX_EIO, "writing output");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The agent's stdout and stderr, each escaped as one stream (util/quote.h) unless raw. */
struct out_state {
	struct sbx_quote q[2];
	bool raw[2];
};

static int out_sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct out_state *st = opaque;
	int i = fd == 2, out = i ? STDERR_FILENO : STDOUT_FILENO;
	char buf[SBX_QUOTE_MAX(4096)];

	if (st->raw[i])
		return write_all(out, data, len);
	while (len) {
		size_t k = len < 4096 ? len : 4096, n;
		int err;

		n = sbx_quote_mem(&st->q[i], buf, data, k);
		if ((err = write_all(out, (const uint8_t *)buf, n)))
			return err;
		data += k;
		len -= k;
	}
	return 0;
}

static void out_end(struct out_state *st)
{
	char buf[SBX_QUOTE_MAX(0)];
	int i;

	for (i = 0; i < 2; i++)
		if (!st->raw[i])
			write_all(i ? STDERR_FILENO : STDOUT_FILENO, (const uint8_t *)buf,
				  sbx_quote_end(&st->q[i], buf));
}

/* What the attempts' callbacks get: the task (for progress) and the output's state. */
struct attempt_ctx {
	const struct sbx_task *t;
	struct out_state *out;
};

/* A line of attempt n's agent output: "[n] " and the line, escaped unless raw, in one write. */
static int attempt_output(void *opaque, unsigned n, int fd, const uint8_t *line, size_t len)
{
	struct out_state *st = ((struct attempt_ctx *)opaque)->out;
	int i = fd == 2, out = i ? STDERR_FILENO : STDOUT_FILENO;
	size_t cap = 24 + SBX_QUOTE_MAX(len), k;
	char *buf = malloc(cap);
	int err;

	if (!buf)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	k = (size_t)snprintf(buf, 24, "[%u] ", n);
	if (st->raw[i]) {
		memcpy(buf + k, line, len);
		k += len;
	} else {
		k += sbx_quote_mem(&st->q[i], buf + k, line, len);
	}
	err = write_all(out, (const uint8_t *)buf, k);
	free(buf);
	return err;
}

static void attempt_progress(void *opaque, unsigned n, const char *what)
{
	const struct sbx_task *t = ((struct attempt_ctx *)opaque)->t;

	if (n)
		fprintf(stderr, "[%u] task %u: %s\n", n, t->id, what);
	else
		fprintf(stderr, "task %u: %s\n", t->id, what);
}

/* A line of ours that carries guest text (commit subjects, error messages). */
static void print_quoted(const char *prefix, const char *s)
{
	fputs(prefix, stdout);
	sbx_quote_fputs(s, stdout);
	putchar('\n');
}

static void on_progress(void *opaque, const char *what)
{
	const struct sbx_task *t = opaque;

	fprintf(stderr, "task %u: %s\n", t->id, what);
}

static void print_summary(struct cmd_ctx *ctx, const struct sbx_task *t,
			  const struct sbx_task_run_result *res)
{
	struct sbx_task_summary s;
	char phases[160], hex[GIT_OID_HEXSZ + 1];
	size_t i;

	printf("\ntask %u %s", t->id, sbx_task_state_name(t->state));
	if (res->agent_status >= 0)
		printf(": the agent exited with status %d", res->agent_status);
	if (res->backend)
		printf(" (%s)", res->backend);
	putchar('\n');
	if (t->error)
		print_quoted("  ", t->error);
	if (!sbx_task_summarize(&s, ctx->repo, t, true)) {
		if (res->no_changes || !s.ncommits) {
			printf("  no changes: %s is still at the base %s\n", t->branch,
			       git_oid_tostr(hex, sizeof(hex), &t->base));
		} else {
			printf("  %zu commit%s on %s:\n", s.ncommits, s.ncommits == 1 ? "" : "s", t->branch);
			for (i = 0; i < s.ncommits_listed; i++)
				print_quoted("    ", s.commits[i]);
			if (s.ncommits > s.ncommits_listed)
				printf("    ... and %zu more\n", s.ncommits - s.ncommits_listed);
			printf("  %zu file%s changed, %zu insertion%s(+), %zu deletion%s(-)\n",
			       s.files_changed, s.files_changed == 1 ? "" : "s", s.insertions,
			       s.insertions == 1 ? "" : "s", s.deletions, s.deletions == 1 ? "" : "s");
		}
		sbx_task_summary_clear(&s);
	}
	if (t->worktree)
		printf("  worktree: %s%s\n", t->worktree,
		       res->worktree_kept ? " (kept as it was: it has changes of yours)" : "");
	format_phases(phases, sizeof(phases), t);
	printf("  time: %s\n", phases);
	{
		char start[1400];

		format_start(start, sizeof(start), t);
		if (start[0])
			print_quoted("  start: ", start);
	}
	if (res->checks != SBX_CHECK_NONE) {
		printf("  checks: %s (in a fresh VM)%s\n", sbx_check_status_name(res->checks),
		       res->checks != SBX_CHECK_PASS && !res->blocked ? "; sbx.gate=warn: the branch moved anyway" : "");
		print_checks(stdout, t, "    ", res->checks == SBX_CHECK_PASS ? 0 : 1500);
	}
	if (res->checks != SBX_CHECK_NONE && res->checks != SBX_CHECK_PASS && !res->blocked)
		fprintf(stderr, "warning: task %u: the checks %s; %s moved anyway (sbx.gate=warn)\n", t->id,
			res->checks == SBX_CHECK_FAIL ? "failed" : "could not run", t->branch);
	if (res->blocked)
		printf("see: git sbx show %u    the rejected result: git log %s    discard: git sbx rm %u\n",
		       t->id, res->rejected_ref, t->id);
	if (res->log_truncated)
		printf("  the log stopped at sbx.maxLogSize; the rest of the output was discarded\n");
	if (res->imported)
		printf("review: git sbx review %u    accept: git sbx accept %u    reject: git sbx reject --rm %u\n",
		       t->id, t->id, t->id);
}

static void print_attempts_summary(struct cmd_ctx *ctx, const struct sbx_task *t,
				   const struct sbx_attempts_result *res)
{
	char phases[256];

	printf("\ntask %u %s: attempts %u to %u", t->id, sbx_task_state_name(t->state), res->first, res->last);
	printf(", %u at a time; %u succeeded", res->parallel, res->succeeded);
	if (t->chosen)
		printf("; %s is attempt %u%s\n", t->branch, t->chosen,
		       t->picked ? " (picked)" : t->chosen >= res->first ? " (the first that succeeded)" : "");
	else
		printf("; none chosen: %s is at the base\n", t->branch);
	if (t->error)
		print_quoted("  ", t->error);
	print_attempts(ctx, t, "  ", true);
	if (t->worktree)
		printf("  worktree: %s%s\n", t->worktree,
		       res->worktree_kept ? " (kept as it was: it has changes of yours)" : "");
	if (t->chosen && t->steps_ran) {
		format_phases(phases, sizeof(phases), t);
		printf("  time (attempt %u): %s\n", t->chosen, phases);
	}
	printf("compare: git sbx attempts %u    git sbx diff %u --attempt N [--against M]    choose: git sbx pick %u N\n",
	       t->id, t->id, t->id);
	if (t->chosen)
		printf("review: git sbx review %u    accept: git sbx accept %u    reject: git sbx reject --rm %u\n",
		       t->id, t->id, t->id);
}

char *join_prompt_args(int argc, const char **argv)
{
	size_t len = 1;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len);
	if (!s)
		die("out of memory");
	for (i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

char *read_prompt_file(const char *path)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;

	if (fd < 0)
		die("cannot open '%s': %s", path, strerror(errno));
	if (!buf)
		die("out of memory");
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			cap *= 2;
			if (cap > SBX_TASK_PROMPT_MAX + 2)
				die("the prompt is over %u bytes", SBX_TASK_PROMPT_MAX);
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory");
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("cannot read '%s': %s", path, strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	if (fd != STDIN_FILENO)
		close(fd);
	return buf;
}

/* Wait until the detached child holds the task's lock (or has died). */
static int wait_started(pid_t pid, struct sbx_task *t)
{
	int i, status;

	for (i = 0; i < 3000; i++) {
		if (sbx_task_running(t))
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return -1;
		usleep(10000);
	}
	return 0;
}

int task_cmd_session(struct cmd_ctx *ctx, struct sbx_task *t, const struct sbx_agent *agent,
		     const struct task_cmd_args *a)
{
	struct sbx_task_run_opts ro = SBX_TASK_RUN_OPTS_INIT;
	struct sbx_attempts_opts ao = SBX_ATTEMPTS_OPTS_INIT;
	struct sbx_attempts_result ares;
	struct sbx_task_run_result res;
	struct out_state out = { { SBX_QUOTE_INIT, SBX_QUOTE_INIT }, { false, false } };
	struct attempt_ctx actx = { t, &out };
	bool several = a->attempts > 1 || (t->state != SBX_TASK_CREATED && !a->continue_prompt);
	int err, ret;

	ro.agent = agent;
	ro.image = a->image;
	ro.cpus = a->cpus;
	ro.memory = a->memory;
	ro.timeout_ms = a->timeout_ms;
	ro.backend = a->backend;
	ro.progress = on_progress;
	ro.progress_opaque = t;
	ro.interrupt = &interrupted;
	ro.allow = a->allow;
	ro.nallow = a->nallow;
	ro.allow_presets = a->allow_presets;
	ro.nallow_presets = a->nallow_presets;
	ao.run = &ro;
	ao.count = a->attempts ? a->attempts : 1;
	ao.prompt = a->attempt_prompt;
	ao.progress = attempt_progress;
	ao.opaque = &actx;

	if (a->detach) {
		char *logp = sbx_task_log_path(t);
		pid_t pid;
		int fd;

		if (!logp)
			die("out of memory");
		fflush(NULL);
		pid = fork();
		if (pid < 0)
			die("cannot fork: %s", strerror(errno));
		if (pid > 0) {
			if (wait_started(pid, t))
				die("task %u did not start; see git sbx show %u", t->id, t->id);
			printf("task %u is running in the background: git sbx logs -f %u\n", t->id, t->id);
			free(logp);
			return 0;
		}
		setsid();
		fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			close(fd);
		}
		free(logp);
		signal(SIGHUP, SIG_IGN);
		/* The session writes the agent's output to the log itself (each attempt to its own). */
	} else {
		/* --raw reaches only a file or a pipe: a terminal obeys what it is sent. */
		out.raw[0] = a->raw && !isatty(STDOUT_FILENO);
		out.raw[1] = a->raw && !isatty(STDERR_FILENO);
		if (a->raw && (!out.raw[0] || !out.raw[1]))
			fprintf(stderr, "warning: --raw does not apply to a terminal: "
				"the agent's output to it is escaped\n");
		ro.output = out_sink;
		ro.output_opaque = &out;
		ao.output = attempt_output;
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
	}
	signal(SIGPIPE, SIG_IGN);
	if (several) {
		err = sbx_task_run_attempts(&ares, ctx->repo, t, &ao);
		out_end(&out);
		if (err)
			error_msg("task %u failed: %s", t->id, sbx_error());
		else
			print_attempts_summary(ctx, t, &ares);
		fflush(stdout);
		/* 0 when one of this run's attempts succeeded (and the task is done) */
		if (err)
			ret = 128;
		else if (t->state != SBX_TASK_DONE || !ares.succeeded)
			ret = 1;
		else
			ret = 0;
		return ret;
	}
	if (a->continue_prompt)
		err = sbx_task_continue(&res, ctx->repo, t, &ro, a->continue_prompt);
	else
		err = sbx_task_run(&res, ctx->repo, t, &ro);
	out_end(&out);
	if (err)
		error_msg("task %u failed: %s", t->id, sbx_error());
	if (!a->detach || !err)
		print_summary(ctx, t, &res);
	fflush(stdout);
	if (err)
		ret = 128;
	else if (t->state != SBX_TASK_DONE || res.agent_status)
		ret = 1;
	else
		ret = 0;
	return ret;
}

/* The task's own agent, or the one given. */
void task_cmd_resolve_agent(struct sbx_agent *agent, struct cmd_ctx *ctx, const struct sbx_task *t,
			    const char *spec, const char *command)
{
	struct sbx_config *cfg = NULL;
	int err;

	if (sbx_config_open(&cfg, ctx->repo))
		die_sbx("cannot read the configuration");
	if (spec || command)
		err = sbx_agent_resolve(agent, cfg, spec, command);
	else if (t->agent_command)
		err = sbx_agent_resolve(agent, cfg, NULL, t->agent_command);
	else if (t->agent && strcmp(t->agent, "cmd"))
		err = sbx_agent_resolve(agent, cfg, t->agent, NULL);
	else
		err = sbx_error_set(SBX_ENOTFOUND, "task %u's agent was a command line its record does "
				    "not keep: give --agent or --agent-cmd", t->id);
	sbx_config_free(cfg);
	if (err && !spec && !command && t->agent)
		die("cannot use the task's agent '%s' (%s); give --agent or --agent-cmd", t->agent, sbx_error());
	if (err)
		die_sbx("cannot use that agent");
}

int task_cmd_run(struct cmd_ctx *ctx, const struct task_cmd_args *a)
{
	struct sbx_task_create_opts co = SBX_TASK_CREATE_OPTS_INIT;
	struct sbx_config *cfg = NULL;
	struct sbx_agent agent;
	struct sbx_task *t = NULL;
	git_object *obj = NULL;
	git_oid base;
	int ret;

	if (sbx_config_open(&cfg, ctx->repo))
		die_sbx("cannot read the configuration");
	if (sbx_agent_resolve(&agent, cfg, a->agent, a->agent_cmd))
		die_sbx("cannot use that agent");
	sbx_config_free(cfg);
	if (git_revparse_single(&obj, ctx->repo->git, a->base ? a->base : "HEAD") < 0) {
		sbx_git_error(SBX_ENOTFOUND, a->base ? a->base : "HEAD");
		die_sbx("no base commit");
	}
	{
		git_object *c = NULL;

		if (git_object_peel(&c, obj, GIT_OBJECT_COMMIT) < 0) {
			sbx_git_error(SBX_EINVAL, a->base ? a->base : "HEAD");
			die_sbx("the base is not a commit");
		}
		base = *git_object_id(c);
		git_object_free(c);
		git_object_free(obj);
	}
	{
		struct sbx_image img;

		if (sbx_image_resolve(&img, a->image))
			die_sbx("no image to run the task in (git sbx image build makes one)");
	}
	co.prompt = a->prompt;
	co.base = &base;
	co.agent = agent.label;
	co.image = a->image ? a->image : SBX_IMAGE_DEFAULT_NAME;
	if (sbx_task_create(&t, ctx->repo, &co))
		die_sbx("cannot create the task");
	/* what a retry needs to start the same way */
	t->cpus = a->cpus;
	t->memory = a->memory;
	if (a->agent_cmd && !(t->agent_command = strdup(agent.command)))
		die("out of memory");
	fprintf(stderr, "task %u: %s at %.12s%s%s\n", t->id, t->branch, git_oid_tostr_s(&base),
		t->worktree ? ", worktree " : "", t->worktree ? t->worktree : "");
	ret = task_cmd_session(ctx, t, &agent, a);
	sbx_task_free(t);
	sbx_agent_clear(&agent);
	return ret;
}

void task_cmd_default_timeout(struct cmd_ctx *ctx, struct task_cmd_args *a)
{
	struct sbx_settings set;
	struct sbx_config *cfg = NULL;
	int err;

	/* A guest that stops answering is only noticed past the agent's deadline. */
	a->timeout_ms = SBX_SETTINGS_DEFAULT_TIMEOUT_MS;
	if (!sbx_config_open(&cfg, ctx->repo)) {
		err = sbx_settings_read(&set, cfg);
		sbx_config_free(cfg);
		if (err)
			die_sbx("bad git config");
		a->timeout_ms = set.timeout_ms;
		sbx_settings_clear(&set);
	}
}

int parse_task_common(struct task_cmd_args *a, const char *memory, const char *timeout,
		      const char *backend, int cpus)
{
	if (cpus < 0 || cpus > 64)
		return sbx_error_set(SBX_EINVAL, "--cpus must be 1..64");
	a->cpus = (unsigned)cpus;
	if (memory && parse_size(memory, 1 << 20, &a->memory))
		return sbx_error_prefix(SBX_EINVAL, "bad --memory");
	if (timeout && parse_duration_ms(timeout, &a->timeout_ms))
		return sbx_error_prefix(SBX_EINVAL, "bad --timeout");
	if (!backend)
		a->backend = SBX_BACKEND_AUTO;
	else if (!strcmp(backend, "kvm"))
		a->backend = SBX_BACKEND_VMM;
	else if (!strcmp(backend, "qemu"))
		a->backend = SBX_BACKEND_QEMU;
	else
		return sbx_error_set(SBX_EINVAL, "--backend is kvm or qemu");
	/* Before a task exists: a KVM that cannot run the VM is said at once. */
	if (a->backend == SBX_BACKEND_VMM && sbx_kvm_check(NULL))
		return sbx_error_prefix(SBX_ENOKVM, "--backend kvm");
	return 0;
}

int cmd_task(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct task_cmd_args a = { 0 };
	const char *memory = NULL, *timeout = NULL, *backend = NULL, *prompt_file = NULL;
	struct string_list allow = { 0 }, presets = { 0 };
	char *prompt = NULL;
	int cpus = 0, attempts = 1, n, ret, err;
	const struct option opts[] = {
		OPT_STRING(0, "agent", &a.agent, "name",
			   "claude, codex, gemini, aider, a sbx-agent.<name> preset, or script:<file>"),
		OPT_STRING(0, "agent-cmd", &a.agent_cmd, "command", "run this command line as the agent"),
		OPT_STRING(0, "base", &a.base, "rev", "start from this commit (default HEAD)"),
		OPT_STRING(0, "image", &a.image, "name", "the image to run in (default \"default\")"),
		OPT_STRING('F', "prompt-file", &prompt_file, "file", "read the prompt from a file (- for stdin)"),
		OPT_INT(0, "attempts", &attempts, "n",
			"run n attempts side by side from one warm start (default 1); see git sbx attempts"),
		OPT_INT(0, "cpus", &cpus, "n", "virtual CPUs (default 2)"),
		OPT_STRING(0, "memory", &memory, "size", "guest memory, e.g. 2G (default 1G)"),
		OPT_STRING(0, "timeout", &timeout, "duration", "stop the agent after this long (default 2h; 0: never)"),
		OPT_BOOL('d', "detach", &a.detach, "run in the background; follow with git sbx logs -f"),
		OPT_STRING(0, "backend", &backend, "kvm|qemu", "force our VMM or the QEMU fallback"),
		OPT_BOOL(0, "raw", &a.raw, "the agent's output unescaped, when it goes to a file or pipe"),
		OPT_STRING_LIST(0, "allow", &allow, "host[:port]",
				"let the guest reach this host (repeatable; also git config sbx.allow)"),
		OPT_STRING_LIST(0, "allow-preset", &presets, "name",
				"allow a preset's hosts: anthropic, openai, google, github, npm, pypi, debian"),
		OPT_END(),
	};

	n = parse_options(argc, argv, opts, task_usage, 0);
	if (prompt_file && n)
		usage_msg_opt("give the prompt as arguments or with --prompt-file, not both", task_usage, opts);
	if (!prompt_file && !n)
		usage_msg_opt("no prompt given", task_usage, opts);
	if (a.agent && a.agent_cmd)
		usage_msg_opt("--agent and --agent-cmd exclude each other", task_usage, opts);
	err = parse_task_common(&a, memory, timeout, backend, cpus);
	if (err == SBX_ENOKVM)
		die("%s", sbx_error());
	else if (err)
		usage_msg_opt(sbx_error(), task_usage, opts);
	if (!timeout)
		task_cmd_default_timeout(ctx, &a);
	if (attempts < 0 || (unsigned)attempts > SBX_TASK_ATTEMPTS_MAX)
		usage_msg_opt("--attempts must be 1 to 64", task_usage, opts);
	a.attempts = (unsigned)attempts;
	prompt = prompt_file ? read_prompt_file(prompt_file) : join_prompt_args(n, argv);
	if (!*prompt)
		die("the prompt is empty");
	a.prompt = prompt;
	a.allow = allow.items;
	a.nallow = allow.nr;
	a.allow_presets = presets.items;
	a.nallow_presets = presets.nr;
	ret = task_cmd_run(ctx, &a);
	free(prompt);
	string_list_clear(&allow);
	string_list_clear(&presets);
	return ret;
}
