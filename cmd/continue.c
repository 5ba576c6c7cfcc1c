// SPDX-License-Identifier: MIT
/*
 * git sbx continue ID PROMPT: the task's VM comes back from its current
 * checkpoint (its files, processes and caches as they were), the agent
 * runs on the new prompt, and its work is appended to sbx/<id>
 * (sbx_task_continue).  How a reviewer's comments go back to the agent.
 */
#include "cmd/builtin.h"
#include "cmd/task-cmd.h"
#include "cmd/task-print.h"
#include "sbx/agent.h"
#include "sbx/task.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const continue_usage[] = {
	"git sbx continue [<options>] <id> <prompt>...",
	"git sbx continue [<options>] -F <file> <id>",
	NULL,
};

int cmd_continue(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct task_cmd_args a = { 0 };
	const char *timeout = NULL, *prompt_file = NULL, *agent_spec = NULL, *agent_cmd = NULL;
	struct string_list allow = { 0 }, presets = { 0 };
	struct sbx_agent agent;
	struct sbx_task *t;
	char *prompt;
	int n, ret;
	const struct option opts[] = {
		OPT_STRING('F', "prompt-file", &prompt_file, "file", "read the prompt from a file (- for stdin)"),
		OPT_STRING(0, "agent", &agent_spec, "name", "another agent than the task's"),
		OPT_STRING(0, "agent-cmd", &agent_cmd, "command", "run this command line as the agent"),
		OPT_STRING(0, "timeout", &timeout, "duration", "stop the agent after this long (default 2h; 0: never)"),
		OPT_BOOL('d', "detach", &a.detach, "run in the background; follow with git sbx logs -f"),
		OPT_BOOL(0, "raw", &a.raw, "the agent's output unescaped, when it goes to a file or pipe"),
		OPT_STRING_LIST(0, "allow", &allow, "host[:port]", "let the guest reach this host (repeatable)"),
		OPT_STRING_LIST(0, "allow-preset", &presets, "name", "allow a preset's hosts"),
		OPT_END(),
	};

	n = parse_options(argc, argv, opts, continue_usage, 0);
	if (n < 1)
		usage_with_options(continue_usage, opts);
	if (prompt_file && n > 1)
		usage_msg_opt("give the prompt as arguments or with --prompt-file, not both",
			      continue_usage, opts);
	if (!prompt_file && n < 2)
		usage_msg_opt("no prompt given", continue_usage, opts);
	if (agent_spec && agent_cmd)
		usage_msg_opt("--agent and --agent-cmd exclude each other", continue_usage, opts);
	if (parse_task_common(&a, NULL, timeout, NULL, 0))
		usage_msg_opt(sbx_error(), continue_usage, opts);
	t = open_task_or_die(ctx, argv[0]);
	if (sbx_task_running(t))
		die("task %u is running; continue it when it has ended", t->id);
	if (!timeout)
		task_cmd_default_timeout(ctx, &a);
	prompt = prompt_file ? read_prompt_file(prompt_file) : join_prompt_args(n - 1, argv + 1);
	if (!*prompt)
		die("the prompt is empty");
	a.continue_prompt = prompt;
	a.image = t->image;
	a.allow = allow.items;
	a.nallow = allow.nr;
	a.allow_presets = presets.items;
	a.nallow_presets = presets.nr;
	task_cmd_resolve_agent(&agent, ctx, t, agent_spec, agent_cmd);
	fprintf(stderr, "task %u: continuing on %s\n", t->id, t->branch);
	ret = task_cmd_session(ctx, t, &agent, &a);
	sbx_agent_clear(&agent);
	sbx_task_free(t);
	free(prompt);
	string_list_clear(&allow);
	string_list_clear(&presets);
	return ret;
}
