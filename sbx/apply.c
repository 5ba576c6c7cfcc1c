// SPDX-License-Identifier: MIT
/* git sbx apply: a task's changes into the working tree, uncommitted (sbx/accept.h). */
#include "sbx/accept.h"
#include "sbx/accept-int.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "util/error.h"

#include <string.h>

/* Paths the diff touches that differ from HEAD in the index or the working tree. */
static int check_touched_clean(struct sbx_repo *repo, git_diff *diff)
{
	char paths[512] = "";
	size_t i, n = git_diff_num_deltas(diff), count = 0;

	for (i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		const char *p[2] = { d->old_file.path, d->new_file.path };
		int k;

		for (k = 0; k < 2; k++) {
			unsigned st = 0;
			int err;

			if (k == 1 && !strcmp(p[0], p[1]))
				break;
			err = git_status_file(&st, repo->git, p[k]);
			if (err == GIT_ENOTFOUND)
				continue;
			if (err < 0)
				return sbx_git_error(SBX_ERROR, "cannot read the working tree's status");
			if (st != GIT_STATUS_CURRENT && !(st & GIT_STATUS_IGNORED) && !(st & GIT_STATUS_WT_NEW))
				accept_list_path(paths, sizeof(paths), &count, p[k]);
		}
	}
	if (count)
		return sbx_error_set(SBX_EEXISTS, "your local changes to %s would be overwritten: "
				     "commit or stash them first", paths);
	return 0;
}

int sbx_task_apply(size_t *nfiles, struct sbx_repo *repo, const struct sbx_task *task)
{
	git_diff_options dopts;
	git_apply_options aopts;
	git_commit *base = NULL, *tip = NULL;
	git_tree *base_tree = NULL, *tip_tree = NULL;
	git_diff *diff = NULL;
	git_oid tip_id;
	int err;

	*nfiles = 0;
	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	git_apply_options_init(&aopts, GIT_APPLY_OPTIONS_VERSION);
	if (!repo->workdir)
		return sbx_error_set(SBX_EINVAL, "a bare repository has no working tree to apply to");
	if ((err = accept_task_tip(&tip_id, repo, task)))
		return err;
	dopts.flags |= GIT_DIFF_SHOW_BINARY;
	if (git_commit_lookup(&base, repo->git, &task->base) < 0 ||
	    git_commit_lookup(&tip, repo->git, &tip_id) < 0 ||
	    git_commit_tree(&base_tree, base) < 0 || git_commit_tree(&tip_tree, tip) < 0 ||
	    git_diff_tree_to_tree(&diff, repo->git, base_tree, tip_tree, &dopts) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot read the task's changes");
		goto out;
	}
	if ((err = check_touched_clean(repo, diff)) || (err = accept_check_added(repo, diff)))
		goto out;
	/* libgit2 works out every file first and writes only when all of them apply */
	if (git_apply(repo->git, diff, GIT_APPLY_LOCATION_WORKDIR, &aopts) < 0) {
		err = sbx_git_error(SBX_EEXISTS, "the task's changes do not apply to the working tree");
		goto out;
	}
	*nfiles = git_diff_num_deltas(diff);
out:
	git_diff_free(diff);
	git_tree_free(base_tree);
	git_tree_free(tip_tree);
	git_commit_free(base);
	git_commit_free(tip);
	return err;
}
