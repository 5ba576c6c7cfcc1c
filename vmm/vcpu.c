// SPDX-License-Identifier: MIT
/*
 * vCPUs (see vmm/vm.h): CPUID, boot MSRs and LAPIC set-up, the boot
 * vCPU's 64-bit registers, and the thread that loops on KVM_RUN and
 * dispatches port and MMIO exits to the devices, serialised per device.
 */
#include "vmm/vm-int.h"
#include "vmm/kvm-exit.h"
#include "vmm/kvm-sys.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_MTRR_DEF_TYPE	0x2ff
#define APIC_LVT0		0x350
#define APIC_LVT1		0x360
#define APIC_MODE_NMI		4
#define APIC_MODE_EXTINT	7

static struct dev_slot *find_dev(struct vm *vm, bool pio, uint64_t addr, unsigned len)
{
	unsigned i;

	for (i = 0; i < vm->ndevs; i++) {
		struct dev_slot *s = &vm->devs[i];

		if (s->pio == pio && addr >= s->base && addr - s->base < s->size &&
		    len <= s->size - (addr - s->base))
			return s;
	}
	return NULL;
}

static void pio_access(struct vm *vm, uint16_t port, uint8_t *data, unsigned len, bool write)
{
	struct dev_slot *s = find_dev(vm, true, port, len);

	if (!s) {
		if (!write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (write && s->pio_write)
		s->pio_write(s->opaque, (uint16_t)(port - s->base), data, len);
	else if (!write && s->pio_read)
		s->pio_read(s->opaque, (uint16_t)(port - s->base), data, len);
	pthread_mutex_unlock(&s->lock);
}

static void mmio_access(struct vm *vm, uint64_t addr, uint8_t *data, unsigned len, bool write)
{
	struct dev_slot *s;

	if (len > 8)
		len = 8;	/* kvm_run.mmio.data holds 8 */
	/* KVM splits accesses into 1, 2, 4 or 8 bytes; anything else is dropped. */
	s = (len == 1 || len == 2 || len == 4 || len == 8) ? find_dev(vm, false, addr, len) : NULL;
	if (!s) {
		pr_debug("unclaimed MMIO %s at 0x%llx (%u bytes)", write ? "write" : "read",
			 (unsigned long long)addr, len);
		if (!write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (write && s->mmio_write)
		s->mmio_write(s->opaque, addr - s->base, data, len);
	else if (!write && s->mmio_read)
		s->mmio_read(s->opaque, addr - s->base, data, len);
	pthread_mutex_unlock(&s->lock);
}

void vcpu_kick_handler(int sig)
{
	(void)sig;
}

void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	struct vm *vm = c->vm;
	struct kvm_run *run = c->run;

	if (vm_thread_hook(vm, VM_THREAD_VCPU, c->id))
		return NULL;
	while (!atomic_load(&vm->stopping)) {
		if (kvm_ioctl(c->fd, KVM_RUN, NULL) < 0) {
			if (errno == EINTR && atomic_load(&vm->pause_req))
				vm_park(vm, c);
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vm_request_end(vm, VM_END_ERROR, "vCPU %u: KVM_RUN failed: %s", c->id,
				       strerror(errno));
			break;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *data = (uint8_t *)run + run->io.data_offset;
			uint32_t i;

			for (i = 0; i < run->io.count; i++, data += run->io.size)
				pio_access(vm, run->io.port, data, run->io.size,
					   run->io.direction == KVM_EXIT_IO_OUT);
			break;
		}
		case KVM_EXIT_MMIO:
			mmio_access(vm, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
				    run->mmio.is_write);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_SHUTDOWN:
			vm_request_end(vm, VM_END_TRIPLE_FAULT, "the guest triple-faulted (vCPU %u)", c->id);
			return NULL;
		case KVM_EXIT_SYSTEM_EVENT:
			if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
				vm_request_end(vm, VM_END_REBOOT, "the guest reset the machine");
			else
				vm_request_end(vm, VM_END_POWEROFF, "the guest powered off");
			return NULL;
		case KVM_EXIT_HLT:
			vm_request_end(vm, VM_END_ERROR, "vCPU %u halted with interrupts off", c->id);
			return NULL;
		case KVM_EXIT_FAIL_ENTRY:
		case KVM_EXIT_INTERNAL_ERROR:
		default: {
			char what[256];

			/* Say what stopped it and where, at once: nothing retries these. */
			kvm_exit_describe(what, sizeof(what), c->fd, run, &vm->mem);
			vm_request_end(vm, VM_END_ERROR, "vCPU %u: %s", c->id, what);
			return NULL;
		}
		}
	}
	return NULL;
}

static int setup_cpuid(struct vm *vm, struct vcpu *c)
{
	struct kvm_cpuid2 *cpuid;
	size_t size = sizeof(*cpuid) + vm->cpuid->nent * sizeof(cpuid->entries[0]);
	uint32_t i;
	int ret = 0;

	cpuid = malloc(size);
	if (!cpuid)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	memcpy(cpuid, vm->cpuid, size);
	for (i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			/* Initial APIC ID; "running under a hypervisor". */
			e->ebx = (e->ebx & 0x00ffffff) | (c->id << 24);
			e->ecx |= 1u << 31;
			break;
		case 0xb:
		case 0x1f:
			e->edx = c->id;		/* x2APIC ID */
			break;
		}
	}
	if (kvm_ioctl(c->fd, KVM_SET_CPUID2, cpuid) < 0)
		ret = sbx_error_errno(SBX_ENOKVM, "vCPU %u: KVM_SET_CPUID2", c->id);
	free(cpuid);
	return ret;
}

static int setup_msrs_lapic(struct vcpu *c)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[2];
	} msrs = { .hdr.nmsrs = 2 };
	struct kvm_lapic_state lapic;
	uint32_t v;

	msrs.e[0].index = MSR_IA32_MISC_ENABLE;
	msrs.e[0].data = 1;			/* fast strings */
	msrs.e[1].index = MSR_MTRR_DEF_TYPE;
	msrs.e[1].data = (1u << 11) | 6;	/* MTRRs on, default write-back */
	if (kvm_ioctl(c->fd, KVM_SET_MSRS, &msrs) != 2)
		pr_debug("vCPU %u: not every boot MSR was accepted", c->id);

	/* LINT0 = ExtINT, LINT1 = NMI, as firmware leaves them. */
	if (kvm_ioctl(c->fd, KVM_GET_LAPIC, &lapic) < 0)
		return sbx_error_errno(SBX_ENOKVM, "vCPU %u: KVM_GET_LAPIC", c->id);
	memcpy(&v, lapic.regs + APIC_LVT0, 4);
	v = (v & ~0x700u) | (APIC_MODE_EXTINT << 8);
	memcpy(lapic.regs + APIC_LVT0, &v, 4);
	memcpy(&v, lapic.regs + APIC_LVT1, 4);
	v = (v & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(lapic.regs + APIC_LVT1, &v, 4);
	if (kvm_ioctl(c->fd, KVM_SET_LAPIC, &lapic) < 0)
		return sbx_error_errno(SBX_ENOKVM, "vCPU %u: KVM_SET_LAPIC", c->id);
	return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = selector;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

/* The boot vCPU: 64-bit mode, paging on, at the kernel's 64-bit entry. */
static int setup_boot_regs(struct vm *vm, struct vcpu *c)
{
	const struct boot_cpu *b = &vm->boot;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	struct kvm_fpu fpu = { 0 };

	if (kvm_ioctl(c->fd, KVM_GET_SREGS, &sregs) < 0)
		return sbx_error_errno(SBX_ENOKVM, "KVM_GET_SREGS");
	flat_segment(&sregs.cs, BOOT_CS, 0xb, true);
	flat_segment(&sregs.ds, BOOT_DS, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = BOOT_TSS;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 0xb;
	sregs.tr.present = 1;
	sregs.gdt.base = b->gdt_base;
	sregs.gdt.limit = b->gdt_limit;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = b->cr0;
	sregs.cr3 = b->cr3;
	sregs.cr4 = b->cr4;
	sregs.efer = b->efer;
	if (kvm_ioctl(c->fd, KVM_SET_SREGS, &sregs) < 0)
		return sbx_error_errno(SBX_ENOKVM, "KVM_SET_SREGS");
	regs.rflags = 2;
	regs.rip = b->rip;
	regs.rsi = b->rsi;
	regs.rsp = regs.rbp = b->rsp;
	if (kvm_ioctl(c->fd, KVM_SET_REGS, &regs) < 0)
		return sbx_error_errno(SBX_ENOKVM, "KVM_SET_REGS");
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (kvm_ioctl(c->fd, KVM_SET_FPU, &fpu) < 0)
		return sbx_error_errno(SBX_ENOKVM, "KVM_SET_FPU");
	return 0;
}

int vcpu_create(struct vm *vm, unsigned id)
{
	struct vcpu *c = &vm->vcpus[id];
	void *run;
	int ret;

	c->vm = vm;
	c->id = id;
	c->fd = kvm_ioctl(vm->vm_fd, KVM_CREATE_VCPU, (void *)(uintptr_t)id);
	if (c->fd < 0)
		return sbx_error_errno(SBX_ENOKVM, "KVM_CREATE_VCPU %u", id);
	vm->nvcpus = id + 1;
	run = kvm_map_run(c->fd, vm->run_size);
	if (!run)
		return sbx_error_errno(SBX_ENOKVM, "mmap of vCPU %u's kvm_run", id);
	c->run = run;
	ret = setup_cpuid(vm, c);
	if (!ret)
		ret = setup_msrs_lapic(c);
	/* A restored vCPU gets its registers from the snapshot (vmm/vm-state.c). */
	if (!ret && id == 0 && vm->cfg.restore_state_fd < 0)
		ret = setup_boot_regs(vm, c);
	return ret;
}
