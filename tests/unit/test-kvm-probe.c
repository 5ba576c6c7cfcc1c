// SPDX-License-Identifier: MIT
/*
 * The KVM usability check (vmm/kvm-probe.c) against a fake KVM: the shim in
 * vmm/kvm-sys.c is wrapped (-Wl,--wrap=...) so each test decides what the
 * device, the host's modules, the CPU and the test guest's KVM_RUN answer.
 * The fake KVM_RUN plays the guest exit by exit, from what the probe put in
 * guest memory and registers, so a probe that sets up the guest wrongly or
 * misreads an exit fails here.
 */
#include "vmm/kvm-probe.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define RUN_SIZE	(3 * 4096)
#define CODE		0x6000

enum guest_mode {
	GUEST_HARDWARE,		/* every exit as real KVM gives it */
	GUEST_EMULATION_FAILS,	/* PVM's non-PVM mode: internal error 1 at the int3 */
	GUEST_HANGS,		/* KVM_RUN never returns by itself */
	GUEST_BAD_MSR,		/* rdmsr gives back something else */
	GUEST_SHUTDOWN,		/* a triple fault at the first instruction */
};

static struct {
	bool open_fails;
	bool pvm_module, amd_module, cpu_virt;
	bool cpuid_signature;
	enum guest_mode mode;
	/* what the probe gave the fake */
	uint8_t *mem;
	uint64_t mem_size;
	uint8_t seen[0x10000];	/* guest memory as the first KVM_RUN found it */
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint32_t leaf0_ebx;
	bool cpuid_set;
	struct kvm_run *run;
	int step;
	int kvm_runs;
} fk;

int __wrap_kvm_open(const char **path_out);
int __wrap_kvm_ioctl(int fd, unsigned long request, void *arg);
void *__wrap_kvm_map_run(int vcpu_fd, size_t size);
void __wrap_kvm_unmap_run(void *run, size_t size);
bool __wrap_kvm_host_module(const char *name);
bool __wrap_kvm_host_cpu_virt(void);

int __wrap_kvm_open(const char **path_out)
{
	if (path_out)
		*path_out = "/dev/fake-kvm";
	if (fk.open_fails) {
		errno = ENOENT;
		return -1;
	}
	return open("/dev/null", O_RDWR | O_CLOEXEC);
}

bool __wrap_kvm_host_module(const char *name)
{
	if (!strcmp(name, "kvm_pvm"))
		return fk.pvm_module;
	if (!strcmp(name, "kvm_amd"))
		return fk.amd_module;
	return false;
}

bool __wrap_kvm_host_cpu_virt(void)
{
	return fk.cpu_virt;
}

void *__wrap_kvm_map_run(int vcpu_fd, size_t size)
{
	assert_int_equal(size, RUN_SIZE);
	fk.run = calloc(1, size);
	return fk.run;
}

void __wrap_kvm_unmap_run(void *run, size_t size)
{
	assert_ptr_equal(run, fk.run);
	free(run);
	fk.run = NULL;
}

static int fake_cpuid(struct kvm_cpuid2 *c)
{
	static const struct kvm_cpuid_entry2 base[] = {
		{ .function = 0, .eax = 0xd, .ebx = 0x68747541, .ecx = 0x444d4163, .edx = 0x69746e65 },
		{ .function = 1, .eax = 0x800f12 },
		{ .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b },
	};
	unsigned n = sizeof(base) / sizeof(base[0]) + (fk.cpuid_signature ? 1 : 0);

	if (c->nent < n) {
		errno = E2BIG;
		return -1;
	}
	memcpy(c->entries, base, sizeof(base));
	if (fk.cpuid_signature)
		c->entries[n - 1] = (struct kvm_cpuid_entry2){ .function = 0x40000002, .ebx = 0x4d5650 };
	c->nent = n;
	return 0;
}

static void io_exit(uint16_t port, uint8_t size, uint32_t value)
{
	fk.run->exit_reason = KVM_EXIT_IO;
	fk.run->io.direction = KVM_EXIT_IO_OUT;
	fk.run->io.port = port;
	fk.run->io.size = size;
	fk.run->io.count = 1;
	fk.run->io.data_offset = 4096;
	memcpy((uint8_t *)fk.run + 4096, &value, size);
}

static void on_signal(int sig)
{
	(void)sig;
}

