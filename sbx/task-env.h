/* SPDX-License-Identifier: MIT */
/*
 * The environments of the commands a task runs in the guest: a fixed base
 * (sbx_task_base_env) and, per command, a bounded list of owned entries.
 * Internal to sbx/task-run.c.
 */
#ifndef SBX_SBX_TASK_ENV_H
#define SBX_SBX_TASK_ENV_H

#include <stddef.h>

extern const char *const sbx_task_base_env[];
#define NBASE_ENV 6
#define MAX_ENV (NBASE_ENV + 16 + 64)

struct envb {
	char *v[MAX_ENV + 1];
	size_t n;
	char *owned[MAX_ENV];
	size_t nowned;
};

/* A whole "NAME=value" entry, copied. */
int env_add_entry(struct envb *e, const char *entry);
int env_add(struct envb *e, const char *name, const char *value);
/* env_add() with an opaque struct envb, for callbacks. */
int env_add_cb(void *opaque, const char *name, const char *value);
void env_free(struct envb *e);

#endif
