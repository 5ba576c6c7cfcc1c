// SPDX-License-Identifier: MIT
/* A qcow2 chain as a block backend (util/blockdev.h): what virtio-blk reads and writes. */
#include "snapshot/qcow2.h"
#include "util/blockdev.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct qbd {
	struct blockdev bd;
	struct qcow2 *q;
};

static struct qcow2 *Q(struct blockdev *bd)
{
	return ((struct qbd *)bd->priv)->q;
}

static int qbd_preadv(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	return qcow2_preadv(Q(bd), iov, iovcnt, offset);
}

static int qbd_pwritev(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	return qcow2_pwritev(Q(bd), iov, iovcnt, offset);
}

static int qbd_flush(struct blockdev *bd)
{
	return qcow2_flush(Q(bd));
}

static int qbd_discard(struct blockdev *bd, uint64_t offset, uint64_t len)
{
	return qcow2_discard(Q(bd), offset, len);
}

static int qbd_write_zeroes(struct blockdev *bd, uint64_t offset, uint64_t len)
{
	return qcow2_write_zeroes(Q(bd), offset, len);
}

static int qbd_revert(struct blockdev *bd)
{
	return qcow2_revert(Q(bd));
}

static int qbd_freeze_switch(struct blockdev *bd, const char *path, int *layer_fd)
{
	struct qbd *b = bd->priv;

	if (bd->read_only)
		return sbx_error_set(SBX_EINVAL, "a read-only disk has nothing to checkpoint");
	return qcow2_freeze_switch(&b->q, path, layer_fd);
}

static int qbd_switch_fd(struct blockdev *bd, int overlay_fd, int frozen_fd, const char *name)
{
	struct qbd *b = bd->priv;

	if (bd->read_only)
		return sbx_error_set(SBX_EINVAL, "a read-only disk has nothing to checkpoint");
	return qcow2_switch_fd(&b->q, overlay_fd, frozen_fd, name);
}

static int qbd_close(struct blockdev *bd)
{
	struct qbd *b = bd->priv;
	int err = qcow2_close(b->q);

	free(b);
	return err;
}

static const struct blockdev_ops qcow2_blockdev_ops = {
	.preadv = qbd_preadv,
	.pwritev = qbd_pwritev,
	.flush = qbd_flush,
	.discard = qbd_discard,
	.write_zeroes = qbd_write_zeroes,
	.revert = qbd_revert,
	.freeze_switch = qbd_freeze_switch,
	.switch_fd = qbd_switch_fd,
	.close = qbd_close,
};

int blockdev_open_qcow2(struct blockdev **out, const char *path, bool read_only)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct qbd *b;
	const char *base = strrchr(path, '/');
	int err;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	o.read_only = read_only;
	if ((err = qcow2_open(&b->q, path, &o))) {
		free(b);
		return err;
	}
	b->bd.ops = &qcow2_blockdev_ops;
	b->bd.size = qcow2_size(b->q);
	b->bd.read_only = read_only;
	b->bd.priv = b;
	snprintf(b->bd.serial, sizeof(b->bd.serial), "%s", base ? base + 1 : path);
	*out = &b->bd;
	return 0;
}
