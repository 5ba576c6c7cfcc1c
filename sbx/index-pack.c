// SPDX-License-Identifier: MIT
/*
 * `git index-pack --strict` in a quarantine, fed from our pack scanner
 * (the why is in sbx/index-pack.h).
 */
#include "sbx/index-pack.h"
#include "sbx/fsutil.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Beyond git's --strict defaults: the fsck "info" messages that git itself
 * refuses to check out in newer versions become errors here.
 */
#define STRICT_ARG "--strict=gitattributesSymlink=error,gitignoreSymlink=error," \
		   "mailmapSymlink=error,gitmodulesParse=error"

struct sbx_index_pack {
	pid_t pid;
	int in;			/* our end of the child's stdin (a socket: no SIGPIPE) */
	int out, err;		/* files in the quarantine for its stdout and stderr */
	int status;
	bool exited;
};

void sbx_index_pack_free(struct sbx_index_pack *ip)
{
	if (!ip)
		return;
	if (ip->in >= 0)
		close(ip->in);
	if (ip->pid > 0 && !ip->exited) {
		kill(ip->pid, SIGKILL);
		while (waitpid(ip->pid, &ip->status, 0) < 0 && errno == EINTR)
			;
	}
	if (ip->out >= 0)
		close(ip->out);
	if (ip->err >= 0)
		close(ip->err);
	free(ip);
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char *p = sbx_path_join(dir, name);
	int fd, err = 0;
	size_t n = strlen(text);

	if (!p)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n)
		err = sbx_error_errno(SBX_EIO, "cannot write '%s'", p);
	if (fd >= 0)
		close(fd);
	free(p);
	return err;
}

static int open_log(const char *dir, const char *name)
{
	char *p = sbx_path_join(dir, name);
	int fd;

	if (!p)
		return -1;
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(p);
	return fd;
}

/*
 * GIT_ALTERNATE_OBJECT_DIRECTORIES is ':'-separated; a path with ':' or a
 * leading '"' must be C-quoted for git to read it as one entry.
 */
static char *alternate_entry(const char *dir)
{
	size_t i, n = strlen(dir), k = 0;
	char *q;

	if (!strchr(dir, ':') && dir[0] != '"')
		return strdup(dir);
	q = malloc(4 * n + 3);
	if (!q)
		return NULL;
	q[k++] = '"';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)dir[i];

		if (c == '"' || c == '\\') {
			q[k++] = '\\';
			q[k++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			k += (size_t)sprintf(q + k, "\\%03o", c);
		} else {
			q[k++] = (char)c;
		}
	}
	q[k++] = '"';
	q[k] = '\0';
	return q;
}

int sbx_index_pack_start(struct sbx_index_pack **out, const char *qdir, const char *objdir)
{
	static const char *const argv[] = {
		"git", "-c", "pack.writeReverseIndex=false", "-c", "core.bigFileThreshold=512m",
		"index-pack", "--stdin", "--fix-thin", STRICT_ARG, NULL
	};
	struct sbx_index_pack *ip;
	posix_spawn_file_actions_t fa;
	char *env[16] = { NULL }, *repodir = NULL, *objects = NULL, *refs = NULL, *alt = NULL;
	const char *path = getenv("PATH");
	int sv[2] = { -1, -1 }, err = 0, rc;
	size_t i, n = 0;

	*out = NULL;
	ip = calloc(1, sizeof(*ip));
	if (!ip)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	ip->in = ip->out = ip->err = -1;
	/* A repository with nothing in it but HEAD and refs/: no config, no hooks. */
	repodir = sbx_path_join(qdir, "repo");
	objects = sbx_path_join(qdir, "objects");
	refs = repodir ? sbx_path_join(repodir, "refs") : NULL;
	alt = alternate_entry(objdir);
	if (!repodir || !objects || !refs || !alt) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = sbx_mkdirs(refs)) || (err = sbx_mkdirs(objects)) ||
	    (err = write_file(repodir, "HEAD", "ref: refs/heads/main\n")))
		goto out;
	ip->out = open_log(qdir, "index-pack.out");
	ip->err = open_log(qdir, "index-pack.err");
	if (ip->out < 0 || ip->err < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot create files in '%s'", qdir);
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		err = sbx_error_errno(SBX_EIO, "cannot make a socket pair");
		goto out;
	}
	if (asprintf(&env[n++], "PATH=%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin") < 0 ||
	    asprintf(&env[n++], "HOME=%s", qdir) < 0 ||
	    asprintf(&env[n++], "XDG_CONFIG_HOME=%s", qdir) < 0 ||
	    asprintf(&env[n++], "GIT_DIR=%s", repodir) < 0 ||
	    asprintf(&env[n++], "GIT_OBJECT_DIRECTORY=%s", objects) < 0 ||
	    asprintf(&env[n++], "GIT_ALTERNATE_OBJECT_DIRECTORIES=%s", alt) < 0 ||
	    !(env[n++] = strdup("GIT_CONFIG_NOSYSTEM=1")) ||
	    !(env[n++] = strdup("GIT_CONFIG_GLOBAL=/dev/null")) ||
	    !(env[n++] = strdup("GIT_CONFIG_SYSTEM=/dev/null")) ||
	    !(env[n++] = strdup("GIT_ATTR_NOSYSTEM=1")) ||
	    !(env[n++] = strdup("GIT_TERMINAL_PROMPT=0")) ||
	    !(env[n++] = strdup("LC_ALL=C"))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	posix_spawn_file_actions_adddup2(&fa, ip->out, 1);
	posix_spawn_file_actions_adddup2(&fa, ip->err, 2);
	posix_spawn_file_actions_addchdir_np(&fa, qdir);
	rc = posix_spawnp(&ip->pid, argv[0], &fa, NULL, (char *const *)argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		errno = rc;
		ip->pid = 0;
		err = sbx_error_errno(rc == ENOENT ? SBX_ENOTFOUND : SBX_ERROR, "cannot run 'git index-pack'");
		goto out;
	}
	ip->in = sv[0];
	sv[0] = -1;
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	for (i = 0; i < n; i++)
		free(env[i]);
	free(repodir);
	free(objects);
	free(refs);
	free(alt);
	if (err)
		sbx_index_pack_free(ip);
	else
		*out = ip;
	return err;
}

