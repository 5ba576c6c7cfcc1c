// SPDX-License-Identifier: MIT
#include "sbx/sysinfo.h"
#include "util/error.h"
#include "vmm/kvm-probe.h"

#include <git2.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

void sbx_sysinfo_get(struct sbx_sysinfo *info)
{
	struct vmm_kvm_info kvm = { 0 };
	int major = 0, minor = 0, rev = 0;

	memset(info, 0, sizeof(*info));
	git_libgit2_version(&major, &minor, &rev);
	snprintf(info->libgit2, sizeof(info->libgit2), "%d.%d.%d", major, minor, rev);
	snprintf(info->zstd, sizeof(info->zstd), "%s", ZSTD_versionString());
	if (vmm_kvm_probe(&kvm) == 0) {
		info->kvm_ok = 1;
		info->kvm_api = kvm.api_version;
		info->kvm_max_vcpus = kvm.max_vcpus;
	} else {
		snprintf(info->kvm_why, sizeof(info->kvm_why), "%s", sbx_error());
	}
}

int sbx_kvm_check(void)
{
	struct vmm_kvm_info kvm;

	return vmm_kvm_probe(&kvm);
}
