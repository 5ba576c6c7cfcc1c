/* SPDX-License-Identifier: MIT */
/*
 * Git as the transport between the host and the guest: git bundles.
 *
 * A bundle (git's Documentation/technical/bundle-format.txt) is a text
 * header and a packfile:
 *
 *   "# v2 git bundle\n"  or  "# v3 git bundle\n" then "@<capability>\n"...
 *   "-<40 hex> <comment>\n"   a prerequisite: the receiver must have it
 *   "<40 hex> <refname>\n"    a ref the bundle carries
 *   "\n"
 *   "PACK" <version u32 BE> <count u32 BE> <objects> <20-byte SHA-1 trailer>
 *
 * To the guest (sbx_bundle_create): a v2 bundle with no prerequisites (or,
 * incremental, only commits the guest has; see `have` below) whose
 * pack holds the base commit and its history down to sbx.historyDepth
 * commits, trees and blobs complete.  git refuses to clone or fetch a
 * bundle whose prerequisites it lacks, and a fresh guest has nothing, so
 * history is cut the way `git clone --depth` cuts it: the commits whose
 * parents were left out are reported in `shallow`, and the guest writes them
 * to .git/shallow before `git fetch`ing the bundle (a plain `git clone` of a
 * cut bundle "succeeds" into a broken repository: clone does not check
 * connectivity).  When nothing was cut, `shallow` is empty and `git clone`
 * works.  Refs: "<base> refs/heads/<branch>" and "<base> HEAD".
 *
 * From the guest (sbx_bundle_import): what `git bundle create F BASE..HEAD`
 * writes.  THE INPUT IS HOSTILE: see the checks listed at
 * sbx_bundle_import_finish().
 */
#ifndef SBX_SBX_BUNDLE_H
#define SBX_SBX_BUNDLE_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard limits of the header parser. */
#define SBX_BUNDLE_MAX_LINE 65536	/* a prerequisite comment is a commit subject */
#define SBX_BUNDLE_MAX_REFNAME 1024
#define SBX_BUNDLE_MAX_REFS 16
#define SBX_BUNDLE_MAX_PREREQS 1024
#define SBX_BUNDLE_MAX_CAPS 8
#define SBX_BUNDLE_MAX_HEADER (1u << 20)

#define SBX_BUNDLE_DEFAULT_DEPTH 50
#define SBX_BUNDLE_DEFAULT_MAX_SIZE (256ull << 20)
#define SBX_BUNDLE_DEFAULT_MAX_OBJECTS 1000000u
#define SBX_BUNDLE_DEFAULT_MAX_OBJECT_SIZE (100ull << 20)	/* GitHub's own limit per file */
#define SBX_BUNDLE_DEFAULT_MAX_INFLATED (1ull << 30)
#define SBX_BUNDLE_DEFAULT_MAX_TREE_DEPTH 48

/* ---- sending: host -> guest ---- */

/* Called with consecutive pieces of the bundle; nonzero stops (and is returned). */
typedef int (*sbx_bundle_write_fn)(const void *data, size_t len, void *payload);

struct sbx_bundle_create_opts {
	const char *branch;	/* e.g. "sbx/3": the ref is refs/heads/<branch> */
	unsigned depth;		/* commits of history including base; 0 = all */
	/*
	 * An incremental bundle: the receiver holds `have` and the history a
	 * bundle of it with this `depth` gave it (a warm base's guest).  The
	 * bundle then holds only the commits it lacks, breadth first from the
	 * base down to commits it has, which become the prerequisites
	 * ("-<hex>" lines), and only the trees and blobs the prerequisites'
	 * trees do not hold.  More than max_new commits to send (0: no
	 * limit), or history that leaves what it has, is SBX_ELIMIT: send a
	 * whole bundle instead.  When the receiver has the base already,
	 * nothing is written and info->up_to_date is set.
	 */
	const git_oid *have;
	size_t max_new;
};
#define SBX_BUNDLE_CREATE_OPTS_INIT { NULL, SBX_BUNDLE_DEFAULT_DEPTH, NULL, 0 }

