// SPDX-License-Identifier: MIT
/* ACPI tables for the machine; see vmm/acpi.h.  Layouts from ACPI 6.x chapter 5. */
#include "vmm/acpi.h"
#include "vmm/aml.h"
#include "util/checked.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_LEN			36
#define RSDP_LEN		36
#define FADT_LEN		276	/* revision 6 */
#define FADT_REVISION		6
#define MADT_REVISION		5
#define DSDT_REVISION		2	/* 64-bit integers */

/* FADT fields (offsets from the table's start). */
#define FADT_DSDT		40
#define FADT_SCI_INT		46
#define FADT_IAPC_BOOT_ARCH	109
#define FADT_FLAGS		112
#define FADT_RESET_REG		116
#define FADT_RESET_VALUE	128
#define FADT_MINOR		131
#define FADT_X_DSDT		140
#define FADT_SLEEP_CONTROL	244
#define FADT_SLEEP_STATUS	256
#define FADT_HYPERVISOR_ID	268

#define FADT_F_HW_REDUCED	(1u << 20)
#define FADT_F_RESET_REG_SUP	(1u << 10)
#define FADT_F_PWR_BUTTON	(1u << 4)	/* "no fixed power button" */
#define FADT_F_SLP_BUTTON	(1u << 5)	/* "no fixed sleep button" */
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define BOOT_ARCH_CMOS_RTC_NOT_PRESENT (1u << 5)

#define GAS_SYSTEM_IO		1

#define MADT_LAPIC		0
#define MADT_IOAPIC		1
#define MADT_OVERRIDE		2
#define MADT_LAPIC_NMI		4

static const char oem_id[6] = { 'S', 'B', 'X', 'V', 'M', 'M' };

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

uint8_t acpi_checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0 - sum);
}

/* The common table header; the checksum is set by finish_table(). */
static void header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev, const char table_id[8])
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	t[9] = 0;
	memcpy(t + 10, oem_id, 6);
	memcpy(t + 16, table_id, 8);
	put32(t + 24, 1);			/* OEM revision */
	memcpy(t + 28, "SBX ", 4);		/* creator ID */
	put32(t + 32, 1);			/* creator revision */
}

static void finish_table(uint8_t *t)
{
	uint32_t len = t[4] | t[5] << 8 | t[6] << 16 | (uint32_t)t[7] << 24;

	t[9] = 0;
	t[9] = acpi_checksum(t, len);
}

/* Generic Address Structure: one byte in I/O space. */
static void gas_io8(uint8_t *p, uint16_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = 8;		/* bit width */
	p[2] = 0;		/* bit offset */
	p[3] = 1;		/* access size: byte */
	put64(p + 4, port);
}

static int build_dsdt(struct aml *a, const struct acpi_config *cfg)
{
	unsigned i;
	char name[5];

	/* \_S5: SLP_TYP for power-off (hardware-reduced sleep control register). */
	aml_name_begin(a, "\\_S5_");
	aml_package_begin(a);
	aml_int(a, cfg->s5_sleep_type);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_end(a);

	aml_scope_begin(a, "\\_SB_");
	if (cfg->serial_port) {
		aml_device_begin(a, "COM1");
		aml_name_eisaid(a, "_HID", "PNP0501");
		aml_name_int(a, "_UID", 0);
		aml_name_begin(a, "_CRS");
		aml_resources_begin(a);
		aml_io(a, cfg->serial_port, 8);
		aml_interrupt(a, true, false, false, cfg->serial_gsi);
		aml_resources_end(a);
		aml_end(a);
	}
	for (i = 0; i < cfg->nvirtio; i++) {
		const struct acpi_virtio *v = &cfg->virtio[i];

		if (v->base > UINT32_MAX || v->size > UINT32_MAX - v->base)
			return sbx_error_set(SBX_EINVAL, "virtio-mmio window above 4 GiB");
		snprintf(name, sizeof(name), "V%03u", i);
		aml_device_begin(a, name);
		aml_name_string(a, "_HID", "LNRO0005");
		aml_name_int(a, "_UID", i);
		aml_name_begin(a, "_CRS");
		aml_resources_begin(a);
		aml_memory32_fixed(a, true, (uint32_t)v->base, (uint32_t)v->size);
		aml_interrupt(a, true, false, false, v->gsi);
		aml_resources_end(a);
		aml_end(a);
	}
	for (i = 0; i < cfg->nsb_hooks && i < ACPI_MAX_SB_HOOKS; i++) {
		int ret = cfg->sb_hooks[i].fn(a, cfg->sb_hooks[i].opaque);

		if (ret)
			return ret;
	}
	aml_end(a);
	return 0;
}

int acpi_add_sb_hook(struct acpi_config *cfg, int (*fn)(struct aml *a, const void *opaque),
		     const void *opaque)
{
	if (cfg->nsb_hooks >= ACPI_MAX_SB_HOOKS)
		return sbx_error_set(SBX_ELIMIT, "ACPI: more than %d DSDT hooks", ACPI_MAX_SB_HOOKS);
	cfg->sb_hooks[cfg->nsb_hooks].fn = fn;
	cfg->sb_hooks[cfg->nsb_hooks].opaque = opaque;
	cfg->nsb_hooks++;
	return 0;
}

