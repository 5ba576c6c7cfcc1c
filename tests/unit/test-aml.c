// SPDX-License-Identifier: MIT
/* The AML encoder: exact bytes for each construct (ACPI 6.x section 20), and its errors. */
#include "vmm/aml.h"
#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static void expect_bytes(struct aml *a, const uint8_t *want, size_t n)
{
	const uint8_t *got;
	size_t len;

	assert_int_equal(aml_finish(a, &got, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
	aml_release(a);
}

static void test_integers(void **state)
{
	struct aml a = AML_INIT;
	static const uint8_t want[] = {
		0x00, 0x01, 0x0a, 0x05, 0x0a, 0xff, 0x0b, 0x34, 0x12,
		0x0c, 0x78, 0x56, 0x34, 0x12,
		0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	};

	aml_int(&a, 0);
	aml_int(&a, 1);
	aml_int(&a, 5);
	aml_int(&a, 0xff);
	aml_int(&a, 0x1234);
	aml_int(&a, 0x12345678);
	aml_int(&a, 0x100000000ULL);
	expect_bytes(&a, want, sizeof(want));
}

static void test_names(void **state)
{
	struct aml a = AML_INIT;
	static const uint8_t want[] = {
		0x08, '_', 'U', 'I', 'D', 0x00,				/* Name(_UID, 0) */
		0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00,
		0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,	/* EISAID("PNP0501") */
		0x08, 0x5c, '_', 'S', '5', '_', 0x01,			/* Name(\_S5, One): padded */
		0x08, 0x5c, 0x2e, '_', 'S', 'B', '_', 'V', '0', '0', '0', 0x00, /* dual name */
	};

	aml_name_int(&a, "_UID", 0);
	aml_name_string(&a, "_HID", "LNRO0005");
	aml_name_eisaid(&a, "_HID", "PNP0501");
	aml_name_int(&a, "\\_S5", 1);
	aml_name_int(&a, "\\_SB_.V000", 0);
	expect_bytes(&a, want, sizeof(want));
}

static void test_scope_device(void **state)
{
	struct aml a = AML_INIT;
	static const uint8_t want[] = {
		0x10, 0x13, 0x5c, '_', 'S', 'B', '_',		/* Scope(\_SB) { */
		0x5b, 0x82, 0x0b, 'V', '0', '0', '0',		/*   Device(V000) { */
		0x08, '_', 'U', 'I', 'D', 0x01,			/*     Name(_UID, One) }} */
	};

	aml_scope_begin(&a, "\\_SB_");
	aml_device_begin(&a, "V000");
	aml_name_int(&a, "_UID", 1);
	aml_end(&a);
	aml_end(&a);
	expect_bytes(&a, want, sizeof(want));
}

static void test_package(void **state)
{
	struct aml a = AML_INIT;
	/* Name(_S5, Package() { 5, 0, 0, 0 }) as iasl writes it. */
	static const uint8_t want[] = {
		0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, 0x05, 0x00, 0x00, 0x00,
	};

	aml_name_begin(&a, "_S5_");
	aml_package_begin(&a);
	aml_int(&a, 5);
	aml_int(&a, 0);
	aml_int(&a, 0);
	aml_int(&a, 0);
	aml_end(&a);
	expect_bytes(&a, want, sizeof(want));
}

static void test_resources(void **state)
{
	struct aml a = AML_INIT;
	/*
	 * ResourceTemplate() {
	 *   Memory32Fixed(ReadWrite, 0xd0001000, 0x200)
	 *   Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) { 5 }
	 *   IO(Decode16, 0x3f8, 0x3f8, 1, 8)
	 * }
	 */
	static const uint8_t want[] = {
		0x11, 0x22, 0x0a, 0x1f,
		0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xd0, 0x00, 0x02, 0x00, 0x00,
		0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00,
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
		0x79, 0x00,
	};

	aml_resources_begin(&a);
	aml_memory32_fixed(&a, true, 0xd0001000, 0x200);
	aml_interrupt(&a, true, false, false, 5);
	aml_io(&a, 0x3f8, 8);
	aml_resources_end(&a);
	expect_bytes(&a, want, sizeof(want));
}

static void test_pkglength(void **state)
{
	uint8_t b[4];

	assert_int_equal(aml_pkglength(b, 0), 1);
	assert_int_equal(b[0], 1);
	assert_int_equal(aml_pkglength(b, 62), 1);
	assert_int_equal(b[0], 63);
	/* 63 bytes of body need two length bytes: 65 = 0x41 -> 0x41, 0x04. */
	assert_int_equal(aml_pkglength(b, 63), 2);
	assert_int_equal(b[0], 0x41);
	assert_int_equal(b[1], 0x04);
	assert_int_equal(aml_pkglength(b, 4093), 2);
	assert_int_equal(b[0], 0x4f);
	assert_int_equal(b[1], 0xff);
	/* 4094 + 3 = 4097 = 0x1001 -> 0x81, 0x00, 0x01. */
	assert_int_equal(aml_pkglength(b, 4094), 3);
	assert_int_equal(b[0], 0x81);
	assert_int_equal(b[1], 0x00);
	assert_int_equal(b[2], 0x01);
	assert_int_equal(aml_pkglength(b, 1u << 20), 4);
	assert_int_equal(b[0] >> 6, 3);
	assert_int_equal(aml_pkglength(b, 1u << 28), 0);
}

/* A device big enough for a two-byte PkgLength: the length lands in front of its body. */
static void test_long_device(void **state)
{
	struct aml a = AML_INIT;
	const uint8_t *got;
	size_t len, i;

	aml_device_begin(&a, "BIG0");
	for (i = 0; i < 20; i++)
		aml_name_int(&a, "_UID", 0);	/* 6 bytes each */
	aml_end(&a);
	assert_int_equal(aml_finish(&a, &got, &len), 0);
	/* body = 4 (name) + 120 = 124; + 2 length bytes = 126 = 0x7e. */
	assert_int_equal(len, 2 + 2 + 124);
	assert_int_equal(got[2], 0x40 | (126 & 0xf));
	assert_int_equal(got[3], 126 >> 4);
	assert_memory_equal(got + 4, "BIG0", 4);
	assert_int_equal(got[8], 0x08);
	aml_release(&a);
}

/* Method, If, LEqual, Arg0, Return, Notify: the VM generation ID's statements. */
static void test_statements(void **state)
{
	struct aml a = AML_INIT;
	static const uint8_t want[] = {
		/* Method(_EVT, 1, NotSerialized) { If (LEqual(Arg0, 23)) { Notify(\_SB_.VGEN, 0x80) } } */
		0x14, 0x19, '_', 'E', 'V', 'T', 0x01,
		0xa0, 0x12, 0x93, 0x68, 0x0a, 23,
		0x86, 0x5c, 0x2e, '_', 'S', 'B', '_', 'V', 'G', 'E', 'N', 0x0a, 0x80,
		/* Method(ADDR, 0, Serialized) { Return(Package(2) { 0x9f000, 0 }) } */
		0x14, 0x10, 'A', 'D', 'D', 'R', 0x08,
		0xa4, 0x12, 0x08, 0x02, 0x0c, 0x00, 0xf0, 0x09, 0x00, 0x00,
		/* Arg6 */
		0x6e,
	};

	(void)state;
	aml_method_begin(&a, "_EVT", 1, false);
	aml_if_begin(&a);
	aml_lequal(&a);
	aml_arg(&a, 0);
	aml_int(&a, 23);
	aml_notify(&a, "\\_SB_.VGEN", 0x80);
	aml_end(&a);
	aml_end(&a);
	aml_method_begin(&a, "ADDR", 0, true);
	aml_return(&a);
	aml_package_begin(&a);
	aml_int(&a, 0x9f000);
	aml_int(&a, 0);
	aml_end(&a);
	aml_end(&a);
	aml_arg(&a, 6);
	expect_bytes(&a, want, sizeof(want));
}

static void expect_error(struct aml *a, int code)
{
	const uint8_t *got;
	size_t len;

	assert_int_equal(aml_finish(a, &got, &len), code);
	aml_release(a);
}

static void test_errors(void **state)
{
	struct aml a = AML_INIT;
	int i;

	aml_name_int(&a, "_sb_", 0);		/* lower case */
	expect_error(&a, SBX_EINVAL);
	aml_name_int(&a, "1ABC", 0);		/* leading digit */
	expect_error(&a, SBX_EINVAL);
	aml_name_int(&a, "TOOLONG", 0);
	expect_error(&a, SBX_EINVAL);
	aml_name_int(&a, "\\_SB_.", 0);		/* empty segment */
	expect_error(&a, SBX_EINVAL);
	aml_name_eisaid(&a, "_HID", "PNP05");
	expect_error(&a, SBX_EINVAL);
	aml_name_eisaid(&a, "_HID", "pnp0501");
	expect_error(&a, SBX_EINVAL);
	aml_string(&a, "\xc3\xa9");
	expect_error(&a, SBX_EINVAL);
	aml_end(&a);				/* nothing open */
	expect_error(&a, SBX_EINVAL);
	aml_scope_begin(&a, "\\_SB_");		/* left open */
	expect_error(&a, SBX_EINVAL);
	for (i = 0; i <= AML_MAX_DEPTH; i++)
		aml_device_begin(&a, "DEEP");
	expect_error(&a, SBX_ELIMIT);
	aml_method_begin(&a, "_EVT", 8, false);	/* 7 arguments at most */
	expect_error(&a, SBX_EINVAL);
	aml_arg(&a, 7);				/* Arg0..Arg6 */
	expect_error(&a, SBX_EINVAL);
	aml_notify(&a, "\\_sb_.VGEN", 0x80);	/* a bad name */
	expect_error(&a, SBX_EINVAL);
	aml_package_begin(&a);			/* more than 255 elements */
	for (i = 0; i < 256; i++)
		aml_int(&a, 0);
	aml_end(&a);
	expect_error(&a, SBX_ELIMIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_scope_device),
		cmocka_unit_test(test_package),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_pkglength),
		cmocka_unit_test(test_long_device),
		cmocka_unit_test(test_statements),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
