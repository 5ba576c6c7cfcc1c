// SPDX-License-Identifier: MIT
/* The checkpoint store's layers: new names, dropping a checkpoint, gc (sbx/checkpoint.h). */
#include "sbx/checkpoint.h"
#include "sbx/machine.h"
#include "vmm/vm.h"
#include "sbx/fsutil.h"
#include "snapshot/qcow2.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LAYERS "checkpoints/layers"
#define MAX_WALK 64	/* a backing chain is at most 32 deep (qcow2_open) */

struct layer {
	char *name;	/* in layers/ */
	bool live;
};

struct layers {
	char *dir;	/* <task dir>/checkpoints/layers */
	char real[PATH_MAX];
	struct layer *v;
	size_t n;
};

static void layers_free(struct layers *ls)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		free(ls->v[i].name);
	free(ls->v);
	free(ls->dir);
}

/* Every entry of layers/ (none when it does not exist). */
static int layers_scan(struct layers *ls, const char *task_dir)
{
	struct dirent *e;
	size_t cap = 0;
	DIR *d;
	int err = 0;

	memset(ls, 0, sizeof(*ls));
	if (!(ls->dir = sbx_path_join(task_dir, LAYERS)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (!(d = opendir(ls->dir)))
		return errno == ENOENT ? 0 : sbx_error_errno(SBX_EIO, "cannot read '%s'", ls->dir);
	if (!realpath(ls->dir, ls->real))
		err = sbx_error_errno(SBX_EIO, "cannot resolve '%s'", ls->dir);
	while (!err && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (ls->n == cap) {
			struct layer *t = realloc(ls->v, (cap = cap ? 2 * cap : 16) * sizeof(*t));

			if (!t) {
				err = sbx_error_set(SBX_ENOMEM, "out of memory");
				break;
			}
			ls->v = t;
		}
		ls->v[ls->n].live = false;
		if (!(ls->v[ls->n].name = strdup(e->d_name))) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			break;
		}
		ls->n++;
	}
	closedir(d);
	return err;
}

int sbx_ckpt_new_layer(char **out, const char *task_dir)
{
	struct layers ls;
	unsigned long k = 0, v;
	size_t i;
	int err;

	*out = NULL;
	if ((err = layers_scan(&ls, task_dir)))
		goto out;
	if ((err = sbx_mkdirs(ls.dir)))
		goto out;
	for (i = 0; i < ls.n; i++) {
		char *end;

		v = strtoul(ls.v[i].name, &end, 10);
		if (end != ls.v[i].name && *end == '.' && v > k)
			k = v;
	}
	if (k >= 999999999ul) {
		err = sbx_error_set(SBX_ELIMIT, "no layer names left in '%s'", ls.dir);
		goto out;
	}
	if (asprintf(out, LAYERS "/%lu.qcow2", k + 1) < 0) {
		*out = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
	}
out:
	layers_free(&ls);
	return err;
}

/* The file `path`'s backing file resolves to, malloc'd in *out (NULL: none, or unreadable). */
static int backing_path(char **out, const char *path)
{
	char name[1024], *slash;
	int err;

	*out = NULL;
	if ((err = qcow2_read_backing_name(name, sizeof(name), path)) || !name[0])
		return err;
	if (name[0] == '/')
		*out = strdup(name);
	else if ((slash = strrchr(path, '/'))) {
		if (asprintf(out, "%.*s/%s", (int)(slash - path), path, name) < 0)
			*out = NULL;
	} else
		*out = strdup(name);
	return *out ? 0 : sbx_error_set(SBX_ENOMEM, "out of memory");
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Mark `path` and every layer of layers/ below it in its backing chain live. */
static void mark_chain(struct layers *ls, const char *path)
{
	char *cur = strdup(path), *next = NULL, real[PATH_MAX];
	int steps;

	for (steps = 0; cur && steps < MAX_WALK; steps++) {
		char *slash;

		if (realpath(cur, real) && (slash = strrchr(real, '/')) &&
		    (size_t)(slash - real) == strlen(ls->real) && !strncmp(real, ls->real, strlen(ls->real))) {
			size_t i;

			for (i = 0; i < ls->n; i++)
				if (!strcmp(ls->v[i].name, slash + 1))
					ls->v[i].live = true;
		}
		/* A layer we cannot read keeps what it is: its backing chain stays unknown. */
		if (backing_path(&next, cur))
			next = NULL;
		free(cur);
		cur = next;
		next = NULL;
	}
	free(cur);
}

/* Does anyone hold a lock on the file (a running VM's layer)? */
static bool in_use(const char *path)
{
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	bool used;

	if (fd < 0)
		return false;
	used = fcntl(fd, F_OFD_GETLK, &lk) || lk.l_type != F_UNLCK;
	close(fd);
	return used;
}

int sbx_ckpt_drop(const char *task_dir, unsigned id)
{
	struct sbx_ckpt c;
	struct layers ls;
	char *lower = NULL, *upper = NULL, *f = NULL, *b = NULL;
	unsigned cur, uppers = 0;
	size_t i;
	int err;

	memset(&ls, 0, sizeof(ls));
	if ((err = sbx_ckpt_read(&c, task_dir, id)))
		return err;
	err = sbx_ckpt_current(&cur, task_dir);
	if (!err && cur == id)
		return sbx_error_set(SBX_EINVAL, "checkpoint %u is the current one", id);
	if (err && err != SBX_ENOTFOUND)
		return err;
	if (!(lower = sbx_path_join(task_dir, c.layer)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if ((err = layers_scan(&ls, task_dir)))
		goto out;
	for (i = 0; i < ls.n && !err; i++) {
		if (strstr(ls.v[i].name, ".tmp."))
			continue;
		if (!(f = sbx_path_join(ls.dir, ls.v[i].name))) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			break;
		}
		if (!backing_path(&b, f) && b && same_file(b, lower)) {
			uppers++;
			free(upper);
			upper = f;
			f = NULL;
		}
		free(b);
		free(f);
		b = f = NULL;
	}
	if (err)
		goto out;
	/* One layer reads through it: fold it in.  The running top (locked) or a fork: keep it. */
	if (uppers == 1 && (err = qcow2_squash_into(upper, lower)) == SBX_ELOCKED)
		err = 0;
	if (!err)
		err = sbx_ckpt_delete(task_dir, id);
out:
	layers_free(&ls);
	free(lower);
	free(upper);
	return err;
}

/* Temp directories and files in checkpoints/ that a crash or a delete left. */
static int gc_temp(struct sbx_ckpt_gc_result *res, const char *task_dir)
{
	char *dir = sbx_path_join(task_dir, "checkpoints"), *p;
	struct dirent *e;
	DIR *d;
	int err = 0;

	if (!dir)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (!(d = opendir(dir))) {
		err = errno == ENOENT ? 0 : sbx_error_errno(SBX_EIO, "cannot read '%s'", dir);
		free(dir);
		return err;
	}
	while (!err && (e = readdir(d))) {
		if (strncmp(e->d_name, ".tmp-", 5) && strncmp(e->d_name, ".del-", 5) &&
		    strncmp(e->d_name, "current.tmp.", 12))
			continue;
		if (!(p = sbx_path_join(dir, e->d_name))) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			break;
		}
		if (!(err = sbx_rmtree(p)))
			res->temp_removed++;
		free(p);
	}
	closedir(d);
	if (!err && res->temp_removed)
		err = sbx_fsync_dir(dir);
	free(dir);
	return err;
}

/* The allocated bytes of the files in a directory (a snapshot's: memory, state, machine). */
static uint64_t dir_bytes(const char *path)
{
	uint64_t total = 0;
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(path);

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && !fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
			total += (uint64_t)st.st_blocks * 512;
	closedir(d);
	return total;
}

/*
 * Memory snapshot directories in checkpoints/memory/ that no record's
 * memory chain reaches (a diff names the snapshot under it in its
 * `machine`, sbx/machine.h), or that a crash left half written.
 */
static int gc_memory(struct sbx_ckpt_gc_result *res, const char *task_dir,
		     const struct sbx_ckpt *cs, size_t n)
{
	char *dir = sbx_path_join(task_dir, "checkpoints/memory"), **live = NULL, *p, rp[PATH_MAX];
	size_t nlive = 0, i, j;
	struct dirent *e;
	DIR *d = NULL;
	int err = 0;

	if (!dir)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (!(d = opendir(dir))) {
		err = errno == ENOENT ? 0 : sbx_error_errno(SBX_EIO, "cannot read '%s'", dir);
		goto out;
	}
	for (i = 0; i < n && !err; i++) {
		char *state = NULL, *mem[VM_MAX_MEM_LAYERS], **grown;
		unsigned nm = 0, k;

		if (!cs[i].memory[0] || !(p = sbx_path_join(task_dir, cs[i].memory)))
			continue;
		/* A broken chain cannot be restored anyway: what it reaches stays. */
		if (!sbx_snapdir_paths(p, &state, mem, &nm)) {
			grown = realloc(live, (nlive + nm) * sizeof(*live));
			if (!grown)
				err = sbx_error_set(SBX_ENOMEM, "out of memory");
			else
				live = grown;
			for (k = 0; k < nm; k++) {
				char *slash = strrchr(mem[k], '/');

				if (slash)
					*slash = 0;
				if (!err && realpath(mem[k], rp) && (live[nlive] = strdup(rp)))
					nlive++;
				free(mem[k]);
			}
			free(state);
		}
		free(p);
	}
	while (!err && (e = readdir(d))) {
		struct stat st;
		bool keep = false;

		if (e->d_name[0] == '.')
			continue;
		if (!(p = sbx_path_join(dir, e->d_name))) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			break;
		}
		for (j = 0; j < nlive && realpath(p, rp); j++)
			if (!strcmp(live[j], rp))
				keep = true;
		if (!keep && !lstat(p, &st)) {
			uint64_t bytes = dir_bytes(p);

			if (sbx_rmtree(p))
				err = sbx_error_errno(SBX_EIO, "cannot remove '%s'", p);
			else {
				res->memory_removed++;
				res->bytes_freed += bytes;
			}
		}
		free(p);
	}
	if (!err && res->memory_removed)
		err = sbx_fsync_dir(dir);
out:
	if (d)
		closedir(d);
	for (i = 0; i < nlive; i++)
		free(live[i]);
	free(live);
	free(dir);
	return err;
}

int sbx_ckpt_gc(struct sbx_ckpt_gc_result *res, const char *task_dir, const char *const *keep)
{
	struct sbx_ckpt *cs = NULL;
	struct layers ls;
	size_t n = 0, i;
	char *p;
	int err;

	memset(res, 0, sizeof(*res));
	memset(&ls, 0, sizeof(ls));
	if ((err = gc_temp(res, task_dir)))
		return err;
	/* A damaged record names a layer we cannot know: remove none. */
	if ((err = sbx_ckpt_list(&cs, &n, task_dir)))
		return sbx_error_prefix(err, "no layer removed");
	if ((err = gc_memory(res, task_dir, cs, n)))
		goto out;
	if ((err = layers_scan(&ls, task_dir)) || !ls.n)
		goto out;
	for (i = 0; i < n || (keep && keep[i - n]); i++) {
		if (!(p = sbx_path_join(task_dir, i < n ? cs[i].layer : keep[i - n]))) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		mark_chain(&ls, p);
		free(p);
	}
	for (i = 0; i < ls.n; i++) {
		struct stat st;

		if (ls.v[i].live)
			continue;
		if (!(p = sbx_path_join(ls.dir, ls.v[i].name))) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		if (!lstat(p, &st) && !in_use(p)) {
			if (S_ISDIR(st.st_mode) ? sbx_rmtree(p) : unlink(p)) {
				err = sbx_error_errno(SBX_EIO, "cannot remove '%s'", p);
				free(p);
				goto out;
			}
			res->layers_removed++;
			res->bytes_freed += (uint64_t)st.st_blocks * 512;
		}
		free(p);
	}
	if (res->layers_removed)
		err = sbx_fsync_dir(ls.dir);
out:
	layers_free(&ls);
	free(cs);
	return err;
}
