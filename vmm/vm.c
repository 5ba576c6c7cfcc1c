// SPDX-License-Identifier: MIT
/*
 * The machine (see vmm/vm.h): KVM set-up, guest RAM, the device table and
 * MMIO/PIO dispatch; running and stopping the threads is vmm/vm-run.c.
 *
 * Threads: the caller's thread creates everything, runs vm_run() and waits
 * for the end (or the timeout); one thread per vCPU loops on KVM_RUN and
 * dispatches PIO/MMIO exits to devices (serialised per device); one event
 * thread waits in epoll for device fds (ioeventfds, console input) and
 * calls the devices' callbacks.  Stopping: the first vm_request_end() wins,
 * wakes the caller, which sets immediate_exit on every vCPU and kicks it
 * with a signal, joins the vCPU threads, then the event thread, then stops
 * the devices in reverse order of creation.
 */
#include "vmm/vm-int.h"
#include "snapshot/vmstate.h"
#include "vmm/kvm-probe.h"
#include "vmm/kvm-sys.h"
#include "vmm/platform.h"
#include "vmm/virtio.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- ending --------------------------------------------------------------- */

void vm_request_end(struct vm *vm, enum vm_end end, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->end_lock);
	if (!vm->ended) {
		vm->ended = true;
		vm->result.end = end;
		va_start(ap, fmt);
		vsnprintf(vm->result.message, sizeof(vm->result.message), fmt, ap);
		va_end(ap);
		pthread_cond_broadcast(&vm->end_cond);
	}
	pthread_mutex_unlock(&vm->end_lock);
}

void vm_set_exit_status(struct vm *vm, uint8_t status)
{
	pthread_mutex_lock(&vm->end_lock);
	vm->result.status = status;
	vm->result.status_set = true;
	pthread_mutex_unlock(&vm->end_lock);
}

/* ---- the environment devices get ------------------------------------------ */

