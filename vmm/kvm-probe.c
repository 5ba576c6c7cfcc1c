// SPDX-License-Identifier: MIT
/* The KVM usability check; see vmm/kvm-probe.h. */
#include "vmm/kvm-probe.h"
#include "vmm/guest-mem.h"
#include "vmm/kvm-exit.h"
#include "vmm/kvm-sys.h"
#include "util/error.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PVM_WHY		"PVM (kvm_pvm), which runs only PVM-enabled guest kernels"
#define PVM_SIGNATURE	0x4d5650u	/* "PVM" in ebx of leaf 0x40000002 */
#define PVM_SIGNATURE_2	0x6d7670u	/* as some texts spell it */

/*
 * The test guest's memory: 64 KiB, identity-mapped by one 2 MiB page.
 */
#define PROBE_MEM	0x10000ULL
#define PROBE_IDT	0x1000ULL
#define PROBE_GDT	0x2000ULL
#define PROBE_PML4	0x3000ULL	/* then the PDPT at 0x4000, the PD at 0x5000 */
#define PROBE_CODE	0x6000ULL
#define PROBE_STACK	0x8000ULL
#define PROBE_CS	0x08
#define PROBE_DS	0x10
#define PROBE_TSS	0x18
#define PROBE_DEADLINE_MS 10000

#define MSR_KERNEL_GS_BASE 0xc0000102u

/*
 * The guest, 64-bit code at PROBE_CODE (assembled by hand; the listing is
 * the source):
 *
 *   00 31 c0            xor eax, eax
 *   02 0f a2            cpuid                    ; leaf 0
 *   04 89 d8            mov eax, ebx
 *   06 66 ba 11 00      mov dx, 0x11
 *   0a ef               out dx, eax              ; 1: leaf 0's ebx
 *   0b b9 02 01 00 c0   mov ecx, 0xc0000102      ; MSR_KERNEL_GS_BASE
 *   10 b8 34 12 5b 5b   mov eax, 0x5b5b1234
 *   15 ba cd ab 00 00   mov edx, 0xabcd
 *   1a 0f 30            wrmsr
 *   1c 31 c0            xor eax, eax
 *   1e 31 d2            xor edx, edx
 *   20 0f 32            rdmsr
 *   22 89 d3            mov ebx, edx
 *   24 66 ba 11 00      mov dx, 0x11
 *   28 ef               out dx, eax              ; 2: the MSR's low half
 *   29 89 d8            mov eax, ebx
 *   2b ef               out dx, eax              ; 3: its high half
 *   2c cc               int3                     ; through IDT vector 3
 *   2d 66 ba 10 00      mov dx, 0x10
 *   31 b0 aa            mov al, 0xaa
 *   33 ee               out dx, al               ; 5: back from iretq
 *   34 f4               hlt                      ; 6
 *   35 eb fd            jmp 0x34
 * handler (vector 3):
 *   37 52 50            push rdx; push rax
 *   39 66 ba 12 00      mov dx, 0x12
 *   3d b0 03            mov al, 3
 *   3f ee               out dx, al               ; 4: in the handler
 *   40 58 5a            pop rax; pop rdx
 *   42 48 cf            iretq
 */
static const uint8_t probe_code[] = {
	0x31, 0xc0, 0x0f, 0xa2, 0x89, 0xd8, 0x66, 0xba, 0x11, 0x00, 0xef,
	0xb9, 0x02, 0x01, 0x00, 0xc0, 0xb8, 0x34, 0x12, 0x5b, 0x5b,
	0xba, 0xcd, 0xab, 0x00, 0x00, 0x0f, 0x30, 0x31, 0xc0, 0x31, 0xd2,
	0x0f, 0x32, 0x89, 0xd3, 0x66, 0xba, 0x11, 0x00, 0xef, 0x89, 0xd8, 0xef,
	0xcc, 0x66, 0xba, 0x10, 0x00, 0xb0, 0xaa, 0xee, 0xf4, 0xeb, 0xfd,
	0x52, 0x50, 0x66, 0xba, 0x12, 0x00, 0xb0, 0x03, 0xee, 0x58, 0x5a, 0x48, 0xcf,
};
#define PROBE_HANDLER_OFF 0x37

struct probe_step {
	uint16_t port;
	uint8_t size;
	uint32_t value;
	const char *what;
};

static const char *const state_words[] = { "works", "is missing", "cannot run a stock kernel" };

/* The deadline's signal: its handler stops KVM_RUN (immediate_exit closes the race). */
static __thread struct kvm_run *volatile probe_run;
static __thread volatile sig_atomic_t probe_expired;

