/* SPDX-License-Identifier: MIT */
/*
 * Warm bases (docs/design.md, "Warm bases"): a memory snapshot of a guest
 * that cloned one commit of the repository and ran its setup (`git config
 * sbx.setup`), saved idle, which later tasks restore instead of booting,
 * cloning and setting up.  Nothing task-specific is in one: no prompt, no
 * agent, no CA, no secret, no task id.
 *
 * Layout, under <commondir>/sbx/warm/:
 *
 *   <key>/record       what it is (below; docs/formats.md "Warm base record")
 *   <key>/memory, state, machine
 *                      the snapshot (docs/formats.md; sbx/machine.h)
 *   <key>/disk.qcow2   the task disk's layer at the save, over the image's
 *                      task-base.img; read-only (0444), never written again:
 *                      each restore writes a new overlay over it
 *   <key>/console.log, audit.jsonl
 *                      the build's guest console and network
 *   <key>/used         its mtime is the last restore (for gc)
 *   <key>.lock         flock()ed: exclusive while it is built or removed,
 *                      shared while a VMM opens its files
 *   .build-<key>.<pid>/  a build in progress, renamed to <key>/ when done
 *   .trash-<key>.<pid>/  one being removed
 *
 * The key is the SHA-256 of everything the snapshot depends on: the image
 * (its id covers kernel, initramfs, root and task base), the sbx-init that
 * booted it, the kernel command line, the setup command, vCPUs, memory,
 * sbx.historyDepth, git-sbx's version and the state file's version.  A
 * change to any of them is a new key, and so a new warm base.
 */
#ifndef SBX_SBX_WARM_H
#define SBX_SBX_WARM_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbx/channel.h"
#include "sbx/image.h"

struct sbx_repo;

#define SBX_WARM_RECORD_VERSION 1
#define SBX_WARM_RECORD_MAX (64u << 10)
#define SBX_WARM_SETUP_MAX (16u << 10)
/* gc removes warm bases no task restored for this long (sbx.warmExpiry). */
#define SBX_WARM_DEFAULT_EXPIRY_MS (7ull * 24 * 60 * 60 * 1000)
/* How long sbx.setup may run (sbx.setupTimeout). */
#define SBX_WARM_DEFAULT_SETUP_TIMEOUT_MS (30ull * 60 * 1000)

/* What the key is made of. */
struct sbx_warm_params {
	const char *image_id;		/* the image's id (64 hex) */
	const char *init_hash;		/* the sbx-init that boots it (64 hex) */
	const char *kernel_version;
	const char *cmdline;		/* the kernel command line */
	const char *setup;		/* sbx.setup; NULL or "" = none */
	unsigned cpus;
	uint64_t memory;		/* bytes, as the VM gets them (2 MiB multiple) */
	unsigned depth;			/* sbx.historyDepth */
};

/* The key: 64 lower-case hex digits and a NUL.  0 or SBX_ENOMEM/SBX_EINVAL. */
int sbx_warm_key(char out[65], const struct sbx_warm_params *p);

struct sbx_warm {
	char key[65];
	git_oid base;			/* the commit the guest's /workspace holds */
	char image_id[65];
	char init_hash[65];
	char *kernel_version;
	char *setup;			/* NULL: none */
	unsigned cpus;
	uint64_t memory;
	unsigned depth;
	int64_t created_ms;		/* Unix time in ms */
	uint64_t build_ms;		/* how long the build took */

	/* Not stored: */
	char *dir;			/* <commondir>/sbx/warm/<key> */
	int64_t used_ms;		/* the last restore (the `used` file), else created_ms */
};
void sbx_warm_free(struct sbx_warm *w);

/* The record: "key value" lines, a version first and a CRC-32C last (docs/formats.md). */
int sbx_warm_record_format(char **out, size_t *len, const struct sbx_warm *w);
/* SBX_ECORRUPT (saying what) for anything malformed; SBX_EUNSUPPORTED for another version. */
int sbx_warm_record_parse(struct sbx_warm **out, const char *buf, size_t len);

/* <commondir>/sbx/warm, and <that>/<name>; malloc'd (NULL: out of memory). */
char *sbx_warm_root(struct sbx_repo *repo);
char *sbx_warm_path(struct sbx_repo *repo, const char *name);

