// SPDX-License-Identifier: MIT
/* Host git hooks: install, uninstall byte for byte, status, the pre-push rule (sbx/hooks.h). */
#include "sbx/hooks.h"
#include "sbx/config.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST "manifest"
#define MANIFEST_MAGIC "git-sbx-hooks 1"
#define HOOK_MAX (16u << 20)

const char *const sbx_hook_names[SBX_HOOKS_COUNT] = { "pre-commit", "pre-push" };

bool sbx_hooks_is_ours(const char *buf, size_t len)
{
	size_t i, lines = 0, ml = strlen(SBX_HOOKS_MARKER);

	/* The marker starts one of the first three lines. */
	for (i = 0; i < len && lines < 3; lines++) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - buf) : len;

		if (end - i >= ml && !memcmp(buf + i, SBX_HOOKS_MARKER, ml))
			return true;
		i = end + 1;
	}
	return false;
}

void sbx_hooks_state_clear(struct sbx_hooks_state *st)
{
	if (!st)
		return;
	free(st->dir);
	memset(st, 0, sizeof(*st));
}

/* ---- files, byte for byte ---- */

/* What is at `path`: absent, a regular file (mode), or a symlink (target in *data). */
enum kind { K_ABSENT, K_FILE, K_LINK };

struct entry {
	enum kind kind;
	mode_t mode;
	char *data;
	size_t len;
};

static void entry_clear(struct entry *e)
{
	free(e->data);
	memset(e, 0, sizeof(*e));
}

static int entry_read(struct entry *e, const char *path)
{
	struct stat st;

	memset(e, 0, sizeof(*e));
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return sbx_error_errno(SBX_EIO, "cannot read '%s'", path);
	}
	if (S_ISLNK(st.st_mode)) {
		char buf[PATH_MAX];
		ssize_t n = readlink(path, buf, sizeof(buf) - 1);

		if (n < 0)
			return sbx_error_errno(SBX_EIO, "cannot read the link '%s'", path);
		e->kind = K_LINK;
		e->data = strndup(buf, (size_t)n);
		e->len = (size_t)n;
		return e->data ? 0 : sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	if (!S_ISREG(st.st_mode))
		return sbx_error_set(SBX_EUNSUPPORTED, "'%s' is not a file", path);
	e->kind = K_FILE;
	e->mode = st.st_mode & 07777;
	return sbx_read_file(&e->data, &e->len, path, HOOK_MAX);
}

/* Put `e` at `path` atomically: a temp file (or link) beside it, renamed over. */
static int entry_write(const struct entry *e, const char *path)
{
	char *tmp = NULL, *dir = NULL, *slash;
	int fd = -1, err = 0;

	if (e->kind == K_ABSENT) {
		if (unlink(path) < 0 && errno != ENOENT)
			return sbx_error_errno(SBX_EIO, "cannot remove '%s'", path);
		return 0;
	}
	if (asprintf(&tmp, "%s.sbx-tmp.%ld", path, (long)getpid()) < 0)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	unlink(tmp);
	if (e->kind == K_LINK) {
		if (symlink(e->data, tmp) < 0)
			err = sbx_error_errno(SBX_EIO, "cannot create '%s'", tmp);
	} else {
		size_t off = 0;

		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			err = sbx_error_errno(SBX_EIO, "cannot create '%s'", tmp);
		while (!err && off < e->len) {
			ssize_t w = write(fd, e->data + off, e->len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				err = sbx_error_errno(SBX_EIO, "cannot write '%s'", tmp);
			else
				off += (size_t)w;
		}
		if (!err && (fchmod(fd, e->mode) < 0 || fsync(fd) < 0))
			err = sbx_error_errno(SBX_EIO, "cannot write '%s'", tmp);
		if (fd >= 0)
			close(fd);
	}
	if (!err && rename(tmp, path) < 0)
		err = sbx_error_errno(SBX_EIO, "cannot write '%s'", path);
	if (err)
		unlink(tmp);
	free(tmp);
	if (!err && (dir = strdup(path)) && (slash = strrchr(dir, '/'))) {
		*slash = 0;
		sbx_fsync_dir(*dir ? dir : "/");
	}
	free(dir);
	return err;
}

static char *join3(const char *a, const char *b, const char *c)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s%s", a, b, c ? c : "") < 0)
		return NULL;
	return p;
}

