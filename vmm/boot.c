// SPDX-License-Identifier: MIT
/* The Linux x86 64-bit boot protocol into a stock bzImage; see vmm/boot.h. */
#include "vmm/boot.h"
#include "util/checked.h"
#include "util/error.h"

#include <asm/bootparam.h>
#include <stdbool.h>
#include <string.h>

#define SETUP_HDR_OFFSET	0x1f1
#define BOOT_FLAG_MAGIC		0xaa55
#define HDRS_MAGIC		0x53726448	/* "HdrS" */
#define MIN_PROTOCOL		0x020c		/* 2.12: xloadflags, 64-bit entry */
#define ENTRY_64_OFFSET		0x200

#define E820_RAM		1
#define E820_RESERVED		2

#define PTE_PRESENT		0x1ULL
#define PTE_RW			0x2ULL
#define PTE_PS			0x80ULL

#define X86_CR0_PE		0x1ULL
#define X86_CR0_ET		0x10ULL
#define X86_CR0_PG		0x80000000ULL
#define X86_CR4_PAE		0x20ULL
#define EFER_LME		0x100ULL
#define EFER_LMA		0x400ULL

static inline uint32_t get_le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Copy the image's setup header into `hdr` after checking what we rely on. */
static int read_setup_header(struct setup_header *hdr, size_t *setup_size,
			     const uint8_t *img, size_t size)
{
	size_t hdr_len, end;
	unsigned setup_sects;

	/* Everything up to init_size must be in the file before we read any field. */
	if (size < offsetof(struct boot_params, hdr) + sizeof(*hdr))
		return SBX_CORRUPT("the kernel image is too small to be a bzImage (%zu bytes)", size);
	if ((img[0x1fe] | img[0x1ff] << 8) != BOOT_FLAG_MAGIC || get_le32(img + 0x202) != HDRS_MAGIC)
		return SBX_CORRUPT("the kernel image is not a bzImage (no boot signature)");
	/* The header ends at 0x202 + the jump's displacement byte at 0x201. */
	end = 0x202 + img[0x201];
	hdr_len = end - SETUP_HDR_OFFSET;
	memset(hdr, 0, sizeof(*hdr));
	memcpy(hdr, img + SETUP_HDR_OFFSET, hdr_len < sizeof(*hdr) ? hdr_len : sizeof(*hdr));
	if (hdr->version < MIN_PROTOCOL)
		return SBX_CORRUPT("the kernel speaks boot protocol %u.%02u; 64-bit boot needs 2.12",
				   hdr->version >> 8, hdr->version & 0xff);
	if (hdr_len < offsetof(struct setup_header, init_size) + sizeof(hdr->init_size))
		return SBX_CORRUPT("the kernel's setup header is truncated (%zu bytes)", hdr_len);
	if (!(hdr->xloadflags & XLF_KERNEL_64))
		return SBX_CORRUPT("the kernel has no 64-bit entry point (xloadflags 0x%x)",
				   hdr->xloadflags);
	if (!(hdr->loadflags & LOADED_HIGH))
		return SBX_CORRUPT("the kernel is not a bzImage (it loads low)");
	setup_sects = hdr->setup_sects ? hdr->setup_sects : 4;
	*setup_size = (size_t)(setup_sects + 1) * 512;
	if (*setup_size >= size || size - *setup_size <= ENTRY_64_OFFSET)
		return SBX_CORRUPT("the kernel image ends inside its setup code (%u setup sectors, %zu bytes)",
				   setup_sects, size);
	if (hdr->init_size == 0)
		return SBX_CORRUPT("the kernel's setup header has no init_size");
	return 0;
}

static void add_e820(struct boot_params *bp, uint64_t addr, uint64_t size, uint32_t type)
{
	struct boot_e820_entry *e;

	if (!size || bp->e820_entries >= E820_MAX_ENTRIES_ZEROPAGE)
		return;
	e = &bp->e820_table[bp->e820_entries++];
	e->addr = addr;
	e->size = size;
	e->type = type;
}

