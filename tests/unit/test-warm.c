// SPDX-License-Identifier: MIT
/*
 * Unit tests for the warm base store (sbx/warm.c): the key and what
 * changes it, the record's round trip and refusals, opening, listing,
 * installing, removing and gc, on directories made by hand (no VM).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/warm.h"
#include "util/crc32c.h"
#include "util/error.h"

static const char image_id[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char init_hash[] = "2222222222222222222222222222222222222222222222222222222222222222";

static struct sbx_warm_params params(void)
{
	struct sbx_warm_params p = {
		.image_id = image_id, .init_hash = init_hash, .kernel_version = "6.1.0-test",
		.cmdline = "console=ttyS0", .setup = "npm ci", .cpus = 2, .memory = 1ULL << 30,
		.depth = 50,
	};

	return p;
}

static void test_key(void **state)
{
	struct sbx_warm_params p = params(), q;
	char a[65], b[65];
	size_t i;

	(void)state;
	assert_int_equal(sbx_warm_key(a, &p), 0);
	assert_int_equal(strlen(a), 64);
	assert_int_equal(strspn(a, "0123456789abcdef"), 64);
	assert_int_equal(sbx_warm_key(b, &p), 0);
	assert_string_equal(a, b);
	/* Each part changes it. */
	for (i = 0; i < 8; i++) {
		q = p;
		switch (i) {
		case 0: q.image_id = init_hash; break;
		case 1: q.init_hash = image_id; break;
		case 2: q.kernel_version = "6.1.0-other"; break;
		case 3: q.cmdline = "console=ttyS0 quiet"; break;
		case 4: q.setup = "npm ci --omit=dev"; break;
		case 5: q.cpus = 4; break;
		case 6: q.memory = 2ULL << 30; break;
		case 7: q.depth = 0; break;
		}
		assert_int_equal(sbx_warm_key(b, &q), 0);
		assert_string_not_equal(a, b);
	}
	/* No setup is no setup, however it is spelled. */
	q = p;
	q.setup = NULL;
	assert_int_equal(sbx_warm_key(a, &q), 0);
	q.setup = "";
	assert_int_equal(sbx_warm_key(b, &q), 0);
	assert_string_equal(a, b);
	/* Fields do not run into each other: "ab"+"c" is not "a"+"bc". */
	q = p;
	q.kernel_version = "6.1.0-testconsole=";
	q.cmdline = "ttyS0";
	assert_int_equal(sbx_warm_key(b, &q), 0);
	assert_int_equal(sbx_warm_key(a, &p), 0);
	assert_string_not_equal(a, b);
	q = p;
	q.image_id = NULL;
	assert_int_equal(sbx_warm_key(a, &q), SBX_EINVAL);
}

static struct sbx_warm *sample(const char *key)
{
	struct sbx_warm *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	snprintf(w->key, sizeof(w->key), "%s", key);
	assert_int_equal(git_oid_fromstr(&w->base, "0123456789abcdef0123456789abcdef01234567"), 0);
	memcpy(w->image_id, image_id, 65);
	memcpy(w->init_hash, init_hash, 65);
	w->kernel_version = strdup("6.1.0-test");
	w->setup = strdup("npm ci && echo 'a\\b'\n\tdone\x01");
	w->cpus = 2;
	w->memory = 1ULL << 30;
	w->depth = 50;
	w->created_ms = 1700000000123;
	w->build_ms = 25300;
	return w;
}

static const char key_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char key_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static void test_record_roundtrip(void **state)
{
	struct sbx_warm *w = sample(key_a), *r = NULL;
	char *buf = NULL;
	size_t len;

	(void)state;
	assert_int_equal(sbx_warm_record_format(&buf, &len, w), 0);
	assert_non_null(strstr(buf, "sbx-warm 1\n"));
	assert_null(strchr(buf, '\t'));
	assert_int_equal(sbx_warm_record_parse(&r, buf, len), 0);
	assert_string_equal(r->key, w->key);
	assert_true(git_oid_equal(&r->base, &w->base));
	assert_string_equal(r->image_id, image_id);
	assert_string_equal(r->init_hash, init_hash);
	assert_string_equal(r->kernel_version, "6.1.0-test");
	assert_string_equal(r->setup, w->setup);
	assert_int_equal(r->cpus, 2);
	assert_true(r->memory == 1ULL << 30);
	assert_int_equal(r->depth, 50);
	assert_true(r->created_ms == 1700000000123);
	assert_true(r->build_ms == 25300);
	assert_true(r->used_ms == r->created_ms);
	sbx_warm_free(r);
	/* Without a setup there is no setup line, and none comes back. */
	free(w->setup);
	w->setup = NULL;
	free(buf);
	assert_int_equal(sbx_warm_record_format(&buf, &len, w), 0);
	assert_null(strstr(buf, "setup "));
	assert_int_equal(sbx_warm_record_parse(&r, buf, len), 0);
	assert_null(r->setup);
	sbx_warm_free(r);
	free(buf);
	sbx_warm_free(w);
}

