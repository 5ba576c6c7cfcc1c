/* SPDX-License-Identifier: MIT */
/*
 * Guest images: a kernel bundle (Debian's stock cloud kernel + an initramfs
 * holding sbx-init and the modules it needs), a read-only root image
 * (squashfs, zstd) built from a rootfs tarball without root privileges or
 * loop devices, and the empty ext4 that every task disk starts from.
 *
 * The store lives under $SBX_CACHE_DIR (default ~/.cache/git-sbx):
 *   images/<id>/{vmlinuz,initrd.img,root.sqfs,task-base.img,manifest}
 *   images/names/<name>   the id a name points at
 * An image's id is the SHA-256 of its parts' SHA-256s, so the same inputs
 * give the same id and building twice stores one image.
 */
#ifndef SBX_SBX_IMAGE_H
#define SBX_SBX_IMAGE_H

#include <limits.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define SBX_IMAGE_DEFAULT_NAME "default"

struct sbx_image {
	char id[65];
	char name[64];			/* the name it was built as */
	char preset[32], agent[32];
	char kernel_version[64];
	char init_hash[65];		/* sha256 of the sbx-init in initrd.img ("" before it was recorded) */
	char dir[PATH_MAX];
	char kernel[PATH_MAX], initrd[PATH_MAX], root[PATH_MAX], task_base[PATH_MAX];
	uint64_t created;		/* unix seconds */
	uint64_t bytes;			/* on disk, all parts */
};

typedef void (*sbx_progress_fn)(void *opaque, const char *what);

struct sbx_image_build_opts {
	const char *preset;		/* "minimal" or "default" (the default) */
	const char *agent;		/* NULL, or claude, codex, gemini (npm), aider (pipx) */
	const char *from_tar;		/* a rootfs tarball instead of a preset */
	const char *name;		/* NULL: SBX_IMAGE_DEFAULT_NAME */
	const char *kernel_dir;		/* an extracted linux-image-*-cloud-amd64; NULL: the cache's */
	const char *mirror;		/* Debian mirror for mmdebstrap; NULL: its default */
	sbx_progress_fn progress;
	void *opaque;
};
#define SBX_IMAGE_BUILD_OPTS_INIT { 0 }

/* $SBX_CACHE_DIR or ~/.cache/git-sbx, created if needed. */
int sbx_cache_dir(char *out, size_t outlen);
int sbx_image_build(struct sbx_image *out, const struct sbx_image_build_opts *o);
/* By name, full id, or unique id prefix (>= 4 hex digits).  NULL: the default name. */
int sbx_image_resolve(struct sbx_image *out, const char *name_or_id);
/*
 * The initramfs to boot `img` with: its own initrd.img when that holds this
 * git-sbx's sbx-init, else (an image built by an older git-sbx) initrd.img
 * with this sbx-init appended as a second cpio archive, made once and kept
 * beside it as initrd-<hash>.img: an image outlives an upgrade of the
 * channel protocol.
 */
int sbx_image_boot_initrd(char *out, size_t outlen, const struct sbx_image *img);
/* Calls fn for each stored image; names[] lists the names pointing at it. */
int sbx_image_list(int (*fn)(void *opaque, const struct sbx_image *img, const char *names),
		   void *opaque);
/* Remove a name; the image itself goes when no name points at it. */
int sbx_image_remove(const char *name_or_id);
/* The SHA-256 (hex) of the sbx-init this git-sbx boots images with (sbx_find_init). */
int sbx_image_init_hash(char out[65]);
/* Where sbx-init is: $SBX_INIT, next to the running binary in a build tree, or installed. */
int sbx_find_init(char *out, size_t outlen);

#endif
