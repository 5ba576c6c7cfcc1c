/* SPDX-License-Identifier: MIT */
/* Shared by the unit tests that make git repositories: a clean git environment. */
#ifndef SBX_TESTS_UNIT_GIT_FIXTURE_H
#define SBX_TESTS_UNIT_GIT_FIXTURE_H

#include <stdlib.h>

/* HOME in the test's directory, no system config, a fixed identity, no GIT_DIR. */
static inline void fixture_git_env(const char *home)
{
	setenv("HOME", home, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "A U Thor", 1);
	setenv("GIT_AUTHOR_EMAIL", "author@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "C O Mitter", 1);
	setenv("GIT_COMMITTER_EMAIL", "committer@example.com", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
}

#endif
