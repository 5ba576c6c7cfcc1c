// SPDX-License-Identifier: MIT
/*
 * vm_create's checks before any guest exists, with KVM faked: the KVM shim
 * (vmm/kvm-sys.c) is replaced with -Wl,--wrap=kvm_open,--wrap=kvm_ioctl so
 * each test decides what "KVM" answers.  Every refusal must name what is
 * missing and free what it opened.
 */
#include "vmm/vm.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static int fake_api = KVM_API_VERSION;
static long fake_missing_cap = -1;
static int fake_max_vcpus = 8;
static int opens, fds_open;
static bool fake_pvm_module;

int __wrap_kvm_open(const char **path_out);
int __wrap_kvm_ioctl(int fd, unsigned long request, void *arg);
bool __wrap_kvm_host_module(const char *name);
bool __wrap_kvm_host_cpu_virt(void);

/* A host with kvm_amd on an SVM CPU, or with kvm_pvm alone. */
bool __wrap_kvm_host_module(const char *name)
{
	if (!strcmp(name, "kvm_pvm"))
		return fake_pvm_module;
	return !strcmp(name, "kvm_amd") && !fake_pvm_module;
}

bool __wrap_kvm_host_cpu_virt(void)
{
	return !fake_pvm_module;
}

int __wrap_kvm_open(const char **path_out)
{
	int fd;

	if (path_out)
		*path_out = "/dev/fake-kvm";
	opens++;
	if (fake_api < 0) {
		errno = ENOENT;
		return -1;
	}
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		fds_open++;
	return fd;
}

int __wrap_kvm_ioctl(int fd, unsigned long request, void *arg)
{
	long cap = (long)(uintptr_t)arg;

	switch (request) {
	case KVM_GET_API_VERSION:
		return fake_api;
	case KVM_CHECK_EXTENSION:
		if (cap == fake_missing_cap)
			return 0;
		if (cap == KVM_CAP_MAX_VCPUS || cap == KVM_CAP_NR_VCPUS)
			return fake_max_vcpus;
		return 1;
	case KVM_GET_VCPU_MMAP_SIZE:
		return 3 * 4096;
	default:
		/* Anything past the checks "fails": these tests stop before a VM exists. */
		errno = ENOSYS;
		return -1;
	}
}

static int reset(void **state)
{
	fake_api = KVM_API_VERSION;
	fake_missing_cap = -1;
	fake_max_vcpus = 8;
	fake_pvm_module = false;
	opens = 0;
	return 0;
}

static int fd_count(void)
{
	int n = 0, fd;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static void expect_refusal(struct vm_config *cfg, int code, const char *words)
{
	struct vm *vm = (struct vm *)1;
	int before = fd_count();

	assert_int_equal(vm_create(&vm, cfg), code);
	assert_null(vm);
	if (!strstr(sbx_error(), words))
		fail_msg("message '%s' does not say '%s'", sbx_error(), words);
	assert_int_equal(fd_count(), before);
}

static void test_config_checked_first(void **state)
{
	struct vm_config cfg = VM_CONFIG_INIT;

	cfg.kernel = "/nonexistent";
	cfg.cpus = 0;
	expect_refusal(&cfg, SBX_EINVAL, "vCPUs");
	cfg.cpus = VM_MAX_CPUS + 1;
	expect_refusal(&cfg, SBX_EINVAL, "vCPUs");
	cfg.cpus = 1;
	cfg.mem_size = 32ULL << 20;
	expect_refusal(&cfg, SBX_EINVAL, "memory");
	cfg.mem_size = (256ULL << 20) + 4096;
	expect_refusal(&cfg, SBX_EINVAL, "multiple of 2 MiB");
	cfg.mem_size = 256ULL << 20;
	cfg.ndisks = VM_MAX_DISKS + 1;
	expect_refusal(&cfg, SBX_EINVAL, "disks");
	assert_int_equal(opens, 0);
}

static void test_no_kvm(void **state)
{
	struct vm_config cfg = VM_CONFIG_INIT;

	fake_api = -1;
	expect_refusal(&cfg, SBX_ENOKVM, "cannot open '/dev/fake-kvm'");
}

static void test_api_version(void **state)
{
	struct vm_config cfg = VM_CONFIG_INIT;

	fake_api = 11;
	expect_refusal(&cfg, SBX_ENOKVM, "speaks KVM API 11, we need 12");
}

static void test_each_capability_named(void **state)
{
	static const struct {
		long cap;
		const char *name;
	} caps[] = {
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
		{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
		{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
		{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
		{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
		{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	};
	struct vm_config cfg = VM_CONFIG_INIT;
	size_t i;

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		fake_missing_cap = caps[i].cap;
		expect_refusal(&cfg, SBX_ENOKVM, caps[i].name);
	}
}

static void test_too_many_vcpus(void **state)
{
	struct vm_config cfg = VM_CONFIG_INIT;

	fake_max_vcpus = 2;
	cfg.cpus = 4;
	expect_refusal(&cfg, SBX_ELIMIT, "allows 2 vCPUs; 4 asked");
}

/* vm_create and the backend choice share one check: PVM is refused here too, at once. */
static void test_pvm_refused(void **state)
{
	struct vm_config cfg = VM_CONFIG_INIT;

	fake_pvm_module = true;
	expect_refusal(&cfg, SBX_ENOKVM, "/dev/fake-kvm is PVM (kvm_pvm), which runs only PVM-enabled guest kernels");
}

/* Past the checks, a failing KVM_GET_SUPPORTED_CPUID is reported, and nothing leaks. */
static void test_later_failure_frees(void **state)
{
	struct vm_config cfg = VM_CONFIG_INIT;

	expect_refusal(&cfg, SBX_ENOKVM, "KVM_GET_SUPPORTED_CPUID");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_config_checked_first, reset),
		cmocka_unit_test_setup(test_no_kvm, reset),
		cmocka_unit_test_setup(test_api_version, reset),
		cmocka_unit_test_setup(test_each_capability_named, reset),
		cmocka_unit_test_setup(test_too_many_vcpus, reset),
		cmocka_unit_test_setup(test_pvm_refused, reset),
		cmocka_unit_test_setup(test_later_failure_frees, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
