// SPDX-License-Identifier: MIT
#include "vmm/kvm-exit.h"
#include "vmm/kvm-sys.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define WHERE_BYTES	15	/* the longest x86 instruction */

const char *kvm_exit_name(unsigned reason, char *buf, size_t size)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "KVM_EXIT_UNKNOWN",
		[KVM_EXIT_EXCEPTION] = "KVM_EXIT_EXCEPTION",
		[KVM_EXIT_IO] = "KVM_EXIT_IO",
		[KVM_EXIT_HYPERCALL] = "KVM_EXIT_HYPERCALL",
		[KVM_EXIT_DEBUG] = "KVM_EXIT_DEBUG",
		[KVM_EXIT_HLT] = "KVM_EXIT_HLT",
		[KVM_EXIT_MMIO] = "KVM_EXIT_MMIO",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "KVM_EXIT_IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN] = "KVM_EXIT_SHUTDOWN",
		[KVM_EXIT_FAIL_ENTRY] = "KVM_EXIT_FAIL_ENTRY",
		[KVM_EXIT_INTR] = "KVM_EXIT_INTR",
		[KVM_EXIT_SET_TPR] = "KVM_EXIT_SET_TPR",
		[KVM_EXIT_TPR_ACCESS] = "KVM_EXIT_TPR_ACCESS",
		[KVM_EXIT_NMI] = "KVM_EXIT_NMI",
		[KVM_EXIT_INTERNAL_ERROR] = "KVM_EXIT_INTERNAL_ERROR",
		[KVM_EXIT_OSI] = "KVM_EXIT_OSI",
		[KVM_EXIT_WATCHDOG] = "KVM_EXIT_WATCHDOG",
		[KVM_EXIT_EPR] = "KVM_EXIT_EPR",
		[KVM_EXIT_SYSTEM_EVENT] = "KVM_EXIT_SYSTEM_EVENT",
		[KVM_EXIT_IOAPIC_EOI] = "KVM_EXIT_IOAPIC_EOI",
		[KVM_EXIT_HYPERV] = "KVM_EXIT_HYPERV",
		[KVM_EXIT_X86_RDMSR] = "KVM_EXIT_X86_RDMSR",
		[KVM_EXIT_X86_WRMSR] = "KVM_EXIT_X86_WRMSR",
		[KVM_EXIT_DIRTY_RING_FULL] = "KVM_EXIT_DIRTY_RING_FULL",
		[KVM_EXIT_X86_BUS_LOCK] = "KVM_EXIT_X86_BUS_LOCK",
	};

	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	snprintf(buf, size, "exit reason %u", reason);
	return buf;
}

const char *kvm_internal_error_name(unsigned suberror, char *buf, size_t size)
{
	switch (suberror) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "an exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "an exit while delivering an event";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "a hardware exit KVM does not handle";
	default:
		snprintf(buf, size, "suberror %u", suberror);
		return buf;
	}
}

void kvm_exit_where(char *buf, size_t size, int vcpu_fd, const struct guest_mem *mem)
{
	struct kvm_regs regs;
	struct kvm_translation tr;
	const uint8_t *p = NULL;
	size_t n = WHERE_BYTES, used, i;

	if (!size)
		return;
	buf[0] = 0;
	if (kvm_ioctl(vcpu_fd, KVM_GET_REGS, &regs) < 0)
		return;
	used = (size_t)snprintf(buf, size, "at RIP 0x%llx", (unsigned long long)regs.rip);
	if (used >= size || !mem)
		return;
	memset(&tr, 0, sizeof(tr));
	tr.linear_address = regs.rip;
	if (kvm_ioctl(vcpu_fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
		return;
	/* Stop at the page's end: the next page may map elsewhere. */
	if ((tr.physical_address & 0xfff) + n > 0x1000)
		n = 0x1000 - (size_t)(tr.physical_address & 0xfff);
	p = gmem_at(mem, tr.physical_address, n);
	if (!p)
		return;
	for (i = 0; i < n && used + 4 < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%02x", i ? " " : " (bytes ", p[i]);
	if (i && used + 1 < size)
		snprintf(buf + used, size - used, ")");
}

void kvm_exit_describe(char *buf, size_t size, int vcpu_fd, const struct kvm_run *run,
		       const struct guest_mem *mem)
{
	char name[32], where[128];

	kvm_exit_where(where, sizeof(where), vcpu_fd, mem);
	switch (run->exit_reason) {
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(buf, size, "KVM internal error %u (%s)%s%s", run->internal.suberror,
			 kvm_internal_error_name(run->internal.suberror, name, sizeof(name)),
			 where[0] ? " " : "", where);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(buf, size, "entry failed (hardware reason 0x%llx)%s%s",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			 where[0] ? " " : "", where);
		break;
	default:
		snprintf(buf, size, "unexpected %s%s%s",
			 kvm_exit_name(run->exit_reason, name, sizeof(name)), where[0] ? " " : "", where);
		break;
	}
}
