/* SPDX-License-Identifier: MIT */
/*
 * A machine description and a way to run it: what `git sbx vm run` and the
 * core layer hand to the VMM (vmm/vm.h) without knowing it.  It runs in
 * the confined VMM process (sbx/vmm-proc.h), which opens the disks.
 */
#ifndef SBX_SBX_MACHINE_H
#define SBX_SBX_MACHINE_H

#include "util/blockdev.h"

#include <stdbool.h>
#include <stdint.h>

#define SBX_MACHINE_MAX_DISKS 8

enum sbx_console {
	SBX_CONSOLE_NONE,
	SBX_CONSOLE_STDIO,	/* the guest's hvc0 <-> our stdin/stdout */
	SBX_CONSOLE_SOCKET,	/* the guest's hvc0 <-> a Unix stream socket we connect to */
};

struct sbx_machine_disk {
	const char *path;
	bool read_only;
	enum blockdev_format format;	/* AUTO (0): by the file's magic */
};

struct sbx_machine {
	const char *kernel;		/* bzImage */
	const char *initrd;		/* NULL: none */
	const char *append;		/* kernel command line; NULL: empty */
	struct sbx_machine_disk disks[SBX_MACHINE_MAX_DISKS];
	unsigned ndisks;
	enum sbx_console console;
	const char *console_socket;	/* with SBX_CONSOLE_SOCKET */
	const char *console_port;	/* NULL: the stream is hvc0; else a named virtio port */
	unsigned cpus;
	uint64_t memory;		/* bytes; rounded up to 2 MiB */
	uint64_t timeout_ms;		/* 0: none */
	const char *serial_log;		/* NULL: the serial port goes to stderr */
	bool rng;			/* a virtio-rng (default on) */
	/*
	 * Snapshots (sbx/machine-snap.c): with save_dir, SIGUSR1 to this
	 * process saves the VM into that directory and ends it; with
	 * restore_dir the machine starts from the snapshot there instead of
	 * booting (kernel, initrd and append are then unused), and SIGUSR2 resets
 * it in place to that snapshot (each reset is reported on stderr).
	 */
	const char *save_dir;
	const char *restore_dir;
	/*
	 * Checkpoints (sbx/machine-ckpt.c): with checkpoint_dir, each SIGHUP
	 * to this process takes checkpoint n (1, 2, ...) into
	 * <checkpoint_dir>/<n>/ while the VM goes on: a snapshot directory
	 * (`memory`, `state`, `machine`; a diff names the snapshot under it,
	 * `parent DIR`) whose `machine` also names each writable disk's frozen
	 * layer (`layer SLOT PATH`), and `disk<SLOT>.qcow2`, the new overlay
	 * that disk goes on writing to.  Each checkpoint is reported on
	 * stderr ("checkpoint N: ..." or "checkpoint N failed: ...").  Every
	 * writable disk must be qcow2.
	 *
	 * With restore_dir and overlay_dir, each slot the snapshot names a
	 * layer for gets a new overlay <overlay_dir>/disk<SLOT>.qcow2 over it
	 * (the disk as it was at the checkpoint); `disks` fill the other
	 * slots in order.
	 */
	const char *checkpoint_dir;
	const char *overlay_dir;
};
#define SBX_MACHINE_INIT { .cpus = 1, .memory = 512ULL << 20, .rng = true }

enum sbx_machine_end {
	SBX_MACHINE_POWEROFF,	/* the guest powered off */
	SBX_MACHINE_EXITED,	/* the guest wrote the exit register's EXIT */
	SBX_MACHINE_REBOOT,	/* the guest rebooted (reset); the VM ends */
	SBX_MACHINE_TIMEOUT,	/* stopped after timeout_ms */
	SBX_MACHINE_CRASH,	/* triple fault, or KVM failed */
	SBX_MACHINE_SAVED,	/* saved into save_dir, then stopped */
};

struct sbx_machine_result {
	enum sbx_machine_end end;
	bool status_set;	/* the guest reported an exit status */
	int status;		/* 0..255 */
	char message[256];	/* how it ended, for people */
	uint64_t rss;		/* our resident set size at the end */
	uint64_t guest_resident;/* resident guest RAM at the end */
	uint64_t save_pause_ns;	/* with SBX_MACHINE_SAVED: how long the save paused the guest */
	uint64_t save_mem_bytes;/* RAM data in the memory file (zero pages are holes) */
};

/*
 * A snapshot directory: `memory` and `state` (docs/formats.md) and
 * `machine` (the vCPUs, memory, rng and console port to restore with; for a
 * diff, the absolute path of the snapshot it sits on).
 * The two files are written under temporary names and renamed once the
 * save succeeded, so a directory holds a whole snapshot or none.
 */
/* Open the temporary files a save writes into (creating `dir`). */
int sbx_snapdir_prepare(const char *dir, int *mem_fd, int *state_fd);
/* The save succeeded: sync, rename into place, write `machine`. */
int sbx_snapdir_commit(const char *dir, const struct sbx_machine *m);
/*
 * Only the `machine` file (atomically; the memory and state files are
 * already in `dir`, as a checkpoint's are: sbx/task-ckpt.c).
 */
int sbx_snapdir_write_machine(const char *dir, const struct sbx_machine *m);
/*
 * A checkpoint's save succeeded: as sbx_snapdir_commit, with `parent` (the
 * snapshot directory under a diff; NULL for a full one) and a `layer SLOT
 * PATH` line for each non-NULL layers[SLOT].
 */
int sbx_snapdir_commit_checkpoint(const char *dir, const struct sbx_machine *m,
				  const char *parent, char *const *layers, unsigned nlayers);
/* The `layer` lines of dir's `machine`: layers[SLOT] malloc'd, NULL where none (max slots). */
int sbx_snapdir_layers(const char *dir, char **layers, unsigned max);
/* The save did not happen or failed: remove the temporary files. */
void sbx_snapdir_abort(const char *dir);
/* Fill m's cpus, memory, rng and console_port from dir's `machine` (strings kept in *owned). */
int sbx_snapdir_read_machine(const char *dir, struct sbx_machine *m, char **owned);
/*
 * dir's `state` path and its memory files, the full one first, then each
 * diff on top (a snapshot saved from a restored VM is a diff: its
 * `machine` names the snapshot under it, `parent DIR`); malloc'd.
 */
int sbx_snapdir_paths(const char *dir, char **state, char **memory, unsigned *nmemory);

/*
 * Boot the machine and run it to its end.  Returns 0 when the VM ran (how
 * it ended is in *res), or a negative SBX_ code when it could not start.
 * With SBX_CHECK_LEAKS=1 in the environment, also fails (SBX_ERROR) when a
 * file descriptor or thread opened while running is still there after it.
 */
int sbx_machine_run(struct sbx_machine_result *res, const struct sbx_machine *m);

#endif
