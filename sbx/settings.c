// SPDX-License-Identifier: MIT
/* A task's settings from git config, with their defaults (sbx/settings.h). */
#include "sbx/settings.h"
#include "sbx/config.h"
#include "sbx/sandbox.h"
#include "sbx/task-run.h"
#include "sbx/warm.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const gate_names[] = {
	[SBX_GATE_OFF] = "off",
	[SBX_GATE_WARN] = "warn",
	[SBX_GATE_BLOCK] = "block",
};

const char *sbx_gate_mode_name(enum sbx_gate_mode m)
{
	if ((unsigned)m < sizeof(gate_names) / sizeof(gate_names[0]))
		return gate_names[m];
	return "unknown";
}

int sbx_gate_mode_parse(enum sbx_gate_mode *out, const char *v)
{
	static const char *const on[] = { "true", "yes", "on", "1" };
	static const char *const off[] = { "false", "no", "0", "" };
	size_t i;

	for (i = 0; i < sizeof(gate_names) / sizeof(gate_names[0]); i++)
		if (!strcasecmp(v, gate_names[i])) {
			*out = (enum sbx_gate_mode)i;
			return 0;
		}
	for (i = 0; i < sizeof(on) / sizeof(on[0]); i++)
		if (!strcasecmp(v, on[i])) {
			*out = SBX_GATE_BLOCK;
			return 0;
		}
	for (i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		if (!strcasecmp(v, off[i])) {
			*out = SBX_GATE_OFF;
			return 0;
		}
	return sbx_error_set(SBX_EINVAL, "bad config value for 'sbx.gate': '%s' (block, warn or off)", v);
}

void sbx_settings_clear(struct sbx_settings *s)
{
	if (!s)
		return;
	free(s->setup);
	free(s->user_name);
	free(s->user_email);
	sbx_strv_free(s->checks, s->nchecks);
	memset(s, 0, sizeof(*s));
}

/* An unset key keeps its default. */
static int keep(int err)
{
	return err == SBX_ENOTFOUND ? 0 : err;
}

int sbx_settings_read(struct sbx_settings *s, struct sbx_config *cfg)
{
	char *gate = NULL;
	size_t i, n;
	int err;

	memset(s, 0, sizeof(*s));
	s->timeout_ms = SBX_SETTINGS_DEFAULT_TIMEOUT_MS;
	s->log_max = SBX_TASK_DEFAULT_MAX_LOG;
	s->console_max = SBX_SANDBOX_DEFAULT_SERIAL_MAX;
	s->disk_limit = SBX_TASK_DEFAULT_DISK_LIMIT;
	s->setup_timeout_ms = SBX_WARM_DEFAULT_SETUP_TIMEOUT_MS;
	s->warm = true;
	s->check_timeout_ms = SBX_SETTINGS_DEFAULT_CHECK_TIMEOUT_MS;
	s->checkpoints = true;
	s->checkpoint_interval_ms = SBX_SETTINGS_DEFAULT_CHECKPOINT_INTERVAL_MS;
	s->max_checkpoints = SBX_SETTINGS_DEFAULT_MAX_CHECKPOINTS;

	if ((err = keep(sbx_config_duration_ms(cfg, "sbx.timeout", &s->timeout_ms))) ||
	    (err = keep(sbx_config_size(cfg, "sbx.maxLogSize", 1, &s->log_max))) ||
	    (err = keep(sbx_config_size(cfg, "sbx.maxConsoleLogSize", 1, &s->console_max))) ||
	    (err = keep(sbx_config_size(cfg, "sbx.diskLimit", 1, &s->disk_limit))) ||
	    (err = keep(sbx_config_duration_ms(cfg, "sbx.bootTimeout", &s->boot_timeout_ms))) ||
	    (err = keep(sbx_config_string(cfg, "sbx.setup", &s->setup))) ||
	    (err = keep(sbx_config_duration_ms(cfg, "sbx.setupTimeout", &s->setup_timeout_ms))) ||
	    (err = keep(sbx_config_bool(cfg, "sbx.warm", &s->warm))) ||
	    (err = keep(sbx_config_string(cfg, "user.name", &s->user_name))) ||
	    (err = keep(sbx_config_string(cfg, "user.email", &s->user_email))) ||
	    (err = keep(sbx_config_duration_ms(cfg, "sbx.checkTimeout", &s->check_timeout_ms))) ||
	    (err = keep(sbx_config_bool(cfg, "sbx.checkpoints", &s->checkpoints))) ||
	    (err = keep(sbx_config_duration_ms(cfg, "sbx.checkpointInterval",
					       &s->checkpoint_interval_ms))) ||
	    (err = keep(sbx_config_size(cfg, "sbx.maxCheckpoints", 1, &s->max_checkpoints))) ||
	    (err = sbx_config_strings(cfg, "sbx.check", &s->checks, &s->nchecks)) ||
	    (err = keep(sbx_config_string(cfg, "sbx.gate", &gate))))
		goto out;
	/* sbx.check = "" empties a wider config's list. */
	for (i = n = 0; i < s->nchecks; i++) {
		if (!*s->checks[i]) {
			size_t j;

			for (j = 0; j < n; j++)
				free(s->checks[j]);
			free(s->checks[i]);
			n = 0;
			continue;
		}
		s->checks[n++] = s->checks[i];
	}
	s->nchecks = n;
	if (gate) {
		if ((err = sbx_gate_mode_parse(&s->gate, gate)))
			goto out;
		s->gate_set = true;
	} else {
		s->gate = s->nchecks ? SBX_GATE_BLOCK : SBX_GATE_OFF;
	}
	if (s->setup && !*s->setup) {
		free(s->setup);		/* sbx.setup = "" turns a wider config's off */
		s->setup = NULL;
	}
	if (!s->setup_timeout_ms)
		s->setup_timeout_ms = SBX_WARM_DEFAULT_SETUP_TIMEOUT_MS;
	if (!s->check_timeout_ms)
		s->check_timeout_ms = SBX_SETTINGS_DEFAULT_CHECK_TIMEOUT_MS;
	if (s->max_checkpoints < 2 || s->max_checkpoints > 1000) {
		err = sbx_error_set(SBX_EINVAL, "sbx.maxCheckpoints: %llu is not between 2 and 1000",
				    (unsigned long long)s->max_checkpoints);
		goto out;
	}
	if (!s->user_name)
		s->user_name = strdup("git-sbx agent");
	if (!s->user_email)
		s->user_email = strdup("sbx@localhost");
	if (!s->user_name || !s->user_email)
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
out:
	free(gate);
	return err;
}
