// SPDX-License-Identifier: MIT
/*
 * git sbx retry ID [--attempts N] [-m PROMPT]: more attempts of a task that
 * ran, from its start (its base, and the warm base of its image, setup and
 * machine size), side by side with the ones before (sbx/attempt.h).
 */
#include "cmd/builtin.h"
#include "cmd/task-cmd.h"
#include "cmd/task-print.h"
#include "sbx/agent.h"
#include "sbx/config.h"
#include "sbx/task.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const retry_usage[] = {
	"git sbx retry [<options>] <id>",
	NULL,
};

int cmd_retry(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct task_cmd_args a = { 0 };
	const char *memory = NULL, *timeout = NULL, *backend = NULL, *message = NULL, *prompt_file = NULL;
	const char *agent_spec = NULL, *agent_cmd = NULL;
	struct string_list allow = { 0 }, presets = { 0 };
	struct sbx_agent agent;
	struct sbx_task *t;
	char *prompt = NULL;
	int cpus = 0, attempts = 1, err, ret;
	const struct option opts[] = {
		OPT_INT(0, "attempts", &attempts, "n", "how many attempts to add (default 1)"),
		OPT_STRING('m', "message", &message, "prompt", "the new attempts' prompt (default the task's)"),
		OPT_STRING('F', "prompt-file", &prompt_file, "file", "read their prompt from a file (- for stdin)"),
		OPT_STRING(0, "agent", &agent_spec, "name", "another agent than the task's"),
		OPT_STRING(0, "agent-cmd", &agent_cmd, "command", "run this command line as the agent"),
		OPT_INT(0, "cpus", &cpus, "n", "virtual CPUs (default: the task's)"),
		OPT_STRING(0, "memory", &memory, "size", "guest memory (default: the task's)"),
		OPT_STRING(0, "timeout", &timeout, "duration", "stop each agent after this long (default 2h; 0: never)"),
		OPT_BOOL('d', "detach", &a.detach, "run in the background; follow with git sbx logs -f"),
		OPT_STRING(0, "backend", &backend, "kvm|qemu", "force our VMM or the QEMU fallback"),
		OPT_BOOL(0, "raw", &a.raw, "the agents' output unescaped, when it goes to a file or pipe"),
		OPT_STRING_LIST(0, "allow", &allow, "host[:port]", "let the guests reach this host (repeatable)"),
		OPT_STRING_LIST(0, "allow-preset", &presets, "name", "allow a preset's hosts"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, retry_usage, 0) != 1)
		usage_with_options(retry_usage, opts);
	if (message && prompt_file)
		usage_msg_opt("-m and --prompt-file exclude each other", retry_usage, opts);
	if (agent_spec && agent_cmd)
		usage_msg_opt("--agent and --agent-cmd exclude each other", retry_usage, opts);
	if (attempts < 1 || (unsigned)attempts > SBX_TASK_ATTEMPTS_MAX)
		usage_msg_opt("--attempts must be 1 to 64", retry_usage, opts);
	err = parse_task_common(&a, memory, timeout, backend, cpus);
	if (err == SBX_ENOKVM)
		die("%s", sbx_error());
	else if (err)
		usage_msg_opt(sbx_error(), retry_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	if (sbx_task_running(t))
		die("task %u is running; retry when it has ended", t->id);
	if (t->state == SBX_TASK_RUNNING)
		die("task %u was interrupted; git sbx gc marks it failed, then retry it", t->id);
	if (t->state == SBX_TASK_CREATED)
		die("task %u never ran", t->id);
	if (t->state == SBX_TASK_ACCEPTED || t->state == SBX_TASK_REJECTED || t->state == SBX_TASK_REMOVING)
		die("task %u is %s; retry a task under review", t->id, sbx_task_state_name(t->state));
	if (!timeout)
		task_cmd_default_timeout(ctx, &a);
	if (!cpus)
		a.cpus = t->cpus;
	if (!memory)
		a.memory = t->memory;
	a.image = t->image;
	if (prompt_file)
		message = prompt = read_prompt_file(prompt_file);
	if (message && !*message)
		die("the prompt is empty");
	if (message && strlen(message) > SBX_TASK_PROMPT_MAX)
		die("the prompt is over %u bytes", SBX_TASK_PROMPT_MAX);
	a.attempt_prompt = message;
	a.attempts = (unsigned)attempts;
	a.allow = allow.items;
	a.nallow = allow.nr;
	a.allow_presets = presets.items;
	a.nallow_presets = presets.nr;
	task_cmd_resolve_agent(&agent, ctx, t, agent_spec, agent_cmd);
	fprintf(stderr, "task %u: %u more attempt%s from %.12s\n", t->id, a.attempts,
		a.attempts == 1 ? "" : "s", git_oid_tostr_s(&t->base));
	ret = task_cmd_session(ctx, t, &agent, &a);
	sbx_agent_clear(&agent);
	sbx_task_free(t);
	free(prompt);
	string_list_clear(&allow);
	string_list_clear(&presets);
	return ret;
}
