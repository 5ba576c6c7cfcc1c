// SPDX-License-Identifier: MIT
/*
 * Importing the guest's result bundle: quarantined indexing, verification,
 * then publication of the pack and the branch.  The checks are listed at
 * sbx_bundle_import_finish() in sbx/bundle.h and argued in docs/design.md.
 */
#include "sbx/bundle.h"
#include "sbx/fsutil.h"
#include "sbx/import-check.h"
#include "sbx/index-pack.h"
#include "sbx/oidset.h"
#include "sbx/pack-scan.h"
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
	char *refname;		/* refs/heads/<branch>: the bundle's ref */
	char *target;		/* the ref checked and moved: opts.ref, else refname */
	char *label;		/* for messages: "branch 'sbx/3'" or "'refs/sbx/3/2'" */
	struct sbx_bundle_parser parser;
	char *objdir, *qdir;
	struct sbx_pack_scan scan;	/* every byte, before git sees it */
	struct sbx_index_pack *ip;	/* git index-pack --strict, started with the pack */
	uint64_t total, pack_bytes;
	int err;			/* sticky */
	bool done;
};

void sbx_bundle_import_free(struct sbx_bundle_import *imp)
{
	if (!imp)
		return;
	sbx_index_pack_free(imp->ip);
	sbx_pack_scan_clear(&imp->scan);
	if (imp->qdir)
		sbx_rmtree(imp->qdir);
	git_odb_free(imp->odb);
	free(imp->refname);
	free(imp->target);
	free(imp->label);
	free(imp->objdir);
	free(imp->qdir);
	free(imp);
}

int sbx_bundle_import_begin(struct sbx_bundle_import **out, git_repository *repo,
			    const struct sbx_bundle_import_opts *opts)
{
	struct sbx_bundle_import *imp;
	struct sbx_pack_scan_limits lim;
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
	imp->target = strdup(opts->ref ? opts->ref : imp->refname);
	if (opts->ref ? asprintf(&imp->label, "'%s'", opts->ref) < 0
		      : asprintf(&imp->label, "branch '%s'", opts->branch) < 0)
		imp->label = NULL;
	if (!imp->target || !imp->label) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto fail;
	}
	imp->opts.ref = NULL;
	if (opts->ref && (git_reference_name_is_valid(&valid, imp->target) < 0 || !valid ||
			  strncmp(imp->target, "refs/", 5))) {
		err = sbx_error_set(SBX_EINVAL, "'%s' is not a valid ref name", opts->ref);
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
	lim.max_object = opts->max_object_size;
	lim.max_total = opts->max_inflated;
	lim.max_objects = opts->max_objects > UINT32_MAX ? UINT32_MAX : (uint32_t)opts->max_objects;
	sbx_pack_scan_init(&imp->scan, &lim);
	*out = imp;
	return 0;
fail:
	sbx_bundle_import_free(imp);
	return err;
}

/* Pack bytes: our scanner sees them first; only what it accepts reaches git. */
static int feed_pack(struct sbx_bundle_import *imp, const unsigned char *d, size_t len)
{
	int err;

	if (!len)
		return 0;
	if ((err = sbx_pack_scan_feed(&imp->scan, d, len)))
		return err;
	imp->pack_bytes += len;
	if (!imp->ip && (err = sbx_index_pack_start(&imp->ip, imp->qdir, imp->objdir)))
		return err;
	return sbx_index_pack_write(imp->ip, d, len);
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
	struct sbx_import_walk walk;	/* its packodb holds only the new pack */
	int err;
};

static bool in_repo(struct verify_ctx *v, const git_oid *id)
{
	return git_odb_exists_ext(v->imp->odb, id, GIT_ODB_LOOKUP_NO_REFRESH) == 1;
}

/* ".", "..", ".git" and its variants (git's hasDot, hasDotdot, hasDotgit): sbx/import-check.c. */
bool sbx_bundle_bad_entry_name(const char *name)
{
	return sbx_import_bad_name(name, strlen(name));
}

