// SPDX-License-Identifier: MIT
/*
 * Power-off and the exit status (see vmm/platform.h and vmm/vm.h):
 * the ACPI hardware-reduced sleep control register (a write with SLP_EN and
 * SLP_TYP = \_S5's value powers off), the FADT's reset register (a write
 * of VM_RESET_VALUE reboots, which ends the VM) and the exit register.
 */
#include "vmm/platform.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

#define SLP_TYP_SHIFT	2
#define SLP_TYP_MASK	0x1c
#define SLP_EN		0x20

struct power {
	struct pio_device pio;
	struct mmio_device mmio;
	struct vm *vm;
	uint8_t status;
};

static void sleep_read(void *opaque, uint16_t off, uint8_t *data, unsigned len)
{
	memset(data, 0, len);	/* sleep status: no wake event */
}

static void sleep_write(void *opaque, uint16_t off, const uint8_t *data, unsigned len)
{
	struct power *p = opaque;

	if (off == VM_RESET_PORT - VM_SLEEP_CONTROL_PORT) {
		if (data[0] == VM_RESET_VALUE)
			vm_request_end(p->vm, VM_END_REBOOT, "the guest reset the machine (ACPI)");
		return;
	}
	if (off != 0)
		return;		/* writes to the status register clear nothing we keep */
	if ((data[0] & SLP_EN) &&
	    ((data[0] & SLP_TYP_MASK) >> SLP_TYP_SHIFT) == VM_SLEEP_TYPE_S5)
		vm_request_end(p->vm, VM_END_POWEROFF, "the guest powered off");
}

static void power_free(void *opaque)
{
	free(opaque);
}

int sleep_regs_create(struct pio_device **out, struct vm *vm)
{
	struct power *p = calloc(1, sizeof(*p));

	if (!p)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	p->vm = vm;
	p->pio = (struct pio_device){ .name = "acpi-sleep", .base = VM_SLEEP_CONTROL_PORT,
				      .size = 3, .opaque = p, .read = sleep_read,
				      .write = sleep_write, .stop = power_free };
	*out = &p->pio;
	return 0;
}

static void exit_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct power *p = opaque;
	uint32_t v = 0;

	if (off == VM_EXIT_REG_STATUS)
		v = p->status;
	else if (off == VM_EXIT_REG_MAGIC)
		v = VM_EXIT_MAGIC;
	memset(data, 0, len);
	memcpy(data, &v, len < 4 ? len : 4);
}

static void exit_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct power *p = opaque;

	if (off != VM_EXIT_REG_STATUS && off != VM_EXIT_REG_EXIT)
		return;
	p->status = data[0];
	vm_set_exit_status(p->vm, data[0]);
	if (off == VM_EXIT_REG_EXIT)
		vm_request_end(p->vm, VM_END_EXIT, "the guest exited with status %u", data[0]);
}

int exit_reg_create(struct mmio_device **out, struct vm *vm)
{
	struct power *p = calloc(1, sizeof(*p));

	if (!p)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	p->vm = vm;
	p->mmio = (struct mmio_device){ .name = "exit-register", .size = VM_EXIT_REG_SIZE,
					.opaque = p, .read = exit_read, .write = exit_write,
					.stop = power_free };
	*out = &p->mmio;
	return 0;
}
