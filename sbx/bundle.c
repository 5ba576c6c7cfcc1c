// SPDX-License-Identifier: MIT
/*
 * Git bundles for the guest: the base and bounded history, packed with
 * libgit2's packbuilder and streamed.  The format is in sbx/bundle.h, the
 * reasoning in docs/design.md "Git transport and task records"; the header
 * parser is sbx/bundle-header.c, the hostile import sbx/bundle-import.c.
 */
#include "sbx/bundle.h"
#include "sbx/fsutil.h"
#include "sbx/oidset.h"
#include "sbx/repo.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- configuration ---- */

static int config_int(git_repository *repo, const char *key, int64_t *out)
{
	git_config *cfg = NULL;
	int err = git_repository_config_snapshot(&cfg, repo);

	if (err < 0)
		return sbx_git_error(SBX_ERROR, "cannot read git config");
	err = git_config_get_int64(out, cfg, key);
	git_config_free(cfg);
	if (err == GIT_ENOTFOUND)
		return SBX_ENOTFOUND;
	if (err < 0)
		return sbx_git_error(SBX_EINVAL, key);
	return 0;
}

int sbx_bundle_config_depth(git_repository *repo, unsigned *out)
{
	int64_t v;
	int err = config_int(repo, "sbx.historyDepth", &v);

	*out = SBX_BUNDLE_DEFAULT_DEPTH;
	if (err == SBX_ENOTFOUND)
		return 0;
	if (err)
		return err;
	if (v < 0 || v > 10000000)
		return sbx_error_set(SBX_EINVAL, "bad config value for 'sbx.historyDepth': %lld",
				     (long long)v);
	*out = (unsigned)v;
	return 0;
}

int sbx_bundle_config_max_size(git_repository *repo, uint64_t *out)
{
	int64_t v;
	int err = config_int(repo, "sbx.maxResultSize", &v);

	*out = SBX_BUNDLE_DEFAULT_MAX_SIZE;
	if (err == SBX_ENOTFOUND)
		return 0;
	if (err)
		return err;
	if (v <= 0)
		return sbx_error_set(SBX_EINVAL, "bad config value for 'sbx.maxResultSize': %lld",
				     (long long)v);
	*out = (uint64_t)v;
	return 0;
}

static int config_size(git_repository *repo, const char *key, uint64_t *out)
{
	git_config *cfg = NULL;
	const char *v = NULL;
	int err = git_repository_config_snapshot(&cfg, repo);

	if (err < 0)
		return sbx_git_error(SBX_ERROR, "cannot read git config");
	err = git_config_get_string(&v, cfg, key);
	if (err == GIT_ENOTFOUND) {
		git_config_free(cfg);
		return 0;
	}
	if (err < 0)
		err = sbx_git_error(SBX_EINVAL, key);
	else if (parse_size(v, 1, out) || *out == 0)
		err = sbx_error_set(SBX_EINVAL, "bad config value for '%s': '%s'", key, v);
	git_config_free(cfg);
	return err;
}

int sbx_bundle_config_import(git_repository *repo, struct sbx_bundle_import_opts *opts)
{
	git_config *cfg = NULL;
	int64_t depth;
	int v, err;

	if ((err = sbx_bundle_config_max_size(repo, &opts->max_size)) ||
	    (err = config_size(repo, "sbx.maxObjectSize", &opts->max_object_size)) ||
	    (err = config_size(repo, "sbx.maxInflatedSize", &opts->max_inflated)))
		return err;
	err = config_int(repo, "sbx.maxTreeDepth", &depth);
	if (!err) {
		if (depth < 1 || depth > 64)
			return sbx_error_set(SBX_EINVAL, "bad config value for 'sbx.maxTreeDepth': %lld (1 to 64)",
					     (long long)depth);
		opts->max_tree_depth = (unsigned)depth;
	} else if (err != SBX_ENOTFOUND) {
		return err;
	}
	if (git_repository_config_snapshot(&cfg, repo) < 0)
		return sbx_git_error(SBX_ERROR, "cannot read git config");
	err = git_config_get_bool(&v, cfg, "sbx.allowEmbeddedRepositories");
	git_config_free(cfg);
	if (err == 0)
		opts->allow_embedded_repos = v;
	else if (err != GIT_ENOTFOUND)
		return sbx_git_error(SBX_EINVAL, "sbx.allowEmbeddedRepositories");
	return 0;
}

/* ---- creating a bundle for the guest ---- */

