// SPDX-License-Identifier: MIT
/*
 * git sbx vm: the low-level machine, for people and tests.
 *
 * `git sbx vm run` exits with the guest's exit status: the value the guest
 * wrote to the exit register (docs/design.md, "Exit status") before it
 * powered off, 0 when it powered off without writing one.  A reboot ends
 * the VM too (status as written; 1 if none: a kernel panic reboots).
 * 124: --timeout passed; 128: the VM could not start or crashed (triple
 * fault, KVM error).
 */
#include "cmd/builtin.h"
#include "sbx/machine.h"
#include "util/error.h"
#include "util/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_TIMEOUT 124

static const char *const vm_run_usage[] = {
	"git sbx vm run --kernel <bzImage> [--initrd <file>] [--append <cmdline>]",
	"        [--disk <file>[,ro]]... [--console-socket <path> | --console-stdio]",
	"        [--console-port <name>]",
	"        [--cpus <n>] [--memory <size>] [--timeout <duration>] [--serial-log <file>]",
	"        [--save <dir>] [--checkpoints <dir>]",
	"",
	"With --save, SIGUSR1 to this process saves the running VM into <dir>",
	"(a memory snapshot: guest RAM, vCPUs, devices) and ends it; restore it",
	"with `git sbx vm restore <dir>` over the same disks.",
	"",
	"With --checkpoints, each SIGHUP takes checkpoint N into <dir>/N while the",
	"VM goes on: a memory snapshot (the first full, later ones diffs over the",
	"one before) and, for each writable disk (qcow2), its layer frozen as it",
	"was then and a new overlay <dir>/N/disk<SLOT>.qcow2 it goes on writing to.",
	"Restore one with `git sbx vm restore <dir>/N --overlays <new-dir>`.",
	NULL,
};

static const char *const vm_restore_usage[] = {
	"git sbx vm restore <dir> [--disk <file>[,ro]]... [--overlays <dir>]",
	"        [--console-socket <path> | --console-stdio]",
	"        [--timeout <duration>] [--serial-log <file>] [--save <dir>] [--checkpoints <dir>]",
	"",
	"Start the VM saved in <dir> (by `git sbx vm run --save`) where it stood: its",
	"memory copy-on-write from the snapshot (never written), the same vCPUs,",
	"devices and memory size.  Give it disks in the state they were saved in",
	"(e.g. a new qcow2 overlay over each) and a new console end.",
	"",
	"SIGUSR2 resets it in place to the snapshot (no new process or VM): its",
	"memory as saved again, each writable disk (a fresh qcow2 overlay) emptied.",
	"With --save, SIGUSR1 saves a diff snapshot: only the memory pages changed",
	"since <dir>, which restoring it needs too (its `machine` names <dir>).",
	"",
	"A checkpoint (`vm run --checkpoints`) names the disk layers it froze:",
	"--overlays makes a new overlay over each in <dir> (disk<SLOT>.qcow2) and",
	"gives it to the VM in that slot; --disk gives the other slots in order.",
	"--checkpoints takes more on SIGHUP, as for `vm run` (diffs over <dir>);",
	"an in-place reset is refused once one has switched the disks.",
	NULL,
};

/*
 * "FILE[,ro|,rw][,format=raw|qcow2|auto]", options in any order at the end
 * (a file name may hold commas); *owned is what to free (NULL when d->path
 * is arg).
 */
static int parse_disk(struct sbx_machine_disk *d, char **owned, const char *arg)
{
	size_t len = strlen(arg);

	d->path = arg;
	d->read_only = false;
	d->format = BLOCKDEV_FORMAT_AUTO;
	*owned = NULL;
	for (;;) {
		const char *comma = memrchr(arg, ',', len);

		if (!comma)
			break;
		if (!strncmp(comma, ",ro", 3) && arg + len == comma + 3)
			d->read_only = true;
		else if (!strncmp(comma, ",rw", 3) && arg + len == comma + 3)
			d->read_only = false;
		else if (!strncmp(comma, ",format=", 8)) {
			char name[16];
			size_t n = (size_t)(arg + len - (comma + 8));

			if (n >= sizeof(name))
				return sbx_error_set(SBX_EINVAL, "unknown disk format '%.*s'", (int)n, comma + 8);
			memcpy(name, comma + 8, n);
			name[n] = 0;
			if (blockdev_parse_format(name, &d->format))
				return SBX_EINVAL;
		} else {
			break;
		}
		len = (size_t)(comma - arg);
	}
	if (len != strlen(arg)) {
		*owned = strndup(arg, len);
		if (!*owned)
			die("out of memory");
		d->path = *owned;
	}
	return *d->path ? 0 : sbx_error_set(SBX_EINVAL, "--disk needs a file name");
}

