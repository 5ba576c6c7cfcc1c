/* SPDX-License-Identifier: MIT */
/*
 * git's own indexer for the guest's pack: `git index-pack --stdin --fix-thin
 * --strict` writing into a quarantine, so git's fsck rules (the ones GitHub
 * applies on push) are applied to every object before anything is published,
 * and the pack is written with write(2), not a shared mmap (9p cache=none).
 *
 * The child runs with an environment we build: no system or global config,
 * HOME and XDG_CONFIG_HOME in the quarantine, GIT_DIR a minimal repository we
 * make there (no config, no hooks), objects written to <quarantine>/objects
 * and the repository's objects readable as an alternate (thin-pack bases,
 * .gitmodules lookups).  Reasoning in docs/design.md "What crosses the boundary".
 */
#ifndef SBX_SBX_INDEX_PACK_H
#define SBX_SBX_INDEX_PACK_H

#include <stddef.h>

struct sbx_index_pack;

/*
 * Start `git index-pack` writing into `qdir`/objects/pack, with the
 * repository's objects `objdir` as an alternate.
 */
int sbx_index_pack_start(struct sbx_index_pack **out, const char *qdir, const char *objdir);
/* Pass on pack bytes (already checked by sbx/pack-scan). */
int sbx_index_pack_write(struct sbx_index_pack *ip, const void *data, size_t len);
/*
 * End of the pack: wait for git.  0 and the pack's name (40 hex, for
 * <qdir>/objects/pack/pack-<name>.{pack,idx}) when git accepted it;
 * SBX_ECORRUPT with git's own complaint otherwise.
 */
int sbx_index_pack_finish(struct sbx_index_pack *ip, char name[41]);
/* Kill (if still running) and reap the child.  NULL is a no-op. */
void sbx_index_pack_free(struct sbx_index_pack *ip);

#endif