static void env_irq(void *opaque, unsigned gsi)
{
	struct vm *vm = opaque;
	uint64_t one = 1;

	if (gsi > VM_MAX_GSI || vm->irqfd[gsi] < 0)
		return;
	while (write(vm->irqfd[gsi], &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static int env_add_fd(void *opaque, int fd, void (*ready)(void *), void *arg)
{
	struct vm *vm = opaque;
	struct epoll_event ev = { .events = EPOLLIN };
	struct watch *w = calloc(1, sizeof(*w));

	if (!w)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	w->fd = fd;
	w->ready = ready;
	w->opaque = arg;
	ev.data.ptr = w;
	pthread_mutex_lock(&vm->watch_lock);
	if (epoll_ctl(vm->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		pthread_mutex_unlock(&vm->watch_lock);
		free(w);
		return sbx_error_errno(SBX_ERROR, "cannot watch fd %d", fd);
	}
	w->next = vm->watches;
	vm->watches = w;
	pthread_mutex_unlock(&vm->watch_lock);
	return 0;
}

static void env_del_fd(void *opaque, int fd)
{
	struct vm *vm = opaque;
	struct watch *w;

	/* The record stays until vm_free: the event thread may hold it right now. */
	pthread_mutex_lock(&vm->watch_lock);
	for (w = vm->watches; w; w = w->next)
		if (w->fd == fd && !w->dead) {
			w->dead = true;
			epoll_ctl(vm->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
			break;
		}
	pthread_mutex_unlock(&vm->watch_lock);
}

static int env_set_fd_events(void *opaque, int fd, unsigned events)
{
	struct vm *vm = opaque;
	struct epoll_event ev = { 0 };
	struct watch *w;
	int ret = sbx_error_set(SBX_ENOTFOUND, "fd %d is not watched", fd);

	if (events & VM_FD_READABLE)
		ev.events |= EPOLLIN;
	if (events & VM_FD_WRITABLE)
		ev.events |= EPOLLOUT;
	pthread_mutex_lock(&vm->watch_lock);
	for (w = vm->watches; w; w = w->next)
		if (w->fd == fd && !w->dead) {
			ev.data.ptr = w;
			ret = 0;
			if (epoll_ctl(vm->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0)
				ret = sbx_error_errno(SBX_ERROR, "cannot watch fd %d", fd);
			break;
		}
	pthread_mutex_unlock(&vm->watch_lock);
	return ret;
}

static int ioeventfd(struct vm *vm, uint64_t addr, unsigned len, uint64_t datamatch, int fd,
		     bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch, .addr = addr, .len = len, .fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	if (len != 1 && len != 2 && len != 4 && len != 8)
		return sbx_error_set(SBX_EINVAL, "ioeventfd of %u bytes", len);
	if (kvm_ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return sbx_error_errno(SBX_ERROR, "KVM_IOEVENTFD at 0x%llx", (unsigned long long)addr);
	return 0;
}

static int env_add_ioeventfd(void *opaque, uint64_t addr, unsigned len, uint64_t datamatch, int fd)
{
	return ioeventfd(opaque, addr, len, datamatch, fd, true);
}

static void env_del_ioeventfd(void *opaque, uint64_t addr, unsigned len, uint64_t datamatch, int fd)
{
	ioeventfd(opaque, addr, len, datamatch, fd, false);
}

/* An interrupt line: an eventfd bound to `gsi` with KVM_IRQFD. */
static int assign_irqfd(struct vm *vm, unsigned gsi)
{
	struct kvm_irqfd irqfd = { .gsi = gsi };
	int fd;

	if (gsi > VM_MAX_GSI)
		return sbx_error_set(SBX_ELIMIT, "out of interrupt lines (GSI %u)", gsi);
	if (vm->irqfd[gsi] >= 0)
		return 0;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return sbx_error_errno(SBX_ERROR, "eventfd");
	irqfd.fd = (uint32_t)fd;
	if (kvm_ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		close(fd);
		return sbx_error_errno(SBX_ENOKVM, "KVM_IRQFD for GSI %u", gsi);
	}
	vm->irqfd[gsi] = fd;
	return 0;
}

static struct vm_dev_env *new_env(struct vm *vm, uint64_t mmio_base, unsigned gsi)
{
	struct vm_dev_env *env;

	if (vm->nenvs == MAX_DEVICES) {
		sbx_error_set(SBX_ELIMIT, "too many devices");
		return NULL;
	}
	env = calloc(1, sizeof(*env));
	if (!env) {
		sbx_error_set(SBX_ENOMEM, "out of memory");
		return NULL;
	}
	env->mem = &vm->mem;
	env->vm = vm;
	env->mmio_base = mmio_base;
	env->gsi = gsi;
	env->irq = env_irq;
	env->add_fd = env_add_fd;
	env->del_fd = env_del_fd;
	env->set_fd_events = env_set_fd_events;
	env->add_ioeventfd = env_add_ioeventfd;
	env->del_ioeventfd = env_del_ioeventfd;
	vm->envs[vm->nenvs++] = env;
	return env;
}

/* ---- the device table ----------------------------------------------------- */

static struct dev_slot *new_slot(struct vm *vm, const char *name)
{
	struct dev_slot *s;

	if (vm->ndevs == MAX_DEVICES) {
		sbx_error_set(SBX_ELIMIT, "too many devices");
		return NULL;
	}
	s = &vm->devs[vm->ndevs++];
	s->name = name;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

static int add_pio(struct vm *vm, struct pio_device *d)
{
	struct dev_slot *s = new_slot(vm, d->name);

	if (!s) {
		if (d->stop)
			d->stop(d->opaque);
		return SBX_ELIMIT;
	}
	s->pio = true;
	s->base = d->base;
	s->size = d->size;
	s->opaque = d->opaque;
	s->pio_read = d->read;
	s->pio_write = d->write;
	s->stop = d->stop;
	s->save = d->save;
	s->restore = d->restore;
	return 0;
}

static int add_mmio(struct vm *vm, struct mmio_device *d, uint64_t base)
{
	struct dev_slot *s = new_slot(vm, d->name);

	if (!s) {
		if (d->stop)
			d->stop(d->opaque);
		return SBX_ELIMIT;
	}
	s->base = base;
	s->size = d->size;
	s->opaque = d->opaque;
	s->mmio_read = d->read;
	s->mmio_write = d->write;
	s->stop = d->stop;
	s->save = d->save;
	s->restore = d->restore;
	return 0;
}

static int add_serial(struct vm *vm)
{
	struct vm_dev_env *env = new_env(vm, 0, VM_SERIAL_GSI);
	struct pio_device *d;
	int ret;

	if (!env)
		return SBX_ENOMEM;
	ret = assign_irqfd(vm, VM_SERIAL_GSI);
	if (!ret)
		ret = serial_create(&d, env, vm->cfg.serial_fd);
	if (!ret)
		ret = add_pio(vm, d);
	vm->acpi.serial_port = VM_SERIAL_PORT;
	vm->acpi.serial_gsi = VM_SERIAL_GSI;
	return ret;
}

static int add_i8042(struct vm *vm)
{
	struct pio_device *data, *cmd;
	int ret = i8042_create(&data, &cmd, vm);

	if (!ret)
		ret = add_pio(vm, data);
	if (!ret)
		ret = add_pio(vm, cmd);
	return ret;
}

static int add_power(struct vm *vm)
{
	struct pio_device *sleep;
	struct mmio_device *exit_reg;
	int ret = sleep_regs_create(&sleep, vm);

	if (!ret)
		ret = add_pio(vm, sleep);
	if (!ret)
		ret = exit_reg_create(&exit_reg, vm);
	if (!ret)
		ret = add_mmio(vm, exit_reg, VM_EXIT_REG_BASE);
	vm->acpi.sleep_control_port = VM_SLEEP_CONTROL_PORT;
	vm->acpi.sleep_status_port = VM_SLEEP_STATUS_PORT;
	vm->acpi.s5_sleep_type = VM_SLEEP_TYPE_S5;
	vm->acpi.reset_port = VM_RESET_PORT;
	vm->acpi.reset_value = VM_RESET_VALUE;
	return ret;
}

/* The next virtio-mmio slot: its window, its GSI, its environment. */
static struct vm_dev_env *virtio_slot(struct vm *vm)
{
	unsigned i = vm->acpi.nvirtio;
	unsigned gsi = VM_VIRTIO_FIRST_GSI + i;

	if (i == ACPI_MAX_VIRTIO || gsi >= VM_VMGENID_GSI) {
		sbx_error_set(SBX_ELIMIT, "too many virtio devices");
		return NULL;
	}
	if (assign_irqfd(vm, gsi))
		return NULL;
	return new_env(vm, VM_VIRTIO_BASE + i * VM_VIRTIO_SLOT, gsi);
}

static int plug_virtio(struct vm *vm, struct vm_dev_env *env, struct mmio_device *d)
{
	struct acpi_virtio *v = &vm->acpi.virtio[vm->acpi.nvirtio];

	if (d->size > VM_VIRTIO_SLOT) {
		if (d->stop)
			d->stop(d->opaque);
		return sbx_error_set(SBX_EINVAL, "%s: a %llu-byte window is larger than a slot",
				     d->name, (unsigned long long)d->size);
	}
	v->base = env->mmio_base;
	v->size = d->size;
	v->gsi = env->gsi;
	vm->acpi.nvirtio++;
	return add_mmio(vm, d, env->mmio_base);
}

static int add_disks(struct vm *vm)
{
	struct mmio_device *d;
	struct vm_dev_env *env;
	unsigned i;
	int ret;

	for (i = 0; i < vm->cfg.ndisks; i++) {
		env = virtio_slot(vm);
		if (!env)
			return SBX_ELIMIT;
		ret = virtio_blk_create(&d, env, vm->cfg.disks[i]);
		if (ret)
			return sbx_error_prefix(ret, "disk %u", i);
		ret = plug_virtio(vm, env, d);
		if (ret)
			return ret;
	}
	return 0;
}

static int add_console(struct vm *vm)
{
	struct mmio_device *d;
	struct vm_dev_env *env;
	int ret;

	if (!vm->cfg.console)
		return 0;
	env = virtio_slot(vm);
	if (!env)
		return SBX_ELIMIT;
	ret = vm->cfg.console_port ?
		virtio_console_create_port(&d, env, vm->cfg.console_in_fd, vm->cfg.console_out_fd,
					   vm->cfg.console_port) :
		virtio_console_create(&d, env, vm->cfg.console_in_fd, vm->cfg.console_out_fd);
	return ret ? sbx_error_prefix(ret, "console") : plug_virtio(vm, env, d);
}

static int add_rng(struct vm *vm)
{
	struct mmio_device *d;
	struct vm_dev_env *env;
	int ret;

	if (!vm->cfg.rng)
		return 0;
	env = virtio_slot(vm);
	if (!env)
		return SBX_ELIMIT;
	ret = virtio_rng_create(&d, env);
	return ret ? sbx_error_prefix(ret, "rng") : plug_virtio(vm, env, d);
}

/* The VM generation ID and its ACPI event device on a line of its own (vmm/vmgenid.h). */
static int add_vmgenid(struct vm *vm)
{
	struct vm_dev_env *env = new_env(vm, 0, VM_VMGENID_GSI);
	int ret;

	if (!env)
		return SBX_ENOMEM;
	ret = assign_irqfd(vm, VM_VMGENID_GSI);
	return ret ? ret : vmgenid_create(&vm->vmgenid, env, BOOT_VMGENID_PAGE, &vm->acpi);
}

int vm_bump_generation(struct vm *vm)
{
	return vmgenid_bump(&vm->vmgenid);
}

/* Devices start in this order and stop in the reverse order. */
static const struct {
	const char *name;
	int (*add)(struct vm *vm);
} device_table[] = {
	{ "serial", add_serial },
	{ "i8042", add_i8042 },
	{ "power", add_power },
	{ "virtio-blk", add_disks },
	{ "virtio-console", add_console },
	{ "virtio-rng", add_rng },
	{ "vmgenid", add_vmgenid },
};

/* ---- set-up --------------------------------------------------------------- */

static int check_kvm(struct vm *vm, const char *dev)
{
	struct vmm_kvm_info info;
	int ret;

	/* The same check as the backend choice's (vmm/kvm-probe.c): PVM is refused here too. */
	memset(&info, 0, sizeof(info));
	ret = vmm_kvm_check_fd(vm->kvm_fd, dev, &info);
	if (ret)
		return ret;
	if (info.max_vcpus > 0 && vm->cfg.cpus > (unsigned)info.max_vcpus)
		return sbx_error_set(SBX_ELIMIT, "KVM on '%s' allows %d vCPUs; %u asked", dev,
				     info.max_vcpus, vm->cfg.cpus);
	vm->run_size = (size_t)kvm_ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if ((int)vm->run_size < (int)sizeof(struct kvm_run))
		return sbx_error_errno(SBX_ENOKVM, "KVM_GET_VCPU_MMAP_SIZE");
	return 0;
}

static int get_supported_cpuid(struct vm *vm)
{
	vm->cpuid = vmm_kvm_supported_cpuid(vm->kvm_fd);
	if (!vm->cpuid)
		return errno == ENOMEM ? sbx_error_set(SBX_ENOMEM, "out of memory")
				       : sbx_error_errno(SBX_ENOKVM, "KVM_GET_SUPPORTED_CPUID");
	return 0;
}

static int setup_memory(struct vm *vm)
{
	struct kvm_userspace_memory_region r = { 0 };
	void *p;

	vm->mem.size = vm->cfg.mem_size;
	vm->mem.low_size = vm->mem.size < GMEM_HOLE_START ? vm->mem.size : GMEM_HOLE_START;
	p = mmap(NULL, vm->mem.size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		vm->mem.size = 0;
		return sbx_error_errno(SBX_ENOMEM, "cannot map %llu MiB of guest memory",
				       (unsigned long long)(vm->cfg.mem_size >> 20));
	}
	vm->mem.host = p;
	r.slot = 0;
	r.guest_phys_addr = 0;
	r.memory_size = vm->mem.low_size;
	r.userspace_addr = (uintptr_t)p;
	if (kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return sbx_error_errno(SBX_ENOKVM, "KVM_SET_USER_MEMORY_REGION (low)");
	if (vm->mem.size > vm->mem.low_size) {
		r.slot = 1;
		r.guest_phys_addr = GMEM_HIGH_START;
		r.memory_size = vm->mem.size - vm->mem.low_size;
		r.userspace_addr = (uintptr_t)p + vm->mem.low_size;
		if (kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return sbx_error_errno(SBX_ENOKVM, "KVM_SET_USER_MEMORY_REGION (high)");
	}
	return 0;
}

static int read_full(int fd, uint8_t *p, uint64_t len, const char *path)
{
	uint64_t off = 0;

	while (off < len) {
		size_t chunk = len - off > (1u << 30) ? (1u << 30) : (size_t)(len - off);
		ssize_t n = pread(fd, p + off, chunk, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sbx_error_errno(SBX_EIO, "cannot read '%s'", path);
		if (n == 0)
			return sbx_error_set(SBX_EIO, "'%s' shrank while being read", path);
		off += (uint64_t)n;
	}
	return 0;
}

static int load_kernel(struct vm *vm)
{
	struct boot_input in = { .cmdline = vm->cfg.cmdline, .rsdp_addr = BOOT_ACPI_START,
				 .reset_port = VM_RESET_PORT, .reset_value = VM_RESET_VALUE };
	struct stat st;
	void *img = MAP_FAILED;
	int kfd = -1, ifd = -1, ret;

	kfd = open(vm->cfg.kernel, O_RDONLY | O_CLOEXEC);
	if (kfd < 0) {
		ret = sbx_error_errno(SBX_ENOTFOUND, "cannot open kernel '%s'", vm->cfg.kernel);
		goto out;
	}
	if (fstat(kfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > MAX_KERNEL_SIZE) {
		ret = sbx_error_set(SBX_ECORRUPT, "kernel '%s' is not a regular file of a sane size",
				    vm->cfg.kernel);
		goto out;
	}
	img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, kfd, 0);
	if (img == MAP_FAILED) {
		ret = sbx_error_errno(SBX_EIO, "cannot map kernel '%s'", vm->cfg.kernel);
		goto out;
	}
	in.kernel = img;
	in.kernel_size = (size_t)st.st_size;
	if (vm->cfg.initrd) {
		ifd = open(vm->cfg.initrd, O_RDONLY | O_CLOEXEC);
		if (ifd < 0 || fstat(ifd, &st) < 0) {
			ret = sbx_error_errno(SBX_ENOTFOUND, "cannot open initrd '%s'", vm->cfg.initrd);
			goto out;
		}
		in.initrd_size = (uint64_t)st.st_size;
	}
	ret = boot_linux(&vm->boot, &vm->mem, &in);
	if (ret) {
		sbx_error_prefix(ret, "kernel '%s'", vm->cfg.kernel);
		goto out;
	}
	if (in.initrd_size) {
		uint8_t *dst = gmem_at(&vm->mem, vm->boot.initrd_addr, in.initrd_size);

		ret = dst ? read_full(ifd, dst, in.initrd_size, vm->cfg.initrd)
			  : sbx_error_set(SBX_ELIMIT, "initrd does not fit");
		if (ret)
			goto out;
	}
	pr_debug("kernel: boot protocol %u.%02u, initrd at 0x%llx (%llu bytes)",
		 vm->boot.protocol >> 8, vm->boot.protocol & 0xff,
		 (unsigned long long)vm->boot.initrd_addr, (unsigned long long)in.initrd_size);
out:
	if (img != MAP_FAILED)
		munmap(img, in.kernel_size);
	if (kfd >= 0)
		close(kfd);
	if (ifd >= 0)
		close(ifd);
	return ret;
}

static int write_acpi(struct vm *vm)
{
	uint8_t *tables, *dst;
	size_t len;
	int ret;

	vm->acpi.base = BOOT_ACPI_START;
	vm->acpi.cpus = vm->cfg.cpus;
	vm->acpi.ioapic_addr = VM_IOAPIC_ADDR;
	vm->acpi.lapic_addr = VM_LAPIC_ADDR;
	/* The tables end before the reset-vector stub (vmm/boot.c). */
	ret = acpi_build(&tables, &len, BOOT_RESET_VECTOR - BOOT_ACPI_START, &vm->acpi);
	if (ret)
		return ret;
	dst = gmem_at(&vm->mem, BOOT_ACPI_START, len);
	if (dst)
		memcpy(dst, tables, len);
	free(tables);
	return dst ? 0 : sbx_error_set(SBX_ELIMIT, "no room for the ACPI tables");
}

int vm_create(struct vm **out, const struct vm_config *cfg)
{
	struct kvm_pit_config pit = { .flags = 0 };
	const char *dev = "/dev/kvm";
	struct vm *vm;
	unsigned i;
	int ret;

	*out = NULL;
	if (cfg->cpus < 1 || cfg->cpus > VM_MAX_CPUS)
		return sbx_error_set(SBX_EINVAL, "%u vCPUs: the machine has 1 to %d", cfg->cpus,
				     VM_MAX_CPUS);
	if (cfg->mem_size < VM_MIN_MEMORY || cfg->mem_size % (2ULL << 20))
		return sbx_error_set(SBX_EINVAL, "guest memory must be a multiple of 2 MiB, at least %llu MiB",
				     VM_MIN_MEMORY >> 20);
	if (cfg->ndisks > VM_MAX_DISKS)
		return sbx_error_set(SBX_EINVAL, "at most %d disks", VM_MAX_DISKS);
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->epoll_fd = vm->stop_fd = vm->pause_fd = -1;
	for (i = 0; i <= VM_MAX_GSI; i++)
		vm->irqfd[i] = -1;
	for (i = 0; i < VM_MAX_CPUS; i++)
		vm->vcpus[i].fd = -1;
	pthread_mutex_init(&vm->watch_lock, NULL);
	pthread_mutex_init(&vm->end_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&vm->end_cond, &ca);
		pthread_cond_init(&vm->pause_cond, &ca);
		pthread_condattr_destroy(&ca);
	}

	vm->kvm_fd = kvm_open(&dev);
	if (vm->kvm_fd < 0) {
		ret = sbx_error_errno(SBX_ENOKVM, "cannot open '%s'", dev);
		goto fail;
	}
	pr_debug("vm: opened %s", dev);
	ret = check_kvm(vm, dev);
	if (ret)
		goto fail;
	ret = get_supported_cpuid(vm);
	if (ret)
		goto fail;
	vm->vm_fd = kvm_ioctl(vm->kvm_fd, KVM_CREATE_VM, NULL);
	if (vm->vm_fd < 0) {
		ret = sbx_error_errno(SBX_ENOKVM, "KVM_CREATE_VM");
		goto fail;
	}
	if (kvm_ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)VM_TSS_ADDR) < 0 ||
	    kvm_ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ VM_IDENTITY_MAP_ADDR }) < 0) {
		ret = sbx_error_errno(SBX_ENOKVM, "KVM_SET_TSS_ADDR/IDENTITY_MAP_ADDR");
		goto fail;
	}
	if (kvm_ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, NULL) < 0) {
		ret = sbx_error_errno(SBX_ENOKVM, "KVM_CREATE_IRQCHIP");
		goto fail;
	}
	if (kvm_ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		ret = sbx_error_errno(SBX_ENOKVM, "KVM_CREATE_PIT2");
		goto fail;
	}
	ret = setup_memory(vm);
	if (ret)
		goto fail;
	vm->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->pause_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->epoll_fd < 0 || vm->stop_fd < 0 || vm->pause_fd < 0) {
		ret = sbx_error_errno(SBX_ERROR, "epoll/eventfd");
		goto fail;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		struct epoll_event pev = { .events = EPOLLIN, .data.ptr = &vm->pause_fd };

		if (epoll_ctl(vm->epoll_fd, EPOLL_CTL_ADD, vm->stop_fd, &ev) < 0 ||
		    epoll_ctl(vm->epoll_fd, EPOLL_CTL_ADD, vm->pause_fd, &pev) < 0) {
			ret = sbx_error_errno(SBX_ERROR, "epoll_ctl");
			goto fail;
		}
	}
	for (i = 0; i < ARRAY_SIZE(device_table); i++) {
		ret = device_table[i].add(vm);
		if (ret) {
			sbx_error_prefix(ret, "%s", device_table[i].name);
			goto fail;
		}
	}
	if (cfg->restore_state_fd >= 0) {
		/* RAM holds the kernel and the tables already. */
		ret = vm_restore_memory(vm);
	} else {
		ret = write_acpi(vm);
		if (!ret)
			ret = load_kernel(vm);
	}
	if (ret)
		goto fail;
	for (i = 0; i < cfg->cpus; i++) {
		ret = vcpu_create(vm, i);
		if (ret)
			goto fail;
	}
	if (cfg->restore_state_fd >= 0) {
		ret = vm_restore_state(vm);
		if (ret)
			goto fail;
	}
	pr_debug("vm: created (%u vCPUs, %llu MiB, %u devices)", cfg->cpus,
		 (unsigned long long)(cfg->mem_size >> 20), vm->ndevs);
	*out = vm;
	return 0;
fail:
	vm_free(vm);
	return ret;
}

void vm_free(struct vm *vm)
{
	struct watch *w, *next;
	unsigned i;

	if (!vm)
		return;
	vm_stop_threads(vm);
	for (i = vm->ndevs; i-- > 0;) {
		if (vm->devs[i].stop)
			vm->devs[i].stop(vm->devs[i].opaque);
		pthread_mutex_destroy(&vm->devs[i].lock);
	}
	for (w = vm->watches; w; w = next) {
		next = w->next;
		free(w);
	}
	for (i = 0; i < vm->nenvs; i++)
		free(vm->envs[i]);
	for (i = 0; i <= VM_MAX_GSI; i++)
		if (vm->irqfd[i] >= 0)
			close(vm->irqfd[i]);
	for (i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpus[i].run)
			munmap(vm->vcpus[i].run, vm->run_size);
		if (vm->vcpus[i].fd >= 0)
			close(vm->vcpus[i].fd);
	}
	if (vm->epoll_fd >= 0)
		close(vm->epoll_fd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	if (vm->pause_fd >= 0)
		close(vm->pause_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->mem.host)
		munmap(vm->mem.host, vm->mem.size);
	free(vm->mem.dirty);
	free(vm->cpuid);
	vmstate_free(vm->snap);
	pthread_mutex_destroy(&vm->watch_lock);
	pthread_mutex_destroy(&vm->end_lock);
	pthread_cond_destroy(&vm->end_cond);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cond);
	free(vm);
}
