// SPDX-License-Identifier: MIT
/* The review of one task: gathered, and as a pull request's Markdown body (sbx/review.h). */
#include "sbx/review.h"
#include "sbx/accept-int.h"
#include "sbx/repo.h"
#include "util/error.h"
#include "util/quote.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- checks/<n>.result and checks/<n>.log (docs/formats.md "Check results") ---- */

void sbx_checks_free(struct sbx_check *c, size_t n)
{
	size_t i;

	for (i = 0; c && i < n; i++) {
		free(c[i].name);
		free(c[i].status);
		free(c[i].log_tail);
	}
	free(c);
}

/* Up to `max` bytes of a file, its start or (tail) its end; NULs (not text) become spaces. */
static char *read_part(const char *path, size_t max, bool tail, bool *cut)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *buf = NULL;
	ssize_t n;

	*cut = false;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || !(buf = malloc(max + 1)))
		goto fail;
	if ((size_t)st.st_size > max) {
		*cut = true;
		if (tail && lseek(fd, st.st_size - (off_t)max, SEEK_SET) < 0)
			goto fail;
	}
	n = read(fd, buf, max);
	if (n < 0)
		goto fail;
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = 0;
	close(fd);
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

/*
 * The last SBX_CHECK_TAIL_LINES lines of buf[0..len) (a check's part of
 * the run's log), malloc'd; *cut when there was more.
 */
static char *tail_lines(const char *buf, size_t len, bool *cut)
{
	const char *p, *start = buf;
	size_t lines = 0;
	char *out;

	while (len && buf[len - 1] == '\n')
		len--;
	for (p = buf + len; p > buf; p--)
		if (p[-1] == '\n' && ++lines == SBX_CHECK_TAIL_LINES) {
			start = p;
			break;
		}
	*cut = *cut || start != buf;
	out = malloc(len - (size_t)(start - buf) + 1);
	if (out) {
		memcpy(out, start, len - (size_t)(start - buf));
		out[len - (size_t)(start - buf)] = 0;
	}
	return out;
}

static const char *find_last(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	const char *p, *last = NULL;

	for (p = hay; n <= len - (size_t)(p - hay) && (p = memmem(p, len - (size_t)(p - hay), needle, n));
	     p++)
		last = p;
	return last;
}

/*
 * Check `c`'s part of the run's log (the end of it, buf): between its
 * "=== NAME\n" and its "=== NAME: " lines (docs/formats.md); from the
 * buffer's start when the log was cut before it began.
 */
static void check_tail(struct sbx_check *c, const char *buf, size_t len, bool buf_cut)
{
	char *begin_m = NULL, *end_m = NULL;
	const char *end, *start;

	if (asprintf(&begin_m, "=== %s\n", c->name) < 0)
		begin_m = NULL;
	if (asprintf(&end_m, "=== %s: ", c->name) < 0)
		end_m = NULL;
	if (!begin_m || !end_m)
		goto out;
	end = find_last(buf, len, end_m);
	if (!end || (end != buf && end[-1] != '\n'))
		goto out;
	start = find_last(buf, (size_t)(end - buf), begin_m);
	if (start && start != buf && start[-1] != '\n')
		start = NULL;
	c->tail_cut = !start && buf_cut;
	if (!start && !buf_cut)
		goto out;
	start = start ? start + strlen(begin_m) : buf;
	if (!start[0] || start >= end)
		goto out;
	c->log_tail = tail_lines(start, (size_t)(end - start), &c->tail_cut);
out:
	free(begin_m);
	free(end_m);
}

/* "<name...> <status> <duration_ms>": the name may hold spaces, so it is read from the right. */
static int parse_result(struct sbx_check *c, char *line)
{
	char *sp1, *sp2, *end;
	unsigned long long ms;

	sp2 = strrchr(line, ' ');
	if (!sp2)
		return -1;
	*sp2 = 0;
	sp1 = strrchr(line, ' ');
	if (!sp1 || sp1 == line)
		return -1;
	*sp1 = 0;
	errno = 0;
	ms = strtoull(sp2 + 1, &end, 10);
	if (errno || *end || end == sp2 + 1 || !sp1[1] || strlen(sp1 + 1) > 16)
		return -1;
	c->duration_ms = ms;
	c->name = strdup(line);
	c->status = strdup(sp1 + 1);
	return c->name && c->status ? 0 : -1;
}

/* The latest run: the highest <n> with a <n>.result; 0 for none. */
static unsigned long latest_run(const char *dir, int *err)
{
	struct dirent *de;
	unsigned long best = 0, num;
	char *end;
	DIR *d;

	*err = 0;
	d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			*err = sbx_error_errno(SBX_EIO, "cannot read '%s'", dir);
		return 0;
	}
	while ((de = readdir(d))) {
		errno = 0;
		num = strtoul(de->d_name, &end, 10);
		if (errno || end == de->d_name || strcmp(end, ".result") || de->d_name[0] == '0' ||
		    num > 1000000)
			continue;
		if (num > best)
			best = num;
	}
	closedir(d);
	return best;
}

