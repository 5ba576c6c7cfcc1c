// SPDX-License-Identifier: MIT
/*
 * Restoring a snapshot (vmm/vm-state.c saves it; docs/formats.md): the
 * memory files mapped over guest RAM, then the state file's records loaded
 * in the order they were saved.  Everything read from a state file is
 * untrusted: records have exact sizes, counts are bounded, and KVM refuses
 * what it cannot load.
 */
#include "vmm/vm-state-int.h"
#include "vmm/kvm-sys.h"
#include "snapshot/memfile.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int vm_restore_memory(struct vm *vm)
{
	struct memfile_info mi;
	unsigned i;
	int ret;

	if (vm->cfg.restore_nmem < 1 || vm->cfg.restore_nmem > VM_MAX_MEM_LAYERS)
		return sbx_error_set(SBX_EINVAL, "a restore needs 1 to %d memory files",
				     VM_MAX_MEM_LAYERS);
	for (i = 0; i < vm->cfg.restore_nmem; i++) {
		ret = memfile_open_check(vm->cfg.restore_mem_fds[i], &mi, NULL);
		if (ret)
			return sbx_error_prefix(ret, "memory file %u", i + 1);
		if (mi.ram_size != vm->mem.size)
			return sbx_error_set(SBX_ECORRUPT, "the memory file holds %llu MiB of RAM; "
					     "the machine has %llu MiB",
					     (unsigned long long)(mi.ram_size >> 20),
					     (unsigned long long)(vm->mem.size >> 20));
		if (i == vm->cfg.restore_nmem - 1) {
			memcpy(vm->mem_id, mi.id, sizeof(vm->mem_id));
			memcpy(vm->restore_mem_id, mi.id, sizeof(vm->restore_mem_id));
		}
	}
	ret = memfile_map_chain(vm->mem.host, vm->mem.size, vm->cfg.restore_mem_fds,
				vm->cfg.restore_nmem);
	if (ret)
		return ret;
	vm->mem_chain = vm->cfg.restore_nmem;
	/* From here on, what changes is what a diff snapshot of this VM holds. */
	vm->mem.dirty = calloc(((vm->mem.size >> 12) + 63) / 64, 8);
	if (!vm->mem.dirty)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	return vm_set_dirty_logging(vm);
}

static const struct vmstate_rec *need(const struct vmstate *st, uint32_t type, uint32_t index,
				      size_t len, const char *what)
{
	const struct vmstate_rec *r = vmstate_find(st, type, index);

	if (!r) {
		sbx_error_set(SBX_ECORRUPT, "the state file has no %s record (index %u)", what, index);
		return NULL;
	}
	if (len && r->len != len) {
		sbx_error_set(SBX_ECORRUPT, "the %s record (index %u) has %zu bytes, not %zu", what,
			      index, r->len, len);
		return NULL;
	}
	return r;
}

static int set_from(const struct vmstate *st, int fd, unsigned long req, uint32_t type,
		    uint32_t index, size_t len, const char *what)
{
	const struct vmstate_rec *r = need(st, type, index, len, what);
	void *buf;
	int ret = 0;

	if (!r)
		return SBX_ECORRUPT;
	buf = malloc(len);		/* aligned for the kernel struct */
	if (!buf)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	memcpy(buf, r->data, len);
	if (kvm_ioctl(fd, req, buf) < 0)
		ret = sbx_error_errno(SBX_ECORRUPT, "KVM refused the saved %s", what);
	free(buf);
	return ret;
}

