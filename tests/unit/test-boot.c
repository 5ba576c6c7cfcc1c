// SPDX-License-Identifier: MIT
/*
 * The 64-bit boot protocol writer over plain memory: boot_params from a
 * synthetic bzImage, placement of kernel, command line and initramfs, the
 * e820 map with the 32-bit hole, GDT, page tables, entry registers; and
 * refusal of malformed images (the image is untrusted input).
 */
#include "vmm/boot.h"
#include "util/error.h"

#include <asm/bootparam.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#define SETUP_SECTS	4
#define SETUP_SIZE	((SETUP_SECTS + 1) * 512)
#define PM_SIZE		(64 * 1024)
#define IMAGE_SIZE	(SETUP_SIZE + PM_SIZE)
#define MIB		(1ULL << 20)

struct fixture {
	uint8_t img[IMAGE_SIZE];
	struct guest_mem mem;
};

static struct setup_header *hdr_of(uint8_t *img)
{
	return (struct setup_header *)(img + 0x1f1);
}

/* A plausible bzImage: protocol 2.15, 64-bit entry, relocatable, 16 MiB preferred. */
static void make_image(uint8_t *img)
{
	struct setup_header *h = hdr_of(img);
	size_t i;

	memset(img, 0, IMAGE_SIZE);
	h->setup_sects = SETUP_SECTS;
	h->boot_flag = 0xaa55;
	h->jump = 0x66eb;		/* jmp to 0x268: the header ends there */
	h->header = 0x53726448;
	h->version = 0x020f;
	h->loadflags = 0x01;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->xloadflags = XLF_KERNEL_64 | (1 << 1);
	h->cmdline_size = 2047;
	h->pref_address = 0x1000000;
	h->init_size = 0x2000000;
	for (i = SETUP_SIZE; i < IMAGE_SIZE; i++)
		img[i] = (uint8_t)(i * 7);
}

static int setup_mem(struct fixture *f, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	f->mem.host = p;
	f->mem.size = size;
	f->mem.low_size = size < GMEM_HOLE_START ? size : GMEM_HOLE_START;
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || setup_mem(f, 256 * MIB))
		return -1;
	make_image(f->img);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	munmap(f->mem.host, f->mem.size);
	free(f);
	return 0;
}

static struct boot_input input(struct fixture *f)
{
	return (struct boot_input){
		.kernel = f->img, .kernel_size = IMAGE_SIZE, .initrd_size = 3 * MIB + 123,
		.cmdline = "console=ttyS0 quiet", .rsdp_addr = 0xe0000,
		.reset_port = 0x602, .reset_value = 0x0e,
	};
}