struct sbx_bundle_info {
	size_t ncommits;	/* commits in the pack */
	size_t nobjects;	/* objects in the pack */
	uint64_t bytes;		/* bundle size, header included */
	git_oid *shallow;	/* commits whose parents were left out */
	size_t nshallow;
	size_t nprereqs;	/* an incremental bundle's prerequisites */
	bool up_to_date;	/* incremental: the receiver has the base; nothing written */
};
void sbx_bundle_info_clear(struct sbx_bundle_info *info);

/*
 * Stream a bundle of `base` and its history to `write`.  `info` (may be
 * NULL) receives what was sent; clear it with sbx_bundle_info_clear().
 */
int sbx_bundle_create(struct sbx_bundle_info *info, git_repository *repo, const git_oid *base,
		      const struct sbx_bundle_create_opts *opts,
		      sbx_bundle_write_fn write, void *payload);
/* The same, to a file descriptor (a pipe, a socket, a file). */
int sbx_bundle_create_fd(struct sbx_bundle_info *info, git_repository *repo, const git_oid *base,
			 const struct sbx_bundle_create_opts *opts, int fd);

/* sbx.historyDepth (default SBX_BUNDLE_DEFAULT_DEPTH; 0 = all history). */
int sbx_bundle_config_depth(git_repository *repo, unsigned *out);
/* sbx.maxResultSize (default SBX_BUNDLE_DEFAULT_MAX_SIZE). */
int sbx_bundle_config_max_size(git_repository *repo, uint64_t *out);
struct sbx_bundle_import_opts;
/*
 * Every import limit from git config into `opts`: sbx.maxResultSize,
 * sbx.maxObjectSize (default 100M), sbx.maxInflatedSize (1G),
 * sbx.maxTreeDepth (48, at most 64), sbx.allowEmbeddedRepositories (false).
 */
int sbx_bundle_config_import(git_repository *repo, struct sbx_bundle_import_opts *opts);

/* ---- the header parser (no libgit2; fuzzed by tests/fuzz/fuzz-bundle.c) ---- */

struct sbx_bundle_ref {
	git_oid oid;
	char name[SBX_BUNDLE_MAX_REFNAME + 1];
};

struct sbx_bundle_header {
	int version;				/* 2 or 3 */
	git_oid prereqs[SBX_BUNDLE_MAX_PREREQS];
	size_t nprereqs;
	struct sbx_bundle_ref refs[SBX_BUNDLE_MAX_REFS];
	size_t nrefs;
};

enum sbx_bundle_parse_state {
	SBX_BUNDLE_PARSE_SIGNATURE,
	SBX_BUNDLE_PARSE_CAPS,		/* v3 only, before prerequisites and refs */
	SBX_BUNDLE_PARSE_LINES,
	SBX_BUNDLE_PARSE_PACK,		/* header done; the rest is the pack */
};

struct sbx_bundle_parser {
	enum sbx_bundle_parse_state state;
	struct sbx_bundle_header hdr;
	char line[SBX_BUNDLE_MAX_REFNAME + 64];	/* the part of a line we keep */
	size_t line_len;			/* bytes of the current line seen */
	size_t header_len;
	size_t ncaps;
	int err;				/* sticky: once failed, always failed */
};

void sbx_bundle_parser_init(struct sbx_bundle_parser *p);
/*
 * Feed bytes.  Returns how many bytes belonged to the header (0..len);
 * once p->state is SBX_BUNDLE_PARSE_PACK the remaining bytes are pack data.
 * Negative (SBX_ECORRUPT, SBX_EUNSUPPORTED, SBX_ELIMIT) on a bad header.
 */
long sbx_bundle_parser_feed(struct sbx_bundle_parser *p, const void *data, size_t len);

/* ---- receiving: guest -> host ---- */

