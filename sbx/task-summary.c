// SPDX-License-Identifier: MIT
/* What a task's branch holds, for list, show and the summary (sbx/task.h). */
#include "sbx/task.h"
#include "sbx/repo.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sbx_task_summary_clear(struct sbx_task_summary *s)
{
	size_t i;

	for (i = 0; i < s->ncommits_listed; i++)
		free(s->commits[i]);
	free(s->commits);
	free(s->base_subject);
	memset(s, 0, sizeof(*s));
}

static char *oneline(git_commit *c)
{
	char hex[8], *s;
	const char *subj = git_commit_summary(c);

	git_oid_tostr(hex, sizeof(hex), git_commit_id(c));
	if (asprintf(&s, "%s %s", hex, subj ? subj : "") < 0)
		return NULL;
	return s;
}

static int diffstat(struct sbx_task_summary *s, git_repository *git, const git_oid *a, const git_oid *b)
{
	git_commit *ca = NULL, *cb = NULL;
	git_tree *ta = NULL, *tb = NULL;
	git_diff *diff = NULL;
	git_diff_stats *stats = NULL;
	git_diff_options dopts;
	git_diff_find_options fopts;
	int err = 0;

	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	git_diff_find_options_init(&fopts, GIT_DIFF_FIND_OPTIONS_VERSION);
	if (git_commit_lookup(&ca, git, a) < 0 || git_commit_lookup(&cb, git, b) < 0 ||
	    git_commit_tree(&ta, ca) < 0 || git_commit_tree(&tb, cb) < 0 ||
	    git_diff_tree_to_tree(&diff, git, ta, tb, &dopts) < 0 ||
	    git_diff_find_similar(diff, &fopts) < 0 || git_diff_get_stats(&stats, diff) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot compute the diffstat");
		goto out;
	}
	s->files_changed = git_diff_stats_files_changed(stats);
	s->insertions = git_diff_stats_insertions(stats);
	s->deletions = git_diff_stats_deletions(stats);
out:
	git_diff_stats_free(stats);
	git_diff_free(diff);
	git_tree_free(ta);
	git_tree_free(tb);
	git_commit_free(ca);
	git_commit_free(cb);
	return err;
}

int sbx_task_summarize(struct sbx_task_summary *s, struct sbx_repo *repo,
		       const struct sbx_task *t, bool with_diffstat)
{
	git_revwalk *walk = NULL;
	git_commit *base = NULL;
	char refname[64];
	git_oid id;
	int err = 0;

	memset(s, 0, sizeof(*s));
	snprintf(refname, sizeof(refname), "refs/heads/%s", t->branch);
	if (git_reference_name_to_id(&s->tip, repo->git, refname) == 0)
		s->branch_exists = true;
	else if (t->has_result)
		s->tip = t->result;
	else
		s->tip = t->base;
	if (git_commit_lookup(&base, repo->git, &t->base) == 0) {
		s->base_subject = strdup(git_commit_summary(base) ? git_commit_summary(base) : "");
		git_commit_free(base);
	}
	s->commits = calloc(SBX_TASK_SUMMARY_MAX_COMMITS, sizeof(*s->commits));
	if (!s->commits)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (git_revwalk_new(&walk, repo->git) < 0 || git_revwalk_push(walk, &s->tip) < 0 ||
	    git_revwalk_hide(walk, &t->base) < 0) {
		/* a tip or base that is gone: nothing to count */
		git_revwalk_free(walk);
		return 0;
	}
	while (git_revwalk_next(&id, walk) == 0) {
		s->ncommits++;
		if (s->ncommits_listed < SBX_TASK_SUMMARY_MAX_COMMITS) {
			git_commit *c = NULL;

			if (git_commit_lookup(&c, repo->git, &id) == 0) {
				s->commits[s->ncommits_listed] = oneline(c);
				if (s->commits[s->ncommits_listed])
					s->ncommits_listed++;
				git_commit_free(c);
			}
		}
	}
	git_revwalk_free(walk);
	if (with_diffstat && git_oid_cmp(&s->tip, &t->base))
		err = diffstat(s, repo->git, &t->base, &s->tip);
	return err;
}