/* ---- the manifest ---- */

struct manifest {
	char *dir;
	bool created_dir;
	struct entry hook[SBX_HOOKS_COUNT];	/* kind and mode; data in the backup files */
};

static void manifest_clear(struct manifest *m)
{
	size_t i;

	free(m->dir);
	for (i = 0; i < SBX_HOOKS_COUNT; i++)
		entry_clear(&m->hook[i]);
	memset(m, 0, sizeof(*m));
}

static int manifest_write(const struct manifest *m, const char *backup)
{
	char *path = sbx_path_join(backup, MANIFEST), *buf = NULL;
	size_t i, len = 0;
	FILE *f;
	int err;

	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	f = open_memstream(&buf, &len);
	if (!f) {
		free(path);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	fprintf(f, "%s\ndir %s\ncreated-dir %s\n", MANIFEST_MAGIC, m->dir,
		m->created_dir ? "yes" : "no");
	for (i = 0; i < SBX_HOOKS_COUNT; i++) {
		const struct entry *e = &m->hook[i];

		if (e->kind == K_FILE)
			fprintf(f, "hook %s file %o\n", sbx_hook_names[i], (unsigned)e->mode);
		else if (e->kind == K_LINK)
			fprintf(f, "hook %s symlink\n", sbx_hook_names[i]);
		else
			fprintf(f, "hook %s absent\n", sbx_hook_names[i]);
	}
	fclose(f);
	err = buf ? sbx_write_atomic(path, buf, len) : sbx_error_set(SBX_ENOMEM, "out of memory");
	free(buf);
	free(path);
	return err;
}

static int manifest_read(struct manifest *m, const char *backup)
{
	char *path = sbx_path_join(backup, MANIFEST), *buf = NULL, *line, *save = NULL;
	size_t len, i;
	unsigned seen = 0;
	int err;

	memset(m, 0, sizeof(*m));
	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (access(path, F_OK) < 0) {
		free(path);
		return sbx_error_set(SBX_ENOTFOUND, "git-sbx hooks are not installed");
	}
	err = sbx_read_file(&buf, &len, path, 65536);
	free(path);
	if (err)
		return err;
	line = strtok_r(buf, "\n", &save);
	if (!line || strcmp(line, MANIFEST_MAGIC)) {
		free(buf);
		return SBX_CORRUPT("the hook backup's manifest is not one this git-sbx reads");
	}
	while ((line = strtok_r(NULL, "\n", &save)) && !err) {
		if (!strncmp(line, "dir ", 4) && !m->dir) {
			if (!(m->dir = strdup(line + 4)))
				err = sbx_error_set(SBX_ENOMEM, "out of memory");
			seen |= 1;
		} else if (!strncmp(line, "created-dir ", 12)) {
			m->created_dir = !strcmp(line + 12, "yes");
		} else if (!strncmp(line, "hook ", 5)) {
			char *name = line + 5, *kind = strchr(name, ' ');

			if (!kind) {
				err = SBX_CORRUPT("bad line in the hook backup's manifest");
				break;
			}
			*kind++ = 0;
			for (i = 0; i < SBX_HOOKS_COUNT; i++)
				if (!strcmp(name, sbx_hook_names[i]))
					break;
			if (i == SBX_HOOKS_COUNT)
				continue;
			seen |= 2u << i;
			if (!strcmp(kind, "absent")) {
				m->hook[i].kind = K_ABSENT;
			} else if (!strcmp(kind, "symlink")) {
				m->hook[i].kind = K_LINK;
			} else if (!strncmp(kind, "file ", 5)) {
				char *end;
				unsigned long mode = strtoul(kind + 5, &end, 8);

				if (*end || end == kind + 5 || mode > 07777)
					err = SBX_CORRUPT("bad mode in the hook backup's manifest");
				m->hook[i].kind = K_FILE;
				m->hook[i].mode = (mode_t)mode;
			} else {
				err = SBX_CORRUPT("bad line in the hook backup's manifest");
			}
		}
	}
	free(buf);
	if (!err && seen != ((2u << SBX_HOOKS_COUNT) - 1))
		err = SBX_CORRUPT("the hook backup's manifest is incomplete");
	if (err)
		manifest_clear(m);
	return err;
}

/* ---- install, uninstall, status ---- */

static bool dir_exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int sbx_hooks_install_at(const char *dir, const char *backup)
{
	struct manifest m = { 0 };
	struct entry ours = { 0 };
	char *mpath = sbx_path_join(backup, MANIFEST);
	size_t i;
	int err = 0;

	if (!mpath)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (access(mpath, F_OK) == 0) {
		free(mpath);
		return sbx_error_set(SBX_EEXISTS, "git-sbx hooks are installed already (in '%s')", dir);
	}
	free(mpath);
	if (strchr(dir, '\n'))
		return sbx_error_set(SBX_EINVAL, "the hooks directory's name has a newline");
	if (!(m.dir = strdup(dir)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	m.created_dir = !dir_exists(dir);
	if ((err = sbx_mkdirs(backup)) || (m.created_dir && (err = sbx_mkdirs(dir))))
		goto out;
	/* The backups first, then the manifest: from here uninstall can undo all. */
	for (i = 0; i < SBX_HOOKS_COUNT && !err; i++) {
		char *path = join3(dir, sbx_hook_names[i], NULL);
		char *bpath = join3(backup, sbx_hook_names[i], NULL);

		if (!path || !bpath)
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
		if (!err)
			err = entry_read(&m.hook[i], path);
		if (!err && m.hook[i].kind != K_ABSENT &&
		    sbx_hooks_is_ours(m.hook[i].data, m.hook[i].len))
			err = sbx_error_set(SBX_EEXISTS, "'%s' is a git-sbx hook already, without its backup; "
					    "remove it first", path);
		if (!err)
			err = entry_write(&m.hook[i], bpath);
		free(path);
		free(bpath);
	}
	if (!err)
		err = manifest_write(&m, backup);
	if (err) {
		if (m.created_dir)
			rmdir(dir);
		sbx_rmtree(backup);
		goto out;
	}
	/* The chained copies, then our hooks over the originals. */
	for (i = 0; i < SBX_HOOKS_COUNT && !err; i++) {
		char *path = join3(dir, sbx_hook_names[i], NULL);
		char *chain = join3(dir, sbx_hook_names[i], SBX_HOOKS_CHAIN_SUFFIX);

		if (!path || !chain)
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
		if (!err && m.hook[i].kind != K_ABSENT)
			err = entry_write(&m.hook[i], chain);
		if (!err) {
			ours.kind = K_FILE;
			ours.mode = 0755;
			ours.data = (char *)sbx_hook_templates[i];
			ours.len = strlen(sbx_hook_templates[i]);
			err = entry_write(&ours, path);
			ours.data = NULL;
		}
		free(path);
		free(chain);
	}
	if (err) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", sbx_error());
		sbx_hooks_uninstall_at(NULL, dir, backup);
		err = sbx_error_set(err, "%s", msg);
	}
out:
	manifest_clear(&m);
	return err;
}

int sbx_hooks_uninstall_at(unsigned *kept, const char *dir_hint, const char *backup)
{
	struct manifest m;
	size_t i;
	int err;

	(void)dir_hint;
	if (kept)
		*kept = 0;
	if ((err = manifest_read(&m, backup)))
		return err;
	for (i = 0; i < SBX_HOOKS_COUNT && !err; i++) {
		char *path = join3(m.dir, sbx_hook_names[i], NULL);
		char *chain = join3(m.dir, sbx_hook_names[i], SBX_HOOKS_CHAIN_SUFFIX);
		char *bpath = join3(backup, sbx_hook_names[i], NULL);
		struct entry now = { 0 }, orig = { 0 };

		if (!path || !chain || !bpath)
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
		if (!err)
			err = entry_read(&now, path);
		if (!err && now.kind != K_ABSENT && !sbx_hooks_is_ours(now.data, now.len)) {
			/* Replaced since: the user's now; ours is gone already. */
			if (kept)
				(*kept)++;
		} else if (!err) {
			if (m.hook[i].kind != K_ABSENT) {
				err = entry_read(&orig, bpath);
				if (!err && orig.kind != m.hook[i].kind)
					err = SBX_CORRUPT("the backup of '%s' is not what its manifest says",
							  sbx_hook_names[i]);
				if (!err && orig.kind == K_FILE)
					orig.mode = m.hook[i].mode;
			}
			if (!err)
				err = entry_write(&orig, path);
		}
		if (!err && unlink(chain) < 0 && errno != ENOENT)
			err = sbx_error_errno(SBX_EIO, "cannot remove '%s'", chain);
		entry_clear(&now);
		entry_clear(&orig);
		free(path);
		free(chain);
		free(bpath);
	}
	if (!err && m.created_dir)
		rmdir(m.dir);	/* only when empty */
	if (!err)
		err = sbx_rmtree(backup);
	manifest_clear(&m);
	return err;
}

int sbx_hooks_status_at(struct sbx_hooks_state *st, const char *dir, const char *backup)
{
	struct manifest m;
	size_t i;
	int err;

	memset(st, 0, sizeof(*st));
	err = manifest_read(&m, backup);
	if (err && err != SBX_ENOTFOUND)
		return err;
	st->installed = !err;
	st->dir = strdup(st->installed ? m.dir : dir);
	if (!st->dir) {
		manifest_clear(&m);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	for (i = 0; i < SBX_HOOKS_COUNT; i++) {
		char *path = join3(st->dir, sbx_hook_names[i], NULL);
		struct entry e = { 0 };

		if (path && !entry_read(&e, path) && e.kind == K_FILE)
			st->ours[i] = sbx_hooks_is_ours(e.data, e.len);
		st->chained[i] = st->installed && m.hook[i].kind != K_ABSENT;
		entry_clear(&e);
		free(path);
	}
	if (st->installed)
		manifest_clear(&m);
	return 0;
}

/* ---- on a repository ---- */

int sbx_hooks_dir(char **out, struct sbx_repo *repo)
{
	struct sbx_config *cfg = NULL;
	char *v = NULL;
	int err;

	*out = NULL;
	if ((err = sbx_config_open(&cfg, repo)))
		return err;
	err = sbx_config_string(cfg, "core.hooksPath", &v);
	sbx_config_free(cfg);
	if (err && err != SBX_ENOTFOUND)
		return err;
	if (v && *v) {
		const char *home = getenv("HOME");

		if (v[0] == '/')
			*out = strdup(v);
		else if (v[0] == '~' && v[1] == '/' && home)
			*out = join3(home, v + 2, NULL);
		else	/* git runs hooks from the worktree's top (a bare repository: its git dir) */
			*out = join3(repo->workdir ? repo->workdir : repo->gitdir, v, NULL);
		free(v);
	} else {
		free(v);
		*out = sbx_path_join(repo->commondir, "hooks");
	}
	if (!*out)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	/* "a//b" and a trailing slash: one spelling for the manifest. */
	{
		char *s = *out, *d = *out;

		for (; *s; s++)
			if (!(*s == '/' && d > *out && d[-1] == '/'))
				*d++ = *s;
		*d = 0;
		while (d - *out > 1 && d[-1] == '/')
			*--d = 0;
	}
	return 0;
}

char *sbx_hooks_backup_dir(struct sbx_repo *repo)
{
	return sbx_path_join(repo->commondir, "sbx/hooks-backup");
}

static int with_dirs(struct sbx_repo *repo, char **dir, char **backup)
{
	int err = sbx_hooks_dir(dir, repo);

	if (err)
		return err;
	*backup = sbx_hooks_backup_dir(repo);
	if (!*backup) {
		free(*dir);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	return 0;
}

int sbx_hooks_install(struct sbx_repo *repo)
{
	char *dir = NULL, *backup = NULL;
	int err = with_dirs(repo, &dir, &backup);

	if (!err)
		err = sbx_hooks_install_at(dir, backup);
	free(dir);
	free(backup);
	return err;
}

int sbx_hooks_uninstall(unsigned *kept, struct sbx_repo *repo)
{
	char *dir = NULL, *backup = NULL;
	int err = with_dirs(repo, &dir, &backup);

	if (!err)
		err = sbx_hooks_uninstall_at(kept, dir, backup);
	free(dir);
	free(backup);
	return err;
}

int sbx_hooks_status(struct sbx_hooks_state *st, struct sbx_repo *repo)
{
	char *dir = NULL, *backup = NULL;
	int err = with_dirs(repo, &dir, &backup);

	if (!err)
		err = sbx_hooks_status_at(st, dir, backup);
	free(dir);
	free(backup);
	return err;
}

int sbx_hooks_user_hook(char **out, struct sbx_repo *repo, const char *name)
{
	char *dir = NULL, *path = NULL, *buf = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	if ((err = sbx_hooks_dir(&dir, repo)))
		return err;
	path = join3(dir, name, NULL);
	if (!path) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	/* As git: an executable file (a symlink to one too); anything else is no hook. */
	if (access(path, X_OK) < 0 || sbx_read_file(&buf, &len, path, HOOK_MAX))
		goto out;
	if (!sbx_hooks_is_ours(buf, len)) {
		*out = path;
		path = NULL;
		goto out;
	}
	free(path);
	path = join3(dir, name, SBX_HOOKS_CHAIN_SUFFIX);
	if (path && access(path, X_OK) == 0) {
		*out = path;
		path = NULL;
	}
out:
	free(buf);
	free(path);
	free(dir);
	return err;
}

int sbx_hooks_task_state(char **out, struct sbx_repo *repo, unsigned id)
{
	char *path = NULL, *buf = NULL, *p;
	size_t len = 0;
	int err;

	*out = NULL;
	if (asprintf(&path, "%s/sbx/tasks/%u/record", repo->commondir, id) < 0)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (access(path, F_OK) < 0) {
		free(path);
		return 0;
	}
	err = sbx_read_file(&buf, &len, path, SBX_TASK_RECORD_MAX);
	free(path);
	if (err)
		return err;
	for (p = buf; p && *p; ) {
		char *nl = strchr(p, '\n');

		if (nl)
			*nl = 0;
		if (!strncmp(p, "state ", 6)) {
			*out = strdup(p + 6);
			break;
		}
		p = nl ? nl + 1 : NULL;
	}
	free(buf);
	if (!*out)
		return SBX_CORRUPT("task %u's record has no state", id);
	return 0;
}

int sbx_hooks_check_push(unsigned *refused, struct sbx_repo *repo, const char *input, size_t len,
			 sbx_hooks_msg_fn msg, void *opaque)
{
	const char *p = input, *end = input + len;
	int err = 0;

	*refused = 0;
	while (p < end && !err) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char line[1024], ref[512], oid[64];
		static const char zero[] = "0000000000000000000000000000000000000000";
		unsigned id;

		if (n && n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = 0;
			if (sscanf(line, "%511s %63s", ref, oid) == 2 &&
			    !strncmp(ref, "refs/heads/sbx/", 15) && strcmp(oid, zero) &&
			    !sbx_task_parse_id(&id, ref + 15)) {
				char *state = NULL, why[700];

				err = sbx_hooks_task_state(&state, repo, id);
				if (!err && (!state || strcmp(state, "accepted"))) {
					(*refused)++;
					if (state)
						snprintf(why, sizeof(why), "sbx/%u: task %u is %s, not accepted",
							 id, id, state);
					else
						snprintf(why, sizeof(why), "sbx/%u: no task %u (so none accepted)",
							 id, id);
					if (msg)
						msg(opaque, why);
				}
				free(state);
			}
		}
		p = nl ? nl + 1 : end;
	}
	return err;
}
