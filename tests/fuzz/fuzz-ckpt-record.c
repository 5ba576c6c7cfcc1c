// SPDX-License-Identifier: MIT
/*
 * The checkpoint record's reader (sbx/checkpoint.c) on any bytes: a record
 * is ours, but a crash, a full disk or a hand edit can leave anything, and
 * its layer and memory names become paths under the task's directory.  A
 * record that parses must name nothing outside it, and must read back the
 * same after being written again.  Each input is read as it is, and as a
 * body with a correct checksum line appended (else almost no mutation
 * would get past the checksum to the lines).
 */
#include "sbx/checkpoint.h"
#include "util/crc32c.h"
#include "util/error.h"

#include <stdio.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Does this relative name leave its directory (absolute, or a "." or ".." component)? */
static int leaves(const char *n)
{
	const char *p = n;

	if (*n == '/')
		return 1;
	while (*p) {
		size_t l = strcspn(p, "/");

		if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
			return 1;
		p += l;
		if (*p)
			p++;
	}
	return 0;
}

static void one(const char *data, size_t size)
{
	struct sbx_ckpt c, d;
	char *text = NULL;
	size_t len;

	if (sbx_ckpt_record_parse(&c, data, size))
		return;
	if (leaves(c.layer) || leaves(c.memory))
		abort();
	if (sbx_ckpt_record_format(&text, &len, &c) || sbx_ckpt_record_parse(&d, text, len) ||
	    memcmp(&c, &d, sizeof(c)))
		abort();
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;

	one((const char *)data, size);
	if (size > SBX_CKPT_RECORD_MAX || !(buf = malloc(size + 32)))
		return 0;
	memcpy(buf, data, size);
	snprintf(buf + size, 32, "checksum %08x\n", crc32c(0, data, size));
	one(buf, size + 18);
	free(buf);
	return 0;
}
