// SPDX-License-Identifier: MIT
#include "cmd/builtin.h"
#include "sbx/repo.h"
#include "sbx/sysinfo.h"

#include <stdio.h>

static const char *const version_usage[] = {
	"git sbx version [--short]",
	NULL,
};

int cmd_version(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_sysinfo info;
	bool brief = false;
	const struct option opts[] = {
		OPT_BOOL(0, "short", &brief, "print only git-sbx's own version"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, version_usage, 0) > 0)
		usage_with_options(version_usage, opts);
	printf("git-sbx version %s\n", PACKAGE_VERSION);
	if (brief)
		return 0;
	sbx_sysinfo_get(&info);
	printf("libgit2: %s\n", info.libgit2);
	printf("zstd: %s\n", info.zstd);
	switch (info.kvm.state) {
	case VMM_KVM_WORKS:
		printf("kvm: works (%s, API %d, up to %d vCPUs; a 64-bit test guest ran in %llu us)\n",
		       info.kvm.device, info.kvm.api_version, info.kvm.max_vcpus,
		       (unsigned long long)info.kvm.guest_us);
		break;
	case VMM_KVM_MISSING:
		printf("kvm: unavailable (%s %s); tasks run under QEMU's emulation\n",
		       info.kvm.device, info.kvm.why);
		break;
	case VMM_KVM_UNUSABLE:
		printf("kvm: present but unusable: %s%s; tasks run under QEMU's emulation\n",
		       info.kvm.pvm ? "" : "it cannot run a stock kernel: ", info.kvm.why);
		break;
	}
	if (ctx->repo)
		printf("repository: %s\n", ctx->repo->workdir ? ctx->repo->workdir : ctx->repo->gitdir);
	else
		printf("repository: none\n");
	return 0;
}
