// SPDX-License-Identifier: MIT
/*
 * The guest's initramfs: a newc cpio archive holding /init (sbx-init), the
 * kernel modules it needs (with their dependencies, read from each module's
 * .modinfo section: Debian's packages ship no modules.dep) and
 * /etc/sbx/modules, the load order.
 */
#include "sbx/initramfs.h"
#include "util/checked.h"
#include "util/error.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- newc cpio ------------------------------------------------------------ */

struct cpio {
	FILE *f;
	uint32_t ino;
	int err;
};

static void pad4(struct cpio *c, size_t n)
{
	static const char z[4];

	if (n % 4 && fwrite(z, 1, 4 - n % 4, c->f) != 4 - n % 4)
		c->err = sbx_error_errno(SBX_EIO, "writing the initramfs");
}

static void entry(struct cpio *c, const char *name, uint32_t mode, const void *data, size_t size)
{
	char hdr[160];
	size_t namelen = strlen(name) + 1;

	if (c->err)
		return;
	snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X",
		 ++c->ino, mode, 0u, 0u, 1u, 0u, size, 0u, 0u, 0u, 0u, namelen, 0u);
	if (fwrite(hdr, 1, 110, c->f) != 110 || fwrite(name, 1, namelen, c->f) != namelen) {
		c->err = sbx_error_errno(SBX_EIO, "writing the initramfs");
		return;
	}
	pad4(c, 110 + namelen);
	if (size && fwrite(data, 1, size, c->f) != size) {
		c->err = sbx_error_errno(SBX_EIO, "writing the initramfs");
		return;
	}
	pad4(c, size);
}

static int read_file(const char *path, uint8_t **out, size_t *len, size_t max)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return sbx_error_errno(errno == ENOENT ? SBX_ENOTFOUND : SBX_EIO, "cannot open '%s'", path);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		return sbx_error_set(SBX_EINVAL, "'%s' is not a regular file of a sane size", path);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			close(fd);
			return sbx_error_errno(SBX_EIO, "cannot read '%s'", path);
		}
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
}

/* ---- modules ---------------------------------------------------------------- */

/*
 * The "depends=" value of a module's .modinfo section, copied into `out`
 * (empty when it has none).  The file is the kernel package's, but it is
 * parsed with every offset checked all the same.
 */
int kmod_depends(const uint8_t *elf, size_t len, char *out, size_t outlen)
{
	const Elf64_Ehdr *eh = (const void *)elf;
	const Elf64_Shdr *sh, *strtab;
	uint64_t shoff, size;
	unsigned i;

	out[0] = '\0';
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(Elf64_Shdr))
		return SBX_CORRUPT("not a 64-bit ELF module");
	shoff = eh->e_shoff;
	if (chk_mul((uint64_t)eh->e_shnum, sizeof(Elf64_Shdr), &size) || !range_ok(shoff, size, len) ||
	    eh->e_shstrndx >= eh->e_shnum)
		return SBX_CORRUPT("module section table out of range");
	sh = (const void *)(elf + shoff);
	strtab = &sh[eh->e_shstrndx];
	if (!range_ok(strtab->sh_offset, strtab->sh_size, len))
		return SBX_CORRUPT("module section names out of range");
	for (i = 0; i < eh->e_shnum; i++) {
		const char *name, *p, *end;

		if (sh[i].sh_name >= strtab->sh_size)
			continue;
		name = (const char *)elf + strtab->sh_offset + sh[i].sh_name;
		if (strnlen(name, strtab->sh_size - sh[i].sh_name) == strtab->sh_size - sh[i].sh_name ||
		    strcmp(name, ".modinfo"))
			continue;
		if (!range_ok(sh[i].sh_offset, sh[i].sh_size, len))
			return SBX_CORRUPT(".modinfo out of range");
		p = (const char *)elf + sh[i].sh_offset;
		end = p + sh[i].sh_size;
		while (p < end) {
			size_t n = strnlen(p, (size_t)(end - p));

			if (n > 8 && !strncmp(p, "depends=", 8)) {
				if (n - 8 >= outlen)
					return SBX_CORRUPT("module dependency list too long");
				memcpy(out, p + 8, n - 8);
				out[n - 8] = '\0';
				return 0;
			}
			p += n + 1;
		}
		return 0;
	}
	return 0;
}

struct modset {
	char **paths;		/* in load order */
	size_t n, cap;
	char **names;		/* seen */
	size_t nnames, capnames;
};

static int find_module(const char *dir, const char *name, char *out, size_t outlen)
{
	char alt[256];
	DIR *d;
	struct dirent *e;
	int found = 0;

	/* modules use '_' and '-' interchangeably in names */
	snprintf(alt, sizeof(alt), "%s", name);
	for (char *c = alt; *c; c++)
		if (*c == '-')
			*c = '_';
	d = opendir(dir);
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[4096], base[256];
		struct stat st;
		size_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			found = find_module(path, name, out, outlen);
			continue;
		}
		n = strlen(e->d_name);
		if (n < 4 || strcmp(e->d_name + n - 3, ".ko") || n - 3 >= sizeof(base))
			continue;
		memcpy(base, e->d_name, n - 3);
		base[n - 3] = '\0';
		for (char *c = base; *c; c++)
			if (*c == '-')
				*c = '_';
		if (!strcmp(base, alt)) {
			snprintf(out, outlen, "%s", path);
			found = 1;
		}
	}
	closedir(d);
	return found;
}