void sbx_bundle_info_clear(struct sbx_bundle_info *info)
{
	if (!info)
		return;
	free(info->shallow);
	memset(info, 0, sizeof(*info));
}

struct create_ctx {
	git_repository *repo;
	git_packbuilder *pb;
	struct sbx_oidset seen;	/* trees and blobs inserted */
	char path[4096];
	sbx_bundle_write_fn write;
	void *payload;
	uint64_t bytes;
	int write_err;
};

static int insert_tree(struct create_ctx *c, const git_oid *id, size_t plen, int depth)
{
	git_tree *tree = NULL;
	size_t i, n;
	int err;

	if (depth > 512)
		return sbx_error_set(SBX_ELIMIT, "tree %s nested too deeply", git_oid_tostr_s(id));
	err = sbx_oidset_add(&c->seen, id);
	if (err <= 0)
		return err;
	err = 0;
	if (git_packbuilder_insert(c->pb, id, plen ? c->path : NULL) < 0)
		return sbx_git_error(SBX_ERROR, "cannot add a tree to the pack");
	if (git_tree_lookup(&tree, c->repo, id) < 0)
		return sbx_git_error(SBX_ERROR, "cannot read a tree");
	n = git_tree_entrycount(tree);
	for (i = 0; i < n && !err; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		size_t nlen = strlen(name), elen = plen;

		if (git_tree_entry_type(e) == GIT_OBJECT_COMMIT)
			continue;	/* a submodule's commit lives elsewhere */
		/* Names only guide delta search: a path too long to keep is cut. */
		if (plen + nlen + 2 < sizeof(c->path)) {
			if (plen)
				c->path[elen++] = '/';
			memcpy(c->path + elen, name, nlen + 1);
			elen += nlen;
		}
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			err = insert_tree(c, git_tree_entry_id(e), elen, depth + 1);
		} else {
			err = sbx_oidset_add(&c->seen, git_tree_entry_id(e));
			if (err > 0) {
				err = git_packbuilder_insert(c->pb, git_tree_entry_id(e), c->path);
				if (err < 0)
					err = sbx_git_error(SBX_ERROR, "cannot add a blob to the pack");
			}
		}
		c->path[plen] = '\0';
		if (err > 0)
			err = 0;
	}
	git_tree_free(tree);
	return err;
}

static int emit(struct create_ctx *c, const void *data, size_t len)
{
	int err = c->write(data, len, c->payload);

	if (err) {
		c->write_err = err < 0 ? err : SBX_EIO;
		return c->write_err;
	}
	c->bytes += len;
	return 0;
}

static int pack_cb(void *buf, size_t size, void *payload)
{
	struct create_ctx *c = payload;

	return emit(c, buf, size) ? -1 : 0;
}

/*
 * The commits within `depth` of base, as `git clone --depth` picks them:
 * breadth first, so each commit is reached first by its shortest path.
 */
static int pick_commits(struct sbx_oidvec *commits, struct sbx_oidset *included, git_repository *repo,
			const git_oid *base, unsigned depth)
{
	struct sbx_oidvec queue = { 0 };
	unsigned *dist = NULL;
	size_t dalloc = 0;
	int err;

	if ((err = sbx_oidvec_push(&queue, base)))
		goto out;
	dalloc = 256;
	dist = calloc(dalloc, sizeof(*dist));
	if (!dist) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	while (queue.head < queue.n) {
		size_t at = queue.head++;
		git_oid id = queue.v[at];
		unsigned d = dist[at];
		git_commit *commit = NULL;
		unsigned i, np;

		if (depth && d >= depth)
			continue;
		err = sbx_oidset_add(included, &id);
		if (err < 0)
			goto out;
		if (err == 0)
			continue;
		if ((err = sbx_oidvec_push(commits, &id)))
			goto out;
		if (git_commit_lookup(&commit, repo, &id) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot read a commit of the history");
			goto out;
		}
		np = git_commit_parentcount(commit);
		for (i = 0; i < np && !err; i++) {
			const git_oid *p = git_commit_parent_id(commit, i);

			if (sbx_oidset_has(included, p))
				continue;
			if ((err = sbx_oidvec_push(&queue, p)))
				break;
			if (queue.n > dalloc) {
				unsigned *nd = realloc(dist, 2 * dalloc * sizeof(*nd));

				if (!nd) {
					err = sbx_error_set(SBX_ENOMEM, "out of memory");
					break;
				}
				dist = nd;
				dalloc *= 2;
			}
			dist[queue.n - 1] = d + 1;
		}
		git_commit_free(commit);
		if (err)
			goto out;
	}
	err = 0;
out:
	sbx_oidvec_clear(&queue);
	free(dist);
	return err;
}

