// SPDX-License-Identifier: MIT
/*
 * Checkpoint layers: freeze the writable top of an open chain and go on in a
 * new overlay (qcow2_freeze_switch; split for the confined VMM into
 * qcow2_create_overlay, by a process that may open files, and
 * qcow2_switch_fd, by the one that holds the disk), and merge a frozen
 * layer into the one above it (qcow2_squash_into).  Both create their new
 * file under a temp name, sync it and link or rename it into place before
 * anything in memory or any existing file changes, so a crash at any point
 * leaves every old layer a valid image and the new file at worst an orphan.
 */
#include "snapshot/qcow2-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CHAIN 32	/* qcow2_open's default max_depth: a chain we could not reopen is refused */

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == path)
		return strdup("/");
	return slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	if (fd < 0 || fsync(fd))
		err = sbx_error_errno(SBX_EIO, "cannot sync directory '%s'", dir);
	if (fd >= 0)
		close(fd);
	return err;
}

int qcow2_relative_name(char **out, const char *from_dir, const char *target)
{
	char d[PATH_MAX], t[PATH_MAX], *res;
	size_t i, common = 0, ups = 0, n;
	const char *rest;

	*out = NULL;
	if (!realpath(from_dir, d))
		return sbx_error_errno(SBX_ENOTFOUND, "cannot resolve '%s'", from_dir);
	if (!realpath(target, t))
		return sbx_error_errno(SBX_ENOTFOUND, "cannot resolve '%s'", target);
	/* The longest common run of whole components. */
	for (i = 0; d[i] && d[i] == t[i]; i++)
		if (d[i] == '/')
			common = i;
	if (!d[i] && t[i] == '/')
		common = i;
	if (!strcmp(d, "/"))
		common = 0;
	if (common == 0) {	/* nothing but the root in common: the absolute name */
		res = strdup(t);
		goto done;
	}
	for (i = common; d[i]; i++)
		if (d[i] == '/')
			ups++;
	rest = t + common + 1;
	n = ups * 3 + strlen(rest) + 1;
	res = malloc(n);
	if (res) {
		res[0] = 0;
		for (i = 0; i < ups; i++)
			strcat(res, "../");
		strcat(res, rest);
	}
done:
	if (!res)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (strlen(res) > QCOW2_MAX_BACKING_NAME) {
		free(res);
		return sbx_error_set(SBX_ELIMIT, "the name of '%s' seen from '%s' is too long", t, d);
	}
	*out = res;
	return 0;
}

/* The geometry an overlay copies from the layer under it. */
struct geometry {
	uint64_t size;
	unsigned cluster_bits;
	bool extl2;
};

/*
 * `path`'s geometry from its first sector, read without a lock: the layer
 * may be another process's writable top (its size and cluster layout
 * never change while it is open).
 */
static int read_geometry(const char *path, struct geometry *g)
{
	uint8_t h[QCOW2_HDR_V3];
	ssize_t r;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sbx_error_errno(errno == ENOENT ? SBX_ENOTFOUND : SBX_EIO, "cannot open '%s'",
				       path);
	r = pread(fd, h, sizeof(h), 0);
	g->size = r == (ssize_t)sizeof(h) ? get_be64(h + 24) : 0;
	g->cluster_bits = r == (ssize_t)sizeof(h) ? get_be32(h + 20) : 0;
	g->extl2 = r == (ssize_t)sizeof(h) && (get_be64(h + 72) & INCOMPAT_EXTL2);
	if (r != (ssize_t)sizeof(h) || get_be32(h) != QCOW2_MAGIC || get_be32(h + 4) != 3 ||
	    g->cluster_bits < QCOW2_MIN_CLUSTER_BITS || g->cluster_bits > QCOW2_MAX_CLUSTER_BITS ||
	    !g->size || g->size > QCOW2_MAX_SIZE || g->size % 512)
		err = SBX_CORRUPT("'%s' is not a qcow2 version 3 image", path);
	close(fd);
	return err;
}

/* A new, synced, empty qcow2 at `path` (never an existing file) over `backing`. */
static int create_overlay(const char *path, const struct geometry *like, const char *backing)
{
	struct qcow2_create_opts co = QCOW2_CREATE_OPTS_INIT;
	char *tmp = NULL, *dir = dir_of(path), *name = NULL;
	int err, fd = -1;

	if (!dir || asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		tmp = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = qcow2_relative_name(&name, dir, backing)))
		goto out;
	co.size = like->size;
	co.cluster_bits = like->cluster_bits;
	co.extended_l2 = like->extl2;
	co.backing_file = name;
	co.backing_format = "qcow2";
	unlink(tmp);	/* a leftover of an earlier run of this pid */
	if ((err = qcow2_create(tmp, &co)))
		goto out;
	fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd)) {
		err = sbx_error_errno(SBX_EIO, "cannot sync '%s'", tmp);
		goto out;
	}
	/* link, not rename: never replace a file that is there */
	if (link(tmp, path)) {
		err = sbx_error_errno(errno == EEXIST ? SBX_EEXISTS : SBX_EIO, "cannot create '%s'", path);
		goto out;
	}
	unlink(tmp);
	if ((err = fsync_dir(dir)))
		unlink(path);