static void test_boot_params(void **state)
{
	struct fixture *f = *state;
	struct boot_input in = input(f);
	struct boot_params *bp;
	struct boot_cpu cpu;

	assert_int_equal(boot_linux(&cpu, &f->mem, &in), 0);
	bp = (struct boot_params *)(f->mem.host + BOOT_ZERO_PAGE_ADDR);

	/* The image's own header, with the loader's fields filled in. */
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_int_equal(bp->hdr.init_size, 0x2000000);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	assert_string_equal((char *)f->mem.host + BOOT_CMDLINE_ADDR, "console=ttyS0 quiet");
	assert_int_equal(bp->acpi_rsdp_addr, 0xe0000);

	/* The protected-mode kernel at 1 MiB, byte for byte. */
	assert_memory_equal(f->mem.host + BOOT_KERNEL_ADDR, f->img + SETUP_SIZE, PM_SIZE);

	/* The initramfs: page-aligned, at the top of RAM, clear of the kernel. */
	assert_int_equal(cpu.initrd_addr % 4096, 0);
	assert_true(cpu.initrd_addr + in.initrd_size <= f->mem.low_size);
	assert_true(f->mem.low_size - (cpu.initrd_addr + in.initrd_size) < 4096);
	assert_true(cpu.initrd_addr >= 0x1000000 + 0x2000000);
	assert_int_equal(bp->hdr.ramdisk_image, cpu.initrd_addr);
	assert_int_equal(bp->hdr.ramdisk_size, in.initrd_size);
	assert_int_equal(bp->ext_ramdisk_image, 0);

	/*
	 * e820: conventional memory, the VM generation ID's page reserved (and
	 * not overlapping any RAM), the ACPI area reserved, RAM from 1 MiB.
	 */
	assert_int_equal(bp->e820_entries, 4);
	assert_int_equal(bp->e820_table[0].addr, 0);
	assert_int_equal(bp->e820_table[0].size, BOOT_LOW_RAM_END);
	assert_int_equal(bp->e820_table[0].type, 1);
	assert_int_equal(bp->e820_table[1].addr, 0x9f000);
	assert_int_equal(bp->e820_table[1].size, 0x1000);
	assert_int_equal(bp->e820_table[1].type, 2);
	assert_true(bp->e820_table[0].addr + bp->e820_table[0].size <= bp->e820_table[1].addr);
	assert_int_equal(bp->e820_table[2].addr, BOOT_ACPI_START);
	assert_int_equal(bp->e820_table[2].type, 2);
	assert_int_equal(bp->e820_table[3].addr, BOOT_KERNEL_ADDR);
	assert_int_equal(bp->e820_table[3].size, 256 * MIB - BOOT_KERNEL_ADDR);
	assert_int_equal(bp->e820_table[3].type, 1);

	/* Entry: 64-bit, paging, the image + 0x200, boot_params in RSI. */
	assert_int_equal(cpu.rip, BOOT_KERNEL_ADDR + 0x200);
	assert_int_equal(cpu.rsi, BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(cpu.cr3, BOOT_PML4_ADDR);
	assert_true(cpu.cr0 & 0x80000001ULL);
	assert_true(cpu.cr4 & 0x20);
	assert_int_equal(cpu.efer & 0x500, 0x500);
	assert_int_equal(cpu.protocol, 0x020f);

	/* The reset vector writes the reset value to the reset port. */
	assert_memory_equal(f->mem.host + BOOT_RESET_VECTOR,
			    "\xb0\x0e\xba\x02\x06\xee\xf4\xeb\xfd", 9);
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void test_gdt_and_page_tables(void **state)
{
	struct fixture *f = *state;
	struct boot_input in = input(f);
	struct boot_cpu cpu;
	const uint8_t *m = f->mem.host;
	uint64_t code, data, gpa, pml4e, pdpte, pde;

	assert_int_equal(boot_linux(&cpu, &f->mem, &in), 0);
	/* __BOOT_CS (0x10): present, code, long mode; __BOOT_DS (0x18): present, writable data. */
	code = rd64(m + cpu.gdt_base + BOOT_CS);
	data = rd64(m + cpu.gdt_base + BOOT_DS);
	assert_true(code & (1ULL << 47));
	assert_true(code & (1ULL << 43));
	assert_true(code & (1ULL << 53));
	assert_true(data & (1ULL << 47));
	assert_false(data & (1ULL << 43));
	assert_true(data & (1ULL << 41));
	assert_true(cpu.gdt_limit >= BOOT_DS + 7);

	/* Walk the tables for a few addresses below 4 GiB: each maps to itself. */
	for (gpa = 0; gpa < (4ULL << 30); gpa += 0x3ffe00000ULL / 7) {
		uint64_t a = gpa & ~0x1fffffULL;

		pml4e = rd64(m + cpu.cr3 + 8 * ((a >> 39) & 511));
		assert_true(pml4e & 1);
		pdpte = rd64(m + (pml4e & ~0xfffULL) + 8 * ((a >> 30) & 511));
		assert_true(pdpte & 1);
		pde = rd64(m + (pdpte & ~0xfffULL) + 8 * ((a >> 21) & 511));
		assert_int_equal(pde & 0x83, 0x83);
		assert_int_equal(pde & ~0xfffULL, a);
	}
}

/* More than 3 GiB: RAM splits around the hole and resumes at 4 GiB. */
static void test_hole(void **state)
{
	struct fixture *f = *state;
	struct fixture big = { .mem = { 0 } };
	struct boot_input in = input(f);
	struct boot_params *bp;
	struct boot_cpu cpu;

	if (setup_mem(&big, 5ULL << 30))
		skip();
	in.kernel = f->img;
	assert_int_equal(boot_linux(&cpu, &big.mem, &in), 0);
	bp = (struct boot_params *)(big.mem.host + BOOT_ZERO_PAGE_ADDR);
	assert_int_equal(bp->e820_entries, 5);
	assert_int_equal(bp->e820_table[3].addr + bp->e820_table[3].size, GMEM_HOLE_START);
	assert_int_equal(bp->e820_table[4].addr, GMEM_HIGH_START);
	assert_int_equal(bp->e820_table[4].size, (5ULL << 30) - GMEM_HOLE_START);
	/* The initramfs stays below the hole (and initrd_addr_max). */
	assert_true(cpu.initrd_addr + in.initrd_size <= GMEM_HOLE_START);
	munmap(big.mem.host, big.mem.size);
}

static void expect_refused(struct fixture *f, struct boot_input *in, int code)
{
	struct boot_cpu cpu;

	assert_int_equal(boot_linux(&cpu, &f->mem, in), code);
	make_image(f->img);
}

static void test_refuses_bad_images(void **state)
{
	struct fixture *f = *state;
	struct boot_input in = input(f);

	hdr_of(f->img)->boot_flag = 0x1234;
	expect_refused(f, &in, SBX_ECORRUPT);
	hdr_of(f->img)->header = 0;
	expect_refused(f, &in, SBX_ECORRUPT);
	hdr_of(f->img)->version = 0x020b;	/* before 64-bit entry */
	expect_refused(f, &in, SBX_ECORRUPT);
	hdr_of(f->img)->xloadflags = 0;
	expect_refused(f, &in, SBX_ECORRUPT);
	hdr_of(f->img)->loadflags = 0;		/* zImage */
	expect_refused(f, &in, SBX_ECORRUPT);
	hdr_of(f->img)->init_size = 0;
	expect_refused(f, &in, SBX_ECORRUPT);
	hdr_of(f->img)->setup_sects = 200;	/* setup larger than the file */
	expect_refused(f, &in, SBX_ECORRUPT);
	hdr_of(f->img)->jump = 0x00eb;		/* header ends before init_size */
	expect_refused(f, &in, SBX_ECORRUPT);
	in.kernel_size = 0x250;			/* truncated */
	expect_refused(f, &in, SBX_ECORRUPT);
	in.kernel_size = 0;
	expect_refused(f, &in, SBX_ECORRUPT);
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	struct boot_input in = input(f);
	char *longline;

	hdr_of(f->img)->init_size = 0xfffffff0;	/* more memory than the VM has */
	expect_refused(f, &in, SBX_ELIMIT);
	hdr_of(f->img)->pref_address = ~0ULL;	/* would overflow */
	expect_refused(f, &in, SBX_ECORRUPT);
	in.initrd_size = 250 * MIB;		/* cannot clear the kernel */
	expect_refused(f, &in, SBX_ELIMIT);
	in = input(f);
	hdr_of(f->img)->initrd_addr_max = 0x3000000;	/* below the kernel's end */
	expect_refused(f, &in, SBX_ELIMIT);
	longline = malloc(3000);
	assert_non_null(longline);
	memset(longline, 'x', 2999);
	longline[2999] = '\0';
	in.cmdline = longline;			/* cmdline_size is 2047 */
	expect_refused(f, &in, SBX_ELIMIT);
	longline[2047] = '\0';
	expect_refused(f, &in, 0);
	free(longline);
}

/* Random bytes in the setup header never crash the loader: it boots or refuses. */
static void test_random_headers(void **state)
{
	struct fixture *f = *state;
	struct boot_input in = input(f);
	struct boot_cpu cpu;
	unsigned seed = 12345, i, j;
	int ret;

	for (i = 0; i < 20000; i++) {
		make_image(f->img);
		for (j = 0; j < 1 + i % 6; j++) {
			seed = seed * 1103515245 + 12345;
			f->img[0x1f1 + (seed >> 8) % 0x77] = (uint8_t)(seed >> 20);
		}
		ret = boot_linux(&cpu, &f->mem, &in);
		assert_true(ret == 0 || ret == SBX_ECORRUPT || ret == SBX_ELIMIT);
		if (ret == 0)
			assert_true(cpu.initrd_addr + in.initrd_size <= f->mem.low_size);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_boot_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gdt_and_page_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_headers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
