// SPDX-License-Identifier: MIT
/*
 * Snapshot directories for `git sbx vm run --save` and `git sbx vm
 * restore` (see sbx/machine.h): the VMM writes a save into two temporary
 * files we open for it (it cannot open files itself once it runs); once
 * it says the save succeeded they are synced and renamed into place.
 */
#include "sbx/machine.h"
#include "sbx/fsutil.h"
#include "util/error.h"
#include "util/parse.h"
#include "vmm/vm.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MEM_TMP		".memory.tmp"
#define STATE_TMP	".state.tmp"
#define MAX_MACHINE	4096

static char *join(const char *dir, const char *name)
{
	char *p = sbx_path_join(dir, name);

	if (!p)
		sbx_error_set(SBX_ENOMEM, "out of memory");
	return p;
}

static int open_tmp(const char *dir, const char *name)
{
	char *p = join(dir, name);
	int fd;

	if (!p)
		return SBX_ENOMEM;
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = sbx_error_errno(SBX_EIO, "cannot create '%s'", p);
	free(p);
	return fd;
}

int sbx_snapdir_prepare(const char *dir, int *mem_fd, int *state_fd)
{
	int ret = sbx_mkdirs(dir);

	*mem_fd = *state_fd = -1;
	if (ret)
		return sbx_error_prefix(ret, "snapshot directory '%s'", dir);
	*mem_fd = open_tmp(dir, MEM_TMP);
	if (*mem_fd < 0)
		return *mem_fd;
	*state_fd = open_tmp(dir, STATE_TMP);
	if (*state_fd < 0) {
		ret = *state_fd;
		close(*mem_fd);
		*mem_fd = *state_fd = -1;
		sbx_snapdir_abort(dir);
	}
	return ret;
}

