/* SPDX-License-Identifier: MIT */
/*
 * The machine's private state, shared by vmm/vm.c (set-up, devices, the
 * event thread, stopping), vmm/vm-run.c (running and stopping) and
 * vmm/vcpu.c (vCPU set-up, the KVM_RUN loop, PIO/MMIO dispatch).  Nothing
 * outside vmm/ includes it.
 */
#ifndef SBX_VMM_VM_INT_H
#define SBX_VMM_VM_INT_H

#include "vmm/acpi.h"
#include "vmm/boot.h"
#include "vmm/vm.h"
#include "vmm/vmgenid.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#define MAX_DEVICES	32
#define SIG_KICK	(SIGRTMIN + 1)
#define MAX_KERNEL_SIZE	(512ULL << 20)

struct vmstate;

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
};

struct watch {
	int fd;
	bool dead;
	void (*ready)(void *opaque);
	void *opaque;
	struct watch *next;
};

struct dev_slot {
	const char *name;
	bool pio;
	uint64_t base, size;
	void *opaque;
	void (*mmio_read)(void *, uint64_t, uint8_t *, unsigned);
	void (*mmio_write)(void *, uint64_t, const uint8_t *, unsigned);
	void (*pio_read)(void *, uint16_t, uint8_t *, unsigned);
	void (*pio_write)(void *, uint16_t, const uint8_t *, unsigned);
	void (*stop)(void *);
	int (*save)(void *, struct vs_buf *);
	int (*restore)(void *, struct vs_cur *);
	pthread_mutex_t lock;
};

/* A vm_save handed to vm_run's thread (vmm/vm-state.c). */
struct save_req {
	bool reset;			/* vm_reset, not vm_save */
	int mem_fd, state_fd;
	unsigned flags;			/* VM_SAVE_*, VM_CKPT_FULL, SAVE_CHECKPOINT */
	const struct vm_disk_switch *sw;	/* a checkpoint's disk switches */
	unsigned nsw;
	struct vm_save_info *info;
	bool done;
	int ret;
	char error[512];
};

struct vm {
	struct vm_config cfg;
	int kvm_fd, vm_fd;
	size_t run_size;
	struct guest_mem mem;
	uint8_t mem_id[16];		/* the last memory file of the VM's chain (snapshot/memfile.h) */
	unsigned mem_chain;		/* files in that chain: 0 for a booted VM never saved */
	uint8_t restore_mem_id[16];	/* the restored snapshot's, for in-place resets */
	bool disk_switched;		/* a checkpoint switched a disk: no in-place reset */
	struct vmstate *snap;		/* the restored state, for in-place resets */
	struct kvm_cpuid2 *cpuid;
	struct vcpu vcpus[VM_MAX_CPUS];
	unsigned nvcpus;
	struct boot_cpu boot;

	int epoll_fd, stop_fd;
	pthread_t event_thread;
	bool event_started;
	pthread_mutex_t watch_lock;
	struct watch *watches;

	int irqfd[VM_MAX_GSI + 1];
	struct dev_slot devs[MAX_DEVICES];
	unsigned ndevs;
	struct vm_dev_env *envs[MAX_DEVICES];
	unsigned nenvs;
	struct acpi_config acpi;
	struct vmgenid vmgenid;

	/* Pausing for snapshots (vmm/vm-run.c): vCPUs and the event thread park. */
	atomic_bool pause_req;
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	unsigned parked;
	int pause_fd;			/* eventfd: the event thread parks */
	bool running;			/* vm_run is waiting for the end */
	struct save_req *save_req;	/* under end_lock */

	atomic_bool stopping;
	pthread_mutex_t end_lock;
	pthread_cond_t end_cond;
	bool ended;
	struct vm_result result;
};

/* vmm/vm-run.c */
void vm_stop_threads(struct vm *vm);
/* Park every running vCPU and the event thread (deadline: 5 s); resume them. */
int vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
/* A vCPU thread whose KVM_RUN returned EINTR with a pause asked: wait until resumed. */
void vm_park(struct vm *vm, struct vcpu *c);

/* vmm/vm-state.c */
#define SAVE_CHECKPOINT	0x100u	/* vm_checkpoint: a diff when the VM has a chain */
int vm_save_now(struct vm *vm, const struct save_req *req);
int vm_reset_now(struct vm *vm, struct vm_save_info *info);
/* Load a snapshot into a machine vm_create made (vCPUs created, nothing running). */
int vm_restore_state(struct vm *vm);
/* Map the memory files of cfg.restore_mem_fds over guest RAM. */
int vm_restore_memory(struct vm *vm);
/* cfg.thread_hook for this thread; on failure ends the VM and returns -1. */
int vm_thread_hook(struct vm *vm, enum vm_thread_kind kind, unsigned index);

/* vmm/vcpu.c */
int vcpu_create(struct vm *vm, unsigned id);
void *vcpu_thread(void *arg);
void vcpu_kick_handler(int sig);

#endif
