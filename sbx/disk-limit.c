// SPDX-License-Identifier: MIT
/* The task disk's cap: see sbx/disk-limit.h. */
#include "sbx/disk-limit.h"
#include "util/error.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct disk_limit {
	struct blockdev bd;
	struct blockdev *inner;
	int fd;			/* the current (writable) layer's file, for fstat */
	uint64_t frozen;	/* bytes allocated by the layers frozen since the wrap */
	uint64_t max;
	int hit;
	void (*on_hit)(void *opaque);
	void *opaque;
};

static int limit_preadv(struct blockdev *bd, const struct iovec *iov, int n, uint64_t off)
{
	struct disk_limit *l = bd->priv;

	return l->inner->ops->preadv(l->inner, iov, n, off);
}

static int limit_pwritev(struct blockdev *bd, const struct iovec *iov, int n, uint64_t off)
{
	struct disk_limit *l = bd->priv;
	struct stat st;

	if (fstat(l->fd, &st))
		return sbx_error_errno(SBX_EIO, "task disk");
	if ((uint64_t)st.st_blocks * 512 + l->frozen >= l->max) {
		if (!l->hit && l->on_hit)
			l->on_hit(l->opaque);
		l->hit = 1;
		return sbx_error_set(SBX_ELIMIT, "the task disk reached its limit");
	}
	return l->inner->ops->pwritev(l->inner, iov, n, off);
}

static int limit_flush(struct blockdev *bd)
{
	struct disk_limit *l = bd->priv;

	return l->inner->ops->flush(l->inner);
}

static int limit_discard(struct blockdev *bd, uint64_t off, uint64_t len)
{
	struct disk_limit *l = bd->priv;

	return l->inner->ops->discard(l->inner, off, len);
}

static int limit_write_zeroes(struct blockdev *bd, uint64_t off, uint64_t len)
{
	struct disk_limit *l = bd->priv;

	return l->inner->ops->write_zeroes(l->inner, off, len);
}

static int limit_revert(struct blockdev *bd)
{
	struct disk_limit *l = bd->priv;

	if (!l->inner->ops->revert)
		return sbx_error_set(SBX_EUNSUPPORTED, "this disk cannot be reverted");
	return l->inner->ops->revert(l->inner);
}

/* The layer that freezes still counts: the cap is on everything the task wrote. */
static int limit_freeze_switch(struct blockdev *bd, const char *path, int *layer_fd)
{
	struct disk_limit *l = bd->priv;
	struct stat st;
	int err, fd = -1;

	if (layer_fd)
		*layer_fd = -1;
	if (!l->inner->ops->freeze_switch)
		return sbx_error_set(SBX_EUNSUPPORTED, "this disk cannot take checkpoints");
	if (fstat(l->fd, &st))
		return sbx_error_errno(SBX_EIO, "task disk");
	if ((err = l->inner->ops->freeze_switch(l->inner, path, &fd)))
		return err;
	l->frozen += (uint64_t)st.st_blocks * 512;
	close(l->fd);
	l->fd = fd;
	if (layer_fd)
		*layer_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);	/* -1 is allowed: the switch happened */
	return 0;
}

static int limit_switch_fd(struct blockdev *bd, int overlay_fd, int frozen_fd, const char *name)
{
	struct disk_limit *l = bd->priv;
	struct stat st;
	int err, fd;

	if (!l->inner->ops->switch_fd)
		return sbx_error_set(SBX_EUNSUPPORTED, "this disk cannot take checkpoints");
	if (fstat(l->fd, &st))
		return sbx_error_errno(SBX_EIO, "task disk");
	/* Our own descriptor of the new layer for fstat, before the switch that cannot be undone. */
	fd = fcntl(overlay_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return sbx_error_errno(SBX_EIO, "cannot duplicate a descriptor");
	if ((err = l->inner->ops->switch_fd(l->inner, overlay_fd, frozen_fd, name))) {
		close(fd);
		return err;
	}
	l->frozen += (uint64_t)st.st_blocks * 512;
	close(l->fd);
	l->fd = fd;
	return 0;
}

static int limit_close(struct blockdev *bd)
{
	struct disk_limit *l = bd->priv;
	int err = blockdev_close(l->inner);

	if (l->fd >= 0)
		close(l->fd);
	free(l);
	return err;
}

static const struct blockdev_ops limit_ops = {
	.preadv = limit_preadv,
	.pwritev = limit_pwritev,
	.flush = limit_flush,
	.discard = limit_discard,
	.write_zeroes = limit_write_zeroes,
	.revert = limit_revert,
	.freeze_switch = limit_freeze_switch,
	.switch_fd = limit_switch_fd,
	.close = limit_close,
};

int sbx_disk_limit_wrap(struct blockdev **out, struct blockdev *inner, int fd, uint64_t max,
			void (*on_hit)(void *opaque), void *opaque)
{
	struct disk_limit *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l) {
		close(fd);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	l->fd = fd;
	l->inner = inner;
	l->max = max;
	l->on_hit = on_hit;
	l->opaque = opaque;
	l->bd = *inner;
	l->bd.ops = &limit_ops;
	l->bd.priv = l;
	*out = &l->bd;
	return 0;
}
