/* SPDX-License-Identifier: MIT */
/* What this machine offers: library versions and KVM, for `git sbx version` and NEED_KVM. */
#ifndef SBX_SBX_SYSINFO_H
#define SBX_SBX_SYSINFO_H

#include "vmm/kvm-probe.h"

struct sbx_sysinfo {
	char libgit2[32];
	char zstd[32];
	struct vmm_kvm_info kvm;	/* the KVM usability check's answer */
};

void sbx_sysinfo_get(struct sbx_sysinfo *info);

/*
 * The KVM usability check (vmm/kvm-probe.h): 0 when /dev/kvm can run our
 * VMM, SBX_ENOKVM with one sentence saying why not.  `info` may be NULL.
 */
int sbx_kvm_check(struct vmm_kvm_info *info);

#endif
