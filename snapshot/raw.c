// SPDX-License-Identifier: MIT
/* A raw image file as a block backend: pread/pwrite, fdatasync, punch holes. */
#include "util/blockdev.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct raw {
	struct blockdev bd;
	int fd;
};

static int raw_io(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t offset,
		  bool write)
{
	struct raw *r = bd->priv;
	int i;

	for (i = 0; i < iovcnt; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		if (offset > bd->size || left > bd->size - offset)
			return sbx_error_set(SBX_EINVAL, "I/O beyond the end of the disk");
		while (left) {
			ssize_t n = write ? pwrite(r->fd, p, left, (off_t)offset)
					  : pread(r->fd, p, left, (off_t)offset);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return sbx_error_errno(SBX_EIO, "%s of %zu bytes at %llu",
						       write ? "write" : "read", left,
						       (unsigned long long)offset);
			if (n == 0) {
				if (write)
					return sbx_error_set(SBX_EIO, "short write");
				memset(p, 0, left);	/* a file shorter than its size reads as zeroes */
				n = (ssize_t)left;
			}
			p += n;
			left -= (size_t)n;
			offset += (uint64_t)n;
		}
	}
	return 0;
}

static int raw_preadv(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	return raw_io(bd, iov, iovcnt, offset, false);
}

static int raw_pwritev(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	if (bd->read_only)
		return sbx_error_set(SBX_EINVAL, "the disk is read-only");
	return raw_io(bd, iov, iovcnt, offset, true);
}

static int raw_flush(struct blockdev *bd)
{
	struct raw *r = bd->priv;

	if (!bd->read_only && fdatasync(r->fd))
		return sbx_error_errno(SBX_EIO, "fdatasync");
	return 0;
}

static int raw_punch(struct blockdev *bd, uint64_t offset, uint64_t len)
{
	struct raw *r = bd->priv;

	if (bd->read_only)
		return sbx_error_set(SBX_EINVAL, "the disk is read-only");
	if (offset > bd->size || len > bd->size - offset)
		return sbx_error_set(SBX_EINVAL, "discard beyond the end of the disk");
	if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len)) {
		/* No hole punching here: write zeroes. */
		static const uint8_t zero[65536];

		while (len) {
			size_t n = len < sizeof(zero) ? (size_t)len : sizeof(zero);
			struct iovec v = { (void *)zero, n };
			int err = raw_io(bd, &v, 1, offset, true);

			if (err)
				return err;
			offset += n;
			len -= n;
		}
	}
	return 0;
}

static int raw_close(struct blockdev *bd)
{
	struct raw *r = bd->priv;
	int err = raw_flush(bd);

	if (close(r->fd) && !err)
		err = sbx_error_errno(SBX_EIO, "close");
	free(r);
	return err;
}

static const struct blockdev_ops raw_ops = {
	.preadv = raw_preadv,
	.pwritev = raw_pwritev,
	.flush = raw_flush,
	.discard = raw_punch,
	.write_zeroes = raw_punch,
	.close = raw_close,
};

int blockdev_close(struct blockdev *bd)
{
	return bd ? bd->ops->close(bd) : 0;
}

int blockdev_open_raw(struct blockdev **out, const char *path, bool read_only)
{
	struct flock lk = { .l_type = read_only ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
	struct stat st;
	struct raw *r;
	const char *base;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	r->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (r->fd < 0) {
		int code = errno == ENOENT ? SBX_ENOTFOUND : SBX_EIO;

		free(r);
		return sbx_error_errno(code, "cannot open '%s'", path);
	}
	if (fcntl(r->fd, F_OFD_SETLK, &lk)) {
		close(r->fd);
		free(r);
		return sbx_error_set(SBX_ELOCKED, "'%s' is in use by another process", path);
	}
	if (fstat(r->fd, &st)) {
		close(r->fd);
		free(r);
		return sbx_error_errno(SBX_EIO, "cannot stat '%s'", path);
	}
	r->bd.ops = &raw_ops;
	r->bd.size = (uint64_t)st.st_size & ~(uint64_t)(BLOCKDEV_SECTOR - 1);
	r->bd.read_only = read_only;
	r->bd.priv = r;
	base = strrchr(path, '/');
	snprintf(r->bd.serial, sizeof(r->bd.serial), "%s", base ? base + 1 : path);
	*out = &r->bd;
	return 0;
}