static int check_machine(struct vm *vm, const struct vmstate *st)
{
	const struct vmstate_rec *r = need(st, REC_MACHINE, 0, 0, "machine");
	struct cpu_sig host, saved;
	struct vs_cur c;
	uint32_t version, cpus, ndevs, i;
	uint64_t mem;
	uint8_t status_set, status;

	if (!r)
		return SBX_ECORRUPT;
	vs_cur_init(&c, r);
	version = vs_u32(&c);
	if (!c.bad && version != LAYOUT_VERSION)
		return sbx_error_set(SBX_EUNSUPPORTED, "the snapshot's machine layout is version %u; "
				     "this git-sbx reads version %u", version, LAYOUT_VERSION);
	cpus = vs_u32(&c);
	mem = vs_u64(&c);
	memset(&saved, 0, sizeof(saved));
	vs_bytes(&c, saved.vendor, sizeof(saved.vendor));
	saved.signature = vs_u32(&c);
	saved.xsave_size = vs_u32(&c);
	status_set = vs_u8(&c);
	status = vs_u8(&c);
	ndevs = vs_u32(&c);
	if (c.bad)
		return sbx_error_set(SBX_ECORRUPT, "the machine record is short");
	if (cpus != vm->nvcpus || mem != vm->mem.size)
		return sbx_error_set(SBX_ECORRUPT, "the snapshot is of a machine with %u vCPUs and "
				     "%llu MiB; this one has %u and %llu MiB", cpus,
				     (unsigned long long)(mem >> 20), vm->nvcpus,
				     (unsigned long long)(vm->mem.size >> 20));
	vm_host_cpu_sig(&host);
	if (memcmp(host.vendor, saved.vendor, sizeof(host.vendor)) ||
	    host.signature != saved.signature || host.xsave_size != saved.xsave_size)
		return sbx_error_set(SBX_EUNSUPPORTED, "the snapshot was taken on another CPU "
				     "(%.12s, signature %#x, XSAVE %u bytes; this one is %.12s, "
				     "%#x, %u bytes)", saved.vendor, saved.signature,
				     saved.xsave_size, host.vendor, host.signature,
				     host.xsave_size);
	if (ndevs != vm->ndevs)
		return sbx_error_set(SBX_ECORRUPT, "the snapshot's machine has %u devices; this "
				     "one has %u (disks, console and rng must match)", ndevs,
				     vm->ndevs);
	for (i = 0; i < ndevs; i++) {
		char name[256];
		uint8_t n = vs_u8(&c);

		vs_bytes(&c, name, n);
		if (c.bad)
			return sbx_error_set(SBX_ECORRUPT, "the machine record is short");
		if (strlen(vm->devs[i].name) != n || memcmp(name, vm->devs[i].name, n))
			return sbx_error_set(SBX_ECORRUPT, "device %u of the snapshot is %.*s; this "
					     "machine's is %s", i, (int)n, name, vm->devs[i].name);
	}
	if (c.left)
		return sbx_error_set(SBX_ECORRUPT, "the machine record has %zu bytes too many",
				     c.left);
	vm->result.status_set = status_set != 0;
	vm->result.status = status;
	return 0;
}

static int restore_msrs(const struct vmstate *st, struct vcpu *c)
{
	const struct vmstate_rec *r = need(st, REC_MSRS, c->id, 0, "MSRS");
	struct kvm_msrs *msrs;
	uint32_t n;
	int got, ret = 0;

	if (!r)
		return SBX_ECORRUPT;
	if (r->len < sizeof(*msrs))
		return sbx_error_set(SBX_ECORRUPT, "the MSRS record is short");
	memcpy(&n, r->data, sizeof(n));
	if (n > MAX_MSRS || r->len != sizeof(*msrs) + n * sizeof(msrs->entries[0]))
		return sbx_error_set(SBX_ECORRUPT, "the MSRS record's count (%u) does not match "
				     "its size", n);
	msrs = malloc(r->len);
	if (!msrs)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	memcpy(msrs, r->data, r->len);
	got = kvm_ioctl(c->fd, KVM_SET_MSRS, msrs);
	if (got < 0)
		ret = sbx_error_errno(SBX_ECORRUPT, "KVM_SET_MSRS");
	else if ((uint32_t)got < n)
		ret = sbx_error_set(SBX_ECORRUPT, "KVM refused the saved MSR %#x",
				    msrs->entries[got].index);
	free(msrs);
	return ret;
}

