/* SPDX-License-Identifier: MIT */
/*
 * The audit trail: <task dir>/audit.jsonl, one JSON object per line
 * (docs/formats.md "Audit trail"), every line with "v": 1 and a "kind":
 *
 *   start   the session took the task (agent, image)
 *   conn    one guest connection through the policy proxy (sbx/net-event.h)
 *   exec    one command run in the guest (argv, exit code, duration)
 *   stats   a sample of the VM's CPU, memory, disk and network bytes
 *   import  the result's verdict (accepted or rejected, commits, reason)
 *   end     the task's final state
 *
 * Writing: sbx_audit_open() once per session; records from any thread
 * (the proxy reports from many), each one write() of a whole line to an
 * O_APPEND file, so a crash leaves at most a cut last line.  Strings
 * registered with sbx_audit_redact() (the task's secret values) never
 * reach the file: any string field holding one has it replaced by
 * "[redacted]".
 *
 * Reading: the file is the guest's doing in part (host names, paths):
 * lines are bounded (SBX_AUDIT_LINE_MAX), a cut last line (the writer was
 * killed) is skipped with a note, a malformed line anywhere else is
 * SBX_ECORRUPT naming its line number.
 */
#ifndef SBX_SBX_AUDIT_H
#define SBX_SBX_AUDIT_H

#include "sbx/net-event.h"

#include <git2.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sbx_task;

#define SBX_AUDIT_VERSION 1
/* The longest line a reader accepts; writers cut strings so that they stay far below. */
#define SBX_AUDIT_LINE_MAX (64u << 10)
/* A string field is cut to this many bytes (at a character) and "..." added. */
#define SBX_AUDIT_FIELD_MAX 2048u
/* exec records keep this many argv elements ("..." after). */
#define SBX_AUDIT_ARGV_MAX 64u
/* Strings registered with sbx_audit_redact(), and their length. */
#define SBX_AUDIT_REDACT_MAX 64u
#define SBX_AUDIT_REDACT_MINLEN 4u
#define SBX_AUDIT_REDACTED "[redacted]"
/* The notes ref the summary goes to. */
#define SBX_AUDIT_NOTES_REF "refs/notes/sbx"

/* "<task dir>/audit.jsonl", malloc'd; NULL when out of memory. */
char *sbx_audit_path(const struct sbx_task *task);

/* ---- writing ---- */

struct sbx_audit;

/* Open (create, mode 0600) the file for appending. */
int sbx_audit_open(struct sbx_audit **out, const char *path);
void sbx_audit_close(struct sbx_audit *a);

/*
 * Never write `value`: from now on every occurrence in a string field is
 * replaced by "[redacted]".  SBX_EINVAL for a string shorter than
 * SBX_AUDIT_REDACT_MINLEN (it would blank out ordinary words), SBX_ELIMIT
 * past SBX_AUDIT_REDACT_MAX strings.
 */
int sbx_audit_redact(struct sbx_audit *a, const char *value);

struct sbx_audit_exec {
	int64_t time_ms;		/* when it started; 0 = now */
	const char *const *argv;	/* NULL-terminated */
	int exit_code;			/* -1: none (killed, or it did not start) */
	uint64_t duration_ms;
	bool timed_out;
};

struct sbx_audit_import {
	bool accepted;
	size_t commits;
	const git_oid *tip;		/* may be NULL */
	const char *reason;		/* why it was rejected; may be NULL */
};

struct sbx_audit_stats {
	uint64_t cpu_ms;		/* the VM's CPU time so far */
	uint64_t mem_bytes;		/* resident memory of the VMM */
	uint64_t disk_bytes;		/* the task disk's size on the host */
	uint64_t net_up, net_down;	/* proxy bytes so far, guest -> out and back */
};

/*
 * Fill cpu_ms and mem_bytes from the process `pid` (the VMM; 0: leave them
 * 0) and disk_bytes from the blocks `disk` takes on the host (NULL: 0);
 * net_up and net_down are left to the caller (the proxy's counters).
 */
int sbx_audit_sample(struct sbx_audit_stats *st, pid_t pid, const char *disk);

