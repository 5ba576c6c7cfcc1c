// SPDX-License-Identifier: MIT
/* git sbx disk: qcow2 images for people and tests. */
#include "cmd/builtin.h"

static const struct cmd_struct disk_commands[] = {
	{ NULL, NULL, 0, NULL },
};

int cmd_disk(int argc, const char **argv, struct cmd_ctx *ctx)
{
	return run_subcommand("disk", disk_commands, argc, argv, ctx);
}
