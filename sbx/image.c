// SPDX-License-Identifier: MIT
/* Guest images: see sbx/image.h. */
#include "sbx/image.h"
#include "sbx/initramfs.h"
#include "util/error.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/spawn.h"

#include <blkid/blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Modules sbx-init loads: the virtio-mmio devices, the root image, the overlay. */
static const char *const required_modules[] = {
	"virtio_mmio", "virtio_blk", "virtio_console", "squashfs", "overlay", NULL,
};
/* Built into some flavours; loaded when they are modules. */
static const char *const optional_modules[] = { "virtio_rng", "ext4", NULL };

#define TASK_DISK_SIZE "16G"

static const char *const preset_minimal =
	"git,bash,coreutils,ca-certificates,sudo,procps,less,findutils,grep,sed";
static const char *const preset_default =
	"git,bash,coreutils,ca-certificates,sudo,procps,less,findutils,grep,sed,"
	"build-essential,python3,nodejs,npm,curl";

/* An agent's CLI: the Debian packages it needs and how it is installed in the rootfs. */
static const struct {
	const char *name;
	const char *packages;
	const char *install;
} agents[] = {
	/* node ignores the system's CA store unless told: local CAs (below) must count. */
	/*
	 * Claude Code's package is a native (Bun) binary that npm unpacks;
	 * 2.1.197 is the newest whose install script accepts Debian 12's node
	 * 18 (later ones ask for node 22), and npm 9 also unpacks the musl
	 * build, 370 MB the image does not need (tests/net/README.md).
	 */
	{ "claude", "nodejs,npm", "sh -c 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "
				  "npm install -g --no-fund --no-audit @anthropic-ai/claude-code@2.1.197 && "
				  "rm -rf \"$(npm root -g)\"/@anthropic-ai/claude-code-linux-*-musl'" },
	{ "codex", "nodejs,npm", "env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "
				 "npm install -g --no-fund --no-audit @openai/codex" },
	{ "gemini", "nodejs,npm", "env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "
				  "npm install -g --no-fund --no-audit @google/gemini-cli" },
	/* From PyPI, into its own venv, on every user's PATH. */
	{ "aider", "python3,pipx",
	  "env PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin pipx install aider-chat" },
};

