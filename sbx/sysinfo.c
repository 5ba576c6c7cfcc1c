// SPDX-License-Identifier: MIT
#include "sbx/sysinfo.h"
#include "util/error.h"

#include <git2.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

void sbx_sysinfo_get(struct sbx_sysinfo *info)
{
	int major = 0, minor = 0, rev = 0;

	memset(info, 0, sizeof(*info));
	git_libgit2_version(&major, &minor, &rev);
	snprintf(info->libgit2, sizeof(info->libgit2), "%d.%d.%d", major, minor, rev);
	snprintf(info->zstd, sizeof(info->zstd), "%s", ZSTD_versionString());
	vmm_kvm_probe(&info->kvm, 0);
}

int sbx_kvm_check(struct vmm_kvm_info *info)
{
	struct vmm_kvm_info local;

	return vmm_kvm_probe(info ? info : &local, 0);
}
