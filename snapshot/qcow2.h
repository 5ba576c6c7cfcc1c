/* SPDX-License-Identifier: MIT */
/*
 * qcow2 version 3 images: a strict subset (docs/formats.md, "qcow2").
 *
 * On-disk layout we read and write (all numbers big-endian):
 *
 *   header, cluster 0:
 *     off  size  field
 *       0     4  magic "QFI\xfb"
 *       4     4  version (3; 2 is refused)
 *       8     8  backing_file_offset (inside cluster 0, or 0)
 *      16     4  backing_file_size (<= 1023)
 *      20     4  cluster_bits (9..21; >= 14 with extended L2)
 *      24     8  size (virtual disk bytes)
 *      32     4  crypt_method (must be 0: encryption refused)
 *      36     4  l1_size (entries)
 *      40     8  l1_table_offset (cluster aligned)
 *      48     8  refcount_table_offset (cluster aligned)
 *      56     4  refcount_table_clusters
 *      60     4  nb_snapshots (non-zero: read-only, active L1 only)
 *      64     8  snapshots_offset
 *      72     8  incompatible_features: 0 dirty, 1 corrupt, 2 external data
 *                file (refused), 3 compression type, 4 extended L2; any
 *                other bit is refused
 *      80     8  compatible_features: 0 lazy refcounts
 *      88     8  autoclear_features: 0 bitmaps (images with bitmaps are
 *                read-only for us), 1 raw external data (refused)
 *      96     4  refcount_order (0..6; we write 4)
 *     100     4  header_length (104 or 112, multiple of 8)
 *     104     1  compression_type (0 deflate, 1 zstd) when header_length > 104
 *     105     7  padding
 *   then header extensions (type u32, length u32, data padded to 8):
 *     0xe2792aca backing format ("qcow2" or "raw"; required with a backing file)
 *     0x6803f857 feature name table, 0x23852875 bitmaps (read-only),
 *     0x0537be77 encryption (refused), 0x44415441 external data file (refused),
 *     0 end; unknown types are skipped and preserved
 *   then the backing file name (not NUL-terminated).
 *
 *   L1 table (l1_size x u64): bits 9-55 L2 table offset, bit 63 "copied".
 *   L2 table (one cluster): u64 entries, or 128-bit entries with extended L2:
 *     bit 0 zero (standard L2 only), bits 9-55 host cluster offset,
 *     bit 62 compressed, bit 63 copied; extended L2 adds a u64 bitmap,
 *     bits 0-31 subcluster allocated, 32-63 subcluster reads as zeroes.
 *     Compressed (x = 62 - (cluster_bits - 8)): bits 0..x-1 byte offset,
 *     x..61 additional 512-byte sectors.
 *   Refcount table (u64 block offsets) and blocks (2^refcount_order bits each).
 *
 * Writing: clusters are only ever appended while an image is open (never
 * reused), refcounts are lazy (dirty bit set before the first write, rebuilt
 * from the L1/L2 tables on clean close and on the next writable open after
 * a crash), and metadata reaches the disk in the order data, flush, L2,
 * flush, L1/header, so a crash may leak clusters but never loses a flushed
 * write or cross-links clusters.
 */
#ifndef SBX_SNAPSHOT_QCOW2_H
#define SBX_SNAPSHOT_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct qcow2;

/*
 * Every read, write, flush and hole punch of an image file goes through
 * these, so tests can fail or tear the Nth write.  Return like the syscalls
 * (byte count or -1 with errno).
 */
struct qcow2_io_ops {
	ssize_t (*preadv)(void *ctx, int fd, const struct iovec *iov, int cnt, uint64_t off);
	ssize_t (*pwritev)(void *ctx, int fd, const struct iovec *iov, int cnt, uint64_t off);
	int (*sync)(void *ctx, int fd);
	int (*punch)(void *ctx, int fd, uint64_t off, uint64_t len);
};
extern const struct qcow2_io_ops qcow2_default_io;