int sbx_cache_dir(char *out, size_t outlen)
{
	const char *env = getenv("SBX_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
		   *home = getenv("HOME");
	char path[PATH_MAX];

	if (env && *env)
		snprintf(path, sizeof(path), "%s", env);
	else if (xdg && *xdg)
		snprintf(path, sizeof(path), "%s/git-sbx", xdg);
	else if (home && *home)
		snprintf(path, sizeof(path), "%s/.cache/git-sbx", home);
	else
		return sbx_error_set(SBX_ENOTFOUND, "no cache directory: set SBX_CACHE_DIR or HOME");
	if (strlen(path) + 1 > outlen)
		return sbx_error_set(SBX_EINVAL, "cache directory path too long");
	snprintf(out, outlen, "%s", path);
	return 0;
}

static int mkdirs(const char *path)
{
	char p[PATH_MAX];
	size_t i;

	snprintf(p, sizeof(p), "%s", path);
	for (i = 1; p[i]; i++)
		if (p[i] == '/') {
			p[i] = '\0';
			if (mkdir(p, 0755) && errno != EEXIST)
				return sbx_error_errno(SBX_EIO, "cannot create '%s'", p);
			p[i] = '/';
		}
	if (mkdir(p, 0755) && errno != EEXIST)
		return sbx_error_errno(SBX_EIO, "cannot create '%s'", p);
	return 0;
}

static int rm_rf(const char *path)
{
	const char *argv[] = { "rm", "-rf", "--", path, NULL };

	return spawn_wait(argv, -1, -1, 1);
}

int sbx_find_init(char *out, size_t outlen)
{
	const char *env = getenv("SBX_INIT");
	char self[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n;
	char *slash;

	if (env && *env) {
		if (access(env, R_OK))
			return sbx_error_errno(SBX_ENOTFOUND, "SBX_INIT='%s'", env);
		snprintf(out, outlen, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return sbx_error_errno(SBX_ENOTFOUND, "cannot find our own binary");
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	/* The build tree: git-sbx at the top, guest/sbx-init beside it. */
	snprintf(cand, sizeof(cand), "%s/guest/sbx-init", self);
	if (!access(cand, R_OK))
		goto found;
	/* Installed: where make install put it. */
	snprintf(cand, sizeof(cand), "%s/sbx-init", SBX_PKGLIBEXECDIR);
	if (!access(cand, R_OK))
		goto found;
	return sbx_error_set(SBX_ENOTFOUND, "cannot find sbx-init (set SBX_INIT)");
found:
	if (strlen(cand) + 1 > outlen)
		return sbx_error_set(SBX_EINVAL, "path too long");
	snprintf(out, outlen, "%s", cand);
	return 0;
}

/* The newest extracted linux-image-*-cloud-amd64 in the cache. */
static int find_kernel_dir(char *out, size_t outlen)
{
	char cache[PATH_MAX], dir[PATH_MAX + 16], best[256] = "";
	struct dirent *e;
	DIR *d;
	int err = sbx_cache_dir(cache, sizeof(cache));

	if (err)
		return err;
	snprintf(dir, sizeof(dir), "%s/kernels", cache);
	d = opendir(dir);
	if (d) {
		while ((e = readdir(d))) {
			size_t n = strlen(e->d_name);

			if (!strncmp(e->d_name, "linux-image-", 12) && n > 12 + 12 &&
			    !strcmp(e->d_name + n - 12, "-cloud-amd64") && strverscmp(e->d_name, best) > 0)
				snprintf(best, sizeof(best), "%s", e->d_name);
		}
		closedir(d);
	}
	if (!best[0])
		return sbx_error_set(SBX_ENOTFOUND,
				     "no Debian cloud kernel under '%s' (run tools/setup, or pass --kernel-dir)", dir);
	snprintf(out, outlen, "%s/%s", dir, best);
	return 0;
}

/* <kdir>/boot/vmlinuz-<ver> and <kdir>/lib/modules/<ver>. */
static int kernel_parts(const char *kdir, char *vmlinuz, size_t vlen, char *moddir, size_t mlen,
			char *version, size_t verlen)
{
	char boot[PATH_MAX];
	struct dirent *e;
	DIR *d;

	snprintf(boot, sizeof(boot), "%s/boot", kdir);
	d = opendir(boot);
	if (!d)
		return sbx_error_errno(SBX_ENOTFOUND, "'%s' is not an extracted kernel package", kdir);
	version[0] = '\0';
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "vmlinuz-", 8))
			snprintf(version, verlen, "%s", e->d_name + 8);
	closedir(d);
	if (!version[0])
		return sbx_error_set(SBX_ENOTFOUND, "no vmlinuz-* in '%s'", boot);
	snprintf(vmlinuz, vlen, "%s/vmlinuz-%s", boot, version);
	snprintf(moddir, mlen, "%s/lib/modules/%s", kdir, version);
	if (access(moddir, R_OK))
		return sbx_error_errno(SBX_ENOTFOUND, "'%s'", moddir);
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	const char *argv[] = { "cp", "--reflink=auto", "--", from, to, NULL };

	return spawn_wait(argv, -1, -1, 1);
}

static void progress(const struct sbx_image_build_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void progress(const struct sbx_image_build_opts *o, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o->progress)
		o->progress(o->opaque, msg);
}

#define LOCAL_CA_DIR "/usr/local/share/ca-certificates"

static bool has_local_cas(void)
{
	DIR *d = opendir(LOCAL_CA_DIR);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		size_t n = strlen(e->d_name);

		found = n > 4 && !strcmp(e->d_name + n - 4, ".crt");
	}
	closedir(d);
	return found;
}

/* The rootfs tarball: given, or made by mmdebstrap from a preset. */
static int make_rootfs_tar(const struct sbx_image_build_opts *o, const char *tmp, char *tar,
			   size_t tarlen)
{
	char include[1024], hook[512] = "";
	const char *argv[16];
	int n = 0;
	size_t i;

	if (o->from_tar) {
		snprintf(tar, tarlen, "%s", o->from_tar);
		return 0;
	}
	snprintf(include, sizeof(include), "--include=%s",
		 o->preset && !strcmp(o->preset, "minimal") ? preset_minimal : preset_default);
	if (o->agent) {
		for (i = 0; i < sizeof(agents) / sizeof(agents[0]); i++)
			if (!strcmp(o->agent, agents[i].name))
				break;
		if (i == sizeof(agents) / sizeof(agents[0]))
			return sbx_error_set(SBX_EINVAL, "unknown agent '%s' (claude, codex, gemini, aider)",
					     o->agent);
		strncat(include, ",", sizeof(include) - strlen(include) - 1);
		strncat(include, agents[i].packages, sizeof(include) - strlen(include) - 1);
		snprintf(hook, sizeof(hook), "--customize-hook=chroot \"$1\" %s", agents[i].install);
	}
	snprintf(tar, tarlen, "%s/rootfs.tar", tmp);
	argv[n++] = "mmdebstrap";
	argv[n++] = "--quiet";
	argv[n++] = "--variant=minbase";
	argv[n++] = include;
	/*
	 * The host's own CAs (a TLS-inspecting proxy's, a company's) are
	 * trusted in the image too, or the agent's install and later its
	 * HTTPS would fail there while working on the host.
	 */
	if (has_local_cas()) {
		argv[n++] = "--customize-hook=copy-in " LOCAL_CA_DIR " /usr/local/share";
		argv[n++] = "--customize-hook=chroot \"$1\" update-ca-certificates";
	}
	if (hook[0])
		argv[n++] = hook;
	argv[n++] = "bookworm";
	argv[n++] = tar;
	if (o->mirror)
		argv[n++] = o->mirror;
	argv[n] = NULL;
	progress(o, "building the root filesystem with mmdebstrap (%s%s%s); this takes minutes",
		 o->preset ? o->preset : "default", o->agent ? ", agent " : "", o->agent ? o->agent : "");
	return spawn_wait(argv, -1, -1, 1);
}

static int check_squashfs(const char *path)
{
	const char *type = NULL;
	blkid_probe pr = blkid_new_probe_from_filename(path);
	int err = 0;

	if (!pr)
		return sbx_error_errno(SBX_EIO, "cannot probe '%s'", path);
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	if (blkid_do_safeprobe(pr) != 0 || blkid_probe_lookup_value(pr, "TYPE", &type, NULL) ||
	    strcmp(type, "squashfs"))
		err = sbx_error_set(SBX_ECORRUPT, "'%s' is not a squashfs image (blkid says %s)", path,
				    type ? type : "nothing");
	blkid_free_probe(pr);
	return err;
}

static int make_task_base(const char *tmp, const char *out)
{
	char skel[PATH_MAX], p[PATH_MAX + 32];
	const char *argv[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-L", "sbx-task",
			       "-E", "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1",
			       "-J", "size=32", "-m", "0", "-d", skel, out,
			       TASK_DISK_SIZE, NULL };
	static const char *const dirs[] = { "root", "root/upper", "root/work", "workspace" };
	size_t i;

	snprintf(skel, sizeof(skel), "%s/task-skel", tmp);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", skel, dirs[i]);
		if (mkdirs(p))
			return SBX_EIO;
	}
	return spawn_wait(argv, -1, -1, 1);
}

