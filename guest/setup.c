// SPDX-License-Identifier: MIT
/*
 * sbx-init as PID 1: mount the pseudo filesystems, load the modules the
 * initramfs lists, assemble the root and serve the channel.
 *
 * Kernel command line (all optional):
 *   sbx.root=/dev/vda      the read-only root image (squashfs or ext4); without
 *                          it the initramfs itself is the root (VMM tests)
 *   sbx.task=/dev/vdb      the task disk (ext4): the root's overlay upper layer
 *                          in /root/{upper,work}, and /workspace
 *   sbx.uid=1000           the agent user (created as "sbx" if missing)
 *
 * Layout after set-up:  /  = overlay(lower = root image, upper = task disk)
 *                       /workspace = the task disk's /workspace, owned by the agent
 * The host talks to us only through /dev/hvc0; when the session ends we sync,
 * report the status through the VMM's exit register when there is one, and
 * power off.
 */
#include "guest/sbx-init.h"
#include "sbx/proto.h"

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#define EXIT_REG_BASE	0xd0000000UL	/* vmm/vm.h VM_EXIT_REG_* */
#define EXIT_REG_STATUS	0x0
#define EXIT_REG_MAGIC	0x8
#define EXIT_MAGIC	0x58584253u

static char arg_root[64], arg_task[64];
static unsigned arg_uid = 1000;

static void cmdline(void)
{
	char buf[4096], *tok, *save;
	ssize_t n;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (!strncmp(tok, "sbx.root=", 9))
			snprintf(arg_root, sizeof(arg_root), "%s", tok + 9);
		else if (!strncmp(tok, "sbx.task=", 9))
			snprintf(arg_task, sizeof(arg_task), "%s", tok + 9);
		else if (!strncmp(tok, "sbx.uid=", 8))
			arg_uid = (unsigned)strtoul(tok + 8, NULL, 10);
	}
}

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		       const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data))
		sbx_log("mount %s on %s (%s): %s", src, dst, type, strerror(errno));
}

static void load_modules(void)
{
	char line[256];
	FILE *f = fopen("/etc/sbx/modules", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		int fd;

		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			sbx_log("module %s: %s", line, strerror(errno));
			continue;
		}
		if (syscall(SYS_finit_module, fd, "", 0) && errno != EEXIST)
			sbx_log("loading %s: %s", line, strerror(errno));
		close(fd);
	}
	fclose(f);
}

/* Block devices appear once their drivers probe: wait a little for them. */
static int wait_for(const char *path)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (!access(path, F_OK))
			return 0;
		usleep(10000);
	}
	sbx_log("%s did not appear", path);
	return -1;
}

static void add_user(const char *root)
{
	char path[256], line[512];
	FILE *f;
	bool found = false;

	snprintf(path, sizeof(path), "%s/etc/passwd", root);
	f = fopen(path, "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

			if (c2 && (unsigned)strtoul(c2 + 1, NULL, 10) == arg_uid)
				found = true;
		}
		fclose(f);
	}
	if (found)
		return;
	f = fopen(path, "ae");
	if (f) {
		fprintf(f, "sbx:x:%u:%u:sbx agent:/home/sbx:/bin/bash\n", arg_uid, arg_uid);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/etc/group", root);
	f = fopen(path, "ae");
	if (f) {
		fprintf(f, "sbx:x:%u:\n", arg_uid);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/home", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/home/sbx", root);
	mkdir(path, 0755);
	if (chown(path, arg_uid, arg_uid))
		sbx_log("chown %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/etc/sudoers.d", root);
	if (!access(path, F_OK)) {
		snprintf(path, sizeof(path), "%s/etc/sudoers.d/sbx", root);
		f = fopen(path, "we");
		if (f) {
			/* The VM is the boundary: the agent may be root inside it. */
			fprintf(f, "sbx ALL=(ALL) NOPASSWD: ALL\n");
			fclose(f);
			chmod(path, 0440);
		}
	}
}

/* Assemble / from the root image and the task disk; returns the new root or "/". */
static const char *assemble_root(void)
{
	char opts[512];

	if (!arg_root[0])
		return "/";
	if (wait_for(arg_root))
		return "/";
	must_mount(arg_root, "/mnt/lower", "squashfs", MS_RDONLY, NULL);
	if (access("/mnt/lower/bin", F_OK) && access("/mnt/lower/usr", F_OK)) {
		umount("/mnt/lower");
		must_mount(arg_root, "/mnt/lower", "ext4", MS_RDONLY, NULL);
	}
	if (arg_task[0] && !wait_for(arg_task)) {
		must_mount(arg_task, "/mnt/task", "ext4", MS_NOATIME, NULL);
		mkdir("/mnt/task/root", 0755);
		mkdir("/mnt/task/root/upper", 0755);
		mkdir("/mnt/task/root/work", 0755);
		mkdir("/mnt/task/workspace", 0755);
		snprintf(opts, sizeof(opts),
			 "lowerdir=/mnt/lower,upperdir=/mnt/task/root/upper,workdir=/mnt/task/root/work");
		must_mount("overlay", "/mnt/root", "overlay", 0, opts);
	} else {
		/* No task disk: a throwaway upper layer in memory. */
		must_mount("tmpfs", "/mnt/rw", "tmpfs", 0, "mode=0755");
		mkdir("/mnt/rw/upper", 0755);
		mkdir("/mnt/rw/work", 0755);
		mkdir("/mnt/rw/workspace", 0755);
		must_mount("overlay", "/mnt/root", "overlay", 0,
			   "lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work");
	}
	mkdir("/mnt/root/workspace", 0755);
	must_mount(arg_task[0] ? "/mnt/task/workspace" : "/mnt/rw/workspace", "/mnt/root/workspace",
		   NULL, MS_BIND, NULL);
	return "/mnt/root";
}