struct qcow2_create_opts {
	uint64_t size;			/* bytes, multiple of 512; 0 with a backing file: its size */
	unsigned cluster_bits;		/* 9..21; default 16 (64 KiB) */
	bool extended_l2;		/* 32 subclusters per cluster (cluster_bits >= 14) */
	const char *backing_file;	/* as written into the image (relative to it) */
	const char *backing_format;	/* "qcow2" or "raw": required with backing_file */
	int compression_type;		/* 0 deflate, 1 zstd (for clusters we compress) */
};
#define QCOW2_CREATE_OPTS_INIT { 0, 16, false, NULL, NULL, 0 }

struct qcow2_open_opts {
	bool read_only;
	bool no_backing;		/* do not open the backing chain (check, info) */
	bool no_repair;			/* writable, but a dirty image is not repaired on open */
	size_t l2_cache_bytes;		/* 0: 4 MiB; at least 4 tables either way */
	unsigned max_depth;		/* backing chain length limit; 0: 32 */
	const struct qcow2_io_ops *io;	/* NULL: qcow2_default_io */
	void *io_ctx;
};
#define QCOW2_OPEN_OPTS_INIT { false, false, false, 0, 0, NULL, NULL }

struct qcow2_info {
	uint64_t size;
	unsigned cluster_bits;
	bool extended_l2;
	bool dirty, corrupt, lazy_refcounts;
	int compression_type;
	unsigned refcount_bits;
	uint32_t nb_snapshots;
	char backing_file[1024];
	char backing_format[32];
	uint64_t file_bytes;		/* apparent file size */
	uint64_t disk_bytes;		/* allocated on the host (st_blocks) */
	unsigned depth;			/* layers below this one that were opened */
};

/* Create a new image; SBX_EEXISTS if the path exists. */
int qcow2_create(const char *path, const struct qcow2_create_opts *opts);
/* Open an image and (unless no_backing) its backing chain read-only. */
int qcow2_open(struct qcow2 **out, const char *path, const struct qcow2_open_opts *opts);
/* Flush, rebuild refcounts and clear the dirty bit when we wrote; NULL-safe. */
int qcow2_close(struct qcow2 *q);

uint64_t qcow2_size(const struct qcow2 *q);
void qcow2_get_info(const struct qcow2 *q, struct qcow2_info *info);

/* Offsets and lengths are multiples of 512 inside the disk. */
int qcow2_preadv(struct qcow2 *q, const struct iovec *iov, int iovcnt, uint64_t off);
int qcow2_pwritev(struct qcow2 *q, const struct iovec *iov, int iovcnt, uint64_t off);
int qcow2_read(struct qcow2 *q, void *buf, size_t len, uint64_t off);
int qcow2_write(struct qcow2 *q, const void *buf, size_t len, uint64_t off);
/* The range reads as zeroes afterwards; clusters are dropped, never reused while open. */
int qcow2_write_zeroes(struct qcow2 *q, uint64_t off, uint64_t len);
/* Whole (sub)clusters in the range read as zeroes afterwards; the rest is untouched. */
int qcow2_discard(struct qcow2 *q, uint64_t off, uint64_t len);
int qcow2_flush(struct qcow2 *q);
/*
 * Drop every write since the image was opened, so it reads as its backing
 * file again (an in-place reset of a VM: vmm/vm-state.c).  Only for an
 * image that held no data when opened (a fresh overlay): its file is cut
 * back to its size then.  SBX_EUNSUPPORTED for any other.
 */
int qcow2_revert(struct qcow2 *q);

struct qcow2_check_result {
	uint64_t corruptions;		/* structural errors: never repaired */
	uint64_t leaks;			/* refcount > references */
	uint64_t stale_refcounts;	/* refcount < references in a dirty (lazy) image */
	uint64_t repaired;		/* leaks + stale fixed by a repair */
	uint64_t allocated_clusters;	/* guest clusters with data in this layer */
	uint64_t total_clusters;	/* guest clusters */
	uint64_t compressed_clusters;
	uint64_t image_end_offset;
	bool dirty;
	char first_error[256];		/* the first corruption, for humans */
};

