// SPDX-License-Identifier: MIT
/*
 * Snapshots of the machine (see vmm/vm.h, docs/design.md "Snapshots" and
 * docs/formats.md): vm_save writes guest RAM to a memory file
 * (snapshot/memfile.h) and everything else to a state file of typed
 * records (snapshot/vmstate.h); vm_create with cfg.restore_state_fd
 * builds the same machine and loads them back (vmm/vm-restore.c).
 *
 * Save order, with every vCPU and the event thread parked (vm_pause):
 *   MACHINE (our layout version, vCPUs, RAM size, devices, the exit
 *   register, the host CPU's signature), then per vCPU CPUID, MP_STATE,
 *   REGS, SREGS, XSAVE, XCRS, DEBUGREGS, LAPIC, MSRS (IA32_TSC first,
 *   so TSC_DEADLINE is set against the right TSC), VCPU_EVENTS; then
 *   PIC master, PIC slave, IOAPIC, PIT2, CLOCK; then each device's
 *   record in the device table's order; MEMORY (the memory file's id).
 * Restore loads them in that order (CLOCK after the vCPUs' MSRs is not
 * needed: kvmclock reads the VM clock, set before any vCPU runs), then
 * tells each vCPU it was paused (KVMCLOCK_CTRL) so the guest's watchdogs
 * do not count the time it spent in the file.
 *
 * Everything read from a state file is untrusted: records have exact
 * sizes, counts are bounded, and KVM refuses what it cannot load.
 */
#include "vmm/vm-state-int.h"
#include "vmm/kvm-sys.h"
#include "snapshot/memfile.h"
#include "util/error.h"
#include "util/log.h"

#include <cpuid.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* ---- the host CPU: a snapshot runs only where it was taken ------------------ */

void vm_host_cpu_sig(struct cpu_sig *s)
{
	unsigned a = 0, b = 0, c = 0, d = 0;

	memset(s, 0, sizeof(*s));
	__cpuid(0, a, b, c, d);
	memcpy(s->vendor, &b, 4);
	memcpy(s->vendor + 4, &d, 4);
	memcpy(s->vendor + 8, &c, 4);
	__cpuid(1, a, b, c, d);
	s->signature = a;
	if (__get_cpuid_max(0, NULL) >= 0xd) {
		__cpuid_count(0xd, 0, a, b, c, d);
		s->xsave_size = b;
	}
}

/* ---- saving ---------------------------------------------------------------- */

static int put_ioctl(struct vmstate_writer *w, int fd, unsigned long req, uint32_t type,
		     uint32_t index, void *buf, size_t len, const char *what)
{
	if (kvm_ioctl(fd, req, buf) < 0)
		return sbx_error_errno(SBX_ENOKVM, "%s", what);
	return vmstate_put(w, type, index, buf, len);
}

/*
 * Every MSR KVM says it can save (KVM_GET_MSR_INDEX_LIST), read one batch
 * at a time: KVM_GET_MSRS stops at the first it cannot read for this
 * vCPU, which is skipped.
 */
