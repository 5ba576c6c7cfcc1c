// SPDX-License-Identifier: MIT
/* The checkpoint store of a task: records, the current pointer, layers, gc (sbx/checkpoint.h). */
#include "sbx/checkpoint.h"
#include "sbx/fsutil.h"
#include "sbx/textrec.h"
#include "snapshot/qcow2.h"
#include "util/crc32c.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const reasons[] = { "start", "commit", "exit", "manual" };

const char *sbx_ckpt_reason_name(enum sbx_ckpt_reason r)
{
	return (unsigned)r < sizeof(reasons) / sizeof(reasons[0]) ? reasons[r] : "?";
}

int sbx_ckpt_reason_parse(enum sbx_ckpt_reason *out, const char *s)
{
	unsigned i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (!strcmp(s, reasons[i])) {
			*out = (enum sbx_ckpt_reason)i;
			return 0;
		}
	return sbx_error_set(SBX_EINVAL, "unknown checkpoint reason '%s'", s);
}

/* ---- names ---- */

static bool is_hex40(const char *v)
{
	size_t i;

	for (i = 0; i < 40; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return false;
	return !v[40];
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* A relative path of plain components (no "", ".", ".."), at most max bytes; slashes if allowed. */
static bool safe_name(const char *s, size_t max, bool slashes)
{
	const char *c = s;
	size_t n = strlen(s);

	if (!n || n > max)
		return false;
	for (;;) {
		const char *e = c;

		while (*e && *e != '/') {
			if (!name_char(*e))
				return false;
			e++;
		}
		if (e == c || (e - c == 1 && c[0] == '.') || (e - c == 2 && !memcmp(c, "..", 2)))
			return false;
		if (!*e)
			return true;
		if (!slashes)
			return false;
		c = e + 1;
	}
}

static bool valid(const struct sbx_ckpt *c)
{
	return c->id && c->id <= SBX_CKPT_MAX_ID && c->time_ms >= 0 &&
	       (unsigned)c->reason <= SBX_CKPT_MANUAL && is_hex40(c->head) &&
	       safe_name(c->layer, SBX_CKPT_LAYER_MAX, true) &&
	       (!c->memory[0] || safe_name(c->memory, SBX_CKPT_MEMORY_MAX, true)) &&
	       strcmp(c->memory, "record");
}

/* Decimal 1..SBX_CKPT_MAX_ID without sign or leading zero; 0 if it is not one. */
static unsigned parse_id(const char *s)
{
	unsigned long v = 0;
	const char *p;

	if (!*s || *s == '0' || strlen(s) > 9)
		return 0;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return (unsigned)v;
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
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

/* ---- the record ---- */

int sbx_ckpt_record_format(char **out, size_t *len, const struct sbx_ckpt *c)
{
	struct textrec_buf b = { 0 };

	*out = NULL;
	if (!valid(c))
		return sbx_error_set(SBX_EINVAL, "checkpoint %u: bad id, reason, head or file name",
				     c->id);
	textrec_printf(&b, "sbx-checkpoint %d\n", SBX_CKPT_RECORD_VERSION);
	textrec_printf(&b, "id %u\n", c->id);
	textrec_printf(&b, "time %lld\n", (long long)c->time_ms);
	textrec_printf(&b, "reason %s\n", sbx_ckpt_reason_name(c->reason));
	textrec_printf(&b, "head %s\n", c->head);
	textrec_put_str(&b, "layer", c->layer);
	textrec_put_str(&b, "memory", c->memory[0] ? c->memory : NULL);
	textrec_printf(&b, "disk-bytes %llu\n", (unsigned long long)c->disk_bytes);
	if (c->memory[0])
		textrec_printf(&b, "memory-bytes %llu\n", (unsigned long long)c->memory_bytes);
	if (c->parent)
		textrec_printf(&b, "parent %u\n", c->parent);
	textrec_printf(&b, "pause-us %llu\n", (unsigned long long)c->pause_us);
	if (!b.oom)
		textrec_printf(&b, "checksum %08x\n", crc32c(0, b.p, b.len));
	if (b.oom) {
		free(b.p);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

enum { F_ID = 1, F_TIME = 2, F_REASON = 4, F_HEAD = 8, F_LAYER = 16, F_MEMORY = 32,
       F_DISK = 64, F_MEMBYTES = 128, F_PARENT = 256, F_PAUSE = 512 };
#define F_REQUIRED (F_ID | F_TIME | F_REASON | F_HEAD | F_LAYER | F_DISK)

static int copy_name(char *dst, size_t cap, const char *v)
{
	char *s = NULL;
	int ok;

	if (textrec_unescape(&s, v, strlen(v), TEXTREC_HEX_STRICT, "the checkpoint record"))
		return -1;
	ok = strlen(s) < cap;
	if (ok)
		strcpy(dst, s);
	free(s);
	return ok ? 0 : -1;
}

static int parse_line(struct sbx_ckpt *c, const char *key, const char *v, unsigned *seen)
{
	uint64_t x;
	unsigned bit;

	if (!strcmp(key, "id")) {
		bit = F_ID;
		if (!(c->id = parse_id(v)))
			return -1;
	} else if (!strcmp(key, "time")) {
		bit = F_TIME;
		if (parse_u64(v, INT64_MAX, &x))
			return -1;
		c->time_ms = (int64_t)x;
	} else if (!strcmp(key, "reason")) {
		bit = F_REASON;
		if (sbx_ckpt_reason_parse(&c->reason, v))
			return -1;
	} else if (!strcmp(key, "head")) {
		bit = F_HEAD;
		if (!is_hex40(v))
			return -1;
		memcpy(c->head, v, 41);
	} else if (!strcmp(key, "layer")) {
		bit = F_LAYER;
		if (copy_name(c->layer, sizeof(c->layer), v))
			return -1;
	} else if (!strcmp(key, "memory")) {
		bit = F_MEMORY;
		if (copy_name(c->memory, sizeof(c->memory), v))
			return -1;
	} else if (!strcmp(key, "disk-bytes")) {
		bit = F_DISK;
		if (parse_u64(v, UINT64_MAX, &c->disk_bytes))
			return -1;
	} else if (!strcmp(key, "memory-bytes")) {
		bit = F_MEMBYTES;
		if (parse_u64(v, UINT64_MAX, &c->memory_bytes))
			return -1;
	} else if (!strcmp(key, "parent")) {
		bit = F_PARENT;
		if (!(c->parent = parse_id(v)) || c->parent >= c->id)
			return -1;
	} else if (!strcmp(key, "pause-us")) {
		bit = F_PAUSE;
		if (parse_u64(v, UINT64_MAX, &c->pause_us))
			return -1;
	} else {
		return 0;	/* a key a later version added */
	}
	if (*seen & bit)
		return -1;
	*seen |= bit;
	return 0;
}

int sbx_ckpt_record_parse(struct sbx_ckpt *out, const char *buf, size_t len)
{
	static const char magic[] = "sbx-checkpoint ";
	const char *p, *end, *sum_at, *nl;
	unsigned seen = 0, line = 1, want = 0;
	int i;

	memset(out, 0, sizeof(*out));
	if (len > SBX_CKPT_RECORD_MAX)
		return SBX_CORRUPT("checkpoint record larger than %u bytes", SBX_CKPT_RECORD_MAX);
	if (memchr(buf, 0, len))
		return SBX_CORRUPT("NUL byte in the checkpoint record");
	if (len < 18 || buf[len - 1] != '\n')
		return SBX_CORRUPT("checkpoint record truncated");
	sum_at = buf + len - 18;
	if (memcmp(sum_at, "checksum ", 9) || (sum_at > buf && sum_at[-1] != '\n'))
		return SBX_CORRUPT("checkpoint record has no checksum line");
	for (i = 0; i < 8; i++) {
		char h = sum_at[9 + i];

		if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f')))
			return SBX_CORRUPT("bad checksum line in the checkpoint record");
		want = want << 4 | (unsigned)(h <= '9' ? h - '0' : h - 'a' + 10);
	}
	if (crc32c(0, buf, (size_t)(sum_at - buf)) != want)
		return SBX_CORRUPT("checkpoint record checksum mismatch");
	end = sum_at;
	if ((size_t)(end - buf) < sizeof(magic) || memcmp(buf, magic, sizeof(magic) - 1))
		return SBX_CORRUPT("not a checkpoint record");
	nl = memchr(buf, '\n', (size_t)(end - buf));
	if ((size_t)(nl - buf) != sizeof(magic) || buf[sizeof(magic) - 1] != '1')
		return sbx_error_set(SBX_EUNSUPPORTED, "checkpoint record version %.*s (this git-sbx "
				     "reads version %d)", (int)(nl - buf - (sizeof(magic) - 1)),
				     buf + sizeof(magic) - 1, SBX_CKPT_RECORD_VERSION);
	for (p = nl + 1; p < end; p = nl + 1) {
		const char *sp;
		char key[16], *val;
		size_t kl;
		int bad;

		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		sp = memchr(p, ' ', (size_t)(nl - p));
		kl = sp ? (size_t)(sp - p) : 0;
		if (!sp || !kl || kl >= sizeof(key))
			return SBX_CORRUPT("checkpoint record line %u is malformed", line);
		memcpy(key, p, kl);
		key[kl] = 0;
		if (!(val = strndup(sp + 1, (size_t)(nl - sp - 1))))
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		bad = parse_line(out, key, val, &seen);
		free(val);
		if (bad)
			return SBX_CORRUPT("checkpoint record line %u: bad or repeated '%s'", line, key);
	}
	if ((seen & F_REQUIRED) != F_REQUIRED)
		return SBX_CORRUPT("checkpoint record lacks a required line");
	if (!valid(out))
		return SBX_CORRUPT("checkpoint record names a file it may not");
	return 0;
}

/* ---- the store ---- */

static char *ck_path(const char *task_dir, const char *fmt, ...) SBX_PRINTF(2, 3);
static char *ck_path(const char *task_dir, const char *fmt, ...)
{
	char tail[128], *p = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	if (asprintf(&p, "%s/checkpoints%s%s", task_dir, *tail ? "/" : "", tail) < 0)
		p = NULL;
	if (!p)
		sbx_error_set(SBX_ENOMEM, "out of memory");
	return p;
}

int sbx_ckpt_create(const char *task_dir, const struct sbx_ckpt *c, const char *memory_src)
{
	char *dir = ck_path(task_dir, "%s", ""), *tmp = ck_path(task_dir, ".tmp-%u-%ld", c->id,
							  (long)getpid());
	char *final = ck_path(task_dir, "%u", c->id), *rec = NULL, *mem = NULL, *text = NULL;
	size_t len;
	int err;

	if (!dir || !tmp || !final) {
		err = SBX_ENOMEM;
		goto out;
	}
	if ((err = sbx_ckpt_record_format(&text, &len, c)))
		goto out;
	if (memory_src && !c->memory[0]) {
		err = sbx_error_set(SBX_EINVAL, "a memory snapshot needs a name in the record");
		goto out;
	}
	if ((err = sbx_mkdirs(dir)))
		goto out;
	if (!access(final, F_OK)) {
		err = sbx_error_set(SBX_EEXISTS, "checkpoint %u exists", c->id);
		goto out;
	}
	sbx_rmtree(tmp);
	if (mkdir(tmp, 0777)) {
		err = sbx_error_errno(SBX_EIO, "cannot create '%s'", tmp);
		goto out;
	}
	rec = sbx_path_join(tmp, "record");
	if (!rec) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = sbx_write_atomic(rec, text, len)))
		goto out;
	if (memory_src) {
		if (!(mem = sbx_path_join(tmp, c->memory))) {
			err = sbx_error_set(SBX_ENOMEM, "out of memory");
			goto out;
		}
		if (rename(memory_src, mem)) {
			err = sbx_error_errno(SBX_EIO, "cannot move '%s' into checkpoint %u",
					      memory_src, c->id);
			goto out;
		}
		if ((err = sbx_fsync_dir(tmp)))
			goto out;
	}
	/* Never onto an existing checkpoint, even an empty directory. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE)) {
		err = sbx_error_errno(errno == EEXIST ? SBX_EEXISTS : SBX_EIO,
				      "cannot add checkpoint %u", c->id);
		goto out;
	}
	err = sbx_fsync_dir(dir);
out:
	if (err && tmp) {
		if (mem && memory_src)
			rename(mem, memory_src);	/* give it back */
		sbx_rmtree(tmp);
	}
	free(dir);
	free(tmp);
	free(final);
	free(rec);
	free(mem);
	free(text);
	return err;
}

int sbx_ckpt_read(struct sbx_ckpt *out, const char *task_dir, unsigned id)
{
	char *p = ck_path(task_dir, "%u/record", id), *buf = NULL;
	size_t len;
	int err;

	memset(out, 0, sizeof(*out));
	if (!p)
		return SBX_ENOMEM;
	err = sbx_read_file(&buf, &len, p, SBX_CKPT_RECORD_MAX + 1);
	if (err == SBX_ENOTFOUND)
		err = sbx_error_set(SBX_ENOTFOUND, "no checkpoint %u", id);
	else if (!err && !(err = sbx_ckpt_record_parse(out, buf, len)) && out->id != id)
		err = SBX_CORRUPT("checkpoint record says id %u", out->id);
	if (err == SBX_ECORRUPT || err == SBX_EUNSUPPORTED)
		err = sbx_error_prefix(err, "checkpoint %u is damaged ('%s')", id, p);
	free(p);
	free(buf);
	return err;
}

/* The ids of the checkpoint directories (sorted), and the highest id any entry mentions. */
static int scan_ids(unsigned **ids, size_t *n, unsigned *highest, const char *task_dir)
{
	char *dir = ck_path(task_dir, "%s", "");
	DIR *d;
	struct dirent *e;
	size_t cap = 0, i, j;
	int err = 0;

	*ids = NULL;
	*n = 0;
	*highest = 0;
	if (!dir)
		return SBX_ENOMEM;
	d = opendir(dir);
	if (!d) {
		err = errno == ENOENT ? 0 : sbx_error_errno(SBX_EIO, "cannot read '%s'", dir);
		free(dir);
		return err;
	}
	while ((e = readdir(d))) {
		char num[16];
		unsigned id;

		/* ".tmp-<n>-<pid>" and ".del-<n>-<pid>" hold an id too */
		if (!strncmp(e->d_name, ".tmp-", 5) || !strncmp(e->d_name, ".del-", 5)) {
			snprintf(num, sizeof(num), "%.*s", (int)strcspn(e->d_name + 5, "-"),
				 e->d_name + 5);
			if ((id = parse_id(num)) > *highest)
				*highest = id;
			continue;
		}
		if (!(id = parse_id(e->d_name)))
			continue;
		if (id > *highest)
			*highest = id;
		if (*n == cap) {
			unsigned *t = realloc(*ids, (cap = cap ? cap * 2 : 16) * sizeof(**ids));

			if (!t) {
				err = sbx_error_set(SBX_ENOMEM, "out of memory");
				break;
			}
			*ids = t;
		}
		(*ids)[(*n)++] = id;
	}
	closedir(d);
	free(dir);
	for (i = 1; i < *n; i++)	/* insertion sort: a task has tens of checkpoints */
		for (j = i; j > 0 && (*ids)[j - 1] > (*ids)[j]; j--) {
			unsigned t = (*ids)[j];

			(*ids)[j] = (*ids)[j - 1];
			(*ids)[j - 1] = t;
		}
	if (err) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return err;
}

int sbx_ckpt_list(struct sbx_ckpt **out, size_t *n, const char *task_dir)
{
	unsigned *ids = NULL, hi;
	size_t i, cnt;
	int err;

	*out = NULL;
	*n = 0;
	if ((err = scan_ids(&ids, &cnt, &hi, task_dir)) || !cnt)
		goto out;
	if (!(*out = calloc(cnt, sizeof(**out)))) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < cnt && !err; i++)
		err = sbx_ckpt_read(&(*out)[i], task_dir, ids[i]);
	if (err) {
		free(*out);
		*out = NULL;
	} else {
		*n = cnt;
	}
out:
	free(ids);
	return err;
}

int sbx_ckpt_next_id(unsigned *out, const char *task_dir)
{
	unsigned *ids = NULL, hi;
	size_t n;
	int err = scan_ids(&ids, &n, &hi, task_dir);

	free(ids);
	*out = 0;
	if (err)
		return err;
	if (hi >= SBX_CKPT_MAX_ID)
		return sbx_error_set(SBX_ELIMIT, "no checkpoint ids left");
	*out = hi + 1;
	return 0;
}

int sbx_ckpt_set_current(const char *task_dir, unsigned id)
{
	char *p = ck_path(task_dir, "current"), num[16];
	struct sbx_ckpt c;
	int err;

	if (!p)
		return SBX_ENOMEM;
	if (!(err = sbx_ckpt_read(&c, task_dir, id))) {
		snprintf(num, sizeof(num), "%u\n", id);
		err = sbx_write_atomic(p, num, strlen(num));
	}
	free(p);
	return err;
}

int sbx_ckpt_current(unsigned *out, const char *task_dir)
{
	char *p = ck_path(task_dir, "current"), *buf = NULL;
	size_t len;
	int err;

	*out = 0;
	if (!p)
		return SBX_ENOMEM;
	err = sbx_read_file(&buf, &len, p, 16);
	if (err == SBX_ENOTFOUND)
		err = sbx_error_set(SBX_ENOTFOUND, "no current checkpoint");
	if (!err) {
		if (len < 2 || buf[len - 1] != '\n')
			err = SBX_CORRUPT("'%s' is damaged", p);
		else
			buf[len - 1] = 0;
		if (!err && !(*out = parse_id(buf)))
			err = SBX_CORRUPT("'%s' is damaged", p);
	}
	free(p);
	free(buf);
	return err;
}

int sbx_ckpt_delete(const char *task_dir, unsigned id)
{
	char *dir = ck_path(task_dir, "%s", ""), *from = ck_path(task_dir, "%u", id);
	char *to = ck_path(task_dir, ".del-%u-%ld", id, (long)getpid());
	unsigned cur;
	int err;

	if (!dir || !from || !to) {
		err = SBX_ENOMEM;
		goto out;
	}
	err = sbx_ckpt_current(&cur, task_dir);
	if (!err && cur == id) {
		err = sbx_error_set(SBX_EINVAL, "checkpoint %u is the current one", id);
		goto out;
	}
	if (err && err != SBX_ENOTFOUND)
		goto out;
	sbx_rmtree(to);
	/* Gone at once (a rename), freed after (a crash leaves .del-*, which gc removes). */
	if (rename(from, to)) {
		err = errno == ENOENT ? sbx_error_set(SBX_ENOTFOUND, "no checkpoint %u", id) :
			sbx_error_errno(SBX_EIO, "cannot remove checkpoint %u", id);
		goto out;
	}
	if (!(err = sbx_fsync_dir(dir)))
		err = sbx_rmtree(to);
out:
	free(dir);
	free(from);
	free(to);
	return err;
}

int sbx_ckpt_request(const char *task_dir)
{
	char *p = sbx_path_join(task_dir, "checkpoint-request");
	int fd;

	if (!p)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	free(p);
	if (fd < 0)
		return sbx_error_errno(SBX_EIO, "cannot ask for a checkpoint");
	close(fd);
	return 0;
}

int sbx_ckpt_take_request(const char *task_dir)
{
	char *p = sbx_path_join(task_dir, "checkpoint-request");
	int ret;

	if (!p)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	ret = unlink(p) ? 0 : 1;
	free(p);
	return ret;
}
