// SPDX-License-Identifier: MIT
/* The pager and colours, as git decides them (cmd/pager.h). */
#include "cmd/pager.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

enum pager_choice pager_choice = PAGER_DEFAULT;

static pid_t pager_pid = -1;
static int color_cached = -1;

/*
 * The first line of what `git ARGS` prints, into buf (without the newline);
 * 0 when git exits 0, -1 otherwise (unset config, no git).  stderr is
 * dropped: an unset key is not an error here.
 */
static int git_output(char *buf, size_t size, const char *const argv[])
{
	int fds[2], status;
	size_t len = 0;
	pid_t pid;

	buf[0] = 0;
	if (pipe2(fds, O_CLOEXEC))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 2);
		}
		dup2(fds[1], 1);
		execvp("git", (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		char tmp[512];
		ssize_t n = read(fds[0], tmp, sizeof(tmp));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len + 1 < size) {
			size_t take = (size_t)n < size - 1 - len ? (size_t)n : size - 1 - len;

			memcpy(buf + len, tmp, take);
			len += take;
		}
	}
	close(fds[0]);
	buf[len] = 0;
	buf[strcspn(buf, "\n")] = 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* git's boolean spellings: 1 true, 0 false, -1 not a boolean. */
static int parse_bool(const char *v)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0", "" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!strcasecmp(v, yes[i]))
			return 1;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (!strcasecmp(v, no[i]))
			return 0;
	return -1;
}

static void close_and_wait(void)
{
	int status;

	if (pager_pid < 0)
		return;
	/* The pager sees the end of its input only once every copy of the pipe is closed. */
	close(1);
	close(2);
	while (waitpid(pager_pid, &status, 0) < 0 && errno == EINTR)
		;
	pager_pid = -1;
}

static void wait_for_pager(void)
{
	fflush(stdout);
	fflush(stderr);
	close_and_wait();
}

static void wait_for_pager_signal(int sig)
{
	close_and_wait();
	signal(sig, SIG_DFL);
	raise(sig);
}

static bool env_true(const char *name)
{
	const char *v = getenv(name);

	return v && parse_bool(v) == 1;
}

void setup_pager(void)
{
	static const char *const var_argv[] = { "git", "var", "GIT_PAGER", NULL };
	static const char *const cfg_argv[] = { "git", "config", "--get", "pager.sbx", NULL };
	static const int sigs[] = { SIGINT, SIGHUP, SIGTERM, SIGQUIT, SIGPIPE };
	char pager[1024], cfg[1024];
	int fds[2];
	pid_t pid;
	size_t i;

	if (pager_choice == PAGER_NEVER || pager_pid >= 0 || !isatty(STDOUT_FILENO) ||
	    env_true("GIT_PAGER_IN_USE"))
		return;
	if (pager_choice == PAGER_DEFAULT && !git_output(cfg, sizeof(cfg), cfg_argv)) {
		int b = parse_bool(cfg);

		if (b == 0)
			return;
		if (b < 0) {
			snprintf(pager, sizeof(pager), "%s", cfg);
			goto have;
		}
	}
	if (git_output(pager, sizeof(pager), var_argv))
		snprintf(pager, sizeof(pager), "less");
have:
	if (!pager[0] || !strcmp(pager, "cat"))
		return;
	if (pipe2(fds, O_CLOEXEC))
		return;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		dup2(fds[0], 0);
		setenv("LESS", getenv("LESS") ? getenv("LESS") : "FRX", 1);
		setenv("LV", getenv("LV") ? getenv("LV") : "-c", 1);
		execl("/bin/sh", "sh", "-c", pager, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	dup2(fds[1], STDOUT_FILENO);
	if (isatty(STDERR_FILENO))
		dup2(fds[1], STDERR_FILENO);
	close(fds[1]);
	pager_pid = pid;
	/* git diff and others we run see that a pager (a terminal) is behind the pipe. */
	setenv("GIT_PAGER_IN_USE", "true", 1);
	atexit(wait_for_pager);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], wait_for_pager_signal);
}

bool want_color(void)
{
	const char *argv[] = { "git", "config", "--get-colorbool", "color.sbx", NULL, NULL };
	char out[16];
	bool tty = pager_pid >= 0 || env_true("GIT_PAGER_IN_USE") || isatty(STDOUT_FILENO);
	const char *term = getenv("TERM");

	if (color_cached >= 0)
		return color_cached;
	if (tty && (!term || !strcmp(term, "dumb")))
		tty = false;	/* git's auto colours no dumb terminal */
	argv[4] = tty ? "true" : "false";
	if (git_output(out, sizeof(out), argv))
		color_cached = 0;
	else
		color_cached = !strcmp(out, "true");
	return color_cached;
}

const char *color(const char *code)
{
	return want_color() ? code : "";
}
