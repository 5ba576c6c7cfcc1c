/* SPDX-License-Identifier: MIT */
/* Running a helper program (mke2fs, tar2sqfs, mmdebstrap, git) and waiting for it. */
#ifndef SBX_UTIL_SPAWN_H
#define SBX_UTIL_SPAWN_H

/*
 * Run argv (PATH searched) with stdin from `in_fd` (-1: /dev/null) and stdout
 * to `out_fd` (-1: inherit), stderr inherited unless `quiet` (then
 * captured and put in the error message on failure).  0 when it exits 0;
 * SBX_ENOTFOUND when the program is missing; SBX_ERROR otherwise, with a
 * message naming the program and how it failed.
 */
int spawn_wait(const char *const argv[], int in_fd, int out_fd, int quiet);

#endif
