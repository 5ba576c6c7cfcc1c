/* SPDX-License-Identifier: MIT */
/* Shared inside sbx/task*.c only. */
#ifndef SBX_SBX_TASK_INT_H
#define SBX_SBX_TASK_INT_H

#include <stdbool.h>
#include <stdint.h>

struct sbx_repo;
struct sbx_task;

/* Decimal, one spelling per number (no sign, no leading zero), at most max. */
int task_parse_uint_str(const char *s, uint64_t max, uint64_t *out);
int64_t task_now_ms(void);
/* <commondir>/sbx[/sub], <commondir>/sbx/tasks/<id>, <task dir>/<name>; malloc'd. */
char *task_sbx_dir(struct sbx_repo *repo, const char *sub);
char *task_dir(struct sbx_repo *repo, unsigned id);
char *task_file(const struct sbx_task *t, const char *name);
/* Read the record in `dir`, which must be task `id`'s (an attempt's view has its task's id). */
int task_open_dir(struct sbx_task **out, const char *dir, unsigned id);
/* Is this directory entry a task id? */
bool task_id_name(const char *name, unsigned *id);
bool task_path_exists(const char *p);
/* flock sbx/lock (waits). */
int task_lock_repo(int *fd, struct sbx_repo *repo);
/* git worktree add: <commondir>/sbx/worktrees/<id> on branch sbx/<id> (sbx/task-worktree.c). */
int task_add_worktree(struct sbx_repo *repo, struct sbx_task *t);
/* git worktree sbx-<id> with its files and admin dir; then `path` if still there. */
int task_prune_worktree(struct sbx_repo *repo, unsigned id, const char *path);
/* Delete a local branch unless it is checked out somewhere (*kept then). */
int task_delete_branch(bool *kept, struct sbx_repo *repo, const char *branch);

#endif
