// SPDX-License-Identifier: MIT
/* The virtio-mmio transport, version 2 registers: see virtio-mmio.h. */
#include "vmm/virtio-mmio.h"
#include "snapshot/vmstate.h"
#include "util/error.h"
#include "util/log.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MMIO_MAGIC	0x74726976	/* "virt" */
#define MMIO_VERSION	2

struct vq_state {
	struct virtio_mmio *t;
	unsigned index;
	int efd;		/* signalled on QueueNotify of this queue */
	bool fd_added, ioeventfd;
	/* registers of this queue */
	uint32_t num, ready;
	uint64_t desc, avail, used;
	struct virtq vq;
};

struct virtio_mmio {
	struct mmio_device mdev;
	struct vm_dev_env env;
	struct virtio_mmio_info info;
	pthread_mutex_t lock;
	uint8_t config[VIRTIO_MMIO_CONFIG_MAX];
	uint32_t config_gen;
	uint64_t offered, driver_features;
	uint32_t dev_feat_sel, drv_feat_sel, queue_sel;
	uint32_t status;
	uint32_t irq_status;	/* atomic: read and acknowledged without the lock */
	unsigned warnings;	/* about the guest, see guest_warn() */
	struct vq_state q[VIRTIO_MMIO_MAX_QUEUES];
};

void virtio_mmio_lock(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *t)
{
	pthread_mutex_unlock(&t->lock);
}

const struct vm_dev_env *virtio_mmio_env(struct virtio_mmio *t)
{
	return &t->env;
}

static bool live(const struct virtio_mmio *t)
{
	return (t->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(t->status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED));
}

struct virtq *virtio_mmio_queue(struct virtio_mmio *t, unsigned q)
{
	if (q >= t->info.num_queues || !live(t) || !t->q[q].ready)
		return NULL;
	return &t->q[q].vq;
}

uint64_t virtio_mmio_features(struct virtio_mmio *t)
{
	return t->driver_features;
}

static void raise_irq(struct virtio_mmio *t, uint32_t why)
{
	__atomic_fetch_or(&t->irq_status, why, __ATOMIC_SEQ_CST);
	t->env.irq(t->env.vm, t->env.gsi);
}

