// SPDX-License-Identifier: MIT
/* The ACPI tables: layout, pointers, checksums and contents, without KVM. */
#include "vmm/acpi.h"
#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define BASE 0xe0000ULL

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static struct acpi_config config(unsigned cpus, unsigned nvirtio)
{
	struct acpi_config c = {
		.base = BASE, .cpus = cpus,
		.ioapic_addr = 0xfec00000, .lapic_addr = 0xfee00000,
		.serial_port = 0x3f8, .serial_gsi = 4,
		.sleep_control_port = 0x600, .sleep_status_port = 0x601, .s5_sleep_type = 5,
		.reset_port = 0x602, .reset_value = 0x0e,
	};
	unsigned i;

	for (i = 0; i < nvirtio; i++)
		c.virtio[i] = (struct acpi_virtio){ 0xd0001000 + i * 0x1000, 0x200, 5 + i };
	c.nvirtio = nvirtio;
	return c;
}

/* The table at guest address `gpa`: inside the buffer, with a whole header and length. */
static const uint8_t *table(const uint8_t *buf, size_t len, uint64_t gpa, const char *sig)
{
	const uint8_t *t;

	assert_true(gpa >= BASE && gpa - BASE + 36 <= len);
	t = buf + (gpa - BASE);
	assert_memory_equal(t, sig, 4);
	assert_true(le32(t + 4) >= 36 && gpa - BASE + le32(t + 4) <= len);
	assert_int_equal(sum(t, le32(t + 4)), 0);	/* checksum */
	return t;
}

static size_t count(const uint8_t *hay, size_t n, const char *needle)
{
	size_t i, c = 0, k = strlen(needle);

	for (i = 0; i + k <= n; i++)
		if (!memcmp(hay + i, needle, k))
			c++;
	return c;
}

