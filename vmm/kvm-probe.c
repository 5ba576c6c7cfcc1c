// SPDX-License-Identifier: MIT
#include "vmm/kvm-probe.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

int vmm_kvm_probe(struct vmm_kvm_info *info)
{
	const char *dev = getenv("SBX_KVM_DEVICE");
	int kvm, vm, ret = 0;

	if (!dev || !*dev)
		dev = "/dev/kvm";
	kvm = open(dev, O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return sbx_error_errno(SBX_ENOKVM, "cannot open '%s'", dev);
	info->api_version = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (info->api_version != KVM_API_VERSION) {
		ret = sbx_error_set(SBX_ENOKVM, "'%s' speaks KVM API %d, we need %d", dev,
				    info->api_version, KVM_API_VERSION);
		goto out;
	}
	info->max_vcpus = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (info->max_vcpus <= 0)
		info->max_vcpus = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		ret = sbx_error_errno(SBX_ENOKVM, "'%s' cannot create a VM", dev);
		goto out;
	}
	close(vm);
out:
	close(kvm);
	return ret;
}