int sbx_audit_start(struct sbx_audit *a, unsigned task_id, const char *agent, const char *image);
int sbx_audit_conn(struct sbx_audit *a, const struct sbx_net_event *ev);
int sbx_audit_exec(struct sbx_audit *a, const struct sbx_audit_exec *e);
int sbx_audit_import(struct sbx_audit *a, const struct sbx_audit_import *imp);
int sbx_audit_stats(struct sbx_audit *a, const struct sbx_audit_stats *st);
int sbx_audit_end(struct sbx_audit *a, const char *state, int exit_status, const char *error);
/* An sbx_net_event_fn for the proxy: opaque is the struct sbx_audit; failures are logged. */
void sbx_audit_net_event(void *opaque, const struct sbx_net_event *ev);

/* ---- reading ---- */

struct sbx_audit_reader;

/* Read `fd` (owned by the reader from now on) from its current offset. */
int sbx_audit_reader_new(struct sbx_audit_reader **out, int fd);
/* Open `path`; SBX_ENOTFOUND when there is no audit file. */
int sbx_audit_reader_open(struct sbx_audit_reader **out, const char *path);
void sbx_audit_reader_free(struct sbx_audit_reader *r);
/*
 * The next record: 1 with *rec (a JSON object with "v" 1 and a string
 * "kind"; the caller json_decref()s it), 0 when no whole line is there
 * (yet: a writer may be appending), or a negative code: SBX_ECORRUPT for a
 * malformed or oversized line, SBX_EUNSUPPORTED for another version.
 */
int sbx_audit_reader_next(json_t **rec, struct sbx_audit_reader *r);
/*
 * At the end of the file: 1 when a cut last line was left over (skipped),
 * with a note in *note (static to the reader), 0 otherwise.
 */
int sbx_audit_reader_finish(const char **note, struct sbx_audit_reader *r);
/* Line number of the last line read. */
size_t sbx_audit_reader_line(const struct sbx_audit_reader *r);

/* Typed access to a record's fields: the default when absent or of another type. */
const char *sbx_audit_get_str(const json_t *rec, const char *key);
int64_t sbx_audit_get_int(const json_t *rec, const char *key, int64_t dflt);
bool sbx_audit_get_bool(const json_t *rec, const char *key);

/* ---- the summary ---- */

/* Hosts and commands kept by name; past these, only the totals count. */
#define SBX_AUDIT_SUMMARY_HOSTS 256u
#define SBX_AUDIT_SUMMARY_COMMANDS 64u

struct sbx_audit_host {
	char *host;			/* as written (guest text: escape to show) */
	unsigned port;
	size_t allowed, denied;
	uint64_t bytes_up, bytes_down;
};

struct sbx_audit_summary {
	size_t records;
	size_t conns_allowed, conns_denied;
	uint64_t bytes_up, bytes_down;
	struct sbx_audit_host *hosts;	/* allowed first, then by count */
	size_t nhosts, hosts_dropped;	/* dropped: connections to hosts past the cap */
	size_t execs;
	char **commands;		/* argv joined by spaces, in order */
	size_t ncommands;
	bool has_import, import_accepted;
	char *import_reason;
	bool torn;			/* a cut last line was skipped */
};
#define SBX_AUDIT_SUMMARY_INIT { 0 }

/* Add one record (any kind; unknown kinds only count). */
int sbx_audit_summary_add(struct sbx_audit_summary *s, const json_t *rec);
/* Sort the hosts (allowed first, then by connections); after the last add. */
void sbx_audit_summary_finish(struct sbx_audit_summary *s);
/* Read a whole audit file into *s (SBX_AUDIT_SUMMARY_INIT first). */
int sbx_audit_summarize(struct sbx_audit_summary *s, const char *path);
void sbx_audit_summary_clear(struct sbx_audit_summary *s);
/*
 * The summary as text for people: counts, hosts, bytes, commands; guest
 * text escaped (util/quote.h).  malloc'd; NULL when out of memory.
 */
char *sbx_audit_summary_text(const struct sbx_audit_summary *s);
/*
 * Attach sbx_audit_summary_text() to `commit` as a note in refs/notes/sbx
 * (replacing one there), by the repository's default signature or
 * "git-sbx <git-sbx@localhost>" when it has none.
 */
int sbx_audit_note(git_repository *repo, const git_oid *commit, const struct sbx_audit_summary *s);
/*
 * For the session at import: summarise the task's audit file and attach
 * the note to `commit`.  A task without an audit file gets no note (0).
 */
int sbx_audit_note_task(git_repository *repo, const struct sbx_task *task, const git_oid *commit);

#endif
