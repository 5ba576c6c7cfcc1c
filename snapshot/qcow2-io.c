// SPDX-License-Identifier: MIT
/* qcow2 file I/O through an ops table (tests fail or tear the Nth write) and iovec helpers. */
#include "snapshot/qcow2-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

static ssize_t def_preadv(void *ctx, int fd, const struct iovec *iov, int cnt, uint64_t off)
{
	(void)ctx;
	return preadv(fd, iov, cnt, (off_t)off);
}

static ssize_t def_pwritev(void *ctx, int fd, const struct iovec *iov, int cnt, uint64_t off)
{
	(void)ctx;
	return pwritev(fd, iov, cnt, (off_t)off);
}

static int def_sync(void *ctx, int fd)
{
	(void)ctx;
	return fdatasync(fd);
}

static int def_punch(void *ctx, int fd, uint64_t off, uint64_t len)
{
	(void)ctx;
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
}

const struct qcow2_io_ops qcow2_default_io = {
	.preadv = def_preadv,
	.pwritev = def_pwritev,
	.sync = def_sync,
	.punch = def_punch,
};

size_t iov_size(const struct iovec *iov, int cnt)
{
	size_t n = 0;
	int i;

	for (i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

int iov_slice(struct iovec *out, int max, const struct iovec *iov, int cnt, size_t skip,
	      size_t len)
{
	int i, n = 0;

	for (i = 0; i < cnt && len; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		if (n == max)
			return -1;
		out[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[n].iov_len = l - skip < len ? l - skip : len;
		len -= out[n].iov_len;
		skip = 0;
		n++;
	}
	return len ? -1 : n;
}

static void iov_copy(const struct iovec *iov, int cnt, size_t skip, void *buf, const void *src,
		     size_t len, int c)
{
	int i;

	for (i = 0; i < cnt && len; i++) {
		size_t l = iov[i].iov_len, n;
		uint8_t *p;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		p = (uint8_t *)iov[i].iov_base + skip;
		n = l - skip < len ? l - skip : len;
		if (buf) {
			memcpy(buf, p, n);
			buf = (uint8_t *)buf + n;
		} else if (src) {
			memcpy(p, src, n);
			src = (const uint8_t *)src + n;
		} else {
			memset(p, c, n);
		}
		len -= n;
		skip = 0;
	}
}

void iov_to_buf(const struct iovec *iov, int cnt, size_t skip, void *buf, size_t len)
{
	iov_copy(iov, cnt, skip, buf, NULL, len, 0);
}

void buf_to_iov(const struct iovec *iov, int cnt, size_t skip, const void *buf, size_t len)
{
	iov_copy(iov, cnt, skip, NULL, buf, len, 0);
}

void iov_memset(const struct iovec *iov, int cnt, size_t skip, int c, size_t len)
{
	iov_copy(iov, cnt, skip, NULL, NULL, len, c);
}

/* Advance an iovec array in place by n bytes; returns the new start. */
static int iov_advance(struct iovec **piov, int cnt, size_t n)
{
	struct iovec *iov = *piov;

	while (cnt && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		cnt--;
	}
	if (cnt && n) {
		iov->iov_base = (uint8_t *)iov->iov_base + n;
		iov->iov_len -= n;
	}
	*piov = iov;
	return cnt;
}

static int qio_rw(struct qcow2 *q, const struct iovec *iov, int cnt, uint64_t off, bool write)
{
	struct iovec stack[16], *v = stack, *cur;
	size_t left = iov_size(iov, cnt);
	int ret = 0;

	if (cnt > IOV_MAX)
		return sbx_error_set(SBX_EINVAL, "too many I/O vectors");
	if (off >= QCOW2_MAX_OFFSET || left > QCOW2_MAX_OFFSET - off)
		return sbx_error_set(SBX_EIO, "I/O beyond the largest qcow2 offset");
	if (cnt > (int)ARRAY_SIZE(stack)) {
		v = malloc((size_t)cnt * sizeof(*v));
		if (!v)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	memcpy(v, iov, (size_t)cnt * sizeof(*v));
	cur = v;
	while (left) {
		ssize_t n = write ? q->io->pwritev(q->io_ctx, q->fd, cur, cnt, off)
				  : q->io->preadv(q->io_ctx, q->fd, cur, cnt, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = sbx_error_errno(SBX_EIO, "%s '%s' at %llu", write ? "write to" : "read from",
					      q->path, (unsigned long long)off);
			break;
		}
		if (n == 0) {
			if (write) {
				ret = sbx_error_set(SBX_EIO, "short write to '%s'", q->path);
				break;
			}
			/* Beyond the end of the file: zeroes (sparse tails). */
			iov_memset(cur, cnt, 0, 0, left);
			break;
		}
		left -= (size_t)n;
		off += (uint64_t)n;
		cnt = iov_advance(&cur, cnt, (size_t)n);
	}
	if (v != stack)
		free(v);
	if (ret && write)
		q->broken = true;
	return ret;
}

int qio_preadv(struct qcow2 *q, const struct iovec *iov, int cnt, uint64_t off)
{
	return qio_rw(q, iov, cnt, off, false);
}

int qio_pread(struct qcow2 *q, void *buf, size_t len, uint64_t off)
{
	struct iovec v = { buf, len };

	return qio_rw(q, &v, 1, off, false);
}

int qio_pwritev(struct qcow2 *q, const struct iovec *iov, int cnt, uint64_t off)
{
	return qio_rw(q, iov, cnt, off, true);
}

int qio_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
	struct iovec v = { (void *)buf, len };

	return qio_rw(q, &v, 1, off, true);
}

int qio_sync(struct qcow2 *q)
{
	if (q->io->sync(q->io_ctx, q->fd)) {
		q->broken = true;
		return sbx_error_errno(SBX_EIO, "flushing '%s'", q->path);
	}
	return 0;
}

/* Free the host blocks of a dropped cluster; where the filesystem cannot, keep them. */
int qio_punch(struct qcow2 *q, uint64_t off, uint64_t len)
{
	if (q->io->punch && q->io->punch(q->io_ctx, q->fd, off, len) &&
	    errno != EOPNOTSUPP && errno != ENOSYS)
		return sbx_error_errno(SBX_EIO, "freeing %llu bytes of '%s'", (unsigned long long)len,
				       q->path);
	return 0;
}

/* Make a reused cluster read as zeroes; false where holes cannot be punched. */
bool qio_zero_cluster(struct qcow2 *q, uint64_t off)
{
	return q->io->punch && !q->io->punch(q->io_ctx, q->fd, off, q->cluster_size);
}
