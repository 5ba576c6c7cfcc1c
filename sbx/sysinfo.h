/* SPDX-License-Identifier: MIT */
/* What this machine offers: library versions and KVM, for `git sbx version` and NEED_KVM. */
#ifndef SBX_SBX_SYSINFO_H
#define SBX_SBX_SYSINFO_H

struct sbx_sysinfo {
	char libgit2[32];
	char zstd[32];
	int kvm_ok;		/* 1 when /dev/kvm works */
	int kvm_api;		/* KVM_GET_API_VERSION when kvm_ok */
	int kvm_max_vcpus;
	char kvm_why[256];	/* why not, when !kvm_ok */
};

void sbx_sysinfo_get(struct sbx_sysinfo *info);
/* 0 when /dev/kvm is usable, SBX_ENOKVM with the reason otherwise. */
int sbx_kvm_check(void);

#endif