static int write_file(const char *path, const char *content)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return sbx_error_errno(SBX_EIO, "cannot create '%s'", tmp);
	if (fputs(content, f) < 0 || fflush(f) || fsync(fileno(f))) {
		fclose(f);
		unlink(tmp);
		return sbx_error_errno(SBX_EIO, "cannot write '%s'", tmp);
	}
	fclose(f);
	if (rename(tmp, path))
		return sbx_error_errno(SBX_EIO, "cannot rename '%s'", tmp);
	return 0;
}

static int valid_name(const char *name)
{
	size_t i;

	if (!name[0] || strlen(name) > 63 || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; name[i]; i++)
		if (!(name[i] >= 'a' && name[i] <= 'z') && !(name[i] >= 'A' && name[i] <= 'Z') &&
		    !(name[i] >= '0' && name[i] <= '9') && !strchr("._-", name[i]))
			return 0;
	return 1;
}

static uint64_t du(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

static int load(struct sbx_image *img, const char *dir, const char *id)
{
	char path[PATH_MAX + 16], line[512];
	FILE *f;

	memset(img, 0, sizeof(*img));
	snprintf(img->id, sizeof(img->id), "%s", id);
	snprintf(img->dir, sizeof(img->dir), "%s", dir);
	snprintf(img->kernel, sizeof(img->kernel), "%s/vmlinuz", dir);
	snprintf(img->initrd, sizeof(img->initrd), "%s/initrd.img", dir);
	snprintf(img->root, sizeof(img->root), "%s/root.sqfs", dir);
	snprintf(img->task_base, sizeof(img->task_base), "%s/task-base.img", dir);
	snprintf(path, sizeof(path), "%s/manifest", dir);
	f = fopen(path, "re");
	if (!f)
		return sbx_error_errno(SBX_ECORRUPT, "image '%.12s' has no manifest", id);
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');

		line[strcspn(line, "\n")] = '\0';
		if (!eq)
			continue;
		*eq++ = '\0';
		if (!strcmp(line, "name"))
			snprintf(img->name, sizeof(img->name), "%s", eq);
		else if (!strcmp(line, "preset"))
			snprintf(img->preset, sizeof(img->preset), "%s", eq);
		else if (!strcmp(line, "agent"))
			snprintf(img->agent, sizeof(img->agent), "%s", eq);
		else if (!strcmp(line, "kernel"))
			snprintf(img->kernel_version, sizeof(img->kernel_version), "%s", eq);
		else if (!strcmp(line, "created"))
			img->created = strtoull(eq, NULL, 10);
		else if (!strcmp(line, "init"))
			snprintf(img->init_hash, sizeof(img->init_hash), "%s", eq);
	}
	fclose(f);
	img->bytes = du(img->kernel) + du(img->initrd) + du(img->root) + du(img->task_base);
	if (access(img->kernel, R_OK) || access(img->initrd, R_OK) || access(img->root, R_OK) ||
	    access(img->task_base, R_OK))
		return sbx_error_set(SBX_ECORRUPT, "image '%.12s' is incomplete", id);
	return 0;
}

