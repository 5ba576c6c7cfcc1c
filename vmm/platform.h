/* SPDX-License-Identifier: MIT */
/*
 * The machine's small non-virtio devices:
 *  - serial.c: an 8250/16550A UART (COM1, 0x3f8, GSI 4), output only: what
 *    the guest writes goes to `out_fd` (the boot log); it reads no input.
 *  - i8042.c: just enough of a PS/2 controller that the reset command (0xfe
 *    to port 0x64, Linux's keyboard reboot) ends the VM as VM_END_REBOOT.
 *  - power.c: the ACPI hardware-reduced sleep control/status registers
 *    (S5 = VM_END_POWEROFF) and the exit register (vmm/vm.h VM_EXIT_REG_*).
 */
#ifndef SBX_VMM_PLATFORM_H
#define SBX_VMM_PLATFORM_H

#include "vmm/device.h"
#include "vmm/vm.h"

int serial_create(struct pio_device **out, const struct vm_dev_env *env, int out_fd);
/* Two devices (ports 0x60 and 0x64) sharing state; only the first has stop(). */
int i8042_create(struct pio_device **data, struct pio_device **cmd, struct vm *vm);
int sleep_regs_create(struct pio_device **out, struct vm *vm);
int exit_reg_create(struct mmio_device **out, struct vm *vm);

#endif