/* One KVM_RUN: the next exit of the guest the probe set up. */
static int fake_run(void)
{
	static const uint64_t rips[] = { 0x600b, 0x6029, 0x602c, 0x6040, 0x6034, 0x6035 };

	if (!fk.kvm_runs++)
		memcpy(fk.seen, fk.mem, fk.mem_size < sizeof(fk.seen) ? fk.mem_size : sizeof(fk.seen));
	if (fk.run->immediate_exit) {
		errno = EINTR;
		return -1;
	}
	if (fk.mode == GUEST_HANGS) {
		struct timespec ts = { 5, 0 };

		/* The real thing sleeps until a signal; so does this, up to 5 s. */
		if (nanosleep(&ts, NULL) == 0)
			fail_msg("the probe's deadline never interrupted KVM_RUN");
		errno = EINTR;
		return -1;
	}
	if (fk.mode == GUEST_SHUTDOWN) {
		fk.run->exit_reason = KVM_EXIT_SHUTDOWN;
		return 0;
	}
	if (fk.mode == GUEST_EMULATION_FAILS && fk.step == 3) {
		fk.regs.rip = CODE + 0x2c;
		fk.run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
		fk.run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
		return 0;
	}
	switch (fk.step++) {
	case 0:
		io_exit(0x11, 4, fk.leaf0_ebx);
		break;
	case 1:
		io_exit(0x11, 4, fk.mode == GUEST_BAD_MSR ? 0 : 0x5b5b1234);
		break;
	case 2:
		io_exit(0x11, 4, 0xabcd);
		break;
	case 3:
		io_exit(0x12, 1, 3);
		break;
	case 4:
		io_exit(0x10, 1, 0xaa);
		break;
	default:
		fk.run->exit_reason = KVM_EXIT_HLT;
		break;
	}
	fk.regs.rip = rips[fk.step - 1 < 6 ? fk.step - 1 : 5];
	return 0;
}

int __wrap_kvm_ioctl(int fd, unsigned long request, void *arg)
{
	long cap = (long)(uintptr_t)arg;

	switch (request) {
	case KVM_GET_API_VERSION:
		return KVM_API_VERSION;
	case KVM_CHECK_EXTENSION:
		return cap == KVM_CAP_MAX_VCPUS || cap == KVM_CAP_NR_VCPUS ? 16 : 1;
	case KVM_GET_SUPPORTED_CPUID:
		return fake_cpuid(arg);
	case KVM_GET_VCPU_MMAP_SIZE:
		return RUN_SIZE;
	case KVM_CREATE_VM:
	case KVM_CREATE_VCPU:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	case KVM_SET_USER_MEMORY_REGION: {
		const struct kvm_userspace_memory_region *r = arg;

		fk.mem = (uint8_t *)(uintptr_t)r->userspace_addr;
		fk.mem_size = r->memory_size;
		assert_int_equal(r->guest_phys_addr, 0);
		return 0;
	}
	case KVM_SET_CPUID2: {
		const struct kvm_cpuid2 *c = arg;
		uint32_t i;

		for (i = 0; i < c->nent; i++)
			if (c->entries[i].function == 0)
				fk.leaf0_ebx = c->entries[i].ebx;
		fk.cpuid_set = true;
		return 0;
	}
	case KVM_GET_SREGS:
		memset(arg, 0, sizeof(struct kvm_sregs));
		return 0;
	case KVM_SET_SREGS:
		fk.sregs = *(struct kvm_sregs *)arg;
		return 0;
	case KVM_SET_REGS:
		fk.regs = *(struct kvm_regs *)arg;
		return 0;
	case KVM_GET_REGS:
		*(struct kvm_regs *)arg = fk.regs;
		return 0;
	case KVM_TRANSLATE: {
		struct kvm_translation *t = arg;

		/* Identity, as the probe's page tables map it. */
		t->physical_address = t->linear_address;
		t->valid = t->linear_address < fk.mem_size;
		return 0;
	}
	case KVM_RUN:
		return fake_run();
	default:
		errno = ENOSYS;
		return -1;
	}
}