static int init_hash(const char *init, char hex[65])
{
	uint8_t d[32];
	int err = sha256_file(init, d);

	if (err)
		return sbx_error_prefix(err, "cannot read '%s'", init);
	sha256_hex(d, hex);
	return 0;
}

int sbx_image_init_hash(char out[65])
{
	char init[PATH_MAX];
	int err = sbx_find_init(init, sizeof(init));

	return err ? err : init_hash(init, out);
}

int sbx_image_boot_initrd(char *out, size_t outlen, const struct sbx_image *img)
{
	char init[PATH_MAX], hex[65], path[PATH_MAX + 32];
	int err;

	if ((err = sbx_find_init(init, sizeof(init))) || (err = init_hash(init, hex)))
		return err;
	if (!strcmp(img->init_hash, hex)) {
		snprintf(out, outlen, "%s", img->initrd);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/initrd-%.16s.img", img->dir, hex);
	if (access(path, R_OK) && (err = sbx_initramfs_with_init(path, img->initrd, init)))
		return sbx_error_prefix(err, "cannot give image '%.12s' this sbx-init", img->id);
	snprintf(out, outlen, "%s", path);
	return 0;
}

int sbx_image_build(struct sbx_image *out, const struct sbx_image_build_opts *o)
{
	char cache[PATH_MAX], tmp[PATH_MAX + 64], kdir[PATH_MAX], vmlinuz[PATH_MAX + 64],
	     moddir[PATH_MAX + 64], kver[64], init[PATH_MAX], tar[PATH_MAX + 32],
	     path[PATH_MAX + 96], final[PATH_MAX + 96], manifest[2048], hex[65], init_hex[65];
	static const char *const parts[] = { "vmlinuz", "initrd.img", "root.sqfs", "task-base.img" };
	const char *name = o->name ? o->name : SBX_IMAGE_DEFAULT_NAME;
	uint8_t digest[32], all[32 * 4];
	struct sha256 c;
	int fd, err;
	size_t i;

	if (!valid_name(name))
		return sbx_error_set(SBX_EINVAL, "'%s' is not a valid image name", name);
	if (o->preset && strcmp(o->preset, "minimal") && strcmp(o->preset, "default"))
		return sbx_error_set(SBX_EINVAL, "unknown preset '%s' (minimal, default)", o->preset);
	if ((err = sbx_cache_dir(cache, sizeof(cache))))
		return err;
	if (o->kernel_dir)
		snprintf(kdir, sizeof(kdir), "%s", o->kernel_dir);
	else if ((err = find_kernel_dir(kdir, sizeof(kdir))))
		return err;
	if ((err = kernel_parts(kdir, vmlinuz, sizeof(vmlinuz), moddir, sizeof(moddir), kver, sizeof(kver))))
		return err;
	if ((err = sbx_find_init(init, sizeof(init))))
		return err;
	snprintf(tmp, sizeof(tmp), "%s/images/.build-XXXXXX", cache);
	snprintf(path, sizeof(path), "%s/images/names", cache);
	if ((err = mkdirs(path)))
		return err;
	if (!mkdtemp(tmp))
		return sbx_error_errno(SBX_EIO, "cannot create a build directory under '%s'", cache);

	progress(o, "kernel %s from %s", kver, kdir);
	snprintf(path, sizeof(path), "%s/vmlinuz", tmp);
	if ((err = copy_file(vmlinuz, path)))
		goto out;
	snprintf(path, sizeof(path), "%s/initrd.img", tmp);
	progress(o, "initramfs: sbx-init and the modules it needs");
	if ((err = sbx_initramfs_build(path, init, moddir, required_modules, optional_modules)))
		goto out;
	if ((err = make_rootfs_tar(o, tmp, tar, sizeof(tar))))
		goto out;
	progress(o, "root image: squashfs (zstd) from %s", o->from_tar ? o->from_tar : "the rootfs");
	snprintf(path, sizeof(path), "%s/root.sqfs", tmp);
	fd = open(tar, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = sbx_error_errno(SBX_ENOTFOUND, "cannot open '%s'", tar);
		goto out;
	}
	{
		const char *argv[] = { "tar2sqfs", "--quiet", "--force", "--compressor", "zstd",
				       "--defaults", "mode=0755", path, NULL };

		err = spawn_wait(argv, fd, -1, 1);
	}
	close(fd);
	if (err)
		goto out;
	if ((err = check_squashfs(path)))
		goto out;
	if (!o->from_tar)
		unlink(tar);
	progress(o, "task disk base: an empty ext4 of %s", TASK_DISK_SIZE);
	snprintf(path, sizeof(path), "%s/task-base.img", tmp);
	if ((err = make_task_base(tmp, path)))
		goto out;
	snprintf(path, sizeof(path), "%s/task-skel", tmp);
	rm_rf(path);

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", tmp, parts[i]);
		if ((err = sha256_file_sparse(path, all + 32 * i)))
			goto out;
	}
	if ((err = sha256_init(&c)))
		goto out;
	sha256_update(&c, all, sizeof(all));
	if ((err = sha256_final(&c, digest)))
		goto out;
	sha256_hex(digest, hex);
	if ((err = init_hash(init, init_hex)))
		goto out;
	snprintf(manifest, sizeof(manifest),
		 "format=1\nid=%s\nname=%s\npreset=%s\nagent=%s\nkernel=%s\ncreated=%llu\nsource=%s\n"
		 "init=%s\n",
		 hex, name, o->from_tar ? "tar" : (o->preset ? o->preset : "default"),
		 o->agent ? o->agent : "", kver, (unsigned long long)time(NULL),
		 o->from_tar ? o->from_tar : "mmdebstrap", init_hex);
	snprintf(path, sizeof(path), "%s/manifest", tmp);
	if ((err = write_file(path, manifest)))
		goto out;
	snprintf(final, sizeof(final), "%s/images/%s", cache, hex);
	if (rename(tmp, final)) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			err = sbx_error_errno(SBX_EIO, "cannot store the image in '%s'", final);
			goto out;
		}
		progress(o, "an identical image is already stored");
	} else {
		tmp[0] = '\0';
	}
	snprintf(path, sizeof(path), "%s/images/names/%s", cache, name);
	snprintf(manifest, sizeof(manifest), "%s\n", hex);
	if ((err = write_file(path, manifest)))
		goto out;
	err = load(out, final, hex);
	if (!err)
		snprintf(out->name, sizeof(out->name), "%s", name);