int acpi_build(uint8_t **out, size_t *len, size_t max, const struct acpi_config *cfg)
{
	struct aml a = AML_INIT;
	const uint8_t *dsdt_body;
	size_t dsdt_body_len, off_xsdt, off_fadt, off_madt, off_dsdt, madt_len, total;
	uint8_t *buf = NULL, *t, *e;
	unsigned i;
	int ret;

	*out = NULL;
	*len = 0;
	if (cfg->cpus == 0 || cfg->cpus > 255)
		return sbx_error_set(SBX_EINVAL, "ACPI: %u CPUs (1..255)", cfg->cpus);
	if (cfg->nvirtio > ACPI_MAX_VIRTIO)
		return sbx_error_set(SBX_EINVAL, "ACPI: too many virtio devices");
	ret = build_dsdt(&a, cfg);
	if (!ret)
		ret = aml_finish(&a, &dsdt_body, &dsdt_body_len);
	if (ret)
		goto out;

	madt_len = HDR_LEN + 8 + 8 * cfg->cpus + 12 + (cfg->serial_port ? 10 : 0) + 6;
	off_xsdt = 64;
	off_fadt = off_xsdt + HDR_LEN + 2 * 8;
	off_fadt = (off_fadt + 15) & ~(size_t)15;
	off_madt = (off_fadt + FADT_LEN + 15) & ~(size_t)15;
	off_dsdt = (off_madt + madt_len + 15) & ~(size_t)15;
	total = off_dsdt + HDR_LEN + dsdt_body_len;
	if (total > max) {
		ret = sbx_error_set(SBX_ELIMIT, "ACPI tables need %zu bytes, %zu available", total, max);
		goto out;
	}
	buf = calloc(1, total);
	if (!buf) {
		ret = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}

	/* RSDP, revision 2: 20-byte checksum, then the extended one over 36. */
	t = buf;
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, oem_id, 6);
	t[15] = 2;
	put32(t + 16, 0);			/* no RSDT */
	put32(t + 20, RSDP_LEN);
	put64(t + 24, cfg->base + off_xsdt);
	t[8] = acpi_checksum(t, 20);
	t[32] = acpi_checksum(t, RSDP_LEN);

	/* XSDT: FADT, MADT. */
	t = buf + off_xsdt;
	header(t, "XSDT", HDR_LEN + 2 * 8, 1, "SBXXSDT ");
	put64(t + HDR_LEN, cfg->base + off_fadt);
	put64(t + HDR_LEN + 8, cfg->base + off_madt);
	finish_table(t);

	/* FADT: hardware-reduced; the DSDT; sleep registers for S5. */
	t = buf + off_fadt;
	header(t, "FACP", FADT_LEN, FADT_REVISION, "SBXFACP ");
	put32(t + FADT_DSDT, (uint32_t)(cfg->base + off_dsdt));
	put16(t + FADT_SCI_INT, 0);
	put16(t + FADT_IAPC_BOOT_ARCH, BOOT_ARCH_VGA_NOT_PRESENT | BOOT_ARCH_CMOS_RTC_NOT_PRESENT);
	put32(t + FADT_FLAGS, FADT_F_HW_REDUCED | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON |
	      (cfg->reset_port ? FADT_F_RESET_REG_SUP : 0));
	if (cfg->reset_port) {
		gas_io8(t + FADT_RESET_REG, cfg->reset_port);
		t[FADT_RESET_VALUE] = cfg->reset_value;
	}
	t[FADT_MINOR] = 0;
	put64(t + FADT_X_DSDT, cfg->base + off_dsdt);
	if (cfg->sleep_control_port && cfg->sleep_status_port) {
		gas_io8(t + FADT_SLEEP_CONTROL, cfg->sleep_control_port);
		gas_io8(t + FADT_SLEEP_STATUS, cfg->sleep_status_port);
	}
	memcpy(t + FADT_HYPERVISOR_ID, "SBXVMM\0\0", 8);
	finish_table(t);

	/* MADT: local APICs, the IOAPIC, the UART's override, LINT1 = NMI. */
	t = buf + off_madt;
	header(t, "APIC", (uint32_t)madt_len, MADT_REVISION, "SBXMADT ");
	put32(t + HDR_LEN, (uint32_t)cfg->lapic_addr);
	put32(t + HDR_LEN + 4, 0);		/* no dual 8259 (PCAT_COMPAT clear) */
	e = t + HDR_LEN + 8;
	for (i = 0; i < cfg->cpus; i++, e += 8) {
		e[0] = MADT_LAPIC;
		e[1] = 8;
		e[2] = (uint8_t)i;		/* ACPI processor UID */
		e[3] = (uint8_t)i;		/* APIC ID */
		put32(e + 4, 1);		/* enabled */
	}
	e[0] = MADT_IOAPIC;
	e[1] = 12;
	e[2] = (uint8_t)cfg->cpus;		/* IOAPIC ID: after the CPUs' */
	e[3] = 0;
	put32(e + 4, (uint32_t)cfg->ioapic_addr);
	put32(e + 8, 0);			/* GSI base */
	e += 12;
	if (cfg->serial_port) {
		/* ISA IRQ n is GSI n (KVM's default routing), edge, active high. */
		e[0] = MADT_OVERRIDE;
		e[1] = 10;
		e[2] = 0;			/* ISA */
		e[3] = (uint8_t)cfg->serial_gsi;
		put32(e + 4, cfg->serial_gsi);
		put16(e + 8, 0x5);		/* active high, edge */
		e += 10;
	}
	e[0] = MADT_LAPIC_NMI;
	e[1] = 6;
	e[2] = 0xff;				/* all processors */
	put16(e + 3, 0);
	e[5] = 1;				/* LINT1 */
	finish_table(t);

	/* DSDT. */
	t = buf + off_dsdt;
	header(t, "DSDT", (uint32_t)(HDR_LEN + dsdt_body_len), DSDT_REVISION, "SBXDSDT ");
	memcpy(t + HDR_LEN, dsdt_body, dsdt_body_len);
	finish_table(t);

	*out = buf;
	*len = total;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	aml_release(&a);
	return ret;
}
