/* SPDX-License-Identifier: MIT */
/*
 * Everything `git sbx review` shows about one task, gathered once: the
 * branch's commits and diffstat, the checks the gate ran (read from the
 * task's `checks/` directory, docs/formats.md "Check results"), the audit
 * summary, and the diff base..sbx/<id>.  Plus the task as a pull request's
 * body in Markdown (for `review --format=markdown` and `pr`).
 *
 * Everything here but the prompt and the config came from the guest:
 * commit messages, file names, contents and the checks' logs.  Callers
 * escape it where it is shown (util/quote.h, util/json.h); the Markdown
 * writer escapes it itself.
 */
#ifndef SBX_SBX_REVIEW_H
#define SBX_SBX_REVIEW_H

#include "sbx/audit.h"
#include "sbx/task.h"

#include <git2.h>
#include <stdbool.h>
#include <stdint.h>

#define SBX_CHECKS_MAX 64u		/* checks read per task */
#define SBX_CHECK_TAIL_LINES 20u	/* lines of a check's log shown */
#define SBX_CHECK_LOG_READ 65536u	/* bytes read from the end of a run's log */
#define SBX_CHECKS_RESULT_MAX 65536u	/* a run's .result file read, at most */

struct sbx_check {
	unsigned n;		/* its run: a line of checks/<n>.result, its part of <n>.log */
	char *name;		/* "pre-commit", "make test" */
	char *status;		/* "pass", "fail", "error", "skip" (others shown as they are) */
	uint64_t duration_ms;
	char *log_tail;		/* the last lines of checks/<n>.log; NULL without one */
	bool tail_cut;		/* the log holds more than the tail */
};

struct sbx_review {
	const struct sbx_task *task;	/* not owned */
	char title[256];		/* the prompt's first line */
	struct sbx_task_summary summary;
	/*
	 * Attempts (sbx/attempt.h): how many the task has (0: it ran once);
	 * review lists them when there are several.
	 */
	unsigned attempts;
	struct sbx_check *checks;
	size_t nchecks;
	size_t checks_failed;
	bool has_audit;
	struct sbx_audit_summary audit;
	git_diff *diff;			/* base tree to tip tree, renames found */
	char *diffstat;			/* git's --stat --summary text */
	char *patch;			/* the whole diff as text, once sbx_review_load_patch() ran */
};

/*
 * Gather it all.  A missing or unreadable audit trail or checks directory
 * is left out (a damaged checks file is shown as such, not fatal).
 */
int sbx_review_open(struct sbx_review **out, struct sbx_repo *repo, const struct sbx_task *task);
void sbx_review_free(struct sbx_review *r);

/* Fill r->patch (the text page streams the diff instead: it may be large). */
int sbx_review_load_patch(struct sbx_review *r);

/* Read <task dir>/checks: the latest run's checks, each with its part of the log (exposed for tests). */
int sbx_checks_read(struct sbx_check **out, size_t *n, const char *dir);
void sbx_checks_free(struct sbx_check *c, size_t n);

/*
 * The pull request's body: the prompt, what the task is, commits, changes,
 * checks, network, then the diff; with `title` a "# <title>" line first.
 */
int sbx_review_markdown(char **out, struct sbx_review *r, bool title);

#endif
