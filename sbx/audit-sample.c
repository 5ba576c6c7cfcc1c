// SPDX-License-Identifier: MIT
/*
 * The numbers of a "stats" record (sbx/audit.h), read where the kernel
 * keeps them: the VMM process's CPU time and resident memory from /proc,
 * the task disk's allocated size from stat().  The network bytes are the
 * proxy's, filled in by the caller.
 */
#include "sbx/audit.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "<pid> (<comm>) <state> ... utime stime ..." (proc(5)); comm may hold spaces and ')'. */
static int read_cpu_ms(uint64_t *out, pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long utime, stime;
	long hz = sysconf(_SC_CLK_TCK);
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return sbx_error_errno(SBX_ENOTFOUND, "cannot read '%s'", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* After ") ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &utime, &stime) != 2 || hz <= 0)
		return sbx_error_set(SBX_ERROR, "cannot parse '%s'", path);
	*out = (utime + stime) * 1000 / (unsigned long long)hz;
	return 0;
}

static int read_rss(uint64_t *out, pid_t pid)
{
	char path[64];
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%ld/statm", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return sbx_error_errno(SBX_ENOTFOUND, "cannot read '%s'", path);
	n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (n != 2 || page <= 0)
		return sbx_error_set(SBX_ERROR, "cannot parse '%s'", path);
	*out = resident * (unsigned long long)page;
	return 0;
}

int sbx_audit_sample(struct sbx_audit_stats *st, pid_t pid, const char *disk)
{
	struct stat sb;
	int err;

	st->cpu_ms = st->mem_bytes = st->disk_bytes = 0;
	if (pid > 0) {
		err = read_cpu_ms(&st->cpu_ms, pid);
		if (err)
			return err;
		err = read_rss(&st->mem_bytes, pid);
		if (err)
			return err;
	}
	if (disk) {
		if (stat(disk, &sb))
			return sbx_error_errno(SBX_EIO, "cannot stat '%s'", disk);
		st->disk_bytes = (uint64_t)sb.st_blocks * 512;
	}
	return 0;
}
