// SPDX-License-Identifier: MIT
/* The warm base store: listing and gc (sbx/warm.h). */
#include "sbx/warm.h"
#include "sbx/fsutil.h"
#include "sbx/image.h"
#include "sbx/repo.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_newest(const void *a, const void *b)
{
	const struct sbx_warm *x = *(struct sbx_warm *const *)a, *y = *(struct sbx_warm *const *)b;

	return x->created_ms < y->created_ms ? 1 : x->created_ms > y->created_ms ? -1 : 0;
}

/* A warm base's directory: 64 lower-case hex digits. */
static bool key_name(const char *name)
{
	return strlen(name) == 64 && strspn(name, "0123456789abcdef") == 64;
}

int sbx_warm_list(struct sbx_warm ***out, size_t *n, size_t *nbad, struct sbx_repo *repo)
{
	char *root = sbx_warm_root(repo);
	struct sbx_warm **v = NULL;
	size_t cap = 0;
	struct dirent *de;
	DIR *d;
	int err = 0;

	*out = NULL;
	*n = 0;
	*nbad = 0;
	if (!root)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	d = opendir(root);
	free(root);
	if (!d)
		return errno == ENOENT ? 0 : sbx_error_errno(SBX_EIO, "cannot list the warm bases");
	while ((de = readdir(d)) && !err) {
		struct sbx_warm *w = NULL;

		if (!key_name(de->d_name))
			continue;
		err = sbx_warm_open(&w, repo, de->d_name);
		if (err == SBX_ENOMEM)
			break;
		if (err) {
			if (err != SBX_ENOTFOUND)
				(*nbad)++;
			err = 0;
			continue;
		}
		if (*n == cap) {
			struct sbx_warm **nv = realloc(v, (cap ? cap * 2 : 8) * sizeof(*v));

			if (!nv) {
				sbx_warm_free(w);
				err = sbx_error_set(SBX_ENOMEM, "out of memory");
				break;
			}
			v = nv;
			cap = cap ? cap * 2 : 8;
		}
		v[(*n)++] = w;
	}
	closedir(d);
	if (err) {
		sbx_warm_list_free(v, *n);
		*n = 0;
		return err;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_newest);
	*out = v;
	return 0;
}

void sbx_warm_list_free(struct sbx_warm **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sbx_warm_free(v[i]);
	free(v);
}

/* ---- gc ---- */

static int note_removed(struct sbx_warm_gc_stats *st, const char *key, const char *why)
{
	struct sbx_warm_gc_removed *r = realloc(st->removed, (st->nremoved + 1) * sizeof(*r));

	if (!r)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	st->removed = r;
	snprintf(r[st->nremoved].key, sizeof(r[st->nremoved].key), "%s", key);
	snprintf(r[st->nremoved].why, sizeof(r[st->nremoved].why), "%s", why);
	st->nremoved++;
	return 0;
}

/* ".build-<key>.<pid>" or ".trash-<key>.<pid>" of a process that is gone. */
static bool dead_leftover(const char *name)
{
	const char *dot;
	char *end;
	long pid;

	if (strncmp(name, ".build-", 7) && strncmp(name, ".trash-", 7))
		return false;
	dot = strrchr(name, '.');
	if (!dot || dot == name)
		return false;
	pid = strtol(dot + 1, &end, 10);
	return !*end && pid > 0 && !sbx_pid_alive(pid);
}

/* Why a warm base should go, or NULL. */
static const char *gc_reason(struct sbx_repo *repo, const char *key, uint64_t expiry_ms,
			     char *why, size_t n)
{
	struct sbx_warm *w = NULL;
	struct sbx_image img;
	int err = sbx_warm_open(&w, repo, key);

	if (err == SBX_ENOTFOUND)
		return NULL;
	if (err) {
		snprintf(why, n, "damaged");
		return why;
	}
	if (sbx_image_resolve(&img, w->image_id) == SBX_ENOTFOUND) {
		snprintf(why, n, "its image %.12s is gone", w->image_id);
	} else if (expiry_ms && now_ms() - w->used_ms > (int64_t)expiry_ms) {
		int64_t s = (now_ms() - w->used_ms) / 1000;

		if (s < 3600)
			snprintf(why, n, "not used for %lld s", (long long)s);
		else if (s < 3 * 86400)
			snprintf(why, n, "not used for %lld hours", (long long)(s / 3600));
		else
			snprintf(why, n, "not used for %lld days", (long long)(s / 86400));
	} else {
		sbx_warm_free(w);
		return NULL;
	}
	sbx_warm_free(w);
	return why;
}

int sbx_warm_gc(struct sbx_warm_gc_stats *st, struct sbx_repo *repo, uint64_t expiry_ms)
{
	char *root = sbx_warm_root(repo);
	struct dirent *de;
	DIR *d;
	int err = 0;

	memset(st, 0, sizeof(*st));
	if (!root)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	d = opendir(root);
	if (!d) {
		free(root);
		return errno == ENOENT ? 0 : sbx_error_errno(SBX_EIO, "cannot list the warm bases");
	}
	while ((de = readdir(d)) && !err) {
		char why[96], key[65], *path;
		size_t len = strlen(de->d_name);
		int lock;

		if (dead_leftover(de->d_name)) {
			if (!(path = sbx_path_join(root, de->d_name)))
				err = sbx_error_set(SBX_ENOMEM, "out of memory");
			else if (!(err = sbx_rmtree(path)))
				st->builds++;
			free(path);
			continue;
		}
		if (len == 64 + 5 && !strcmp(de->d_name + 64, ".lock")) {
			/* The lock of a warm base that is not there: remove it unless held. */
			memcpy(key, de->d_name, 64);
			key[64] = 0;
			if (!(path = sbx_warm_path(repo, key))) {
				err = sbx_error_set(SBX_ENOMEM, "out of memory");
				continue;
			}
			if (access(path, F_OK) && errno == ENOENT &&
			    !sbx_warm_lock(&lock, repo, key, true, false)) {
				char *lp = sbx_path_join(root, de->d_name);

				if (lp)
					unlink(lp);
				free(lp);
				sbx_unlock(lock);
			}
			free(path);
			continue;
		}
		if (!key_name(de->d_name) || !gc_reason(repo, de->d_name, expiry_ms, why, sizeof(why)))
			continue;
		if (sbx_warm_lock(&lock, repo, de->d_name, true, false)) {
			st->in_use++;
			continue;
		}
		err = sbx_warm_remove(repo, de->d_name);
		sbx_unlock(lock);
		if (!err)
			err = note_removed(st, de->d_name, why);
	}
	closedir(d);
	free(root);
	return err;
}