static int reap(struct sbx_index_pack *ip)
{
	if (ip->exited)
		return 0;
	while (waitpid(ip->pid, &ip->status, 0) < 0)
		if (errno != EINTR)
			return sbx_error_errno(SBX_ERROR, "waiting for 'git index-pack'");
	ip->exited = true;
	return 0;
}

/* Read up to cap bytes of one of the child's files. */
static size_t slurp(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < cap && (r = pread(fd, buf + n, cap - 1 - n, (off_t)n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return n;
}

/*
 * git's complaint, for the message: its first "error:" line (the fsck
 * finding, e.g. "error: object 1234...: duplicateEntries: contains
 * duplicate file entries"), else its "fatal:" line.  It may quote what the
 * guest wrote (a URL, a path), so control bytes become '?'.
 */
static int complaint(struct sbx_index_pack *ip)
{
	char buf[8192], line[320];
	const char *pick = NULL, *p;
	size_t i, len;

	slurp(ip->err, buf, sizeof(buf));
	for (p = buf; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
		if (!strncmp(p, "error: ", 7)) {
			pick = p;
			break;
		}
		if (!pick && !strncmp(p, "fatal: ", 7))
			pick = p;
	}
	if (!pick)
		pick = buf;
	len = strcspn(pick, "\n");
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	for (i = 0; i < len; i++)
		line[i] = (unsigned char)pick[i] < 0x20 || pick[i] == 0x7f ? '?' : pick[i];
	line[len] = '\0';
	/* git's link check: the same finding as our walk's, in our words. */
	if (!strncmp(line, "fatal: did not receive expected object ", 39) && len - 39 == 40)
		return SBX_CORRUPT("object %s, which an object of the bundle refers to, is in neither the bundle nor the repository",
				   line + 39);
	if (WIFSIGNALED(ip->status))
		return SBX_CORRUPT("git index-pack was killed by signal %d%s%s", WTERMSIG(ip->status),
				   len ? ": " : "", line);
	return SBX_CORRUPT("the bundle's pack fails git's checks (git index-pack: %s)",
			   len ? line : "no message");
}

int sbx_index_pack_write(struct sbx_index_pack *ip, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(ip->in, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			/* git gave up (an fsck error in an object): say why. */
			int err = reap(ip);

			return err ? err : complaint(ip);
		}
		if (n < 0)
			return sbx_error_errno(SBX_EIO, "cannot feed 'git index-pack'");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sbx_index_pack_finish(struct sbx_index_pack *ip, char name[41])
{
	char buf[128];
	size_t i;
	int err;

	name[0] = '\0';
	if (ip->in >= 0) {
		close(ip->in);
		ip->in = -1;
	}
	if ((err = reap(ip)))
		return err;
	if (!WIFEXITED(ip->status) || WEXITSTATUS(ip->status) != 0) {
		if (WIFEXITED(ip->status) && WEXITSTATUS(ip->status) == 127)
			return sbx_error_set(SBX_ENOTFOUND, "'git' is not installed");
		return complaint(ip);
	}
	/* "pack\t<40 hex>\n" */
	slurp(ip->out, buf, sizeof(buf));
	if (strncmp(buf, "pack\t", 5) || strlen(buf) < 45 || (buf[45] && buf[45] != '\n'))
		return sbx_error_set(SBX_ERROR, "unexpected output from 'git index-pack'");
	for (i = 0; i < 40; i++) {
		char c = buf[5 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return sbx_error_set(SBX_ERROR, "unexpected output from 'git index-pack'");
		name[i] = c;
	}
	name[40] = '\0';
	return 0;
}