static int sync_rename(const char *dir, const char *from, const char *to)
{
	char *a = join(dir, from), *b = join(dir, to);
	int fd, ret = 0;

	if (!a || !b) {
		ret = SBX_ENOMEM;
		goto out;
	}
	fd = open(a, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		ret = sbx_error_errno(SBX_EIO, "cannot sync '%s'", a);
	if (fd >= 0)
		close(fd);
	if (!ret && rename(a, b) < 0)
		ret = sbx_error_errno(SBX_EIO, "cannot rename '%s'", a);
out:
	free(a);
	free(b);
	return ret;
}

/* `machine`, atomically: with `parent` when not NULL, then `extra` lines. */
static int write_machine(const char *dir, const struct sbx_machine *m, const char *parent,
			 const char *extra)
{
	char *buf = NULL, *path;
	int ret, n;

	if (parent && strchr(parent, '\n'))
		return sbx_error_set(SBX_EINVAL, "'%s': a newline in the path", parent);
	n = asprintf(&buf, "cpus %u\nmemory %llu\nrng %d\n%s%s%s%s%s%s%s", m->cpus,
		     (unsigned long long)((m->memory + (2ULL << 20) - 1) & ~((2ULL << 20) - 1)),
		     m->rng, m->console_port ? "console-port " : "",
		     m->console_port ? m->console_port : "", m->console_port ? "\n" : "",
		     parent ? "parent " : "", parent ? parent : "", parent ? "\n" : "",
		     extra ? extra : "");
	if (n < 0)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	path = join(dir, "machine");
	if (!path) {
		free(buf);
		return SBX_ENOMEM;
	}
	ret = sbx_write_atomic(path, buf, strlen(buf));
	free(path);
	free(buf);
	return ret;
}

/* A save of a restored VM is a diff on top of the snapshot it came from. */
static int restored_from(char parent[PATH_MAX], const struct sbx_machine *m)
{
	if (m->restore_dir && !realpath(m->restore_dir, parent))
		return sbx_error_errno(SBX_EIO, "'%s'", m->restore_dir);
	return 0;
}

int sbx_snapdir_write_machine(const char *dir, const struct sbx_machine *m)
{
	char parent[PATH_MAX];
	int ret = restored_from(parent, m);

	return ret ? ret : write_machine(dir, m, m->restore_dir ? parent : NULL, NULL);
}

/* `machine`, then the two files synced and renamed into place. */
static int commit(const char *dir, const struct sbx_machine *m, const char *parent,
		  const char *extra)
{
	int ret = write_machine(dir, m, parent, extra);

	if (!ret)
		ret = sync_rename(dir, MEM_TMP, "memory");
	if (!ret)
		ret = sync_rename(dir, STATE_TMP, "state");
	if (!ret)
		ret = sbx_fsync_dir(dir);
	return ret ? sbx_error_prefix(ret, "snapshot directory '%s'", dir) : 0;
}

int sbx_snapdir_commit(const char *dir, const struct sbx_machine *m)
{
	char parent[PATH_MAX];
	int ret = restored_from(parent, m);

	return ret ? ret : commit(dir, m, m->restore_dir ? parent : NULL, NULL);
}

int sbx_snapdir_commit_checkpoint(const char *dir, const struct sbx_machine *m,
				  const char *parent, char *const *layers, unsigned nlayers)
{
	char *extra = NULL, *more;
	unsigned i;
	int ret;

	for (i = 0; i < nlayers; i++) {
		if (!layers[i])
			continue;
		if (strchr(layers[i], '\n')) {
			free(extra);
			return sbx_error_set(SBX_EINVAL, "'%s': a newline in the path", layers[i]);
		}
		if (asprintf(&more, "%slayer %u %s\n", extra ? extra : "", i, layers[i]) < 0) {
			free(extra);
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		}
		free(extra);
		extra = more;
	}
	ret = commit(dir, m, parent, extra);
	free(extra);
	return ret;
}

int sbx_snapdir_layers(const char *dir, char **layers, unsigned max)
{
	char *path = join(dir, "machine"), *buf = NULL, *line, *save = NULL;
	size_t len;
	unsigned i;
	uint64_t slot;
	int ret;

	for (i = 0; i < max; i++)
		layers[i] = NULL;
	if (!path)
		return SBX_ENOMEM;
	ret = sbx_read_file(&buf, &len, path, MAX_MACHINE);
	if (ret)
		sbx_error_prefix(ret, "'%s' is not a snapshot directory", dir);
	for (line = ret ? NULL : strtok_r(buf, "\n", &save); line && !ret;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp;

		if (strncmp(line, "layer ", 6))
			continue;
		sp = strchr(line + 6, ' ');
		if (sp)
			*sp = 0;
		if (!sp || parse_uint(line + 6, 0, max - 1, &slot) || !sp[1] || layers[slot]) {
			ret = sbx_error_set(SBX_ECORRUPT, "'%s': a bad layer line", path);
			break;
		}
		if (!(layers[slot] = strdup(sp + 1)))
			ret = sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	if (ret)
		for (i = 0; i < max; i++) {
			free(layers[i]);
			layers[i] = NULL;
		}
	free(buf);
	free(path);
	return ret;
}

void sbx_snapdir_abort(const char *dir)
{
	char *p;

	if ((p = sbx_path_join(dir, MEM_TMP)))
		unlink(p);
	free(p);
	if ((p = sbx_path_join(dir, STATE_TMP)))
		unlink(p);
	free(p);
}

/* The `parent` line of dir's `machine`, or NULL (malloc'd). */
static int read_parent(const char *dir, char **parent)
{
	char *path = join(dir, "machine"), *buf = NULL, *p, *end;
	size_t len;
	int ret;

	*parent = NULL;
	if (!path)
		return SBX_ENOMEM;
	ret = sbx_read_file(&buf, &len, path, MAX_MACHINE);
	if (ret) {
		sbx_error_prefix(ret, "'%s' is not a snapshot directory", dir);
		goto out;
	}
	for (p = buf; p && *p; p = end ? end + 1 : NULL) {
		end = strchr(p, '\n');
		if (end)
			*end = 0;
		if (!strncmp(p, "parent ", 7)) {
			*parent = strdup(p + 7);
			if (!*parent)
				ret = sbx_error_set(SBX_ENOMEM, "out of memory");
			break;
		}
	}
out:
	free(buf);
	free(path);
	return ret;
}

int sbx_snapdir_paths(const char *dir, char **state, char **memory, unsigned *nmemory)
{
	char *chain[VM_MAX_MEM_LAYERS], *cur = NULL, *parent;
	unsigned n = 0, i;
	int ret = 0;

	*nmemory = 0;
	*state = join(dir, "state");
	if (!*state)
		return SBX_ENOMEM;
	/* Walk down to the full snapshot, then list the memory files upward. */
	for (cur = strdup(dir); cur && !ret; cur = parent) {
		if (n == VM_MAX_MEM_LAYERS) {
			ret = sbx_error_set(SBX_ELIMIT, "'%s': more than %d snapshots in a chain", dir,
					    VM_MAX_MEM_LAYERS);
			free(cur);
			break;
		}
		chain[n] = join(cur, "memory");
		if (!chain[n] || (ret = read_parent(cur, &parent))) {
			ret = ret ? ret : SBX_ENOMEM;
			free(chain[n]);
			free(cur);
			break;
		}
		n++;
		free(cur);
		if (!parent)
			break;
	}
	if (ret) {
		for (i = 0; i < n; i++)
			free(chain[i]);
		free(*state);
		*state = NULL;
		return ret;
	}
	for (i = 0; i < n; i++)
		memory[i] = chain[n - 1 - i];
	*nmemory = n;
	return 0;
}

int sbx_snapdir_read_machine(const char *dir, struct sbx_machine *m, char **owned)
{
	char *path = join(dir, "machine"), *buf = NULL, *line, *save = NULL;
	size_t len;
	uint64_t v;
	int ret;

	*owned = NULL;
	if (!path)
		return SBX_ENOMEM;
	ret = sbx_read_file(&buf, &len, path, MAX_MACHINE);
	if (ret) {
		sbx_error_prefix(ret, "'%s' is not a snapshot directory", dir);
		goto out;
	}
	for (line = strtok_r(buf, "\n", &save); line && !ret; line = strtok_r(NULL, "\n", &save)) {
		char *val = strchr(line, ' ');

		if (!val) {
			ret = sbx_error_set(SBX_ECORRUPT, "'%s': bad line '%s'", path, line);
			break;
		}
		*val++ = 0;
		if (!strcmp(line, "cpus")) {
			ret = parse_uint(val, 1, 64, &v);
			m->cpus = (unsigned)v;
		} else if (!strcmp(line, "memory")) {
			ret = parse_uint(val, 1, UINT64_MAX, &m->memory);
		} else if (!strcmp(line, "rng")) {
			ret = parse_uint(val, 0, 1, &v);
			m->rng = v != 0;
		} else if (!strcmp(line, "console-port")) {
			m->console_port = val;
			*owned = buf;
		}
		if (ret)
			sbx_error_prefix(ret, "'%s': %s", path, line);
	}
out:
	if (*owned != buf)
		free(buf);
	free(path);
	return ret;
}
