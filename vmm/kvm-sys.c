// SPDX-License-Identifier: MIT
#include "vmm/kvm-sys.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

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

void *kvm_map_run(int vcpu_fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

void kvm_unmap_run(void *run, size_t size)
{
	if (run)
		munmap(run, size);
}

bool kvm_host_module(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	return access(path, F_OK) == 0;
}

bool kvm_host_cpu_virt(void)
{
	unsigned a, b, c, d;

	if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 5)))	/* VMX: CPUID 1 ECX bit 5 */
		return true;
	/* AMD's SVM: CPUID 0x80000001 ECX bit 2. */
	if (__get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 2)))
		return true;
	return false;
}
