// SPDX-License-Identifier: MIT
#include "vmm/kvm-sys.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>

int kvm_open(const char **path_out)
{
	const char *dev = getenv("SBX_KVM_DEVICE");

	if (!dev || !*dev)
		dev = "/dev/kvm";
	if (path_out)
		*path_out = dev;
	return open(dev, O_RDWR | O_CLOEXEC);
}

int kvm_ioctl(int fd, unsigned long request, void *arg)
{
	int ret;

	do
		ret = ioctl(fd, request, arg);
	while (ret < 0 && errno == EINTR && request != KVM_RUN);
	return ret;
}