out:
	if (fd >= 0)
		close(fd);
	if (err && tmp)
		unlink(tmp);
	free(tmp);
	free(dir);
	free(name);
	return err;
}

int qcow2_create_overlay(const char *path, const char *top, int *fd)
{
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct geometry g;
	int err;

	if (fd)
		*fd = -1;
	if ((err = read_geometry(top, &g)) || (err = create_overlay(path, &g, top)))
		return err;
	if (!fd)
		return 0;
	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd < 0 || fcntl(*fd, F_OFD_SETLK, &lk)) {
		err = *fd < 0 ? sbx_error_errno(SBX_EIO, "cannot open '%s'", path) :
			sbx_error_set(SBX_ELOCKED, "'%s' is in use by another process", path);
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		unlink(path);
	}
	return err;
}

int qcow2_switch_fd(struct qcow2 **top, int overlay_fd, int frozen_fd, const char *name)
{
	struct flock lk = { .l_whence = SEEK_SET };
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct qcow2 *q = *top, *n = NULL, *l;
	struct stat st;
	unsigned depth = 0;
	int err;

	if (q->read_only || q->fmt != FMT_QCOW2)
		return sbx_error_set(SBX_EINVAL, "'%s' is not a writable qcow2 image", q->path);
	for (l = q; l; l = l->backing)
		depth++;
	if (depth + 1 > MAX_CHAIN)
		return sbx_error_set(SBX_ELIMIT, "'%s' already has %u layers; squash some first",
				     q->path, depth);
	/* The descriptor that replaces ours must be of the same file. */
	if (frozen_fd >= 0 && (fstat(frozen_fd, &st) || st.st_dev != q->dev || st.st_ino != q->ino))
		return sbx_error_set(SBX_EINVAL, "the descriptor given for '%s' is not of that file "
				     "(moved or replaced while open?)", q->path);
	/* 1. Everything written is on disk, and the layer is clean: valid as it is from now on. */
	if ((err = qcow2_flush(q)))
		return err;
	if (q->dirty_on_disk) {
		q->nfree = q->ifree = 0;	/* the rebuild may place its tables in them */
		if ((err = qcow2_rebuild_refcounts(q)))
			return err;
	}
	/* 2. The new overlay: an empty qcow2 of this size over a qcow2 backing file. */
	o.no_backing = true;
	o.io = q->io;
	o.io_ctx = q->io_ctx;
	o.l2_cache_bytes = (size_t)q->ncache << q->cluster_bits;
	if ((err = qcow2_open_layer_fd(&n, overlay_fd, name ? name : "the new overlay", &o, 0,
				       NULL)))
		return err;
	if (n->size != q->size || !n->backing_file || !n->backing_fmt ||
	    strcmp(n->backing_fmt, "qcow2") || !n->l1_empty_at_open || n->dirty_on_disk) {
		err = sbx_error_set(SBX_EINVAL, "'%s' is not an empty qcow2 overlay of %llu bytes over "
				    "a qcow2 layer", n->path, (unsigned long long)q->size);
		goto fail;
	}
	/*
	 * 3. Our exclusive lock becomes a shared one (this cannot conflict),
	 * then the read-only descriptor takes its own and replaces the old.
	 */
	lk.l_type = F_RDLCK;
	if (fcntl(q->fd, F_OFD_SETLK, &lk)) {
		err = sbx_error_errno(SBX_EIO, "cannot share the lock on '%s'", q->path);
		goto fail;
	}
	if (frozen_fd >= 0 && !fcntl(frozen_fd, F_OFD_SETLK, &lk)) {
		close(q->fd);
		q->fd = frozen_fd;
	} else if (frozen_fd >= 0) {
		close(frozen_fd);	/* ours either way on success; the old one (shared) stays */
	}
	/* 4. The switch, in memory: nothing below can fail. */
	q->read_only = true;
	for (l = q; l; l = l->backing)
		l->depth++;
	q->above = n;
	n->backing = q;
	*top = n;
	return 0;
fail:
	n->fd = -1;	/* still the caller's */
	qcow2_free(n);
	return err;
}

