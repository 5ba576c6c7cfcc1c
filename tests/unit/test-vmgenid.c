// SPDX-License-Identifier: MIT
/*
 * The VM generation ID (vmm/vmgenid.c) without KVM: the ID in guest memory,
 * a bump that changes it and raises the event device's interrupt, its
 * errors, and the DSDT it adds, checked by bytes and, where acpica-tools is
 * installed, by `iasl -d` (ACPICA's disassembler, of the code Linux parses
 * AML with), whose output must read as the ASL in vmm/vmgenid.h and compile
 * again without an error, warning or remark.  The page it lives in is reserved in the e820 map: test-boot.c.
 */
#include "vmm/acpi.h"
#include "vmm/boot.h"
#include "vmm/vmgenid.h"
#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MEM_SIZE	(1u << 20)
#define GSI		23

struct fixture {
	struct guest_mem mem;
	struct vm_dev_env env;
	unsigned irqs, last_gsi;
};

static void fake_irq(void *vm, unsigned gsi)
{
	struct fixture *f = vm;

	f->irqs++;
	f->last_gsi = gsi;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->mem.host = calloc(1, MEM_SIZE);
	assert_non_null(f->mem.host);
	f->mem.size = f->mem.low_size = MEM_SIZE;
	f->env.mem = &f->mem;
	f->env.vm = f;
	f->env.gsi = GSI;
	f->env.irq = fake_irq;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->mem.host);
	free(f);
	return 0;
}

static struct acpi_config config(void)
{
	struct acpi_config c = {
		.base = BOOT_ACPI_START, .cpus = 2,
		.ioapic_addr = 0xfec00000, .lapic_addr = 0xfee00000,
		.serial_port = 0x3f8, .serial_gsi = 4,
		.sleep_control_port = 0x600, .sleep_status_port = 0x601, .s5_sleep_type = 5,
		.nvirtio = 1,
	};

	c.virtio[0] = (struct acpi_virtio){ 0xd0001000, 0x200, 5 };
	return c;
}

static int all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

static void test_create_and_bump(void **state)
{
	struct fixture *f = *state;
	struct acpi_config c = config();
	uint8_t first[VMGENID_SIZE], prev[VMGENID_SIZE];
	const uint8_t *id = f->mem.host + BOOT_VMGENID_PAGE;
	struct vmgenid g;
	int i;

	assert_int_equal(vmgenid_create(&g, &f->env, BOOT_VMGENID_PAGE, &c), 0);
	assert_int_equal(c.nsb_hooks, 1);
	/* A random first ID in guest memory, nothing around it touched, no interrupt yet. */
	assert_false(all_zero(id, VMGENID_SIZE));
	assert_memory_equal(id, g.id, VMGENID_SIZE);
	assert_true(all_zero(f->mem.host, BOOT_VMGENID_PAGE));
	assert_true(all_zero(id + VMGENID_SIZE, MEM_SIZE - BOOT_VMGENID_PAGE - VMGENID_SIZE));
	assert_int_equal(f->irqs, 0);
	memcpy(first, id, sizeof(first));

	/* Each bump: new bytes (never the last ones), one interrupt on the device's GSI. */
	for (i = 1; i <= 5; i++) {
		memcpy(prev, id, sizeof(prev));
		assert_int_equal(vmgenid_bump(&g), 0);
		assert_memory_not_equal(id, prev, VMGENID_SIZE);
		assert_memory_not_equal(id, first, VMGENID_SIZE);
		assert_memory_equal(id, g.id, VMGENID_SIZE);
		assert_int_equal(f->irqs, i);
		assert_int_equal(f->last_gsi, GSI);
	}
	assert_true(all_zero(f->mem.host, BOOT_VMGENID_PAGE));
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	struct acpi_config c = config();
	struct vmgenid g;
	int i;

	assert_int_equal(vmgenid_create(&g, &f->env, BOOT_VMGENID_PAGE + 4, &c), SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "8-byte aligned"));
	assert_int_equal(vmgenid_create(&g, &f->env, MEM_SIZE - 8, &c), SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "not in guest RAM"));
	assert_int_equal(c.nsb_hooks, 0);
	for (i = 0; i < ACPI_MAX_SB_HOOKS; i++)
		assert_int_equal(vmgenid_create(&g, &f->env, BOOT_VMGENID_PAGE, &c), 0);
	assert_int_equal(vmgenid_create(&g, &f->env, BOOT_VMGENID_PAGE, &c), SBX_ELIMIT);
}

/* The DSDT out of acpi_build()'s buffer (the last table). */
static const uint8_t *dsdt_of(const uint8_t *buf, size_t len, size_t *dlen)
{
	size_t i;

	for (i = 0; i + 36 <= len; i++)
		if (!memcmp(buf + i, "DSDT", 4)) {
			*dlen = buf[i + 4] | buf[i + 5] << 8 | buf[i + 6] << 16 | (size_t)buf[i + 7] << 24;
			assert_true(i + *dlen <= len);
			return buf + i;
		}
	fail_msg("no DSDT");
	return NULL;
}

static const uint8_t *find(const uint8_t *hay, size_t n, const void *needle, size_t k)
{
	size_t i;

	for (i = 0; i + k <= n; i++)
		if (!memcmp(hay + i, needle, k))
			return hay + i;
	return NULL;
}