static int save_msrs(struct vmstate_writer *w, struct vm *vm, struct vcpu *c)
{
	struct kvm_msr_list *list = NULL;
	struct kvm_msrs *msrs = NULL;
	uint32_t i, n = 0;
	int ret;

	list = calloc(1, sizeof(*list) + MAX_MSRS * sizeof(uint32_t));
	msrs = calloc(1, sizeof(*msrs) + MAX_MSRS * sizeof(struct kvm_msr_entry));
	if (!list || !msrs) {
		ret = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	list->nmsrs = MAX_MSRS;
	if (kvm_ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		ret = sbx_error_errno(SBX_ENOKVM, "KVM_GET_MSR_INDEX_LIST");
		goto out;
	}
	for (i = 0; i < list->nmsrs && i < MAX_MSRS;) {
		struct {
			struct kvm_msrs hdr;
			struct kvm_msr_entry e[64];
		} b;
		uint32_t want = list->nmsrs - i, j;
		int got;

		if (want > 64)
			want = 64;
		memset(&b, 0, sizeof(b));
		b.hdr.nmsrs = want;
		for (j = 0; j < want; j++)
			b.e[j].index = list->indices[i + j];
		got = kvm_ioctl(c->fd, KVM_GET_MSRS, &b);
		if (got < 0) {
			ret = sbx_error_errno(SBX_ENOKVM, "vCPU %u: KVM_GET_MSRS", c->id);
			goto out;
		}
		for (j = 0; j < (uint32_t)got && j < want; j++)
			msrs->entries[n++] = b.e[j];
		if ((uint32_t)got < want) {
			pr_debug("vCPU %u: MSR %#x cannot be read; not saved", c->id,
				 list->indices[i + (uint32_t)got]);
			i += (uint32_t)got + 1;
		} else {
			i += want;
		}
	}
	msrs->nmsrs = n;
	/*
	 * IA32_TSC first, so TSC_DEADLINE is restored against the right TSC;
	 * the rest as KVM listed them.  (Not qsort: glibc's asks sysinfo(),
	 * which the confined VMM's filter does not allow.)
	 */
	for (i = 1; i < n; i++)
		if (msrs->entries[i].index == MSR_IA32_TSC) {
			struct kvm_msr_entry tsc = msrs->entries[i];

			memmove(msrs->entries + 1, msrs->entries, i * sizeof(msrs->entries[0]));
			msrs->entries[0] = tsc;
			break;
		}
	ret = vmstate_put(w, REC_MSRS, c->id, msrs, sizeof(*msrs) + n * sizeof(msrs->entries[0]));
out:
	free(list);
	free(msrs);
	return ret;
}

static int save_vcpu(struct vmstate_writer *w, struct vm *vm, struct vcpu *c)
{
	struct kvm_cpuid2 *cpuid;
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave *xsave;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dbg;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	size_t cpuid_size = sizeof(*cpuid) + MAX_CPUID_ENTRIES * sizeof(cpuid->entries[0]);
	int ret;

	cpuid = calloc(1, cpuid_size);
	xsave = calloc(1, sizeof(*xsave));
	if (!cpuid || !xsave) {
		ret = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	cpuid->nent = MAX_CPUID_ENTRIES;
	if (kvm_ioctl(c->fd, KVM_GET_CPUID2, cpuid) < 0) {
		ret = sbx_error_errno(SBX_ENOKVM, "vCPU %u: KVM_GET_CPUID2", c->id);
		goto out;
	}
	ret = vmstate_put(w, REC_CPUID, c->id, cpuid,
			  sizeof(*cpuid) + cpuid->nent * sizeof(cpuid->entries[0]));
	if (!ret)
		ret = put_ioctl(w, c->fd, KVM_GET_MP_STATE, REC_MP_STATE, c->id, &mp, sizeof(mp),
				"KVM_GET_MP_STATE");
	if (!ret)
		ret = put_ioctl(w, c->fd, KVM_GET_REGS, REC_REGS, c->id, &regs, sizeof(regs),
				"KVM_GET_REGS");
	if (!ret)
		ret = put_ioctl(w, c->fd, KVM_GET_SREGS, REC_SREGS, c->id, &sregs, sizeof(sregs),
				"KVM_GET_SREGS");
	if (!ret)
		ret = put_ioctl(w, c->fd, KVM_GET_XSAVE, REC_XSAVE, c->id, xsave, sizeof(*xsave),
				"KVM_GET_XSAVE");
	if (!ret)
		ret = put_ioctl(w, c->fd, KVM_GET_XCRS, REC_XCRS, c->id, &xcrs, sizeof(xcrs),
				"KVM_GET_XCRS");
	if (!ret)
		ret = put_ioctl(w, c->fd, KVM_GET_DEBUGREGS, REC_DEBUGREGS, c->id, &dbg, sizeof(dbg),
				"KVM_GET_DEBUGREGS");
	if (!ret)
		ret = put_ioctl(w, c->fd, KVM_GET_LAPIC, REC_LAPIC, c->id, &lapic, sizeof(lapic),
				"KVM_GET_LAPIC");
	if (!ret)
		ret = save_msrs(w, vm, c);
	if (!ret)
		ret = put_ioctl(w, c->fd, KVM_GET_VCPU_EVENTS, REC_VCPU_EVENTS, c->id, &ev, sizeof(ev),
				"KVM_GET_VCPU_EVENTS");
	if (ret)
		sbx_error_prefix(ret, "vCPU %u", c->id);
out:
	free(cpuid);
	free(xsave);
	return ret;
}

static int save_irqchip(struct vmstate_writer *w, struct vm *vm, uint32_t chip, uint32_t type)
{
	struct kvm_irqchip ic;

	memset(&ic, 0, sizeof(ic));
	ic.chip_id = chip;
	return put_ioctl(w, vm->vm_fd, KVM_GET_IRQCHIP, type, 0, &ic, sizeof(ic), "KVM_GET_IRQCHIP");
}

static int save_machine(struct vmstate_writer *w, struct vm *vm)
{
	struct vs_buf b = { 0 };
	struct cpu_sig sig;
	unsigned i;
	int ret;

	vm_host_cpu_sig(&sig);
	vs_put_u32(&b, LAYOUT_VERSION);
	vs_put_u32(&b, vm->nvcpus);
	vs_put_u64(&b, vm->mem.size);
	vs_put_bytes(&b, sig.vendor, sizeof(sig.vendor));
	vs_put_u32(&b, sig.signature);
	vs_put_u32(&b, sig.xsave_size);
	pthread_mutex_lock(&vm->end_lock);
	vs_put_u8(&b, vm->result.status_set);
	vs_put_u8(&b, vm->result.status);
	pthread_mutex_unlock(&vm->end_lock);
	vs_put_u32(&b, vm->ndevs);
	for (i = 0; i < vm->ndevs; i++) {
		size_t n = strlen(vm->devs[i].name);

		vs_put_u8(&b, (uint8_t)n);
		vs_put_bytes(&b, vm->devs[i].name, n);
	}
	ret = vmstate_put_buf(w, REC_MACHINE, 0, &b);
	vs_buf_free(&b);
	return ret;
}

static int save_devices(struct vmstate_writer *w, struct vm *vm)
{
	unsigned i;
	int ret = 0;

	for (i = 0; i < vm->ndevs && !ret; i++) {
		struct dev_slot *s = &vm->devs[i];
		struct vs_buf b = { 0 };

		if (!s->save)
			continue;
		pthread_mutex_lock(&s->lock);
		ret = s->save(s->opaque, &b);
		pthread_mutex_unlock(&s->lock);
		if (!ret)
			ret = vmstate_put_buf(w, REC_DEVICE, i, &b);
		if (ret)
			sbx_error_prefix(ret, "%s", s->name);
		vs_buf_free(&b);
	}
	return ret;
}

/* ---- dirty pages, for diff snapshots -------------------------------------- */

int vm_set_dirty_logging(struct vm *vm)
{
	struct kvm_userspace_memory_region r = { .slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES };

	r.guest_phys_addr = 0;
	r.memory_size = vm->mem.low_size;
	r.userspace_addr = (uintptr_t)vm->mem.host;
	if (kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return sbx_error_errno(SBX_ENOKVM, "KVM_SET_USER_MEMORY_REGION (dirty log)");
	if (vm->mem.size > vm->mem.low_size) {
		r.slot = 1;
		r.guest_phys_addr = GMEM_HIGH_START;
		r.memory_size = vm->mem.size - vm->mem.low_size;
		r.userspace_addr = (uintptr_t)vm->mem.host + vm->mem.low_size;
		if (kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return sbx_error_errno(SBX_ENOKVM, "KVM_SET_USER_MEMORY_REGION (dirty log)");
	}
	return 0;
}

/*
 * The pages written since the last call (or since logging began): KVM's
 * log of the guest's writes OR the VMM's own (guest_mem.dirty), into
 * `out` (NULL: just start afresh).  Both logs are cleared.
 */
static int take_dirty(struct vm *vm, uint64_t *out)
{
	uint64_t pages = vm->mem.size >> 12, words = (pages + 63) / 64, i;
	uint64_t low_words = (vm->mem.low_size >> 12) / 64;	/* 3 GiB is whole words */
	struct kvm_dirty_log log = { .slot = 0 };
	uint64_t *scratch = out;

	if (!scratch && !(scratch = calloc(words, 8)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	memset(scratch, 0, words * 8);
	log.dirty_bitmap = scratch;
	if (kvm_ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		goto fail;
	if (vm->mem.size > vm->mem.low_size) {
		log.slot = 1;
		log.dirty_bitmap = scratch + low_words;
		if (kvm_ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			goto fail;
	}
	for (i = 0; i < words; i++)
		scratch[i] |= __atomic_exchange_n(&vm->mem.dirty[i], 0, __ATOMIC_RELAXED);
	if (!out)
		free(scratch);
	return 0;
fail:
	if (!out)
		free(scratch);
	return sbx_error_errno(SBX_ENOKVM, "KVM_GET_DIRTY_LOG");
}

void vm_kvmclock_ctrl(struct vm *vm)
{
	unsigned i;

	/* EINVAL when the guest does not use kvmclock: nothing to tell. */
	for (i = 0; i < vm->nvcpus; i++)
		kvm_ioctl(vm->vcpus[i].fd, KVM_KVMCLOCK_CTRL, NULL);
}

/* Put pages taken from the dirty log back (a save that failed holds none of them). */
static void give_back_dirty(struct vm *vm, const uint64_t *dirty)
{
	uint64_t i, words = memfile_bitmap_words(vm->mem.size);

	if (!dirty || !vm->mem.dirty)
		return;
	for (i = 0; i < words; i++)
		if (dirty[i])
			__atomic_fetch_or(&vm->mem.dirty[i], dirty[i], __ATOMIC_RELAXED);
}

/* Start logging the pages written from now on (a booted VM's first save that goes on). */
static int start_dirty_log(struct vm *vm)
{
	int ret;

	if (vm->mem.dirty)
		return 0;
	vm->mem.dirty = calloc(memfile_bitmap_words(vm->mem.size), 8);
	if (!vm->mem.dirty)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	ret = vm_set_dirty_logging(vm);
	if (ret) {
		free(vm->mem.dirty);
		vm->mem.dirty = NULL;
	}
	return ret;
}

/* What can be refused before the guest is paused. */
static int check_save(struct vm *vm, const struct save_req *r, bool diff)
{
	uint32_t seen = 0;
	unsigned i;

	if (diff && !vm->mem_chain)
		return sbx_error_set(SBX_EINVAL, "a diff snapshot needs a memory file under it (a "
				     "restored VM, or one saved before without stopping)");
	if (diff && vm->mem_chain + 1 > VM_MAX_MEM_LAYERS)
		return sbx_error_set(SBX_ELIMIT, "the VM's memory chain already has %u files, the "
				     "most a restore maps (VM_MAX_MEM_LAYERS): take a full snapshot "
				     "(or squash the chain) first", vm->mem_chain);
	if (r->nsw && (r->flags & VM_SAVE_STOP))
		return sbx_error_set(SBX_EINVAL, "a save that stops the VM switches no disk");
	for (i = 0; i < r->nsw; i++) {
		const struct vm_disk_switch *w = &r->sw[i];
		struct blockdev *bd = w->disk < vm->cfg.ndisks ? vm->cfg.disks[w->disk] : NULL;

		if (!bd)
			return sbx_error_set(SBX_EINVAL, "the VM has no disk %u", w->disk + 1);
		if (seen & (1u << w->disk))
			return sbx_error_set(SBX_EINVAL, "disk %u is named twice", w->disk + 1);
		seen |= 1u << w->disk;
		if (bd->read_only)
			return sbx_error_set(SBX_EINVAL, "disk %u is read-only: nothing to switch",
					     w->disk + 1);
		if (!bd->ops->switch_fd)
			return sbx_error_set(SBX_EUNSUPPORTED, "disk %u cannot take checkpoints (a "
					     "qcow2 disk can)", w->disk + 1);
	}
	return 0;
}

int vm_save_now(struct vm *vm, const struct save_req *r)
{
	struct vm_save_info *info = r->info;
	struct vmstate_writer *w = NULL;
	struct memfile_info mi;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	struct stat st;
	uint64_t t0 = now_ns(), *dirty = NULL;
	bool diff, goes_on = !(r->flags & VM_SAVE_STOP);
	unsigned i;
	int ret;

	memset(info, 0, sizeof(*info));
	if (r->flags & SAVE_CHECKPOINT)
		diff = !(r->flags & VM_CKPT_FULL) && vm->mem_chain > 0 && vm->mem.dirty;
	else
		diff = r->flags & VM_SAVE_DIFF;
	ret = check_save(vm, r, diff);
	if (ret)
		return sbx_error_prefix(ret, "cannot save the VM");
	if (vm->mem.dirty && !(dirty = calloc(memfile_bitmap_words(vm->mem.size), 8)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	ret = vm_pause(vm);
	if (ret) {
		free(dirty);
		return sbx_error_prefix(ret, "cannot save the VM");
	}
	ret = vmstate_writer_new(&w);
	if (!ret)
		ret = save_machine(w, vm);
	for (i = 0; i < vm->nvcpus && !ret; i++)
		ret = save_vcpu(w, vm, &vm->vcpus[i]);
	if (!ret)
		ret = save_irqchip(w, vm, KVM_IRQCHIP_PIC_MASTER, REC_PIC_MASTER);
	if (!ret)
		ret = save_irqchip(w, vm, KVM_IRQCHIP_PIC_SLAVE, REC_PIC_SLAVE);
	if (!ret)
		ret = save_irqchip(w, vm, KVM_IRQCHIP_IOAPIC, REC_IOAPIC);
	if (!ret)
		ret = put_ioctl(w, vm->vm_fd, KVM_GET_PIT2, REC_PIT2, 0, &pit, sizeof(pit),
				"KVM_GET_PIT2");
	if (!ret)
		ret = put_ioctl(w, vm->vm_fd, KVM_GET_CLOCK, REC_CLOCK, 0, &clock, sizeof(clock),
				"KVM_GET_CLOCK");
	if (!ret)
		ret = save_devices(w, vm);
	/*
	 * The pages written since the chain's last file: a diff holds them; a
	 * full file (all of RAM) makes them moot, and the log starts afresh.
	 */
	if (!ret && dirty)
		ret = take_dirty(vm, dirty);
	if (!ret)
		ret = memfile_write(r->mem_fd, vm->mem.host, vm->mem.size, diff ? dirty : NULL,
				    diff ? vm->mem_id : NULL, &mi);
	if (!ret)
		ret = vmstate_put(w, REC_MEMORY, 0, mi.id, sizeof(mi.id));
	if (!ret)
		ret = vmstate_write_fd(w, r->state_fd);
	if (!ret && fstat(r->state_fd, &st) == 0)
		info->state_bytes = (uint64_t)st.st_size;
	info->mem_bytes = ret ? 0 : mi.data_bytes;
	vmstate_writer_free(w);
	/* A VM that goes on logs what changes from here, for the next diff. */
	if (!ret && goes_on)
		ret = start_dirty_log(vm);
	/* The disks, last: a switch cannot be undone. */
	for (i = 0; i < r->nsw && !ret; i++) {
		struct blockdev *bd = vm->cfg.disks[r->sw[i].disk];

		ret = bd->ops->switch_fd(bd, r->sw[i].overlay_fd, r->sw[i].frozen_fd, r->sw[i].name);
		if (ret) {
			sbx_error_prefix(ret, "disk %u", r->sw[i].disk + 1);
		} else {
			info->switched |= 1u << r->sw[i].disk;
			vm->disk_switched = true;
		}
	}
	if (ret) {
		give_back_dirty(vm, dirty);
		sbx_error_prefix(ret, "cannot save the VM");
	} else if (!goes_on) {
		vm_request_end(vm, VM_END_SAVED, "the VM was saved and stopped");
	} else {
		memcpy(vm->mem_id, mi.id, sizeof(vm->mem_id));
		vm->mem_chain = diff ? vm->mem_chain + 1 : 1;
		vm_kvmclock_ctrl(vm);
	}
	if (!ret) {
		info->diff = diff;
		info->chain = diff ? vm->mem_chain + !goes_on : 1;
	}
	if (ret && goes_on)
		vm_kvmclock_ctrl(vm);
	info->pause_ns = now_ns() - t0;
	vm_resume(vm);
	free(dirty);
	pr_debug("vm: saved in %llu us (%llu bytes of RAM data%s)",
		 (unsigned long long)(info->pause_ns / 1000), (unsigned long long)info->mem_bytes,
		 diff ? ", a diff" : "");
	return ret;
}

/* A save or reset for vm_run's thread (see vm_run); wait for it. */
static int hand_over(struct vm *vm, struct save_req *req_)
{
	struct save_req *r = req_;

	pthread_mutex_lock(&vm->end_lock);
	if (!vm->running || vm->save_req || vm->ended) {
		pthread_mutex_unlock(&vm->end_lock);
		return sbx_error_set(SBX_ERROR, vm->ended ? "the VM has ended" :
				     vm->save_req ? "a save is under way" : "the VM is not running yet");
	}
	vm->save_req = r;
	pthread_cond_broadcast(&vm->end_cond);
	while (!r->done)
		pthread_cond_wait(&vm->end_cond, &vm->end_lock);
	vm->save_req = NULL;
	pthread_mutex_unlock(&vm->end_lock);
	if (r->ret)
		return sbx_error_set(r->ret, "%s", r->error);
	return 0;
}

int vm_save(struct vm *vm, int mem_fd, int state_fd, unsigned flags, struct vm_save_info *info)
{
	struct save_req req = { .mem_fd = mem_fd, .state_fd = state_fd,
				.flags = flags & (VM_SAVE_STOP | VM_SAVE_DIFF), .info = info };

	return hand_over(vm, &req);
}

int vm_checkpoint(struct vm *vm, int mem_fd, int state_fd, const struct vm_disk_switch *sw,
		  unsigned nsw, unsigned flags, struct vm_save_info *info)
{
	struct save_req req = { .mem_fd = mem_fd, .state_fd = state_fd,
				.flags = SAVE_CHECKPOINT | (flags & VM_CKPT_FULL), .sw = sw,
				.nsw = nsw, .info = info };

	memset(info, 0, sizeof(*info));
	if (nsw > VM_MAX_DISKS)
		return sbx_error_set(SBX_EINVAL, "at most %d disks", VM_MAX_DISKS);
	return hand_over(vm, &req);
}

/*
 * In-place reset: the same process, the same KVM VM and vCPUs, back to the
 * snapshot it was restored from.  The memory files are mapped over guest
 * RAM again (MAP_FIXED: what the guest wrote since is dropped; KVM's MMU
 * notifier drops its mappings of the old pages), every writable disk is
 * reverted to what it held at the restore (a fresh qcow2 overlay), and the
 * state is loaded again, with a new VM generation.
 */
int vm_reset_now(struct vm *vm, struct vm_save_info *info)
{
	uint64_t t0 = now_ns();
	unsigned i;
	int ret;

	memset(info, 0, sizeof(*info));
	if (!vm->snap)
		return sbx_error_set(SBX_EINVAL, "only a restored VM can be reset");
	if (vm->disk_switched)
		return sbx_error_set(SBX_EINVAL, "a checkpoint switched the VM's disks since its "
				     "restore: they cannot be reverted to it (restore it anew)");
	ret = vm_pause(vm);
	if (ret)
		return sbx_error_prefix(ret, "cannot reset the VM");
	for (i = 0; i < vm->cfg.ndisks && !ret; i++) {
		struct blockdev *bd = vm->cfg.disks[i];

		if (bd->read_only)
			continue;
		ret = bd->ops->revert ? bd->ops->revert(bd) :
			sbx_error_set(SBX_EUNSUPPORTED, "it cannot be reverted (a fresh qcow2 "
				      "overlay can)");
		if (ret)
			sbx_error_prefix(ret, "disk %u", i + 1);
	}
	if (!ret)
		ret = memfile_map_chain(vm->mem.host, vm->mem.size, vm->cfg.restore_mem_fds,
					vm->cfg.restore_nmem);
	if (!ret)
		ret = take_dirty(vm, NULL);	/* the snapshot is the base again */
	if (!ret) {
		memcpy(vm->mem_id, vm->restore_mem_id, sizeof(vm->mem_id));
		vm->mem_chain = vm->cfg.restore_nmem;
	}
	if (!ret)
		ret = vm_load_state(vm, vm->snap);
	info->pause_ns = now_ns() - t0;
	if (ret) {
		/* Half reset: the guest must not run on. */
		sbx_error_prefix(ret, "cannot reset the VM");
		vm_request_end(vm, VM_END_ERROR, "%s", sbx_error());
	}
	vm_resume(vm);
	pr_debug("vm: reset in %llu us", (unsigned long long)(info->pause_ns / 1000));
	return ret;
}

int vm_reset(struct vm *vm, struct vm_save_info *info)
{
	struct save_req req = { .reset = true, .info = info };

	return hand_over(vm, &req);
}
