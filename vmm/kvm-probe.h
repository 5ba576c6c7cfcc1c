/* SPDX-License-Identifier: MIT */
/* Is /dev/kvm there and usable?  Used by `git sbx version` and NEED_KVM commands. */
#ifndef SBX_VMM_KVM_PROBE_H
#define SBX_VMM_KVM_PROBE_H

struct vmm_kvm_info {
	int api_version;	/* KVM_GET_API_VERSION, 12 on every kernel since 2.6.22 */
	int max_vcpus;		/* KVM_CAP_MAX_VCPUS */
};

/*
 * Open /dev/kvm (or $SBX_KVM_DEVICE), check the API version and that a VM
 * can be created.  Returns 0, or SBX_ENOKVM with a message saying why not.
 */
int vmm_kvm_probe(struct vmm_kvm_info *info);

#endif
