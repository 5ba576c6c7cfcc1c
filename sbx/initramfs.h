/* SPDX-License-Identifier: MIT */
/* Building the guest's initramfs (newc cpio): /init, kernel modules, /etc/sbx/modules. */
#ifndef SBX_SBX_INITRAMFS_H
#define SBX_SBX_INITRAMFS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Write `out` (atomically): /init from `init_path`, each module named in
 * `modules` (required) and `optional` (skipped when the kernel has it built
 * in) found under `moddir` with its dependencies, and /etc/sbx/modules
 * listing them in load order.  NULL-terminated name lists.
 */
int sbx_initramfs_build(const char *out, const char *init_path, const char *moddir,
			const char *const *modules, const char *const *optional);

/* A module's "depends=" (comma-separated, maybe empty) from its ELF .modinfo. */
/*
 * `base` (an initramfs) followed by a second newc archive holding only
 * /init from init_path, to `out` (written to out.tmp, synced, renamed): the
 * kernel unpacks concatenated archives in order, so this /init replaces the
 * first one's.
 */
int sbx_initramfs_with_init(const char *out, const char *base, const char *init_path);
int kmod_depends(const uint8_t *elf, size_t len, char *out, size_t outlen);

#endif
