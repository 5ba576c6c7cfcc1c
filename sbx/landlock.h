/* SPDX-License-Identifier: MIT */
/*
 * Landlock for the confined VMM: a ruleset that handles every filesystem
 * access right the kernel knows and grants none, so the calling thread and
 * the threads it starts can open no file, directory or device by path;
 * fds opened before keep working (landlock(7)).
 */
#ifndef SBX_SBX_LANDLOCK_H
#define SBX_SBX_LANDLOCK_H

#include <stddef.h>

/*
 * Deny the filesystem to the calling thread (no_new_privs must be set).
 * 0: enforced, `note` says which ABI; 1: this kernel has no Landlock
 * (`note` says so, nothing enforced); or SBX_ERROR.
 */
int sbx_landlock_deny_fs(char *note, size_t size);

#endif
