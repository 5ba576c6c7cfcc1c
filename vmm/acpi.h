/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for the machine (ACPI 6.x): RSDP -> XSDT -> FADT (hardware-
 * reduced, with sleep control/status registers so the guest can power off
 * and a reset register so it can reboot),
 * MADT (a local APIC per vCPU, the IOAPIC, interrupt source overrides, LINT1
 * as NMI) and a DSDT from vmm/aml.c: the COM1 UART (PNP0501), every
 * virtio-mmio device (LNRO0005 with its Memory32Fixed window and Interrupt),
 * what the hooks add (the VM generation ID, vmm/vmgenid.c) and \_S5.  Debian's cloud kernel finds its devices only this way: it has
 * no MP-table parser and no virtio-mmio command-line devices.
 *
 * acpi_build() lays the tables out in one buffer that the caller copies to
 * guest-physical `base`; the RSDP comes first (so it is 16-byte aligned at
 * `base`) and every checksum is filled in.  No KVM needed (unit-tested).
 */
#ifndef SBX_VMM_ACPI_H
#define SBX_VMM_ACPI_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_VIRTIO 16
#define ACPI_MAX_SB_HOOKS 4

struct aml;

/*
 * More of the DSDT's \_SB_ from elsewhere (vmm/vmgenid.c adds the VM
 * generation ID and its event device this way): called in order, inside
 * the \_SB_ scope after the machine's own devices.  0 or a negative SBX_ code.
 */
struct acpi_sb_hook {
	int (*fn)(struct aml *a, const void *opaque);
	const void *opaque;
};

struct acpi_virtio {
	uint64_t base, size;
	unsigned gsi;
};

struct acpi_config {
	uint64_t base;			/* guest-physical address of the tables (RSDP there) */
	unsigned cpus;			/* local APIC IDs 0..cpus-1 */
	uint64_t ioapic_addr, lapic_addr;
	uint16_t serial_port;		/* 0: no UART in the DSDT */
	unsigned serial_gsi;
	uint16_t sleep_control_port, sleep_status_port;
	uint8_t s5_sleep_type;
	uint16_t reset_port;		/* 0: no reset register */
	uint8_t reset_value;
	struct acpi_virtio virtio[ACPI_MAX_VIRTIO];
	unsigned nvirtio;
	struct acpi_sb_hook sb_hooks[ACPI_MAX_SB_HOOKS];
	unsigned nsb_hooks;
};

/* Add a hook to cfg->sb_hooks: 0, or SBX_ELIMIT when they are all taken. */
int acpi_add_sb_hook(struct acpi_config *cfg, int (*fn)(struct aml *a, const void *opaque),
		     const void *opaque);

/*
 * Build the tables into a new buffer (*out, *len; free() it).  Returns 0 or
 * a negative SBX_ code.  *len is at most `max`.
 */
int acpi_build(uint8_t **out, size_t *len, size_t max, const struct acpi_config *cfg);

/* The byte that makes `n` bytes at `p` sum to zero (ACPI checksums). */
uint8_t acpi_checksum(const uint8_t *p, size_t n);

#endif