static void write_gdt(uint8_t *gdt)
{
	/* null, null, __BOOT_CS: 64-bit code, __BOOT_DS: flat data, a TSS for VMX. */
	static const uint64_t entries[] = {
		0,
		0,
		0x00af9b000000ffffULL,	/* code: P, DPL0, S, exec/read, accessed; G, L */
		0x00cf93000000ffffULL,	/* data: P, DPL0, S, read/write, accessed; G, D/B */
		0x00008b0000000067ULL,	/* 64-bit TSS, busy, base 0, limit 0x67 */
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(entries); i++)
		put_le64(gdt + 8 * i, entries[i]);
}

/* PML4 -> PDPT -> 4 page directories of 2 MiB pages: the first 4 GiB, identity. */
static void write_page_tables(uint8_t *pt)
{
	uint8_t *pml4 = pt, *pdpt = pt + 0x1000, *pd = pt + 0x2000;
	uint64_t i;

	memset(pt, 0, 6 * 0x1000);
	put_le64(pml4, (BOOT_PML4_ADDR + 0x1000) | PTE_PRESENT | PTE_RW);
	for (i = 0; i < 4; i++)
		put_le64(pdpt + 8 * i, (BOOT_PML4_ADDR + 0x2000 + i * 0x1000) | PTE_PRESENT | PTE_RW);
	for (i = 0; i < 4 * 512; i++)
		put_le64(pd + 8 * i, (i << 21) | PTE_PRESENT | PTE_RW | PTE_PS);
}

