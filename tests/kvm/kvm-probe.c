// SPDX-License-Identifier: MIT
/*
 * tests/kvm/kvm-probe [-v] [--guest]: the KVM usability check
 * (vmm/kvm-probe.h), as with-kvm and the tests/t scripts ask it.  Exit 0
 * when /dev/kvm can run our VMM, 1 with the summary on stderr when it
 * cannot.  -v prints the verdict and the test guest's time on stdout;
 * --guest runs the test guest even on a device recognised as PVM (what it
 * does there is shown, the verdict stays).
 */
#include "util/error.h"
#include "vmm/kvm-probe.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct vmm_kvm_info info;
	unsigned flags = 0;
	bool verbose = false;
	char buf[512];
	int i, ret;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = true;
		else if (!strcmp(argv[i], "--guest"))
			flags |= VMM_KVM_PROBE_GUEST_ALWAYS;
		else {
			fprintf(stderr, "usage: kvm-probe [-v] [--guest]\n");
			return 2;
		}
	}
	ret = vmm_kvm_probe(&info, flags);
	if (verbose) {
		printf("%s\n", vmm_kvm_summary(&info, buf, sizeof(buf)));
		if (info.guest_ran)
			printf("test guest: ran to hlt in %llu us\n", (unsigned long long)info.guest_us);
	}
	if (ret) {
		fprintf(stderr, "%s\n", sbx_error());
		return 1;
	}
	return 0;
}