static int reset(void **state)
{
	memset(&fk, 0, sizeof(fk));
	fk.amd_module = true;
	fk.cpu_virt = true;
	unsetenv("SBX_KVM_PROBE_TIMEOUT_MS");
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

static void expect_unusable(struct vmm_kvm_info *info, enum vmm_kvm_state state, const char *words)
{
	int before = fd_count();

	assert_int_equal(vmm_kvm_probe(info, 0), SBX_ENOKVM);
	assert_int_equal(info->state, state);
	if (!strstr(sbx_error(), words))
		fail_msg("message '%s' does not say '%s'", sbx_error(), words);
	assert_int_equal(fd_count(), before);
	assert_null(fk.run);
}

static void test_missing(void **state)
{
	struct vmm_kvm_info info;

	fk.open_fails = true;
	expect_unusable(&info, VMM_KVM_MISSING, "/dev/fake-kvm is missing: cannot open it: No such file");
	assert_false(info.pvm);
}

static void test_pvm_module(void **state)
{
	struct vmm_kvm_info info;
	char buf[512];

	fk.pvm_module = true;
	fk.amd_module = false;
	fk.cpu_virt = false;
	expect_unusable(&info, VMM_KVM_UNUSABLE,
			"/dev/fake-kvm is PVM (kvm_pvm), which runs only PVM-enabled guest kernels");
	assert_true(info.pvm);
	assert_string_equal(info.why, "PVM (kvm_pvm), which runs only PVM-enabled guest kernels");
	assert_string_equal(vmm_kvm_summary(&info, buf, sizeof(buf)), sbx_error());
	/* Recognised without running anything: no guest, no KVM_RUN. */
	assert_int_equal(fk.kvm_runs, 0);
}

/* kvm_pvm loaded beside kvm_amd does not make the device PVM: the guest decides. */
static void test_pvm_module_beside_amd(void **state)
{
	struct vmm_kvm_info info;

	fk.pvm_module = true;
	assert_int_equal(vmm_kvm_probe(&info, 0), 0);
	assert_false(info.pvm);
	assert_true(info.guest_ran);
}

static void test_pvm_cpuid_signature(void **state)
{
	struct vmm_kvm_info info;

	fk.cpuid_signature = true;
	expect_unusable(&info, VMM_KVM_UNUSABLE, "is PVM (kvm_pvm)");
	assert_true(info.pvm);
}

static void test_no_vmx_svm(void **state)
{
	struct vmm_kvm_info info;

	fk.cpu_virt = false;
	expect_unusable(&info, VMM_KVM_UNUSABLE, "cannot run a stock kernel: the CPU has neither VMX nor SVM");
	assert_false(info.pvm);
}

static void test_guest_faults(void **state)
{
	struct vmm_kvm_info info;

	fk.mode = GUEST_EMULATION_FAILS;
	expect_unusable(&info, VMM_KVM_UNUSABLE,
			"/dev/fake-kvm cannot run a stock kernel: a 64-bit test guest stopped with "
			"KVM internal error 1 (instruction emulation failed) at RIP 0x602c "
			"(bytes cc 66 ba 10 00 b0 aa ee f4 eb fd 52 50 66 ba), expecting int3 through the IDT");
	assert_false(info.guest_ran);
}

static void test_guest_shutdown(void **state)
{
	struct vmm_kvm_info info;

	fk.mode = GUEST_SHUTDOWN;
	expect_unusable(&info, VMM_KVM_UNUSABLE, "stopped with unexpected KVM_EXIT_SHUTDOWN at RIP 0x6000");
}

static void test_guest_wrong_value(void **state)
{
	struct vmm_kvm_info info;

	fk.mode = GUEST_BAD_MSR;
	expect_unusable(&info, VMM_KVM_UNUSABLE, "wrmsr/rdmsr (low half) gave 0x0, not 0x5b5b1234");
}

static void test_guest_times_out(void **state)
{
	struct vmm_kvm_info info;
	struct sigaction sa;
	struct timespec t0, t1;
	long ms;

	setenv("SBX_KVM_PROBE_TIMEOUT_MS", "150", 1);
	fk.mode = GUEST_HANGS;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_unusable(&info, VMM_KVM_UNUSABLE, "a 64-bit test guest did not finish within 150 ms (cpuid next)");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 140 && ms < 2000);
	/* The deadline's signal handler is put back as it was. */
	assert_int_equal(sigaction(SIGRTMIN + 2, NULL, &sa), 0);
	assert_ptr_equal(sa.sa_handler, on_signal);
}

static void test_hardware_like_success(void **state)
{
	struct vmm_kvm_info info;
	int before = fd_count();
	uint8_t *gate;

	assert_int_equal(vmm_kvm_probe(&info, 0), 0);
	assert_int_equal(info.state, VMM_KVM_WORKS);
	assert_true(info.guest_ran);
	assert_int_equal(info.api_version, KVM_API_VERSION);
	assert_int_equal(info.max_vcpus, 16);
	assert_int_equal(fk.step, 6);
	assert_true(fk.cpuid_set);
	assert_int_equal(fd_count(), before);
	assert_null(fk.run);
	/* The guest really was set up as Linux starts: long mode, paging, our GDT and IDT. */
	assert_true(fk.sregs.cr0 & 0x80000001);
	assert_int_equal(fk.sregs.efer & 0x500, 0x500);
	assert_true(fk.sregs.cr4 & 0x20);
	assert_int_equal(fk.sregs.cs.l, 1);
	assert_int_equal(fk.sregs.idt.limit, 4 * 16 - 1);
	assert_int_equal(fk.regs.rip, 0x6035);
	gate = fk.seen + fk.sregs.idt.base + 3 * 16;
	assert_int_equal(gate[0] | gate[1] << 8, CODE + 0x37);
	assert_int_equal(gate[5], 0x8e);
	assert_int_equal(fk.seen[fk.sregs.cr3] & 1, 1);
	assert_int_equal(fk.seen[CODE + 0x2c], 0xcc);	/* the int3 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_missing, reset),
		cmocka_unit_test_setup(test_pvm_module, reset),
		cmocka_unit_test_setup(test_pvm_module_beside_amd, reset),
		cmocka_unit_test_setup(test_pvm_cpuid_signature, reset),
		cmocka_unit_test_setup(test_no_vmx_svm, reset),
		cmocka_unit_test_setup(test_guest_faults, reset),
		cmocka_unit_test_setup(test_guest_shutdown, reset),
		cmocka_unit_test_setup(test_guest_wrong_value, reset),
		cmocka_unit_test_setup(test_guest_times_out, reset),
		cmocka_unit_test_setup(test_hardware_like_success, reset),
	};
	struct sigaction sa;

	/* A handler of the caller's own on the probe's signal, to see it restored. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGRTMIN + 2, &sa, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
