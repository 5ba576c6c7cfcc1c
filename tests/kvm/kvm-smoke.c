// SPDX-License-Identifier: MIT
/*
 * The KVM smoke test, on raw ioctls and nothing of ours: create a VM, load a
 * few instructions of real-mode code that write bytes to an I/O port and
 * halt, run the vCPU, and check the exact bytes and the HLT exit.
 */
#include "tests/kvm/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_MEM	0x10000
#define CODE_ADDR	0x1000
#define PORT		0x10

/*
 * Real mode, CS=0 IP=0x1000:
 *   mov al, 's'; out 0x10, al    (b0 73 e6 10)
 *   mov al, 'b'; out 0x10, al
 *   mov al, 'x'; out 0x10, al
 *   mov al, '!'; out 0x10, al
 *   hlt                          (f4)
 */
static const uint8_t code[] = {
	0xb0, 's', 0xe6, PORT,
	0xb0, 'b', 0xe6, PORT,
	0xb0, 'x', 0xe6, PORT,
	0xb0, '!', 0xe6, PORT,
	0xf4,
};
static const char expect[] = "sbx!";

int main(void)
{
	struct kvm_userspace_memory_region region;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	char got[64] = "";
	size_t ngot = 0;
	int kvm, vm, vcpu, api, runsz, i;
	uint8_t *mem;

	tap_diag("%s", getenv("SBX_NESTED") ? "running inside the nested harness (TCG guest with kvm_amd)"
					     : "running on this machine's /dev/kvm");
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (!tap_ok(kvm >= 0, "open /dev/kvm"))
		tap_bail("/dev/kvm: %s", strerror(errno));
	api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	tap_ok(api == KVM_API_VERSION, "KVM API version is %d (got %d)", KVM_API_VERSION, api);

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (!tap_ok(vm >= 0, "KVM_CREATE_VM"))
		tap_bail("KVM_CREATE_VM: %s", strerror(errno));

	mem = mmap(NULL, GUEST_MEM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	memcpy(mem + CODE_ADDR, code, sizeof(code));
	region = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_MEM,
		.userspace_addr = (uintptr_t)mem,
	};
	tap_ok(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) == 0, "KVM_SET_USER_MEMORY_REGION");

	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (!tap_ok(vcpu >= 0, "KVM_CREATE_VCPU"))
		tap_bail("KVM_CREATE_VCPU: %s", strerror(errno));
	runsz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, runsz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (runsz <= 0 || run == MAP_FAILED)
		tap_bail("cannot map kvm_run");

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs))
		tap_bail("KVM_GET_SREGS: %s", strerror(errno));
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs))
		tap_bail("KVM_SET_SREGS: %s", strerror(errno));
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_ADDR;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs))
		tap_bail("KVM_SET_REGS: %s", strerror(errno));

	for (i = 0; i < 100; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			tap_bail("KVM_RUN: %s", strerror(errno));
		}
		if (run->exit_reason == KVM_EXIT_IO) {
			uint8_t *data = (uint8_t *)run + run->io.data_offset;

			if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != PORT ||
			    run->io.size != 1 || run->io.count != 1) {
				tap_ok(0, "unexpected I/O exit: dir %d port %#x size %d count %u",
				       run->io.direction, run->io.port, run->io.size, run->io.count);
				break;
			}
			if (ngot < sizeof(got) - 1)
				got[ngot++] = (char)data[0];
			continue;
		}
		break;
	}
	tap_ok(ngot == strlen(expect) && !memcmp(got, expect, ngot),
	       "guest wrote \"%s\" to port %#x (got \"%.*s\")", expect, PORT, (int)ngot, got);
	tap_ok(run->exit_reason == KVM_EXIT_HLT, "vCPU exits with KVM_EXIT_HLT (exit reason %u)",
	       run->exit_reason);
	if (ioctl(vcpu, KVM_GET_REGS, &regs))
		tap_bail("KVM_GET_REGS: %s", strerror(errno));
	tap_ok(regs.rip == CODE_ADDR + sizeof(code), "RIP stops after the HLT (%#llx, want %#llx)",
	       (unsigned long long)regs.rip, (unsigned long long)(CODE_ADDR + sizeof(code)));
	close(vcpu);
	close(vm);
	close(kvm);
	return tap_done();
}
