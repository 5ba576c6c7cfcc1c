/* SPDX-License-Identifier: MIT */
/*
 * The checkpoint store of a task (issue 10; docs/formats.md, "Checkpoints"):
 *
 *   <task dir>/checkpoints/
 *     <n>/record        one checkpoint: the text record below
 *     <n>/<memory>/     its memory snapshot, when moved in by sbx_ckpt_create
 *     memory/<n>/       or there (what the session does: later snapshots' chains
 *                       name it, so it outlives its record while they need it)
 *     current           "<n>\n": the checkpoint the task's state is (rewind moves it)
 *     layers/<k>.qcow2  disk layers: frozen ones named by records, and the
 *                       running disk's writable top
 *     .tmp-*, .del-*    a create or delete under way (or cut off by a crash)
 *
 * Every change is a rename of a complete, synced thing, so a crash leaves at
 * worst an orphan that sbx_ckpt_gc() removes.  The caller holds the task's
 * lock: nothing here locks.
 */
#ifndef SBX_SBX_CHECKPOINT_H
#define SBX_SBX_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define SBX_CKPT_RECORD_VERSION	1
#define SBX_CKPT_RECORD_MAX	4096
#define SBX_CKPT_MAX_ID		999999999u
#define SBX_CKPT_LAYER_MAX	255	/* bytes of a layer's name */
#define SBX_CKPT_MEMORY_MAX	63

enum sbx_ckpt_reason {
	SBX_CKPT_START,		/* after the transfer in */
	SBX_CKPT_COMMIT,	/* the agent committed */
	SBX_CKPT_EXIT,		/* the agent exited */
	SBX_CKPT_MANUAL,	/* git sbx checkpoint */
};

struct sbx_ckpt {
	unsigned id;				/* 1..SBX_CKPT_MAX_ID, the directory's name */
	int64_t time_ms;			/* Unix time */
	enum sbx_ckpt_reason reason;
	char head[41];				/* the guest's HEAD, 40 lowercase hex */
	char layer[SBX_CKPT_LAYER_MAX + 1];	/* its frozen disk layer, relative to the task dir */
	char memory[SBX_CKPT_MEMORY_MAX + 1];	/* its memory snapshot directory, in <n>/ (one
						   component) or relative to the task dir; "" none */
	uint64_t disk_bytes;			/* the layer's allocated bytes */
	uint64_t memory_bytes;			/* the memory snapshot's, 0 without one */
	/*
	 * The checkpoint whose state this one's VM had restored or last
	 * taken (its memory is a diff over that one's); 0: the VM started
	 * from a boot or a warm base.  Rewinds make the checkpoints a tree.
	 */
	unsigned parent;
	uint64_t pause_us;			/* how long the guest was paused for it */
};

const char *sbx_ckpt_reason_name(enum sbx_ckpt_reason r);
/* "start", "commit", "exit", "manual"; SBX_EINVAL otherwise. */
int sbx_ckpt_reason_parse(enum sbx_ckpt_reason *out, const char *s);

/* The record's text, malloc'd (*len bytes), and back; parse refuses a damaged one (SBX_ECORRUPT). */
int sbx_ckpt_record_format(char **out, size_t *len, const struct sbx_ckpt *c);
int sbx_ckpt_record_parse(struct sbx_ckpt *out, const char *buf, size_t len);

/*
 * Add checkpoint c->id: write <n>/record in "checkpoints/.tmp-<n>-<pid>",
 * move `memory_src` (a directory on the same file system, or NULL) into it
 * as c->memory, sync, rename to <n>, sync.  SBX_EEXISTS if <n> exists (the
 * memory directory is then left where it was).
 */
int sbx_ckpt_create(const char *task_dir, const struct sbx_ckpt *c, const char *memory_src);
/* One checkpoint; SBX_ENOTFOUND if there is none, SBX_ECORRUPT naming it if damaged. */
int sbx_ckpt_read(struct sbx_ckpt *out, const char *task_dir, unsigned id);
/* All of them by id, ascending (*out malloc'd, NULL when none); a damaged record fails the list. */
int sbx_ckpt_list(struct sbx_ckpt **out, size_t *n, const char *task_dir);
/* 1 + the highest id there is, or was (temp and deleting directories count). */
int sbx_ckpt_next_id(unsigned *out, const char *task_dir);
/* Remove a checkpoint's directory (not its layer: sbx_ckpt_gc does); never the current one. */
int sbx_ckpt_delete(const char *task_dir, unsigned id);

/* The `current` pointer: replaced atomically; SBX_ENOTFOUND when none was set. */
int sbx_ckpt_set_current(const char *task_dir, unsigned id);
int sbx_ckpt_current(unsigned *out, const char *task_dir);

/*
 * A name for a new layer file, "checkpoints/layers/<k>.qcow2" (relative to
 * the task dir) with k above every layer there; creates the directory.
 */
int sbx_ckpt_new_layer(char **out, const char *task_dir);

/*
 * sbx.maxCheckpoints: drop checkpoint `id` (never the current one) without
 * losing what any other layer reads.  When exactly one file in layers/
 * names its layer as backing and that file is not open for writing, the
 * layer is squashed into it (qcow2_squash_into) first; otherwise the layer
 * stays as the others' backing.  Then the record goes; gc frees the layer.
 * An orphan in layers/ over it counts as an upper too: gc first.
 */
int sbx_ckpt_drop(const char *task_dir, unsigned id);

/*
 * `git sbx checkpoint ID`: ask the session running the task for one now
 * (a request file in the task dir that the session polls and removes).
 * take_request: 1 when there was one (now gone), 0 when none.
 */
int sbx_ckpt_request(const char *task_dir);
int sbx_ckpt_take_request(const char *task_dir);

struct sbx_ckpt_gc_result {
	unsigned temp_removed;		/* .tmp-*, .del-*, current.tmp.* */
	unsigned layers_removed;	/* files in layers/ nothing needs */
	unsigned memory_removed;	/* directories in memory/ no record's chain reaches */
	uint64_t bytes_freed;
};

/*
 * Remove what crashes and deletes left: temp directories and files, and
 * every file in layers/ that no record names, that is not in `keep` (names
 * relative to the task dir, NULL-terminated; the running disk's top), that
 * no kept layer has in its backing chain, and that nobody holds open for
 * writing.  A damaged record stops it before any layer is removed
 * (SBX_ECORRUPT naming it): its layer cannot be known.
 */
int sbx_ckpt_gc(struct sbx_ckpt_gc_result *res, const char *task_dir, const char *const *keep);

#endif