static void probe_alarm(int sig)
{
	(void)sig;
	probe_expired = 1;
	if (probe_run)
		probe_run->immediate_exit = 1;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int unusable(struct vmm_kvm_info *info, const char *fmt, ...) SBX_PRINTF(2, 3);
static int unusable(struct vmm_kvm_info *info, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(info->why, sizeof(info->why), fmt, ap);
	va_end(ap);
	info->state = VMM_KVM_UNUSABLE;
	return sbx_error_set(SBX_ENOKVM, "%s", vmm_kvm_summary(info, buf, sizeof(buf)));
}

const char *vmm_kvm_summary(const struct vmm_kvm_info *info, char *buf, size_t size)
{
	const char *dev = info->device[0] ? info->device : "/dev/kvm";

	if (info->state == VMM_KVM_UNUSABLE && info->pvm)
		snprintf(buf, size, "%s is %s", dev, info->why);
	else if (info->state == VMM_KVM_WORKS)
		snprintf(buf, size, "%s works", dev);
	else
		snprintf(buf, size, "%s %s: %s", dev, state_words[info->state], info->why);
	return buf;
}

struct kvm_cpuid2 *vmm_kvm_supported_cpuid(int kvm)
{
	unsigned nent = 128;

	for (;;) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = nent;
		if (kvm_ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG || nent >= 4096)
			return NULL;
		nent *= 2;
	}
}

static const struct kvm_cpuid_entry2 *cpuid_leaf(const struct kvm_cpuid2 *c, uint32_t fn)
{
	uint32_t i;

	for (i = 0; c && i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == 0)
			return &c->entries[i];
	return NULL;
}

