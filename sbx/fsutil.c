// SPDX-License-Identifier: MIT
#include "sbx/fsutil.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *sbx_path_join(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

int sbx_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path), i;

	if (n == 0 || n >= sizeof(buf))
		return sbx_error_set(SBX_EINVAL, "bad directory name '%s'", path);
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0777) && errno != EEXIST)
			return sbx_error_errno(SBX_EIO, "cannot create '%s'", buf);
		buf[i] = i == n ? '\0' : '/';
	}
	return 0;
}

int sbx_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return sbx_error_errno(SBX_EIO, "cannot open '%s'", path);
	if (fsync(fd) && errno != EINVAL) {
		close(fd);
		return sbx_error_errno(SBX_EIO, "cannot sync '%s'", path);
	}
	close(fd);
	return 0;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int sbx_write_atomic(const char *path, const void *data, size_t len)
{
	char *tmp = NULL, *dir = NULL;
	const char *p = data;
	int fd = -1, err = 0;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot create '%s'", tmp);
		goto out;
	}
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = sbx_error_errno(SBX_EIO, "cannot write '%s'", tmp);
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd)) {
		err = sbx_error_errno(SBX_EIO, "cannot sync '%s'", tmp);
		goto out;
	}
	if (close(fd)) {
		fd = -1;
		err = sbx_error_errno(SBX_EIO, "cannot write '%s'", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path)) {
		err = sbx_error_errno(SBX_EIO, "cannot rename '%s' to '%s'", tmp, path);
		goto out;
	}
	dir = dir_of(path);
	if (!dir) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	err = sbx_fsync_dir(dir);
out:
	if (fd >= 0)
		close(fd);
	if (err)
		unlink(tmp);
	free(tmp);
	free(dir);
	return err;
}

int sbx_read_file(char **out, size_t *len, const char *path, size_t max)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, err = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? sbx_error_set(SBX_ENOTFOUND, "'%s' does not exist", path)
				       : sbx_error_errno(SBX_EIO, "cannot open '%s'", path);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		err = sbx_error_set(SBX_ECORRUPT, "'%s' is not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		err = sbx_error_set(SBX_ELIMIT, "'%s' is larger than %zu bytes", path, max);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = sbx_error_errno(SBX_EIO, "cannot read '%s'", path);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	if (len)
		*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

static int rmtree_at(int at, const char *name, int depth)
{
	struct stat st;
	int fd, err = 0;
	DIR *d;
	struct dirent *e;

	if (depth > 64)
		return sbx_error_set(SBX_ELIMIT, "directory tree too deep at '%s'", name);
	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW)) {
		if (errno == ENOENT)
			return 0;
		return sbx_error_errno(SBX_EIO, "cannot stat '%s'", name);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(at, name, 0) && errno != ENOENT)
			return sbx_error_errno(SBX_EIO, "cannot remove '%s'", name);
		return 0;
	}
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sbx_error_errno(SBX_EIO, "cannot open '%s'", name);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return sbx_error_errno(SBX_EIO, "cannot read '%s'", name);
	}
	while (!err && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		err = rmtree_at(dirfd(d), e->d_name, depth + 1);
	}
	closedir(d);
	if (!err && unlinkat(at, name, AT_REMOVEDIR) && errno != ENOENT)
		err = sbx_error_errno(SBX_EIO, "cannot remove '%s'", name);
	return err;
}

int sbx_rmtree(const char *path)
{
	return rmtree_at(AT_FDCWD, path, 0);
}

bool sbx_pid_alive(long pid)
{
	if (pid <= 0 || pid > INT_MAX)
		return false;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int sbx_lock(int *out, const char *path, bool exclusive, bool wait)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);

	*out = -1;
	if (fd < 0)
		return sbx_error_errno(SBX_EIO, "cannot open lock '%s'", path);
	while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB))) {
		if (errno == EINTR)
			continue;
		close(fd);
		if (errno == EWOULDBLOCK)
			return sbx_error_set(SBX_ELOCKED, "'%s' is locked by another process", path);
		return sbx_error_errno(SBX_EIO, "cannot lock '%s'", path);
	}
	*out = fd;
	return 0;
}

void sbx_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

bool sbx_lock_held(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	bool held;

	if (fd < 0)
		return false;
	held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

int sbx_count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}
