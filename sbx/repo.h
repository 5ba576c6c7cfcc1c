/* SPDX-License-Identifier: MIT */
/* The user's repository, opened the way git hands it over (GIT_DIR, GIT_WORK_TREE, -C). */
#ifndef SBX_SBX_REPO_H
#define SBX_SBX_REPO_H

#include <git2.h>

struct sbx_repo {
	git_repository *git;
	char *gitdir;		/* the repository's own git dir (".git" or a worktree's) */
	char *commondir;	/* where refs and objects live; .git/sbx/ is under here */
	char *workdir;		/* NULL for a bare repository */
};

/* Initialise libgit2 once per process; sbx_lib_shutdown() undoes it. */
int sbx_lib_init(void);
void sbx_lib_shutdown(void);

/*
 * Discover and open the repository from the environment and the current
 * directory, as git does.  SBX_ENOTFOUND when there is none.
 */
int sbx_repo_open(struct sbx_repo **out);
void sbx_repo_free(struct sbx_repo *repo);

/* Turn libgit2's last error into ours: "<what>: <libgit2 message>". */
int sbx_git_error(int code, const char *what);

#endif