/* A record body with the checksum line it needs. */
static char *resum(const char *body)
{
	char *out = NULL;

	assert_true(asprintf(&out, "%schecksum %08x\n", body, crc32c(0, body, strlen(body))) > 0);
	return out;
}

static int parse_str(const char *s)
{
	struct sbx_warm *r = NULL;
	int err = sbx_warm_record_parse(&r, s, strlen(s));

	sbx_warm_free(r);
	return err;
}

static void test_record_refusals(void **state)
{
	struct sbx_warm *w = sample(key_a);
	char *buf = NULL, *body, *s;
	size_t len, i, refused = 0;

	(void)state;
	assert_int_equal(sbx_warm_record_format(&buf, &len, w), 0);
	/* Every one-byte change is refused (the checksum, or the line it breaks). */
	for (i = 0; i < len; i++) {
		char *c = malloc(len);
		struct sbx_warm *r = NULL;

		memcpy(c, buf, len);
		c[i] ^= 0x01;
		if (sbx_warm_record_parse(&r, c, len))
			refused++;
		sbx_warm_free(r);
		free(c);
	}
	assert_int_equal(refused, len);
	/* Truncated, at any length. */
	for (i = 0; i < len; i++) {
		struct sbx_warm *r = NULL;

		assert_true(sbx_warm_record_parse(&r, buf, i) < 0);
		assert_null(r);
	}
	/* Re-checksummed bodies: each must still be refused for what it says. */
	body = strndup(buf, len - 18);
	s = resum(body);
	assert_int_equal(parse_str(s), 0);
	free(s);
	{
		static const char *const bad[] = {
			"sbx-warm 2\n",
			"not-a-record 1\n",
		};
		for (i = 0; i < 2; i++) {
			char *b = NULL;

			assert_true(asprintf(&b, "%s%s", bad[i], strchr(body, '\n') + 1) > 0);
			s = resum(b);
			assert_int_equal(parse_str(s), i == 0 ? SBX_EUNSUPPORTED : SBX_ECORRUPT);
			free(s);
			free(b);
		}
	}
	{
		/* a line changed, repeated, dropped, or one a later version added */
		static const struct {
			const char *from, *to;
			int err;
		} edits[] = {
			{ "cpus 2\n", "cpus 0\n", SBX_ECORRUPT },
			{ "cpus 2\n", "cpus 65\n", SBX_ECORRUPT },
			{ "cpus 2\n", "cpus 02\n", SBX_ECORRUPT },
			{ "cpus 2\n", "cpus 2\ncpus 2\n", SBX_ECORRUPT },
			{ "cpus 2\n", "", SBX_ECORRUPT },
			{ "memory 1073741824\n", "memory 99999999999999999999\n", SBX_ECORRUPT },
			{ "depth 50\n", "depth -1\n", SBX_ECORRUPT },
			{ "image 1111", "image 111G", SBX_ECORRUPT },
			{ "key aaaa", "key AAAA", SBX_ECORRUPT },
			{ "base 0123", "base 012", SBX_ECORRUPT },
			{ "setup npm", "setup \\qnpm", SBX_ECORRUPT },
			{ "setup npm", "setup \\x00npm", SBX_ECORRUPT },
			{ "cpus 2\n", "cpus2\n", SBX_ECORRUPT },
			{ "cpus 2\n", "cpus 2\nlater-key whatever\n", 0 },
		};
		for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
			char *at = strstr(body, edits[i].from), *b = NULL;

			assert_non_null(at);
			assert_true(asprintf(&b, "%.*s%s%s", (int)(at - body), body, edits[i].to,
					     at + strlen(edits[i].from)) > 0);
			s = resum(b);
			if (parse_str(s) != edits[i].err)
				fail_msg("edit %zu (%s -> %s): %d, %s", i, edits[i].from, edits[i].to,
					 parse_str(s), sbx_error());
			free(s);
			free(b);
		}
	}
	free(body);
	free(buf);
	sbx_warm_free(w);
}

/* ---- the store, on a repository directory made by hand ---- */

static char tmp[256];
static struct sbx_repo repo;

