// SPDX-License-Identifier: MIT
/*
 * A task as a pull request's body, in Markdown (CommonMark, as GitHub and
 * GitLab render it).  Guest text never becomes markup: in running text
 * every ASCII punctuation character is backslash-escaped (no links, images
 * or HTML from a commit subject), and code blocks are fenced with more
 * backticks than the text holds in a row.  Control bytes are escaped as on
 * a terminal (util/quote.h) since the body is printed too.
 */
#include "sbx/review.h"
#include "util/error.h"
#include "util/quote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Running text: quoted, then punctuation escaped; newlines become spaces unless `lines`. */
static void md_text(FILE *f, const char *s, bool lines)
{
	char *q = sbx_quote_str(s ? s : ""), *p;

	if (!q)
		return;
	for (p = q; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\n' && !lines)
			fputc(' ', f);
		else if (c < 0x80 && c > 0x20 && strchr("\\`*_[]<>!&|~#", c))
			fprintf(f, "\\%c", c);
		else
			fputc(c, f);
	}
	free(q);
}

/* A fenced code block of `s` (quoted), with a fence no line of it can close. */
static void md_code(FILE *f, const char *info, const char *s)
{
	char *q = sbx_quote_str(s ? s : ""), *p;
	size_t run = 0, longest = 0, fence;

	if (!q)
		return;
	for (p = q; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	fence = longest >= 3 ? longest + 1 : 3;
	for (size_t i = 0; i < fence; i++)
		fputc('`', f);
	fprintf(f, "%s\n%s", info, q);
	if (*q && q[strlen(q) - 1] != '\n')
		fputc('\n', f);
	for (size_t i = 0; i < fence; i++)
		fputc('`', f);
	fputs("\n\n", f);
	free(q);
}

static void md_ms(FILE *f, uint64_t ms)
{
	if (ms < 1000)
		fprintf(f, "%llums", (unsigned long long)ms);
	else
		fprintf(f, "%.1fs", (double)ms / 1000.0);
}

int sbx_review_markdown(char **out, struct sbx_review *r, bool title)
{
	const struct sbx_task *t = r->task;
	char *buf = NULL, hex[GIT_OID_HEXSZ + 1];
	size_t size = 0, i;
	FILE *f;
	int err;

	*out = NULL;
	if ((err = sbx_review_load_patch(r)))
		return err;
	f = open_memstream(&buf, &size);
	if (!f)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (title) {
		fputs("# ", f);
		md_text(f, r->title, false);
		fputs("\n\n", f);
	}
	/* the prompt, as the user wrote it, quoted line by line */
	{
		const char *p = t->prompt ? t->prompt : "";

		while (*p) {
			size_t len = strcspn(p, "\n");
			char *line = strndup(p, len);

			fputs("> ", f);
			md_text(f, line, false);
			fputs("\n", f);
			free(line);
			p += len + (p[len] == '\n');
		}
		fputs("\n", f);
	}
	fprintf(f, "sbx task %u", t->id);
	if (t->agent) {
		fputs(", agent ", f);
		md_text(f, t->agent, false);
	}
	fprintf(f, ", from `%.12s` (", git_oid_tostr(hex, sizeof(hex), &t->base));
	md_text(f, r->summary.base_subject ? r->summary.base_subject : "", false);
	fprintf(f, "), branch `sbx/%u`: %zu commit%s, %zu file%s changed, +%zu -%zu.\n\n", t->id,
		r->summary.ncommits, r->summary.ncommits == 1 ? "" : "s", r->summary.files_changed,
		r->summary.files_changed == 1 ? "" : "s", r->summary.insertions, r->summary.deletions);

	if (r->summary.ncommits_listed) {
		fputs("## Commits\n\n", f);
		for (i = 0; i < r->summary.ncommits_listed; i++) {
			const char *c = r->summary.commits[i], *sp = strchr(c, ' ');

			fprintf(f, "- `%.*s` ", (int)(sp ? (size_t)(sp - c) : strlen(c)), c);
			md_text(f, sp ? sp + 1 : "", false);
			fputs("\n", f);
		}
		if (r->summary.ncommits > r->summary.ncommits_listed)
			fprintf(f, "- ... and %zu more\n", r->summary.ncommits - r->summary.ncommits_listed);
		fputs("\n", f);
	}
	if (r->nchecks) {
		fprintf(f, "## Checks: %s\n\n| check | result | time |\n|---|---|---|\n",
			r->checks_failed ? "failed" : "passed");
		for (i = 0; i < r->nchecks; i++) {
			fputs("| ", f);
			md_text(f, r->checks[i].name, false);
			fputs(" | ", f);
			md_text(f, r->checks[i].status, false);
			fputs(" | ", f);
			md_ms(f, r->checks[i].duration_ms);
			fputs(" |\n", f);
		}
		fputs("\n", f);
		for (i = 0; i < r->nchecks; i++) {
			if (!r->checks[i].log_tail || !strcmp(r->checks[i].status, "pass"))
				continue;
			fputs("<details><summary>", f);
			md_text(f, r->checks[i].name, false);
			fputs(": the log's last lines</summary>\n\n", f);
			md_code(f, "", r->checks[i].log_tail);
			fputs("</details>\n\n", f);
		}
	}
	if (r->has_audit) {
		char *text = sbx_audit_summary_text(&r->audit);

		fputs("## Network and commands (audit trail)\n\n", f);
		md_code(f, "", text ? text : "(out of memory)");
		free(text);
	}
	fputs("## Changes\n\n", f);
	md_code(f, "", r->diffstat);
	md_code(f, "diff", r->patch);
	if (fclose(f)) {
		free(buf);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	/* one newline at the end */
	while (size > 1 && buf[size - 1] == '\n' && buf[size - 2] == '\n')
		buf[--size] = 0;
	*out = buf;
	return 0;
}