int boot_linux(struct boot_cpu *out, const struct guest_mem *mem, const struct boot_input *in)
{
	struct setup_header hdr;
	struct boot_params *bp;
	size_t setup_size = 0, pm_size, cmdline_len;
	uint64_t kernel_end, load_end, pref, cmdline_max, top;
	uint8_t *p;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = read_setup_header(&hdr, &setup_size, in->kernel, in->kernel_size);
	if (ret)
		return ret;
	pm_size = in->kernel_size - setup_size;

	/*
	 * Where the kernel lives while it starts: the image at 1 MiB, then
	 * decompressed at its preferred address (2.10+: pref_address), needing
	 * init_size bytes there.  Both must be RAM below the hole.
	 */
	if (chk_add(BOOT_KERNEL_ADDR, (uint64_t)pm_size, &load_end))
		return SBX_CORRUPT("the kernel image is too large");
	pref = hdr.pref_address > BOOT_KERNEL_ADDR ? hdr.pref_address : BOOT_KERNEL_ADDR;
	if (chk_add(pref, (uint64_t)hdr.init_size, &kernel_end))
		return SBX_CORRUPT("the kernel's pref_address/init_size overflow");
	if (load_end > kernel_end)
		kernel_end = load_end;
	if (kernel_end > mem->low_size)
		return sbx_error_set(SBX_ELIMIT,
				     "the kernel needs %llu MiB of memory to start; the VM has %llu MiB",
				     (unsigned long long)((kernel_end + (1 << 20) - 1) >> 20),
				     (unsigned long long)(mem->size >> 20));

	/* The command line: the kernel's limit (2.06+) and ours. */
	cmdline_len = in->cmdline ? strlen(in->cmdline) : 0;
	cmdline_max = hdr.cmdline_size ? hdr.cmdline_size : 255;
	if (cmdline_max > BOOT_CMDLINE_MAX - 1)
		cmdline_max = BOOT_CMDLINE_MAX - 1;
	if (cmdline_len > cmdline_max)
		return sbx_error_set(SBX_ELIMIT, "the kernel command line is %zu bytes; the kernel takes %llu",
				     cmdline_len, (unsigned long long)cmdline_max);

	/* The initramfs: as high as possible below initrd_addr_max and the hole. */
	if (in->initrd_size) {
		top = (uint64_t)hdr.initrd_addr_max + 1;
		if (top > mem->low_size)
			top = mem->low_size;
		if (in->initrd_size > top || ((top - in->initrd_size) & ~0xfffULL) < kernel_end)
			return sbx_error_set(SBX_ELIMIT,
					     "the initramfs (%llu MiB) does not fit in the VM's memory next to the kernel; give the VM more memory",
					     (unsigned long long)(in->initrd_size >> 20));
		out->initrd_addr = (top - in->initrd_size) & ~0xfffULL;
	}

	/* The protected-mode kernel. */
	p = gmem_at(mem, BOOT_KERNEL_ADDR, pm_size);
	if (!p)
		return sbx_error_set(SBX_ELIMIT, "the kernel does not fit in guest memory");
	memcpy(p, in->kernel + setup_size, pm_size);

	/* The zero page, from the image's own setup header. */
	bp = gmem_at(mem, BOOT_ZERO_PAGE_ADDR, sizeof(*bp));
	p = gmem_at(mem, BOOT_CMDLINE_ADDR, cmdline_len + 1);
	if (!bp || !p)
		return sbx_error_set(SBX_ELIMIT, "guest memory too small for the boot data");
	memset(bp, 0, sizeof(*bp));
	bp->hdr = hdr;
	bp->hdr.type_of_loader = 0xff;		/* "undefined" boot loader */
	bp->hdr.vid_mode = 0xffff;		/* "normal" */
	bp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	bp->hdr.code32_start = (uint32_t)BOOT_KERNEL_ADDR;
	bp->hdr.setup_data = 0;
	memset(p, 0, cmdline_len + 1);
	if (cmdline_len)
		memcpy(p, in->cmdline, cmdline_len);
	if (in->initrd_size) {
		bp->hdr.ramdisk_image = (uint32_t)out->initrd_addr;
		bp->ext_ramdisk_image = (uint32_t)(out->initrd_addr >> 32);
		bp->hdr.ramdisk_size = (uint32_t)in->initrd_size;
		bp->ext_ramdisk_size = (uint32_t)(in->initrd_size >> 32);
	}
	bp->acpi_rsdp_addr = in->rsdp_addr;

	/*
	 * e820: conventional memory, the VM generation ID's page (Microsoft's
	 * spec: not usable RAM, not ACPI memory), the ACPI area, RAM from 1 MiB,
	 * RAM above 4 GiB.
	 */
	add_e820(bp, 0, BOOT_LOW_RAM_END, E820_RAM);
	add_e820(bp, BOOT_VMGENID_PAGE, BOOT_VMGENID_PAGE_END - BOOT_VMGENID_PAGE, E820_RESERVED);
	add_e820(bp, BOOT_ACPI_START, BOOT_ACPI_END - BOOT_ACPI_START, E820_RESERVED);
	add_e820(bp, BOOT_KERNEL_ADDR, mem->low_size - BOOT_KERNEL_ADDR, E820_RAM);
	if (mem->size > mem->low_size)
		add_e820(bp, GMEM_HIGH_START, mem->size - mem->low_size, E820_RAM);

	/* The reset vector: mov al, value; mov dx, port; out dx, al; hlt; jmp $-1. */
	if (in->reset_port) {
		const uint8_t stub[] = { 0xb0, in->reset_value, 0xba, (uint8_t)in->reset_port,
					 (uint8_t)(in->reset_port >> 8), 0xee, 0xf4, 0xeb, 0xfd };

		p = gmem_at(mem, BOOT_RESET_VECTOR, sizeof(stub));
		if (p)
			memcpy(p, stub, sizeof(stub));
	}

	/* GDT and page tables. */
	p = gmem_at(mem, BOOT_GDT_ADDR, 5 * 8);
	if (!p)
		return sbx_error_set(SBX_ELIMIT, "guest memory too small for the boot data");
	write_gdt(p);
	p = gmem_at(mem, BOOT_PML4_ADDR, 6 * 0x1000);
	if (!p)
		return sbx_error_set(SBX_ELIMIT, "guest memory too small for the boot data");
	write_page_tables(p);

	out->rip = BOOT_KERNEL_ADDR + ENTRY_64_OFFSET;
	out->rsi = BOOT_ZERO_PAGE_ADDR;
	out->rsp = BOOT_STACK_TOP;
	out->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	out->cr3 = BOOT_PML4_ADDR;
	out->cr4 = X86_CR4_PAE;
	out->efer = EFER_LME | EFER_LMA;
	out->gdt_base = BOOT_GDT_ADDR;
	out->gdt_limit = 5 * 8 - 1;
	out->protocol = hdr.version;
	return 0;
}