/*
 * Check one image (not its backing chain).  With repair, rebuild refcounts
 * when only leaks or stale refcounts were found (never touch an image with
 * corruptions); the result then describes the image after the repair.
 * Returns 0 when the check ran (whatever it found), an error otherwise.
 */
int qcow2_check(const char *path, bool repair, struct qcow2_check_result *res);

/*
 * Checkpoints (snapshot/qcow2-switch.c).  Freeze the writable top `*top` of
 * an open chain and go on writing to a new empty overlay at `path` (which
 * must not exist) whose backing file is the old top, named relative to the
 * overlay's directory where the two share more than the root.  In order:
 * create the overlay as "<path>.tmp.<pid>", sync it, link it to `path`,
 * sync the directory, open it; flush and rebuild the old top's refcounts
 * (it is a clean image from now on); turn the old top's exclusive lock into
 * a shared one on a read-only descriptor, and only then switch in memory:
 * *top is the new overlay, the old top its read-only backing, never written
 * again.  A crash anywhere leaves the old top a valid image and the new
 * file at worst an orphan.  On failure *top is unchanged and still writable
 * and `path` was not created.  `layer_fd`, if not NULL, receives a new
 * O_CLOEXEC descriptor of the overlay (for fstat).  The caller serialises
 * this with every other call on the chain (no request in flight).
 */
int qcow2_freeze_switch(struct qcow2 **top, const char *path, int *layer_fd);
/*
 * The same in two halves, for a disk held by a process that cannot open
 * files (the confined VMM, sbx/vmm-child.c).
 *
 * qcow2_create_overlay, by the process that can: a new empty overlay at
 * `path` (which must not exist) over the image `top`, with top's size and
 * cluster layout (read from its header without a lock: top may be another
 * process's writable layer), its backing file named as above; created as
 * "<path>.tmp.<pid>", synced, linked to `path`, the directory synced.  With
 * fd, *fd is an O_RDWR descriptor of it that holds the exclusive lock (an
 * OFD lock: it goes with the descriptor to the process it is passed to).
 * Until a switch uses it, the file is an orphan a crash may leave.
 *
 * qcow2_switch_fd, by the holder of the open chain: the switch of
 * qcow2_freeze_switch from step "flush" on, with the overlay's descriptor
 * (read-write) instead of its path and `frozen_fd`, an O_RDONLY descriptor
 * of the current top that replaces the writable one (-1: keep the old one,
 * its lock made shared).  The overlay must be an empty qcow2 of the top's
 * size over a qcow2 backing file (its name cannot be resolved here: the
 * caller made it with qcow2_create_overlay over this top).  `name` names it
 * in messages.  On success the chain owns both descriptors; on failure
 * they are still the caller's and *top is unchanged and still writable.
 */
int qcow2_create_overlay(const char *path, const char *top, int *fd);
int qcow2_switch_fd(struct qcow2 **top, int overlay_fd, int frozen_fd, const char *name);
/*
 * Squash the frozen layer `lower` into `upper`, whose backing file it is:
 * write upper's content over lower's backing file (none if lower has none)
 * as "<upper>.tmp.<pid>", sync, rename it over `upper`, sync the directory.
 * Readers of the chain read the same bytes before and after; `lower` is not
 * touched (other layers may back onto it: remove it when nothing does).
 * SBX_ELOCKED if `upper` is open for writing (the running VM's top).
 */
int qcow2_squash_into(const char *upper, const char *lower);
/* The backing file name in `path`'s header ("" when none), read without taking a lock. */
int qcow2_read_backing_name(char *out, size_t len, const char *path);
/* `target` as named from directory `from_dir`: relative unless only the root is shared. */
int qcow2_relative_name(char **out, const char *from_dir, const char *target);

/* Merge the chain above `base` (NULL: everything) into a new image `out`. */
int qcow2_squash(const char *top, const char *base, const char *out);
/* Rewrite `path` (its own clusters) zstd-compressed into `out` (NULL: replace path), read-only. */
int qcow2_seal(const char *path, const char *out);

#endif