/* The AML's bytes: the device, its IDs, ADDR's package, the GED's interrupt and _EVT. */
static void test_aml_bytes(void **state)
{
	struct fixture *f = *state;
	struct acpi_config c = config();
	static const uint8_t addr_pkg[] = { 0xa4, 0x12, 0x08, 0x02, 0x0c, 0x00, 0xf0, 0x09, 0x00, 0x00 };
	static const uint8_t irq[] = { 0x89, 0x06, 0x00, 0x03, 0x01, GSI, 0x00, 0x00, 0x00 };
	static const uint8_t evt[] = { 0x01, 0xa0, 0x12, 0x93, 0x68, 0x0a, GSI,
				       0x86, 0x5c, 0x2e, '_', 'S', 'B', '_', 'V', 'G', 'E', 'N', 0x0a, 0x80 };
	const uint8_t *d;
	uint8_t *buf;
	struct vmgenid g;
	size_t len, dlen;

	assert_int_equal(vmgenid_create(&g, &f->env, BOOT_VMGENID_PAGE, &c), 0);
	assert_int_equal(acpi_build(&buf, &len, 0x10000, &c), 0);
	d = dsdt_of(buf, len, &dlen);
	assert_non_null(find(d, dlen, "VGEN", 4));
	assert_non_null(find(d, dlen, "SBXV0001", 9));
	assert_non_null(find(d, dlen, "VM_Gen_Counter", 15));
	assert_non_null(find(d, dlen, "ADDR", 4));
	assert_non_null(find(d, dlen, addr_pkg, sizeof(addr_pkg)));	/* Return(Package{0x9f000, 0}) */
	assert_non_null(find(d, dlen, "ACPI0013", 9));
	assert_non_null(find(d, dlen, irq, sizeof(irq)));	/* Interrupt(Consumer, Edge, High){23} */
	assert_non_null(find(d, dlen, "_EVT", 4));
	assert_non_null(find(d, dlen, evt, sizeof(evt)));
	free(buf);
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *s;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return s;
}

/* Strip comments and spaces so the check does not depend on iasl's layout and notes. */
static void squeeze(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '/' && s[1] == '/') {
			while (*s && *s != '\n')
				s++;
		} else if (s[0] == '/' && s[1] == '*') {
			char *e = strstr(s + 2, "*/");

			s = e ? e + 2 : s + strlen(s);
		} else if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
			s++;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

/* ACPICA's disassembler reads our DSDT back as the ASL in vmm/vmgenid.h. */
static void test_aml_iasl(void **state)
{
	struct fixture *f = *state;
	struct acpi_config c = config();
	static const char *const want[] = {
		"Device(VGEN){",
		"Name(_HID,\"SBXV0001\")",
		"Name(_CID,\"VM_Gen_Counter\")",
		"Name(_DDN,\"VM_Gen_Counter\")",
		"Method(ADDR,0,Serialized){Return(Package(0x02){0x0009F000,Zero})}",
		"Device(GED0){",
		"Name(_HID,\"ACPI0013\")",
		"Interrupt(ResourceConsumer,Edge,ActiveHigh,Exclusive,,,){0x00000017,}",
		"Method(_EVT,1,NotSerialized){If((Arg0==0x17)){Notify(\\_SB.VGEN,0x80)}}",
	};
	char dir[] = "/tmp/sbx-vmgenid.XXXXXX", path[256], cmd[1024], *dsl;
	const uint8_t *d;
	struct vmgenid g;
	uint8_t *buf;
	size_t len, dlen, i;
	FILE *fp;
	int st;

	if (system("command -v iasl >/dev/null 2>&1")) {
		print_message("# iasl not found (apt-get install acpica-tools): the AML is checked by bytes only\n");
		skip();
	}
	assert_int_equal(vmgenid_create(&g, &f->env, BOOT_VMGENID_PAGE, &c), 0);
	assert_int_equal(acpi_build(&buf, &len, 0x10000, &c), 0);
	d = dsdt_of(buf, len, &dlen);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dsdt.dat", dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(d, 1, dlen, fp), dlen);
	fclose(fp);
	free(buf);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat >iasl.log 2>&1", dir);
	st = system(cmd);
	snprintf(path, sizeof(path), "%s/iasl.log", dir);
	if (st) {
		dsl = slurp(path);
		print_message("%s", dsl);
		free(dsl);
	}
	assert_int_equal(st, 0);
	dsl = slurp(path);
	assert_null(strstr(dsl, "Error"));
	assert_null(strstr(dsl, "Warning"));
	free(dsl);
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	dsl = slurp(path);
	squeeze(dsl);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(dsl, want[i]))
			print_message("# not in the disassembly: %s\n%s\n", want[i], dsl);
		assert_non_null(strstr(dsl, want[i]));
	}
	free(dsl);
	/* And the disassembly compiles again without a remark. */
	snprintf(cmd, sizeof(cmd), "cd %s && iasl dsdt.dsl >iasl.log 2>&1", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/iasl.log", dir);
	dsl = slurp(path);
	if (!strstr(dsl, "0 Errors, 0 Warnings, 0 Remarks"))
		print_message("%s", dsl);
	assert_non_null(strstr(dsl, "0 Errors, 0 Warnings, 0 Remarks"));
	free(dsl);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_bump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aml_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aml_iasl, setup, teardown),
	};

	return cmocka_run_group_tests_name("vmgenid", tests, NULL, NULL);
}
