// SPDX-License-Identifier: MIT
/*
 * Importing the guest's result bundle: quarantined indexing, verification,
 * then publication of the pack and the branch.  The checks are listed at
 * sbx_bundle_import_finish() in sbx/bundle.h and argued in docs/design.md.
 */
#include "sbx/bundle.h"
#include "sbx/fsutil.h"
#include "sbx/oidset.h"
#include "sbx/repo.h"
#include "util/checked.h"
#include "util/error.h"

#include <git2/sys/odb_backend.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- importing the guest's result ---- */

struct sbx_bundle_import {
	git_repository *repo;
	git_odb *odb;			/* the repository's (not ours) */
	struct sbx_bundle_import_opts opts;
	git_oid expected_old;
	char *refname;
	struct sbx_bundle_parser parser;
	char *objdir, *qdir;
	git_indexer *idx;
	git_indexer_progress stats;
	unsigned char packhdr[12];
	uint64_t total, pack_bytes;
	int err;			/* sticky */
	bool done;
};

void sbx_bundle_import_free(struct sbx_bundle_import *imp)
{
	if (!imp)
		return;
	git_indexer_free(imp->idx);
	if (imp->qdir)
		sbx_rmtree(imp->qdir);
	git_odb_free(imp->odb);
	free(imp->refname);
	free(imp->objdir);
	free(imp->qdir);
	free(imp);
}

