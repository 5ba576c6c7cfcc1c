// SPDX-License-Identifier: MIT
/* Exit 0 when /dev/kvm works here, 1 (with the reason on stderr) when it does not. */
#include "util/error.h"
#include "vmm/kvm-probe.h"

#include <stdio.h>

int main(void)
{
	struct vmm_kvm_info info;

	if (vmm_kvm_probe(&info)) {
		fprintf(stderr, "%s\n", sbx_error());
		return 1;
	}
	return 0;
}
