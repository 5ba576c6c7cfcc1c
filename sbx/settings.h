/* SPDX-License-Identifier: MIT */
/*
 * A task's settings, resolved once from git config (sbx/config.h) with
 * their defaults in one place: what the session (sbx/task-run.c), the
 * gate (sbx/gate.h) and `git sbx task` read.  The history depth and the
 * import limits stay with the bundles (sbx_bundle_config_depth(),
 * sbx_bundle_config_import()), the network's rules in sbx/task-net.c.
 */
#ifndef SBX_SBX_SETTINGS_H
#define SBX_SBX_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbx_config;

#define SBX_SETTINGS_DEFAULT_TIMEOUT_MS (2ull * 60 * 60 * 1000)
#define SBX_SETTINGS_DEFAULT_CHECK_TIMEOUT_MS (30ull * 60 * 1000)
#define SBX_SETTINGS_DEFAULT_CHECKPOINT_INTERVAL_MS (10ull * 1000)
#define SBX_SETTINGS_DEFAULT_MAX_CHECKPOINTS 20u

/* sbx.gate: what a failing check does to a task's result. */
enum sbx_gate_mode {
	SBX_GATE_OFF,		/* no checks run */
	SBX_GATE_WARN,		/* the branch moves; the failure is said */
	SBX_GATE_BLOCK,		/* the branch stays; the result is kept as refs/sbx/<id>/rejected-N */
};

struct sbx_settings {
	uint64_t timeout_ms;		/* sbx.timeout (2h; 0: none) */
	uint64_t log_max;		/* sbx.maxLogSize (64M) */
	uint64_t console_max;		/* sbx.maxConsoleLogSize (4M) */
	uint64_t disk_limit;		/* sbx.diskLimit (8G) */
	uint64_t boot_timeout_ms;	/* sbx.bootTimeout (0: the sandbox's default) */
	char *setup;			/* sbx.setup; NULL: none ("" turns a wider one off) */
	uint64_t setup_timeout_ms;	/* sbx.setupTimeout (30m) */
	bool warm;			/* sbx.warm (true) */
	char *user_name, *user_email;	/* user.name, user.email, or git-sbx's own */
	/* The gate (docs/design.md, "The hook gate") */
	enum sbx_gate_mode gate;	/* sbx.gate; default block with sbx.check values, else off */
	bool gate_set;			/* sbx.gate was given */
	char **checks;			/* sbx.check, every value in config order */
	size_t nchecks;
	uint64_t check_timeout_ms;	/* sbx.checkTimeout (30m), for each check */
	/* Checkpoints (docs/design.md, "Checkpoints") */
	bool checkpoints;		/* sbx.checkpoints (true): take them where the VMM can */
	uint64_t checkpoint_interval_ms;/* sbx.checkpointInterval (10s): at most one per commit burst */
	uint64_t max_checkpoints;	/* sbx.maxCheckpoints (20, at least 2): the oldest go */
};

/*
 * Read them all; every key is optional.  A bad value is SBX_EINVAL naming
 * the key.  Clear with sbx_settings_clear() (also after a failure).
 */
int sbx_settings_read(struct sbx_settings *out, struct sbx_config *cfg);
void sbx_settings_clear(struct sbx_settings *s);

/* "block", "warn", "off" (and git's booleans: true is block, false off). */
int sbx_gate_mode_parse(enum sbx_gate_mode *out, const char *v);
const char *sbx_gate_mode_name(enum sbx_gate_mode m);

#endif
