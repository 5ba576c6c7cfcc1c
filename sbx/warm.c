// SPDX-License-Identifier: MIT
/* The warm base store: keys, records, opening, locks, install, removal (sbx/warm.h). */
#include "sbx/warm.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/textrec.h"
#include "snapshot/vmstate.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the key ---- */

static void put_field(struct sha256 *c, const char *name, const char *value)
{
	uint8_t len[4];
	size_t n = value ? strlen(value) : 0;

	/* name, NUL, a length, the bytes: no two field lists hash alike */
	sha256_update(c, name, strlen(name) + 1);
	len[0] = (uint8_t)(n >> 24);
	len[1] = (uint8_t)(n >> 16);
	len[2] = (uint8_t)(n >> 8);
	len[3] = (uint8_t)n;
	sha256_update(c, len, 4);
	if (n)
		sha256_update(c, value, n);
}

int sbx_warm_key(char out[65], const struct sbx_warm_params *p)
{
	struct sha256 c;
	uint8_t d[32];
	char num[32];
	int err;

	out[0] = 0;
	if (!p->image_id || !*p->image_id || !p->init_hash || !p->cpus || !p->memory)
		return sbx_error_set(SBX_EINVAL, "a warm base key needs an image, sbx-init, cpus and memory");
	if ((err = sha256_init(&c)))
		return err;
	put_field(&c, "sbx-warm-key", "1");
	put_field(&c, "git-sbx", PACKAGE_VERSION);
	snprintf(num, sizeof(num), "%u", (unsigned)VMSTATE_VERSION);
	put_field(&c, "vmstate", num);
	put_field(&c, "image", p->image_id);
	put_field(&c, "init", p->init_hash);
	put_field(&c, "kernel", p->kernel_version);
	put_field(&c, "cmdline", p->cmdline);
	put_field(&c, "setup", p->setup && *p->setup ? p->setup : NULL);
	snprintf(num, sizeof(num), "%u", p->cpus);
	put_field(&c, "cpus", num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)p->memory);
	put_field(&c, "memory", num);
	snprintf(num, sizeof(num), "%u", p->depth);
	put_field(&c, "depth", num);
	if ((err = sha256_final(&c, d)))
		return err;
	sha256_hex(d, out);
	return 0;
}

/* ---- the record ---- */