static int vm_run_or_restore(int argc, const char **argv, bool restore)
{
	struct sbx_machine m = SBX_MACHINE_INIT;
	struct sbx_machine_result res;
	struct string_list disks = { 0 };
	char *owned[SBX_MACHINE_MAX_DISKS] = { NULL };
	const char *memory = NULL, *timeout = NULL, *stats = getenv("SBX_VM_STATS");
	bool console_stdio = false, rng = true;
	int cpus = 1, ret;
	uint64_t v;
	size_t i;
	const struct option opts[] = {
		OPT_STRING(0, "kernel", &m.kernel, "bzImage", "the Linux kernel to boot"),
		OPT_STRING(0, "initrd", &m.initrd, "file", "an initramfs"),
		OPT_STRING(0, "append", &m.append, "cmdline", "the kernel command line"),
		OPT_STRING_LIST(0, "disk", &disks, "file[,ro][,format=F]", "a disk image (virtio-blk; qcow2 or raw by its magic), repeatable"),
		OPT_STRING(0, "console-socket", &m.console_socket, "path",
			   "connect the guest's hvc0 to this Unix socket"),
		OPT_BOOL(0, "console-stdio", &console_stdio, "connect the guest's hvc0 to stdin/stdout"),
		OPT_STRING(0, "console-port", &m.console_port, "name",
			   "carry the console stream on a named virtio port (/dev/vport*p0), not hvc0"),
		OPT_INT(0, "cpus", &cpus, "n", "number of vCPUs (default 1)"),
		OPT_STRING(0, "memory", &memory, "size", "guest memory (default 512M; bare number: MiB)"),
		OPT_STRING(0, "timeout", &timeout, "duration", "stop the guest after this long (e.g. 30s)"),
		OPT_STRING(0, "serial-log", &m.serial_log, "file", "write the serial console here, not to stderr"),
		OPT_BOOL(0, "rng", &rng, "offer a virtio-rng (default on)"),
		OPT_STRING(0, "save", &m.save_dir, "dir",
			   "on SIGUSR1, save the VM into this directory and end it"),
		OPT_STRING(0, "checkpoints", &m.checkpoint_dir, "dir",
			   "on each SIGHUP, take a checkpoint into <dir>/<n> and go on"),
		OPT_END(),
	};
	const struct option restore_opts[] = {
		OPT_STRING_LIST(0, "disk", &disks, "file[,ro][,format=F]", "a disk image, as when it was saved (repeatable)"),
		OPT_STRING(0, "console-socket", &m.console_socket, "path",
			   "connect the guest's console to this Unix socket"),
		OPT_BOOL(0, "console-stdio", &console_stdio, "connect the guest's console to stdin/stdout"),
		OPT_STRING(0, "timeout", &timeout, "duration", "stop the guest after this long (e.g. 30s)"),
		OPT_STRING(0, "serial-log", &m.serial_log, "file", "write the serial console here, not to stderr"),
		OPT_STRING(0, "save", &m.save_dir, "dir",
			   "on SIGUSR1, save a diff snapshot over <dir> here and end the VM"),
		OPT_STRING(0, "overlays", &m.overlay_dir, "dir",
			   "a new overlay here over each disk layer the checkpoint names"),
		OPT_STRING(0, "checkpoints", &m.checkpoint_dir, "dir",
			   "on each SIGHUP, take a checkpoint into <dir>/<n> and go on"),
		OPT_END(),
	};
	const char *const *usage = restore ? vm_restore_usage : vm_run_usage;
	char *machine_owned = NULL;
	int nargs;

	if (restore) {
		nargs = parse_options(argc, argv, restore_opts, usage, 0);
		if (nargs != 1)
			usage_msg_opt(nargs ? "too many arguments" : "which snapshot directory?", usage,
				      restore_opts);
		m.restore_dir = argv[0];
		if (sbx_snapdir_read_machine(m.restore_dir, &m, &machine_owned))
			return error_sbx("cannot restore");
		cpus = (int)m.cpus;
		rng = m.rng;
		if (!m.console_socket && !console_stdio && m.console_port)
			usage_msg_opt("the saved VM has a console port: give --console-socket or "
				      "--console-stdio", usage, restore_opts);
	} else {
		if (parse_options(argc, argv, opts, usage, 0) > 0)
			usage_msg_opt("too many arguments", usage, opts);
		if (!m.kernel)
			usage_msg_opt("--kernel is required", usage, opts);
	}
	if (console_stdio && m.console_socket)
		usage_msg_opt("--console-socket and --console-stdio are exclusive", usage, restore ? restore_opts : opts);
	m.console = console_stdio ? SBX_CONSOLE_STDIO :
		    m.console_socket ? SBX_CONSOLE_SOCKET : SBX_CONSOLE_NONE;
	if (cpus < 1 || cpus > 64)
		usage_msg_opt("--cpus must be between 1 and 64", usage, restore ? restore_opts : opts);
	m.cpus = (unsigned)cpus;
	if (memory) {
		if (parse_size(memory, 1ULL << 20, &v))
			usage_msg_opt(sbx_error(), usage, restore ? restore_opts : opts);
		m.memory = v;
	}
	if (timeout) {
		if (parse_duration_ms(timeout, &v))
			usage_msg_opt(sbx_error(), usage, restore ? restore_opts : opts);
		m.timeout_ms = v;
	}
	/* A diff save of a restored VM goes over its snapshot, not over a checkpoint since. */
	if (restore && m.save_dir && m.checkpoint_dir)
		usage_msg_opt("--save and --checkpoints are exclusive for a restore", usage,
			      restore_opts);
	if (disks.nr > SBX_MACHINE_MAX_DISKS)
		usage_msg_opt("too many --disk options", usage, restore ? restore_opts : opts);
	for (i = 0; i < disks.nr; i++) {
		if (parse_disk(&m.disks[i], &owned[i], disks.items[i]))
			usage_msg_opt(sbx_error(), usage, restore ? restore_opts : opts);
		m.ndisks++;
	}
	m.rng = rng;

	ret = sbx_machine_run(&res, &m);
	free(machine_owned);
	string_list_clear(&disks);
	for (i = 0; i < m.ndisks; i++)
		free(owned[i]);
	if (ret)
		return error_sbx("cannot run the VM");
	if (stats && !strcmp(stats, "1"))
		fprintf(stderr, "vm-stats: rss-kib=%llu guest-resident-kib=%llu overhead-kib=%llu\n",
			(unsigned long long)(res.rss >> 10),
			(unsigned long long)(res.guest_resident >> 10),
			(unsigned long long)((res.rss > res.guest_resident ?
					      res.rss - res.guest_resident : 0) >> 10));
	switch (res.end) {
	case SBX_MACHINE_POWEROFF:
	case SBX_MACHINE_EXITED:
		return res.status_set ? res.status : 0;
	case SBX_MACHINE_REBOOT:
		if (res.status_set)
			return res.status;
		fprintf(stderr, "error: the guest rebooted without reporting an exit status\n");
		return 1;
	case SBX_MACHINE_TIMEOUT:
		error_msg("timed out: %s; stopped it (--timeout %s)", res.message, timeout);
		return EXIT_TIMEOUT;
	case SBX_MACHINE_SAVED:
		fprintf(stderr, "saved the VM into '%s' (the guest paused %.1f ms; %.1f MiB of RAM data)\n",
			m.save_dir, (double)res.save_pause_ns / 1e6, (double)res.save_mem_bytes / 1048576.0);
		return 0;
	case SBX_MACHINE_CRASH:
		break;
	}
	error_msg("the VM crashed: %s", res.message);
	return 128;
}

static int cmd_vm_run(int argc, const char **argv, struct cmd_ctx *ctx)
{
	(void)ctx;
	return vm_run_or_restore(argc, argv, false);
}

static int cmd_vm_restore(int argc, const char **argv, struct cmd_ctx *ctx)
{
	(void)ctx;
	return vm_run_or_restore(argc, argv, true);
}

static const struct cmd_struct vm_commands[] = {
	/* No NEED_KVM: vm_create checks KVM itself (one VM, not two) and says what is missing. */
	{ "run", cmd_vm_run, 0, "boot a kernel in a microVM and wait for it to end" },
	{ "restore", cmd_vm_restore, 0, "start a VM saved with `vm run --save` where it stood" },
	{ NULL, NULL, 0, NULL },
};

int cmd_vm(int argc, const char **argv, struct cmd_ctx *ctx)
{
	return run_subcommand("vm", vm_commands, argc, argv, ctx);
}
