/* SPDX-License-Identifier: MIT */
/*
 * The Linux x86 64-bit boot protocol (Documentation/x86/boot.rst), straight
 * into a stock bzImage: no BIOS, no firmware, no real-mode setup code.
 *
 * boot_linux() validates the image's setup header (the image is untrusted
 * input: every field it reads is checked), copies the protected-mode kernel
 * to 1 MiB, writes boot_params (the zero page) with the command line, the
 * e820 map (RAM with the 32-bit hole, the VM generation ID's page and the
 * ACPI area reserved) and the RSDP
 * address, a GDT and identity-mapped page tables for the first 4 GiB, and
 * says where the initramfs goes and what the boot vCPU's registers are.
 * It touches guest memory only, so unit tests run it without KVM.
 */
#ifndef SBX_VMM_BOOT_H
#define SBX_VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/guest-mem.h"

#define BOOT_GDT_ADDR		0x500ULL
#define BOOT_ZERO_PAGE_ADDR	0x7000ULL
#define BOOT_STACK_TOP		0x8ff0ULL
#define BOOT_PML4_ADDR		0x9000ULL	/* then PDPT at 0xa000, 4 PDs at 0xb000.. */
#define BOOT_CMDLINE_ADDR	0x20000ULL
#define BOOT_CMDLINE_MAX	0x10000ULL	/* our own limit, with the kernel's */
#define BOOT_ACPI_START		0xe0000ULL	/* reserved in the e820 map */
#define BOOT_ACPI_END		0x100000ULL
#define BOOT_KERNEL_ADDR	0x100000ULL	/* the protected-mode image */
#define BOOT_LOW_RAM_END	0x9f000ULL	/* conventional memory: RAM in the e820 map up to here */
#define BOOT_VMGENID_PAGE	0x9f000ULL	/* one page reserved in the e820 map: the VM
						   generation ID's 16 bytes (vmm/vmgenid.c) */
#define BOOT_VMGENID_PAGE_END	0xa0000ULL
#define BOOT_RESET_VECTOR	0xffff0ULL

#define BOOT_CS			0x10	/* __BOOT_CS */
#define BOOT_DS			0x18	/* __BOOT_DS */
#define BOOT_TSS		0x20

struct boot_input {
	const uint8_t *kernel;	/* the whole bzImage file */
	size_t kernel_size;
	uint64_t initrd_size;	/* 0: none */
	const char *cmdline;	/* NULL: empty */
	uint64_t rsdp_addr;	/* boot_params.acpi_rsdp_addr; 0: none */
	/*
	 * A guest that reboots through the BIOS (Linux's real-mode restart)
	 * jumps to the reset vector 0xffff0; we put code there that writes
	 * `reset_value` to I/O port `reset_port` (0: leave it empty).
	 */
	uint16_t reset_port;
	uint8_t reset_value;
};

/* What the boot vCPU starts with (64-bit mode, paging on). */
struct boot_cpu {
	uint64_t rip, rsi, rsp;
	uint64_t cr0, cr3, cr4, efer;
	uint64_t gdt_base;
	uint16_t gdt_limit;
	uint64_t initrd_addr;	/* where the caller loads the initramfs (0: none) */
	uint16_t protocol;	/* the image's boot protocol version, e.g. 0x020f */
};

/*
 * Load `in` into `mem`.  Returns 0, SBX_ECORRUPT for an image that is not
 * a 64-bit-bootable bzImage (with the reason), SBX_ELIMIT when the kernel,
 * command line or initramfs does not fit.
 */
int boot_linux(struct boot_cpu *out, const struct guest_mem *mem, const struct boot_input *in);

#endif
