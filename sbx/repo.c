// SPDX-License-Identifier: MIT
#include "sbx/repo.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

int sbx_lib_init(void)
{
	if (git_libgit2_init() < 0)
		return sbx_git_error(SBX_ERROR, "cannot initialise libgit2");
	return 0;
}

void sbx_lib_shutdown(void)
{
	git_libgit2_shutdown();
}

int sbx_git_error(int code, const char *what)
{
	/* libgit2 1.5 may return NULL here. */
	const git_error *e = git_error_last();

	return sbx_error_set(code, "%s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
}

static char *strip_slash(const char *path)
{
	char *s = strdup(path);
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

/*
 * libgit2 1.5 implements GIT_DIR, GIT_CEILING_DIRECTORIES and friends for
 * GIT_REPOSITORY_OPEN_FROM_ENV but refuses GIT_WORK_TREE ("unimplemented"),
 * so we set the work tree ourselves, relative paths taken from the current
 * directory as git does.
 */
static int open_from_env(git_repository **out)
{
	const char *env = getenv("GIT_WORK_TREE");
	char *worktree = NULL, *saved = NULL;
	int err;

	if (!env || !*env)
		return git_repository_open_ext(out, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL);
	saved = strdup(env);
	worktree = realpath(env, NULL);
	if (!saved || !worktree) {
		free(saved);
		free(worktree);
		git_error_set_str(GIT_ERROR_OS, "GIT_WORK_TREE does not name a directory");
		return -1;
	}
	unsetenv("GIT_WORK_TREE");
	err = git_repository_open_ext(out, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL);
	setenv("GIT_WORK_TREE", saved, 1);
	if (!err) {
		err = git_repository_set_workdir(*out, worktree, 0);
		if (err) {
			git_repository_free(*out);
			*out = NULL;
		}
	}
	free(saved);
	free(worktree);
	return err;
}

int sbx_repo_open(struct sbx_repo **out)
{
	struct sbx_repo *repo;
	int err;

	*out = NULL;
	repo = calloc(1, sizeof(*repo));
	if (!repo)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = open_from_env(&repo->git);
	if (err == GIT_ENOTFOUND) {
		free(repo);
		return sbx_error_set(SBX_ENOTFOUND,
				     "not a git repository (or any of the parent directories)");
	}
	if (err < 0) {
		free(repo);
		return sbx_git_error(SBX_ERROR, "cannot open the repository");
	}
	repo->gitdir = strip_slash(git_repository_path(repo->git));
	repo->commondir = strip_slash(git_repository_commondir(repo->git));
	if (git_repository_workdir(repo->git))
		repo->workdir = strip_slash(git_repository_workdir(repo->git));
	if (!repo->gitdir || !repo->commondir ||
	    (git_repository_workdir(repo->git) && !repo->workdir)) {
		sbx_repo_free(repo);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	*out = repo;
	return 0;
}

void sbx_repo_free(struct sbx_repo *repo)
{
	if (!repo)
		return;
	git_repository_free(repo->git);
	free(repo->gitdir);
	free(repo->commondir);
	free(repo->workdir);
	free(repo);
}