static int restore_cpuid(const struct vmstate *st, struct vcpu *c)
{
	const struct vmstate_rec *r = need(st, REC_CPUID, c->id, 0, "CPUID");
	struct kvm_cpuid2 *cpuid;
	uint32_t n;
	int ret = 0;

	if (!r)
		return SBX_ECORRUPT;
	if (r->len < sizeof(*cpuid))
		return sbx_error_set(SBX_ECORRUPT, "the CPUID record is short");
	memcpy(&n, r->data, sizeof(n));
	if (n > MAX_CPUID_ENTRIES || r->len != sizeof(*cpuid) + n * sizeof(cpuid->entries[0]))
		return sbx_error_set(SBX_ECORRUPT, "the CPUID record's count (%u) does not match "
				     "its size", n);
	cpuid = malloc(r->len);
	if (!cpuid)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	memcpy(cpuid, r->data, r->len);
	if (kvm_ioctl(c->fd, KVM_SET_CPUID2, cpuid) < 0)
		ret = sbx_error_errno(SBX_EUNSUPPORTED, "KVM refused the snapshot's CPUID (a snapshot "
				      "from another CPU or kernel?)");
	free(cpuid);
	return ret;
}

static int restore_vcpu(const struct vmstate *st, struct vcpu *c)
{
	int ret = restore_cpuid(st, c);

	if (!ret)
		ret = set_from(st, c->fd, KVM_SET_MP_STATE, REC_MP_STATE, c->id,
			       sizeof(struct kvm_mp_state), "MP_STATE");
	if (!ret)
		ret = set_from(st, c->fd, KVM_SET_REGS, REC_REGS, c->id, sizeof(struct kvm_regs),
			       "REGS");
	if (!ret) {
		ret = set_from(st, c->fd, KVM_SET_SREGS, REC_SREGS, c->id, sizeof(struct kvm_sregs),
			       "SREGS");
		if (ret == SBX_ECORRUPT && vmstate_find(st, REC_SREGS, c->id)) {
			struct kvm_sregs sr;

			memcpy(&sr, vmstate_find(st, REC_SREGS, c->id)->data, sizeof(sr));
			sbx_error_prefix(ret, "cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx apic_base %#llx",
					 (unsigned long long)sr.cr0, (unsigned long long)sr.cr3,
					 (unsigned long long)sr.cr4, (unsigned long long)sr.efer,
					 (unsigned long long)sr.apic_base);
		}
	}
	if (!ret)
		ret = set_from(st, c->fd, KVM_SET_XSAVE, REC_XSAVE, c->id, sizeof(struct kvm_xsave),
			       "XSAVE");
	if (!ret)
		ret = set_from(st, c->fd, KVM_SET_XCRS, REC_XCRS, c->id, sizeof(struct kvm_xcrs),
			       "XCRS");
	if (!ret)
		ret = set_from(st, c->fd, KVM_SET_DEBUGREGS, REC_DEBUGREGS, c->id,
			       sizeof(struct kvm_debugregs), "DEBUGREGS");
	if (!ret)
		ret = set_from(st, c->fd, KVM_SET_LAPIC, REC_LAPIC, c->id,
			       sizeof(struct kvm_lapic_state), "LAPIC");
	if (!ret)
		ret = restore_msrs(st, c);
	if (!ret)
		ret = set_from(st, c->fd, KVM_SET_VCPU_EVENTS, REC_VCPU_EVENTS, c->id,
			       sizeof(struct kvm_vcpu_events), "VCPU_EVENTS");
	return ret ? sbx_error_prefix(ret, "vCPU %u", c->id) : 0;
}

static int restore_irqchip(const struct vm *vm, const struct vmstate *st, uint32_t chip,
			   uint32_t type, const char *what)
{
	const struct vmstate_rec *r = need(st, type, 0, sizeof(struct kvm_irqchip), what);
	struct kvm_irqchip ic;

	if (!r)
		return SBX_ECORRUPT;
	memcpy(&ic, r->data, sizeof(ic));
	if (ic.chip_id != chip)
		return sbx_error_set(SBX_ECORRUPT, "the %s record names chip %u", what, ic.chip_id);
	if (kvm_ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &ic) < 0)
		return sbx_error_errno(SBX_ECORRUPT, "KVM refused the saved %s", what);
	return 0;
}

