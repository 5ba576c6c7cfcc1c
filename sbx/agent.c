// SPDX-License-Identifier: MIT
/* Agent presets and scripts (sbx/agent.h). */
#include "sbx/agent.h"
#include "sbx/config.h"
#include "sbx/fsutil.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the guest finds a script:FILE agent (written by sbx/task-run.c). */
#define GUEST_SCRIPT "/run/sbx/agent"

struct preset {
	const char *name;
	const char *command;
};

/*
 * Each runs non-interactively with every permission prompt off: the VM is
 * the boundary.  Credentials are not copied in; see docs/design.md.
 */
static const struct preset presets[] = {
	{ "claude", "claude -p --dangerously-skip-permissions \"$SBX_PROMPT\"" },
	{ "codex", "codex exec --dangerously-bypass-approvals-and-sandbox \"$SBX_PROMPT\"" },
	{ "gemini", "gemini --yolo -p \"$SBX_PROMPT\"" },
	{ "aider", "aider --yes-always --message \"$SBX_PROMPT\"" },
};

const char *const sbx_agent_presets[] = { "claude", "codex", "gemini", "aider", NULL };

void sbx_agent_clear(struct sbx_agent *a)
{
	free(a->label);
	free(a->command);
	sbx_strv_free(a->env, a->nenv);
	free(a->script);
	memset(a, 0, sizeof(*a));
}

static int valid_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

static int check_env(const struct sbx_agent *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nenv; i++) {
		const char *eq = strchr(a->env[i], '=');

		if (!eq || eq == a->env[i])
			return sbx_error_set(SBX_EINVAL, "sbx-agent.%s.env: '%s' is not NAME=VALUE",
					     name, a->env[i]);
	}
	return 0;
}

static int from_script(struct sbx_agent *a, const char *file)
{
	int err;

	if (!*file)
		return sbx_error_set(SBX_EINVAL, "--agent script: needs a file (script:FILE)");
	err = sbx_read_file(&a->script, &a->script_len, file, SBX_AGENT_SCRIPT_MAX);
	if (err)
		return sbx_error_prefix(err, "cannot read the agent script");
	if (memchr(a->script, 0, a->script_len))
		return sbx_error_set(SBX_EINVAL, "agent script '%s' is not text", file);
	/* A #! line picks the interpreter; anything else runs under sh. */
	a->command = strdup(a->script_len > 2 && !memcmp(a->script, "#!", 2) ? GUEST_SCRIPT
										: "sh " GUEST_SCRIPT);
	if (asprintf(&a->label, "script:%s", file) < 0)
		a->label = NULL;
	return a->command && a->label ? 0 : sbx_error_set(SBX_ENOMEM, "out of memory");
}

int sbx_agent_resolve(struct sbx_agent *a, struct sbx_config *cfg, const char *spec,
		      const char *command)
{
	char key[128], *def = NULL;
	size_t i;
	int err;

	memset(a, 0, sizeof(*a));
	if (command) {
		if (!*command)
			return sbx_error_set(SBX_EINVAL, "--agent-cmd is empty");
		a->command = strdup(command);
		a->label = strdup("cmd");
		err = a->command && a->label ? 0 : sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if (!spec && cfg) {
		err = sbx_config_string(cfg, "sbx.agent", &def);
		if (err && err != SBX_ENOTFOUND)
			return err;
		spec = def;
	}
	if (!spec)
		spec = SBX_AGENT_DEFAULT;
	if (!strncmp(spec, "script:", 7)) {
		err = from_script(a, spec + 7);
		goto out;
	}
	if (!valid_name(spec)) {
		err = sbx_error_set(SBX_EINVAL, "'%s' is not an agent name (letters, digits, -_.)", spec);
		goto out;
	}
	a->label = strdup(spec);
	if (!a->label) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if (cfg) {
		snprintf(key, sizeof(key), "sbx-agent.%s.command", spec);
		err = sbx_config_string(cfg, key, &a->command);
		if (err && err != SBX_ENOTFOUND)
			goto out;
		snprintf(key, sizeof(key), "sbx-agent.%s.env", spec);
		if ((err = sbx_config_strings(cfg, key, &a->env, &a->nenv)) ||
		    (err = check_env(a, spec)))
			goto out;
	}
	for (i = 0; !a->command && i < sizeof(presets) / sizeof(presets[0]); i++)
		if (!strcmp(presets[i].name, spec) && !(a->command = strdup(presets[i].command))) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
	err = a->command ? 0 : sbx_error_set(SBX_ENOTFOUND,
					     "no agent '%s' (built in: claude, codex, gemini, aider; "
					     "or set sbx-agent.%s.command)", spec, spec);
out:
	free(def);
	if (err)
		sbx_agent_clear(a);
	return err;
}
