/* SPDX-License-Identifier: MIT */
/*
 * The VM generation ID (Microsoft's "Virtual Machine Generation ID"
 * specification, 2012): 16 random bytes in guest RAM that change whenever
 * the machine is restored from a snapshot, so the guest knows it is one of
 * possibly many copies.  Linux (CONFIG_VMGENID, drivers/virt/vmgenid.c, in
 * Debian's -amd64 kernel but not its cloud kernel) then mixes the new ID
 * into its pool and reseeds its CRNG at once (add_vmfork_randomness():
 * "random: crng reseeded due to virtual machine fork").
 *
 * What the guest sees, in the DSDT's \_SB_:
 *
 *   Device (VGEN) {                        // the ID
 *     Name (_HID, "SBXV0001")              // ours (the spec wants a vendor _HID)
 *     Name (_CID, "VM_Gen_Counter")        // what Linux matches (ACPICA upper-cases
 *     Name (_DDN, "VM_Gen_Counter")        //  _HID/_CID strings: "VM_GEN_COUNTER")
 *     Method (ADDR, 0, Serialized) { Return (Package (2) { low32, high32 }) }
 *   }
 *   Device (GED0) {                        // ACPI Generic Event Device (evged.c)
 *     Name (_HID, "ACPI0013")
 *     Name (_UID, 0)
 *     Name (_CRS, ResourceTemplate () { Interrupt (, Edge, ActiveHigh, Exclusive) { gsi } })
 *     Method (_EVT, 1) { If (LEqual (Arg0, gsi)) { Notify (\_SB_.VGEN, 0x80) } }
 *   }
 *
 * The ID lives at a fixed guest-physical address in a page the e820 map
 * reserves (BOOT_VMGENID_PAGE: 8-byte aligned, cacheable RAM that is neither
 * usable RAM nor ACPI memory, as the spec asks).  The event device has a GSI
 * of its own, edge-triggered, so it needs no status register: its one
 * interrupt means "the ID changed".  Linux's GED driver runs _EVT(gsi) in a
 * threaded handler (no _Exx method of ours, so it picks _EVT), which
 * notifies VGEN; the vmgenid driver re-reads the ID, and when it differs
 * calls add_vmfork_randomness() and sends a uevent (NEW_VMGENID=1).
 *
 * vmgenid_bump() writes a new random ID into guest memory and raises the
 * interrupt through the device env's irq() (KVM_IRQFD).  It has no state
 * to save: the ID is in guest RAM and the interrupt line in the irqchip.
 */
#ifndef SBX_VMM_VMGENID_H
#define SBX_VMM_VMGENID_H

#include <stdint.h>

#include "vmm/acpi.h"
#include "vmm/device.h"

#define VMGENID_SIZE	16
#define VMGENID_HID	"SBXV0001"

struct vmgenid {
	const struct vm_dev_env *env;	/* guest memory, the interrupt line (env->gsi) */
	uint64_t addr;			/* guest-physical address of the 16 bytes */
	uint8_t id[VMGENID_SIZE];	/* the ID we last wrote */
};

/*
 * Write a first random ID at guest-physical `addr` (8-byte aligned, RAM)
 * and add VGEN and GED0 to the DSDT through `acpi`'s hooks (call before
 * acpi_build(); `g` must stay where it is while the tables are built).
 * env->gsi is the event device's interrupt, one of its own; env->irq must
 * raise it as an edge.  0, or SBX_EINVAL / SBX_ELIMIT / SBX_EIO.
 */
int vmgenid_create(struct vmgenid *g, const struct vm_dev_env *env, uint64_t addr,
		   struct acpi_config *acpi);

/*
 * A new generation: write a new random ID (never equal to the last) into
 * guest memory and raise the event device's interrupt.  Call after every
 * restore of the guest's state (memory, irqchip, LAPICs), before or as the
 * vCPUs resume: a KVM_SET_IRQCHIP/KVM_SET_LAPIC after it would drop the
 * pending edge.  Safe from any thread (it writes 16 bytes of guest memory
 * and an eventfd).  0, or SBX_EIO when getrandom fails.
 */
int vmgenid_bump(struct vmgenid *g);

/* The DSDT part alone (an acpi_sb_hook; exposed for tests). */
int vmgenid_aml(struct aml *a, const void *g);

#endif
