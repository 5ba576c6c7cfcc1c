// SPDX-License-Identifier: MIT
/*
 * Fuzz the import of a result bundle from the guest: the header parser fed
 * in pieces of varying size, then (when the header parses) the whole import
 * -- pack header checks, libgit2's indexer in the quarantine, tip, ancestry
 * and reachability checks -- in verify-only mode against a small repository
 * made once per process with the git CLI.  The seed corpus
 * (tests/fuzz/corpus/bundle/) was made by tests/fuzz/bundle-corpus.sh with
 * the same repository recipe, so its bundles' prerequisites exist.
 */
#include "sbx/bundle.h"
#include "sbx/fsutil.h"
#include "util/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Must match tests/fuzz/bundle-corpus.sh. */
#define FUZZ_REPO_RECIPE \
	"git init -q -b main repo && cd repo && git config user.name F && " \
	"git config user.email f@example.com && echo base >f.txt && mkdir d && echo x >d/x && " \
	"git add -A && GIT_AUTHOR_DATE='1700000000 +0000' GIT_COMMITTER_DATE='1700000000 +0000' " \
	"git commit -qm base && git branch sbx/1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static git_repository *repo;
static git_oid base;
static char dir[256];

static void cleanup(void)
{
	git_repository_free(repo);
	sbx_rmtree(dir);
}

static void init_once(void)
{
	char cmd[1024];

	if (repo)
		return;
	snprintf(dir, sizeof(dir), "%s/sbx-fuzz-bundle.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && HOME='%s' GIT_CONFIG_NOSYSTEM=1 sh -c \"%s\" >/dev/null 2>&1",
		 dir, dir, FUZZ_REPO_RECIPE);
	if (system(cmd))
		abort();
	snprintf(cmd, sizeof(cmd), "%s/repo", dir);
	git_libgit2_init();
	if (git_repository_open(&repo, cmd) < 0 ||
	    git_reference_name_to_id(&base, repo, "refs/heads/main") < 0)
		abort();
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbx_bundle_import_opts opts = SBX_BUNDLE_IMPORT_OPTS_INIT;
	struct sbx_bundle_import *imp = NULL;
	struct sbx_bundle_parser p;
	size_t off = 0, chunk;
	git_oid tip;
	uint8_t step;

	if (!size)
		return 0;
	/* The first byte picks how the stream is cut into writes. */
	step = data[0];
	data++;
	size--;

	sbx_bundle_parser_init(&p);
	while (off < size && p.state != SBX_BUNDLE_PARSE_PACK) {
		long n;

		chunk = step ? (size_t)(step % 61) + 1 : size;
		if (chunk > size - off)
			chunk = size - off;
		n = sbx_bundle_parser_feed(&p, data + off, chunk);
		if (n < 0)
			return 0;
		if ((size_t)n > chunk)
			abort();	/* consumed more than it was given */
		off += (size_t)n;
		if (p.state != SBX_BUNDLE_PARSE_PACK && (size_t)n != chunk)
			abort();	/* stopped early without reaching the pack */
	}
	if (p.state != SBX_BUNDLE_PARSE_PACK)
		return 0;
	if (p.hdr.nrefs > SBX_BUNDLE_MAX_REFS || p.hdr.nprereqs > SBX_BUNDLE_MAX_PREREQS)
		abort();

	/* The header parses: run the whole import, changing nothing. */
	init_once();
	opts.branch = "sbx/1";
	opts.base = base;
	opts.expected_old = &base;
	opts.max_size = 1 << 20;
	opts.max_objects = 4096;
	opts.verify_only = true;
	if (sbx_bundle_import_begin(&imp, repo, &opts))
		abort();	/* our own set-up failed: not the input's fault */
	for (off = 0; off < size; off += chunk) {
		chunk = step ? (size_t)(step % 61) + 1 : size;
		if (chunk > size - off)
			chunk = size - off;
		if (sbx_bundle_import_write(imp, data + off, chunk))
			break;
	}
	if (off >= size)
		sbx_bundle_import_finish(imp, &tip);
	sbx_bundle_import_free(imp);
	return 0;
}
