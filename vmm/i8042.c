// SPDX-License-Identifier: MIT
/*
 * An i8042 stub (see vmm/platform.h): status reads "empty", data reads 0,
 * and the pulse-reset command 0xfe on the command port ends the VM.  The
 * FADT says there is no 8042, so Linux does not probe it; its reboot path
 * writes 0xfe here anyway.
 */
#include "vmm/platform.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

#define I8042_DATA	0x60
#define I8042_CMD	0x64
#define CMD_RESET	0xfe

struct i8042 {
	struct pio_device data, cmd;
	struct vm *vm;
};

static void i8042_read(void *opaque, uint16_t off, uint8_t *data, unsigned len)
{
	memset(data, 0, len);	/* no output, input buffer empty */
}

static void i8042_write_cmd(void *opaque, uint16_t off, const uint8_t *data, unsigned len)
{
	struct i8042 *k = opaque;

	if (data[0] == CMD_RESET)
		vm_request_end(k->vm, VM_END_REBOOT, "the guest reset the machine (i8042)");
}

static void i8042_write_data(void *opaque, uint16_t off, const uint8_t *data, unsigned len)
{
}

static void i8042_stop(void *opaque)
{
	free(opaque);
}

int i8042_create(struct pio_device **data, struct pio_device **cmd, struct vm *vm)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	k->vm = vm;
	k->data = (struct pio_device){ .name = "i8042", .base = I8042_DATA, .size = 1,
				       .opaque = k, .read = i8042_read,
				       .write = i8042_write_data, .stop = i8042_stop };
	k->cmd = (struct pio_device){ .name = "i8042", .base = I8042_CMD, .size = 1,
				      .opaque = k, .read = i8042_read,
				      .write = i8042_write_cmd, .stop = NULL };
	*data = &k->data;
	*cmd = &k->cmd;
	return 0;
}