int vmm_kvm_check_fd(int kvm, const char *device, struct vmm_kvm_info *info)
{
	static const struct {
		int cap;
		const char *what;
	} caps[] = {
		{ KVM_CAP_USER_MEMORY, "user memory regions (KVM_CAP_USER_MEMORY)" },
		{ KVM_CAP_IRQCHIP, "an in-kernel irqchip (KVM_CAP_IRQCHIP)" },
		{ KVM_CAP_PIT2, "an in-kernel PIT (KVM_CAP_PIT2)" },
		{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
		{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
		{ KVM_CAP_EXT_CPUID, "KVM_GET_SUPPORTED_CPUID (KVM_CAP_EXT_CPUID)" },
		{ KVM_CAP_IRQFD, "interrupts from eventfds (KVM_CAP_IRQFD)" },
		{ KVM_CAP_IOEVENTFD, "eventfds for guest writes (KVM_CAP_IOEVENTFD)" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	};
	const struct kvm_cpuid_entry2 *e;
	struct kvm_cpuid2 *cpuid;
	size_t i;

	if (device && device != info->device)
		snprintf(info->device, sizeof(info->device), "%s", device);
	info->api_version = kvm_ioctl(kvm, KVM_GET_API_VERSION, NULL);
	if (info->api_version != KVM_API_VERSION)
		return unusable(info, "it speaks KVM API %d, we need %d", info->api_version,
				KVM_API_VERSION);
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (kvm_ioctl(kvm, KVM_CHECK_EXTENSION, (void *)(uintptr_t)caps[i].cap) <= 0)
			return unusable(info, "it lacks %s", caps[i].what);
	info->max_vcpus = kvm_ioctl(kvm, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_MAX_VCPUS);
	if (info->max_vcpus <= 0)
		info->max_vcpus = kvm_ioctl(kvm, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_NR_VCPUS);

	/* PVM, by its module, its CPUID signature, or the CPU it runs on. */
	cpuid = vmm_kvm_supported_cpuid(kvm);
	e = cpuid_leaf(cpuid, 0x40000002);
	info->pvm = (e && (e->ebx == PVM_SIGNATURE || e->ebx == PVM_SIGNATURE_2)) ||
		    (kvm_host_module("kvm_pvm") && !kvm_host_module("kvm_intel") &&
		     !kvm_host_module("kvm_amd"));
	free(cpuid);
	if (info->pvm)
		return unusable(info, PVM_WHY);
	if (!kvm_host_cpu_virt())
		return unusable(info, "the CPU has neither VMX nor SVM, so it is not hardware KVM "
				      "(a software KVM such as PVM runs only kernels built for it)");
	info->state = VMM_KVM_WORKS;
	info->why[0] = 0;
	return 0;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* IDT vector 3, GDT (null, code, data, TSS), page tables, code. */
static void probe_layout(uint8_t *mem)
{
	uint64_t h = PROBE_CODE + PROBE_HANDLER_OFF;
	uint8_t *gate = mem + PROBE_IDT + 3 * 16;

	memcpy(mem + PROBE_CODE, probe_code, sizeof(probe_code));
	/* 64-bit interrupt gate: offset, selector, type 0xe, present, DPL 0. */
	gate[0] = (uint8_t)h;
	gate[1] = (uint8_t)(h >> 8);
	gate[2] = PROBE_CS;
	gate[3] = 0;
	gate[4] = 0;
	gate[5] = 0x8e;
	gate[6] = (uint8_t)(h >> 16);
	gate[7] = (uint8_t)(h >> 24);
	put_le64(mem + PROBE_GDT + PROBE_CS, 0x00af9b000000ffffULL);	/* 64-bit code */
	put_le64(mem + PROBE_GDT + PROBE_DS, 0x00cf93000000ffffULL);	/* flat data */
	put_le64(mem + PROBE_GDT + PROBE_TSS, 0x00008b0000000067ULL);	/* busy TSS */
	put_le64(mem + PROBE_PML4, (PROBE_PML4 + 0x1000) | 3);
	put_le64(mem + PROBE_PML4 + 0x1000, (PROBE_PML4 + 0x2000) | 3);
	put_le64(mem + PROBE_PML4 + 0x2000, 0x83);			/* 2 MiB page at 0 */
}

static void segment(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

static int probe_regs(int vcpu, struct vmm_kvm_info *info)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (kvm_ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return unusable(info, "KVM_GET_SREGS failed: %s", strerror(errno));
	segment(&sregs.cs, PROBE_CS, 0xb, true);
	segment(&sregs.ds, PROBE_DS, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = PROBE_TSS;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 0xb;
	sregs.tr.present = 1;
	sregs.gdt.base = PROBE_GDT;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.idt.base = PROBE_IDT;
	sregs.idt.limit = 4 * 16 - 1;
	sregs.cr0 = 0x80000031;		/* PG, NE, ET, PE */
	sregs.cr3 = PROBE_PML4;
	sregs.cr4 = 0x20;		/* PAE */
	sregs.efer = 0x500;		/* LMA, LME */
	if (kvm_ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return unusable(info, "KVM_SET_SREGS (long mode) failed: %s", strerror(errno));
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = PROBE_CODE;
	regs.rsp = PROBE_STACK;
	if (kvm_ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return unusable(info, "KVM_SET_REGS failed: %s", strerror(errno));
	return 0;
}

/* Arm a per-thread timer that fires at the deadline, then every 10 ms. */
static int arm_deadline(timer_t *t, struct sigaction *old, unsigned ms)
{
	struct sigevent sev;
	struct sigaction sa;
	struct itimerspec its;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = probe_alarm;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGRTMIN + 2, &sa, old) < 0)
		return -1;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGRTMIN + 2;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, t) < 0) {
		sigaction(SIGRTMIN + 2, old, NULL);
		return -1;
	}
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	its.it_interval.tv_sec = 0;
	its.it_interval.tv_nsec = 10 * 1000000;
	timer_settime(*t, 0, &its, NULL);
	return 0;
}

static unsigned probe_deadline_ms(void)
{
	const char *s = getenv("SBX_KVM_PROBE_TIMEOUT_MS");
	long v = s ? strtol(s, NULL, 10) : 0;

	return v > 0 && v < 600000 ? (unsigned)v : PROBE_DEADLINE_MS;
}

/* KVM_RUN until the guest halts, checking each exit against `steps`. */
static int probe_loop(int vcpu, struct kvm_run *run, size_t run_size, const struct guest_mem *gm,
		      const struct probe_step *steps, size_t nsteps, struct vmm_kvm_info *info)
{
	char what[192];
	size_t at = 0;

	for (;;) {
		if (kvm_ioctl(vcpu, KVM_RUN, NULL) < 0) {
			if ((errno == EINTR || errno == EAGAIN) && !probe_expired)
				continue;
			if (probe_expired)
				return unusable(info, "a 64-bit test guest did not finish within %u ms (%s next)",
						probe_deadline_ms(), at < nsteps ? steps[at].what : "hlt");
			return unusable(info, "KVM_RUN of a 64-bit test guest failed: %s", strerror(errno));
		}
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
		    run->io.count == 1 && at < nsteps && run->io.port == steps[at].port &&
		    run->io.size == steps[at].size && run->io.data_offset <= run_size - 4) {
			uint32_t v = 0;

			memcpy(&v, (uint8_t *)run + run->io.data_offset, run->io.size);
			if (v != steps[at].value)
				return unusable(info, "a 64-bit test guest's %s gave 0x%x, not 0x%x",
						steps[at].what, v, steps[at].value);
			at++;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_HLT && at == nsteps)
			return 0;
		kvm_exit_describe(what, sizeof(what), vcpu, run, gm);
		return unusable(info, "a 64-bit test guest stopped with %s, expecting %s", what,
				at < nsteps ? steps[at].what : "hlt");
	}
}

static int run_test_guest(int kvm, struct vmm_kvm_info *info)
{
	struct probe_step steps[] = {
		{ 0x11, 4, 0, "cpuid" },
		{ 0x11, 4, 0x5b5b1234, "wrmsr/rdmsr (low half)" },
		{ 0x11, 4, 0xabcd, "wrmsr/rdmsr (high half)" },
		{ 0x12, 1, 3, "int3 through the IDT" },
		{ 0x10, 1, 0xaa, "port write after iretq" },
	};
	struct kvm_userspace_memory_region region;
	const struct kvm_cpuid_entry2 *leaf0;
	struct kvm_cpuid2 *cpuid = NULL;
	struct kvm_run *run = NULL;
	struct sigaction old;
	struct guest_mem gm;
	int vm = -1, vcpu = -1, ret;
	uint64_t t0 = mono_us();
	bool armed = false;
	timer_t timer;
	size_t run_size = 0;
	uint8_t *mem;

	mem = mmap(NULL, PROBE_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return sbx_error_errno(SBX_ENOMEM, "cannot map the KVM test guest's memory");
	gm = (struct guest_mem){ .host = mem, .size = PROBE_MEM, .low_size = PROBE_MEM };
	probe_layout(mem);
	vm = kvm_ioctl(kvm, KVM_CREATE_VM, NULL);
	if (vm < 0) {
		ret = unusable(info, "it cannot create a VM: %s", strerror(errno));
		goto out;
	}
	region = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = PROBE_MEM,
		.userspace_addr = (uintptr_t)mem,
	};
	if (kvm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		ret = unusable(info, "KVM_SET_USER_MEMORY_REGION failed: %s", strerror(errno));
		goto out;
	}
	vcpu = kvm_ioctl(vm, KVM_CREATE_VCPU, NULL);
	if (vcpu < 0) {
		ret = unusable(info, "it cannot create a vCPU: %s", strerror(errno));
		goto out;
	}
	ret = kvm_ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, NULL);
	run_size = ret > 0 ? (size_t)ret : 0;
	run = run_size >= sizeof(*run) ? kvm_map_run(vcpu, run_size) : NULL;
	if (!run) {
		ret = unusable(info, "cannot map the vCPU's kvm_run: %s", strerror(errno));
		goto out;
	}
	cpuid = vmm_kvm_supported_cpuid(kvm);
	leaf0 = cpuid_leaf(cpuid, 0);
	if (!leaf0 || kvm_ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0) {
		ret = unusable(info, "it gives no CPUID for a vCPU: %s", strerror(errno));
		goto out;
	}
	steps[0].value = leaf0->ebx;
	ret = probe_regs(vcpu, info);
	if (ret)
		goto out;
	probe_expired = 0;
	probe_run = run;
	if (arm_deadline(&timer, &old, probe_deadline_ms()) < 0) {
		ret = sbx_error_errno(SBX_ERROR, "cannot arm the KVM test guest's deadline");
		goto out;
	}
	armed = true;
	ret = probe_loop(vcpu, run, run_size, &gm, steps, sizeof(steps) / sizeof(steps[0]), info);
	if (!ret) {
		info->guest_ran = true;
		info->guest_us = mono_us() - t0;
	}
out:
	if (armed) {
		timer_delete(timer);
		sigaction(SIGRTMIN + 2, &old, NULL);
	}
	probe_run = NULL;
	free(cpuid);
	kvm_unmap_run(run, run_size);
	if (vcpu >= 0)
		close(vcpu);
	if (vm >= 0)
		close(vm);
	munmap(mem, PROBE_MEM);
	return ret;
}

int vmm_kvm_probe(struct vmm_kvm_info *info, unsigned flags)
{
	const char *dev = NULL;
	char buf[512];
	int kvm, ret;

	memset(info, 0, sizeof(*info));
	kvm = kvm_open(&dev);
	snprintf(info->device, sizeof(info->device), "%s", dev ? dev : "/dev/kvm");
	if (kvm < 0) {
		info->state = VMM_KVM_MISSING;
		snprintf(info->why, sizeof(info->why), "cannot open it: %s", strerror(errno));
		return sbx_error_set(SBX_ENOKVM, "%s", vmm_kvm_summary(info, buf, sizeof(buf)));
	}
	ret = vmm_kvm_check_fd(kvm, NULL, info);
	if (!ret) {
		ret = run_test_guest(kvm, info);
	} else if (info->pvm && (flags & VMM_KVM_PROBE_GUEST_ALWAYS)) {
		struct vmm_kvm_info g = *info;

		/* Only to show what the guest does there: the verdict stays PVM. */
		if (run_test_guest(kvm, &g) == 0) {
			info->guest_ran = true;
			info->guest_us = g.guest_us;
		} else {
			snprintf(info->why + strlen(info->why), sizeof(info->why) - strlen(info->why),
				 "; %s", g.why);
		}
		ret = sbx_error_set(SBX_ENOKVM, "%s", vmm_kvm_summary(info, buf, sizeof(buf)));
	}
	close(kvm);
	return ret;
}