static int setup(void **state)
{
	char cache[300];

	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/sbx-test-warm.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	memset(&repo, 0, sizeof(repo));
	repo.commondir = tmp;
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	setenv("SBX_CACHE_DIR", cache, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sbx_rmtree(tmp);
	return 0;
}

static void write_file(const char *dir, const char *name, const char *data)
{
	char *p = sbx_path_join(dir, name);
	int fd;

	assert_non_null(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	free(p);
}

/* A whole warm base `key` in the store (its record saying `says`). */
static char *make_base(const char *key, const char *says)
{
	struct sbx_warm *w = sample(says);
	char *dir = sbx_warm_path(&repo, key), *buf = NULL;
	size_t len;

	assert_non_null(dir);
	assert_int_equal(sbx_mkdirs(dir), 0);
	assert_int_equal(sbx_warm_record_format(&buf, &len, w), 0);
	write_file(dir, "record", buf);
	write_file(dir, "memory", "m");
	write_file(dir, "state", "s");
	write_file(dir, "machine", "cpus 2\n");
	write_file(dir, "disk.qcow2", "d");
	free(buf);
	sbx_warm_free(w);
	return dir;
}

/* An image with id image_id in $SBX_CACHE_DIR, as sbx_image_resolve() finds it. */
static void make_image(void)
{
	char dir[400];

	snprintf(dir, sizeof(dir), "%s/cache/images/%s", tmp, image_id);
	assert_int_equal(sbx_mkdirs(dir), 0);
	write_file(dir, "manifest", "name=test\n");
	write_file(dir, "vmlinuz", "k");
	write_file(dir, "initrd.img", "i");
	write_file(dir, "root.sqfs", "r");
	write_file(dir, "task-base.img", "t");
}

static void test_open_list(void **state)
{
	struct sbx_warm *w = NULL, **v = NULL;
	char *dir, *p;
	size_t n, nbad;

	(void)state;
	assert_int_equal(sbx_warm_open(&w, &repo, key_a), SBX_ENOTFOUND);
	assert_int_equal(sbx_warm_list(&v, &n, &nbad, &repo), 0);
	assert_int_equal(n, 0);
	dir = make_base(key_a, key_a);
	assert_int_equal(sbx_warm_open(&w, &repo, key_a), 0);
	assert_string_equal(w->dir, dir);
	assert_true(w->used_ms == w->created_ms);
	sbx_warm_touch(w);
	sbx_warm_free(w);
	assert_int_equal(sbx_warm_open(&w, &repo, key_a), 0);
	assert_true(w->used_ms > w->created_ms);
	sbx_warm_free(w);
	/* A record for another key, or a missing file: damaged, saying what. */
	free(make_base(key_b, key_a));
	assert_int_equal(sbx_warm_open(&w, &repo, key_b), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "damaged"));
	assert_int_equal(sbx_warm_list(&v, &n, &nbad, &repo), 0);
	assert_int_equal(n, 1);
	assert_int_equal(nbad, 1);
	assert_string_equal(v[0]->key, key_a);
	sbx_warm_list_free(v, n);
	p = sbx_path_join(dir, "memory");
	unlink(p);
	free(p);
	assert_int_equal(sbx_warm_open(&w, &repo, key_a), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "memory is missing"));
	/* Removed: gone, nothing left beside it. */
	assert_int_equal(sbx_warm_remove(&repo, key_a), 0);
	assert_int_equal(sbx_warm_open(&w, &repo, key_a), SBX_ENOTFOUND);
	assert_int_equal(sbx_warm_remove(&repo, key_a), 0);
	free(dir);
}

static void test_install_lock(void **state)
{
	struct sbx_warm *w = NULL;
	char *build, *dir;
	int a = -1, b = -1;

	(void)state;
	dir = make_base(".build-x", key_a);
	build = dir;
	assert_int_equal(sbx_warm_install(&repo, build, key_a, false), 0);
	assert_int_equal(sbx_warm_open(&w, &repo, key_a), 0);
	sbx_warm_free(w);
	/* Another build of the same key: it exists, unless replacing. */
	free(make_base(".build-y", key_a));
	dir = sbx_warm_path(&repo, ".build-y");
	assert_int_equal(sbx_warm_install(&repo, dir, key_a, false), SBX_EEXISTS);
	assert_int_equal(sbx_warm_install(&repo, dir, key_a, true), 0);
	assert_int_equal(access(dir, F_OK), -1);
	free(dir);
	free(build);
	/* The key's lock: exclusive excludes, shared shares. */
	assert_int_equal(sbx_warm_lock(&a, &repo, key_a, false, false), 0);
	assert_int_equal(sbx_warm_lock(&b, &repo, key_a, false, false), 0);
	sbx_unlock(b);
	assert_int_equal(sbx_warm_lock(&b, &repo, key_a, true, false), SBX_ELOCKED);
	sbx_unlock(a);
	assert_int_equal(sbx_warm_lock(&b, &repo, key_a, true, false), 0);
	assert_int_equal(sbx_warm_lock(&a, &repo, key_a, false, false), SBX_ELOCKED);
	sbx_unlock(b);
}

