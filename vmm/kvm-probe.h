/* SPDX-License-Identifier: MIT */
/*
 * Can this machine's /dev/kvm run a stock Linux kernel?  One check, used by
 * the backend choice (sbx/sandbox.c), `git sbx version`, vm_create() and the
 * tests (tests/kvm/kvm-probe, tests/kvm/with-kvm).
 *
 * Opening the device is not enough: PVM (kvm_pvm, nested virtualization
 * without VMX/SVM) opens, creates VMs and runs real-mode code, then fails a
 * stock kernel after a minute of emulation.  So the check
 *   1. opens the device and checks the API version and the capabilities
 *      the VMM needs;
 *   2. recognises PVM: the kvm_pvm module (with neither kvm_intel nor
 *      kvm_amd), the "PVM" signature in KVM_GET_SUPPORTED_CPUID leaf
 *      0x40000002, or a CPU without VMX and SVM under the device;
 *   3. runs a tiny 64-bit guest the way Linux starts (long mode with our
 *      page tables and GDT, cpuid, wrmsr/rdmsr, int3 through an IDT, port
 *      writes, hlt) under a deadline, and checks every exit.
 * Nothing is cached: each call looks again (a few ms on hardware KVM).
 */
#ifndef SBX_VMM_KVM_PROBE_H
#define SBX_VMM_KVM_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_cpuid2;

enum vmm_kvm_state {
	VMM_KVM_WORKS,
	VMM_KVM_MISSING,	/* the device cannot be opened */
	VMM_KVM_UNUSABLE,	/* it opens, but cannot run a stock kernel */
};

struct vmm_kvm_info {
	enum vmm_kvm_state state;
	char device[128];	/* the path opened: /dev/kvm or $SBX_KVM_DEVICE */
	int api_version;	/* KVM_GET_API_VERSION, 12 on every kernel since 2.6.22 */
	int max_vcpus;		/* KVM_CAP_MAX_VCPUS */
	bool pvm;		/* recognised as PVM */
	bool guest_ran;		/* the test guest ran to its hlt */
	uint64_t guest_us;	/* how long the test guest took, from KVM_CREATE_VM */
	char why[384];		/* when not WORKS: why, e.g. "PVM (kvm_pvm), which runs ..." */
};

/* Run the test guest even on a device recognised as PVM (for tests/kvm/kvm-probe -v). */
#define VMM_KVM_PROBE_GUEST_ALWAYS	0x1

/*
 * The whole check.  Returns 0 when the device works, SBX_ENOKVM otherwise,
 * with the summary (vmm_kvm_summary) as the error message.  The test
 * guest's deadline is 10 s, or $SBX_KVM_PROBE_TIMEOUT_MS: hardware KVM
 * needs a few ms, the nested harness on a loaded 2-core host up to 2 s,
 * and a device that fails usually fails at once (PVM: an emulation error).
 */
int vmm_kvm_probe(struct vmm_kvm_info *info, unsigned flags);

/*
 * Steps 1 and 2 on an open device (vm_create's own check, so the two never
 * disagree): 0, or SBX_ENOKVM with the summary.  Fills api_version,
 * max_vcpus, pvm, state and why.
 */
int vmm_kvm_check_fd(int kvm_fd, const char *device, struct vmm_kvm_info *info);

/*
 * KVM_GET_SUPPORTED_CPUID of an open device, grown until it fits (free()
 * it); NULL with errno on failure.  Shared by the check and vm_create.
 */
struct kvm_cpuid2 *vmm_kvm_supported_cpuid(int kvm_fd);

/*
 * One sentence that starts with the device: "/dev/kvm is PVM (kvm_pvm),
 * which runs only PVM-enabled guest kernels", "/dev/kvm cannot run a stock
 * kernel: ...", "/dev/kvm is missing: ...", "/dev/kvm works".
 */
const char *vmm_kvm_summary(const struct vmm_kvm_info *info, char *buf, size_t size);

#endif