static void enter_root(const char *root)
{
	char p[256];

	if (strcmp(root, "/")) {
		static const char *const moves[] = { "/dev", "/proc", "/sys" };
		size_t i;

		for (i = 0; i < 3; i++) {
			snprintf(p, sizeof(p), "%s%s", root, moves[i]);
			mkdir(p, 0755);
			if (mount(moves[i], p, NULL, MS_MOVE, NULL))
				sbx_log("moving %s: %s", moves[i], strerror(errno));
		}
		if (chdir(root) || mount(".", "/", NULL, MS_MOVE, NULL) || chroot(".") || chdir("/"))
			sbx_log("switching root: %s", strerror(errno));
	}
	must_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	must_mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	must_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666");
	must_mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	add_user("");
	if (chown("/workspace", arg_uid, arg_uid))
		sbx_log("chown /workspace: %s", strerror(errno));
}

/*
 * The kernel makes its boot id on the first read of it.  Read it now, so
 * that it is part of this boot's state: a guest restored from a snapshot
 * of this boot (a warm base, a checkpoint) is the same boot, with the
 * same id, as its uptime and processes are.
 */
static void fix_boot_id(void)
{
	char id[64];
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (read(fd, id, sizeof(id)) < 0)
		sbx_log("boot_id: %s", strerror(errno));
	close(fd);
}

static void loopback_up(void)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (!ioctl(s, SIOCGIFFLAGS, &ifr)) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
}

void sbx_add_entropy(const uint8_t *p, size_t n)
{
	struct {
		struct rand_pool_info info;
		uint8_t buf[256];
	} e;
	int fd;

	if (n > sizeof(e.buf))
		n = sizeof(e.buf);
	e.info.entropy_count = (int)(n * 8);
	e.info.buf_size = (int)n;
	memcpy(e.buf, p, n);
	fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (ioctl(fd, RNDADDENTROPY, &e))
		sbx_log("RNDADDENTROPY: %s", strerror(errno));
	close(fd);
}

/* Tell the VMM our status through its exit register, when it has one. */
static void report_status(int status)
{
	volatile uint32_t *reg;
	int fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);

	if (fd < 0)
		return;
	reg = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, EXIT_REG_BASE);
	close(fd);
	if (reg == MAP_FAILED)
		return;
	if (reg[EXIT_REG_MAGIC / 4] == EXIT_MAGIC)
		reg[EXIT_REG_STATUS / 4] = (uint32_t)status & 0xff;
	munmap((void *)reg, 4096);
}

/* The channel: the virtio port named SBX_CHANNEL_PORT, waited for a little. */
static int find_channel(char *out, size_t outlen)
{
	int i;

	for (i = 0; i < 500; i++) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char path[300], name[64] = "";
			ssize_t n;
			int fd;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, name, sizeof(name) - 1);
			close(fd);
			if (n <= 0)
				continue;
			name[n] = '\0';
			name[strcspn(name, "\n")] = '\0';
			if (!strcmp(name, SBX_CHANNEL_PORT)) {
				snprintf(out, outlen, "/dev/%s", e->d_name);
				closedir(d);
				return access(out, F_OK) ? -1 : 0;
			}
		}
		if (d)
			closedir(d);
		usleep(10000);
	}
	return -1;
}

int sbx_init_main(void)
{
	char chan[300];
	struct termios t;
	const char *root;
	int fd, status;

	must_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	must_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	must_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	fd = open("/dev/console", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	cmdline();
	load_modules();
	root = assemble_root();
	enter_root(root);
	loopback_up();
	sethostname("sbx", 3);
	fix_boot_id();

	if (find_channel(chan, sizeof(chan))) {
		sbx_log("no virtio port named %s", SBX_CHANNEL_PORT);
		goto off;
	}
	fd = open(chan, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		sbx_log("%s: %s", chan, strerror(errno));
		goto off;
	}
	/* hvc0 (a fallback) is a terminal: make it a plain byte stream. */
	if (!tcgetattr(fd, &t)) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	status = sbx_serve(fd, fd);
	close(fd);
	report_status(status < 0 ? 0 : status);
off:
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}
