// SPDX-License-Identifier: MIT
/* The environments of the commands a task runs in the guest (sbx/task-env.h). */
#include "sbx/task-env.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const sbx_task_base_env[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/sbx", "USER=sbx", "LOGNAME=sbx",
	"LANG=C.UTF-8", "TERM=dumb", NULL,
};
_Static_assert(sizeof(sbx_task_base_env) / sizeof(sbx_task_base_env[0]) == NBASE_ENV + 1,
	       "NBASE_ENV counts sbx_task_base_env");

static int env_take(struct envb *e, char *s)
{
	if (!s)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (e->n >= MAX_ENV) {
		free(s);
		return sbx_error_set(SBX_ELIMIT, "too many environment variables");
	}
	e->owned[e->nowned++] = s;
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
	return 0;
}

/* A whole "NAME=value" entry. */
int env_add_entry(struct envb *e, const char *entry)
{
	return env_take(e, strdup(entry));
}

int env_add(struct envb *e, const char *name, const char *value)
{
	char *s;

	if (asprintf(&s, "%s=%s", name, value) < 0)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	return env_take(e, s);
}

void env_free(struct envb *e)
{
	while (e->nowned)
		free(e->owned[--e->nowned]);
}


int env_add_cb(void *opaque, const char *name, const char *value)
{
	return env_add(opaque, name, value);
}