/* Every tree and blob of a tree into `seen` (what the receiver has): they are not sent. */
static int mark_tree(struct sbx_oidset *seen, git_repository *repo, const git_oid *id, int depth)
{
	git_tree *tree = NULL;
	size_t i, n;
	int err;

	if (depth > 512)
		return sbx_error_set(SBX_ELIMIT, "tree %s nested too deeply", git_oid_tostr_s(id));
	err = sbx_oidset_add(seen, id);
	if (err <= 0)
		return err;
	if (git_tree_lookup(&tree, repo, id) < 0)
		return sbx_git_error(SBX_ERROR, "cannot read a tree");
	n = git_tree_entrycount(tree);
	err = 0;
	for (i = 0; i < n && err >= 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);

		if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
			err = mark_tree(seen, repo, git_tree_entry_id(e), depth + 1);
		else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
			err = sbx_oidset_add(seen, git_tree_entry_id(e));
	}
	git_tree_free(tree);
	return err < 0 ? err : 0;
}

/*
 * The commits the receiver of `have` lacks: breadth first from base, down
 * to commits in `has` (the prerequisites).  SBX_ELIMIT past max_new, or
 * when a root commit is reached outside `has` (history it does not share).
 */
static int pick_new_commits(struct sbx_oidvec *commits, struct sbx_oidvec *prereqs,
			    struct sbx_oidset *included, git_repository *repo, const git_oid *base,
			    const struct sbx_oidset *has, size_t max_new)
{
	struct sbx_oidvec queue = { 0 };
	struct sbx_oidset pre = { 0 };
	int err;

	if ((err = sbx_oidvec_push(&queue, base)))
		goto out;
	while (queue.head < queue.n) {
		git_oid id = queue.v[queue.head++];
		git_commit *commit = NULL;
		unsigned i, np;

		if (sbx_oidset_has(has, &id)) {
			err = sbx_oidset_add(&pre, &id);
			if (err > 0)
				err = sbx_oidvec_push(prereqs, &id);
			if (err < 0)
				goto out;
			continue;
		}
		err = sbx_oidset_add(included, &id);
		if (err < 0)
			goto out;
		if (err == 0)
			continue;
		if (max_new && commits->n >= max_new) {
			err = sbx_error_set(SBX_ELIMIT, "over %zu commits to send", max_new);
			goto out;
		}
		if ((err = sbx_oidvec_push(commits, &id)))
			goto out;
		if (git_commit_lookup(&commit, repo, &id) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot read a commit of the history");
			goto out;
		}
		np = git_commit_parentcount(commit);
		if (!np)
			err = sbx_error_set(SBX_ELIMIT, "the base's history has a root the receiver lacks");
		for (i = 0; i < np && !err; i++)
			err = sbx_oidvec_push(&queue, git_commit_parent_id(commit, i));
		git_commit_free(commit);
		if (err)
			goto out;
	}
	err = 0;
out:
	sbx_oidvec_clear(&queue);
	sbx_oidset_clear(&pre);
	return err;
}

