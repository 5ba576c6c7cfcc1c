// SPDX-License-Identifier: MIT
/*
 * A task's result into the repository (sbx/task.h): the verified import
 * of the guest's bundle (sbx/bundle.h), then the ref and the worktree.
 */
#include "sbx/task.h"
#include "sbx/task-int.h"
#include "sbx/bundle.h"
#include "sbx/repo.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int sbx_task_import_begin(struct sbx_bundle_import **imp, git_oid *old_tip,
			  struct sbx_repo *repo, const struct sbx_task *t)
{
	return sbx_task_import_begin_ext(imp, old_tip, repo, t, false);
}

int sbx_task_import_begin_ext(struct sbx_bundle_import **imp, git_oid *old_tip,
			      struct sbx_repo *repo, const struct sbx_task *t, bool objects_only)
{
	struct sbx_bundle_import_opts opts = SBX_BUNDLE_IMPORT_OPTS_INIT;
	char refname[64];
	int err;

	*imp = NULL;
	snprintf(refname, sizeof(refname), "refs/heads/%s", t->branch);
	if (t->result_ref && git_reference_name_to_id(old_tip, repo->git, t->result_ref) < 0)
		return sbx_error_set(SBX_ENOTFOUND, "task %u's '%s' is gone", t->id, t->result_ref);
	if (!t->result_ref && git_reference_name_to_id(old_tip, repo->git, refname) < 0)
		return sbx_error_set(SBX_ENOTFOUND, "task %u's branch '%s' is gone", t->id, t->branch);
	if ((err = sbx_bundle_config_import(repo->git, &opts)))
		return err;
	opts.branch = t->branch;
	opts.base = t->base;
	opts.expected_old = old_tip;
	opts.objects_only = objects_only;
	opts.ref = t->result_ref;
	return sbx_bundle_import_begin(imp, repo->git, &opts);
}

int sbx_task_import_objects(git_oid *tip, struct sbx_bundle_import *imp)
{
	int err = sbx_bundle_import_finish(imp, tip);

	sbx_bundle_import_free(imp);
	return err;
}

int sbx_task_import_publish(bool *worktree_kept, struct sbx_repo *repo, struct sbx_task *t,
			    const git_oid *old_tip, const git_oid *tip)
{
	git_reference *ref = NULL;
	char refname[64];
	int err = 0;

	*worktree_kept = false;
	snprintf(refname, sizeof(refname), "refs/heads/%s", t->branch);
	if (git_oid_cmp(old_tip, tip)) {
		int rc = git_reference_create_matching(&ref, repo->git,
						       t->result_ref ? t->result_ref : refname, tip, 1,
						       old_tip, "sbx: import result");

		git_reference_free(ref);
		if (rc == GIT_EMODIFIED && t->result_ref)
			return sbx_error_set(SBX_ELOCKED, "'%s' moved during the task", t->result_ref);
		if (rc == GIT_EMODIFIED)
			return sbx_error_set(SBX_ELOCKED, "branch '%s' moved during the task", t->branch);
		if (rc < 0)
			return sbx_git_error(SBX_ERROR, "cannot move the task's branch");
	}
	t->has_result = true;
	t->result = *tip;
	if (git_oid_cmp(old_tip, tip))
		err = sbx_task_update_worktree(worktree_kept, t, old_tip, tip);
	if (!err)
		err = sbx_task_save(t);
	return err;
}

int sbx_task_import_finish(git_oid *tip, bool *worktree_kept, struct sbx_bundle_import *imp,
			   const git_oid *old_tip, struct sbx_task *t)
{
	int err = sbx_bundle_import_finish(imp, tip);

	sbx_bundle_import_free(imp);
	*worktree_kept = false;
	if (err)
		return err;
	t->has_result = true;
	t->result = *tip;
	if (git_oid_cmp(old_tip, tip))
		err = sbx_task_update_worktree(worktree_kept, t, old_tip, tip);
	if (!err)
		err = sbx_task_save(t);
	return err;
}

int sbx_task_import_fd(git_oid *tip, bool *worktree_kept, struct sbx_repo *repo,
		       struct sbx_task *t, int fd)
{
	struct sbx_bundle_import *imp = NULL;
	char *buf;
	git_oid old;
	int err;

	*worktree_kept = false;
	if ((err = sbx_task_import_begin(&imp, &old, repo, t)))
		return err;
	buf = malloc(1 << 16);
	if (!buf) {
		sbx_bundle_import_free(imp);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 16);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = sbx_error_errno(SBX_EIO, "cannot read the bundle");
		else if (n > 0 && (err = sbx_bundle_import_write(imp, buf, (size_t)n)))
			sbx_error_prefix(err, "rejected the result bundle");
		if (n <= 0 || err)
			break;
	}
	free(buf);
	if (err) {
		sbx_bundle_import_free(imp);
		return err;
	}
	return sbx_task_import_finish(tip, worktree_kept, imp, &old, t);
}
