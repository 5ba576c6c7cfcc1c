// SPDX-License-Identifier: MIT
/* git sbx vm: the low-level machine, for people and tests. */
#include "cmd/builtin.h"

static const struct cmd_struct vm_commands[] = {
	{ NULL, NULL, 0, NULL },
};

int cmd_vm(int argc, const char **argv, struct cmd_ctx *ctx)
{
	return run_subcommand("vm", vm_commands, argc, argv, ctx);
}