static void test_layout(void **state)
{
	struct acpi_config cfg = config(2, 3);
	const uint8_t *rsdp, *xsdt, *fadt, *madt, *dsdt, *e, *end;
	unsigned lapics = 0, ioapics = 0, overrides = 0, nmis = 0;
	uint8_t *buf;
	size_t len;

	assert_int_equal(acpi_build(&buf, &len, 0x20000, &cfg), 0);
	assert_true(len <= 0x20000);

	rsdp = buf;
	assert_memory_equal(rsdp, "RSD PTR ", 8);
	assert_int_equal(rsdp[15], 2);
	assert_int_equal(sum(rsdp, 20), 0);
	assert_int_equal(le32(rsdp + 20), 36);
	assert_int_equal(sum(rsdp, 36), 0);

	xsdt = table(buf, len, le64(rsdp + 24), "XSDT");
	assert_int_equal(le32(xsdt + 4), 36 + 2 * 8);
	fadt = table(buf, len, le64(xsdt + 36), "FACP");
	madt = table(buf, len, le64(xsdt + 44), "APIC");

	/* FADT: revision 6, 276 bytes, hardware-reduced, DSDT both ways, sleep registers. */
	assert_int_equal(le32(fadt + 4), 276);
	assert_int_equal(fadt[8], 6);
	assert_true(le32(fadt + 112) & (1u << 20));
	dsdt = table(buf, len, le64(fadt + 140), "DSDT");
	assert_int_equal(le32(fadt + 40), le64(fadt + 140));
	assert_int_equal(fadt[244], 1);			/* sleep control: system I/O */
	assert_int_equal(fadt[245], 8);
	assert_int_equal(le64(fadt + 248), 0x600);
	assert_int_equal(fadt[256], 1);			/* sleep status */
	assert_int_equal(le64(fadt + 260), 0x601);
	assert_true(le32(fadt + 112) & (1u << 10));	/* reset register supported */
	assert_int_equal(fadt[116], 1);
	assert_int_equal(le64(fadt + 120), 0x602);
	assert_int_equal(fadt[128], 0x0e);

	/* MADT: a LAPIC per CPU with IDs 0..n-1, one IOAPIC, the UART's override, LINT1 NMI. */
	assert_int_equal(le32(madt + 36), 0xfee00000);
	end = madt + le32(madt + 4);
	for (e = madt + 44; e < end; e += e[1]) {
		assert_true(e[1] >= 2 && e + e[1] <= end);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[3], lapics);
			assert_int_equal(le32(e + 4) & 1, 1);
			lapics++;
			break;
		case 1:
			assert_int_equal(le32(e + 4), 0xfec00000);
			assert_int_equal(le32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			assert_int_equal(e[3], 4);
			assert_int_equal(le32(e + 4), 4);
			overrides++;
			break;
		case 4:
			assert_int_equal(e[5], 1);
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_true(e == end);
	assert_int_equal(lapics, 2);
	assert_int_equal(ioapics, 1);
	assert_int_equal(overrides, 1);
	assert_int_equal(nmis, 1);

	/* DSDT: a LNRO0005 per virtio device with its window, the UART, \_S5. */
	assert_int_equal(count(dsdt, le32(dsdt + 4), "LNRO0005"), 3);
	assert_int_equal(count(dsdt, le32(dsdt + 4), "_S5_"), 1);
	assert_int_equal(count(dsdt, le32(dsdt + 4), "COM1"), 1);
	assert_int_equal(count(dsdt, le32(dsdt + 4), "V002"), 1);
	/* Memory32Fixed(ReadWrite, 0xd0003000, 0x200) and GSI 7 of the third device. */
	{
		static const uint8_t mem3[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x30, 0x00, 0xd0,
						0x00, 0x02, 0x00, 0x00 };
		static const uint8_t irq7[] = { 0x89, 0x06, 0x00, 0x03, 0x01, 0x07, 0x00, 0x00, 0x00 };

		assert_non_null(memmem(dsdt, le32(dsdt + 4), mem3, sizeof(mem3)));
		assert_non_null(memmem(dsdt, le32(dsdt + 4), irq7, sizeof(irq7)));
	}
	free(buf);
}

static void test_no_devices(void **state)
{
	struct acpi_config cfg = config(1, 0);
	uint8_t *buf;
	size_t len;

	cfg.serial_port = 0;
	assert_int_equal(acpi_build(&buf, &len, 0x20000, &cfg), 0);
	assert_null(memmem(buf, len, "LNRO0005", 8));
	assert_null(memmem(buf, len, "COM1", 4));
	free(buf);
}

static void test_many_cpus(void **state)
{
	struct acpi_config cfg = config(64, 16);
	uint8_t *buf;
	size_t len;

	assert_int_equal(acpi_build(&buf, &len, 0x20000, &cfg), 0);
	free(buf);
}

static void test_errors(void **state)
{
	struct acpi_config cfg = config(1, 1);
	uint8_t *buf = (uint8_t *)1;
	size_t len = 1;

	assert_int_equal(acpi_build(&buf, &len, 64, &cfg), SBX_ELIMIT);
	assert_null(buf);
	assert_int_equal(len, 0);
	cfg.cpus = 0;
	assert_int_equal(acpi_build(&buf, &len, 0x20000, &cfg), SBX_EINVAL);
	cfg = config(1, 1);
	cfg.virtio[0].base = 0x100000000ULL;	/* Memory32Fixed cannot say that */
	assert_int_equal(acpi_build(&buf, &len, 0x20000, &cfg), SBX_EINVAL);
	cfg = config(1, 1);
	cfg.nvirtio = ACPI_MAX_VIRTIO + 1;
	assert_int_equal(acpi_build(&buf, &len, 0x20000, &cfg), SBX_EINVAL);
}

static void test_checksum(void **state)
{
	uint8_t b[5] = { 1, 2, 3, 4, 0 };

	b[4] = acpi_checksum(b, 4);
	assert_int_equal(sum(b, 5), 0);
	assert_int_equal(acpi_checksum(b, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_no_devices),
		cmocka_unit_test(test_many_cpus),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_checksum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
