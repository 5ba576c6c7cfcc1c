/* SPDX-License-Identifier: MIT */
/*
 * A ustar archive writer (POSIX.1-2001 pax's ustar format, without pax
 * headers): the files a task stages in the guest's /run/sbx go in one
 * archive, extracted by one `tar -x` there, one exec instead of one each.
 *
 * Each entry is a 512-byte header (name, octal mode, uid and gid 0, octal
 * size, mtime, checksum, type '0', "ustar\0" "00") then its bytes padded to
 * 512; the archive ends with two zero blocks.  Names are at most 99 bytes,
 * sizes below 8 GiB (11 octal digits).
 */
#ifndef SBX_SBX_TAR_H
#define SBX_SBX_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SBX_TAR_BLOCK 512

struct sbx_tar {
	int fd;			/* written at its offset, from the start of the archive */
	uint64_t off;		/* bytes written so far */
	uint64_t hdr_off;	/* the open entry's header (sbx_tar_begin) */
	char name[100];
	unsigned mode;
	bool open;
};

/* Start an archive on `fd` (a regular file: entries begun are patched in place). */
void sbx_tar_init(struct sbx_tar *t, int fd);
/* A whole entry from memory. */
int sbx_tar_add(struct sbx_tar *t, const char *name, unsigned mode, const void *data, size_t len);
/*
 * An entry whose bytes the caller writes to t->fd next, then
 * sbx_tar_end() (which counts them from the file's offset), or
 * sbx_tar_drop() to leave it out.
 */
int sbx_tar_begin(struct sbx_tar *t, const char *name, unsigned mode);
int sbx_tar_end(struct sbx_tar *t);
int sbx_tar_drop(struct sbx_tar *t);
/* The two zero blocks; the archive is then whole. */
int sbx_tar_finish(struct sbx_tar *t);

#endif