out:
	if (tmp[0])
		rm_rf(tmp);
	return err;
}

static int read_name(const char *cache, const char *name, char id[65])
{
	char path[PATH_MAX + 96], buf[80];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/images/names/%s", cache, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return SBX_ENOTFOUND;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 64)
		return sbx_error_set(SBX_ECORRUPT, "image name '%s' is damaged", name);
	memcpy(id, buf, 64);
	id[64] = '\0';
	for (int i = 0; i < 64; i++)
		if (!strchr("0123456789abcdef", id[i]))
			return sbx_error_set(SBX_ECORRUPT, "image name '%s' is damaged", name);
	return 0;
}

int sbx_image_resolve(struct sbx_image *out, const char *name_or_id)
{
	char cache[PATH_MAX], dir[PATH_MAX + 96], id[65] = "";
	const char *name = name_or_id ? name_or_id : SBX_IMAGE_DEFAULT_NAME;
	int err = sbx_cache_dir(cache, sizeof(cache));

	if (err)
		return err;
	if (valid_name(name) && read_name(cache, name, id) == 0) {
		/* found by name */
	} else if (strlen(name) >= 4 && strspn(name, "0123456789abcdef") == strlen(name)) {
		struct dirent *e;
		DIR *d;
		int matches = 0;

		snprintf(dir, sizeof(dir), "%s/images", cache);
		d = opendir(dir);
		while (d && (e = readdir(d)))
			if (strlen(e->d_name) == 64 && !strncmp(e->d_name, name, strlen(name))) {
				memcpy(id, e->d_name, 65);
				matches++;
			}
		if (d)
			closedir(d);
		if (matches > 1)
			return sbx_error_set(SBX_EINVAL, "image id '%s' is ambiguous", name);
	}
	if (!id[0]) {
		if (!name_or_id)
			return sbx_error_set(SBX_ENOTFOUND,
					     "no default image yet (build one with 'git sbx image build')");
		return sbx_error_set(SBX_ENOTFOUND, "no image '%s' (see 'git sbx image ls')", name);
	}
	snprintf(dir, sizeof(dir), "%s/images/%s", cache, id);
	err = load(out, dir, id);
	if (!err && valid_name(name) && strcmp(name, id))
		snprintf(out->name, sizeof(out->name), "%s", name);
	return err;
}