static int restore_clock(const struct vm *vm, const struct vmstate *st)
{
	const struct vmstate_rec *r = need(st, REC_CLOCK, 0, sizeof(struct kvm_clock_data), "CLOCK");
	struct kvm_clock_data clock;

	if (!r)
		return SBX_ECORRUPT;
	memcpy(&clock, r->data, sizeof(clock));
	/* Only the clock's value: the host-time fields are the old host's. */
	clock.flags = 0;
	memset(clock.pad, 0, sizeof(clock.pad));
	if (kvm_ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return sbx_error_errno(SBX_ECORRUPT, "KVM refused the saved clock");
	return 0;
}

static int restore_devices(struct vm *vm, const struct vmstate *st)
{
	unsigned i;

	for (i = 0; i < vm->ndevs; i++) {
		struct dev_slot *s = &vm->devs[i];
		const struct vmstate_rec *r = vmstate_find(st, REC_DEVICE, i);
		struct vs_cur c;
		int ret;

		if (!s->restore)
			continue;
		if (!r)
			return sbx_error_set(SBX_ECORRUPT, "the state file has no record of device %u (%s)",
					     i, s->name);
		vs_cur_init(&c, r);
		ret = s->restore(s->opaque, &c);
		if (!ret && (c.bad || c.left))
			ret = sbx_error_set(SBX_ECORRUPT, "the device's record is %s",
					    c.bad ? "short" : "too long");
		if (ret)
			return sbx_error_prefix(ret, "device %u (%s)", i, s->name);
	}
	return 0;
}

/* Everything but RAM, from a checked state file; also what an in-place reset reloads. */
int vm_load_state(struct vm *vm, const struct vmstate *st)
{
	const struct vmstate_rec *mem;
	unsigned i;
	int ret;

	ret = check_machine(vm, st);
	if (ret)
		return ret;
	mem = need(st, REC_MEMORY, 0, sizeof(vm->mem_id), "MEMORY");
	if (!mem)
		return SBX_ECORRUPT;
	if (memcmp(mem->data, vm->mem_id, sizeof(vm->mem_id)))
		return sbx_error_set(SBX_ECORRUPT, "the memory file is not the one this state file "
				     "was saved with");
	ret = restore_clock(vm, st);
	if (!ret)
		ret = restore_irqchip(vm, st, KVM_IRQCHIP_PIC_MASTER, REC_PIC_MASTER, "PIC master");
	if (!ret)
		ret = restore_irqchip(vm, st, KVM_IRQCHIP_PIC_SLAVE, REC_PIC_SLAVE, "PIC slave");
	if (!ret)
		ret = restore_irqchip(vm, st, KVM_IRQCHIP_IOAPIC, REC_IOAPIC, "IOAPIC");
	if (!ret)
		ret = set_from(st, vm->vm_fd, KVM_SET_PIT2, REC_PIT2, 0,
			       sizeof(struct kvm_pit_state2), "PIT2");
	for (i = 0; i < vm->nvcpus && !ret; i++)
		ret = restore_vcpu(st, &vm->vcpus[i]);
	if (!ret)
		ret = restore_devices(vm, st);
	if (!ret)
		vm_kvmclock_ctrl(vm);
	/*
	 * A new VM generation ID and its interrupt, last: after the irqchip
	 * and LAPICs are loaded (loading them again would drop it).  A guest
	 * kernel with CONFIG_VMGENID reseeds its CRNG when it runs; the
	 * Debian cloud kernel has none, so sbx/ also reseeds over the channel.
	 */
	if (!ret)
		ret = vm_bump_generation(vm);
	return ret;
}

int vm_restore_state(struct vm *vm)
{
	struct vmstate *st = NULL;
	int ret;

	ret = vmstate_read_fd(&st, vm->cfg.restore_state_fd, MAX_STATE_BYTES);
	if (ret)
		return sbx_error_prefix(ret, "the state file");
	ret = vm_load_state(vm, st);
	if (ret) {
		vmstate_free(st);
		return sbx_error_prefix(ret, "cannot restore the snapshot");
	}
	vm->snap = st;		/* kept for in-place resets */
	return 0;
}
