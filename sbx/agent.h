/* SPDX-License-Identifier: MIT */
/*
 * Agents: what `git sbx task` runs in the guest.  An agent is a shell
 * command line (run by `sh -c` as the agent user in /workspace, with the
 * prompt in $SBX_PROMPT and in the file $SBX_PROMPT_FILE) and the
 * environment it gets.
 *
 *   --agent NAME         a preset: git config sbx-agent.<NAME>.command and
 *                        sbx-agent.<NAME>.env (NAME=VALUE, multi-valued)
 *                        first, then the built-in ones (claude, codex,
 *                        gemini, aider)
 *   --agent script:FILE  a shell script from the host, copied into the
 *                        guest and run there (offline demos and tests)
 *   --agent-cmd CMD      a command line given directly
 *
 * No agent named: sbx.agent, else "claude".
 */
#ifndef SBX_SBX_AGENT_H
#define SBX_SBX_AGENT_H

#include <stddef.h>

struct sbx_config;

#define SBX_AGENT_DEFAULT "claude"
#define SBX_AGENT_SCRIPT_MAX (1u << 20)

struct sbx_agent {
	char *label;		/* for the record and messages: "claude", "script:fix.sh", "cmd" */
	char *command;		/* the `sh -c` command line (for a script: runs the copied file) */
	char **env;		/* "NAME=value" entries */
	size_t nenv;
	char *script;		/* script:FILE's contents, or NULL */
	size_t script_len;
};

/*
 * Resolve `spec` (NULL: sbx.agent or the default) or, when `command` is
 * set, that command line.  `cfg` may be NULL (built-in presets only).
 */
int sbx_agent_resolve(struct sbx_agent *out, struct sbx_config *cfg, const char *spec,
		      const char *command);
void sbx_agent_clear(struct sbx_agent *a);

/* The built-in presets, for help text: NULL-terminated "name" list. */
extern const char *const sbx_agent_presets[];

#endif