struct sbx_bundle_import_opts {
	const char *branch;		/* "sbx/3": the ref to move, refs/heads/<branch> */
	git_oid base;			/* the task's base: the tip must descend from it */
	const git_oid *expected_old;	/* the branch's value now (NULL: must not exist) */
	uint64_t max_size;		/* bundle bytes (header + pack) */
	size_t max_objects;		/* objects the pack may claim */
	const char *reflog_message;	/* default "sbx: import result" */
	bool verify_only;		/* check everything, change nothing (fuzzing, dry runs) */
	uint64_t max_object_size;	/* one object, inflated (sbx.maxObjectSize) */
	uint64_t max_inflated;		/* all objects, inflated (sbx.maxInflatedSize) */
	unsigned max_tree_depth;	/* directories (sbx.maxTreeDepth, at most 64) */
	bool allow_embedded_repos;	/* sbx.allowEmbeddedRepositories */
	/*
	 * Publish the objects but leave the branch (the gate, sbx/gate.h,
	 * decides whether it moves).  The branch is still checked against
	 * expected_old.
	 */
	bool objects_only;
	/*
	 * The ref checked against expected_old and moved, when not the
	 * branch: an attempt's refs/sbx/<id>/<n> (sbx/attempt.h).  The
	 * bundle's own ref is still HEAD or refs/heads/<branch>.  NULL: the
	 * branch.
	 */
	const char *ref;
};
#define SBX_BUNDLE_IMPORT_OPTS_INIT \
	{ NULL, {{0}}, NULL, SBX_BUNDLE_DEFAULT_MAX_SIZE, SBX_BUNDLE_DEFAULT_MAX_OBJECTS, NULL, false, \
	  SBX_BUNDLE_DEFAULT_MAX_OBJECT_SIZE, SBX_BUNDLE_DEFAULT_MAX_INFLATED, \
	  SBX_BUNDLE_DEFAULT_MAX_TREE_DEPTH, false, false, NULL }

struct sbx_bundle_import;

/* Start an import: makes the quarantine directory. */
int sbx_bundle_import_begin(struct sbx_bundle_import **out, git_repository *repo,
			    const struct sbx_bundle_import_opts *opts);
/* Feed the next bytes of the bundle as they arrive. */
int sbx_bundle_import_write(struct sbx_bundle_import *imp, const void *data, size_t len);
/*
 * End of the bundle: verify and, only if every check passes, move the pack
 * into objects/pack and the branch to the new tip (*tip).  Checks: a v2/v3
 * header with only object-format=sha1; exactly one ref, named HEAD or
 * refs/heads/<branch>; every prerequisite present in the repository; the
 * pack complete and its trailer checksum right (libgit2's indexer hashes
 * every object, resolving thin deltas against the repository); the tip a
 * commit in the pack or the repository, descending from (or equal to) the
 * base; every object reachable from the tip and not already in the
 * repository present in the pack; every object of the pack reachable from
 * the tip (or already in the repository).  Before any of that, while the
 * pack streams in, sbx/pack-scan.c refuses objects over max_object_size
 * and totals over max_inflated (from the headers, before anything is
 * inflated), and git's own `index-pack --strict` (sbx/index-pack.c)
 * applies git's fsck rules in the quarantine.  After it, sbx/import-check.c
 * refuses embedded repositories, symlinks leaving the worktree, trees
 * deeper than max_tree_depth and stray gitlinks.  On failure the repository
 * is unchanged and the message says why.
 */
int sbx_bundle_import_finish(struct sbx_bundle_import *imp, git_oid *tip);
/* Free (and, unless finished, throw away the quarantine).  NULL is a no-op. */
void sbx_bundle_import_free(struct sbx_bundle_import *imp);

/* The whole import from a file descriptor (read to EOF). */
int sbx_bundle_import_fd(git_oid *tip, git_repository *repo,
			 const struct sbx_bundle_import_opts *opts, int fd);

/*
 * A tree entry name no checkout may write (".", "..", ".git" in any case or
 * with trailing dots or spaces, "git~1"): such a result is refused.
 */
bool sbx_bundle_bad_entry_name(const char *name);
/* Leftover quarantine directories from crashed imports (for gc): removes those of dead processes. */
int sbx_bundle_gc(git_repository *repo, unsigned *removed);

#endif
