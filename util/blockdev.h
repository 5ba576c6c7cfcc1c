/* SPDX-License-Identifier: MIT */
/*
 * The block-backend interface: what virtio-blk (vmm/) reads and writes
 * through, and what disk formats (snapshot/: raw files, qcow2 chains)
 * provide.  It lives in util/ because both layers use it and neither may
 * point at the other.
 *
 * Requests are shaped like I/O submissions (an iovec array and an offset)
 * so a backend can later complete them on a worker thread or io_uring
 * without changing devices; today every call completes before it returns.
 * A device serialises its own calls; backends need not be thread-safe.
 *
 * Offsets and lengths are in bytes and multiples of 512.  Every call
 * returns 0 or a negative SBX_E* code with a message (util/error.h).
 */
#ifndef SBX_UTIL_BLOCKDEV_H
#define SBX_UTIL_BLOCKDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define BLOCKDEV_SECTOR 512

struct blockdev;

struct blockdev_ops {
	int (*preadv)(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t offset);
	int (*pwritev)(struct blockdev *bd, const struct iovec *iov, int iovcnt, uint64_t offset);
	/* Everything written before is durable when this returns 0. */
	int (*flush)(struct blockdev *bd);
	/* The range may read back as zeroes or as its old contents (NULL: unsupported). */
	int (*discard)(struct blockdev *bd, uint64_t offset, uint64_t len);
	/* The range reads back as zeroes (NULL: unsupported; the device writes zero buffers). */
	int (*write_zeroes)(struct blockdev *bd, uint64_t offset, uint64_t len);
	/*
	 * Drop every write since the open: the disk reads as it did then
	 * (NULL: unsupported; qcow2 supports it for a fresh overlay).
	 */
	int (*revert)(struct blockdev *bd);
	/*
	 * Checkpoint the disk: freeze what it holds now in its current layer
	 * file (never written again) and go on writing to a new empty overlay
	 * file at `path` over it; the same struct blockdev reads the same bytes
	 * before and after (NULL: unsupported; qcow2: qcow2_freeze_switch, whose
	 * crash-safety and failure behaviour it has).  `layer_fd`, if not NULL,
	 * receives a descriptor of the new file (-1 from a wrapper that could
	 * not duplicate it after the switch).  No request may be in flight.
	 */
	int (*freeze_switch)(struct blockdev *bd, const char *path, int *layer_fd);
	/*
	 * The same switch with descriptors, for a process that cannot open
	 * files (the confined VMM): `overlay_fd` (read-write) is a new empty
	 * overlay over the disk's current top that another process made
	 * (qcow2_create_overlay), `frozen_fd` (read-only, or -1) a descriptor
	 * of the current top that replaces the disk's writable one, `name` the
	 * overlay's name in messages (NULL: none).  On success the disk owns
	 * both descriptors; on failure the caller still does and the disk goes
	 * on as before (NULL: unsupported; qcow2: qcow2_switch_fd).  No request
	 * may be in flight.
	 */
	int (*switch_fd)(struct blockdev *bd, int overlay_fd, int frozen_fd, const char *name);
	/* Flush if writable and free everything; NULL-safe through blockdev_close(). */
	int (*close)(struct blockdev *bd);
};

struct blockdev {
	const struct blockdev_ops *ops;
	uint64_t size;		/* bytes, a multiple of 512 */
	bool read_only;
	char serial[21];	/* virtio-blk GET_ID: up to 20 bytes, NUL-padded */
	void *priv;		/* the backend's */
};

/* Flush (if writable), free, and return the first error. */
int blockdev_close(struct blockdev *bd);

/* Open a raw image file.  SBX_ELOCKED if another process holds a conflicting OFD lock. */
int blockdev_open_raw(struct blockdev **out, const char *path, bool read_only);

/*
 * Open a qcow2 image (snapshot/qcow2.h) and its backing chain, which is
 * always read-only.  The image is locked (one writer; readers of backing
 * files shared): SBX_ELOCKED otherwise.
 */
int blockdev_open_qcow2(struct blockdev **out, const char *path, bool read_only);

enum blockdev_format {
	BLOCKDEV_FORMAT_AUTO,	/* by the file's first bytes (snapshot/image-format.c) */
	BLOCKDEV_FORMAT_RAW,
	BLOCKDEV_FORMAT_QCOW2,
};

/*
 * Open a disk image as `format`.  AUTO: qcow2 by its magic, raw when no
 * known format's magic is there, and any other known format (VMDK, VDI,
 * VHD/VHDX, QED, LUKS, qcow v1, ...) refused by name.  RAW on a file that
 * is a known image is refused unless read-only (the guest would write over
 * the image's header); QCOW2 on anything else fails qcow2_open's checks.
 */
int blockdev_open_image(struct blockdev **out, const char *path, bool read_only,
			enum blockdev_format format);

/* The name of the image format whose magic `head` starts with, or NULL (raw). */
const char *blockdev_format_sniff(const uint8_t *head, size_t len);

/* "raw", "qcow2", "auto" -> *format; SBX_EINVAL otherwise. */
int blockdev_parse_format(const char *name, enum blockdev_format *format);

#endif