int sbx_warm_record_format(char **out, size_t *len, const struct sbx_warm *w)
{
	struct textrec_buf b = { 0 };
	char hex[GIT_OID_HEXSZ + 1];

	*out = NULL;
	textrec_printf(&b, "sbx-warm %d\n", SBX_WARM_RECORD_VERSION);
	textrec_printf(&b, "key %s\n", w->key);
	textrec_printf(&b, "base %s\n", git_oid_tostr(hex, sizeof(hex), &w->base));
	textrec_printf(&b, "image %s\n", w->image_id);
	textrec_printf(&b, "init %s\n", w->init_hash);
	textrec_put_str(&b, "kernel", w->kernel_version);
	textrec_put_str(&b, "setup", w->setup);
	textrec_printf(&b, "cpus %u\n", w->cpus);
	textrec_printf(&b, "memory %llu\n", (unsigned long long)w->memory);
	textrec_printf(&b, "depth %u\n", w->depth);
	textrec_printf(&b, "created %lld\n", (long long)w->created_ms);
	textrec_printf(&b, "build %llu\n", (unsigned long long)w->build_ms);
	if (!b.oom)
		textrec_printf(&b, "checksum %08x\n", crc32c(0, b.p, b.len));
	if (b.oom) {
		free(b.p);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	if (b.len > SBX_WARM_RECORD_MAX) {
		free(b.p);
		return sbx_error_set(SBX_ELIMIT, "warm base record larger than %u bytes",
				     SBX_WARM_RECORD_MAX);
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

static int unescape(char **out, const char *v)
{
	return textrec_unescape(out, v, strlen(v), TEXTREC_HEX_STRICT, "the warm base record");
}

static bool is_hex(const char *v, size_t n)
{
	size_t i;

	if (strlen(v) != n)
		return false;
	for (i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return false;
	return true;
}

/* Decimal without sign or leading zero, at most max. */
static int parse_num(const char *v, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	const char *p;

	if (!*v || (v[0] == '0' && v[1]))
		return -1;
	for (p = v; *p; p++) {
		if (*p < '0' || *p > '9' || x > (max - (uint64_t)(*p - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*out = x;
	return 0;
}

enum { F_KEY = 1, F_BASE = 2, F_IMAGE = 4, F_INIT = 8, F_CPUS = 16, F_MEMORY = 32,
       F_DEPTH = 64, F_CREATED = 128, F_BUILD = 256, F_KERNEL = 512, F_SETUP = 1024 };
#define F_REQUIRED (F_KEY | F_BASE | F_IMAGE | F_INIT | F_CPUS | F_MEMORY | F_DEPTH | F_CREATED)

static int parse_line(struct sbx_warm *w, const char *key, const char *v, unsigned *seen)
{
	uint64_t x;
	unsigned bit;

	if (!strcmp(key, "key")) {
		bit = F_KEY;
		if (!is_hex(v, 64))
			return -1;
		memcpy(w->key, v, 65);
	} else if (!strcmp(key, "base")) {
		bit = F_BASE;
		if (!is_hex(v, GIT_OID_HEXSZ) || git_oid_fromstr(&w->base, v))
			return -1;
	} else if (!strcmp(key, "image")) {
		bit = F_IMAGE;
		if (!is_hex(v, 64))
			return -1;
		memcpy(w->image_id, v, 65);
	} else if (!strcmp(key, "init")) {
		bit = F_INIT;
		if (!is_hex(v, 64))
			return -1;
		memcpy(w->init_hash, v, 65);
	} else if (!strcmp(key, "kernel")) {
		bit = F_KERNEL;
		if (unescape(&w->kernel_version, v))
			return -1;
	} else if (!strcmp(key, "setup")) {
		bit = F_SETUP;
		if (strlen(v) > 4 * SBX_WARM_SETUP_MAX || unescape(&w->setup, v))
			return -1;
	} else if (!strcmp(key, "cpus")) {
		bit = F_CPUS;
		if (parse_num(v, 64, &x) || !x)
			return -1;
		w->cpus = (unsigned)x;
	} else if (!strcmp(key, "memory")) {
		bit = F_MEMORY;
		if (parse_num(v, 1ull << 48, &x) || !x)
			return -1;
		w->memory = x;
	} else if (!strcmp(key, "depth")) {
		bit = F_DEPTH;
		if (parse_num(v, 10000000, &x))
			return -1;
		w->depth = (unsigned)x;
	} else if (!strcmp(key, "created")) {
		bit = F_CREATED;
		if (parse_num(v, INT64_MAX, &x))
			return -1;
		w->created_ms = (int64_t)x;
	} else if (!strcmp(key, "build")) {
		bit = F_BUILD;
		if (parse_num(v, INT64_MAX, &x))
			return -1;
		w->build_ms = x;
	} else {
		return 0;	/* a key a later version added */
	}
	if (*seen & bit)
		return -1;
	*seen |= bit;
	return 0;
}

int sbx_warm_record_parse(struct sbx_warm **out, const char *buf, size_t len)
{
	static const char magic[] = "sbx-warm ";
	struct sbx_warm *w;
	const char *p, *end, *sum_at;
	unsigned seen = 0, line = 1;
	uint32_t want, got;
	int err = 0;

	*out = NULL;
	if (len > SBX_WARM_RECORD_MAX)
		return SBX_CORRUPT("warm base record larger than %u bytes", SBX_WARM_RECORD_MAX);
	if (memchr(buf, 0, len))
		return SBX_CORRUPT("NUL byte in the warm base record");
	/* The last line is "checksum <8 hex>", the CRC-32C of every byte before it. */
	if (len < 18 || buf[len - 1] != '\n')
		return SBX_CORRUPT("warm base record truncated");
	sum_at = buf + len - 18;
	if (memcmp(sum_at, "checksum ", 9) || (sum_at > buf && sum_at[-1] != '\n'))
		return SBX_CORRUPT("warm base record has no checksum line");
	{
		char hex[9];
		uint64_t v = 0;
		int i;

		memcpy(hex, sum_at + 9, 8);
		hex[8] = 0;
		if (!is_hex(hex, 8))
			return SBX_CORRUPT("bad checksum line in the warm base record");
		for (i = 0; i < 8; i++)
			v = v << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
		want = (uint32_t)v;
	}
	got = crc32c(0, buf, (size_t)(sum_at - buf));
	if (got != want)
		return SBX_CORRUPT("warm base record checksum mismatch (%08x, expected %08x)", got, want);
	end = sum_at;
	if ((size_t)(end - buf) < sizeof(magic) || memcmp(buf, magic, sizeof(magic) - 1))
		return SBX_CORRUPT("not a warm base record");
	{
		const char *nl = memchr(buf, '\n', (size_t)(end - buf));
		char ver[16];
		size_t n = (size_t)(nl - buf) - (sizeof(magic) - 1);

		if (n >= sizeof(ver))
			return SBX_CORRUPT("bad warm base record version");
		memcpy(ver, buf + sizeof(magic) - 1, n);
		ver[n] = 0;
		if (strcmp(ver, "1"))
			return sbx_error_set(SBX_EUNSUPPORTED, "warm base record version %s (this git-sbx "
					     "reads version %d)", ver, SBX_WARM_RECORD_VERSION);
		p = nl + 1;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	while (p < end && !err) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		char key[16], *val;
		size_t kl;

		line++;
		sp = memchr(p, ' ', (size_t)(nl - p));
		kl = sp ? (size_t)(sp - p) : 0;
		if (!sp || !kl || kl >= sizeof(key)) {
			err = SBX_CORRUPT("warm base record line %u is malformed", line);
			break;
		}
		memcpy(key, p, kl);
		key[kl] = 0;
		val = strndup(sp + 1, (size_t)(nl - sp - 1));
		if (!val) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			break;
		}
		if (parse_line(w, key, val, &seen))
			err = SBX_CORRUPT("warm base record line %u: bad or repeated '%s'", line, key);
		free(val);
		p = nl + 1;
	}
	if (!err && (seen & F_REQUIRED) != F_REQUIRED)
		err = SBX_CORRUPT("warm base record lacks a required line");
	if (err) {
		sbx_warm_free(w);
		return err;
	}
	w->used_ms = w->created_ms;
	*out = w;
	return 0;
}

void sbx_warm_free(struct sbx_warm *w)
{
	if (!w)
		return;
	free(w->kernel_version);
	free(w->setup);
	free(w->dir);
	free(w);
}

/* ---- the store ---- */

char *sbx_warm_root(struct sbx_repo *repo)
{
	char *p = NULL;

	if (asprintf(&p, "%s/sbx/warm", repo->commondir) < 0)
		return NULL;
	return p;
}

char *sbx_warm_path(struct sbx_repo *repo, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/sbx/warm/%s", repo->commondir, name) < 0)
		return NULL;
	return p;
}

int sbx_warm_lock(int *fd, struct sbx_repo *repo, const char *key, bool exclusive, bool wait)
{
	char *root = sbx_warm_root(repo), *path = NULL;
	int err;

	*fd = -1;
	if (!root || asprintf(&path, "%s/%s.lock", root, key) < 0) {
		free(root);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	err = sbx_mkdirs(root);
	if (!err)
		err = sbx_lock(fd, path, exclusive, wait);
	free(root);
	free(path);
	return err;
}

int sbx_warm_open(struct sbx_warm **out, struct sbx_repo *repo, const char *key)
{
	static const char *const files[] = { "memory", "state", "machine", "disk.qcow2" };
	struct sbx_warm *w = NULL;
	char *dir = sbx_warm_path(repo, key), *path = NULL, *buf = NULL;
	struct stat st;
	size_t len, i;
	int err;

	*out = NULL;
	if (!dir)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (lstat(dir, &st) && errno == ENOENT) {
		err = sbx_error_set(SBX_ENOTFOUND, "no warm base %.12s", key);
		goto out;
	}
	if (!(path = sbx_path_join(dir, "record"))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	err = sbx_read_file(&buf, &len, path, SBX_WARM_RECORD_MAX);
	if (err == SBX_ENOTFOUND)
		err = SBX_CORRUPT("it has no record");
	if (!err)
		err = sbx_warm_record_parse(&w, buf, len);
	if (!err && strcmp(w->key, key))
		err = SBX_CORRUPT("its record is for %.12s", w->key);
	for (i = 0; !err && i < sizeof(files) / sizeof(files[0]); i++) {
		free(path);
		path = sbx_path_join(dir, files[i]);
		if (!path)
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
		else if (stat(path, &st) || !S_ISREG(st.st_mode))
			err = SBX_CORRUPT("its %s is missing", files[i]);
	}
	if (err) {
		if (err == SBX_ECORRUPT || err == SBX_EUNSUPPORTED)
			sbx_error_prefix(SBX_ECORRUPT, "warm base %.12s is damaged", key);
		err = err == SBX_EUNSUPPORTED ? SBX_ECORRUPT : err;
		goto out;
	}
	free(path);
	path = sbx_path_join(dir, "used");
	if (path && !stat(path, &st))
		w->used_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	w->dir = dir;
	dir = NULL;
	*out = w;
	w = NULL;
out:
	sbx_warm_free(w);
	free(buf);
	free(path);
	free(dir);
	return err;
}

void sbx_warm_touch(const struct sbx_warm *w)
{
	char *path = sbx_path_join(w->dir, "used");
	int fd;

	if (!path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd >= 0) {
		futimens(fd, NULL);
		close(fd);
	}
	free(path);
}

int sbx_warm_remove(struct sbx_repo *repo, const char *key)
{
	char *dir = sbx_warm_path(repo, key), *trash = NULL, *name = NULL;
	int err = 0;

	if (!dir || asprintf(&name, ".trash-%s.%ld", key, (long)getpid()) < 0 ||
	    !(trash = sbx_warm_path(repo, name))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	/* One rename takes it out of use; the deletion may then take its time (or crash). */
	if (rename(dir, trash)) {
		if (errno != ENOENT)
			err = sbx_error_errno(SBX_EIO, "cannot remove the warm base '%s'", dir);
		goto out;
	}
	err = sbx_rmtree(trash);
out:
	free(dir);
	free(trash);
	free(name);
	return err;
}

int sbx_warm_install(struct sbx_repo *repo, const char *build_dir, const char *key, bool replace)
{
	char *dir = sbx_warm_path(repo, key), *root = sbx_warm_root(repo);
	int err = 0;

	if (!dir || !root) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = sbx_fsync_dir(build_dir)))
		goto out;
	if (replace && (err = sbx_warm_remove(repo, key)))
		goto out;
	if (rename(build_dir, dir)) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			err = sbx_error_set(SBX_EEXISTS, "warm base %.12s exists", key);
		else
			err = sbx_error_errno(SBX_EIO, "cannot rename '%s'", build_dir);
		goto out;
	}
	err = sbx_fsync_dir(root);
out:
	free(dir);
	free(root);
	return err;
}