int qcow2_freeze_switch(struct qcow2 **top, const char *path, int *layer_fd)
{
	struct qcow2 *q = *top;
	struct geometry g = { q->size, q->cluster_bits, q->extl2 };
	int err, rofd = -1, ofd = -1, lfd = -1;

	if (layer_fd)
		*layer_fd = -1;
	if (q->read_only || q->fmt != FMT_QCOW2)
		return sbx_error_set(SBX_EINVAL, "'%s' is not a writable qcow2 image", q->path);
	/* The file we go on reading as the frozen layer, checked to be ours by qcow2_switch_fd. */
	rofd = open(q->path, O_RDONLY | O_CLOEXEC);
	if (rofd < 0)
		return sbx_error_errno(SBX_EIO, "cannot reopen '%s'", q->path);
	/* The new overlay: created, synced and linked into place before anything changes. */
	if ((err = create_overlay(path, &g, q->path)))
		goto out;
	ofd = open(path, O_RDWR | O_CLOEXEC);
	if (ofd < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot open '%s'", path);
		goto out_unlink;
	}
	if (layer_fd && (lfd = fcntl(ofd, F_DUPFD_CLOEXEC, 0)) < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot duplicate a descriptor");
		goto out_unlink;
	}
	if ((err = qcow2_switch_fd(top, ofd, rofd, path)))
		goto out_unlink;
	ofd = rofd = -1;	/* the chain's now */
	if (layer_fd) {
		*layer_fd = lfd;
		lfd = -1;
	}
	goto out;
out_unlink:
	unlink(path);
out:
	if (ofd >= 0)
		close(ofd);
	if (rofd >= 0)
		close(rofd);
	if (lfd >= 0)
		close(lfd);
	return err;
}

/* The backing file of `path` as a path (NULL when none) and its format. */
static int backing_of(const char *path, char **bpath, char *fmt, size_t fmtlen)
{
	struct qcow2_open_opts o = QCOW2_OPEN_OPTS_INIT;
	struct qcow2 *q = NULL;
	char *d = NULL;
	int err;

	*bpath = NULL;
	o.read_only = true;
	o.no_backing = true;
	if ((err = qcow2_open(&q, path, &o)))
		return err;
	if (q->backing_file) {
		if (!q->backing_fmt) {
			err = sbx_error_set(SBX_EUNSUPPORTED, "'%s' names its backing file without a "
					    "format", path);
			goto out;
		}
		snprintf(fmt, fmtlen, "%s", q->backing_fmt);
		if (q->backing_file[0] == '/')
			*bpath = strdup(q->backing_file);
		else if ((d = dir_of(path)) && asprintf(bpath, "%s/%s", d, q->backing_file) < 0)
			*bpath = NULL;
		if (!*bpath)
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
	}
out:
	free(d);
	qcow2_close(q);
	return err;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int qcow2_squash_into(const char *upper, const char *lower)
{
	char *ub = NULL, *lb = NULL, *tmp = NULL, *dir = dir_of(upper), *name = NULL;
	char ufmt[32], lfmt[32];
	int err;

	if (!dir || asprintf(&tmp, "%s.tmp.%ld", upper, (long)getpid()) < 0) {
		tmp = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = backing_of(upper, &ub, ufmt, sizeof(ufmt))))
		goto out;
	if (!ub || strcmp(ufmt, "qcow2") || !same_file(ub, lower)) {
		err = sbx_error_set(SBX_EINVAL, "'%s' is not the backing file of '%s'", lower, upper);
		goto out;
	}
	if ((err = backing_of(lower, &lb, lfmt, sizeof(lfmt))))
		goto out;
	if (lb && (err = qcow2_relative_name(&name, dir, lb)))
		goto out;
	unlink(tmp);
	/* Everything above lower's backing file: upper's clusters, and lower's where upper has none. */
	if ((err = qcow2_squash_named(upper, lb, name, tmp)))
		goto out;
	if (rename(tmp, upper)) {
		err = sbx_error_errno(SBX_EIO, "cannot rename '%s' to '%s'", tmp, upper);
		goto out;
	}
	err = fsync_dir(dir);
out:
	if (err && tmp)
		unlink(tmp);
	free(ub);
	free(lb);
	free(tmp);
	free(dir);
	free(name);
	return err;
}

int qcow2_read_backing_name(char *out, size_t len, const char *path)
{
	uint8_t h[QCOW2_HDR_V3];
	uint64_t off;
	uint32_t n;
	ssize_t r;
	int fd, err = 0;

	out[0] = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sbx_error_errno(errno == ENOENT ? SBX_ENOTFOUND : SBX_EIO, "cannot open '%s'",
				       path);
	r = pread(fd, h, sizeof(h), 0);
	if (r != (ssize_t)sizeof(h) || get_be32(h) != QCOW2_MAGIC || get_be32(h + 4) != 3) {
		err = SBX_CORRUPT("'%s' is not a qcow2 version 3 image", path);
		goto out;
	}
	off = get_be64(h + 8);
	n = get_be32(h + 16);
	if (!off)
		goto out;
	if (!n || n > QCOW2_MAX_BACKING_NAME || n >= len || off < QCOW2_HDR_V3 ||
	    off + n > (1ULL << QCOW2_MAX_CLUSTER_BITS)) {
		err = SBX_CORRUPT("'%s' has a bad backing file name field", path);
		goto out;
	}
	if (pread(fd, out, n, (off_t)off) != (ssize_t)n || memchr(out, 0, n)) {
		out[0] = 0;
		err = SBX_CORRUPT("cannot read the backing file name of '%s'", path);
		goto out;
	}
	out[n] = 0;
out:
	close(fd);
	return err;
}
