// SPDX-License-Identifier: MIT
/*
 * The audit trail's reader and summary (sbx/audit-read.c) on any bytes:
 * the file is partly the guest's doing (host names, paths, commands), and
 * a crash or a full disk can leave anything at its end.  Each record read
 * is also added to a summary, turned into the note's text and
 * re-serialised terminal-safe (util/json.c), as git sbx audit and show do.
 */
#include "sbx/audit.h"
#include "util/error.h"
#include "util/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbx_audit_summary s = SBX_AUDIT_SUMMARY_INIT;
	struct sbx_audit_reader *r;
	const char *note;
	char *text;
	json_t *rec;
	int fd = memfd_create("audit", MFD_CLOEXEC), ret;

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || lseek(fd, 0, SEEK_SET)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (sbx_audit_reader_new(&r, fd))
		return 0;
	while ((ret = sbx_audit_reader_next(&rec, r)) == 1) {
		char *line = sbx_json_dumps(rec, JSON_COMPACT);

		free(line);
		sbx_audit_summary_add(&s, rec);
		json_decref(rec);
	}
	if (!ret)
		sbx_audit_reader_finish(&note, r);
	sbx_audit_summary_finish(&s);
	text = sbx_audit_summary_text(&s);
	free(text);
	sbx_audit_summary_clear(&s);
	sbx_audit_reader_free(r);
	return 0;
}
