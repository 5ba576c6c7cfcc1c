/* SPDX-License-Identifier: MIT */
/*
 * Host git hooks that git-sbx installs (`git sbx hooks install`): a
 * pre-commit that runs sbx.check on the staged tree in a throwaway VM and a
 * pre-push that refuses sbx/<id> branches whose task was not accepted.
 * Templates: hooks/pre-commit.sh, hooks/pre-push.sh (built into
 * hooks/templates.c).
 *
 * Installed into the hooks directory git uses (core.hooksPath, relative to
 * the worktree's top, or <commondir>/hooks).  Before writing, whatever was
 * there is copied byte for byte, with its mode, into
 * <commondir>/sbx/hooks-backup/<name>, and listed in the backup's manifest
 * (docs/formats.md, "Hook backups"); the hook it replaces is chained to as
 * <hooks dir>/<name>.sbx-chain (a copy beside it, so a hook that finds its
 * files from $0, as husky's do, still works).  Uninstall puts back exactly
 * what the manifest lists and removes the rest.
 */
#ifndef SBX_SBX_HOOKS_H
#define SBX_SBX_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

struct sbx_repo;

/* The second line of every installed hook. */
#define SBX_HOOKS_MARKER "# git-sbx hook: installed by `git sbx hooks install`"
#define SBX_HOOKS_CHAIN_SUFFIX ".sbx-chain"
#define SBX_HOOKS_COUNT 2

/* "pre-commit", "pre-push". */
extern const char *const sbx_hook_names[SBX_HOOKS_COUNT];
/* hooks/templates.c: the hook scripts, by sbx_hook_names' order. */
extern const char *const sbx_hook_templates[SBX_HOOKS_COUNT];

/* Does this file's content carry the marker (within its first lines)? */
bool sbx_hooks_is_ours(const char *buf, size_t len);

struct sbx_hooks_state {
	char *dir;			/* the hooks directory used */
	bool installed;			/* a backup manifest exists */
	bool ours[SBX_HOOKS_COUNT];	/* the hook file there is ours */
	bool chained[SBX_HOOKS_COUNT];	/* it has a user's hook to chain to */
};
void sbx_hooks_state_clear(struct sbx_hooks_state *st);

/*
 * The logic on explicit directories (unit-tested): `dir` the hooks
 * directory, `backup` the backup directory.  Install fails with
 * SBX_EEXISTS when a manifest is there already; on any failure it
 * leaves `dir` as it was.  Uninstall without a manifest: SBX_ENOTFOUND.
 * A hook the user replaced since install is left alone (*kept counts them).
 */
int sbx_hooks_install_at(const char *dir, const char *backup);
int sbx_hooks_uninstall_at(unsigned *kept, const char *dir_hint, const char *backup);
int sbx_hooks_status_at(struct sbx_hooks_state *st, const char *dir, const char *backup);

/* The hooks directory git uses for `repo`; malloc'd. */
int sbx_hooks_dir(char **out, struct sbx_repo *repo);
/* <commondir>/sbx/hooks-backup; malloc'd. */
char *sbx_hooks_backup_dir(struct sbx_repo *repo);
int sbx_hooks_install(struct sbx_repo *repo);
int sbx_hooks_uninstall(unsigned *kept, struct sbx_repo *repo);
int sbx_hooks_status(struct sbx_hooks_state *st, struct sbx_repo *repo);

/*
 * The user's own hook `name` as git would run it without ours: the file in
 * the hooks directory when executable and not ours, else the chained copy
 * behind ours.  *out NULL: none.
 */
int sbx_hooks_user_hook(char **out, struct sbx_repo *repo, const char *name);

/*
 * The pre-push check: `input` is what git gives a pre-push hook on stdin
 * ("<local ref> <local oid> <remote ref> <remote oid>" lines).  A local ref
 * refs/heads/sbx/<id> whose task record's state line is not "accepted" is
 * refused: *refused gets the count and `msg` (may be NULL) each one's line.
 */
typedef void (*sbx_hooks_msg_fn)(void *opaque, const char *line);
int sbx_hooks_check_push(unsigned *refused, struct sbx_repo *repo, const char *input,
			 size_t len, sbx_hooks_msg_fn msg, void *opaque);
/* The state line of task <id>'s record as written ("accepted", "done"...); *out NULL: no record. */
int sbx_hooks_task_state(char **out, struct sbx_repo *repo, unsigned id);

#endif
