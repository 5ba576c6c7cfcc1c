// SPDX-License-Identifier: MIT
/* The VM generation ID and its ACPI event device; see vmm/vmgenid.h. */
#include "vmm/vmgenid.h"
#include "vmm/aml.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

static int new_id(uint8_t id[VMGENID_SIZE])
{
	size_t got = 0;

	while (got < VMGENID_SIZE) {
		ssize_t n = getrandom(id + got, VMGENID_SIZE - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return sbx_error_errno(SBX_EIO, "getrandom");
		got += (size_t)n;
	}
	return 0;
}

/* Write a new ID, different from the last one, to guest memory. */
static int write_id(struct vmgenid *g)
{
	uint8_t id[VMGENID_SIZE], *dst;
	int ret;

	do {
		ret = new_id(id);
		if (ret)
			return ret;
	} while (!memcmp(id, g->id, sizeof(id)));	/* the driver ignores an unchanged ID */
	dst = gmem_at(g->env->mem, g->addr, VMGENID_SIZE);
	if (!dst)
		return sbx_error_set(SBX_EINVAL, "the VM generation ID at 0x%llx is not in guest RAM",
				     (unsigned long long)g->addr);
	memcpy(dst, id, sizeof(id));
	gmem_dirty(g->env->mem, dst, sizeof(id));
	memcpy(g->id, id, sizeof(id));
	return 0;
}

int vmgenid_aml(struct aml *a, const void *opaque)
{
	const struct vmgenid *g = opaque;
	unsigned gsi = g->env->gsi;

	aml_device_begin(a, "VGEN");
	aml_name_string(a, "_HID", VMGENID_HID);
	aml_name_string(a, "_CID", "VM_Gen_Counter");
	aml_name_string(a, "_DDN", "VM_Gen_Counter");
	aml_method_begin(a, "ADDR", 0, true);
	aml_return(a);
	aml_package_begin(a);
	aml_int(a, g->addr & 0xffffffffu);
	aml_int(a, g->addr >> 32);
	aml_end(a);
	aml_end(a);
	aml_end(a);

	aml_device_begin(a, "GED0");
	aml_name_string(a, "_HID", "ACPI0013");
	aml_name_int(a, "_UID", 0);
	aml_name_begin(a, "_CRS");
	aml_resources_begin(a);
	aml_interrupt(a, true, false, false, gsi);
	aml_resources_end(a);
	aml_method_begin(a, "_EVT", 1, false);
	aml_if_begin(a);
	aml_lequal(a);
	aml_arg(a, 0);
	aml_int(a, gsi);
	aml_notify(a, "\\_SB_.VGEN", 0x80);
	aml_end(a);
	aml_end(a);
	aml_end(a);
	return 0;
}

int vmgenid_create(struct vmgenid *g, const struct vm_dev_env *env, uint64_t addr,
		   struct acpi_config *acpi)
{
	int ret;

	memset(g, 0, sizeof(*g));
	if (addr % 8)
		return sbx_error_set(SBX_EINVAL, "the VM generation ID must be 8-byte aligned (0x%llx)",
				     (unsigned long long)addr);
	g->env = env;
	g->addr = addr;
	ret = write_id(g);
	if (!ret)
		ret = acpi_add_sb_hook(acpi, vmgenid_aml, g);
	return ret;
}

int vmgenid_bump(struct vmgenid *g)
{
	int ret = write_id(g);

	if (ret)
		return ret;
	/* The bytes are in guest memory before the interrupt: the eventfd write orders them. */
	g->env->irq(g->env->vm, g->env->gsi);
	return 0;
}
