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

/* The last SBX_CHECK_TAIL_LINES lines. */
static char *log_tail(const char *path, bool *cut)
{
	bool bytes_cut;
	char *buf = read_part(path, SBX_CHECK_TAIL_BYTES, true, &bytes_cut), *p, *start;
	size_t len, lines = 0;

	if (!buf)
		return NULL;
	len = strlen(buf);
	while (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	start = buf;
	for (p = buf + len; p > buf; p--)
		if (p[-1] == '\n' && ++lines == SBX_CHECK_TAIL_LINES) {
			start = p;
			break;
		}
	/* a cut first line is dropped */
	if (bytes_cut && start == buf && strchr(buf, '\n'))
		start = strchr(buf, '\n') + 1;
	*cut = bytes_cut || start != buf;
	memmove(buf, start, strlen(start) + 1);
	return buf;
}

/* "<name...> <status> <duration_ms>\n": the name may hold spaces, so it is read from the right. */
static int parse_result(struct sbx_check *c, char *line)
{
	char *sp1, *sp2, *end;
	unsigned long long ms;

	line[strcspn(line, "\n")] = 0;
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

static int cmp_check(const void *a, const void *b)
{
	const struct sbx_check *x = a, *y = b;

	return x->n < y->n ? -1 : x->n > y->n;
}

int sbx_checks_read(struct sbx_check **out, size_t *n, const char *dir)
{
	struct sbx_check *c = NULL;
	struct dirent *de;
	DIR *d;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : sbx_error_errno(SBX_EIO, "cannot read '%s'", dir);
	c = calloc(SBX_CHECKS_MAX, sizeof(*c));
	if (!c) {
		closedir(d);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	while ((de = readdir(d)) && k < SBX_CHECKS_MAX) {
		char *end, path[4096], *text;
		unsigned long num;
		bool cut;

		errno = 0;
		num = strtoul(de->d_name, &end, 10);
		if (errno || end == de->d_name || strcmp(end, ".result") || de->d_name[0] == '0' ||
		    num > 1000000)
			continue;
		c[k].n = (unsigned)num;
		snprintf(path, sizeof(path), "%s/%lu.result", dir, num);
		text = read_part(path, 4096, false, &cut);
		if (!text || cut || parse_result(&c[k], text)) {
			free(c[k].name);
			free(c[k].status);
			c[k].name = strdup(de->d_name);
			c[k].status = strdup("unreadable");
			c[k].duration_ms = 0;
		}
		free(text);
		snprintf(path, sizeof(path), "%s/%lu.log", dir, num);
		c[k].log_tail = log_tail(path, &c[k].tail_cut);
		if (!c[k].name || !c[k].status) {
			closedir(d);
			sbx_checks_free(c, k + 1);
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		}
		k++;
	}
	closedir(d);
	qsort(c, k, sizeof(*c), cmp_check);
	*out = c;
	*n = k;
	return 0;
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