/* The key's lock (<key>.lock), exclusive or shared; SBX_ELOCKED when !wait and held. */
int sbx_warm_lock(int *fd, struct sbx_repo *repo, const char *key, bool exclusive, bool wait);
/*
 * Open the warm base `key`: its record, checked against its name, and its
 * files there.  SBX_ENOTFOUND when there is none; SBX_ECORRUPT when it is
 * damaged (the message says how).
 */
int sbx_warm_open(struct sbx_warm **out, struct sbx_repo *repo, const char *key);
/* Note a restore now (the `used` file's mtime). */
void sbx_warm_touch(const struct sbx_warm *w);
/* Remove the directory of `key` (renamed away first, then deleted); the caller holds its lock. */
int sbx_warm_remove(struct sbx_repo *repo, const char *key);
/*
 * Put a finished build directory in place as `key` (fsync'd, then one
 * rename); with replace, an existing one is removed first.  The caller
 * holds the key's lock.  SBX_EEXISTS when it exists and !replace.
 */
int sbx_warm_install(struct sbx_repo *repo, const char *build_dir, const char *key, bool replace);

/* ---- listing and gc (sbx/warm-gc.c) ---- */

/* Every warm base with a readable record, newest first; *nbad counts the rest. */
int sbx_warm_list(struct sbx_warm ***out, size_t *n, size_t *nbad, struct sbx_repo *repo);
void sbx_warm_list_free(struct sbx_warm **v, size_t n);

struct sbx_warm_gc_removed {
	char key[65];
	char why[96];
};
struct sbx_warm_gc_stats {
	struct sbx_warm_gc_removed *removed;	/* malloc'd; free() it */
	size_t nremoved;
	unsigned builds;		/* builds and removals left behind by dead processes */
	unsigned in_use;		/* candidates skipped: locked by a task */
};
/*
 * Remove the warm bases no task restored for `expiry_ms` (0: none expire),
 * those whose image is gone, damaged ones, and what dead processes left
 * (.build-*, .trash-*, lock files of nothing).  One that is locked (being
 * built or restored from) is left alone.
 */
int sbx_warm_gc(struct sbx_warm_gc_stats *st, struct sbx_repo *repo, uint64_t expiry_ms);

/* ---- building (sbx/warm-build.c) ---- */

struct sbx_warm_build_opts {
	const struct sbx_image *image;
	char init_hash[65];		/* sbx_image_init_hash() */
	git_oid base;			/* the commit the guest clones */
	const char *setup;		/* sbx.setup; NULL: none */
	unsigned cpus;
	uint64_t memory;		/* a multiple of 2 MiB */
	unsigned depth;			/* sbx.historyDepth */
	uint64_t boot_timeout_ms;	/* 0: the sandbox's default */
	uint64_t setup_timeout_ms;	/* 0: SBX_WARM_DEFAULT_SETUP_TIMEOUT_MS */
	uint64_t disk_limit;		/* the build's task disk (sbx.diskLimit); 0: none */
	uint64_t console_max;		/* its console.log; 0: the sandbox's default */
	bool rebuild;			/* build a new one even if there is one */
	bool quiet;
	sbx_progress_fn progress;	/* one line per step; may be NULL */
	void *progress_opaque;
	sbx_sink_fn output;		/* the setup's stdout and stderr; NULL: dropped */
	void *output_opaque;
};

/*
 * From git config, what `git sbx task` would use: sbx.setup (*setup, owned;
 * NULL when unset or empty), sbx.setupTimeout, sbx.historyDepth,
 * sbx.diskLimit, sbx.bootTimeout, sbx.maxConsoleLogSize.
 */
int sbx_warm_opts_from_config(struct sbx_warm_build_opts *o, char **setup, struct sbx_repo *repo);
/* The key's parameters for these options (p points into o). */
int sbx_warm_params_of(struct sbx_warm_params *p, const struct sbx_warm_build_opts *o);
/*
 * The warm base for o's key, built first (under the key's lock; another
 * process building it is waited for) when there is none, when the one
 * there is damaged (removed, with a progress line), or with o->rebuild.
 * Needs our VMM (KVM).  A failed setup (its exit status, its last line of
 * stderr; res->setup_failed) fails the build and leaves nothing behind.
 */
struct sbx_warm_get_result {
	bool built;			/* this call built it */
	uint64_t build_ms;		/* how long that took */
	bool setup_failed;		/* the build failed in sbx.setup */
};
int sbx_warm_get(struct sbx_warm **out, struct sbx_warm_get_result *res, struct sbx_repo *repo,
		 const struct sbx_warm_build_opts *o);

#endif