static void set_used(const char *dir, time_t ago)
{
	struct timeval tv[2];
	char *p = sbx_path_join(dir, "used");

	write_file(dir, "used", "");
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= ago;
	tv[1] = tv[0];
	assert_int_equal(utimes(p, tv), 0);
	free(p);
}

static long dead_pid(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (!pid)
		_exit(0);
	waitpid(pid, NULL, 0);
	return (long)pid;
}

static void test_gc(void **state)
{
	static const char key_c[] = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
	static const char key_d[] = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
	struct sbx_warm_gc_stats st;
	char *a, *b, *c, *d, name[128], *leftover, *live;
	int lock = -1;
	size_t i;

	(void)state;
	/* Without its image, everything goes. */
	a = make_base(key_a, key_a);
	assert_int_equal(sbx_warm_gc(&st, &repo, 0), 0);
	assert_int_equal(st.nremoved, 1);
	assert_non_null(strstr(st.removed[0].why, "its image 111111111111 is gone"));
	free(st.removed);
	free(a);
	make_image();
	a = make_base(key_a, key_a);	/* used a minute ago */
	set_used(a, 60);
	b = make_base(key_b, key_b);	/* used ten days ago */
	set_used(b, 10 * 86400);
	c = make_base(key_c, key_a);	/* damaged */
	d = make_base(key_d, key_d);	/* expired, but in use */
	set_used(d, 10 * 86400);
	assert_int_equal(sbx_warm_lock(&lock, &repo, key_d, false, false), 0);
	{
		int l;

		assert_int_equal(sbx_warm_lock(&l, &repo, key_a, false, false), 0);
		sbx_unlock(l);
	}
	snprintf(name, sizeof(name), ".build-%s.%ld", key_a, dead_pid());
	leftover = sbx_warm_path(&repo, name);
	assert_int_equal(sbx_mkdirs(leftover), 0);
	snprintf(name, sizeof(name), ".build-%s.%ld", key_b, (long)getpid());
	live = sbx_warm_path(&repo, name);
	assert_int_equal(sbx_mkdirs(live), 0);

	assert_int_equal(sbx_warm_gc(&st, &repo, SBX_WARM_DEFAULT_EXPIRY_MS), 0);
	assert_int_equal(st.nremoved, 2);
	for (i = 0; i < st.nremoved; i++) {
		if (!strcmp(st.removed[i].key, key_b))
			assert_string_equal(st.removed[i].why, "not used for 10 days");
		else if (!strcmp(st.removed[i].key, key_c))
			assert_string_equal(st.removed[i].why, "damaged");
		else
			fail_msg("removed %s (%s)", st.removed[i].key, st.removed[i].why);
	}
	assert_int_equal(st.builds, 1);
	assert_int_equal(st.in_use, 1);
	free(st.removed);
	assert_int_equal(access(a, F_OK), 0);
	assert_int_equal(access(b, F_OK), -1);
	assert_int_equal(access(c, F_OK), -1);
	assert_int_equal(access(d, F_OK), 0);
	assert_int_equal(access(leftover, F_OK), -1);
	assert_int_equal(access(live, F_OK), 0);
	sbx_unlock(lock);
	/* Unlocked, it goes; with no expiry the recent one stays. */
	assert_int_equal(sbx_warm_gc(&st, &repo, 0), 0);
	assert_int_equal(st.nremoved, 0);
	free(st.removed);
	assert_int_equal(sbx_warm_gc(&st, &repo, SBX_WARM_DEFAULT_EXPIRY_MS), 0);
	assert_int_equal(st.nremoved, 1);
	assert_string_equal(st.removed[0].key, key_d);
	free(st.removed);
	/* The locks of bases that are gone go too; the one of a base that is there stays. */
	snprintf(name, sizeof(name), "%s/sbx/warm/%s.lock", tmp, key_d);
	assert_int_equal(access(name, F_OK), -1);
	snprintf(name, sizeof(name), "%s/sbx/warm/%s.lock", tmp, key_a);
	assert_int_equal(access(name, F_OK), 0);
	free(a);
	free(b);
	free(c);
	free(d);
	free(leftover);
	free(live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_record_roundtrip),
		cmocka_unit_test(test_record_refusals),
		cmocka_unit_test_setup_teardown(test_open_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
