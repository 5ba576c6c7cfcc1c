/* SPDX-License-Identifier: MIT */
/*
 * The walk over a result's objects before it is published: connectivity
 * (everything reachable from the tip is in the pack or the repository) and
 * what git's fsck does not refuse but a checkout on the host must not get:
 *
 *   - an embedded repository: a directory holding HEAD beside objects/,
 *     refs/ or commondir (any case), which `git status` run inside it would
 *     take for a repository whose config (core.fsmonitor, ...) runs commands;
 *     sbx.allowEmbeddedRepositories allows it;
 *   - a symlink whose target is absolute, climbs out of the worktree
 *     (`a/evil -> ../../.git/hooks`), or goes through a `.git` component;
 *   - trees nested deeper than sbx.maxTreeDepth;
 *   - a gitlink to a commit the repository does not have in a tree without
 *     .gitmodules (an embedded clone committed by `git add -A`);
 *   - entry names no checkout may write (".", "..", ".git" and its variants).
 *
 * Objects new in the pack are checked in full; trees already in the
 * repository are walked (once each) only for their depth and for relative
 * symlinks, whose meaning changes when a new tree moves them -- except where
 * a new tree holds, at the same path, the very subtree the task's base has
 * there: that is the host's own checkout and is skipped.
 */
#ifndef SBX_SBX_IMPORT_CHECK_H
#define SBX_SBX_IMPORT_CHECK_H

#include <git2.h>
#include <stdbool.h>

#include "sbx/oidset.h"

#define SBX_IMPORT_DEFAULT_MAX_TREE_DEPTH 48
#define SBX_IMPORT_MAX_TREE_DEPTH 64	/* sbx_rmtree's own limit */
#define SBX_IMPORT_MAX_SYMLINK 4095

struct sbx_import_tree;

struct sbx_import_walk {
	git_odb *repo_odb;		/* the repository's own objects */
	git_odb *pack_odb;		/* only the received pack (NULL: it was empty) */
	git_repository *qrepo;		/* both */
	unsigned max_tree_depth;	/* directories below the root (a/b/c/file: 3) */
	bool allow_embedded_repos;
	git_oid base_tree;		/* the task base's tree: its subtrees where it has them are skipped */
	bool has_base_tree;
	struct sbx_oidset visited;	/* objects of the pack reached from the tip */
	/* internal: what each tree was found to hold */
	struct sbx_import_tree **trees;
	size_t ntrees, cap;
};

/* 0, or SBX_ECORRUPT / SBX_ELIMIT with a message naming the object and path. */
int sbx_import_walk(struct sbx_import_walk *w, const git_oid *tip);
void sbx_import_walk_clear(struct sbx_import_walk *w);

/* A tree entry name no checkout may write (also sbx_bundle_bad_entry_name). */
bool sbx_import_bad_name(const char *name, size_t len);
/*
 * How many directories above its own a relative symlink target reaches
 * lexically (0: stays at or below), or -1 when it is absolute or passes
 * through a `.git` component.
 */
int sbx_import_symlink_climb(const char *target, size_t len);

#endif