void virtio_mmio_used(struct virtio_mmio *t, unsigned q)
{
	if (q < t->info.num_queues && virtq_should_notify(&t->q[q].vq))
		raise_irq(t, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_kick(struct virtio_mmio *t, unsigned q)
{
	if (q < t->info.num_queues && eventfd_write(t->q[q].efd, 1) < 0)
		pr_warn("%s: cannot signal queue %u: %s", t->info.name, q, strerror(errno));
}

bool virtio_mmio_is_broken(struct virtio_mmio *t)
{
	return t->status & VIRTIO_CONFIG_S_NEEDS_RESET;
}

/*
 * Complain about the guest: the first few times as warnings, later only
 * as debug messages, so a guest that misbehaves in a loop cannot flood the log.
 */
SBX_PRINTF(2, 3) static void guest_warn(struct virtio_mmio *t, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (++t->warnings <= 10)
		pr_warn("%s: %s", t->info.name, msg);
	else if (t->warnings == 11)
		pr_warn("%s: the guest misbehaves again; not reporting it any more", t->info.name);
	else
		pr_debug("%s: %s", t->info.name, msg);
}

void virtio_mmio_broken(struct virtio_mmio *t)
{
	if (t->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	guest_warn(t, "%s; the device needs a reset", sbx_error());
	t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	raise_irq(t, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_config_changed(struct virtio_mmio *t, unsigned off, const void *data,
				unsigned len)
{
	if (off > t->info.config_size || len > t->info.config_size - off)
		return;
	memcpy(t->config + off, data, len);
	t->config_gen++;
	if (t->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_irq(t, VIRTIO_MMIO_INT_CONFIG);
}

/* Queue set-up registers work only while the selected queue is not ready. */
static struct vq_state *setup_queue(struct virtio_mmio *t)
{
	if (t->queue_sel >= t->info.num_queues || t->q[t->queue_sel].ready)
		return NULL;
	return &t->q[t->queue_sel];
}

static void stop_queue(struct virtio_mmio *t, struct vq_state *qs)
{
	if (t->info.ops->queue_stop)
		t->info.ops->queue_stop(t->info.opaque, qs->index);
	virtq_reset(&qs->vq);
	qs->ready = 0;
}

static void reset(struct virtio_mmio *t)
{
	unsigned i;

	for (i = 0; i < t->info.num_queues; i++) {
		struct vq_state *qs = &t->q[i];

		stop_queue(t, qs);
		qs->num = 0;
		qs->desc = qs->avail = qs->used = 0;
	}
	t->status = 0;
	t->driver_features = 0;
	t->dev_feat_sel = t->drv_feat_sel = t->queue_sel = 0;
	__atomic_store_n(&t->irq_status, 0, __ATOMIC_SEQ_CST);
}

static void enable_queue(struct virtio_mmio *t, struct vq_state *qs)
{
	int err;

	if (!(t->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		SBX_CORRUPT("queue %u enabled before FEATURES_OK", qs->index);
		virtio_mmio_broken(t);
		return;
	}
	if (qs->num > t->info.queue_max) {
		SBX_CORRUPT("queue %u size %u above the maximum %u", qs->index, qs->num,
			    t->info.queue_max);
		virtio_mmio_broken(t);
		return;
	}
	err = virtq_init(&qs->vq, t->env.mem, qs->num, qs->desc, qs->avail, qs->used,
			 t->driver_features, t->info.chain_max);
	if (err) {
		sbx_error_prefix(err, "queue %u", qs->index);
		virtio_mmio_broken(t);
		return;
	}
	qs->ready = 1;
	if (live(t))
		virtio_mmio_kick(t, qs->index);
}

static bool features_ok(struct virtio_mmio *t)
{
	uint64_t f = t->driver_features;

	if (f & ~t->offered) {
		guest_warn(t, "the driver accepted features %#llx that were not offered",
			   (unsigned long long)(f & ~t->offered));
		return false;
	}
	if (!(f & (1ULL << VIRTIO_F_VERSION_1))) {
		guest_warn(t, "the driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are "
			   "not supported)");
		return false;
	}
	return true;
}

static void write_status(struct virtio_mmio *t, uint32_t val)
{
	uint32_t keep = t->status & VIRTIO_CONFIG_S_NEEDS_RESET, added;
	unsigned i;

	if (val == 0) {
		reset(t);
		return;
	}
	val &= 0xff;
	if (t->status & ~val & ~VIRTIO_CONFIG_S_NEEDS_RESET) {
		SBX_CORRUPT("the driver cleared status bits (%#x -> %#x)", t->status, val);
		virtio_mmio_broken(t);
		return;
	}
	added = val & ~t->status;
	if ((added & VIRTIO_CONFIG_S_FEATURES_OK) && !features_ok(t))
		val &= ~VIRTIO_CONFIG_S_FEATURES_OK;	/* the driver reads it back and gives up */
	if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !(val & VIRTIO_CONFIG_S_FEATURES_OK)) {
		SBX_CORRUPT("DRIVER_OK without FEATURES_OK");
		virtio_mmio_broken(t);
		return;
	}
	t->status = val | keep;
	if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && live(t)) {
		if (t->info.ops->activate)
			t->info.ops->activate(t->info.opaque);
		/* Buffers made available before DRIVER_OK are handled now. */
		for (i = 0; i < t->info.num_queues; i++)
			if (t->q[i].ready)
				virtio_mmio_kick(t, i);
	}
}

static uint32_t read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct vq_state *qs = t->queue_sel < t->info.num_queues ? &t->q[t->queue_sel] : NULL;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->info.device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->dev_feat_sel > 1)
			return 0;
		return (uint32_t)(t->offered >> (32 * t->dev_feat_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return qs ? t->info.queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return qs ? qs->ready : 0;
	case VIRTIO_MMIO_STATUS:
		return t->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		return 0xffffffff;	/* no shared memory regions */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return t->config_gen;
	default:
		return 0;		/* write-only or reserved */
	}
}

static void set_low(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffff00000000ULL) | v;
}

static void set_high(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffffULL) | ((uint64_t)v << 32);
}

static void write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct vq_state *qs;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->dev_feat_sel = v;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (t->drv_feat_sel > 1 || (t->status & VIRTIO_CONFIG_S_FEATURES_OK))
			return;
		if (t->drv_feat_sel)
			set_high(&t->driver_features, v);
		else
			set_low(&t->driver_features, v);
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->drv_feat_sel = v;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Reached only without an ioeventfd for this value. */
		if (v < t->info.num_queues)
			virtio_mmio_kick(t, v);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		__atomic_fetch_and(&t->irq_status, ~v, __ATOMIC_SEQ_CST);
		return;
	case VIRTIO_MMIO_STATUS:
		write_status(t, v);
		return;
	case VIRTIO_MMIO_QUEUE_READY:
		if (t->queue_sel >= t->info.num_queues)
			return;
		qs = &t->q[t->queue_sel];
		if ((v & 1) && !qs->ready)
			enable_queue(t, qs);
		else if (!(v & 1) && qs->ready)
			stop_queue(t, qs);
		return;
	}
	qs = setup_queue(t);
	if (!qs)
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		qs->num = v;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		set_low(&qs->desc, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_high(&qs->desc, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		set_low(&qs->avail, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_high(&qs->avail, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		set_low(&qs->used, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_high(&qs->used, v);
		break;
	}
}

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct virtio_mmio *t = opaque;
	uint32_t v;

	memset(data, 0, len);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;

		virtio_mmio_lock(t);
		if (c < t->info.config_size)
			memcpy(data, t->config + c,
			       len < t->info.config_size - c ? len : t->info.config_size - c);
		virtio_mmio_unlock(t);
		return;
	}
	if (len != 4 || off % 4)
		return;		/* registers are 32-bit, aligned */
	if (off == VIRTIO_MMIO_INTERRUPT_STATUS) {
		v = __atomic_load_n(&t->irq_status, __ATOMIC_SEQ_CST);
	} else {
		virtio_mmio_lock(t);
		v = read_reg(t, off);
		virtio_mmio_unlock(t);
	}
	v = htole32(v);
	memcpy(data, &v, 4);
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct virtio_mmio *t = opaque;
	uint32_t v;

	if (off >= VIRTIO_MMIO_CONFIG || len != 4 || off % 4)
		return;		/* no writable configuration fields are offered */
	memcpy(&v, data, 4);
	v = le32toh(v);
	if (off == VIRTIO_MMIO_INTERRUPT_ACK) {
		__atomic_fetch_and(&t->irq_status, ~v, __ATOMIC_SEQ_CST);
		return;
	}
	virtio_mmio_lock(t);
	write_reg(t, off, v);
	virtio_mmio_unlock(t);
}

static void on_kick(void *opaque)
{
	struct vq_state *qs = opaque;
	struct virtio_mmio *t = qs->t;
	eventfd_t n;

	if (eventfd_read(qs->efd, &n) < 0 && errno != EAGAIN)
		pr_warn("%s: queue %u eventfd: %s", t->info.name, qs->index, strerror(errno));
	virtio_mmio_lock(t);
	if (virtio_mmio_queue(t, qs->index))
		t->info.ops->queue_notify(t->info.opaque, qs->index);
	virtio_mmio_unlock(t);
}

/*
 * Snapshots: the transport's registers and each queue's addresses and
 * indices, then the device's own record (ops->save).  The machine is
 * paused, so no queue is being worked on.
 */
static int mmio_save(void *opaque, struct vs_buf *b)
{
	struct virtio_mmio *t = opaque;
	unsigned i;

	vs_put_u32(b, t->info.device_id);
	vs_put_u32(b, t->info.num_queues);
	vs_put_u32(b, t->info.config_size);
	vs_put_bytes(b, t->config, t->info.config_size);
	vs_put_u32(b, t->config_gen);
	vs_put_u64(b, t->driver_features);
	vs_put_u32(b, t->dev_feat_sel);
	vs_put_u32(b, t->drv_feat_sel);
	vs_put_u32(b, t->queue_sel);
	vs_put_u32(b, t->status);
	vs_put_u32(b, __atomic_load_n(&t->irq_status, __ATOMIC_SEQ_CST));
	for (i = 0; i < t->info.num_queues; i++) {
		const struct vq_state *qs = &t->q[i];

		vs_put_u32(b, qs->num);
		vs_put_u32(b, qs->ready);
		vs_put_u64(b, qs->desc);
		vs_put_u64(b, qs->avail);
		vs_put_u64(b, qs->used);
		vs_put_u16(b, qs->vq.last_avail);
		vs_put_u16(b, qs->vq.used_idx);
		vs_put_u16(b, qs->vq.signalled_used);
	}
	return t->info.ops->save ? t->info.ops->save(t->info.opaque, b) : 0;
}

static int mmio_restore(void *opaque, struct vs_cur *c)
{
	struct virtio_mmio *t = opaque;
	uint32_t id, nq, csize, irq;
	unsigned i;
	int err;

	id = vs_u32(c);
	nq = vs_u32(c);
	csize = vs_u32(c);
	if (c->bad || id != t->info.device_id || nq != t->info.num_queues ||
	    csize != t->info.config_size)
		return sbx_error_set(SBX_ECORRUPT, "the snapshot's device (id %u, %u queues, %u "
				     "bytes of configuration) is not this one (id %u, %u, %u)", id,
				     nq, csize, t->info.device_id, t->info.num_queues,
				     t->info.config_size);
	vs_bytes(c, t->config, csize);
	t->config_gen = vs_u32(c);
	t->driver_features = vs_u64(c);
	t->dev_feat_sel = vs_u32(c);
	t->drv_feat_sel = vs_u32(c);
	t->queue_sel = vs_u32(c);
	t->status = vs_u32(c);
	irq = vs_u32(c);
	if (c->bad)
		return SBX_ECORRUPT;
	if (t->driver_features & ~t->offered)
		return sbx_error_set(SBX_ECORRUPT, "the snapshot's driver features %#llx were not "
				     "offered", (unsigned long long)t->driver_features);
	if (t->status & ~0xffu)
		return sbx_error_set(SBX_ECORRUPT, "the snapshot's device status %#x is invalid",
				     t->status);
	__atomic_store_n(&t->irq_status, irq & (VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG),
			 __ATOMIC_SEQ_CST);
	for (i = 0; i < nq; i++) {
		struct vq_state *qs = &t->q[i];
		uint16_t last_avail, used_idx, signalled;

		qs->num = vs_u32(c);
		qs->ready = vs_u32(c);
		qs->desc = vs_u64(c);
		qs->avail = vs_u64(c);
		qs->used = vs_u64(c);
		last_avail = vs_u16(c);
		used_idx = vs_u16(c);
		signalled = vs_u16(c);
		if (c->bad)
			return SBX_ECORRUPT;
		virtq_reset(&qs->vq);
		if (!qs->ready)
			continue;
		if (qs->ready != 1 || qs->num > t->info.queue_max)
			return sbx_error_set(SBX_ECORRUPT, "queue %u: size %u or ready %u invalid", i,
					     qs->num, qs->ready);
		err = virtq_init(&qs->vq, t->env.mem, qs->num, qs->desc, qs->avail, qs->used,
				 t->driver_features, t->info.chain_max);
		if (err)
			return sbx_error_prefix(err, "queue %u", i);
		qs->vq.last_avail = last_avail;
		qs->vq.used_idx = used_idx;
		qs->vq.signalled_used = signalled;
	}
	if (t->info.ops->restore) {
		err = t->info.ops->restore(t->info.opaque, c);
		if (err)
			return err;
	}
	/* Buffers the guest made available before the save are looked at once it runs. */
	if (live(t))
		for (i = 0; i < nq; i++)
			if (t->q[i].ready)
				virtio_mmio_kick(t, i);
	return 0;
}

static void unregister(struct virtio_mmio *t)
{
	unsigned i;

	for (i = 0; i < t->info.num_queues; i++) {
		struct vq_state *qs = &t->q[i];

		if (qs->ioeventfd)
			t->env.del_ioeventfd(t->env.vm, t->env.mmio_base + VIRTIO_MMIO_QUEUE_NOTIFY, 4,
					     i, qs->efd);
		if (qs->fd_added)
			t->env.del_fd(t->env.vm, qs->efd);
		qs->ioeventfd = qs->fd_added = false;
	}
}

static void destroy(struct virtio_mmio *t)
{
	unsigned i;

	for (i = 0; i < t->info.num_queues; i++)
		if (t->q[i].efd >= 0)
			close(t->q[i].efd);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static void mmio_stop(void *opaque)
{
	struct virtio_mmio *t = opaque;
	unsigned i;

	unregister(t);
	virtio_mmio_lock(t);
	for (i = 0; i < t->info.num_queues; i++)
		stop_queue(t, &t->q[i]);
	t->status = 0;
	virtio_mmio_unlock(t);
	if (t->info.ops->free)
		t->info.ops->free(t->info.opaque);
	destroy(t);
}

int virtio_mmio_create(struct virtio_mmio **tp, struct mmio_device **out,
		       const struct vm_dev_env *env, const struct virtio_mmio_info *info)
{
	struct virtio_mmio *t;
	unsigned i;
	int err;

	*tp = NULL;
	*out = NULL;
	if (!info->num_queues || info->num_queues > VIRTIO_MMIO_MAX_QUEUES ||
	    !info->queue_max || info->queue_max > VIRTQ_MAX_SIZE ||
	    (info->queue_max & (info->queue_max - 1)) || !info->chain_max ||
	    info->config_size > VIRTIO_MMIO_CONFIG_MAX || !info->ops || !info->ops->queue_notify)
		return sbx_error_set(SBX_EINVAL, "%s: invalid virtio device description", info->name);
	if (!env->mem || !env->irq || !env->add_fd || !env->del_fd)
		return sbx_error_set(SBX_EINVAL, "%s: the machine offers no memory, interrupt or "
				     "event thread", info->name);
	t = calloc(1, sizeof(*t));
	if (!t)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	t->env = *env;
	t->info = *info;
	if (info->config_size)
		memcpy(t->config, info->config, info->config_size);
	t->offered = info->features | (1ULL << VIRTIO_F_VERSION_1) |
		     (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
	pthread_mutex_init(&t->lock, NULL);
	for (i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		t->q[i].t = t;
		t->q[i].index = i;
		t->q[i].efd = -1;
	}
	for (i = 0; i < info->num_queues; i++) {
		struct vq_state *qs = &t->q[i];

		qs->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (qs->efd < 0) {
			err = sbx_error_errno(SBX_ERROR, "%s: eventfd", info->name);
			goto fail;
		}
		err = env->add_fd(env->vm, qs->efd, on_kick, qs);
		if (err)
			goto fail;
		qs->fd_added = true;
		if (env->add_ioeventfd && env->del_ioeventfd &&
		    env->add_ioeventfd(env->vm, env->mmio_base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, i,
				       qs->efd) == 0)
			qs->ioeventfd = true;
		else
			pr_debug("%s: queue %u notifications through MMIO exits", info->name, i);
	}
	t->mdev = (struct mmio_device){
		.name = info->name,
		.size = VIRTIO_MMIO_WINDOW,
		.opaque = t,
		.read = mmio_read,
		.write = mmio_write,
		.stop = mmio_stop,
		.save = mmio_save,
		.restore = mmio_restore,
		.is_virtio_mmio = true,
	};
	*tp = t;
	*out = &t->mdev;
	return 0;
fail:
	unregister(t);
	destroy(t);
	return err;
}