int sbx_checks_read(struct sbx_check **out, size_t *n, const char *dir)
{
	struct sbx_check *c = NULL;
	char path[4096], *text = NULL, *line, *save = NULL, *log = NULL;
	unsigned long run;
	size_t k = 0;
	bool cut, log_cut;
	int err;

	*out = NULL;
	*n = 0;
	run = latest_run(dir, &err);
	if (err || !run)
		return err;
	c = calloc(SBX_CHECKS_MAX, sizeof(*c));
	if (!c)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/%lu.result", dir, run);
	text = read_part(path, SBX_CHECKS_RESULT_MAX, false, &cut);
	if (text && !cut) {
		for (line = strtok_r(text, "\n", &save); line && k < SBX_CHECKS_MAX;
		     line = strtok_r(NULL, "\n", &save)) {
			c[k].n = (unsigned)run;
			if (parse_result(&c[k], line)) {
				free(c[k].name);
				free(c[k].status);
				c[k].name = NULL;
				if (asprintf(&c[k].name, "%lu.result line %zu", run, k + 1) < 0)
					c[k].name = NULL;
				c[k].status = strdup("unreadable");
				c[k].duration_ms = 0;
			}
			if (!c[k].name || !c[k].status)
				goto oom;
			k++;
		}
	} else {
		c[0].n = (unsigned)run;
		if (asprintf(&c[0].name, "%lu.result", run) < 0)
			c[0].name = NULL;
		c[0].status = strdup("unreadable");
		if (!c[0].name || !c[0].status)
			goto oom;
		k = 1;
	}
	snprintf(path, sizeof(path), "%s/%lu.log", dir, run);
	log = read_part(path, SBX_CHECK_LOG_READ, true, &log_cut);
	if (log) {
		size_t len = strlen(log), i;

		/* a cut first line is dropped */
		if (log_cut && strchr(log, '\n'))
			memmove(log, strchr(log, '\n') + 1, len - (size_t)(strchr(log, '\n') - log));
		len = strlen(log);
		for (i = 0; i < k; i++)
			if (strcmp(c[i].status, "unreadable"))
				check_tail(&c[i], log, len, log_cut);
	}
	free(text);
	free(log);
	*out = c;
	*n = k;
	return 0;
oom:
	free(text);
	sbx_checks_free(c, k + 1);
	return sbx_error_set(SBX_ENOMEM, "out of memory");
}

/* ---- gathering ---- */

void sbx_review_free(struct sbx_review *r)
{
	if (!r)
		return;
	sbx_task_summary_clear(&r->summary);
	sbx_checks_free(r->checks, r->nchecks);
	sbx_audit_summary_clear(&r->audit);
	git_diff_free(r->diff);
	free(r->diffstat);
	free(r->patch);
	free(r);
}

static int make_diff(struct sbx_review *r, struct sbx_repo *repo)
{
	git_diff_find_options fo;
	git_commit *base = NULL, *tip = NULL;
	git_tree *bt = NULL, *tt = NULL;
	git_diff_stats *stats = NULL;
	git_buf sbuf = { 0 };
	int err = 0;

	git_diff_find_options_init(&fo, GIT_DIFF_FIND_OPTIONS_VERSION);
	fo.flags = GIT_DIFF_FIND_RENAMES;
	if (git_commit_lookup(&base, repo->git, &r->task->base) < 0 ||
	    git_commit_lookup(&tip, repo->git, &r->summary.tip) < 0 ||
	    git_commit_tree(&bt, base) < 0 || git_commit_tree(&tt, tip) < 0 ||
	    git_diff_tree_to_tree(&r->diff, repo->git, bt, tt, NULL) < 0 ||
	    git_diff_find_similar(r->diff, &fo) < 0 ||
	    git_diff_get_stats(&stats, r->diff) < 0 ||
	    git_diff_stats_to_buf(&sbuf, stats, GIT_DIFF_STATS_FULL | GIT_DIFF_STATS_INCLUDE_SUMMARY, 80) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot diff the task's branch");
		goto out;
	}
	r->diffstat = strdup(sbuf.ptr ? sbuf.ptr : "");
	if (!r->diffstat)
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
out:
	git_buf_dispose(&sbuf);
	git_diff_stats_free(stats);
	git_tree_free(bt);
	git_tree_free(tt);
	git_commit_free(base);
	git_commit_free(tip);
	return err;
}

int sbx_review_load_patch(struct sbx_review *r)
{
	git_buf buf = { 0 };

	if (r->patch)
		return 0;
	if (git_diff_to_buf(&buf, r->diff, GIT_DIFF_FORMAT_PATCH) < 0)
		return sbx_git_error(SBX_ERROR, "cannot print the diff");
	r->patch = strndup(buf.ptr ? buf.ptr : "", buf.size);
	git_buf_dispose(&buf);
	return r->patch ? 0 : sbx_error_set(SBX_ENOMEM, "out of memory");
}

int sbx_review_open(struct sbx_review **out, struct sbx_repo *repo, const struct sbx_task *task)
{
	struct sbx_review *r = calloc(1, sizeof(*r));
	char *path = NULL;
	size_t i;
	int err;

	*out = NULL;
	if (!r)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	r->task = task;
	r->attempts = (unsigned)task->nattempts;
	accept_title(r->title, sizeof(r->title), task);
	if ((err = sbx_task_summarize(&r->summary, repo, task, true)) || (err = make_diff(r, repo)))
		goto fail;
	if (asprintf(&path, "%s/checks", task->dir) < 0) {
		path = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = sbx_checks_read(&r->checks, &r->nchecks, path)))
		goto fail;
	for (i = 0; i < r->nchecks; i++)
		if (strcmp(r->checks[i].status, "pass") && strcmp(r->checks[i].status, "skip"))
			r->checks_failed++;
	free(path);
	path = sbx_audit_path(task);
	if (!path) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	r->has_audit = sbx_audit_summarize(&r->audit, path) == 0;
	if (!r->has_audit) {
		sbx_audit_summary_clear(&r->audit);
		memset(&r->audit, 0, sizeof(r->audit));
	}
	free(path);
	*out = r;
	return 0;
fail:
	free(path);
	sbx_review_free(r);
	return err;
}