int sbx_bundle_import_begin(struct sbx_bundle_import **out, git_repository *repo,
			    const struct sbx_bundle_import_opts *opts)
{
	struct sbx_bundle_import *imp;
	git_indexer_options iopts;
	git_buf objdir = { 0 };
	int valid = 0, err;

	*out = NULL;
	if (!opts || !opts->branch)
		return sbx_error_set(SBX_EINVAL, "an import needs a branch name");
	imp = calloc(1, sizeof(*imp));
	if (!imp)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	imp->repo = repo;
	imp->opts = *opts;
	if (opts->expected_old) {
		imp->expected_old = *opts->expected_old;
		imp->opts.expected_old = &imp->expected_old;
	}
	sbx_bundle_parser_init(&imp->parser);
	if (asprintf(&imp->refname, "refs/heads/%s", opts->branch) < 0) {
		imp->refname = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	if (git_reference_name_is_valid(&valid, imp->refname) < 0 || !valid) {
		err = sbx_error_set(SBX_EINVAL, "'%s' is not a valid branch name", opts->branch);
		goto fail;
	}
	if (git_repository_odb(&imp->odb, repo) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot open the object database");
		goto fail;
	}
	if (git_repository_item_path(&objdir, repo, GIT_REPOSITORY_ITEM_OBJECTS) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot find the objects directory");
		goto fail;
	}
	imp->objdir = strdup(objdir.ptr);
	git_buf_dispose(&objdir);
	if (imp->objdir) {
		size_t n = strlen(imp->objdir);

		while (n > 1 && imp->objdir[n - 1] == '/')
			imp->objdir[--n] = '\0';
	}
	/*
	 * The quarantine: a directory next to objects/pack (same file system,
	 * so the final move is a rename), invisible to git's object lookup.
	 */
	if (!imp->objdir ||
	    asprintf(&imp->qdir, "%s/sbx-incoming-%ld-XXXXXX", imp->objdir, (long)getpid()) < 0) {
		imp->qdir = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	if (!mkdtemp(imp->qdir)) {
		err = sbx_error_errno(SBX_EIO, "cannot create a quarantine in '%s'", imp->objdir);
		free(imp->qdir);
		imp->qdir = NULL;
		goto fail;
	}
	git_indexer_options_init(&iopts, GIT_INDEXER_OPTIONS_VERSION);
	iopts.verify = 0;	/* we check connectivity ourselves, against the tip */
	if (git_indexer_new(&imp->idx, imp->qdir, 0, imp->odb, &iopts) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot start indexing");
		goto fail;
	}
	*out = imp;
	return 0;
fail:
	sbx_bundle_import_free(imp);
	return err;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int feed_pack(struct sbx_bundle_import *imp, const unsigned char *d, size_t len)
{
	if (imp->pack_bytes < sizeof(imp->packhdr)) {
		size_t n = sizeof(imp->packhdr) - (size_t)imp->pack_bytes;

		if (n > len)
			n = len;
		memcpy(imp->packhdr + imp->pack_bytes, d, n);
		if (imp->pack_bytes + n == sizeof(imp->packhdr)) {
			uint32_t version = be32(imp->packhdr + 4), count = be32(imp->packhdr + 8);

			if (memcmp(imp->packhdr, "PACK", 4))
				return SBX_CORRUPT("the bundle's pack has no PACK signature");
			if (version != 2 && version != 3)
				return sbx_error_set(SBX_EUNSUPPORTED, "pack version %u", version);
			if (count > imp->opts.max_objects)
				return sbx_error_set(SBX_ELIMIT, "the pack claims %u objects, more than the limit of %zu",
						     count, imp->opts.max_objects);
		}
	}
	imp->pack_bytes += len;
	if (len && git_indexer_append(imp->idx, d, len, &imp->stats) < 0)
		return sbx_git_error(SBX_ECORRUPT, "the bundle's pack is corrupt");
	return 0;
}

int sbx_bundle_import_write(struct sbx_bundle_import *imp, const void *data, size_t len)
{
	const unsigned char *d = data;
	long used = 0;
	int err;

	if (imp->err)
		return imp->err;
	if (imp->done)
		return sbx_error_set(SBX_EINVAL, "import already finished");
	if (chk_add(imp->total, (uint64_t)len, &imp->total) || imp->total > imp->opts.max_size) {
		err = sbx_error_set(SBX_ELIMIT, "the result is larger than the limit of %llu bytes (sbx.maxResultSize)",
				    (unsigned long long)imp->opts.max_size);
		goto fail;
	}
	if (imp->parser.state != SBX_BUNDLE_PARSE_PACK) {
		used = sbx_bundle_parser_feed(&imp->parser, d, len);
		if (used < 0) {
			err = (int)used;
			goto fail;
		}
	}
	if ((size_t)used < len && (err = feed_pack(imp, d + used, len - (size_t)used)))
		goto fail;
	return 0;
fail:
	imp->err = err;
	return err;
}

/* Objects in the pack we received, and what we reached from the tip. */
struct verify_ctx {
	struct sbx_bundle_import *imp;
	git_odb *packodb;		/* only the new pack */
	git_repository *qrepo;		/* the repository's objects plus the new pack */
	struct sbx_oidset visited;
	int err;
};

static bool in_repo(struct verify_ctx *v, const git_oid *id)
{
	return git_odb_exists_ext(v->imp->odb, id, GIT_ODB_LOOKUP_NO_REFRESH) == 1;
}

static bool in_pack(struct verify_ctx *v, const git_oid *id)
{
	return v->packodb && git_odb_exists_ext(v->packodb, id, GIT_ODB_LOOKUP_NO_REFRESH) == 1;
}

/*
 * A tree entry name no checkout may write: ".", "..", and ".git" in any
 * case or with the trailing dots and spaces Windows drops, or its 8.3
 * name "git~1" (what git's fsck calls hasDot, hasDotdot, hasDotgit).  A
 * tree holding one could put files into the host's .git when the branch
 * is checked out by a tool less careful than libgit2.
 */
bool sbx_bundle_bad_entry_name(const char *name)
{
	size_t n = strlen(name);

	if (!n || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/'))
		return true;
	if (!strcasecmp(name, "git~1"))
		return true;
	if (n >= 4 && !strncasecmp(name, ".git", 4)) {
		const char *p = name + 4;

		while (*p == '.' || *p == ' ')
			p++;
		return !*p;
	}
	return false;
}

/*
 * Everything reachable from the tip must be in the pack or already in the
 * repository.  We descend only into objects of the pack: what the
 * repository already had is trusted as git trusts its own store, which
 * keeps the walk proportional to the pack.
 */
static int walk_from_tip(struct verify_ctx *v, const git_oid *tip)
{
	struct sbx_oidvec stack = { 0 };
	int err = sbx_oidvec_push(&stack, tip);

	while (!err && stack.n) {
		git_oid id = stack.v[--stack.n];
		git_object *obj = NULL;

		if (sbx_oidset_has(&v->visited, &id))
			continue;
		if (!in_pack(v, &id)) {
			if (in_repo(v, &id))
				continue;
			err = SBX_CORRUPT("object %s, reachable from the tip, is in neither the bundle nor the repository",
					  git_oid_tostr_s(&id));
			break;
		}
		if ((err = sbx_oidset_add(&v->visited, &id)) < 0)
			break;
		err = 0;
		if (git_object_lookup(&obj, v->qrepo, &id, GIT_OBJECT_ANY) < 0) {
			err = sbx_git_error(SBX_ECORRUPT, "cannot parse an object of the bundle");
			break;
		}
		if (git_object_type(obj) == GIT_OBJECT_COMMIT) {
			const git_commit *c = (const git_commit *)obj;
			unsigned i, np = git_commit_parentcount(c);

			err = sbx_oidvec_push(&stack, git_commit_tree_id(c));
			for (i = 0; i < np && !err; i++)
				err = sbx_oidvec_push(&stack, git_commit_parent_id(c, i));
		} else if (git_object_type(obj) == GIT_OBJECT_TREE) {
			const git_tree *t = (const git_tree *)obj;
			size_t i, n = git_tree_entrycount(t);

			for (i = 0; i < n && !err; i++) {
				const git_tree_entry *e = git_tree_entry_byindex(t, i);

				if (sbx_bundle_bad_entry_name(git_tree_entry_name(e))) {
					err = SBX_CORRUPT("tree %s has an entry named '%s', which no checkout may write",
							  git_oid_tostr_s(&id), git_tree_entry_name(e));
					break;
				}
				if (git_tree_entry_filemode(e) == GIT_FILEMODE_COMMIT)
					continue;	/* a submodule: not ours to carry */
				err = sbx_oidvec_push(&stack, git_tree_entry_id(e));
			}
		} else if (git_object_type(obj) == GIT_OBJECT_TAG) {
			err = SBX_CORRUPT("tag object %s reachable from the tip", git_oid_tostr_s(&id));
		}
		git_object_free(obj);
	}
	sbx_oidvec_clear(&stack);
	return err;
}

static int check_pack_object(const git_oid *id, void *payload)
{
	struct verify_ctx *v = payload;

	if (sbx_oidset_has(&v->visited, id) || in_repo(v, id))
		return 0;
	v->err = SBX_CORRUPT("object %s in the bundle is not reachable from its tip",
			     git_oid_tostr_s(id));
	return -1;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return sbx_error_errno(SBX_EIO, "cannot open '%s'", path);
	if (fsync(fd))
		err = sbx_error_errno(SBX_EIO, "cannot sync '%s'", path);
	close(fd);
	return err;
}

/* Move pack-<name>.pack, then .idx (which makes it visible), into objects/pack. */
static int publish_pack(struct sbx_bundle_import *imp, const char *name)
{
	static const char *const exts[] = { "pack", "idx" };
	char *from = NULL, *to = NULL, *packdir = NULL;
	size_t i;
	int err = 0;

	packdir = sbx_path_join(imp->objdir, "pack");
	if (!packdir)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if ((err = sbx_mkdirs(packdir)))
		goto out;
	for (i = 0; i < ARRAY_SIZE(exts) && !err; i++) {
		if (asprintf(&from, "%s/pack-%s.%s", imp->qdir, name, exts[i]) < 0 ||
		    asprintf(&to, "%s/pack-%s.%s", packdir, name, exts[i]) < 0) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		err = fsync_path(from);
		if (!err && rename(from, to))
			err = sbx_error_errno(SBX_EIO, "cannot move the pack into '%s'", packdir);
		free(from);
		free(to);
		from = to = NULL;
	}
	if (!err)
		err = sbx_fsync_dir(packdir);
out:
	free(from);
	free(to);
	free(packdir);
	return err;
}

static int check_ref(struct sbx_bundle_import *imp)
{
	git_reference *ref = NULL;
	int err = git_reference_lookup(&ref, imp->repo, imp->refname);

	if (err == GIT_ENOTFOUND) {
		if (imp->opts.expected_old)
			return sbx_error_set(SBX_ENOTFOUND, "branch '%s' does not exist", imp->opts.branch);
		return 0;
	}
	if (err < 0)
		return sbx_git_error(SBX_ERROR, "cannot read the task's branch");
	err = 0;
	if (!imp->opts.expected_old)
		err = sbx_error_set(SBX_EEXISTS, "branch '%s' already exists", imp->opts.branch);
	else if (git_reference_type(ref) != GIT_REFERENCE_DIRECT ||
		 git_oid_cmp(git_reference_target(ref), imp->opts.expected_old))
		err = sbx_error_set(SBX_ELOCKED, "branch '%s' moved during the task", imp->opts.branch);
	git_reference_free(ref);
	return err;
}

static int verify_and_publish(struct sbx_bundle_import *imp, git_oid *tip)
{
	struct verify_ctx v = { .imp = imp };
	const struct sbx_bundle_header *h = &imp->parser.hdr;
	git_odb_backend *b1 = NULL, *b2 = NULL;
	git_odb *qodb = NULL;
	git_object_t type;
	size_t i, size;
	char *idxpath = NULL;
	const char *name = NULL;
	bool have_pack;
	int err;

	if (imp->parser.state != SBX_BUNDLE_PARSE_PACK)
		return imp->parser.header_len == 0 ? SBX_CORRUPT("the bundle is empty")
						   : SBX_CORRUPT("the bundle header is truncated");
	if (h->nrefs == 0)
		return SBX_CORRUPT("the bundle carries no ref");
	if (h->nrefs != 1)
		return SBX_CORRUPT("the bundle carries %zu refs; expected exactly one", h->nrefs);
	if (strcmp(h->refs[0].name, "HEAD") && strcmp(h->refs[0].name, imp->refname))
		return SBX_CORRUPT("the bundle carries ref '%s'; expected HEAD or '%s'",
				   h->refs[0].name, imp->refname);
	*tip = h->refs[0].oid;
	/* Our lookups skip refreshing on a miss: see packs added since the repository was opened. */
	git_odb_refresh(imp->odb);
	for (i = 0; i < h->nprereqs; i++)
		if (!in_repo(&v, &h->prereqs[i]) &&
		    git_odb_exists(imp->odb, &h->prereqs[i]) != 1)
			return SBX_CORRUPT("the bundle needs %s, which the repository does not have",
					   git_oid_tostr_s(&h->prereqs[i]));
	if (imp->pack_bytes < sizeof(imp->packhdr))
		return SBX_CORRUPT("the bundle's pack is missing or truncated (%llu bytes)",
				   (unsigned long long)imp->pack_bytes);
	if (git_indexer_commit(imp->idx, &imp->stats) < 0)
		return sbx_git_error(SBX_ECORRUPT, "the bundle's pack is corrupt");
	have_pack = imp->stats.total_objects > 0;

	/* A view of the repository's objects plus the new pack. */
	if (have_pack) {
		name = git_indexer_name(imp->idx);
		if (asprintf(&idxpath, "%s/pack-%s.idx", imp->qdir, name) < 0) {
			idxpath = NULL;
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		if (git_odb_new(&v.packodb) < 0 || git_odb_backend_one_pack(&b1, idxpath) < 0 ||
		    git_odb_add_backend(v.packodb, b1, 1) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot open the received pack");
			goto out;
		}
		b1 = NULL;
	}
	if (git_odb_open(&qodb, imp->objdir) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot open the object database");
		goto out;
	}
	if (have_pack) {
		if (git_odb_backend_one_pack(&b2, idxpath) < 0 || git_odb_add_backend(qodb, b2, 1000) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot open the received pack");
			goto out;
		}
		b2 = NULL;
	}
	if (git_repository_wrap_odb(&v.qrepo, qodb) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot open the object database");
		goto out;
	}

	if (git_odb_read_header(&size, &type, qodb, tip) < 0) {
		err = SBX_CORRUPT("the bundle's tip %s is in neither the bundle nor the repository",
				  git_oid_tostr_s(tip));
		goto out;
	}
	if (type != GIT_OBJECT_COMMIT) {
		err = SBX_CORRUPT("the bundle's tip %s is a %s, not a commit",
				  git_oid_tostr_s(tip), git_object_type2string(type));
		goto out;
	}
	if ((err = walk_from_tip(&v, tip)))
		goto out;
	if (git_oid_cmp(tip, &imp->opts.base)) {
		err = git_graph_descendant_of(v.qrepo, tip, &imp->opts.base);
		if (err < 0) {
			err = sbx_git_error(SBX_ECORRUPT, "cannot walk the result's history");
			goto out;
		}
		if (err == 0) {
			char a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];

			git_oid_tostr(a, sizeof(a), tip);
			git_oid_tostr(b, sizeof(b), &imp->opts.base);
			err = SBX_CORRUPT("the result %s does not descend from the task's base %s (history rewritten)",
					  a, b);
			goto out;
		}
	}
	if (have_pack && git_odb_foreach(v.packodb, check_pack_object, &v) < 0) {
		err = v.err ? v.err : sbx_git_error(SBX_ERROR, "cannot list the received pack");
		goto out;
	}
	if ((err = check_ref(imp)) || imp->opts.verify_only)
		goto out;

	/* Every check passed: only now does the repository change. */
	git_odb_free(v.packodb);
	v.packodb = NULL;
	git_repository_free(v.qrepo);
	v.qrepo = NULL;
	git_odb_free(qodb);
	qodb = NULL;
	if (have_pack) {
		if ((err = publish_pack(imp, name)))
			goto out;
		git_odb_refresh(imp->odb);
	}
	{
		git_reference *ref = NULL;
		const char *msg = imp->opts.reflog_message ? imp->opts.reflog_message
							   : "sbx: import result";

		if (imp->opts.expected_old)
			err = git_reference_create_matching(&ref, imp->repo, imp->refname, tip, 1,
							    imp->opts.expected_old, msg);
		else
			err = git_reference_create(&ref, imp->repo, imp->refname, tip, 0, msg);
		git_reference_free(ref);
		if (err < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot move the task's branch");
			goto out;
		}
	}
	err = 0;
out:
	if (b1)
		b1->free(b1);
	if (b2)
		b2->free(b2);
	git_repository_free(v.qrepo);
	git_odb_free(v.packodb);
	git_odb_free(qodb);
	sbx_oidset_clear(&v.visited);
	free(idxpath);
	return err;
}

int sbx_bundle_import_finish(struct sbx_bundle_import *imp, git_oid *tip)
{
	int err;

	if (imp->err)
		return imp->err;
	if (imp->done)
		return sbx_error_set(SBX_EINVAL, "import already finished");
	imp->done = true;
	err = verify_and_publish(imp, tip);
	if (err) {
		imp->err = err;
		return sbx_error_prefix(err, "rejected the result bundle");
	}
	return 0;
}

int sbx_bundle_import_fd(git_oid *tip, git_repository *repo,
			 const struct sbx_bundle_import_opts *opts, int fd)
{
	struct sbx_bundle_import *imp = NULL;
	char *buf = malloc(1 << 16);
	int err;

	if (!buf)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_bundle_import_begin(&imp, repo, opts);
	while (!err) {
		ssize_t n = read(fd, buf, 1 << 16);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = sbx_error_errno(SBX_EIO, "cannot read the bundle");
			break;
		}
		if (n == 0)
			break;
		err = sbx_bundle_import_write(imp, buf, (size_t)n);
		if (err)
			sbx_error_prefix(err, "rejected the result bundle");
	}
	if (!err)
		err = sbx_bundle_import_finish(imp, tip);
	sbx_bundle_import_free(imp);
	free(buf);
	return err;
}

int sbx_bundle_gc(git_repository *repo, unsigned *removed)
{
	git_buf objdir = { 0 };
	struct dirent *e;
	DIR *d;
	int err = 0;

	*removed = 0;
	if (git_repository_item_path(&objdir, repo, GIT_REPOSITORY_ITEM_OBJECTS) < 0)
		return sbx_git_error(SBX_ERROR, "cannot find the objects directory");
	d = opendir(objdir.ptr);
	if (!d) {
		err = sbx_error_errno(SBX_EIO, "cannot read '%s'", objdir.ptr);
		goto out;
	}
	while (!err && (e = readdir(d))) {
		char *end, *path;
		long pid;

		if (strncmp(e->d_name, "sbx-incoming-", 13))
			continue;
		pid = strtol(e->d_name + 13, &end, 10);
		if (*end != '-' || sbx_pid_alive(pid))
			continue;
		path = sbx_path_join(objdir.ptr, e->d_name);
		if (!path) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			break;
		}
		err = sbx_rmtree(path);
		free(path);
		if (!err)
			(*removed)++;
	}
	closedir(d);
out:
	git_buf_dispose(&objdir);
	return err;
}