int sbx_image_list(int (*fn)(void *opaque, const struct sbx_image *img, const char *names),
		   void *opaque)
{
	char cache[PATH_MAX], dir[PATH_MAX + 96], names[1024];
	struct dirent *e, *ne;
	DIR *d, *nd;
	int err = sbx_cache_dir(cache, sizeof(cache));

	if (err)
		return err;
	snprintf(dir, sizeof(dir), "%s/images", cache);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		struct sbx_image img;
		char idir[PATH_MAX + 200];

		if (strlen(e->d_name) != 64)
			continue;
		snprintf(idir, sizeof(idir), "%s/%s", dir, e->d_name);
		if (load(&img, idir, e->d_name))
			continue;
		names[0] = '\0';
		snprintf(idir, sizeof(idir), "%s/names", dir);
		nd = opendir(idir);
		while (nd && (ne = readdir(nd))) {
			char id[65];

			if (ne->d_name[0] == '.' || read_name(cache, ne->d_name, id) || strcmp(id, e->d_name))
				continue;
			if (strlen(names) + strlen(ne->d_name) + 2 < sizeof(names)) {
				if (names[0])
					strcat(names, ",");
				strcat(names, ne->d_name);
			}
		}
		if (nd)
			closedir(nd);
		err = fn(opaque, &img, names);
		if (err)
			break;
	}
	closedir(d);
	return err;
}

int sbx_image_remove(const char *name_or_id)
{
	char cache[PATH_MAX], path[PATH_MAX + 96], id[65];
	struct sbx_image img;
	struct dirent *e;
	DIR *d;
	int err = sbx_image_resolve(&img, name_or_id), still = 0;

	if (err)
		return err;
	if ((err = sbx_cache_dir(cache, sizeof(cache))))
		return err;
	snprintf(path, sizeof(path), "%s/images/names/%s", cache, name_or_id);
	if (valid_name(name_or_id) && !access(path, F_OK) && unlink(path))
		return sbx_error_errno(SBX_EIO, "cannot remove '%s'", path);
	snprintf(path, sizeof(path), "%s/images/names", cache);
	d = opendir(path);
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && !read_name(cache, e->d_name, id) && !strcmp(id, img.id))
			still = 1;
	if (d)
		closedir(d);
	if (!still)
		return rm_rf(img.dir);
	return 0;
}