int sbx_bundle_create(struct sbx_bundle_info *info, git_repository *repo, const git_oid *base,
		      const struct sbx_bundle_create_opts *opts,
		      sbx_bundle_write_fn write, void *payload)
{
	struct create_ctx c = { .repo = repo, .write = write, .payload = payload };
	struct sbx_oidvec commits = { 0 }, shallow = { 0 }, prereqs = { 0 }, hadv = { 0 };
	struct sbx_oidset included = { 0 }, has = { 0 };
	char hex[GIT_OID_HEXSZ + 1];
	char *header = NULL, *pre = NULL;
	size_t i;
	int err;

	if (info)
		memset(info, 0, sizeof(*info));
	if (!opts || !opts->branch || !*opts->branch)
		return sbx_error_set(SBX_EINVAL, "a bundle needs a branch name");
	{
		char *ref = NULL;
		int valid = 0;

		if (asprintf(&ref, "refs/heads/%s", opts->branch) < 0)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		git_reference_name_is_valid(&valid, ref);
		free(ref);
		if (!valid)
			return sbx_error_set(SBX_EINVAL, "'%s' is not a valid branch name", opts->branch);
	}

	if (opts->have) {
		/* What the receiver has: the commits a bundle of `have` sent it. */
		if ((err = pick_commits(&hadv, &has, repo, opts->have, opts->depth)))
			goto out;
		if (sbx_oidset_has(&has, base)) {
			if (info)
				info->up_to_date = true;
			err = 0;
			goto out;
		}
		err = pick_new_commits(&commits, &prereqs, &included, repo, base, &has, opts->max_new);
		for (i = 0; !err && i < prereqs.n; i++) {
			git_commit *commit = NULL;

			if (git_commit_lookup(&commit, repo, &prereqs.v[i]) < 0) {
				err = sbx_git_error(SBX_ERROR, "cannot read a commit");
				break;
			}
			err = mark_tree(&c.seen, repo, git_commit_tree_id(commit), 0);
			git_commit_free(commit);
		}
		if (!err && prereqs.n > SBX_BUNDLE_MAX_PREREQS)
			err = sbx_error_set(SBX_ELIMIT, "over %d prerequisites", SBX_BUNDLE_MAX_PREREQS);
	} else {
		err = pick_commits(&commits, &included, repo, base, opts->depth);
	}
	if (err)
		goto out;
	if (git_packbuilder_new(&c.pb, repo) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot start a pack");
		goto out;
	}
	for (i = 0; i < commits.n; i++) {
		git_commit *commit = NULL;
		unsigned k, np;
		bool cut = false;

		if (git_packbuilder_insert(c.pb, &commits.v[i], NULL) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot add a commit to the pack");
			goto out;
		}
		if (git_commit_lookup(&commit, repo, &commits.v[i]) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot read a commit");
			goto out;
		}
		np = git_commit_parentcount(commit);
		for (k = 0; k < np && !opts->have; k++)
			if (!sbx_oidset_has(&included, git_commit_parent_id(commit, k)))
				cut = true;
		c.path[0] = '\0';
		err = insert_tree(&c, git_commit_tree_id(commit), 0, 0);
		git_commit_free(commit);
		if (!err && cut)
			err = sbx_oidvec_push(&shallow, &commits.v[i]);
		if (err < 0)
			goto out;
		err = 0;
	}

	pre = calloc(prereqs.n + 1, GIT_OID_HEXSZ + 3);
	if (!pre) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < prereqs.n; i++) {
		/* "-<hex>\n": git allows an empty comment */
		strcat(pre, "-");
		strcat(pre, git_oid_tostr(hex, sizeof(hex), &prereqs.v[i]));
		strcat(pre, "\n");
	}
	git_oid_tostr(hex, sizeof(hex), base);
	if (asprintf(&header, "# v2 git bundle\n%s%s refs/heads/%s\n%s HEAD\n\n",
		     pre, hex, opts->branch, hex) < 0) {
		header = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = emit(&c, header, strlen(header))))
		goto out_write;
	if (git_packbuilder_foreach(c.pb, pack_cb, &c) < 0) {
		if (c.write_err) {
			err = c.write_err;
			goto out_write;
		}
		err = sbx_git_error(SBX_ERROR, "cannot write the pack");
		goto out;
	}
	if (info) {
		info->ncommits = commits.n;
		info->nobjects = git_packbuilder_object_count(c.pb);
		info->bytes = c.bytes;
		info->shallow = shallow.v;
		info->nshallow = shallow.n;
		info->nprereqs = prereqs.n;
		shallow.v = NULL;
	}
	err = 0;
	goto out;
out_write:
	sbx_error_prefix(err, "cannot send the bundle");
out:
	free(header);
	free(pre);
	git_packbuilder_free(c.pb);
	sbx_oidset_clear(&c.seen);
	sbx_oidset_clear(&included);
	sbx_oidset_clear(&has);
	sbx_oidvec_clear(&hadv);
	sbx_oidvec_clear(&prereqs);
	sbx_oidvec_clear(&commits);
	sbx_oidvec_clear(&shallow);
	return err;
}

static int fd_write(const void *data, size_t len, void *payload)
{
	int fd = *(int *)payload;
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return sbx_error_errno(SBX_EIO, "write");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sbx_bundle_create_fd(struct sbx_bundle_info *info, git_repository *repo, const git_oid *base,
			 const struct sbx_bundle_create_opts *opts, int fd)
{
	return sbx_bundle_create(info, repo, base, opts, fd_write, &fd);
}

