/* SPDX-License-Identifier: MIT */
/* Shared by sbx/accept.c, sbx/apply.c and sbx/review.c only. */
#ifndef SBX_SBX_ACCEPT_INT_H
#define SBX_SBX_ACCEPT_INT_H

#include <git2.h>
#include <stddef.h>

struct sbx_repo;
struct sbx_task;

/* GIT_<who>_NAME/EMAIL/DATE over user.name/email and now; who: "AUTHOR" or "COMMITTER". */
int accept_ident(git_signature **out, struct sbx_repo *repo, const char *who);
/* SBX_EEXISTS naming the paths when the index or a tracked file differs from HEAD. */
int accept_check_clean(struct sbx_repo *repo);
/* SBX_EEXISTS naming the paths when a file `diff` adds is in the working tree already. */
int accept_check_added(struct sbx_repo *repo, git_diff *diff);
/* "'a', 'b', ..." into buf, counting. */
void accept_list_path(char *buf, size_t size, size_t *count, const char *path);
/* flock the task's run lock without waiting (SBX_ELOCKED: it runs). */
int accept_lock_task(int *fd, const struct sbx_task *t);
/* The tip of sbx/<id>; SBX_ENOTFOUND when gone, SBX_EINVAL when it holds no commits. */
int accept_task_tip(git_oid *tip, struct sbx_repo *repo, const struct sbx_task *t);
/* The prompt's first line, trimmed (at most 200 bytes), or "sbx task <id>". */
void accept_title(char *buf, size_t size, const struct sbx_task *t);

#endif
