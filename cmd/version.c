// SPDX-License-Identifier: MIT
#include "cmd/builtin.h"
#include "sbx/repo.h"
#include "sbx/sysinfo.h"

#include <linux/kvm.h>
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
	if (info.kvm_ok)
		printf("kvm: API %d, up to %d vCPUs per VM\n", info.kvm_api, info.kvm_max_vcpus);
	else
		printf("kvm: unavailable (%s); built for API %d\n", info.kvm_why, KVM_API_VERSION);
	if (ctx->repo)
		printf("repository: %s\n", ctx->repo->workdir ? ctx->repo->workdir : ctx->repo->gitdir);
	else
		printf("repository: none\n");
	return 0;
}