static int strv_push(char ***v, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		char **nv = realloc(*v, c * sizeof(*nv));

		if (!nv)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		*v = nv;
		*cap = c;
	}
	if (!((*v)[*n] = strdup(s)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	(*n)++;
	return 0;
}

static int want_module(struct modset *m, const char *moddir, const char *name, int depth)
{
	char path[4096], deps[1024], *tok, *save;
	uint8_t *data;
	size_t len, i;
	int err;

	for (i = 0; i < m->nnames; i++)
		if (!strcmp(m->names[i], name))
			return 0;
	if (depth > 16)
		return sbx_error_set(SBX_ECORRUPT, "module dependencies nest too deep at '%s'", name);
	err = strv_push(&m->names, &m->nnames, &m->capnames, name);
	if (err)
		return err;
	if (!find_module(moddir, name, path, sizeof(path)))
		return sbx_error_set(SBX_ENOTFOUND, "module '%s' not found under '%s'", name, moddir);
	err = read_file(path, &data, &len, 64u << 20);
	if (err)
		return err;
	err = kmod_depends(data, len, deps, sizeof(deps));
	free(data);
	if (err)
		return sbx_error_prefix(err, "'%s'", path);
	for (tok = strtok_r(deps, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		err = want_module(m, moddir, tok, depth + 1);
		if (err)
			return sbx_error_prefix(err, "module '%s'", name);
	}
	return strv_push(&m->paths, &m->n, &m->cap, path);
}

static void modset_free(struct modset *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->paths[i]);
	for (i = 0; i < m->nnames; i++)
		free(m->names[i]);
	free(m->paths);
	free(m->names);
}

int sbx_initramfs_build(const char *out, const char *init_path, const char *moddir,
			const char *const *modules, const char *const *optional)
{
	struct cpio c = { 0 };
	struct modset m = { 0 };
	char tmp[4096], *list = NULL;
	size_t listlen = 0, i;
	uint8_t *data;
	size_t len;
	int err = 0;

	for (i = 0; modules && modules[i]; i++) {
		err = want_module(&m, moddir, modules[i], 0);
		if (err)
			goto out;
	}
	for (i = 0; optional && optional[i]; i++) {
		/* Absent means built into this kernel (ext4 in the cloud flavour). */
		if (!find_module(moddir, optional[i], tmp, sizeof(tmp)))
			continue;
		err = want_module(&m, moddir, optional[i], 0);
		if (err)
			goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	c.f = fopen(tmp, "we");
	if (!c.f) {
		err = sbx_error_errno(SBX_EIO, "cannot create '%s'", tmp);
		goto out;
	}
	entry(&c, "dev", 040755, NULL, 0);
	entry(&c, "proc", 040755, NULL, 0);
	entry(&c, "sys", 040755, NULL, 0);
	entry(&c, "mnt", 040755, NULL, 0);
	entry(&c, "etc", 040755, NULL, 0);
	entry(&c, "etc/sbx", 040755, NULL, 0);
	entry(&c, "lib", 040755, NULL, 0);
	entry(&c, "lib/modules", 040755, NULL, 0);
	err = read_file(init_path, &data, &len, 64u << 20);
	if (err)
		goto out;
	entry(&c, "init", 0100755, data, len);
	free(data);
	for (i = 0; i < m.n && !c.err; i++) {
		const char *base = strrchr(m.paths[i], '/') + 1;
		char name[512];
		size_t add;
		char *nl;

		err = read_file(m.paths[i], &data, &len, 64u << 20);
		if (err)
			goto out;
		snprintf(name, sizeof(name), "lib/modules/%s", base);
		entry(&c, name, 0100644, data, len);
		free(data);
		add = strlen(name) + 3;
		nl = realloc(list, listlen + add);
		if (!nl) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		list = nl;
		listlen += (size_t)snprintf(list + listlen, add, "/%s\n", name);
	}
	entry(&c, "etc/sbx/modules", 0100644, list ? list : "", listlen);
	entry(&c, "TRAILER!!!", 0, NULL, 0);
	if (c.err) {
		err = c.err;
		goto out;
	}
	if (fflush(c.f) || fsync(fileno(c.f))) {
		err = sbx_error_errno(SBX_EIO, "writing '%s'", tmp);
		goto out;
	}
	fclose(c.f);
	c.f = NULL;
	if (rename(tmp, out)) {
		err = sbx_error_errno(SBX_EIO, "cannot rename '%s'", tmp);
		goto out;
	}
out:
	if (c.f) {
		fclose(c.f);
		unlink(tmp);
	}
	free(list);
	modset_free(&m);
	return err;
}

int sbx_initramfs_with_init(const char *out, const char *base, const char *init_path)
{
	struct cpio c = { 0 };
	char tmp[4096];
	uint8_t *data = NULL;
	size_t len;
	int err;

	/* The base archive is ours (at most the modules and sbx-init): a few MiB. */
	if ((err = read_file(base, &data, &len, 256u << 20)))
		return err;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", out, (int)getpid());
	c.f = fopen(tmp, "we");
	if (!c.f) {
		free(data);
		return sbx_error_errno(SBX_EIO, "cannot create '%s'", tmp);
	}
	if (fwrite(data, 1, len, c.f) != len)
		c.err = sbx_error_errno(SBX_EIO, "writing '%s'", tmp);
	pad4(&c, len);
	free(data);
	data = NULL;
	if (!c.err && !(err = read_file(init_path, &data, &len, 64u << 20)))
		entry(&c, "init", 0100755, data, len);
	free(data);
	entry(&c, "TRAILER!!!", 0, NULL, 0);
	if (!err)
		err = c.err;
	if (!err && (fflush(c.f) || fsync(fileno(c.f))))
		err = sbx_error_errno(SBX_EIO, "writing '%s'", tmp);
	fclose(c.f);
	if (!err && rename(tmp, out))
		err = sbx_error_errno(SBX_EIO, "cannot rename '%s'", tmp);
	if (err)
		unlink(tmp);
	return err;
}
