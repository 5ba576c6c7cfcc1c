/* SPDX-License-Identifier: MIT */
/* Shared by the task commands (list, show, diff, logs, rm): ids, times, JSON. */
#ifndef SBX_CMD_TASK_PRINT_H
#define SBX_CMD_TASK_PRINT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

struct cmd_ctx;
struct sbx_task;
struct sbx_task_summary;
struct sbx_audit_summary;

/* Open the task named by `arg`; on failure print "fatal: ..." and exit 128. */
struct sbx_task *open_task_or_die(struct cmd_ctx *ctx, const char *arg);
/* The state to show: "running" only while a process holds the task's lock. */
const char *task_state_label(const struct sbx_task *t);
/* The state's colour (cmd/pager.h codes; pass through color()). */
const char *task_state_color(const struct sbx_task *t);
/* "accepted: <when> by <who> into main (merge) at <commit>", or "rejected: ..."; nothing before either. */
void print_task_review(const struct sbx_task *t);
/* "label:    <time> (<age>)"; nothing for 0. */
void print_task_time(const char *label, int64_t ms);
/* "label:    value", the value escaped: records and commits carry guest text. */
void print_task_field(const char *label, const char *value);
/* "prompt:" and the prompt indented, escaped. */
void print_task_prompt(const char *prompt);
/* The audit summary's counts as a JSON object (for show and review). */
json_t *task_audit_json(const struct sbx_audit_summary *a);
/* "5s ago", "3m ago", "2h ago", "4d ago"; "-" for 0. */
void format_age(char *buf, size_t n, int64_t ms);
/* "1.2s" / "340ms" */
void format_ms(char *buf, size_t n, uint64_t ms);
/*
 * "boot 4.7s, transfer in 2.0s, agent 1.0s, transfer out 1.3s, import 172ms";
 * the phases that never ran are left out ("boot 4.7s (then it ended)"), and
 * a task whose VM never started says so.  "restore" instead of "boot" for
 * a task that restored a warm base.
 */
void format_phases(char *buf, size_t n, const struct sbx_task *t);
/*
 * How the VM started: "restored from warm base 1a2b3c4d5e6f (built 3m ago);
 * start to agent 1.2s", why it booted cold instead, or "" before it ran.
 * Holds the record's note unescaped: print it with util/quote.h.
 */
void format_start(char *buf, size_t n, const struct sbx_task *t);
/* One task as a JSON object on one line (no trailing newline); util/json.h escapes it. */
void print_task_json(FILE *f, const struct sbx_task *t, const struct sbx_task_summary *s);
/* The same object, to add to; dies when out of memory. */
json_t *task_json(const struct sbx_task *t, const struct sbx_task_summary *s);
/* The last run of the checks in a word: "pass", "fail", "error", or "-" (none). */
const char *checks_label(const struct sbx_task *t);
/*
 * The checks of the last run, one line each under `indent`, and with
 * `tail_bytes` the end of its log (escaped: it is guest output).
 */
void print_checks(FILE *f, const struct sbx_task *t, const char *indent, size_t tail_bytes);
/* cmd/attempts.c: an attempt's state to show ("interrupted" when its process is gone). */
struct sbx_task_attempt;
const char *attempt_state_label(const struct sbx_task *t, const struct sbx_task_attempt *a);
/* The attempts as a table under `indent`, and with `files` which files they agree on. */
void print_attempts(struct cmd_ctx *ctx, const struct sbx_task *t, const char *indent, bool files);
/* Print a JSON value on one line (util/json.h) and json_decref() it. */
void print_json_value(FILE *f, json_t *o);

#endif
