// SPDX-License-Identifier: MIT
#include "util/spawn.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int spawn_wait(const char *const argv[], int in_fd, int out_fd, int quiet)
{
	posix_spawn_file_actions_t fa;
	char errbuf[1024] = "";
	FILE *errf = NULL;
	int status, rc, null_fd = -1;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	if (in_fd < 0) {
		null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		in_fd = null_fd;
	}
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (quiet) {
		errf = tmpfile();
		if (errf) {
			posix_spawn_file_actions_adddup2(&fa, fileno(errf), 2);
			if (out_fd < 0)
				posix_spawn_file_actions_adddup2(&fa, fileno(errf), 1);
		}
	}
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (null_fd >= 0)
		close(null_fd);
	if (rc) {
		if (errf)
			fclose(errf);
		errno = rc;
		return sbx_error_errno(rc == ENOENT ? SBX_ENOTFOUND : SBX_ERROR,
				       "cannot run '%s'", argv[0]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			if (errf)
				fclose(errf);
			return sbx_error_errno(SBX_ERROR, "waiting for '%s'", argv[0]);
		}
	if (errf) {
		size_t n;

		rewind(errf);
		n = fread(errbuf, 1, sizeof(errbuf) - 1, errf);
		errbuf[n] = '\0';
		while (n && (errbuf[n - 1] == '\n' || errbuf[n - 1] == ' '))
			errbuf[--n] = '\0';
		fclose(errf);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return sbx_error_set(SBX_ENOTFOUND, "'%s' is not installed (run tools/setup)", argv[0]);
	if (WIFSIGNALED(status))
		return sbx_error_set(SBX_ERROR, "'%s' was killed by signal %d%s%s", argv[0],
				     WTERMSIG(status), errbuf[0] ? ": " : "", errbuf);
	return sbx_error_set(SBX_ERROR, "'%s' failed with status %d%s%s", argv[0],
			     WEXITSTATUS(status), errbuf[0] ? ": " : "", errbuf);
}
