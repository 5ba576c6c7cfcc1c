// SPDX-License-Identifier: MIT
/* A ustar archive writer (sbx/tar.h). */
#include "sbx/tar.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int write_at(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = pwrite(fd, b, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return sbx_error_errno(SBX_EIO, "cannot write the archive");
		b += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int header(uint8_t h[SBX_TAR_BLOCK], const char *name, unsigned mode, uint64_t size)
{
	unsigned sum = 0;
	size_t i;

	if (!*name || strlen(name) > 99)
		return sbx_error_set(SBX_EINVAL, "archive entry name '%s' is empty or too long", name);
	if (size >= (1ULL << 33))
		return sbx_error_set(SBX_ELIMIT, "archive entry '%s' is 8 GiB or more", name);
	memset(h, 0, SBX_TAR_BLOCK);
	memcpy(h, name, strlen(name));
	snprintf((char *)h + 100, 8, "%07o", mode & 07777);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011llo", (unsigned long long)time(NULL));
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memcpy(h + 265, "root", 4);
	memcpy(h + 297, "root", 4);
	/* The checksum: every byte, the checksum field counted as spaces. */
	memset(h + 148, ' ', 8);
	for (i = 0; i < SBX_TAR_BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return 0;
}

static int pad(struct sbx_tar *t)
{
	static const uint8_t zero[SBX_TAR_BLOCK];
	size_t n = (size_t)((SBX_TAR_BLOCK - t->off % SBX_TAR_BLOCK) % SBX_TAR_BLOCK);
	int err = n ? write_at(t->fd, zero, n, t->off) : 0;

	if (!err)
		t->off += n;
	return err;
}

void sbx_tar_init(struct sbx_tar *t, int fd)
{
	memset(t, 0, sizeof(*t));
	t->fd = fd;
}

int sbx_tar_add(struct sbx_tar *t, const char *name, unsigned mode, const void *data, size_t len)
{
	uint8_t h[SBX_TAR_BLOCK];
	int err;

	if (t->open)
		return sbx_error_set(SBX_EINVAL, "an archive entry is still open");
	if ((err = header(h, name, mode, len)) || (err = write_at(t->fd, h, sizeof(h), t->off)))
		return err;
	t->off += sizeof(h);
	if (len && (err = write_at(t->fd, data, len, t->off)))
		return err;
	t->off += len;
	return pad(t);
}

int sbx_tar_begin(struct sbx_tar *t, const char *name, unsigned mode)
{
	uint8_t h[SBX_TAR_BLOCK];
	int err;

	if (t->open)
		return sbx_error_set(SBX_EINVAL, "an archive entry is still open");
	/* A placeholder with the right name; sbx_tar_end() writes the size. */
	if ((err = header(h, name, mode, 0)) || (err = write_at(t->fd, h, sizeof(h), t->off)))
		return err;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->mode = mode;
	t->hdr_off = t->off;
	t->off += sizeof(h);
	if (lseek(t->fd, (off_t)t->off, SEEK_SET) < 0)
		return sbx_error_errno(SBX_EIO, "cannot seek in the archive");
	t->open = true;
	return 0;
}

int sbx_tar_end(struct sbx_tar *t)
{
	uint8_t h[SBX_TAR_BLOCK];
	off_t end = lseek(t->fd, 0, SEEK_CUR);
	int err;

	if (!t->open)
		return sbx_error_set(SBX_EINVAL, "no archive entry is open");
	if (end < 0 || (uint64_t)end < t->off)
		return sbx_error_errno(SBX_EIO, "cannot find the end of archive entry '%s'", t->name);
	t->open = false;
	if ((err = header(h, t->name, t->mode, (uint64_t)end - t->off)) ||
	    (err = write_at(t->fd, h, sizeof(h), t->hdr_off)))
		return err;
	t->off = (uint64_t)end;
	return pad(t);
}

int sbx_tar_drop(struct sbx_tar *t)
{
	if (!t->open)
		return 0;
	t->open = false;
	t->off = t->hdr_off;
	if (ftruncate(t->fd, (off_t)t->off) || lseek(t->fd, (off_t)t->off, SEEK_SET) < 0)
		return sbx_error_errno(SBX_EIO, "cannot cut the archive");
	return 0;
}

int sbx_tar_finish(struct sbx_tar *t)
{
	static const uint8_t zero[2 * SBX_TAR_BLOCK];
	int err;

	if (t->open)
		return sbx_error_set(SBX_EINVAL, "archive entry '%s' is still open", t->name);
	if ((err = write_at(t->fd, zero, sizeof(zero), t->off)))
		return err;
	t->off += sizeof(zero);
	if (ftruncate(t->fd, (off_t)t->off))
		return sbx_error_errno(SBX_EIO, "cannot cut the archive");
	return 0;
}
