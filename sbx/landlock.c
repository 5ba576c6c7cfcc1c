// SPDX-License-Identifier: MIT
/* Landlock without rules: see sbx/landlock.h.  Raw system calls, as glibc has no wrappers. */
#include "sbx/landlock.h"
#include "util/error.h"

#include <errno.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ABI 1 rights are bits 0-12; ABI 2 adds REFER (13), ABI 3 TRUNCATE (14). */
#define ABI1_FS_RIGHTS	((1ULL << 13) - 1)
#define FS_REFER	(1ULL << 13)
#define FS_TRUNCATE	(1ULL << 14)

int sbx_landlock_deny_fs(char *note, size_t size)
{
	struct landlock_ruleset_attr attr = { 0 };
	long abi;
	int fd, err;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		snprintf(note, size, "this kernel has no Landlock (%s): the VMM process could still "
			 "open files by path", abi < 0 ? strerror(errno) : "ABI 0");
		return 1;
	}
	attr.handled_access_fs = ABI1_FS_RIGHTS;
	if (abi >= 2)
		attr.handled_access_fs |= FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= FS_TRUNCATE;
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (fd < 0)
		return sbx_error_errno(SBX_ERROR, "landlock_create_ruleset");
	err = (int)syscall(SYS_landlock_restrict_self, fd, 0);
	close(fd);
	if (err)
		return sbx_error_errno(SBX_ERROR, "landlock_restrict_self");
	snprintf(note, size, "Landlock ABI %ld: every filesystem access denied", abi);
	return 0;
}