static int check_pack_object(const git_oid *id, void *payload)
{
	struct verify_ctx *v = payload;

	if (sbx_oidset_has(&v->walk.visited, id) || in_repo(v, id))
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
		if (asprintf(&from, "%s/objects/pack/pack-%s.%s", imp->qdir, name, exts[i]) < 0 ||
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
	int err = git_reference_lookup(&ref, imp->repo, imp->target);

	if (err == GIT_ENOTFOUND) {
		if (imp->opts.expected_old)
			return sbx_error_set(SBX_ENOTFOUND, "%s does not exist", imp->label);
		return 0;
	}
	if (err < 0)
		return sbx_git_error(SBX_ERROR, "cannot read the task's branch");
	err = 0;
	if (!imp->opts.expected_old)
		err = sbx_error_set(SBX_EEXISTS, "%s already exists", imp->label);
	else if (git_reference_type(ref) != GIT_REFERENCE_DIRECT ||
		 git_oid_cmp(git_reference_target(ref), imp->opts.expected_old))
		err = sbx_error_set(SBX_ELOCKED, "%s moved during the task", imp->label);
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
	char *idxpath = NULL, name[41] = "";
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
	if (imp->pack_bytes < 12)
		return SBX_CORRUPT("the bundle's pack is missing or truncated (%llu bytes)",
				   (unsigned long long)imp->pack_bytes);
	if ((err = sbx_pack_scan_finish(&imp->scan)))
		return err;
	if (!imp->ip)
		return SBX_CORRUPT("the bundle's pack is missing");
	if ((err = sbx_index_pack_finish(imp->ip, name)))
		return err;
	have_pack = imp->scan.count > 0;
	v.walk.repo_odb = imp->odb;
	v.walk.max_tree_depth = imp->opts.max_tree_depth;
	v.walk.allow_embedded_repos = imp->opts.allow_embedded_repos;

	/* A view of the repository's objects plus the new pack. */
	if (have_pack) {
		if (asprintf(&idxpath, "%s/objects/pack/pack-%s.idx", imp->qdir, name) < 0) {
			idxpath = NULL;
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		if (git_odb_new(&v.walk.pack_odb) < 0 || git_odb_backend_one_pack(&b1, idxpath) < 0 ||
		    git_odb_add_backend(v.walk.pack_odb, b1, 1) < 0) {
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
	if (git_repository_wrap_odb(&v.walk.qrepo, qodb) < 0) {
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
	{
		git_commit *bc = NULL;

		if (git_commit_lookup(&bc, v.walk.qrepo, &imp->opts.base) == 0) {
			git_oid_cpy(&v.walk.base_tree, git_commit_tree_id(bc));
			v.walk.has_base_tree = true;
		}
		git_commit_free(bc);
	}
	if ((err = sbx_import_walk(&v.walk, tip)))
		goto out;
	if (git_oid_cmp(tip, &imp->opts.base)) {
		err = git_graph_descendant_of(v.walk.qrepo, tip, &imp->opts.base);
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
	if (have_pack && git_odb_foreach(v.walk.pack_odb, check_pack_object, &v) < 0) {
		err = v.err ? v.err : sbx_git_error(SBX_ERROR, "cannot list the received pack");
		goto out;
	}
	if ((err = check_ref(imp)) || imp->opts.verify_only)
		goto out;

	/* Every check passed: only now does the repository change. */
	git_odb_free(v.walk.pack_odb);
	v.walk.pack_odb = NULL;
	git_repository_free(v.walk.qrepo);
	v.walk.qrepo = NULL;
	git_odb_free(qodb);
	qodb = NULL;
	if (have_pack) {
		if ((err = publish_pack(imp, name)))
			goto out;
		git_odb_refresh(imp->odb);
	}
	if (!imp->opts.objects_only) {
		git_reference *ref = NULL;
		const char *msg = imp->opts.reflog_message ? imp->opts.reflog_message
							   : "sbx: import result";

		if (imp->opts.expected_old)
			err = git_reference_create_matching(&ref, imp->repo, imp->target, tip, 1,
							    imp->opts.expected_old, msg);
		else
			err = git_reference_create(&ref, imp->repo, imp->target, tip, 0, msg);
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
	git_repository_free(v.walk.qrepo);
	git_odb_free(v.walk.pack_odb);
	git_odb_free(qodb);
	sbx_import_walk_clear(&v.walk);
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
